//! Resolves the session cookie of each request into a `Session` in its extensions, sends
//! page requests without a usable session to the sign-in page, and records the user's
//! activity once the request is answered (unless the handler said it was not theirs).
//!
//! Pages are guarded here rather than in the layout because server rendering streams the
//! response head before the layout's data resolves: only a middleware can still answer 303.

use app::{
    auth::{
        server::session::{self, Activity, Session, SessionStage},
        types::safe_next,
    },
    context::AppState,
    db::now_ms,
};
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method, Uri},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
    Extension,
};

const LOGIN_PATH: &str = "/login";
const PASSWORD_PATH: &str = "/account/password";
const MFA_CHALLENGE_PATH: &str = "/login/mfa";
const MFA_SETTINGS_PATH: &str = "/account/mfa";

pub async fn resolve_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let policy = &state.auth.sessions;
    let mut found = None;
    if let Some(token) = cookie_value(request.headers(), policy.cookie_name()) {
        match session::find(&state.db, policy, &token, now_ms()).await {
            Ok(session) => found = session,
            // Fail closed: the request goes on unauthenticated.
            Err(error) => tracing::error!(%error, "session lookup failed"),
        }
    }
    if *request.method() == Method::GET && is_page(request.uri().path()) {
        if let Some(target) = page_redirect(found.as_ref(), request.uri()) {
            return Redirect::to(&target).into_response();
        }
    }
    let activity = Activity::default();
    if let Some(session) = &found {
        request.extensions_mut().insert(session.clone());
        request.extensions_mut().insert(activity.clone());
    }
    let response = next.run(request).await;
    if let Some(session) = found.filter(|_| activity.by_user()) {
        if let Err(error) = session::touch(&state.db, &session, now_ms()).await {
            tracing::warn!(%error, "cannot record a session's activity");
        }
    }
    response
}

/// Where a page request must go instead, if anywhere: the sign-in page without a session,
/// the MFA step while the session owes one, and an owed password change or MFA set-up
/// before anything else.
fn page_redirect(session: Option<&Session>, uri: &Uri) -> Option<String> {
    let path = uri.path();
    // The page asked for rides along only when sign-in would follow it: a hostile or
    // over-long one would be refused there (CSRF-05), so the sign-in page goes without.
    let wanted = || {
        let target = uri.path_and_query().map_or(path, |target| target.as_str());
        if safe_next(Some(target)) == target {
            format!("?next={}", app::url::percent_encode(target))
        } else {
            String::new()
        }
    };
    match session {
        Some(session) if session.stage == SessionStage::Active => {
            if session.user.must_change_password {
                (path != PASSWORD_PATH).then(|| PASSWORD_PATH.to_owned())
            } else if session.user.mfa_enrolment_required {
                (path != MFA_SETTINGS_PATH).then(|| MFA_SETTINGS_PATH.to_owned())
            } else {
                None
            }
        }
        Some(_) if path == LOGIN_PATH || path == MFA_CHALLENGE_PATH => None,
        Some(_) => Some(format!("{MFA_CHALLENGE_PATH}{}", wanted())),
        None if path == LOGIN_PATH => None,
        None if path == MFA_CHALLENGE_PATH => Some(LOGIN_PATH.to_owned()),
        None => Some(format!("{LOGIN_PATH}{}", wanted())),
    }
}

/// Application pages, as opposed to probes, server functions and static files (which have a
/// dot in their last segment).
fn is_page(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    let reserved = path.starts_with("/api/")
        || path.starts_with("/pkg/")
        || path.starts_with("/auth/oidc/")
        || path.starts_with("/ws/")
        || path.starts_with("/console/")
        || path == "/healthz"
        || path == "/readyz";
    !reserved && !last.contains('.')
}

/// Marks a request the browser made on its own (a socket it reopens), which does not keep
/// the session from going idle.
pub(super) fn not_by_user(activity: Option<Extension<Activity>>) {
    if let Some(Extension(activity)) = activity {
        activity.not_by_user();
    }
}

pub(super) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}
