use super::api::get_server_info;
use leptos::prelude::*;
use leptos_meta::Title;

/// The landing page after sign-in.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let info = Resource::new(|| (), |_| get_server_info());
    view! {
        <Title text="Dashboard" />
        <section class="page">
            <h1>"Dashboard"</h1>
            <p class="lead">
                "Create, run and watch the virtual machines of your projects on KubeVirt."
            </p>
            <section class="card" aria-labelledby="system-heading">
                <h2 id="system-heading">"System"</h2>
                <Suspense fallback=|| {
                    view! {
                        <p class="loading" aria-busy="true">
                            "Loading system status…"
                        </p>
                    }
                }>
                    {move || Suspend::new(async move {
                        info.await
                            .map(|info| {
                                view! {
                                    <dl class="facts">
                                        <dt>"Version"</dt>
                                        <dd>{info.version}</dd>
                                        <dt>"Database"</dt>
                                        <dd data-testid="database">{info.database}</dd>
                                    </dl>
                                }
                            })
                    })}
                </Suspense>
            </section>
        </section>
    }
}
