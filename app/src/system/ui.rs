use super::api::{get_server_info, is_cluster_simulated};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

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
                                        <dt>"Cluster"</dt>
                                        <dd data-testid="cluster">{info.cluster}</dd>
                                    </dl>
                                }
                            })
                    })}
                </Suspense>
            </section>
        </section>
    }
}

/// The admin area: where each administrative page lives.
#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <Title text="Admin" />
        <section class="page">
            <h1>"Admin"</h1>
            <ul class="link-cards">
                <li class="card">
                    <h2><A href="/admin/users">"Users"</A></h2>
                    <p>"Create accounts, disable or unlock them, reset two-factor sign-in, grant admin rights."</p>
                </li>
                <li class="card">
                    <h2><A href="/admin/oidc">"Sign-in providers"</A></h2>
                    <p>"Add OpenID Connect providers users can sign in with."</p>
                </li>
                <li class="card">
                    <h2><A href="/account/mfa">"Two-factor policy"</A></h2>
                    <p>"Require two-factor sign-in for everyone."</p>
                </li>
            </ul>
        </section>
    }
}

/// Says so on every page when the virtual machines are simulated.
#[component]
pub fn SimulatedClusterBanner() -> impl IntoView {
    let simulated = Resource::new(|| (), |_| is_cluster_simulated());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                (simulated.await == Ok(true)).then(|| view! {
                    <p class="banner" role="status">
                        "Simulated cluster: no kubeconfig was found, so virtual machines here are simulated."
                    </p>
                })
            })}
        </Suspense>
    }
}
