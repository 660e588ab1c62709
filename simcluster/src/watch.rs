//! Watches: a stream of JSON lines (`{"type": "ADDED", "object": …}`) that starts from a
//! resourceVersion (or from the current state), carries every later change, sends bookmarks
//! when asked, and ends with a 410 Gone error when it cannot resume.

use super::{fields::FieldSelector, selector::Selector, store::Event, Resource, Sim};
use axum::{body::Body, http::header, response::Response};
use serde_json::{json, Value};
use std::{convert::Infallible, sync::Arc, time::Duration};
use tokio::sync::{broadcast::error::RecvError, mpsc};

/// What a watch asks for.
pub struct WatchRequest {
    pub resource: Resource,
    pub namespace: Option<String>,
    pub selector: Selector,
    /// Fields do not change in ways that move objects in or out of a watch's selection
    /// (those of Events are set at creation), so only the object as it is now is checked.
    pub fields: FieldSelector,
    /// `None` or 0: start with the current objects as ADDED events.
    pub from: Option<u64>,
    pub bookmarks: bool,
    pub timeout: Duration,
}

impl WatchRequest {
    /// The event type this watch sees for `event`, if any. A change that moves an object
    /// into the label selector is ADDED for this watch, one that moves it out DELETED, as
    /// the API server's watch cache turns them (`staging/src/k8s.io/apiserver/pkg/storage/cacher/cache_watcher.go`,
    /// `convertToWatchEvent`).
    fn sees(&self, event: &Event) -> Option<&'static str> {
        let ours = event.key.resource == self.resource.id()
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == event.key.namespace);
        if !ours || !self.fields.matches(&event.object) {
            return None;
        }
        let now = self
            .selector
            .matches(event.object.pointer("/metadata/labels"));
        let before = event
            .previous_labels
            .as_ref()
            .map(|labels| self.selector.matches(Some(labels)));
        match (now, before) {
            (true, Some(false)) => Some("ADDED"),
            (false, Some(true)) => Some("DELETED"),
            (true, _) => Some(event.kind),
            (false, _) => None,
        }
    }
}

fn line(kind: &str, object: &Value) -> Result<axum::body::Bytes, Infallible> {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Ok(text.into())
}

fn gone(resource_version: u64) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("too old resource version: {resource_version}"),
        "reason": "Expired", "code": 410,
    })
}

pub fn watch(sim: Arc<Sim>, request: WatchRequest) -> Response {
    let (sender, receiver) = mpsc::channel::<Result<axum::body::Bytes, Infallible>>(64);
    tokio::spawn(async move {
        // Subscribe under the store lock, so no change falls between replay and live events.
        let start = {
            let Ok(store) = sim.store.lock() else { return };
            let live = store.events.subscribe();
            let replay: Option<Vec<Event>> = match request.from {
                None | Some(0) => Some(
                    store
                        .list(&request.resource.id(), request.namespace.as_deref())
                        .map(|(key, object)| Event {
                            kind: "ADDED",
                            resource_version: store.resource_version(),
                            key: key.clone(),
                            object: object.clone(),
                            previous_labels: None,
                        })
                        .collect(),
                ),
                Some(version) => store.changes_since(version),
            };
            (live, replay, store.resource_version())
        };
        let (mut live, replay, current) = start;
        let Some(replay) = replay else {
            let _ = sender
                .send(line("ERROR", &gone(request.from.unwrap_or_default())))
                .await;
            return;
        };
        for event in &replay {
            let Some(kind) = request.sees(event) else {
                continue;
            };
            if sender.send(line(kind, &event.object)).await.is_err() {
                return;
            }
        }
        let mut last = current;
        let deadline = tokio::time::sleep(request.timeout);
        tokio::pin!(deadline);
        let mut bookmarks = tokio::time::interval(sim.bookmark_every);
        bookmarks.reset();
        let mut stopped = sim.stopped.clone();
        loop {
            tokio::select! {
                () = &mut deadline => return,
                _ = stopped.changed() => return,
                _ = bookmarks.tick(), if request.bookmarks => {
                    let bookmark = json!({
                        "apiVersion": request.resource.api_version(),
                        "kind": request.resource.kind,
                        "metadata": {"resourceVersion": last.to_string()},
                    });
                    if sender.send(line("BOOKMARK", &bookmark)).await.is_err() {
                        return;
                    }
                }
                received = live.recv() => match received {
                    Ok(event) if event.resource_version > last => {
                        last = event.resource_version;
                        if let Some(kind) = request.sees(&event) {
                            if sender.send(line(kind, &event.object)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(_) => {}
                    // Fell too far behind to know what was missed: the client must relist.
                    Err(RecvError::Lagged(_)) => {
                        let _ = sender.send(line("ERROR", &gone(last))).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}
