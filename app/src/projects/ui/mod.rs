//! `/projects`: the user's projects, and creating one (admins, or everyone when the admin
//! setting allows it); admins also adopt namespaces here.

mod members;
mod project;

pub use project::ProjectPage;

use super::api::{
    list_projects, may_create_projects, AdoptNamespace, CreateProject, SetUsersCreateProjects,
};
use crate::resource::wire_resource;
use crate::AppError;
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_navigate, NavigateOptions};

/// The message of `error` when it is about `field`.
pub(crate) fn field_message(
    error: Option<Result<impl Sized, AppError>>,
    field: &str,
) -> Option<String> {
    match error {
        Some(Err(AppError::Invalid {
            field: failed,
            message,
        }))
        | Some(Err(AppError::TooLong {
            field: failed,
            message,
        })) if failed == field => Some(message),
        _ => None,
    }
}

/// The message of `error` when it is not about one field.
pub(crate) fn other_message(error: Option<Result<impl Sized, AppError>>) -> Option<String> {
    match error {
        Some(Err(AppError::Invalid { .. } | AppError::TooLong { .. })) | Some(Ok(_)) | None => None,
        Some(Err(error)) => Some(error.to_string()),
    }
}

/// The top bar's project switcher: goes to the chosen project's page.
#[component]
pub fn ProjectSwitcher() -> impl IntoView {
    // Loaded in the browser only, and only for a session that may use the application: the
    // chrome also wraps the forced password change and MFA set-up, where listing projects is
    // refused.
    let projects = LocalResource::new(|| async {
        let user = crate::auth::api::get_current_user().await?;
        if user.must_change_password || user.mfa_enrolment_required {
            return Ok(Vec::new());
        }
        list_projects().await
    });
    let navigate = use_navigate();
    let on_change = move |event: leptos::ev::Event| {
        let slug = event_target_value(&event);
        if !slug.is_empty() {
            navigate(&format!("/projects/{slug}"), NavigateOptions::default());
        }
    };
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let on_change = on_change.clone();
                Suspend::new(async move {
                    let projects = projects.await.ok().filter(|projects| !projects.is_empty())?;
                    Some(view! {
                        <select class="project-switcher" aria-label="Go to project" on:change=on_change>
                            <option value="" selected=true>"Projects…"</option>
                            {projects.into_iter().map(|project| view! {
                                <option value=project.slug.clone()>{project.name}</option>
                            }).collect_view()}
                        </select>
                    })
                })
            }}
        </Suspense>
    }
}

