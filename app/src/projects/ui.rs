use super::api::{get_project, list_projects};
use crate::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

/// The projects the user belongs to.
#[component]
pub fn ProjectsPage() -> impl IntoView {
    let projects = Resource::new(|| (), |_| list_projects());
    view! {
        <Title text="Projects" />
        <section class="page">
            <h1>"Projects"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading projects…"</p> }>
                {move || Suspend::new(async move {
                    let projects = projects.await?;
                    let body = if projects.is_empty() {
                        view! {
                            <div class="empty-state">
                                <h2>"No projects yet"</h2>
                                <p>"Projects you are a member of will be listed here, with their members and quotas."</p>
                            </div>
                        }
                        .into_any()
                    } else {
                        view! {
                            <ul class="link-cards">
                                {projects.into_iter().map(|project| view! {
                                    <li class="card">
                                        <h2><A href=format!("/projects/{}", project.slug)>{project.name}</A></h2>
                                        <p>{format!("Your role: {}", project.role)}</p>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }
                        .into_any()
                    };
                    Ok::<_, AppError>(body)
                })}
            </Suspense>
        </section>
    }
    .into_any()
}

/// One project's page.
#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let project = Resource::new(
        move || params.with(|params| params.get("slug").unwrap_or_default()),
        get_project,
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading project…"</p> }>
            {move || Suspend::new(async move {
                let project = project.await?;
                Ok::<_, AppError>(view! {
                    <Title text=project.name.clone() />
                    <section class="page">
                        <h1>{project.name}</h1>
                        <p class="lead">{project.description}</p>
                        <dl class="facts">
                            <dt>"Your role"</dt>
                            <dd id="project-role">{project.role}</dd>
                        </dl>
                        <div class="empty-state">
                            <h2>"No virtual machines yet"</h2>
                            <p>"Virtual machines of this project will be listed here."</p>
                        </div>
                    </section>
                })
            })}
        </Suspense>
    }
    .into_any()
}
