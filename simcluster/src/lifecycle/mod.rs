//! KubeVirt and CDI, simulated: the parts of virt-controller, virt-handler, virt-api and
//! CDI's DataVolume controller that Wukong meets, each answering or writing as the upstream
//! one does (each module names its upstream source).
//!
//! - `vm`: the VM controller. `runStrategy` and `status.stateChangeRequests` decide whether
//!   an instance should run; it creates the VM's DataVolumes, creates and deletes its
//!   VirtualMachineInstance, and writes the VM's status (`printableStatus` and conditions).
//! - `instance`: the VMI's life as virt-controller's VMI controller and virt-handler drive it:
//!   scheduling (or not, when the VM asks for more than the simulated node has), running
//!   with its network interfaces, the guest agent connecting, shutting down.
//! - `cdi`: DataVolume imports, phase by phase, failing for sources that cannot be fetched.
//! - `admission`: virt-api's validating webhooks for snapshots, restores and clones.
//! - `virt_api`: the `subresources.kubevirt.io` actions (start, stop, restart, pause,
//!   unpause) with virt-api's refusals.
//! - `snapshot`: VirtualMachineSnapshots and their contents, taken of a running or stopped VM.
//! - `restore`: VirtualMachineRestores, rewriting a stopped VM (or making a new one) from a
//!   snapshot.
//! - `clone`: VirtualMachineClones, a new VM from a VM or a snapshot.
//! - `events`: core/v1 Events as client-go's recorder writes them.
//!
//! Every step after the first takes the configured transition delay. The controllers run
//! over [`Objects`]: the built-in cluster's own store ([`Embedded`]), or any API server
//! (`remote`), where they play KubeVirt and CDI for a real control plane.

pub(crate) mod admission;
mod cdi;
mod clone;
mod embedded;
pub mod events;
mod guest;
mod instance;
mod launcher;
mod restore;
mod runtime;
mod snapshot;
mod virt_api;
mod vm;

pub(crate) use embedded::run as run_embedded;
pub use embedded::Embedded;
pub use events::{Event, Recorder};

pub use runtime::{start, Queue, Work, Worker};
pub use virt_api::{act, Refusal};
pub(crate) use vm::run_strategy;

use super::store::Key;
use serde_json::{json, Value};
use std::{future::Future, time::Duration};

pub(super) const VMI: &str = "virtualmachineinstances.kubevirt.io";

