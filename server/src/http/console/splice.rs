//! An admitted console: its seat in the registry, the cluster's end, the bytes spliced both
//! ways, the reasons it ends, and its audit records.
//!
//! Each direction is a loop that holds at most one message: it reads the next only once the
//! last was written, so a slow reader slows its writer down and no queue grows. Both legs
//! get a ping every [`PING_EVERY`], so that idle consoles are not dropped by proxies or by
//! the cluster's read timeout. A third loop watches what ends a console from outside.

use super::upstream::{self, Refused, Upstream};
use crate::http::events::is_too_big;
use app::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::{
        server::session::{self, Requester, Session},
        types::CurrentUser,
    },
    authz::{
        server::{self as authz, ProjectAccess},
        Action,
    },
    console::{
        server::{
            is_running,
            registry::{Claim, Seat},
        },
        types::{
            ConsoleKind, CLOSE_IN_USE, CLOSE_ROLE_LOST, CLOSE_SESSION_ENDED,
            CLOSE_SESSION_REPLACED, CLOSE_SHUTTING_DOWN, CLOSE_TAKEN_OVER, CLOSE_TOO_BIG,
            CLOSE_UPSTREAM_ERROR, CLOSE_VM_NOT_RUNNING,
        },
    },
    context::AppState,
    db::now_ms,
    vms::{
        names::VmRef,
        server::{
            kubevirt::VirtualMachineInstance,
            ownership::{self, Read},
        },
    },
};
use axum::{
    body::Bytes,
    extract::ws::{CloseFrame, Message, WebSocket},
};
use futures_util::{SinkExt as _, StreamExt as _};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast::error::RecvError, oneshot, watch};
use tokio_tungstenite::tungstenite::{Error as UpstreamError, Message as UpstreamMessage};

/// How often each leg is pinged.
pub const PING_EVERY: Duration = Duration::from_secs(25);

/// How long a closing frame may take to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A console that passed every check.
pub struct Admitted {
    pub session: Session,
    pub access: ProjectAccess,
    pub target: VmRef,
    pub kind: ConsoleKind,
    pub take_over: bool,
}

/// Why a console ends.
#[derive(Clone, Debug)]
enum End {
    /// The browser closed it, or its connection broke.
    BrowserLeft,
    TooBig,
    SignedOut,
    SessionReplaced,
    RoleLost,
    VmNotRunning,
    /// Held by someone else, named.
    InUse(String),
    /// Taken over by someone, named.
    TakenOver(String),
    /// The cluster's end closed; whether the VM still runs decides what the browser hears.
    UpstreamClosed,
    UpstreamFailed,
    ShuttingDown,
}

impl End {
    /// The close frame the browser gets, if it is still there.
    fn frame(&self) -> Option<(u16, String)> {
        let frame = |code, reason: &str| Some((code, reason.to_owned()));
        match self {
            End::BrowserLeft => None,
            End::TooBig => frame(CLOSE_TOO_BIG, "message too big"),
            End::SignedOut => frame(CLOSE_SESSION_ENDED, "signed out"),
            End::SessionReplaced => frame(CLOSE_SESSION_REPLACED, "session replaced"),
            End::RoleLost => frame(CLOSE_ROLE_LOST, "you may no longer use this console"),
            End::VmNotRunning => frame(CLOSE_VM_NOT_RUNNING, "the VM is not running"),
            End::InUse(name) => Some((CLOSE_IN_USE, close_reason(name))),
            End::TakenOver(name) => Some((CLOSE_TAKEN_OVER, close_reason(name))),
            End::UpstreamClosed | End::UpstreamFailed => {
                frame(CLOSE_UPSTREAM_ERROR, "the cluster closed the console")
            }
            End::ShuttingDown => frame(CLOSE_SHUTTING_DOWN, "server shutting down"),
        }
    }

    /// The reason in the audit log.
    fn label(&self) -> &'static str {
        match self {
            End::BrowserLeft => "closed",
            End::TooBig => "message_too_big",
            End::SignedOut => "signed_out",
            End::SessionReplaced => "session_replaced",
            End::RoleLost => "role_lost",
            End::VmNotRunning => "vm_not_running",
            End::InUse(_) => "in_use",
            End::TakenOver(_) => "taken_over",
            End::UpstreamClosed | End::UpstreamFailed => "cluster_error",
            End::ShuttingDown => "shutting_down",
        }
    }
}

/// A close reason may hold 123 bytes.
fn close_reason(text: &str) -> String {
    let mut cut = text.len().min(123);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text[..cut].to_owned()
}

