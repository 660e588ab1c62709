//! The members section of a project's page: the list, with role changes, removal and
//! leaving, and adding a user by email, each offered only where the role allows it.

use super::{field_message, other_message};
use crate::resource::wire_resource;
use crate::{
    auth::api::get_current_user,
    authz::{Action as Can, ProjectRole},
    projects::{
        api::{list_members, AddMember, ChangeMemberRole, RemoveMember},
        types::{MemberSummary, ProjectSummary},
    },
    vms::ui::ConfirmDialog,
    AppError,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_router::{hooks::use_navigate, NavigateOptions};

/// The roles `project`'s user may give: owners only by those who manage owners.
fn grantable(project: &ProjectSummary) -> Vec<ProjectRole> {
    ProjectRole::ALL
        .into_iter()
        .filter(|role| *role != ProjectRole::Owner || project.may(Can::ManageOwners))
        .collect()
}

#[component]
pub fn Members(project: ProjectSummary) -> impl IntoView {
    let add = ServerAction::<AddMember>::new();
    let change = ServerAction::<ChangeMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let slug = project.slug.clone();
    let members = wire_resource(
        move || {
            (
                add.version().get(),
                change.version().get(),
                remove.version().get(),
            )
        },
        move |_| list_members(slug.clone()),
    );
    let me = wire_resource(|| (), |_| get_current_user());
    let may_manage = project.may(Can::ManageMembers);
    let leaving = RwSignal::new(false);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if leaving.get_untracked() && matches!(remove.value().get(), Some(Ok(()))) {
            navigate("/projects", NavigateOptions::default());
        }
    });
    let project_for_rows = project.clone();
    view! {
        <section class="card" aria-labelledby="members-heading">
            <h2 id="members-heading">"Members"</h2>
            <p class="form-error" role="alert">
                {move || other_message(change.value().get()).or_else(|| other_message(remove.value().get()))}
            </p>
            <Transition fallback=|| view! { <p class="loading">"Loading members…"</p> }>
                {move || {
                    let project = project_for_rows.clone();
                    Suspend::new(async move {
                        let members = members.await?;
                        let me = me.await.map(|user| user.id).unwrap_or_default();
                        Ok::<_, AppError>(view! {
                            <table class="members">
                                <thead>
                                    <tr>
                                        <th scope="col">"Email"</th>
                                        <th scope="col">"Name"</th>
                                        <th scope="col">"Role"</th>
                                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {members.into_iter().map(|member| {
                                        let is_me = member.user_id == me;
                                        view! { <MemberRow member project=project.clone() is_me change remove leaving /> }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        })
                    })
                }}
            </Transition>
            {may_manage.then(|| {
                let error = move |field: &'static str| move || field_message(add.value().get(), field);
                view! {
                    <ActionForm action=add attr:class="form inline-form">
                        <input type="hidden" name="slug" value=project.slug.clone() />
                        <label for="add-member-email">"Add a member by email"</label>
                        <input id="add-member-email" name="email" type="email" required />
                        <p class="field-error" role="alert">{error("email")}</p>
                        <label for="add-member-role">"Role"</label>
                        <select id="add-member-role" name="role">
                            {grantable(&project).into_iter().map(|role| view! {
                                <option value=role.as_str() selected=role == ProjectRole::Viewer>{role.label()}</option>
                            }).collect_view()}
                        </select>
                        <button type="submit" class="primary" disabled=move || add.pending().get()>"Add member"</button>
                        <p class="form-error" role="alert">{move || other_message(add.value().get())}</p>
                    </ActionForm>
                }
            })}
        </section>
    }
}

#[component]
fn MemberRow(
    member: MemberSummary,
    project: ProjectSummary,
    is_me: bool,
    change: ServerAction<ChangeMemberRole>,
    remove: ServerAction<RemoveMember>,
    leaving: RwSignal<bool>,
) -> impl IntoView {
    let touches_owner = member.role == ProjectRole::Owner;
    let may_change =
        project.may(Can::ManageMembers) && (!touches_owner || project.may(Can::ManageOwners));
    let confirming = RwSignal::new(false);
    let slug = project.slug.clone();
    let user_id = member.user_id.clone();
    let role_cell = if may_change {
        let (slug, user_id) = (slug.clone(), user_id.clone());
        let label = format!("Role of {}", member.email);
        view! {
            <select
                aria-label=label
                disabled=move || change.pending().get()
                on:change=move |event| {
                    if let Some(role) = ProjectRole::parse(&event_target_value(&event)) {
                        change.dispatch(ChangeMemberRole { slug: slug.clone(), user_id: user_id.clone(), role });
                    }
                }
            >
                {grantable(&project).into_iter().map(|role| view! {
                    <option value=role.as_str() selected=role == member.role>{role.label()}</option>
                }).collect_view()}
            </select>
        }
        .into_any()
    } else {
        view! { <span>{member.role.label()}</span> }.into_any()
    };
    let question = if is_me {
        format!("Leave the project {}?", project.name)
    } else {
        format!("Remove {} from the project?", member.email)
    };
    let button = (is_me || may_change).then(|| {
        let label = if is_me { "Leave" } else { "Remove" };
        view! { <button type="button" class="small danger" on:click=move |_| confirming.set(true)>{label}</button> }
    });
    view! {
        <tr data-member=member.email.clone()>
            <td>{member.email.clone()}</td>
            <td>{member.display_name.clone()}</td>
            <td>{role_cell}</td>
            <td class="actions">
                {button}
                {move || confirming.get().then(|| {
                    let (slug, user_id) = (slug.clone(), user_id.clone());
                    view! {
                        <ConfirmDialog
                            question=question.clone()
                            confirm_label=if is_me { "Leave".to_owned() } else { "Remove".to_owned() }
                            on_confirm=Callback::new(move |()| {
                                confirming.set(false);
                                leaving.set(is_me);
                                remove.dispatch(RemoveMember { slug: slug.clone(), user_id: user_id.clone() });
                            })
                            on_cancel=Callback::new(move |()| confirming.set(false))
                        />
                    }
                })}
            </td>
        </tr>
    }
}
