use super::login::follow;
use crate::{
    auth::api::{mfa::VerifyMfa, Logout},
    url::query_value,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_location;

/// The second step of sign-in: a code from the authenticator app or a backup code. Like the
/// sign-in form it sends the `next` it was opened with and follows the server's answer.
#[component]
pub fn MfaChallengePage() -> impl IntoView {
    let verify = ServerAction::<VerifyMfa>::new();
    let logout = ServerAction::<Logout>::new();
    let search = use_location().search;
    Effect::new(move |_| {
        if let Some(Ok(signed_in)) = verify.value().get() {
            follow(&signed_in.landing);
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
                    <input type="hidden" name="next" value=move || search.with(|search| query_value(search, "next")) />
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
