use crate::resource::{wire_resource, WireResource};
use crate::{
    auth::{
        api::{
            get_current_user,
            mfa::{
                get_mfa_status, ConfirmTotpEnrolment, DisableMfa, RegenerateBackupCodes,
                SetMfaRequired, StartTotpEnrolment,
            },
        },
        types::{BackupCodes, MfaStatus, TotpEnrolment},
    },
    AppError,
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

/// The message of a failed action, if it failed.
pub(super) fn failure<T>(
    value: impl Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
) -> impl Fn() -> Option<String> + Send + Sync + 'static {
    move || {
        value
            .get()
            .and_then(Result::err)
            .map(|error| error.to_string())
    }
}

fn reload() {
    let _ = window().location().reload();
}

/// Two-factor sign-in settings: set-up with an authenticator app, backup codes, turning it
/// off, and (for admins) requiring it for everyone.
#[component]
pub fn MfaSettingsPage() -> impl IntoView {
    let status = wire_resource(|| (), |_| get_mfa_status());
    let user = wire_resource(|| (), |_| get_current_user());
    view! {
        <Title text="Two-factor sign-in" />
        <section class="page">
            <h1>"Two-factor sign-in"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let required_now = user.await.map(|user| user.mfa_enrolment_required);
                    let status = status.await?;
                    let notice = (required_now == Ok(true)).then(|| view! {
                        <p class="notice" role="status">
                            "Your administrator requires two-factor sign-in. Set it up to continue."
                        </p>
                    });
                    let body = if status.enabled {
                        view! { <MfaEnabled status=status.clone() /> }.into_any()
                    } else {
                        view! { <MfaSetUp /> }.into_any()
                    };
                    Ok::<_, AppError>(view! { {notice} {body} })
                })}
            </Suspense>
            <MfaPolicy user status />
        </section>
    }
    .into_any()
}

/// Set-up: password, then the QR code and secret, then a code from the app.
#[component]
fn MfaSetUp() -> impl IntoView {
    let start = ServerAction::<StartTotpEnrolment>::new();
    let enrolment = move || start.value().get().and_then(Result::ok);
    view! {
        <div class="card">
            <h2>"Off"</h2>
            <Show
                when=move || enrolment().is_some()
                fallback=move || view! {
                    <p>"Add a second step to signing in: a code from an authenticator app on your phone."</p>
                    <ActionForm action=start attr:class="form">
                        <label for="mfa-start-password">"Confirm with your password"</label>
                        <input id="mfa-start-password" name="password" type="password" autocomplete="current-password" required />
                        <button type="submit" class="primary" disabled=move || start.pending().get()>
                            "Set up two-factor sign-in"
                        </button>
                        <p class="form-error" role="alert">{failure(start.value())}</p>
                    </ActionForm>
                }
            >
                {move || enrolment().map(|enrolment| view! { <ConfirmEnrolment enrolment /> })}
            </Show>
        </div>
    }
    .into_any()
}

#[component]
fn ConfirmEnrolment(enrolment: TotpEnrolment) -> impl IntoView {
    let confirm = ServerAction::<ConfirmTotpEnrolment>::new();
    let codes = move || confirm.value().get().and_then(Result::ok);
    view! {
        <Show
            when=move || codes().is_some()
            fallback=move || {
                let enrolment = enrolment.clone();
                view! {
                    <ol class="steps">
                        <li>
                            <p>"Scan this QR code with your authenticator app,"</p>
                            <div class="qr" inner_html=enrolment.qr_svg></div>
                        </li>
                        <li>
                            <p>"or enter this key by hand:"</p>
                            <code id="totp-secret" class="secret">{enrolment.secret}</code>
                            <details>
                                <summary>"Show the setup link"</summary>
                                <code id="totp-uri" class="secret">{enrolment.otpauth_uri}</code>
                            </details>
                        </li>
                        <li>
                            <ActionForm action=confirm attr:class="form">
                                <label for="mfa-confirm-code">"Enter the 6-digit code the app shows"</label>
                                <input id="mfa-confirm-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" maxlength="7" required />
                                <button type="submit" class="primary" disabled=move || confirm.pending().get()>
                                    "Turn on"
                                </button>
                                <p class="form-error" role="alert">{failure(confirm.value())}</p>
                            </ActionForm>
                        </li>
                    </ol>
                }
            }
        >
            <p role="status">"Two-factor sign-in is on. Your other sessions were signed out."</p>
            {move || codes().map(|codes| view! { <BackupCodeList codes /> })}
        </Show>
    }
    .into_any()
}

