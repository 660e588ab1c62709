use super::login::after_sign_in;
use crate::auth::api::{mfa::VerifyMfa, Logout};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The second step of sign-in: a code from the authenticator app or a backup code.
#[component]
pub fn MfaChallengePage() -> impl IntoView {
    let verify = ServerAction::<VerifyMfa>::new();
    let logout = ServerAction::<Logout>::new();
    let query = use_query_map();
    Effect::new(move |_| {
        if let Some(Ok(user)) = verify.value().get() {
            let next = query.with_untracked(|query| query.get("next"));
            let _ = window()
                .location()
                .set_href(&after_sign_in(&user, next.as_deref()));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            let _ = window().location().set_href("/login");
        }
    });
    let error = move || {
        verify
            .value()
            .get()
            .and_then(Result::err)
            .map(|error| error.to_string())
    };
    view! {
        <Title text="Two-factor sign-in" />
        <main id="main" class="login">
            <div class="login-card">
                <ActionForm action=verify>
                    <div class="login-brand">
                        <img src="/favicon.svg" alt="" width="40" height="40" />
                        <h1>"Two-factor sign-in"</h1>
                    </div>
                    <p>"Enter the 6-digit code from your authenticator app, or one of your backup codes."</p>
                    <label for="mfa-code">"Code"</label>
                    <input
                        id="mfa-code"
                        name="code"
                        type="text"
                        inputmode="text"
                        autocomplete="one-time-code"
                        autocapitalize="characters"
                        spellcheck="false"
                        maxlength="24"
                        required
                        autofocus
                    />
                    <button type="submit" class="primary" disabled=move || verify.pending().get()>
                        {move || if verify.pending().get() { "Checking…" } else { "Continue" }}
                    </button>
                    <p class="form-error" role="alert">{error}</p>
                </ActionForm>
                <ActionForm action=logout>
                    <button type="submit" class="link">"Cancel and sign in as someone else"</button>
                </ActionForm>
            </div>
        </main>
    }
    .into_any()
}
