//! The `vnc` and `console` streams of running VMIs, as virt-api serves them: a WebSocket
//! (subprotocol `plain.kubevirt.io`) whose binary messages carry a raw byte stream, with one
//! session of each kind per VMI, where a newer connection ends the older one (virt-handler's
//! rule), and every session ends when its VMI stops running.
//!
//! The built-in cluster finds VMIs in its store ([`connect`]); the stand-in on a real API
//! server finds them there (`standin::consoles`); both answer through [`admit`] and [`open`].

use super::{
    api::{bad_request, lock, Failure},
    lifecycle, rfb,
    store::{Event, Key},
    terminal, Sim,
};
use axum::{
    body::Bytes,
    extract::ws::{
        close_code, rejection::WebSocketUpgradeRejection, CloseFrame, Message, WebSocket,
        WebSocketUpgrade,
    },
    http::StatusCode,
    response::Response,
};
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::{
    broadcast::{self, error::RecvError},
    oneshot,
};

/// KubeVirt's only subprotocol. Browsers that offer one (for a bearer token) need one echoed.
const PROTOCOL: &str = "plain.kubevirt.io";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Vnc,
    Console,
}

/// The stream a request asks for.
pub struct Target {
    kind: Kind,
    namespace: String,
    name: String,
}

impl Target {
    /// `{namespace}/virtualmachineinstances/{name}/vnc` (or `/console`), the part of the path
    /// after `/apis/subresources.kubevirt.io/v1/namespaces/`.
    pub fn parse(rest: &str) -> Option<Self> {
        let segments: Vec<&str> = rest.split('/').collect();
        let [namespace, "virtualmachineinstances", name, stream] = segments.as_slice() else {
            return None;
        };
        let kind = match *stream {
            "vnc" => Kind::Vnc,
            "console" => Kind::Console,
            _ => return None,
        };
        Some(Target {
            kind,
            namespace: (*namespace).to_owned(),
            name: (*name).to_owned(),
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn vmi(&self) -> Key {
        lifecycle::key(lifecycle::VMI, &self.namespace, &self.name)
    }
}

/// A session's place: one of each kind per VMI.
type Slot = (Kind, Key);

/// The open sessions, each one present through the sender of its stop signal: dropping the
/// sender ends the session, and a session that ended closes its receiver. Clones share them.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<BTreeMap<Slot, oneshot::Sender<()>>>>);

impl Sessions {
    fn active(&self, slot: &Slot) -> bool {
        self.0
            .lock()
            .is_ok_and(|open| open.get(slot).is_some_and(|stop| !stop.is_closed()))
    }

    /// Registers a new session in `slot`, which ends the one there before.
    fn open(&self, slot: Slot) -> oneshot::Receiver<()> {
        let (stop, stopped) = oneshot::channel();
        if let Ok(mut open) = self.0.lock() {
            open.retain(|_, stop| !stop.is_closed());
            open.insert(slot, stop);
        }
        stopped
    }
}

pub(super) fn running(vmi: &Value) -> bool {
    vmi.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
}

/// The VMI of `target`, if it may be streamed: virt-api's checks (`pkg/virt-api/rest/vnc.go`,
/// `validateVMIForVNC`; `console.go`, `validateVMIForConsole`; the 404 of
/// `FetchVirtualMachineInstance` in `subresource.go`). A stopped VM has no VMI, so it gets
/// the 404 too, as from virt-api.
pub(super) fn admit<'a>(target: &Target, vmi: Option<&'a Value>) -> Result<&'a Value, Failure> {
    let not_running = || bad_request("VMI is not running");
    let Some(vmi) = vmi else {
        let mut failure = Failure::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "virtualmachineinstance.kubevirt.io \"{}\" not found",
                target.name
            ),
        );
        failure.details =
            json!({"name": target.name, "group": "kubevirt.io", "kind": "virtualmachineinstance"});
        return Err(failure);
    };
    let (device, missing) = match target.kind {
        Kind::Vnc => (
            "autoattachGraphicsDevice",
            "No graphics devices are present.",
        ),
        Kind::Console => ("autoattachSerialConsole", "No serial consoles are present."),
    };
    if vmi.pointer(&format!("/spec/domain/devices/{device}")) == Some(&Value::Bool(false)) {
        return Err(bad_request(missing));
    }
    if !running(vmi) {
        return Err(not_running());
    }
    Ok(vmi)
}

/// Checks the VMI in the store. The subscription to changes is taken under the same lock,
/// so a session hears of its VMI's end even when that comes before the upgrade.
fn check(sim: &Sim, target: &Target) -> Result<(Value, broadcast::Receiver<Event>), Failure> {
    let store = lock(sim)?;
    let vmi = admit(target, store.get(&target.vmi()))?;
    Ok((vmi["metadata"]["uid"].clone(), store.events.subscribe()))
}