/// How a viewer is named to the others: their email, which is unique where display names
/// need not be.
fn viewer_name(user: &CurrentUser) -> &str {
    &user.email
}

pub async fn serve(state: AppState, admitted: Admitted, requester: Requester, socket: WebSocket) {
    let mut socket = socket;
    let key = (
        admitted.target.namespace.as_str().to_owned(),
        admitted.target.name.as_str().to_owned(),
        admitted.kind,
    );
    let name = viewer_name(&admitted.session.user);
    let (seat, displaced) = match state.consoles.claim(key, name, admitted.take_over) {
        Claim::Granted { seat, displaced } => (seat, displaced),
        Claim::InUse(holder) => return refuse(&mut socket, &End::InUse(holder)).await,
    };
    if let Err(end) = open_check(&state, &admitted).await {
        return refuse(&mut socket, &end).await;
    }
    let upstream = match upstream::dial(
        &state.cluster.client,
        &admitted.target,
        admitted.kind,
        admitted.take_over,
    )
    .await
    {
        Ok(upstream) => upstream,
        Err(refused) => {
            let end = match refused {
                Refused::NotRunning => End::VmNotRunning,
                Refused::InUse => End::InUse("another client of the cluster".to_owned()),
                Refused::Failed(cause) => {
                    tracing::warn!(%cause, vm = %admitted.target, "the cluster refused a console");
                    End::UpstreamFailed
                }
            };
            return refuse(&mut socket, &end).await;
        }
    };
    let log = Audit {
        state: &state,
        admitted: &admitted,
        requester: &requester,
    };
    log.record("console_opened", None, None).await;
    if let Some(displaced) = &displaced {
        log.record("console_taken_over", Some(displaced), None)
            .await;
    }
    let opened = Instant::now();
    let (end, bytes_to_vm, bytes_from_vm) = splice(&state, &admitted, seat, socket, upstream).await;
    let changes = serde_json::json!({
        "duration_ms": u64::try_from(opened.elapsed().as_millis()).unwrap_or(u64::MAX),
        "bytes_to_vm": bytes_to_vm,
        "bytes_from_vm": bytes_from_vm,
        "end": end.label(),
    });
    log.record("console_closed", Some(end.label()), Some(&changes))
        .await;
}

/// What the live store says before the cluster is asked: the VM is still Wukong's and runs.
async fn open_check(state: &AppState, admitted: &Admitted) -> Result<(), End> {
    ownership::find(state, &admitted.access, &admitted.target, Read::Store)
        .await
        .map_err(|_| End::VmNotRunning)?;
    if is_running(&state.live, &admitted.target) {
        Ok(())
    } else {
        Err(End::VmNotRunning)
    }
}

/// Closes a console that never reached the cluster, or was refused there.
async fn refuse(socket: &mut WebSocket, end: &End) {
    if let Some((code, reason)) = end.frame() {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(frame)).await;
    }
}

struct Audit<'a> {
    state: &'a AppState,
    admitted: &'a Admitted,
    requester: &'a Requester,
}

impl Audit<'_> {
    /// Records `event` on the VM; a failure to record is logged and the console goes on.
    async fn record(&self, event: &str, reason: Option<&str>, changes: Option<&serde_json::Value>) {
        let admitted = self.admitted;
        let detail = reason.unwrap_or(admitted.kind.as_str());
        let mut entry = AuditEvent::by(
            &admitted.session.user,
            event,
            Outcome::Success,
            Severity::Info,
            Some(detail),
        )
        .in_project(
            &admitted.access.project().id,
            "vm",
            admitted.target.name.as_str(),
        );
        if let Some(changes) = changes {
            entry = entry.with_changes(changes);
        }
        let written = async {
            let mut conn = self.state.db.pool().acquire().await?;
            record(&mut conn, self.requester, &entry, now_ms()).await
        };
        if let Err(error) = written.await {
            tracing::warn!(%error, event, "cannot record a console's audit event");
        }
    }
}

/// The first end wins; every loop stops when there is one.
struct Stop(watch::Sender<Option<End>>);

impl Stop {
    fn end(&self, end: End) {
        self.0.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(end);
            }
            first
        });
    }

    /// Resolves once the console has an end.
    async fn ended(stopped: &mut watch::Receiver<Option<End>>) {
        let _ = stopped.wait_for(Option::is_some).await;
    }
}

