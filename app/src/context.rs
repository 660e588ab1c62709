//! Server-side state shared by every request, and the helpers server fns reach it through.

use crate::{
    auth::server::{
        session::{Requester, Session, SessionStage},
        Auth,
    },
    db::Db,
    AppError,
};
use axum::extract::FromRef;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

/// Everything a request handler or server fn needs. Built once by the `server` crate and
/// provided to server fns and server-side rendering by `leptos_routes`.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub auth: Auth,
    pub cluster: crate::cluster::Cluster,
    pub live: crate::realtime::server::Live,
    /// Open live-update sockets, counted per user.
    pub sockets: crate::realtime::sockets::SocketSlots,
    /// Open consoles, one viewer each.
    pub consoles: crate::console::server::registry::Consoles,
    /// Where pages load the browser bundle from.
    pub bundle: std::sync::Arc<crate::assets::Bundle>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The process state, from inside a server fn.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::internal("AppState is not in the context"))
}

/// Sets the response status from `error` and hands it back, for `.map_err(respond)`.
///
/// Leptos 0.8 answers every server-fn error with 500 unless the status is set here; it is
/// set only on the error path because the client decodes any 4xx/5xx body as an `AppError`.
pub fn respond(error: AppError) -> AppError {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.set_status(error.status());
        if let AppError::TooManyAttempts { retry_after_secs } = &error {
            response.insert_header(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(*retry_after_secs),
            );
        }
    }
    error
}

fn request_parts() -> Option<http::request::Parts> {
    use_context::<http::request::Parts>()
}

/// Who sent the current request: client address (as trusted proxies report it) and user
/// agent.
pub fn requester() -> Requester {
    let (Some(parts), Ok(state)) = (request_parts(), state()) else {
        return Requester::default();
    };
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0);
    state.auth.requester(peer, &parts.headers)
}

/// The session the current request carries, as resolved by the session layer.
pub fn session() -> Option<Session> {
    request_parts()?.extensions.get::<Session>().cloned()
}

/// The fully signed-in session, or `Unauthorized`; may still owe a forced password change.
pub fn require_signed_in() -> Result<Session, AppError> {
    session()
        .filter(|session| session.stage == SessionStage::Active)
        .ok_or(AppError::Unauthorized)
}

/// A session that has passed the password and owes its second factor, or `Unauthorized`.
pub fn require_mfa_pending() -> Result<Session, AppError> {
    session()
        .filter(|session| session.stage == SessionStage::MfaPending)
        .ok_or(AppError::Unauthorized)
}

/// A signed-in session that may use the application: `Forbidden` while a forced password
/// change or a required MFA set-up is pending.
pub fn require_session() -> Result<Session, AppError> {
    let session = require_signed_in()?;
    if !session.may_use_app() {
        return Err(AppError::Forbidden);
    }
    Ok(session)
}

/// Adds a `Set-Cookie` header to the response being built.
pub fn set_cookie(value: &str) {
    let header = http::HeaderValue::from_str(value);
    if let (Some(response), Ok(header)) = (use_context::<ResponseOptions>(), header) {
        response.append_header(http::header::SET_COOKIE, header);
    }
}

/// Sets a fixed header on the response being built.
pub fn set_header(name: &'static str, value: &'static str) {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.insert_header(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static(value),
        );
    }
}

/// Marks the current request as not done by the user (a refresh the browser made because
/// of a pushed change), so it does not keep the session from going idle.
pub fn not_user_activity() {
    if let Some(activity) = request_parts().and_then(|parts| {
        parts
            .extensions
            .get::<crate::auth::server::session::Activity>()
            .cloned()
    }) {
        activity.not_by_user();
    }
}
