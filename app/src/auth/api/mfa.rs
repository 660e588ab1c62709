//! Server functions of the second factor.

use crate::{
    auth::types::{BackupCodes, MfaStatus, SignedIn, TotpEnrolment},
    AppError,
};
use leptos::prelude::*;

/// The MFA step of sign-in: a TOTP or backup code completes the pending session, and a new
/// session cookie comes with the answer, and the page the browser goes to next (`next` when
/// it is local, or the step still owed).
#[server(endpoint = "auth/mfa/verify")]
pub async fn verify_mfa(code: String, next: Option<String>) -> Result<SignedIn, AppError> {
    use crate::{
        auth::{api::signed_in, landing, server::mfa},
        context::{requester, require_mfa_pending, respond, set_cookie, state},
    };
    landing::check_next_bounds(next.as_deref()).map_err(respond)?;
    let state = state().map_err(respond)?;
    let pending = require_mfa_pending().map_err(respond)?;
    let token = mfa::complete_sign_in(&state.db, &state.auth, &requester(), &pending, &code)
        .await
        .map_err(respond)?;
    set_cookie(&state.auth.sessions.cookie(&token));
    signed_in(&state, &token, next.as_deref())
        .await
        .map_err(respond)
}

/// Whether the signed-in user has MFA, and how many backup codes are left.
#[server(endpoint = "auth/mfa/status")]
pub async fn get_mfa_status() -> Result<MfaStatus, AppError> {
    use crate::{
        auth::server::mfa,
        context::{require_signed_in, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_signed_in().map_err(respond)?;
    mfa::status(&state.db, &session.user.id)
        .await
        .map_err(respond)
}

/// Starts TOTP set-up; needs the password again.
#[server(endpoint = "auth/mfa/enrol")]
pub async fn start_totp_enrolment(password: String) -> Result<TotpEnrolment, AppError> {
    use crate::{
        auth::server::mfa,
        context::{requester, require_signed_in, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_signed_in().map_err(respond)?;
    mfa::start_enrolment(&state.db, &state.auth, &requester(), &session, password)
        .await
        .map_err(respond)
}

/// Finishes TOTP set-up with a code from the app; answers with the backup codes and a new
/// session cookie.
#[server(endpoint = "auth/mfa/confirm")]
pub async fn confirm_totp_enrolment(code: String) -> Result<BackupCodes, AppError> {
    use crate::{
        auth::server::mfa,
        context::{requester, require_signed_in, respond, set_cookie, state},
    };
    let state = state().map_err(respond)?;
    let session = require_signed_in().map_err(respond)?;
    let (token, codes) =
        mfa::confirm_enrolment(&state.db, &state.auth, &requester(), &session, &code)
            .await
            .map_err(respond)?;
    set_cookie(&state.auth.sessions.cookie(&token));
    Ok(codes)
}

/// A new set of backup codes; needs the password again.
#[server(endpoint = "auth/mfa/backup-codes")]
pub async fn regenerate_backup_codes(password: String) -> Result<BackupCodes, AppError> {
    use crate::{
        auth::server::mfa,
        context::{requester, require_session, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    mfa::regenerate_backup_codes(&state.db, &state.auth, &requester(), &session, password)
        .await
        .map_err(respond)
}

/// Turns MFA off; needs the password and a code.
#[server(endpoint = "auth/mfa/disable")]
pub async fn disable_mfa(password: String, code: String) -> Result<(), AppError> {
    use crate::{
        auth::server::mfa,
        context::{requester, require_session, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    mfa::disable(
        &state.db,
        &state.auth,
        &requester(),
        &session,
        password,
        &code,
    )
    .await
    .map_err(respond)
}

/// Admins: whether every user must set up MFA.
#[server(endpoint = "auth/mfa/policy")]
pub async fn set_mfa_required(required: bool) -> Result<(), AppError> {
    use crate::{
        auth::server::mfa,
        context::{requester, require_session, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    mfa::set_required_for_everyone(&state.db, &requester(), &admin, required)
        .await
        .map_err(respond)
}
