use super::api::{check_admin, get_server_info, is_cluster_simulated};
use crate::resource::wire_resource;
use crate::{
    projects::api::project_overview,
    quotas::{api::my_quotas, ui::UsageBars},
    vms::ui::StatusBadge,
    AppError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// The landing page after sign-in.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let info = wire_resource(|| (), |_| get_server_info());
    view! {
        <Title text="Dashboard" />
        <section class="page">
            <h1>"Dashboard"</h1>
            <p class="lead">
                "Create, run and watch the virtual machines of your projects on KubeVirt."
            </p>
            <ProjectCards />
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

/// A card per project of the user: their role, its members, its VMs by status, its usage
/// against its quota.
#[component]
fn ProjectCards() -> impl IntoView {
    let cards = wire_resource(|| (), |_| project_overview());
    let quotas = wire_resource(|| (), |_| my_quotas());
    view! {
        <section aria-labelledby="projects-heading">
            <h2 id="projects-heading">"Your projects"</h2>
            <Suspense fallback=|| view! { <p class="loading" aria-busy="true">"Loading projects…"</p> }>
                {move || Suspend::new(async move {
                    let cards = cards.await?;
                    if cards.is_empty() {
                        return Ok::<_, AppError>(view! {
                            <p class="empty-state">"You are not a member of any project yet. Ask a project's owner to add you."</p>
                        }.into_any());
                    }
                    // The cards stand without the quotas: their failure is said once, above them.
                    let (quotas, quota_error) = match quotas.await {
                        Ok(quotas) => (quotas, None),
                        Err(error) => (Vec::new(), Some(format!("Quota usage could not be loaded: {error}"))),
                    };
                    Ok(view! {
                        {quota_error.map(|error| view! { <p class="form-error">{error}</p> })}
                        <ul class="link-cards">
                            {cards.into_iter().map(|card| {
                                let project = card.project;
                                let bars = quotas
                                    .iter()
                                    .find(|quota| quota.project_slug == project.slug)
                                    .map(|quota| view! { <UsageBars quota=quota.clone() /> });
                                let role = format!("Your role: {}", project.role_label());
                                let members = match card.members {
                                    1 => "1 member".to_owned(),
                                    count => format!("{count} members"),
                                };
                                let vms = match card.vms_by_status {
                                    None => view! { <p>"Virtual machines: the cluster has not answered yet."</p> }.into_any(),
                                    Some(counts) if counts.is_empty() => view! { <p>"No virtual machines yet."</p> }.into_any(),
                                    Some(counts) => view! {
                                        <ul class="plain status-counts">
                                            {counts.into_iter().map(|(status, count)| view! {
                                                <li><StatusBadge status /> {format!(" {count}")}</li>
                                            }).collect_view()}
                                        </ul>
                                    }.into_any(),
                                };
                                view! {
                                    <li class="card" data-project=project.slug.clone()>
                                        <h3><A href=format!("/projects/{}", project.slug)>{project.name}</A></h3>
                                        <p>{role}" · "{members}</p>
                                        {vms}
                                        {bars}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any())
                })}
            </Suspense>
        </section>
    }
}

/// The admin area: where each administrative page lives, for global admins only.
#[component]
pub fn AdminPage() -> impl IntoView {
    let allowed = wire_resource(|| (), |_| check_admin());
    view! {
        <Title text="Admin" />
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                allowed.await.map(|()| view! { <AdminLinks /> })
            })}
        </Suspense>
    }
}

#[component]
fn AdminLinks() -> impl IntoView {
    view! {
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
                    <h2><A href="/admin/quotas">"Quota templates"</A></h2>
                    <p>"Define the limits projects get, and apply changed limits to the projects that use them."</p>
                </li>
                <li class="card">
                    <h2><A href="/admin/quota-usage">"Quota usage"</A></h2>
                    <p>"Every project's usage against its quota, the nearest to their limits first."</p>
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
    let simulated = wire_resource(|| (), |_| is_cluster_simulated());
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
