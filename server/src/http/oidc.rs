//! The browser legs of OIDC sign-in: start (redirect to the provider) and callback. They
//! are plain routes rather than server functions because both answer with redirects.

use super::session::cookie_value;
use app::{
    auth::server::{
        oidc::{self, CallbackParams, Completion, OidcError},
        session::{Session, SessionStage},
    },
    auth::types::safe_next,
    context::AppState,
    url::percent_encode,
};
use axum::{
    extract::{ConnectInfo, Path, Query, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Redirect, Response},
    Extension,
};
use std::net::SocketAddr;

/// Binds the authorization request to the browser that started it (login-CSRF defence).
const STATE_COOKIE: &str = "wukong_oidc_state";
const SECURE_STATE_COOKIE: &str = "__Host-wukong_oidc_state";

fn state_cookie_name(state: &AppState) -> &'static str {
    if state.auth.sessions.secure_cookies {
        SECURE_STATE_COOKIE
    } else {
        STATE_COOKIE
    }
}

fn state_cookie(state: &AppState, value: &str, max_age: u32) -> String {
    let secure = if state.auth.sessions.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={value}; HttpOnly{secure}; SameSite=Lax; Path=/; Max-Age={max_age}",
        state_cookie_name(state)
    )
}

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

/// `GET /auth/oidc/{provider}/start?next=…`: off to the provider's sign-in page.
pub async fn start(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    Query(params): Query<StartParams>,
) -> Response {
    let next = safe_next(params.next.as_deref());
    match oidc::begin(&state.db, &state.auth, &provider_id, None, next).await {
        Ok((url, request_state)) => {
            redirect_with_cookies(&url, &[state_cookie(&state, &request_state, 600)])
        }
        Err(error) => failed("/login", &error),
    }
}

/// `GET /auth/oidc/{provider}/link`: a signed-in user links an identity to their account.
pub async fn link(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    session: Option<Extension<Session>>,
) -> Response {
    let Some(Extension(session)) = session.filter(|s| s.stage == SessionStage::Active) else {
        return Redirect::to("/login?next=%2Faccount").into_response();
    };
    match oidc::begin(
        &state.db,
        &state.auth,
        &provider_id,
        Some(&session.user.id),
        "/account",
    )
    .await
    {
        Ok((url, request_state)) => {
            redirect_with_cookies(&url, &[state_cookie(&state, &request_state, 600)])
        }
        Err(error) => failed("/account", &error),
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
    let cookie_state = cookie_value(&headers, state_cookie_name(&state));
    let clear_state = state_cookie(&state, "", 0);
    let linking_page = if session.is_some() {
        "/account"
    } else {
        "/login"
    };
    let previous = session
        .as_ref()
        .map(|Extension(session)| session.id.as_str());
    let outcome = oidc::complete(
        &state.db,
        &state.auth,
        &state.auth.requester(
            address.map(|Extension(ConnectInfo(address))| address),
            &headers,
        ),
        &params,
        cookie_state.as_deref(),
        previous,
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
            let session_cookie = state.auth.sessions.cookie(&token);
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
