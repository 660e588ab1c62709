//! `/ws/events`: one WebSocket per browser tab, carrying live changes as JSON text messages.
//!
//! The upgrade needs an active session and an allowed `Origin` (browsers send cross-site
//! WebSocket handshakes with cookies and no preflight). Each socket reads from the hub's
//! bounded queue; a socket that falls behind is told to resync instead of holding memory.
//! The session is checked again periodically, so a socket ends with the session that opened it.

use super::{origin, session::cookie_value};
use app::{
    auth::server::session::{self, Session, SessionStage},
    authz::{allows, Permission},
    context::AppState,
    db::now_ms,
    realtime::{server::Published, types::LiveEvent},
};
use axum::{
    extract::{
        ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade},
        State,
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How often an open socket re-checks its session (and pings the browser).
const SESSION_CHECK: Duration = Duration::from_secs(30);

pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Option<Extension<Session>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !origin::is_allowed(&state, &headers) {
        tracing::warn!("cross-origin WebSocket refused");
        return (StatusCode::FORBIDDEN, "Cross-origin request refused.").into_response();
    }
    let usable = |session: &Session| {
        session.stage == SessionStage::Active
            && !session.user.must_change_password
            && !session.user.mfa_enrolment_required
    };
    let (Some(Extension(session)), Some(token)) = (
        session,
        cookie_value(&headers, state.auth.sessions.cookie_name()),
    ) else {
        return (StatusCode::UNAUTHORIZED, "Please sign in to continue.").into_response();
    };
    if !usable(&session) {
        return (StatusCode::UNAUTHORIZED, "Please sign in to continue.").into_response();
    }
    upgrade.on_upgrade(move |socket| serve(state, session, token, socket))
}

fn visible(session: &Session, event: &Published) -> bool {
    match &event.namespace {
        None => true,
        Some(namespace) => allows(&session.user, Permission::ViewVms, Some(namespace)),
    }
}

async fn still_signed_in(state: &AppState, session: &Session, token: &str) -> bool {
    match session::find(&state.db, &state.auth.sessions, token, now_ms()).await {
        Ok(found) => found.is_some_and(|found| found.id == session.id),
        Err(error) => {
            // A database hiccup should not drop every socket; the next check decides.
            tracing::warn!(%error, "session check of a live socket failed");
            true
        }
    }
}

fn resync() -> Message {
    let json = serde_json::to_string(&LiveEvent::Resync).unwrap_or_default();
    Message::Text(json.into())
}

async fn serve(state: AppState, session: Session, token: String, mut socket: WebSocket) {
    let mut events = state.live.subscribe();
    let mut check = tokio::time::interval(SESSION_CHECK);
    check.tick().await;
    loop {
        tokio::select! {
            event = events.recv() => {
                let message = match event {
                    Ok(event) if visible(&session, &event) => Message::Text(event.json.clone().into()),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "live socket fell behind; sending resync");
                        resync()
                    }
                    Err(RecvError::Closed) => break,
                };
                if socket.send(message).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = check.tick() => {
                if !still_signed_in(&state, &session, &token).await {
                    let frame = CloseFrame { code: close_code::POLICY, reason: "signed out".into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
}