/// Freshly issued backup codes, shown once.
#[component]
fn BackupCodeList(codes: BackupCodes) -> impl IntoView {
    view! {
        <div class="backup-codes">
            <h3>"Your backup codes"</h3>
            <p>
                "Each code signs you in once if you lose your phone. Save them somewhere safe now: "
                "they are not shown again."
            </p>
            <ul id="backup-codes">
                {codes.codes.into_iter().map(|code| view! { <li><code>{code}</code></li> }).collect_view()}
            </ul>
            <button type="button" class="primary" on:click=|_| reload()>
                "I have saved my backup codes"
            </button>
        </div>
    }
    .into_any()
}

#[component]
fn MfaEnabled(status: MfaStatus) -> impl IntoView {
    let regenerate = ServerAction::<RegenerateBackupCodes>::new();
    let disable = ServerAction::<DisableMfa>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = disable.value().get() {
            reload();
        }
    });
    let new_codes = move || regenerate.value().get().and_then(Result::ok);
    view! {
        <div class="card">
            <h2>"On"</h2>
            <p id="backup-codes-left">
                {format!("{} of 10 backup codes left.", status.backup_codes_left)}
            </p>
        </div>
        <div class="card">
            <h2>"Backup codes"</h2>
            <Show
                when=move || new_codes().is_some()
                fallback=move || view! {
                    <p>"Make a new set of ten codes. The old ones stop working."</p>
                    <ActionForm action=regenerate attr:class="form">
                        <label for="mfa-regenerate-password">"Confirm with your password"</label>
                        <input id="mfa-regenerate-password" name="password" type="password" autocomplete="current-password" required />
                        <button type="submit" disabled=move || regenerate.pending().get()>"Make new backup codes"</button>
                        <p class="form-error" role="alert">{failure(regenerate.value())}</p>
                    </ActionForm>
                }
            >
                {move || new_codes().map(|codes| view! { <BackupCodeList codes /> })}
            </Show>
        </div>
        <div class="card">
            <h2>"Turn off"</h2>
            <p>"Your other sessions are signed out when you turn two-factor sign-in off."</p>
            <ActionForm action=disable attr:class="form">
                <label for="mfa-disable-password">"Password"</label>
                <input id="mfa-disable-password" name="password" type="password" autocomplete="current-password" required />
                <label for="mfa-disable-code">"Code from your app, or a backup code"</label>
                <input id="mfa-disable-code" name="code" type="text" autocomplete="one-time-code" maxlength="24" required />
                <button type="submit" class="danger" disabled=move || disable.pending().get()>
                    "Turn off two-factor sign-in"
                </button>
                <p class="form-error" role="alert">{failure(disable.value())}</p>
            </ActionForm>
        </div>
    }
    .into_any()
}

/// Admins only: the "MFA required for everyone" setting.
#[component]
fn MfaPolicy(
    user: WireResource<Result<crate::auth::types::CurrentUser, AppError>>,
    status: WireResource<Result<MfaStatus, AppError>>,
) -> impl IntoView {
    let save = ServerAction::<SetMfaRequired>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = save.value().get() {
            status.refetch();
        }
    });
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let is_admin = user.await.map(|user| user.is_admin).unwrap_or(false);
                let required = status.await.map(|status| status.required_for_everyone).unwrap_or(false);
                is_admin.then(|| view! {
                    <div class="card">
                        <h2>"For everyone"</h2>
                        <p id="mfa-policy">
                            {if required {
                                "Every user must set up two-factor sign-in before using Wukong."
                            } else {
                                "Two-factor sign-in is optional for users."
                            }}
                        </p>
                        <button
                            type="button"
                            disabled=move || save.pending().get()
                            on:click=move |_| {
                                save.dispatch(SetMfaRequired { required: !required });
                            }
                        >
                            {if required { "Make it optional" } else { "Require it for everyone" }}
                        </button>
                        <p class="form-error" role="alert">{failure(save.value())}</p>
                    </div>
                })
            })}
        </Suspense>
    }
    .into_any()
}
