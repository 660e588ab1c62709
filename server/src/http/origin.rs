//! Cross-site request forgery defence: a state-changing request must come from one of our
//! own pages. Server functions accept form posts, which browsers send cross-site without a
//! preflight, so SameSite cookies alone are not enough.

use app::context::AppState;
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

pub async fn require_allowed_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    if is_allowed(&state, request.headers()) {
        return next.run(request).await;
    }
    // What the client sent is logged cut to the audit log's field length.
    let cut = |text: &str| -> String {
        text.chars()
            .take(app::audit::server::MAX_FIELD_CHARS)
            .collect()
    };
    let origin = request_origin(request.headers()).map(|origin| cut(&origin));
    let path = cut(request.uri().path());
    tracing::warn!(origin = ?origin, %path, "cross-origin request refused");
    (StatusCode::FORBIDDEN, "Cross-origin request refused.").into_response()
}

/// Whether the request's origin is one of ours.
pub(super) fn is_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    request_origin(headers).is_some_and(|origin| state.auth.allowed_origins.contains(&origin))
}

/// The `Origin` header, or else the origin part of `Referer`.
fn request_origin(headers: &HeaderMap) -> Option<String> {
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(origin) = text(header::ORIGIN).filter(|origin| *origin != "null") {
        return Some(origin.to_owned());
    }
    let referer = text(header::REFERER)?;
    let (scheme, rest) = referer.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{authority}"))
}
