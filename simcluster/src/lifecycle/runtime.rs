//! What runs the controllers: a work queue of objects to look at, fed by changes (the
//! store's, or an API server's watches), worked off one at a time as KubeVirt's controllers
//! work off theirs (`pkg/virt-controller/watch/vm/vm.go`, `Execute`), and timers for the
//! steps that take the transition delay.

use super::{cdi, clone, instance, restore, snapshot, text, vm, Kind, Objects};
use serde_json::Value;
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

/// An object for a controller to look at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Work {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl Work {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Work {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// What a change of `object` (of `kind`) asks to look at: the object, the VM whose
    /// status depends on it (a VMI is named after its VM; a DataVolume is owned by it), the
    /// snapshot a snapshot content belongs to, and the clone that owns a snapshot or restore.
    pub fn for_change(kind: Kind, object: &Value) -> Vec<Work> {
        let namespace = text(object, "/metadata/namespace");
        let name = text(object, "/metadata/name");
        let mut works = vec![Work::new(kind, namespace, name)];
        match kind {
            Kind::VirtualMachineInstance => {
                works.push(Work::new(Kind::VirtualMachine, namespace, name));
            }
            Kind::DataVolume => works.extend(owners(object, Kind::VirtualMachine)),
            Kind::VirtualMachineSnapshotContent => {
                let snapshot = snapshot::owner_of_content(object);
                works.push(Work::new(Kind::VirtualMachineSnapshot, namespace, snapshot));
            }
            Kind::VirtualMachineSnapshot | Kind::VirtualMachineRestore => {
                works.extend(owners(object, Kind::VirtualMachineClone));
            }
            Kind::VirtualMachine | Kind::Event | Kind::Pod | Kind::VirtualMachineClone => {}
        }
        // Nothing here controls Events or pods: the VMI controller only creates pods.
        works.retain(|work| !matches!(work.kind, Kind::Event | Kind::Pod));
        works
    }
}

/// The owners of `object` of `kind`, to look at.
fn owners(object: &Value, kind: Kind) -> Vec<Work> {
    let namespace = text(object, "/metadata/namespace");
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|owner| owner["kind"] == kind.name())
        .map(|owner| Work::new(kind, namespace, owner["name"].as_str().unwrap_or_default()))
        .collect()
}

/// Objects waiting to be looked at, each at most once.
#[derive(Clone)]
pub struct Queue {
    pending: Arc<Mutex<HashSet<Work>>>,
    sender: mpsc::UnboundedSender<Work>,
}

impl Queue {
    pub fn add(&self, work: Work) {
        let added = self
            .pending
            .lock()
            .is_ok_and(|mut pending| pending.insert(work.clone()));
        if added {
            // A closed queue means the controllers stopped; nothing is left to do.
            let _ = self.sender.send(work);
        }
    }

    fn taken(&self, work: &Work) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(work);
        }
    }
}

/// What a controller works with.
#[derive(Clone)]
pub(super) struct Context<O> {
    pub objects: O,
    queue: Queue,
    /// When each waiting step is due, by a token naming the object and its step.
    timers: Arc<Mutex<HashMap<String, Instant>>>,
}

/// Where a step that takes time is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wait {
    /// The wait began just now.
    Started,
    Pending,
    Over,
}

impl<O: Objects> Context<O> {
    /// Where the step `token` of `work`'s object is after `steps` transition delays. The
    /// first ask starts the wait, and `work` is looked at again when it is over.
    pub fn wait(&self, token: String, steps: u32, work: &Work) -> Wait {
        let Ok(mut timers) = self.timers.lock() else {
            return Wait::Pending;
        };
        let now = Instant::now();
        match timers.get(&token) {
            Some(due) if *due <= now => {
                timers.remove(&token);
                Wait::Over
            }
            Some(_) => Wait::Pending,
            None => {
                let wait = self.objects.transition_delay() * steps;
                timers.insert(token, now + wait);
                // Waits nobody asks about again (their object went on or went away) go
                // after a while.
                timers.retain(|_, due| *due + Duration::from_secs(3600) > now);
                let (queue, work) = (self.queue.clone(), work.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    queue.add(work);
                });
                Wait::Started
            }
        }
    }

    /// Looks at `work`'s object again one transition delay from now (or when the look
    /// already asked for is due), as a controller requeues what it must try again.
    pub fn again(&self, token: String, work: &Work) {
        if self.wait(token.clone(), 1, work) == Wait::Over {
            self.wait(token, 1, work);
        }
    }

    /// Whether the step `token` has waited `steps` transition delays (see [`Self::wait`]).
    pub fn waited(&self, token: String, steps: u32, work: &Work) -> bool {
        self.wait(token, steps, work) == Wait::Over
    }
}

/// The running controllers; they stop when this is dropped.
pub struct Worker(tokio::task::JoinHandle<()>);

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the controllers over `objects`; they look at what is added to the returned queue
/// until the [`Worker`] is dropped.
pub fn start<O: Objects>(objects: O) -> (Queue, Worker) {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let queue = Queue {
        pending: Arc::default(),
        sender,
    };
    let context = Context {
        objects,
        queue: queue.clone(),
        timers: Arc::default(),
    };
    let worker = tokio::spawn(async move {
        while let Some(work) = receiver.recv().await {
            context.queue.taken(&work);
            let (namespace, name) = (work.namespace.as_str(), work.name.as_str());
            match work.kind {
                Kind::VirtualMachine => vm::reconcile(&context, namespace, name).await,
                Kind::VirtualMachineInstance => {
                    instance::reconcile(&context, namespace, name).await
                }
                Kind::DataVolume => cdi::reconcile(&context, namespace, name).await,
                Kind::VirtualMachineSnapshot => {
                    snapshot::reconcile(&context, namespace, name).await
                }
                // A content is looked at with its snapshot.
                Kind::VirtualMachineSnapshotContent | Kind::Event | Kind::Pod => {}
                Kind::VirtualMachineRestore => restore::reconcile(&context, namespace, name).await,
                Kind::VirtualMachineClone => clone::reconcile(&context, namespace, name).await,
            }
        }
    });
    (queue, Worker(worker))
}