/// Where the built-in cluster's store keeps an object of `resource`.
pub(super) fn key(resource: &str, namespace: &str, name: &str) -> Key {
    Key {
        resource: resource.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// The simulated node.
pub const NODE_NAME: &str = "sim-node-1";
const NODE_CPUS: u64 = 16;
const NODE_MEMORY_BYTES: u64 = 64 << 30;

/// The kinds the simulated KubeVirt and CDI read and write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    VirtualMachine,
    VirtualMachineInstance,
    DataVolume,
    Event,
    Pod,
    VirtualMachineSnapshot,
    VirtualMachineSnapshotContent,
    VirtualMachineRestore,
    VirtualMachineClone,
}

/// Every kind, in one list for lookups.
const KINDS: [Kind; 9] = [
    Kind::VirtualMachine,
    Kind::VirtualMachineInstance,
    Kind::DataVolume,
    Kind::Event,
    Kind::Pod,
    Kind::VirtualMachineSnapshot,
    Kind::VirtualMachineSnapshotContent,
    Kind::VirtualMachineRestore,
    Kind::VirtualMachineClone,
];

impl Kind {
    pub fn group(self) -> &'static str {
        match self {
            Kind::VirtualMachine | Kind::VirtualMachineInstance => "kubevirt.io",
            Kind::DataVolume => "cdi.kubevirt.io",
            Kind::Event | Kind::Pod => "",
            Kind::VirtualMachineSnapshot
            | Kind::VirtualMachineSnapshotContent
            | Kind::VirtualMachineRestore => "snapshot.kubevirt.io",
            Kind::VirtualMachineClone => "clone.kubevirt.io",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Kind::VirtualMachine | Kind::VirtualMachineInstance | Kind::Event | Kind::Pod => "v1",
            _ => "v1beta1",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::VirtualMachine => "VirtualMachine",
            Kind::VirtualMachineInstance => "VirtualMachineInstance",
            Kind::DataVolume => "DataVolume",
            Kind::Event => "Event",
            Kind::Pod => "Pod",
            Kind::VirtualMachineSnapshot => "VirtualMachineSnapshot",
            Kind::VirtualMachineSnapshotContent => "VirtualMachineSnapshotContent",
            Kind::VirtualMachineRestore => "VirtualMachineRestore",
            Kind::VirtualMachineClone => "VirtualMachineClone",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::VirtualMachine => "virtualmachines",
            Kind::VirtualMachineInstance => "virtualmachineinstances",
            Kind::DataVolume => "datavolumes",
            Kind::Event => "events",
            Kind::Pod => "pods",
            Kind::VirtualMachineSnapshot => "virtualmachinesnapshots",
            Kind::VirtualMachineSnapshotContent => "virtualmachinesnapshotcontents",
            Kind::VirtualMachineRestore => "virtualmachinerestores",
            Kind::VirtualMachineClone => "virtualmachineclones",
        }
    }

    pub fn api_version(self) -> String {
        if self.group().is_empty() {
            self.version().to_owned()
        } else {
            format!("{}/{}", self.group(), self.version())
        }
    }

    /// Whether status is written through `/status`. A VMI's CRD has no status subresource:
    /// virt-handler writes the VMI itself.
    pub fn has_status_subresource(self) -> bool {
        !matches!(self, Kind::VirtualMachineInstance | Kind::Event | Kind::Pod)
    }

    /// The kind an object of `api_version` and `kind` is, if one of these.
    pub fn of(api_version: &str, kind: &str) -> Option<Kind> {
        KINDS
            .into_iter()
            .find(|candidate| candidate.name() == kind && candidate.api_version() == api_version)
    }
}

/// Where the simulated KubeVirt reads and writes. Writes that fail are logged by the
/// implementation: a controller tries again on the next change, as KubeVirt's do.
pub trait Objects: Clone + Send + Sync + 'static {
    fn get(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Option<Value>> + Send;
    /// Creates `object` in the namespace its metadata names; the stored object, or the API
    /// server's message when refused.
    fn create(
        &self,
        kind: Kind,
        object: Value,
    ) -> impl Future<Output = Result<Value, String>> + Send;
    /// Merges `patch` into the object (a VMI's status included, as it has no subresource);
    /// whether it was written.
    fn patch(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        patch: Value,
    ) -> impl Future<Output = bool> + Send;
    /// Merges `status` into the object's status, through `/status` where the kind has it.
    fn patch_status(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        status: Value,
    ) -> impl Future<Output = bool> + Send;
    /// Deletes the object (in the background: dependents go by garbage collection); one
    /// with finalizers stays, marked for deletion, until they are removed.
    fn delete(&self, kind: Kind, namespace: &str, name: &str) -> impl Future<Output = ()> + Send;
    /// Where repeated events are counted, as client-go's recorder counts them.
    fn recorder(&self) -> &Recorder;
    /// How long each step of a start, stop or import takes.
    fn transition_delay(&self) -> Duration;

    /// Records `event` as a core/v1 Event in the involved object's namespace.
    fn record_event(&self, event: Event) -> impl Future<Output = ()> + Send {
        events::record(self, event)
    }

    /// Merges `patch` into `object` (found by its namespace and name), or into its status
    /// when `part` says so.
    fn patch_of(
        &self,
        kind: Kind,
        object: &Value,
        part: Part,
        patch: Value,
    ) -> impl Future<Output = bool> + Send {
        let (namespace, name) = names(object);
        async move {
            match part {
                Part::Object => self.patch(kind, &namespace, &name, patch).await,
                Part::Status => self.patch_status(kind, &namespace, &name, patch).await,
            }
        }
    }
}

