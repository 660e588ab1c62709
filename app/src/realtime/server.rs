//! The live view of the cluster: one watcher per kind for the whole process, reflector
//! stores that answer lists without calling the cluster, and one hub that fans changes out
//! to every open `/ws/events` socket.

use super::types::LiveEvent;
use crate::{
    snapshots::server::kinds::{
        VirtualMachineClone, VirtualMachineRestore, VirtualMachineSnapshot,
    },
    vms::{
        server::{
            body::PROJECT_LABEL,
            index::{IndexedVm, VmIndex},
            kubevirt::{VirtualMachine, VirtualMachineInstance, MANAGED_BY_WUKONG},
            project_label,
        },
        types::{RunStrategy, VmStatus, VmSummary},
    },
};
use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt as _;
use kube::{
    api::Api,
    runtime::{
        reflector::{self, ObjectRef, Store},
        watcher::{self, Event},
        WatchStreamExt as _,
    },
    Client, Resource as _, ResourceExt as _,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::broadcast;

/// Events a socket may be behind before it is told to resync instead.
pub const QUEUE_LENGTH: usize = 256;

/// One event as sent: serialised once into a message body every socket shares, with the VM
/// it concerns so each socket can check the user may see it.
#[derive(Debug)]
pub struct Published {
    /// `None` for events not about one VM (resync, access changes).
    pub vm: Option<VmScope>,
    /// The only user whose sockets get it, for access changes; `None` for everyone who may
    /// see the VM.
    pub for_user: Option<String>,
    pub json: Utf8Bytes,
    pub at: Instant,
}

/// Where a VM (or a snapshot, restore or clone) is and which project it is labelled for: a
/// socket passes its events on only when both name one of the user's projects, as the list
/// and the VM's page would.
#[derive(Debug)]
pub struct VmScope {
    pub namespace: String,
    /// The project label; empty when there is none.
    pub project_id: String,
}

impl VmScope {
    fn of(vm: &VirtualMachine) -> VmScope {
        VmScope {
            namespace: vm.metadata.namespace.clone().unwrap_or_default(),
            project_id: project_label(vm).unwrap_or_default().to_owned(),
        }
    }

    fn of_object(object: &impl kube::Resource) -> VmScope {
        let metadata = object.meta();
        VmScope {
            namespace: metadata.namespace.clone().unwrap_or_default(),
            project_id: metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(PROJECT_LABEL))
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// Cheap to clone; the watcher tasks run as long as the process.
#[derive(Clone)]
pub struct Live {
    vms: Store<VirtualMachine>,
    vmis: Store<VirtualMachineInstance>,
    /// The list rows, kept up to date by the watch tasks.
    index: VmIndex,
    hub: broadcast::Sender<Arc<Published>>,
    watchers: Arc<Vec<tokio::task::AbortHandle>>,
    /// Per kind, why its watch last failed, until it works again.
    failures: Arc<Mutex<BTreeMap<&'static str, String>>>,
    /// The snapshot kinds whose watch has listed the cluster once.
    listed: Arc<tokio::sync::watch::Sender<BTreeSet<String>>>,
}

/// The kinds watched without a store: snapshots, restores and clones.
const UNSTORED_KINDS: usize = 3;

impl Live {
    /// Starts the watchers (label-selected to Wukong's objects, in every namespace).
    pub fn start(client: &Client) -> Live {
        let (vms, vm_writer) = reflector::store::<VirtualMachine>();
        let (vmis, vmi_writer) = reflector::store::<VirtualMachineInstance>();
        let (hub, _) = broadcast::channel(QUEUE_LENGTH);
        let mut live = Live {
            vms,
            vmis,
            index: VmIndex::default(),
            hub,
            watchers: Arc::default(),
            failures: Arc::default(),
            listed: Arc::new(tokio::sync::watch::Sender::new(BTreeSet::new())),
        };
        let config = || watcher::Config::default().labels(MANAGED_BY_WUKONG);
        let vm_events = watcher::watcher(Api::<VirtualMachine>::all(client.clone()), config())
            .default_backoff()
            .reflect(vm_writer);
        let vmi_events =
            watcher::watcher(Api::<VirtualMachineInstance>::all(client.clone()), config())
                .default_backoff()
                .reflect(vmi_writer);
        let vm_task = tokio::spawn(
            live.clone()
                .follow("VirtualMachine", vm_events, Live::on_vm),
        );
        let vmi_task = tokio::spawn(live.clone().follow(
            "VirtualMachineInstance",
            vmi_events,
            Live::on_vmi,
        ));
        let snapshots =
            live.watch_unstored::<VirtualMachineSnapshot>(client, "VirtualMachineSnapshot");
        let restores =
            live.watch_unstored::<VirtualMachineRestore>(client, "VirtualMachineRestore");
        let clones = live.watch_unstored::<VirtualMachineClone>(client, "VirtualMachineClone");
        live.watchers = Arc::new(
            [vm_task, vmi_task, snapshots, restores, clones]
                .iter()
                .map(tokio::task::JoinHandle::abort_handle)
                .collect(),
        );
        live
    }

    /// Starts the watch of `kind` (`K`), whose objects are not kept (see
    /// [`Live::on_snapshot_kind`]).
    fn watch_unstored<K>(&self, client: &Client, kind: &'static str) -> tokio::task::JoinHandle<()>
    where
        K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
    {
        let config = watcher::Config::default().labels(MANAGED_BY_WUKONG);
        let events = watcher::watcher(Api::<K>::all(client.clone()), config).default_backoff();
        tokio::spawn(self.clone().follow(kind, events, Live::on_snapshot_kind))
    }

    /// Notes whether the watch of `kind` works, telling every socket when that changes.
    fn record(&self, kind: &'static str, failure: Option<String>) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        let changed = match failure {
            Some(failure) => failures.insert(kind, failure.clone()) != Some(failure),
            None => failures.remove(kind).is_some(),
        };
        if changed {
            let failures = failures.values().cloned().collect();
            self.publish(None, None, &LiveEvent::ClusterWatch { failures });
        }
    }

    /// Why watches are failing now, one sentence per kind; empty when all work.
    pub fn watch_failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .map(|failures| failures.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Ends the watches, at shutdown.
    pub fn stop(&self) {
        for watcher in self.watchers.iter() {
            watcher.abort();
        }
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.hub.subscribe()
    }

    /// Sockets connected right now.
    pub fn subscribers(&self) -> usize {
        self.hub.receiver_count()
    }

    /// Waits until both stores hold a full list and the other watches have listed once, for
    /// at most `limit`.
    pub async fn ready(&self, limit: Duration) -> bool {
        let mut listed = self.listed.subscribe();
        let both = async {
            self.vms.wait_until_ready().await.is_ok()
                && self.vmis.wait_until_ready().await.is_ok()
                && listed
                    .wait_for(|kinds| kinds.len() == UNSTORED_KINDS)
                    .await
                    .is_ok()
        };
        tokio::time::timeout(limit, both).await.unwrap_or(false)
    }

    pub fn vm(&self, namespace: &str, name: &str) -> Option<Arc<VirtualMachine>> {
        self.vms.get(&ObjectRef::new(name).within(namespace))
    }

    pub fn vmi(&self, namespace: &str, name: &str) -> Option<Arc<VirtualMachineInstance>> {
        self.vmis.get(&ObjectRef::new(name).within(namespace))
    }

    /// The list rows of every VM.
    pub fn index(&self) -> &VmIndex {
        &self.index
    }

    /// Brings the list row of the VM `namespace`/`name` in line with the stores; whether
    /// that changed it.
    fn reindex(&self, namespace: &str, name: &str) -> bool {
        self.index.update(namespace, name, || {
            self.vm(namespace, name).map(|vm| self.indexed(&vm))
        })
    }

    /// Rebuilds every list row from the stores, after a watch listed the cluster again.
    fn reindex_all(&self) {
        let rows: Vec<IndexedVm> = self.vms.state().iter().map(|vm| self.indexed(vm)).collect();
        self.index.replace_all(rows);
    }

    fn indexed(&self, vm: &VirtualMachine) -> IndexedVm {
        IndexedVm::new(
            self.summary(vm),
            project_label(vm).unwrap_or_default().to_owned(),
        )
    }

    /// The list row of `vm`, with the address and node of its instance.
    pub fn summary(&self, vm: &VirtualMachine) -> VmSummary {
        let namespace = vm.metadata.namespace.clone().unwrap_or_default();
        let name = vm.metadata.name.clone().unwrap_or_default();
        let vmi = self.vmi(&namespace, &name);
        VmSummary {
            status: VmStatus::parse(vm.printable_status()),
            run_strategy: RunStrategy::parse(&vm.run_strategy()),
            cpus: vm.cpus(),
            memory_mib: vm.memory_bytes() >> 20,
            ip: vmi.as_ref().and_then(|vmi| vmi.ip()),
            guest_agent: vmi.as_ref().is_some_and(|vmi| vmi.agent_connected()),
            node: vmi.as_ref().and_then(|vmi| vmi.node()),
            created_ms: vm
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(0, |time| time.0.as_millisecond()),
            namespace,
            name,
            project: String::new(),
            project_name: String::new(),
        }
    }

    fn publish(&self, vm: Option<VmScope>, for_user: Option<String>, event: &LiveEvent) {
        match serde_json::to_string(event) {
            // Nobody listening is not an error.
            Ok(json) => drop(self.hub.send(Arc::new(Published {
                vm,
                for_user,
                json: json.into(),
                at: Instant::now(),
            }))),
            Err(error) => tracing::error!(%error, "cannot serialise a live event"),
        }
    }

    /// Tells the open sockets of `user_id` that their projects or roles changed, so that
    /// they reload what they may see at once. (Sockets on other replicas find out at their
    /// next periodic check.)
    pub fn access_changed(&self, user_id: &str) {
        self.publish(None, Some(user_id.to_owned()), &LiveEvent::AccessChanged);
    }

    fn on_vm(&self, event: Event<VirtualMachine>) {
        match event {
            // Only a change of what the list shows is sent: most updates of a VM (status
            // conditions, its instance's phases, metadata) change nothing there, and each
            // event sent costs a write on every socket. A relist's objects reach the store
            // at its end, which sends a resync instead.
            Event::Apply(vm) | Event::InitApply(vm) => {
                let scope = VmScope::of(&vm);
                if self.reindex(&scope.namespace, &vm.name_any()) {
                    let summary = self.summary(&vm);
                    self.publish(Some(scope), None, &LiveEvent::VmChanged { vm: summary });
                }
            }
            Event::Delete(vm) => {
                let scope = VmScope::of(&vm);
                self.reindex(&scope.namespace, &vm.name_any());
                let removed = LiveEvent::VmRemoved {
                    namespace: scope.namespace.clone(),
                    name: vm.metadata.name.clone().unwrap_or_default(),
                };
                self.publish(Some(scope), None, &removed);
            }
            // A relist (after a restart of the watch or 410 Gone) may have missed deletions.
            Event::InitDone => {
                self.reindex_all();
                self.publish(None, None, &LiveEvent::Resync);
            }
            Event::Init => {}
        }
    }

    fn on_vmi(&self, event: Event<VirtualMachineInstance>) {
        let vmi = match event {
            Event::Apply(vmi) | Event::InitApply(vmi) | Event::Delete(vmi) => vmi,
            // The instances' addresses and nodes in the rows may be out of date.
            Event::InitDone => {
                self.reindex_all();
                self.publish(None, None, &LiveEvent::Resync);
                return;
            }
            Event::Init => return,
        };
        let namespace = vmi.meta().namespace.clone().unwrap_or_default();
        let name = vmi.meta().name.clone().unwrap_or_default();
        if !self.reindex(&namespace, &name) {
            return;
        }
        if let Some(vm) = self.vm(&namespace, &name) {
            let summary = self.summary(&vm);
            self.publish(
                Some(VmScope::of(&vm)),
                None,
                &LiveEvent::VmChanged { vm: summary },
            );
        }
    }

    /// A snapshot, restore or clone changed: the pages listing its namespace's fetch again.
    /// They are not kept in a store: only an open VM or snapshots page lists them, and it
    /// reads the cluster.
    fn on_snapshot_kind<K: kube::Resource<DynamicType = ()>>(&self, event: Event<K>) {
        match event {
            Event::Apply(object) | Event::Delete(object) => {
                let scope = VmScope::of_object(&object);
                self.publish(Some(scope), None, &LiveEvent::SnapshotsChanged);
            }
            // A relist may have missed deletions.
            Event::InitDone => {
                self.listed.send_modify(|kinds| {
                    kinds.insert(K::kind(&()).into_owned());
                });
                self.publish(None, None, &LiveEvent::Resync);
            }
            Event::Init | Event::InitApply(_) => {}
        }
    }

    async fn follow<K>(
        self,
        kind: &'static str,
        events: impl futures_util::Stream<Item = Result<Event<K>, watcher::Error>>,
        handle: fn(&Live, Event<K>),
    ) {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => {
                    self.record(kind, None);
                    handle(&self, event)
                }
                // The backoff spaces the retries; the watcher relists when it must.
                Err(error) => {
                    tracing::warn!(kind, %error, "cluster watch failed; retrying");
                    self.record(kind, Some(watch_failure(kind, &error)));
                }
            }
        }
    }
}

/// A watch failure as `/readyz` shows it, to anyone: the missing permission when the cluster
/// refused Wukong's account, what failed when Wukong had no credentials to send, else a fixed
/// sentence (the error itself is only logged).
fn watch_failure(kind: &str, error: &watcher::Error) -> String {
    let uncredentialed = |failure: &kube::Error| {
        crate::cluster::credentials_failure(failure).map(|reason| {
            crate::AppError::ClusterCredentials {
                reason: reason.to_owned(),
            }
        })
    };
    let refused = match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
            if matches!(status.code, 401 | 403) =>
        {
            Some(crate::AppError::ClusterDenied {
                permission: crate::cluster::missing_permission(&status.message)
                    .unwrap_or_else(|| "watch it".to_owned()),
            })
        }
        watcher::Error::InitialListFailed(failure)
        | watcher::Error::WatchStartFailed(failure)
        | watcher::Error::WatchFailed(failure) => uncredentialed(failure),
        _ => None,
    };
    match refused {
        Some(refusal) => format!("{kind} watch: {refusal}"),
        None => format!("{kind} watch: the cluster did not answer it; it is retried"),
    }
}