/// Runs the console until it ends; why, and the bytes sent to and from the VM.
async fn splice(
    state: &AppState,
    admitted: &Admitted,
    mut seat: Seat,
    socket: WebSocket,
    upstream: Upstream,
) -> (End, u64, u64) {
    let (browser_tx, browser_rx) = socket.split();
    let (upstream_tx, upstream_rx) = upstream.split();
    let (sender, _) = watch::channel(None);
    let stop = Stop(sender);
    let ((browser_rx, mut upstream_tx, to_vm), (_, mut browser_tx, from_vm), ()) = tokio::join!(
        pump(browser_rx, upstream_tx, TO_VM, &stop),
        pump(upstream_rx, browser_tx, FROM_VM, &stop),
        watch_for_end(state, admitted, &mut seat.taken_over, &stop),
    );
    let mut end = stop.0.borrow().clone().unwrap_or(End::BrowserLeft);
    // The taker's session closes this one's upstream; when that close is read before the
    // take-over (both are ready at once), the take-over is still why this console ended.
    if let Ok(taker) = seat.taken_over.try_recv() {
        end = End::TakenOver(taker);
    }
    if matches!(end, End::UpstreamClosed) && !runs_in_cluster(state, &admitted.target).await {
        end = End::VmNotRunning;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, upstream_tx.close()).await;
    if let Some((code, reason)) = end.frame() {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        if let Ok(mut socket) = browser_tx.reunite(browser_rx) {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(frame)).await;
            // Reads on until the browser answers, so that it sees a clean close.
            let answer = async { while let Some(Ok(_)) = socket.recv().await {} };
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, answer).await;
        }
    } else {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, browser_tx.close()).await;
    }
    (end, to_vm, from_vm)
}