/// The projects the user belongs to.
#[component]
pub fn ProjectsPage() -> impl IntoView {
    let create = ServerAction::<CreateProject>::new();
    let adopt = ServerAction::<AdoptNamespace>::new();
    let setting = ServerAction::<SetUsersCreateProjects>::new();
    let projects = wire_resource(
        move || (create.version().get(), adopt.version().get()),
        |_| list_projects(),
    );
    let creation = wire_resource(move || setting.version().get(), |_| may_create_projects());
    let navigate = use_navigate();
    Effect::new(move |_| {
        let made = create.value().get().or_else(|| adopt.value().get());
        if let Some(Ok(slug)) = made {
            navigate(&format!("/projects/{slug}"), NavigateOptions::default());
        }
    });
    view! {
        <Title text="Projects" />
        <section class="page">
            <h1>"Projects"</h1>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let creation = creation.await?;
                    Ok::<_, AppError>(view! {
                        {creation.allowed.then(|| view! { <NewProjectForm create as_admin=creation.as_admin /> })}
                        {creation.as_admin.then(|| view! {
                            <AdoptForm adopt />
                            <div class="card">
                                <label class="checkbox">
                                    <input
                                        id="users-create-projects"
                                        type="checkbox"
                                        prop:checked=creation.users_may_create
                                        disabled=move || setting.pending().get()
                                        on:change=move |event| {
                                            setting.dispatch(SetUsersCreateProjects { allowed: event_target_checked(&event) });
                                        }
                                    />
                                    "Let every user create projects of their own"
                                </label>
                                <p class="form-error" role="alert">{move || other_message(setting.value().get())}</p>
                            </div>
                        })}
                    })
                })}
            </Transition>
            <Transition fallback=|| view! { <p class="loading">"Loading projects…"</p> }>
                {move || Suspend::new(async move {
                    let projects = projects.await?;
                    let body = if projects.is_empty() {
                        view! {
                            <div class="empty-state">
                                <h2>"No projects yet"</h2>
                                <p>"Projects you are a member of will be listed here. Ask a project's owner to add you."</p>
                            </div>
                        }
                        .into_any()
                    } else {
                        view! {
                            <ul class="link-cards">
                                {projects.into_iter().map(|project| {
                                    let role = format!("Your role: {}", project.role_label());
                                    view! {
                                        <li class="card" data-project=project.slug.clone()>
                                            <h2><A href=format!("/projects/{}", project.slug)>{project.name}</A></h2>
                                            <p>{project.description}</p>
                                            <p>{role}</p>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }
                        .into_any()
                    };
                    Ok::<_, AppError>(body)
                })}
            </Transition>
        </section>
    }
    .into_any()
}

#[component]
fn NewProjectForm(create: ServerAction<CreateProject>, as_admin: bool) -> impl IntoView {
    let error = move |field: &'static str| move || field_message(create.value().get(), field);
    view! {
        <details class="card">
            <summary>"Create a project"</summary>
            <ActionForm action=create attr:class="form">
                <label for="new-project-name">"Name"</label>
                <input id="new-project-name" name="name" type="text" required maxlength="80" />
                <p class="field-error" role="alert">{error("name")}</p>
                <label for="new-project-description">"Description (optional)"</label>
                <textarea id="new-project-description" name="description" maxlength="1000"></textarea>
                <p class="field-error" role="alert">{error("description")}</p>
                {as_admin.then(|| view! {
                    <label for="new-project-owner">"First owner's email (empty: you)"</label>
                    <input id="new-project-owner" name="owner_email" type="email" />
                    <p class="field-error" role="alert">{error("owner_email")}</p>
                })}
                <button type="submit" class="primary" disabled=move || create.pending().get()>"Create project"</button>
                <p class="form-error" role="alert">{move || other_message(create.value().get())}</p>
            </ActionForm>
        </details>
    }
}

#[component]
fn AdoptForm(adopt: ServerAction<AdoptNamespace>) -> impl IntoView {
    let error = move |field: &'static str| move || field_message(adopt.value().get(), field);
    view! {
        <details class="card">
            <summary>"Adopt an existing namespace"</summary>
            <p class="hint">"The namespace and every VM in it become the new project's. Wukong labels them; nothing is recreated or restarted."</p>
            <ActionForm action=adopt attr:class="form">
                <label for="adopt-namespace">"Namespace"</label>
                <input id="adopt-namespace" name="namespace" type="text" required maxlength="63" autocomplete="off" />
                <p class="field-error" role="alert">{error("namespace")}</p>
                <label for="adopt-name">"Project name"</label>
                <input id="adopt-name" name="name" type="text" required maxlength="80" />
                <p class="field-error" role="alert">{error("name")}</p>
                <label for="adopt-description">"Description (optional)"</label>
                <textarea id="adopt-description" name="description" maxlength="1000"></textarea>
                <label for="adopt-owner">"First owner's email (empty: you)"</label>
                <input id="adopt-owner" name="owner_email" type="email" />
                <p class="field-error" role="alert">{error("owner_email")}</p>
                <button type="submit" class="primary" disabled=move || adopt.pending().get()>"Adopt namespace"</button>
                <p class="form-error" role="alert">{move || other_message(adopt.value().get())}</p>
            </ActionForm>
        </details>
    }
}
