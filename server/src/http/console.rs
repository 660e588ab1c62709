//! `/console/{kind}`: a VM's VNC screen or serial console, spliced between the browser and
//! KubeVirt. Every check is made before anything is asked of the cluster: an allowed
//! `Origin`, a ticket (offered as a subprotocol, used once), the ticket's kind, the
//! request's own session being the ticket's, and the user's right to use consoles in the
//! project, read now.

mod splice;
pub mod upstream;

use super::{origin, session};
use app::{
    auth::server::session::{Activity, Session},
    authz::{server as authz, Action},
    console::{
        server::tickets,
        types::{ConsoleKind, CONSOLE_PROTOCOL, MAX_BROWSER_MESSAGE, TICKET_PROTOCOL_PREFIX},
    },
    context::AppState,
    db::now_ms,
    vms::names::VmRef,
};
use axum::{
    extract::{ConnectInfo, Path, State, WebSocketUpgrade},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use splice::Admitted;
use std::net::SocketAddr;

/// Bytes read from the browser at a time: keys and pointer moves are a few bytes each.
const BROWSER_READ_BUFFER: usize = 4 * 1024;

/// Bytes written to the browser before a send flushes them.
const BROWSER_WRITE_BUFFER: usize = 64 * 1024;

/// The most bytes the browser's leg buffers while its network is slow: a VNC screen
/// update of 1.2 MB is common, and one must fit whole.
const MAX_BROWSER_WRITE_BUFFER: usize = 4 * 1024 * 1024;

type Refusal = (StatusCode, &'static str);

const SIGN_IN: Refusal = (StatusCode::UNAUTHORIZED, "Please sign in to continue.");
const NOT_ALLOWED: Refusal = (StatusCode::FORBIDDEN, "You may not use this console.");

pub async fn console(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    address: Option<Extension<ConnectInfo<SocketAddr>>>,
    session: Option<Extension<Session>>,
    activity: Option<Extension<Activity>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Pages reopen consoles on their own: not something the user did.
    session::not_by_user(activity);
    let session = session.map(|Extension(session)| session);
    let admitted = match admit(&state, &kind, &headers, session).await {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.into_response(),
    };
    let requester = state.auth.requester(
        address.map(|Extension(ConnectInfo(address))| address),
        &headers,
    );
    upgrade
        .protocols([CONSOLE_PROTOCOL])
        .max_message_size(MAX_BROWSER_MESSAGE)
        .max_frame_size(MAX_BROWSER_MESSAGE)
        .read_buffer_size(BROWSER_READ_BUFFER)
        .write_buffer_size(BROWSER_WRITE_BUFFER)
        .max_write_buffer_size(MAX_BROWSER_WRITE_BUFFER)
        .on_upgrade(move |socket| splice::serve(state, admitted, requester, socket))
}

/// The checks of the module's header, in that order.
async fn admit(
    state: &AppState,
    kind: &str,
    headers: &HeaderMap,
    session: Option<Session>,
) -> Result<Admitted, Refusal> {
    if !origin::is_allowed(state, headers) {
        tracing::warn!("cross-origin console refused");
        return Err((StatusCode::FORBIDDEN, "Cross-origin request refused."));
    }
    let ticket = offered_ticket(headers).ok_or(SIGN_IN)?;
    let redeemed = match tickets::redeem(&state.db, &ticket, now_ms()).await {
        Ok(Some(redeemed)) => redeemed,
        Ok(None) => {
            tracing::warn!("console refused: ticket unknown, used or expired");
            return Err(SIGN_IN);
        }
        Err(_) => return Err((StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.")),
    };
    if ConsoleKind::parse(kind) != Some(redeemed.kind) {
        tracing::warn!("console refused: the ticket is for another kind");
        return Err(NOT_ALLOWED);
    }
    let session = session
        .filter(|session| {
            session.id == redeemed.session_id
                && session.user.id == redeemed.user_id
                && session.may_use_app()
        })
        .ok_or_else(|| {
            tracing::warn!("console refused: the ticket is another session's");
            SIGN_IN
        })?;
    let access = authz::project_by_id(
        &state.db,
        &session.user,
        &redeemed.project_id,
        Action::UseConsole,
    )
    .await
    .map_err(|error| {
        tracing::warn!(%error, user = %session.user.id, "console refused by the role matrix");
        NOT_ALLOWED
    })?;
    let target = VmRef::from_request(&access.project().namespace, &redeemed.vm_name)
        .map_err(|_| NOT_ALLOWED)?;
    Ok(Admitted {
        session,
        access,
        target,
        kind: redeemed.kind,
        take_over: redeemed.take_over,
    })
}

/// The ticket among the subprotocols the browser offered.
fn offered_ticket(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|protocol| protocol.trim().strip_prefix(TICKET_PROTOCOL_PREFIX))
        .filter(|ticket| !ticket.is_empty())
        .map(str::to_owned)
}
