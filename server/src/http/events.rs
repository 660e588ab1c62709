//! `/ws/events`: one WebSocket per browser tab, carrying live changes as JSON text messages.
//!
//! The upgrade needs an active session, an allowed `Origin` (browsers send cross-site
//! WebSocket handshakes with cookies and no preflight) and a free slot among the user's
//! sockets. Each socket reads from the hub's bounded queue; a socket that falls behind is told
//! to resync instead of holding memory, and one whose client stops reading is dropped after
//! a send timeout. A socket closes within a second of its session ending, by anyone or by
//! the clock (the revocation poller); its own traffic never counts as activity, so pushes
//! never keep an idle session alive. The projects a user may see are read once for all
//! their sockets, again when their access changes here and at the periodic check (it may
//! have changed on another replica). Anything a socket cannot check closes it.

use super::{
    origin,
    session::{cookie_value, not_by_user},
};
use app::{
    auth::server::session::{self, Activity, Session},
    authz::{server::projects, Action},
    context::AppState,
    db::now_ms,
    realtime::{
        server::Published,
        sockets::{SocketSlot, VisibleNamespaces},
        types::{LiveEvent, CLOSE_SESSION_ENDED, CLOSE_SESSION_REPLACED},
    },
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
use std::{sync::Arc, time::Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::tungstenite;

/// Outgoing bytes buffered per socket before a send waits for the client.
const WRITE_BUFFER: usize = 16 * 1024;

/// Bytes read from the client at a time, held by every socket for its whole life: the
/// browser sends only pongs and the closing frame, and a larger message is still read.
const READ_BUFFER: usize = 1024;

pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Option<Extension<Session>>,
    activity: Option<Extension<Activity>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Browsers open and reopen the socket on their own: not something the user did.
    not_by_user(activity);
    if !origin::is_allowed(&state, &headers) {
        tracing::warn!("cross-origin WebSocket refused");
        return (StatusCode::FORBIDDEN, "Cross-origin request refused.").into_response();
    }
    let (Some(Extension(session)), Some(_)) = (
        session,
        cookie_value(&headers, state.auth.sessions.cookie_name()),
    ) else {
        return (StatusCode::UNAUTHORIZED, "Please sign in to continue.").into_response();
    };
    if !session.may_use_app() {
        return (StatusCode::UNAUTHORIZED, "Please sign in to continue.").into_response();
    }
    let Some(slot) = state.sockets.take(&session.user.id) else {
        tracing::warn!(user = %session.user.id, "too many live sockets; one refused");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many open live-update connections for this account. Close some tabs.",
        )
            .into_response();
    };
    let limit = state.sockets.policy.max_incoming_bytes;
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(4 * WRITE_BUFFER)
        .on_upgrade(move |socket| serve(state, session, slot, socket))
}

/// The namespaces and project ids whose VMs' events a socket passes on: those of the
/// projects the user may see, as read at some time.
struct Visible(Arc<VisibleNamespaces>);

impl Visible {
    /// What the user may see as read at `fresh_since` or later, by this socket or another
    /// of the user's.
    async fn load(
        state: &AppState,
        session: &Session,
        slot: &SocketSlot,
        fresh_since: Instant,
    ) -> Result<Visible, End> {
        let read = async {
            let found = projects(&state.db, &session.user, Action::View).await?;
            Ok::<_, app::AppError>(
                found
                    .iter()
                    .map(|access| {
                        let project = access.project();
                        (project.namespace.clone(), project.id.clone())
                    })
                    .collect(),
            )
        };
        match slot.visible(fresh_since, read).await {
            Ok(shared) => Ok(Visible(shared)),
            Err(error) => {
                tracing::warn!(%error, "the projects of a live socket could not be read; closing it");
                Err(End::Close(close(close_code::ERROR, "access check failed")))
            }
        }
    }

    /// Whether the socket of `session` passes `event` on.
    fn passes(&self, session: &Session, event: &Published) -> bool {
        if let Some(user) = &event.for_user {
            return *user == session.user.id;
        }
        event.vm.as_ref().is_none_or(|vm| {
            self.0
                .by_namespace
                .get(&vm.namespace)
                .is_some_and(|project_id| *project_id == vm.project_id)
        })
    }
}

fn resync() -> Message {
    let json = serde_json::to_string(&LiveEvent::Resync).unwrap_or_default();
    Message::Text(json.into())
}

