//! Server functions of identity: sign-in and sessions here, the second factor in [`mfa`].

pub mod admin;
pub mod mfa;
pub mod oidc;
pub mod sessions;

use super::types::{CurrentUser, LoginStep};
use crate::AppError;
use leptos::prelude::*;

/// Signs in with email and password; the session cookie comes with the answer, and the page
/// the browser goes to next: `next` (the page the sign-in page was opened for) when it is
/// local, or the step still owed. For an account with MFA that session still owes a code
/// (`auth/mfa/verify`).
#[server(endpoint = "auth/login")]
pub async fn login(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<LoginStep, AppError> {
    use crate::{
        auth::{
            landing,
            server::{login, session},
        },
        context::{requester, respond, set_cookie, state},
    };
    landing::check_next_bounds(next.as_deref()).map_err(respond)?;
    let state = state().map_err(respond)?;
    let previous = crate::context::session().map(|session| session.id);
    let (token, stage) = login::login(
        &state.db,
        &state.auth,
        &requester(),
        &email,
        password,
        previous.as_deref(),
    )
    .await
    .map_err(respond)?;
    set_cookie(&state.auth.sessions.cookie(&token));
    if stage == session::SessionStage::MfaPending {
        return Ok(LoginStep::MfaRequired {
            landing: landing::mfa_step(next.as_deref()),
        });
    }
    signed_in(&state, &token, next.as_deref())
        .await
        .map(LoginStep::SignedIn)
        .map_err(respond)
}

/// The user of the session `token` just opened, and where they land.
#[cfg(feature = "ssr")]
pub(crate) async fn signed_in(
    state: &crate::context::AppState,
    token: &str,
    next: Option<&str>,
) -> Result<super::types::SignedIn, AppError> {
    let user = crate::auth::server::session::find(
        &state.db,
        &state.auth.sessions,
        token,
        crate::db::now_ms(),
    )
    .await?
    .map(|session| session.user)
    .ok_or_else(|| AppError::internal("new session not found"))?;
    let landing = crate::auth::landing::after_sign_in(&user, next);
    Ok(super::types::SignedIn { user, landing })
}

/// Ends the current session on the server and removes the cookie.
#[server(endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::{
        auth::server::login,
        context::{requester, respond, session, set_cookie, state},
    };
    let state = state().map_err(respond)?;
    if let Some(session) = session() {
        login::logout(&state.db, &requester(), &session)
            .await
            .map_err(respond)?;
    }
    set_cookie(&state.auth.sessions.expired_cookie());
    // Whatever the browser kept for this site goes too (SES-05).
    crate::context::set_header("clear-site-data", "\"cookies\", \"storage\"");
    Ok(())
}

/// The signed-in user; `Unauthorized` without a live session.
#[server(endpoint = "auth/me")]
pub async fn get_current_user() -> Result<CurrentUser, AppError> {
    use crate::context::{require_signed_in, respond};
    require_signed_in()
        .map(|session| session.user)
        .map_err(respond)
}

/// Whether the signed-in user has a local password (accounts made through an identity
/// provider start without one).
#[server(endpoint = "auth/has-password")]
pub async fn has_local_password() -> Result<bool, AppError> {
    use crate::{
        auth::server::account,
        context::{require_signed_in, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_signed_in().map_err(respond)?;
    account::has_password(&state.db, &session.user.id)
        .await
        .map_err(respond)
}

/// Changes the signed-in user's password; needs the current one (or, for an account without
/// one, a fresh sign-in through a linked identity provider).
#[server(endpoint = "auth/password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
    confirm_password: String,
) -> Result<(), AppError> {
    use crate::{
        auth::server::account,
        context::{requester, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = crate::context::require_signed_in().map_err(respond)?;
    account::change_password(
        &state.db,
        &state.auth,
        &requester(),
        &session,
        current_password,
        new_password,
        confirm_password,
    )
    .await
    .map_err(respond)
}
