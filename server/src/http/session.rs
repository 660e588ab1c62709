//! Resolves the session cookie of each request into a `Session` in its extensions.

use app::{auth::server::session, context::AppState, db::now_ms};
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap},
    middleware::Next,
    response::Response,
};

pub async fn resolve_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let policy = &state.auth.sessions;
    if let Some(token) = cookie_value(request.headers(), policy.cookie_name()) {
        match session::find(&state.db, policy, &token, now_ms()).await {
            Ok(Some(session)) => {
                request.extensions_mut().insert(session);
            }
            Ok(None) => {}
            // Fail closed: the request goes on unauthenticated.
            Err(error) => tracing::error!(%error, "session lookup failed"),
        }
    }
    next.run(request).await
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}