fn access_changed() -> Message {
    let json = serde_json::to_string(&LiveEvent::AccessChanged).unwrap_or_default();
    Message::Text(json.into())
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Why a socket ends.
enum End {
    /// The client left, or the connection broke.
    Gone,
    /// Closed by Wukong with this frame.
    Close(Message),
}

/// Whether the session still stands; a database error counts as no (fail closed).
async fn still_signed_in(state: &AppState, session: &Session) -> Result<(), End> {
    match session::is_live(&state.db, &state.auth.sessions, &session.id, now_ms()).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(End::Close(close(CLOSE_SESSION_ENDED, "signed out"))),
        Err(error) => {
            tracing::warn!(%error, "session check of a live socket failed; closing it");
            Err(End::Close(close(close_code::ERROR, "session check failed")))
        }
    }
}

/// A message larger than the policy allows ends the socket with 1009.
fn too_big(error: axum::Error) -> End {
    if is_too_big(&error) {
        End::Close(close(close_code::SIZE, "message too big"))
    } else {
        End::Gone
    }
}

/// Whether a socket's read failed on a message over its size limit, rather than on a broken
/// connection.
pub(super) fn is_too_big(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|cause| cause.downcast_ref::<tungstenite::Error>())
        .is_some_and(|cause| matches!(cause, tungstenite::Error::Capacity(_)))
}

async fn serve(state: AppState, session: Session, slot: SocketSlot, mut socket: WebSocket) {
    let policy = state.sockets.policy.clone();
    let mut events = state.live.subscribe();
    let opened = Instant::now();
    let mut visible = match Visible::load(&state, &session, &slot, opened).await {
        Ok(visible) => visible,
        Err(end) => {
            if let End::Close(frame) = end {
                send(&mut socket, frame, policy.send_timeout).await;
            }
            return;
        }
    };
    // Read after subscribing, so that a change in between reaches the socket as an event.
    let failures = state.live.watch_failures();
    if !failures.is_empty() {
        let json = serde_json::to_string(&LiveEvent::ClusterWatch { failures }).unwrap_or_default();
        if !send(&mut socket, Message::Text(json.into()), policy.send_timeout).await {
            return;
        }
    }
    let mut ended = state
        .auth
        .revocations
        .subscribe(&state.db, &state.auth.sessions);
    let first_check = state.sockets.first_check(opened);
    let mut check = tokio::time::interval_at(first_check.into(), policy.check_every);
    let end = loop {
        let outgoing = tokio::select! {
            event = events.recv() => match event {
                Ok(event) if !visible.passes(&session, &event) => continue,
                Ok(event) if event.for_user.is_some() => {
                    match Visible::load(&state, &session, &slot, event.at).await {
                        Ok(now) => {
                            visible = now;
                            Message::Text(event.json.clone())
                        }
                        Err(end) => break end,
                    }
                }
                Ok(event) => Message::Text(event.json.clone()),
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "live socket fell behind; sending resync");
                    resync()
                }
                Err(RecvError::Closed) => break End::Close(close(close_code::AWAY, "shutting down")),
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None => break End::Gone,
                Some(Err(error)) => break too_big(error),
                Some(Ok(_)) => continue,
            },
            revoked = ended.recv() => match revoked {
                Ok(batch) => match batch.iter().find(|ended| ended.id == session.id) {
                    Some(ended) if ended.replaced => {
                        break End::Close(close(CLOSE_SESSION_REPLACED, "session replaced"));
                    }
                    Some(_) => break End::Close(close(CLOSE_SESSION_ENDED, "signed out")),
                    None => continue,
                },
                // Endings were missed: ask about this one.
                Err(_) => match still_signed_in(&state, &session).await {
                    Ok(()) => continue,
                    Err(end) => break end,
                },
            },
            _ = check.tick() => {
                let fresh_since = Instant::now().checked_sub(policy.check_every).unwrap_or(opened);
                match Visible::load(&state, &session, &slot, fresh_since).await {
                    // Access changed elsewhere: the page fetches what it may see now.
                    Ok(now) if !Arc::ptr_eq(&now.0.by_namespace, &visible.0.by_namespace) => {
                        visible = now;
                        access_changed()
                    }
                    Ok(now) => {
                        visible = now;
                        Message::Ping(Vec::new().into())
                    }
                    Err(end) => break end,
                }
            },
        };
        if !send(&mut socket, outgoing, policy.send_timeout).await {
            break End::Gone;
        }
    };
    if let End::Close(frame) = end {
        send(&mut socket, frame, policy.send_timeout).await;
    }
}

/// Sends `message`; false when the connection broke or the client stopped reading.
async fn send(socket: &mut WebSocket, message: Message, timeout: std::time::Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, socket.send(message)).await,
        Ok(Ok(()))
    )
}
