use super::mfa_settings::failure;
use crate::resource::{wire_resource, WireResource};
use crate::{
    auth::{
        api::{
            get_current_user,
            mfa::get_mfa_status,
            oidc::{list_linked_identities, list_sign_in_providers, LinkProvider, UnlinkProvider},
            sessions::{list_sessions, EndOtherSessions, EndSession},
        },
        types::{
            oidc_error_message, LinkedIdentity, MfaStatus, OidcProviderButton, SessionSummary,
            SignInMethods,
        },
    },
    components::format_utc,
    AppError,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

fn confirmed(question: &str) -> bool {
    window().confirm_with_message(question).unwrap_or(false)
}

/// The signed-in user's account: who they are, password and two-factor settings, and the
/// sessions they have open.
#[component]
pub fn AccountPage() -> impl IntoView {
    let user = wire_resource(|| (), |_| get_current_user());
    let mfa = wire_resource(|| (), |_| get_mfa_status());
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
            <LinkedIdentities mfa />
            <Sessions />
        </section>
    }
    .into_any()
}

#[component]
fn Sessions() -> impl IntoView {
    let end_one = ServerAction::<EndSession>::new();
    let end_all = ServerAction::<EndOtherSessions>::new();
    let sessions = wire_resource(
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

/// Identity providers linked to the account, each with a form to unlink it (unless it is
/// the last way in), and a form per other provider to link it. Both ask for the password
/// again (accounts without one show a fresh provider sign-in instead) and, with MFA on, a
/// code; the server refuses without them.
#[component]
fn LinkedIdentities(mfa: WireResource<Result<MfaStatus, AppError>>) -> impl IntoView {
    let methods = wire_resource(|| (), |_| list_linked_identities());
    let providers = wire_resource(|| (), |_| list_sign_in_providers());
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
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let list = methods.await?;
                    let providers = providers.await?;
                    let reauth = Reauth {
                        has_password: list.has_password,
                        mfa: mfa.await?.enabled,
                    };
                    let last_way = !list.has_password && list.identities.len() == 1;
                    let linkable: Vec<_> = providers
                        .into_iter()
                        .filter(|provider| {
                            !list.identities.iter().any(|identity| {
                                identity.provider_id.as_deref() == Some(provider.id.as_str())
                            })
                        })
                        .collect();
                    Ok::<_, AppError>(view! {
                        {if list.identities.is_empty() {
                            view! { <p>"No identity provider is linked to this account."</p> }.into_any()
                        } else {
                            view! {
                                <ul id="linked-identities">
                                    {list.identities.into_iter().map(|identity| view! {
                                        <LinkedIdentityRow identity reauth last_way methods />
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }}
                        {linkable.into_iter().map(|provider| view! { <LinkForm provider reauth /> }).collect_view()}
                    })
                })}
            </Transition>
        </div>
    }
    .into_any()
}

/// What re-authenticating takes for this user.
#[derive(Clone, Copy)]
struct Reauth {
    has_password: bool,
    mfa: bool,
}

/// The password (or, without one, what stands in for it) and code fields of a form;
/// `purpose` makes their ids unique on the page.
fn reauth_fields(reauth: Reauth, purpose: &str) -> impl IntoView {
    let password_id = format!("{purpose}-password");
    let code_id = format!("{purpose}-code");
    view! {
        {if reauth.has_password {
            view! {
                <label for=password_id.clone()>"Your password"</label>
                <input id=password_id name="password" type="password" autocomplete="current-password" required />
            }.into_any()
        } else {
            view! {
                <p class="hint">
                    "Your account has no password: sign out, sign in again through a provider linked to it, then do this within 10 minutes."
                </p>
            }.into_any()
        }}
        {reauth.mfa.then(|| view! {
            <label for=code_id.clone()>"Code from your app, or a backup code"</label>
            <input id=code_id name="code" type="text" autocomplete="one-time-code" maxlength="24" required />
        })}
    }
}

#[component]
fn LinkForm(provider: OidcProviderButton, reauth: Reauth) -> impl IntoView {
    let link = ServerAction::<LinkProvider>::new();
    Effect::new(move |_| {
        if let Some(Ok(url)) = link.value().get() {
            let _ = window().location().set_href(&url);
        }
    });
    let label = format!("Link {}", provider.name);
    let form_name = label.clone();
    view! {
        <ActionForm action=link attr:class="form" attr:aria-label=form_name>
            <input type="hidden" name="provider_id" value=provider.id.clone() />
            {reauth_fields(reauth, &format!("link-{}", provider.id))}
            <button type="submit" disabled=move || link.pending().get()>{label}</button>
            <p class="form-error" role="alert">{failure(link.value())}</p>
        </ActionForm>
    }
    .into_any()
}

#[component]
fn LinkedIdentityRow(
    identity: LinkedIdentity,
    reauth: Reauth,
    last_way: bool,
    methods: WireResource<Result<SignInMethods, AppError>>,
) -> impl IntoView {
    let unlink = ServerAction::<UnlinkProvider>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = unlink.value().get() {
            methods.refetch();
        }
    });
    let name = identity
        .provider_name
        .clone()
        .unwrap_or_else(|| "Removed provider".to_owned());
    let label = format!("Unlink {name}");
    let form_name = label.clone();
    let question = format!("Unlink {name}? You will no longer be able to sign in with it.");
    let purpose = format!("unlink-{}", identity.id);
    view! {
        <li>
            {format!(
                "{name} ({}){}, linked {}",
                identity.issuer,
                identity.email.map(|email| format!(" as {email}")).unwrap_or_default(),
                format_utc(identity.linked_at),
            )}
            {if last_way {
                view! { <p class="hint">"This is your only way to sign in, so it cannot be unlinked."</p> }.into_any()
            } else {
                view! {
                    <details>
                        <summary>"Unlink"</summary>
                        <ActionForm action=unlink attr:class="form" attr:aria-label=form_name>
                            <input type="hidden" name="identity_id" value=identity.id />
                            {reauth_fields(reauth, &purpose)}
                            <button
                                type="submit"
                                class="danger"
                                disabled=move || unlink.pending().get()
                                on:click=move |event| {
                                    if !confirmed(&question) {
                                        event.prevent_default();
                                    }
                                }
                            >
                                {label}
                            </button>
                            <p class="form-error" role="alert">{failure(unlink.value())}</p>
                        </ActionForm>
                    </details>
                }.into_any()
            }}
        </li>
    }
    .into_any()
}