/// An interval whose first tick is one period from now.
fn pings() -> tokio::time::Interval {
    let mut interval =
        tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// What a leg's next message means for the other.
enum Next {
    Data(Bytes),
    Skip,
    End(End),
}

/// One direction: how it reads its source's messages and writes its sink's.
struct Direction<In, Out> {
    read: fn(In) -> Next,
    binary: fn(Bytes) -> Out,
    ping: fn() -> Out,
    /// Why the console ends when the writing leg fails.
    write_failed: End,
}

const TO_VM: Direction<Option<Result<Message, axum::Error>>, UpstreamMessage> = Direction {
    read: |incoming| match incoming {
        Some(Ok(Message::Binary(data))) => Next::Data(data),
        Some(Ok(Message::Text(text))) => Next::Data(Bytes::copy_from_slice(text.as_bytes())),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Next::Skip,
        Some(Ok(Message::Close(_))) | None => Next::End(End::BrowserLeft),
        Some(Err(error)) if is_too_big(&error) => Next::End(End::TooBig),
        Some(Err(_)) => Next::End(End::BrowserLeft),
    },
    binary: UpstreamMessage::Binary,
    ping: || UpstreamMessage::Ping(Bytes::new()),
    write_failed: End::UpstreamFailed,
};

const FROM_VM: Direction<Option<Result<UpstreamMessage, UpstreamError>>, Message> = Direction {
    read: |incoming| match incoming {
        Some(Ok(UpstreamMessage::Binary(data))) => Next::Data(data),
        Some(Ok(UpstreamMessage::Text(text))) => {
            Next::Data(Bytes::copy_from_slice(text.as_bytes()))
        }
        Some(Ok(UpstreamMessage::Close(_))) | None => Next::End(End::UpstreamClosed),
        Some(Ok(_)) => Next::Skip,
        Some(Err(error)) => {
            tracing::debug!(%error, "a console's cluster end failed");
            Next::End(End::UpstreamFailed)
        }
    },
    binary: Message::Binary,
    ping: || Message::Ping(Bytes::new()),
    write_failed: End::BrowserLeft,
};

/// Passes messages from `source` to `sink` as `direction` says, pinging the sink's peer,
/// until the console ends; the halves it held and the bytes it passed.
async fn pump<Source, Sink, Out>(
    mut source: Source,
    mut sink: Sink,
    direction: Direction<Option<Source::Item>, Out>,
    stop: &Stop,
) -> (Source, Sink, u64)
where
    Source: futures_util::Stream + Unpin,
    Sink: futures_util::Sink<Out> + Unpin,
{
    let mut stopped = stop.0.subscribe();
    let mut ping = pings();
    let mut bytes = 0u64;
    loop {
        let outgoing = tokio::select! {
            () = Stop::ended(&mut stopped) => break,
            incoming = source.next() => match (direction.read)(incoming) {
                Next::Data(data) => {
                    bytes += data.len() as u64;
                    (direction.binary)(data)
                }
                Next::Skip => continue,
                Next::End(end) => {
                    stop.end(end);
                    break;
                }
            },
            _ = ping.tick() => (direction.ping)(),
        };
        if !deliver(&mut sink, outgoing, &mut stopped).await {
            stop.end(direction.write_failed.clone());
            break;
        }
    }
    (source, sink, bytes)
}

/// Sends `message`, unless the console ends first; whether it went.
async fn deliver<S, M>(sink: &mut S, message: M, stopped: &mut watch::Receiver<Option<End>>) -> bool
where
    S: futures_util::Sink<M> + Unpin,
{
    tokio::select! {
        () = Stop::ended(stopped) => false,
        sent = sink.send(message) => sent.is_ok(),
    }
}

/// Watches what ends a console from outside until it ends: a take-over, the session
/// ending, the user's role changing (re-read on their access-change events and at the
/// live sockets' periodic check, for changes made on another replica), the VM stopping,
/// the server shutting down.
async fn watch_for_end(
    state: &AppState,
    admitted: &Admitted,
    taken_over: &mut oneshot::Receiver<String>,
    stop: &Stop,
) {
    let mut stopped = stop.0.subscribe();
    let mut events = state.live.subscribe();
    let mut ended = state
        .auth
        .revocations
        .subscribe(&state.db, &state.auth.sessions);
    let every = state.sockets.policy.check_every;
    let mut check = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    // Only a take-over drops the sender, and it sends first.
    let taken_over = async {
        match taken_over.await {
            Ok(taker) => taker,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::pin!(taken_over);
    let session = &admitted.session;
    let namespace = admitted.target.namespace.as_str();
    let end = loop {
        tokio::select! {
            biased;
            () = Stop::ended(&mut stopped) => return,
            taker = &mut taken_over => break End::TakenOver(taker),
            revoked = ended.recv() => match revoked {
                Ok(batch) => match batch.iter().find(|ended| ended.id == session.id) {
                    Some(ended) if ended.replaced => break End::SessionReplaced,
                    Some(_) => break End::SignedOut,
                    None => {}
                },
                Err(_) => {
                    if let Err(end) = signed_in(state, session).await {
                        break end;
                    }
                }
            },
            event = events.recv() => match event {
                Ok(event) if event.for_user.as_deref() == Some(session.user.id.as_str()) => {
                    if let Err(end) = may_still(state, admitted).await {
                        break end;
                    }
                }
                Ok(event) if event.vm.as_ref().is_some_and(|vm| vm.namespace == namespace) => {
                    if !is_running(&state.live, &admitted.target) {
                        break End::VmNotRunning;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    if let Err(end) = may_still(state, admitted).await {
                        break end;
                    }
                    if !is_running(&state.live, &admitted.target) {
                        break End::VmNotRunning;
                    }
                }
                Err(RecvError::Closed) => break End::ShuttingDown,
            },
            _ = check.tick() => {
                if let Err(end) = may_still(state, admitted).await {
                    break end;
                }
            }
        }
    };
    stop.end(end);
}

/// Whether the session still stands; a database error counts as no.
async fn signed_in(state: &AppState, session: &Session) -> Result<(), End> {
    match session::is_live(&state.db, &state.auth.sessions, &session.id, now_ms()).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(End::SignedOut),
        Err(error) => {
            tracing::warn!(%error, "session check of a console failed; closing it");
            Err(End::SignedOut)
        }
    }
}

/// Whether the user may still use consoles in the project; an error counts as no.
async fn may_still(state: &AppState, admitted: &Admitted) -> Result<(), End> {
    authz::project_by_id(
        &state.db,
        &admitted.session.user,
        &admitted.access.project().id,
        Action::UseConsole,
    )
    .await
    .map(|_| ())
    .map_err(|_| End::RoleLost)
}

/// Whether the cluster says the VM's instance runs, asked when its console closed: a VM
/// that stopped closes the console as the watch that tells the live store may still be on
/// its way. A list by name, which Wukong's role allows where a get is not needed elsewhere.
async fn runs_in_cluster(state: &AppState, target: &VmRef) -> bool {
    let vmis: kube::Api<VirtualMachineInstance> =
        kube::Api::namespaced(state.cluster.client.clone(), target.namespace.as_str());
    let by_name =
        kube::api::ListParams::default().fields(&format!("metadata.name={}", target.name));
    let read = state
        .cluster
        .call(&target.what(), vmis.list(&by_name))
        .await;
    read.is_ok_and(|list| {
        list.items.iter().any(|vmi| {
            vmi.status
                .as_ref()
                .and_then(|status| status.phase.as_deref())
                == Some("Running")
        })
    })
}
