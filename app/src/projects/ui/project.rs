//! `/projects/{slug}`: one project, its settings, members and deletion, as the user's role
//! allows.

use super::{field_message, members::Members, other_message};
use crate::resource::wire_resource;
use crate::{
    authz::Action as Can,
    projects::{
        api::{get_project, preview_project_deletion, DeleteProject, UpdateProject},
        types::ProjectSummary,
    },
    quotas::ui::ProjectQuotaSection,
    vms::{api::list_vms, types::VmQuery},
    AppError,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map},
    NavigateOptions,
};

/// One project's page.
#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.with(|params| params.get("slug").unwrap_or_default());
    let update = ServerAction::<UpdateProject>::new();
    let project = wire_resource(
        move || (slug(), update.version().get()),
        |(slug, _)| get_project(slug),
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading project…"</p> }>
            {move || Suspend::new(async move {
                let project = project.await?;
                Ok::<_, AppError>(view! { <Project project update /> })
            })}
        </Transition>
    }
    .into_any()
}

#[component]
fn Project(project: ProjectSummary, update: ServerAction<UpdateProject>) -> impl IntoView {
    let slug = project.slug.clone();
    let vms = wire_resource(
        {
            let slug = slug.clone();
            move || slug.clone()
        },
        |slug| {
            list_vms(
                VmQuery {
                    project: slug,
                    ..VmQuery::default()
                },
                false,
            )
        },
    );
    let may_edit = project.may(Can::EditProject);
    let may_delete = project.may(Can::DeleteProject);
    let may_create_vms = project.may(Can::ManageVms);
    view! {
        <Title text=project.name.clone() />
        <section class="page">
            <p class="breadcrumb"><A href="/projects">"Projects"</A></p>
            <h1>{project.name.clone()}</h1>
            <p class="lead">{project.description.clone()}</p>
            <dl class="facts">
                <dt>"Your role"</dt>
                <dd id="project-role">{project.role_label()}</dd>
            </dl>
            <section class="card" aria-labelledby="project-vms-heading">
                <h2 id="project-vms-heading">"Virtual machines"</h2>
                <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let page = vms.await?;
                        let text = match page.total {
                            0 => "No virtual machines yet.".to_owned(),
                            1 => "1 virtual machine.".to_owned(),
                            count => format!("{count} virtual machines."),
                        };
                        Ok::<_, AppError>(view! { <p id="project-vm-count">{text}</p> })
                    })}
                </Transition>
                <p>
                    <A href=format!("/projects/{slug}/audit")>"Audit log"</A>
                    " · "
                    <A href=format!("/vms?project={slug}")>"Show them"</A>
                    {may_create_vms.then(|| view! {
                        " · "
                        <A href=format!("/vms/new?project={slug}")>"Create VM"</A>
                    })}
                </p>
            </section>
            <ProjectQuotaSection slug=slug.clone() admin=project.standing.global_admin />
            {may_edit.then(|| view! { <EditForm project=project.clone() update /> })}
            <Members project=project.clone() />
            {may_delete.then(|| view! { <DeleteSection project=project.clone() /> })}
        </section>
    }
}

#[component]
fn EditForm(project: ProjectSummary, update: ServerAction<UpdateProject>) -> impl IntoView {
    let error = move |field: &'static str| move || field_message(update.value().get(), field);
    view! {
        <details class="card">
            <summary>"Rename or describe"</summary>
            <ActionForm action=update attr:class="form">
                <input type="hidden" name="slug" value=project.slug.clone() />
                <label for="project-name">"Name"</label>
                <input id="project-name" name="name" type="text" required maxlength="80" value=project.name.clone() />
                <p class="field-error" role="alert">{error("name")}</p>
                <label for="project-description">"Description"</label>
                <textarea id="project-description" name="description" maxlength="1000">{project.description.clone()}</textarea>
                <p class="field-error" role="alert">{error("description")}</p>
                <button type="submit" class="primary" disabled=move || update.pending().get()>"Save"</button>
                <p class="form-error" role="alert">{move || other_message(update.value().get())}</p>
            </ActionForm>
        </details>
    }
}

/// Deleting: what will go is listed first, and the project's name must be typed.
#[component]
fn DeleteSection(project: ProjectSummary) -> impl IntoView {
    let asking = RwSignal::new(false);
    let delete = ServerAction::<DeleteProject>::new();
    let slug = project.slug.clone();
    let preview = wire_resource(
        move || asking.get(),
        move |asking| {
            let slug = slug.clone();
            async move {
                if asking {
                    preview_project_deletion(slug).await.map(Some)
                } else {
                    Ok(None)
                }
            }
        },
    );
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(delete.value().get(), Some(Ok(()))) {
            navigate("/projects", NavigateOptions::default());
        }
    });
    let name = project.name.clone();
    view! {
        <section class="card danger-zone" aria-labelledby="delete-project-heading">
            <h2 id="delete-project-heading">"Delete this project"</h2>
            <p>"Deletes the project, its namespace and every virtual machine and disk in it. This cannot be undone."</p>
            <button type="button" class="danger" on:click=move |_| asking.set(true)>"Delete project…"</button>
            {move || asking.get().then(|| {
                let name = name.clone();
                let slug = project.slug.clone();
                view! {
                    <div class="dialog-backdrop">
                        <div class="dialog card" role="alertdialog" aria-modal="true" aria-labelledby="delete-project-question"
                            on:keydown=move |event| if event.key() == "Escape" { asking.set(false) }>
                            <p id="delete-project-question">{format!("Delete the project {name}?")}</p>
                            <Transition fallback=|| view! { <p class="loading">"Finding what will be deleted…"</p> }>
                                {move || Suspend::new(async move {
                                    let Some(preview) = preview.await? else {
                                        return Ok::<_, AppError>(().into_any());
                                    };
                                    let vms = if preview.vms.is_empty() {
                                        view! { <p>"It has no virtual machines."</p> }.into_any()
                                    } else {
                                        view! {
                                            <p>"These virtual machines and their disks:"</p>
                                            <ul id="delete-project-vms">
                                                {preview.vms.into_iter().map(|vm| view! { <li>{vm}</li> }).collect_view()}
                                            </ul>
                                        }.into_any()
                                    };
                                    Ok(view! {
                                        {vms}
                                        <p>{format!("and the namespace {}.", preview.namespace)}</p>
                                    }.into_any())
                                })}
                            </Transition>
                            <ActionForm action=delete attr:class="form">
                                <input type="hidden" name="slug" value=slug />
                                <label for="delete-project-confirm">{format!("Type {name} to confirm")}</label>
                                <input id="delete-project-confirm" name="confirm_name" type="text" required autocomplete="off" />
                                <p class="field-error" role="alert">{move || field_message(delete.value().get(), "confirm_name")}</p>
                                <p class="form-error" role="alert">{move || other_message(delete.value().get())}</p>
                                <div class="dialog-buttons">
                                    <button type="button" on:click=move |_| asking.set(false)>"Cancel"</button>
                                    <button type="submit" class="danger" disabled=move || delete.pending().get()>"Delete project"</button>
                                </div>
                            </ActionForm>
                        </div>
                    </div>
                }
            })}
        </section>
    }
}
