use crate::resource::wire_resource;
use crate::{
    auth::{
        api::admin::{list_users, CreateUser, UpdateUser, UserAction},
        types::UserSummary,
    },
    components::format_utc,
    AppError,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

/// Admins: every account, with search and paging, creation, and the actions on one account.
#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let (search, set_search) = signal(String::new());
    let (page, set_page) = signal(0u32);
    let create = ServerAction::<CreateUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let users = wire_resource(
        move || {
            (
                search.get(),
                page.get(),
                create.version().get(),
                update.version().get(),
            )
        },
        |(search, page, _, _)| list_users(search, page),
    );
    let update_error = move || {
        update
            .value()
            .get()
            .and_then(Result::err)
            .map(|error| error.to_string())
    };
    view! {
        <Title text="Users" />
        <section class="page">
            <h1>"Users"</h1>
            <NewUserForm create />
            <div class="card">
                <label for="user-search">"Search by email or name"</label>
                <input
                    id="user-search"
                    type="search"
                    prop:value=search
                    on:input=move |event| {
                        set_page.set(0);
                        set_search.set(event_target_value(&event));
                    }
                />
                <p class="form-error" role="alert">{update_error}</p>
                <Transition fallback=|| view! { <p class="loading">"Loading users…"</p> }>
                    {move || Suspend::new(async move {
                        let result = users.await?;
                        let first = u64::from(result.page) * u64::from(result.page_size);
                        let shown = result.users.len() as u64;
                        let has_next = first + shown < result.total;
                        let table = if result.users.is_empty() {
                            view! { <p class="empty-state">"No users match this search."</p> }.into_any()
                        } else {
                            view! {
                                <table class="users">
                                    <thead>
                                        <tr>
                                            <th scope="col">"Email"</th>
                                            <th scope="col">"Name"</th>
                                            <th scope="col">"Role"</th>
                                            <th scope="col">"Status"</th>
                                            <th scope="col">"Two-factor"</th>
                                            <th scope="col">"Last active"</th>
                                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {result.users.into_iter().map(|user| view! { <UserRow user update /> }).collect_view()}
                                    </tbody>
                                </table>
                            }
                            .into_any()
                        };
                        Ok::<_, AppError>(view! {
                            {table}
                            <nav class="pager" aria-label="Pages">
                                <span>{format!("{}–{} of {}", if shown == 0 { 0 } else { first + 1 }, first + shown, result.total)}</span>
                                <button type="button" disabled=result.page == 0 on:click=move |_| set_page.update(|page| *page = page.saturating_sub(1))>
                                    "Previous"
                                </button>
                                <button type="button" disabled=!has_next on:click=move |_| set_page.update(|page| *page += 1)>
                                    "Next"
                                </button>
                            </nav>
                        })
                    })}
                </Transition>
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn NewUserForm(create: ServerAction<CreateUser>) -> impl IntoView {
    let created = move || create.value().get().and_then(Result::ok);
    let error_for = move |field: &'static str| {
        move || match create.value().get() {
            Some(Err(AppError::Invalid {
                field: failed,
                message,
            })) if failed == field => Some(message),
            _ => None,
        }
    };
    let other_error = move || match create.value().get() {
        Some(Err(AppError::Invalid { .. })) | Some(Ok(_)) | None => None,
        Some(Err(error)) => Some(error.to_string()),
    };
    view! {
        <details class="card">
            <summary>"Create a user"</summary>
            <ActionForm action=create attr:class="form">
                <label for="new-user-email">"Email"</label>
                <input id="new-user-email" name="email" type="email" required />
                <p class="field-error" role="alert">{error_for("email")}</p>
                <label for="new-user-name">"Name (optional)"</label>
                <input id="new-user-name" name="display_name" type="text" maxlength="100" />
                <p class="field-error" role="alert">{error_for("display_name")}</p>
                <label class="checkbox">
                    <input name="is_admin" type="checkbox" value="on" />
                    "Admin"
                </label>
                <button type="submit" class="primary" disabled=move || create.pending().get()>"Create user"</button>
                <p class="form-error" role="alert">{other_error}</p>
            </ActionForm>
            {move || created().map(|created| view! {
                <div class="notice" role="status">
                    <p>{format!("Created {}. Give them this first password; they must change it when they sign in:", created.user.email)}</p>
                    <code id="new-user-password" class="secret">{created.password.unwrap_or_default()}</code>
                </div>
            })}
        </details>
    }
    .into_any()
}

#[component]
fn UserRow(user: UserSummary, update: ServerAction<UpdateUser>) -> impl IntoView {
    let status = if user.is_disabled {
        "Disabled"
    } else if user.is_locked {
        "Locked"
    } else {
        "Active"
    };
    let mut actions = Vec::new();
    if user.is_locked {
        actions.push((UserAction::Unlock, "Unlock", None));
    }
    if user.is_disabled {
        actions.push((UserAction::Enable, "Enable", None));
    } else {
        actions.push((
            UserAction::Disable,
            "Disable",
            Some("Disable this account and sign it out everywhere?"),
        ));
    }
    if user.mfa_enabled {
        actions.push((
            UserAction::ResetMfa,
            "Reset two-factor",
            Some("Remove this user's two-factor sign-in and sign them out?"),
        ));
    }
    if user.is_admin {
        actions.push((
            UserAction::MakeUser,
            "Make user",
            Some("Remove admin rights from this user?"),
        ));
    } else {
        actions.push((
            UserAction::MakeAdmin,
            "Make admin",
            Some("Give this user admin rights over all of Wukong?"),
        ));
    }
    let email = user.email.clone();
    let buttons = actions
        .into_iter()
        .map(|(action, label, question)| {
            let user_id = user.id.clone();
            let email = email.clone();
            view! {
                <button
                    type="button"
                    aria-label=format!("{label} {email}")
                    disabled=move || update.pending().get()
                    on:click=move |_| {
                        let go = question
                            .map(|question| window().confirm_with_message(question).unwrap_or(false))
                            .unwrap_or(true);
                        if go {
                            update.dispatch(UpdateUser { user_id: user_id.clone(), action });
                        }
                    }
                >
                    {label}
                </button>
            }
        })
        .collect_view();
    view! {
        <tr>
            <td>{user.email}</td>
            <td>{user.display_name}</td>
            <td>{if user.is_admin { "Admin" } else { "User" }}</td>
            <td>{status}</td>
            <td>{if user.mfa_enabled { "On" } else { "Off" }}</td>
            <td>{user.last_active_at.map(format_utc).unwrap_or_else(|| "never".to_owned())}</td>
            <td class="row-actions">{buttons}</td>
        </tr>
    }
    .into_any()
}
