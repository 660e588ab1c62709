//! The simulated KubeVirt in the built-in cluster: its objects are the cluster's own, written
//! through the same code as the REST surface's writes (schemas, finalizers and all), and
//! its controllers hear of changes from the store, as KubeVirt's hear from informers.

use super::{runtime, Kind, Objects, Recorder, Work};
use crate::{
    api::{find, Target},
    gc, quota,
    store::Event as Change,
    writes, Sim,
};
use serde_json::{json, Value};
use std::{sync::Arc, time::Duration};
use tokio::sync::broadcast::error::RecvError;

/// The built-in cluster's store.
#[derive(Clone)]
pub struct Embedded(pub Arc<Sim>);

impl Embedded {
    fn target(&self, kind: Kind, namespace: &str) -> Option<Target> {
        Some(Target {
            resource: find(&self.0, kind.group(), kind.version(), kind.plural())?,
            namespace: Some(namespace.to_owned()),
            name: None,
            status: false,
        })
    }

    /// A stopped cluster writes nothing more: timers still running must not touch a state
    /// file that a cluster started after it may now own.
    fn running(&self) -> bool {
        self.0.stopped.has_changed().is_ok()
    }

    /// The object written, or the refusal's message (logged).
    fn logged(&self, what: &str, name: &str, answer: writes::Answer) -> Result<Value, String> {
        match answer {
            Ok((_, object)) => Ok(object),
            Err(failure) => {
                tracing::debug!(%name, message = %failure.message(), "simulated KubeVirt: cannot {what}");
                Err(failure.message().to_owned())
            }
        }
    }
}

impl Objects for Embedded {
    async fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        let target = self.target(kind, namespace)?;
        writes::get_one(&self.0, &target, name)
            .ok()
            .map(|(_, object)| object)
    }

    async fn create(&self, kind: Kind, object: Value) -> Result<Value, String> {
        let namespace = super::text(&object, "/metadata/namespace").to_owned();
        let name = super::text(&object, "/metadata/name").to_owned();
        let Some(target) = self.target(kind, &namespace).filter(|_| self.running()) else {
            return Err("the simulated cluster stopped".to_owned());
        };
        self.logged(
            "create",
            &name,
            writes::create(&self.0, &target, object, false),
        )
    }

    async fn patch(&self, kind: Kind, namespace: &str, name: &str, patch: Value) -> bool {
        let Some(target) = self.target(kind, namespace).filter(|_| self.running()) else {
            return false;
        };
        let answer = writes::patch(&self.0, &target, name, patch, false, false);
        self.logged("patch", name, answer).is_ok()
    }

    async fn patch_status(&self, kind: Kind, namespace: &str, name: &str, status: Value) -> bool {
        if !kind.has_status_subresource() {
            return self
                .patch(kind, namespace, name, json!({ "status": status }))
                .await;
        }
        let Some(target) = self.target(kind, namespace).filter(|_| self.running()) else {
            return false;
        };
        let written = json!({ "status": status });
        let answer = writes::write_status(&self.0, &target, name, written, false, false);
        self.logged("write the status of", name, answer).is_ok()
    }

    async fn delete(&self, kind: Kind, namespace: &str, name: &str) {
        if let Some(target) = self.target(kind, namespace).filter(|_| self.running()) {
            let answer = writes::delete(&self.0, &target, name);
            // Logged there; the controller that asked tries again on the next change.
            let _ = self.logged("delete", name, answer);
        }
    }

    fn recorder(&self) -> &Recorder {
        &self.0.recorder
    }

    fn transition_delay(&self) -> Duration {
        self.0.transition_delay
    }
}

/// What a stored change asks the controllers to look at.
fn works(change: &Change) -> Vec<Work> {
    let kind = Kind::of(
        super::text(&change.object, "/apiVersion"),
        super::text(&change.object, "/kind"),
    );
    kind.map(|kind| Work::for_change(kind, &change.object))
        .unwrap_or_default()
}

/// Runs the simulated KubeVirt, the garbage collector and the expiry of Events over the
/// built-in cluster until it stops: first over every object stored (after a restart, imports and starts go on), then
/// over each change.
pub(crate) fn run(sim: Arc<Sim>) -> tokio::task::JoinHandle<()> {
    let (queue, worker) = runtime::start(Embedded(sim.clone()));
    tokio::spawn(async move {
        let everything = |sim: &Sim| -> Vec<Work> {
            let Ok(store) = sim.store.lock() else {
                return Vec::new();
            };
            store
                .keys()
                .filter_map(|key| store.get(key))
                .flat_map(|object| {
                    let kind = Kind::of(
                        super::text(object, "/apiVersion"),
                        super::text(object, "/kind"),
                    );
                    kind.map(|kind| Work::for_change(kind, object))
                        .unwrap_or_default()
                })
                .collect()
        };
        let mut changes = match sim.store.lock() {
            Ok(store) => store.events.subscribe(),
            Err(_) => return,
        };
        for work in everything(&sim) {
            queue.add(work);
        }
        let mut stopped = sim.stopped.clone();
        let mut expiry = tokio::time::interval(sim.event_ttl / 60);
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                _ = expiry.tick() => gc::expire_events(&sim, sim.event_ttl),
                received = changes.recv() => match received {
                    Ok(change) => {
                        if change.kind == "DELETED" {
                            gc::collect(&sim);
                        }
                        if matches!(change.key.resource.as_str(), "pods" | "virtualmachines.kubevirt.io") {
                            quota::recount(&sim, &change.key.namespace);
                        }
                        for work in works(&change) {
                            queue.add(work);
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        gc::collect(&sim);
                        for work in everything(&sim) {
                            queue.add(work);
                        }
                    }
                    Err(RecvError::Closed) => break,
                },
            }
        }
        drop(worker);
    })
}
