//! The browser legs of OIDC sign-in: start (redirect to the provider) and callback. They
//! are plain routes rather than server functions because both answer with redirects.
//! Linking starts from a server function (`auth/oidc/link`), a POST that re-authenticates.

use super::session::cookie_value;
use app::{
    auth::server::{
        oidc::{self, limits::MAX_NEXT_BYTES, CallbackParams, Completion, OidcError},
        session::{Session, SessionStage},
    },
    auth::types::safe_next,
    context::AppState,
    url::percent_encode,
    AppError,
};
use axum::{
    extract::{ConnectInfo, Path, Query, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Redirect, Response},
    Extension,
};
use std::net::SocketAddr;

fn redirect_with_cookies(target: &str, cookies: &[String]) -> Response {
    let mut response = Redirect::to(target).into_response();
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Logs a failed flow with its cause and sends the browser to `page` with the error code.
fn failed(page: &str, error: &OidcError) -> Response {
    match error {
        OidcError::App(cause) => tracing::error!(error = %cause, "OIDC flow failed"),
        other => tracing::warn!(error = %other, "OIDC flow refused"),
    }
    Redirect::to(&format!("{page}?error={}", error.code())).into_response()
}

#[derive(serde::Deserialize)]
pub struct StartParams {
    next: Option<String>,
}

/// `GET /auth/oidc/{provider}/start?next=…`: off to the provider's sign-in page. A `next`
/// longer than any page of Wukong is refused before anything else is done.
pub async fn start(
    State(state): State<AppState>,
    address: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Path(provider_id): Path<String>,
    Query(params): Query<StartParams>,
) -> Response {
    if params
        .next
        .as_ref()
        .is_some_and(|next| next.len() > MAX_NEXT_BYTES)
    {
        let error = AppError::too_long("next", "The return address", MAX_NEXT_BYTES);
        return (error.status(), error.to_string()).into_response();
    }
    let requester = state.auth.requester(
        address.map(|Extension(ConnectInfo(address))| address),
        &headers,
    );
    let next = safe_next(params.next.as_deref());
    match oidc::begin(&state.db, &state.auth, &requester, &provider_id, None, next).await {
        Ok((url, request_state)) => redirect_with_cookies(
            &url,
            &[oidc::state_cookie(&state.auth.sessions, &request_state)],
        ),
        Err(error) => failed("/login", &error),
    }
}

/// `GET /auth/oidc/callback`: the provider sends the browser back here.
pub async fn callback(
    State(state): State<AppState>,
    address: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
    session: Option<Extension<Session>>,
) -> Response {
    let policy = &state.auth.sessions;
    let cookie_state = cookie_value(&headers, oidc::state_cookie_name(policy));
    let clear_state = oidc::state_cookie(policy, "");
    let session = session.map(|Extension(session)| session);
    let linking_page = if session.is_some() {
        "/account"
    } else {
        "/login"
    };
    let outcome = oidc::complete(
        &state.db,
        &state.auth,
        &state.auth.requester(
            address.map(|Extension(ConnectInfo(address))| address),
            &headers,
        ),
        &params,
        cookie_state.as_deref(),
        session.as_ref(),
    )
    .await;
    match outcome {
        Ok(Completion::Linked) => redirect_with_cookies("/account?linked=1", &[clear_state]),
        Ok(Completion::SignedIn {
            token,
            stage,
            landing,
        }) => {
            let target = match stage {
                SessionStage::Active => landing,
                SessionStage::MfaPending => {
                    format!("/login/mfa?next={}", percent_encode(&landing))
                }
            };
            let session_cookie = policy.cookie(&token);
            redirect_with_cookies(&target, &[clear_state, session_cookie])
        }
        Err(error) => {
            let mut response = failed(linking_page, &error);
            if let Ok(value) = HeaderValue::from_str(&clear_state) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
    }
}