/// What a write changes: the object, or its status.
#[derive(Clone, Copy, Debug)]
pub enum Part {
    Object,
    Status,
}

/// The namespace and name of `object`.
fn names(object: &Value) -> (String, String) {
    (
        text(object, "/metadata/namespace").to_owned(),
        text(object, "/metadata/name").to_owned(),
    )
}

/// The array at `pointer` in `value`, or an empty one.
fn array_at(value: &Value, pointer: &str) -> Vec<Value> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The string at `pointer` in `value`, or "".
fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn now() -> String {
    super::api::now_rfc3339()
}

/// The condition of `kind` in `object`'s status, if any.
fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|condition| condition["type"] == kind)
}

fn condition_is(object: &Value, kind: &str, status: &str) -> bool {
    condition(object, kind).is_some_and(|condition| condition["status"] == status)
}

/// `conditions` with `new` in place of the condition of its type, unless that one has the
/// same status and reason already (`UpdateCondition` in pkg/controller/conditions.go), so
/// that its times stay.
fn with_condition(conditions: &[Value], new: Value) -> Vec<Value> {
    let same = |old: &&Value| old["type"] == new["type"];
    match conditions.iter().position(|old| same(&old)) {
        Some(index) => {
            let mut updated = conditions.to_vec();
            let old = &conditions[index];
            if old["status"] != new["status"] || old["reason"] != new["reason"] {
                updated[index] = new;
            }
            updated
        }
        None => {
            let mut updated = conditions.to_vec();
            updated.push(new);
            updated
        }
    }
}

/// Bytes of a Kubernetes quantity such as `128Mi`, `4Gi` or `1G`.
pub fn quantity_bytes(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => return None,
    };
    Some((number * factor) as u64)
}

/// A number that differs between objects and stays put for one object (from its uid).
fn seed(object: &Value) -> u64 {
    text(object, "/metadata/uid")
        .bytes()
        .fold(7u64, |hash, byte| {
            hash.wrapping_mul(31).wrapping_add(u64::from(byte))
        })
}

/// The finalizers of `object` with `finalizer` added or taken out, as a merge patch; none if
/// they already are so (`AddFinalizer`, `RemoveFinalizer` in pkg/controller/controller.go).
fn finalizer_patch(object: &Value, finalizer: &str, present: bool) -> Option<Value> {
    let mut finalizers = array_at(object, "/metadata/finalizers");
    let has = finalizers.iter().any(|old| old == finalizer);
    if has == present {
        return None;
    }
    if present {
        finalizers.push(json!(finalizer));
    } else {
        finalizers.retain(|old| old != finalizer);
    }
    Some(json!({"metadata": {"finalizers": finalizers}}))
}

/// Adds or takes out `finalizer` of `object` where that changes it; whether it is so now.
async fn set_finalizer<O: Objects>(
    objects: &O,
    kind: Kind,
    object: &Value,
    finalizer: &str,
    present: bool,
) -> bool {
    match finalizer_patch(object, finalizer, present) {
        Some(patch) => objects.patch_of(kind, object, Part::Object, patch).await,
        None => true,
    }
}

fn is_deleting(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

/// The merge patch (RFC 7386) that turns `current` into `desired`: objects compared field by
/// field (a field gone is null), anything else replaced; none if they are the same.
fn merge_patch(current: &Value, desired: &Value) -> Option<Value> {
    let (Some(current), Some(desired)) = (current.as_object(), desired.as_object()) else {
        return (current != desired).then(|| desired.clone());
    };
    let mut patch = serde_json::Map::new();
    for (key, value) in desired {
        let changed = match current.get(key) {
            Some(old) => merge_patch(old, value),
            None => Some(value.clone()),
        };
        if let Some(changed) = changed {
            patch.insert(key.clone(), changed);
        }
    }
    for key in current.keys().filter(|key| !desired.contains_key(*key)) {
        patch.insert(key.clone(), Value::Null);
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}
