use crate::{
    auth::{
        api::{oidc::list_sign_in_providers, Login},
        types::{oidc_error_message, safe_next, CurrentUser, LoginStep},
    },
    url::percent_encode,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The sign-in form. After signing in the browser loads the page it came for (or the
/// password change a new account owes) afresh, so every part of the page sees the session.
#[component]
pub fn LoginPage() -> impl IntoView {
    let (show_password, set_show_password) = signal(false);
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    Effect::new(move |_| {
        if let Some(Ok(step)) = login.value().get() {
            let next = query.with_untracked(|query| query.get("next"));
            let target = match step {
                LoginStep::SignedIn(user) => after_sign_in(&user, next.as_deref()),
                LoginStep::MfaRequired => format!(
                    "/login/mfa?next={}",
                    percent_encode(safe_next(next.as_deref()))
                ),
            };
            let _ = window().location().set_href(&target);
        }
    });
    let providers = Resource::new(|| (), |_| list_sign_in_providers());
    let error = move || {
        login
            .value()
            .get()
            .and_then(Result::err)
            .map(|error| error.to_string())
            .or_else(|| {
                query.with(|query| {
                    query
                        .get("error")
                        .map(|code| oidc_error_message(&code).to_owned())
                })
            })
    };
    let start_href = move |id: &str| {
        let next = query.with_untracked(|query| query.get("next"));
        format!(
            "/auth/oidc/{}/start?next={}",
            percent_encode(id),
            percent_encode(safe_next(next.as_deref()))
        )
    };
    view! {
        <Title text="Sign in" />
        <main id="main" class="login">
            <ActionForm action=login attr:class="login-card">
                <div class="login-brand">
                    <img src="/favicon.svg" alt="" width="40" height="40" />
                    <h1>"Sign in to Wukong"</h1>
                </div>
                <label for="login-email">"Email"</label>
                <input id="login-email" name="email" type="email" autocomplete="username" required />
                <label for="login-password">"Password"</label>
                <input
                    id="login-password"
                    name="password"
                    type=move || if show_password.get() { "text" } else { "password" }
                    autocomplete="current-password"
                    required
                />
                <label class="checkbox">
                    <input
                        type="checkbox"
                        prop:checked=show_password
                        on:change=move |event| set_show_password.set(event_target_checked(&event))
                    />
                    "Show password"
                </label>
                <button type="submit" class="primary" disabled=move || login.pending().get()>
                    {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
                <p class="form-error" role="alert">
                    {error}
                </p>
            </ActionForm>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let providers = providers.await.unwrap_or_default();
                    (!providers.is_empty()).then(|| view! {
                        <nav class="login-card providers" aria-label="Other ways to sign in">
                            {providers.into_iter().map(|provider| view! {
                                <a class="button" rel="external" href=start_href(&provider.id)>
                                    {format!("Sign in with {}", provider.name)}
                                </a>
                            }).collect_view()}
                        </nav>
                    })
                })}
            </Suspense>
        </main>
    }
}

/// Where a fully signed-in user goes: an owed password change or MFA set-up first, else the
/// page they came for.
pub(super) fn after_sign_in(user: &CurrentUser, next: Option<&str>) -> String {
    if user.must_change_password {
        "/account/password".to_owned()
    } else if user.mfa_enrolment_required {
        "/account/mfa".to_owned()
    } else {
        safe_next(next).to_owned()
    }
}
