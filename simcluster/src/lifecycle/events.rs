//! Events as client-go's recorder writes them (`staging/src/k8s.io/client-go/tools/record/
//! event.go`, `makeEvent` and `generateEvent`): a core/v1 Event named
//! `<involved name>.<hex nanoseconds>` in the involved object's namespace, with the
//! recorder's source as `source` and as `reportingComponent`/`reportingInstance`. Repeats
//! of the same event (same source, object, type, reason and message) update the first one's
//! `count` and `lastTimestamp` instead, as its `EventCorrelator` does
//! (`events_cache.go`, `eventObserve`).

use super::{now, text, Kind, Objects};
use serde_json::{json, Value};
use std::{collections::HashMap, sync::Mutex};

/// An event to record.
#[derive(Clone, Debug)]
pub struct Event {
    /// A reference to the object it is about (`involvedObject`).
    pub involved: Value,
    /// `Normal` or `Warning`.
    pub kind: &'static str,
    pub reason: &'static str,
    pub message: String,
    /// The recording controller, and the node for virt-handler's.
    pub component: &'static str,
    pub host: Option<String>,
}

impl Event {
    pub fn normal(involved: &Value, reason: &'static str, message: impl Into<String>) -> Self {
        Event {
            involved: reference(involved),
            kind: "Normal",
            reason,
            message: message.into(),
            component: "",
            host: None,
        }
    }

    pub fn warning(involved: &Value, reason: &'static str, message: impl Into<String>) -> Self {
        Event {
            kind: "Warning",
            ..Event::normal(involved, reason, message)
        }
    }

    pub fn from(mut self, component: &'static str) -> Self {
        self.component = component;
        self
    }

    pub fn on(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }
}

/// An `ObjectReference` to `object`, as `reference.GetReference` makes it.
pub fn reference(object: &Value) -> Value {
    let field = |pointer: &str| Value::String(text(object, pointer).to_owned());
    json!({
        "apiVersion": field("/apiVersion"),
        "kind": field("/kind"),
        "name": field("/metadata/name"),
        "namespace": field("/metadata/namespace"),
        "uid": field("/metadata/uid"),
        "resourceVersion": field("/metadata/resourceVersion"),
    })
}

/// The events recorded so far, by what makes two events the same: their name and count.
#[derive(Default)]
pub struct Recorder {
    seen: Mutex<HashMap<String, (String, u64)>>,
}

impl Recorder {
    fn seen(&self, key: &str) -> Option<(String, u64)> {
        self.seen.lock().ok()?.get(key).cloned()
    }

    fn remember(&self, key: String, name: String, count: u64) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(key, (name, count));
        }
    }
}

pub(super) async fn record<O: Objects>(objects: &O, event: Event) {
    let namespace = text(&event.involved, "/namespace").to_owned();
    let host = event.host.clone().unwrap_or_default();
    let key = format!(
        "{}\n{host}\n{}\n{}\n{}\n{}\n{}\n{}",
        event.component,
        text(&event.involved, "/uid"),
        text(&event.involved, "/kind"),
        text(&event.involved, "/name"),
        event.kind,
        event.reason,
        event.message
    );
    let time = now();
    if let Some((name, count)) = objects.recorder().seen(&key) {
        let repeat = json!({"count": count + 1, "lastTimestamp": time});
        if objects.patch(Kind::Event, &namespace, &name, repeat).await {
            objects.recorder().remember(key, name, count + 1);
            return;
        }
    }
    let nanos = jiff::Timestamp::now().as_nanosecond();
    let name = format!("{}.{nanos:x}", text(&event.involved, "/name"));
    let mut source = json!({"component": event.component});
    if let Some(host) = &event.host {
        source["host"] = json!(host);
    }
    let object = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": event.involved,
        "reason": event.reason,
        "message": event.message,
        "type": event.kind,
        "source": source,
        "firstTimestamp": time,
        "lastTimestamp": time,
        "count": 1,
        "reportingComponent": event.component,
        "reportingInstance": host,
    });
    if objects.create(Kind::Event, object).await.is_ok() {
        objects.recorder().remember(key, name, 1);
    }
}
