use crate::resource::wire_resource;
use crate::{
    auth::api::{has_local_password, ChangePassword},
    AppError,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

/// Changing one's password; also where a new account is sent before anything else, and where
/// an account made through an identity provider sets its first password.
#[component]
pub fn PasswordPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let has_password = wire_resource(|| (), |_| has_local_password());
    Effect::new(move |_| {
        if let Some(Ok(())) = change.value().get() {
            let _ = window().location().set_href("/");
        }
    });
    let error_for = move |field: &'static str| {
        move || match change.value().get() {
            Some(Err(AppError::Invalid {
                field: failed,
                message,
            })) if failed == field => Some(message),
            _ => None,
        }
    };
    let other_error = move || match change.value().get() {
        Some(Err(AppError::Invalid { .. })) | Some(Ok(())) | None => None,
        Some(Err(error)) => Some(error.to_string()),
    };
    view! {
        <Title text="Change password" />
        <section class="page">
            <h1>"Change password"</h1>
            <p class="lead">"Use at least 12 characters. A few unrelated words make a strong password."</p>
            <ActionForm action=change attr:class="card form">
                <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        if has_password.await.unwrap_or(true) {
                            view! {
                                <label for="current-password">"Current password"</label>
                                <input id="current-password" name="current_password" type="password" autocomplete="current-password" required />
                            }
                            .into_any()
                        } else {
                            view! {
                                <p id="first-password">
                                    "Your account has no password yet: it signs in through an identity provider. You can set one within 10 minutes of signing in through it; otherwise sign out and sign in through the provider again first."
                                </p>
                                <input type="hidden" name="current_password" value="" />
                            }
                            .into_any()
                        }
                    })}
                </Suspense>
                <p class="field-error" role="alert">{error_for("current_password")}</p>
                <label for="new-password">"New password"</label>
                <input id="new-password" name="new_password" type="password" autocomplete="new-password" minlength="12" maxlength="128" required />
                <p class="field-error" role="alert">{error_for("new_password")}</p>
                <label for="confirm-password">"Repeat the new password"</label>
                <input id="confirm-password" name="confirm_password" type="password" autocomplete="new-password" required />
                <p class="field-error" role="alert">{error_for("confirm_password")}</p>
                <button type="submit" class="primary" disabled=move || change.pending().get()>
                    "Change password"
                </button>
                <p class="form-error" role="alert">{other_error}</p>
            </ActionForm>
        </section>
    }
}