/// `GET …/virtualmachineinstances/{name}/vnc` and `…/console` on the built-in cluster.
pub fn connect(
    sim: &Arc<Sim>,
    target: Target,
    query: &HashMap<String, String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Failure> {
    sim.console_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (uid, events) = check(sim, &target)?;
    let gone = vmi_gone(sim.clone(), target.vmi(), uid, events);
    open(&sim.sessions, target, query, upgrade, gone)
}

/// Upgrades to a session of an admitted `target`, which the server ends when `gone`
/// resolves: when its VMI no longer runs.
pub(super) fn open(
    sessions: &Sessions,
    target: Target,
    query: &HashMap<String, String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    gone: impl Future<Output = ()> + Send + 'static,
) -> Result<Response, Failure> {
    let slot = (target.kind, target.vmi());
    let preserve = query
        .get("preserveSession")
        .is_some_and(|value| value == "true");
    if target.kind == Kind::Vnc && preserve && sessions.active(&slot) {
        return Err(Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Active VNC connection. Request denied.",
        ));
    }
    let upgrade = upgrade.map_err(|rejection| bad_request(rejection.body_text()))?;
    let sessions = sessions.clone();
    Ok(upgrade
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| async move {
            let stopped = sessions.open(slot);
            let ending = Box::pin(async move {
                tokio::select! {
                    _ = stopped => CloseFrame {
                        code: close_code::NORMAL,
                        reason: "replaced by a newer connection".into(),
                    },
                    () = gone => CloseFrame {
                        code: close_code::AWAY,
                        reason: "the VMI is no longer running".into(),
                    },
                }
            });
            let mut link = Link {
                socket,
                pending: Vec::new(),
                ending: Some(ending),
                farewell: None,
            };
            match target.kind {
                Kind::Vnc => rfb::serve(&mut link, &target.name).await,
                Kind::Console => terminal::serve(&mut link, &target.name).await,
            };
            link.close().await;
        }))
}

/// Resolves when the VMI is deleted, replaced or leaves the Running phase.
async fn vmi_gone(sim: Arc<Sim>, vmi: Key, uid: Value, mut events: broadcast::Receiver<Event>) {
    loop {
        match events.recv().await {
            Ok(event) if event.key == vmi => {
                if event.kind == "DELETED" || !running(&event.object) {
                    return;
                }
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {
                let store = sim.store.lock();
                let current = store.as_ref().ok().and_then(|store| store.get(&vmi));
                if !current.is_some_and(|vmi| running(vmi) && vmi["metadata"]["uid"] == uid) {
                    return;
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Resolves when the server ends a session, with the close frame that says why.
type Ending = Pin<Box<dyn Future<Output = CloseFrame> + Send>>;

/// A session's WebSocket as the byte stream it carries. Every read and write answers `None`
/// once the client has left or the server has ended the session.
pub struct Link {
    socket: WebSocket,
    /// Bytes received and not read yet.
    pending: Vec<u8>,
    /// `None` once the session is over, so a finished future is not polled again.
    ending: Option<Ending>,
    /// The close frame of a session the server ended.
    farewell: Option<CloseFrame>,
}

impl Link {
    /// Runs `work` unless the session ends first.
    async fn unless_ended<T>(
        ending: &mut Option<Ending>,
        farewell: &mut Option<CloseFrame>,
        work: impl Future<Output = T>,
    ) -> Option<T> {
        let end = ending.as_mut()?;
        tokio::select! {
            frame = end => {
                *ending = None;
                *farewell = Some(frame);
                None
            }
            value = work => Some(value),
        }
    }

    /// The next binary message's bytes. Other messages are skipped, as virt-handler does.
    async fn receive(&mut self) -> Option<Bytes> {
        loop {
            let message =
                Self::unless_ended(&mut self.ending, &mut self.farewell, self.socket.recv())
                    .await?;
            match message {
                Some(Ok(Message::Binary(bytes))) => return Some(bytes),
                Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    self.ending = None;
                    return None;
                }
            }
        }
    }

    /// Whatever the client sent next, with no regard to message boundaries.
    pub async fn read_some(&mut self) -> Option<Vec<u8>> {
        if self.pending.is_empty() {
            self.receive().await.map(Vec::from)
        } else {
            Some(std::mem::take(&mut self.pending))
        }
    }

    /// The next `N` bytes, however the client split them into messages.
    pub async fn read_array<const N: usize>(&mut self) -> Option<[u8; N]> {
        while self.pending.len() < N {
            let bytes = self.receive().await?;
            self.pending.extend_from_slice(&bytes);
        }
        let mut array = [0; N];
        for (slot, byte) in array.iter_mut().zip(self.pending.drain(..N)) {
            *slot = byte;
        }
        Some(array)
    }

    /// Reads past `count` bytes without keeping them, however many the client announced.
    pub async fn skip(&mut self, mut count: usize) -> Option<()> {
        loop {
            let taken = count.min(self.pending.len());
            self.pending.drain(..taken);
            count -= taken;
            if count == 0 {
                return Some(());
            }
            self.pending = self.receive().await?.into();
        }
    }

    pub async fn write(&mut self, bytes: Vec<u8>) -> Option<()> {
        let send = self.socket.send(Message::Binary(bytes.into()));
        Self::unless_ended(&mut self.ending, &mut self.farewell, send)
            .await?
            .ok()
    }

    /// Sends the close frame, then reads on for a little while, so that the closing handshake
    /// completes and browsers see a clean close.
    async fn close(mut self) {
        let frame = self.farewell.take().unwrap_or(CloseFrame {
            code: close_code::NORMAL,
            reason: "session ended".into(),
        });
        // Fails when the client closed first; reading on then sends the answer to its close.
        let _ = self.socket.send(Message::Close(Some(frame))).await;
        let answer = async { while let Some(Ok(_)) = self.socket.recv().await {} };
        // A client that never answers is left behind all the same.
        let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
    }
}
