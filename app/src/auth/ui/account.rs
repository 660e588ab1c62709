use crate::{
    auth::{
        api::{
            get_current_user,
            mfa::get_mfa_status,
            oidc::{list_linked_identities, list_sign_in_providers},
            sessions::{list_sessions, EndOtherSessions, EndSession},
        },
        types::{oidc_error_message, SessionSummary},
    },
    components::format_utc,
    AppError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

fn confirmed(question: &str) -> bool {
    window().confirm_with_message(question).unwrap_or(false)
}

/// The signed-in user's account: who they are, password and two-factor settings, and the
/// sessions they have open.
#[component]
pub fn AccountPage() -> impl IntoView {
    let user = Resource::new(|| (), |_| get_current_user());
    let mfa = Resource::new(|| (), |_| get_mfa_status());
    view! {
        <Title text="Account" />
        <section class="page">
            <h1>"Account"</h1>
            <div class="card">
                <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let user = user.await?;
                        let mfa = mfa.await?;
                        Ok::<_, AppError>(view! {
                            <dl class="facts">
                                <dt>"Email"</dt>
                                <dd id="account-email">{user.email}</dd>
                                <dt>"Name"</dt>
                                <dd>{user.display_name}</dd>
                                <dt>"Role"</dt>
                                <dd>{if user.is_admin { "Admin" } else { "User" }}</dd>
                                <dt>"Two-factor sign-in"</dt>
                                <dd id="account-mfa">{if mfa.enabled { "On" } else { "Off" }}</dd>
                            </dl>
                        })
                    })}
                </Suspense>
                <p class="actions">
                    <A href="/account/password">"Change password"</A>
                    <A href="/account/mfa">"Two-factor sign-in settings"</A>
                </p>
            </div>
            <LinkedIdentities />
            <Sessions />
        </section>
    }
    .into_any()
}

#[component]
fn Sessions() -> impl IntoView {
    let end_one = ServerAction::<EndSession>::new();
    let end_all = ServerAction::<EndOtherSessions>::new();
    let sessions = Resource::new(
        move || (end_one.version().get(), end_all.version().get()),
        |_| list_sessions(),
    );
    let error = move || {
        let failed = |value: Option<Result<_, AppError>>| value.and_then(Result::err);
        failed(end_one.value().get().map(|r| r.map(|_| ())))
            .or_else(|| failed(end_all.value().get().map(|r| r.map(|_| ()))))
            .map(|error| error.to_string())
    };
    view! {
        <div class="card">
            <h2>"Sessions"</h2>
            <p>"Browsers signed in to your account. Sign out any you do not recognise."</p>
            <Transition fallback=|| view! { <p class="loading">"Loading sessions…"</p> }>
                {move || Suspend::new(async move {
                    let list = sessions.await?;
                    let others = list.iter().filter(|session| !session.is_current).count();
                    Ok::<_, AppError>(view! {
                        <table class="sessions">
                            <thead>
                                <tr>
                                    <th scope="col">"Device"</th>
                                    <th scope="col">"IP address"</th>
                                    <th scope="col">"Signed in"</th>
                                    <th scope="col">"Last active"</th>
                                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                {list
                                    .into_iter()
                                    .map(|session| view! { <SessionRow session end_one /> })
                                    .collect_view()}
                            </tbody>
                        </table>
                        {(others > 0).then(|| view! {
                            <button
                                type="button"
                                class="danger"
                                disabled=move || end_all.pending().get()
                                on:click=move |_| {
                                    if confirmed("Sign out all your other sessions?") {
                                        end_all.dispatch(EndOtherSessions {});
                                    }
                                }
                            >
                                "Sign out all other sessions"
                            </button>
                        })}
                    })
                })}
            </Transition>
            <p class="form-error" role="alert">{error}</p>
        </div>
    }
    .into_any()
}

#[component]
fn SessionRow(session: SessionSummary, end_one: ServerAction<EndSession>) -> impl IntoView {
    let id = session.id.clone();
    let device = session.device.clone();
    let action = if session.is_current {
        view! { <span class="badge">"This device"</span> }.into_any()
    } else {
        view! {
            <button
                type="button"
                disabled=move || end_one.pending().get()
                aria-label=format!("Sign out {device}")
                on:click=move |_| {
                    if confirmed("Sign out this session?") {
                        end_one.dispatch(EndSession { session_id: id.clone() });
                    }
                }
            >
                "Sign out"
            </button>
        }
        .into_any()
    };
    view! {
        <tr class:current=session.is_current>
            <td>{session.device}</td>
            <td>{session.ip.unwrap_or_else(|| "unknown".to_owned())}</td>
            <td>{format_utc(session.created_at)}</td>
            <td>{format_utc(session.last_active_at)}</td>
            <td>{action}</td>
        </tr>
    }
    .into_any()
}

/// Identity providers linked to the account, and links to add one.
#[component]
fn LinkedIdentities() -> impl IntoView {
    let linked = Resource::new(|| (), |_| list_linked_identities());
    let providers = Resource::new(|| (), |_| list_sign_in_providers());
    let query = use_query_map();
    let message = move || {
        query.with(|query| {
            if let Some(code) = query.get("error") {
                Some(oidc_error_message(&code).to_owned())
            } else {
                query
                    .get("linked")
                    .map(|_| "The identity provider is linked.".to_owned())
            }
        })
    };
    view! {
        <div class="card">
            <h2>"Sign-in providers"</h2>
            <p role="status">{message}</p>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let linked = linked.await?;
                    let providers = providers.await?;
                    Ok::<_, AppError>(view! {
                        {if linked.is_empty() {
                            view! { <p>"No identity provider is linked to this account."</p> }.into_any()
                        } else {
                            view! {
                                <ul id="linked-identities">
                                    {linked.into_iter().map(|identity| view! {
                                        <li>
                                            {format!(
                                                "{} ({}){}, linked {}",
                                                identity.provider_name.unwrap_or_else(|| "Removed provider".to_owned()),
                                                identity.issuer,
                                                identity.email.map(|email| format!(" as {email}")).unwrap_or_default(),
                                                format_utc(identity.linked_at),
                                            )}
                                        </li>
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }}
                        <p class="actions">
                            {providers.into_iter().map(|provider| view! {
                                <a rel="external" href=format!("/auth/oidc/{}/link", crate::url::percent_encode(&provider.id))>
                                    {format!("Link {}", provider.name)}
                                </a>
                            }).collect_view()}
                        </p>
                    })
                })}
            </Suspense>
        </div>
    }
    .into_any()
}
