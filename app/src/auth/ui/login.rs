use crate::resource::wire_resource;
use crate::{
    auth::{
        api::{oidc::list_sign_in_providers, Login},
        types::{oidc_error_message, safe_next, LoginStep},
    },
    url::{percent_encode, query_value},
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_query_map};

/// The sign-in form. It sends the `next` it was opened with, and the server answers where
/// to go (CSRF-05): the page it came for, or the password change or MFA step owed. The
/// browser loads that page afresh, so every part of the page sees the session.
#[component]
pub fn LoginPage() -> impl IntoView {
    let (show_password, set_show_password) = signal(false);
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let search = use_location().search;
    Effect::new(move |_| {
        if let Some(Ok(step)) = login.value().get() {
            let landing = match step {
                LoginStep::SignedIn(signed_in) => signed_in.landing,
                LoginStep::MfaRequired { landing } => landing,
            };
            follow(&landing);
        }
    });
    let providers = wire_resource(|| (), |_| list_sign_in_providers());
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
        let next = search.with_untracked(|search| query_value(search, "next"));
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
                <input type="hidden" name="next" value=move || search.with(|search| query_value(search, "next")) />
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

/// Loads the page the server chose, checked again so that only a local path is followed.
pub(super) fn follow(landing: &str) {
    let _ = window().location().set_href(safe_next(Some(landing)));
}
