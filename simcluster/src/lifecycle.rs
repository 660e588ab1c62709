//! KubeVirt's VM state machine, simulated: `runStrategy` decides whether a VM should run,
//! and a controller moves it Stopped → Starting → Running and Running → Stopping → Stopped
//! after configurable delays, creating and deleting its VirtualMachineInstance (with an IP
//! address and a node name). A VM that asks for more than the simulated node has ends in
//! ErrorUnschedulable. The `subresources.kubevirt.io` actions (start, stop, restart, pause,
//! unpause) answer as virt-api does: 202 or 200 with an empty body, 409 when the state does
//! not allow the action.
//!
//! The machine runs over [`Objects`]: the built-in cluster's own store ([`Embedded`]), or
//! any API server (`standin`), where it plays KubeVirt for a real control plane.

use super::{api::merge, store::Key, Sim};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::{future::Future, sync::Arc, time::Duration};

pub(super) const VM: &str = "virtualmachines.kubevirt.io";
pub(super) const VMI: &str = "virtualmachineinstances.kubevirt.io";
/// The simulated node.
pub const NODE_NAME: &str = "sim-node-1";
const NODE_CPUS: u64 = 16;
const NODE_MEMORY_BYTES: u64 = 64 << 30;

/// A refused action: status, Kubernetes reason and message.
pub type Refusal = (StatusCode, &'static str, String);

pub(super) fn key(resource: &str, namespace: &str, name: &str) -> Key {
    Key {
        resource: resource.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// Where the state machine reads and writes VMs and VMIs. Writes that fail are logged by
/// the implementation: a controller retries on the next change, as KubeVirt's does.
pub trait Objects: Clone + Send + Sync + 'static {
    fn vm(&self, namespace: &str, name: &str) -> impl Future<Output = Option<Value>> + Send;
    fn vmi(&self, namespace: &str, name: &str) -> impl Future<Output = Option<Value>> + Send;
    /// Merges `spec` into the VM's spec.
    fn patch_vm_spec(
        &self,
        namespace: &str,
        name: &str,
        spec: Value,
    ) -> impl Future<Output = ()> + Send;
    /// Merges `status` into the VM's status, as virt-controller writes it.
    fn patch_vm_status(
        &self,
        namespace: &str,
        name: &str,
        status: Value,
    ) -> impl Future<Output = ()> + Send;
    /// Merges `status` into the VMI's status (a VMI has no status subresource).
    fn patch_vmi_status(
        &self,
        namespace: &str,
        name: &str,
        status: Value,
    ) -> impl Future<Output = ()> + Send;
    fn create_vmi(&self, vmi: Value) -> impl Future<Output = ()> + Send;
    fn delete_vmi(&self, namespace: &str, name: &str) -> impl Future<Output = ()> + Send;
    /// How long each step of a start or stop takes.
    fn transition_delay(&self) -> Duration;
}

/// The built-in cluster's store.
#[derive(Clone)]
pub struct Embedded(pub Arc<Sim>);

impl Embedded {
    fn get(&self, key: &Key) -> Option<Value> {
        self.0.store.lock().ok()?.get(key).cloned()
    }

    /// Changes a stored object under a new resourceVersion (and announces it to watches).
    fn update(&self, key: &Key, change: impl FnOnce(&mut Value)) {
        let Ok(mut store) = self.0.store.lock() else {
            return;
        };
        let Some(mut object) = store.get(key).cloned() else {
            return;
        };
        change(&mut object);
        let version = store.bump();
        object["metadata"]["resourceVersion"] = Value::String(version.to_string());
        if let Err(error) = store.put(key.clone(), object) {
            tracing::error!(%error, "simulated cluster: cannot save state");
        }
    }
}

impl Objects for Embedded {
    async fn vm(&self, namespace: &str, name: &str) -> Option<Value> {
        self.get(&key(VM, namespace, name))
    }

    async fn vmi(&self, namespace: &str, name: &str) -> Option<Value> {
        self.get(&key(VMI, namespace, name))
    }

    async fn patch_vm_spec(&self, namespace: &str, name: &str, spec: Value) {
        self.update(&key(VM, namespace, name), |object| {
            merge(object, &json!({ "spec": spec }))
        });
    }

    async fn patch_vm_status(&self, namespace: &str, name: &str, status: Value) {
        self.update(&key(VM, namespace, name), |object| {
            merge(object, &json!({ "status": status }))
        });
    }

    async fn patch_vmi_status(&self, namespace: &str, name: &str, status: Value) {
        self.update(&key(VMI, namespace, name), |object| {
            merge(object, &json!({ "status": status }))
        });
    }

    async fn create_vmi(&self, mut vmi: Value) {
        let Ok(mut store) = self.0.store.lock() else {
            return;
        };
        let field = |pointer: &str| {
            vmi.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let key = key(VMI, &field("/metadata/namespace"), &field("/metadata/name"));
        let version = store.bump();
        vmi["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        vmi["metadata"]["creationTimestamp"] = json!(super::api::now_rfc3339());
        vmi["metadata"]["resourceVersion"] = Value::String(version.to_string());
        if let Err(error) = store.put(key, vmi) {
            tracing::error!(%error, "simulated cluster: cannot save state");
        }
    }

    async fn delete_vmi(&self, namespace: &str, name: &str) {
        let key = key(VMI, namespace, name);
        if let Ok(mut store) = self.0.store.lock() {
            if store.get(&key).is_some() {
                store.bump();
                if let Err(error) = store.remove(&key) {
                    tracing::error!(%error, "simulated cluster: cannot save state");
                }
            }
        }
    }

    fn transition_delay(&self) -> Duration {
        self.0.transition_delay
    }
}

fn status(printable: &str, running: bool) -> Value {
    let ready = running && printable == "Running";
    json!({
        "printableStatus": printable,
        "created": running,
        "ready": ready,
        "conditions": [{
            "type": "Ready",
            "status": if ready { "True" } else { "False" },
            "reason": printable,
            "lastProbeTime": null,
            "lastTransitionTime": null,
        }],
    })
}

fn printable(vm: &Value) -> &str {
    vm.pointer("/status/printableStatus")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn wants_running(vm: &Value) -> bool {
    matches!(
        vm.pointer("/spec/runStrategy").and_then(Value::as_str),
        Some("Always" | "RerunOnFailure" | "Once")
    ) || vm.pointer("/spec/running").and_then(Value::as_bool) == Some(true)
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

/// vCPUs and memory bytes the VM asks for.
fn demand(vm: &Value) -> (u64, u64) {
    let domain = vm
        .pointer("/spec/template/spec/domain")
        .cloned()
        .unwrap_or_default();
    let count = |field: &str| {
        domain
            .pointer(&format!("/cpu/{field}"))
            .and_then(Value::as_u64)
            .unwrap_or(1)
    };
    let cpus = count("sockets") * count("cores") * count("threads");
    let memory = domain
        .pointer("/memory/guest")
        .or_else(|| domain.pointer("/resources/requests/memory"))
        .and_then(Value::as_str)
        .and_then(quantity_bytes)
        .unwrap_or(0);
    (cpus, memory)
}

/// The VMI of `vm`, as virt-controller makes it (`setupVMIFromVM`,
/// pkg/virt-controller/watch/vm/): the template's labels and spec, owned by the VM; with the
/// status virt-handler would report once it runs.
fn new_vmi(vm: &Value, namespace: &str, name: &str) -> Value {
    let labels = vm
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    // An address that differs between VMs and stays put for one VM's life.
    let seed = vm
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or(name)
        .bytes()
        .fold(7u64, |hash, byte| {
            hash.wrapping_mul(31).wrapping_add(u64::from(byte))
        });
    let ip = format!("10.244.{}.{}", (seed / 250) % 250, seed % 250 + 2);
    json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "name": name,
                "uid": vm.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": vm.pointer("/spec/template/spec").cloned().unwrap_or_else(|| json!({})),
        "status": {
            "phase": "Running",
            "nodeName": NODE_NAME,
            "interfaces": [{"name": "default", "ipAddress": ip, "ipAddresses": [ip]}],
            "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": null}],
        },
    })
}

/// Brings a VM's instance in line with what its spec asks for, after the delays a real
/// cluster takes. Called after every change of a VM.
pub async fn reconcile<O: Objects>(objects: &O, namespace: &str, name: &str) {
    let Some(vm) = objects.vm(namespace, name).await else {
        objects.delete_vmi(namespace, name).await;
        return;
    };
    let has_vmi = objects.vmi(namespace, name).await.is_some();
    match (wants_running(&vm), has_vmi, printable(&vm)) {
        (true, false, "Starting" | "ErrorUnschedulable") | (true, true, _) => {}
        (true, false, _) => {
            objects
                .patch_vm_status(namespace, name, status("Starting", false))
                .await;
            later(objects, namespace, name, Step::FinishStart);
        }
        (false, true, "Stopping") => {}
        (false, true, _) => {
            objects
                .patch_vm_status(namespace, name, status("Stopping", true))
                .await;
            later(objects, namespace, name, Step::FinishStop);
        }
        (false, false, "Stopped") => {}
        (false, false, _) => {
            objects
                .patch_vm_status(namespace, name, status("Stopped", false))
                .await
        }
    }
}

#[derive(Clone, Copy)]
enum Step {
    FinishStart,
    FinishStop,
}

fn later<O: Objects>(objects: &O, namespace: &str, name: &str, step: Step) {
    let (objects, namespace, name) = (objects.clone(), namespace.to_owned(), name.to_owned());
    tokio::spawn(async move {
        tokio::time::sleep(objects.transition_delay()).await;
        match step {
            Step::FinishStart => finish_start(&objects, &namespace, &name).await,
            Step::FinishStop => finish_stop(&objects, &namespace, &name).await,
        }
    });
}

async fn finish_start<O: Objects>(objects: &O, namespace: &str, name: &str) {
    let Some(vm) = objects.vm(namespace, name).await else {
        return;
    };
    if !wants_running(&vm) || printable(&vm) != "Starting" {
        return Box::pin(reconcile(objects, namespace, name)).await;
    }
    let (cpus, memory) = demand(&vm);
    if cpus > NODE_CPUS || memory > NODE_MEMORY_BYTES {
        let unschedulable = json!({
            "printableStatus": "ErrorUnschedulable",
            "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": format!("0/1 nodes are available: 1 Insufficient resources (the node has {NODE_CPUS} CPUs and 64Gi of memory)."),
                "lastProbeTime": null, "lastTransitionTime": null,
            }],
        });
        objects
            .patch_vm_status(namespace, name, unschedulable)
            .await;
        return;
    }
    objects.create_vmi(new_vmi(&vm, namespace, name)).await;
    objects
        .patch_vm_status(namespace, name, status("Running", true))
        .await;
}

async fn finish_stop<O: Objects>(objects: &O, namespace: &str, name: &str) {
    objects.delete_vmi(namespace, name).await;
    if objects.vm(namespace, name).await.is_some() {
        objects
            .patch_vm_status(namespace, name, status("Stopped", false))
            .await;
        Box::pin(reconcile(objects, namespace, name)).await;
    }
}

fn conflict(message: impl Into<String>) -> Refusal {
    (StatusCode::CONFLICT, "Conflict", message.into())
}

/// `PUT …/virtualmachines/{name}/{action}` and `…/virtualmachineinstances/{name}/{action}`.
pub async fn act<O: Objects>(
    objects: &O,
    plural: &str,
    namespace: &str,
    name: &str,
    action: &str,
    body: &Value,
) -> Result<StatusCode, Refusal> {
    let not_found = |what: &str| {
        (
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{what} \"{name}\" not found"),
        )
    };
    let vm = objects.vm(namespace, name).await;
    let has_vmi = objects.vmi(namespace, name).await.is_some();
    match (plural, action) {
        ("virtualmachines", "start") => {
            let vm = vm.ok_or_else(|| not_found(VM))?;
            if has_vmi || printable(&vm) == "Starting" {
                return Err(conflict("VM is already running"));
            }
            objects
                .patch_vm_spec(namespace, name, json!({"runStrategy": "Always"}))
                .await;
            reconcile(objects, namespace, name).await;
            Ok(StatusCode::ACCEPTED)
        }
        ("virtualmachines", "stop") => {
            let vm = vm.ok_or_else(|| not_found(VM))?;
            let force = body.get("gracePeriod").and_then(Value::as_i64) == Some(0);
            if !has_vmi && printable(&vm) != "Starting" && !force {
                return Err(conflict("VM is not running"));
            }
            objects
                .patch_vm_spec(namespace, name, json!({"runStrategy": "Halted"}))
                .await;
            if force {
                objects.delete_vmi(namespace, name).await;
                objects
                    .patch_vm_status(namespace, name, status("Stopped", false))
                    .await;
            } else {
                reconcile(objects, namespace, name).await;
            }
            Ok(StatusCode::ACCEPTED)
        }
        ("virtualmachines", "restart") => {
            vm.ok_or_else(|| not_found(VM))?;
            if !has_vmi {
                return Err(conflict("VM is not running"));
            }
            objects
                .patch_vm_status(namespace, name, status("Stopping", true))
                .await;
            later(objects, namespace, name, Step::FinishStop);
            Ok(StatusCode::ACCEPTED)
        }
        ("virtualmachineinstances", "pause" | "unpause") => {
            if !has_vmi {
                return Err(conflict("VMI is not running"));
            }
            let pausing = action == "pause";
            let paused = vm.as_ref().is_some_and(|vm| printable(vm) == "Paused");
            if pausing == paused {
                return Err(conflict(if pausing {
                    "VMI is already paused"
                } else {
                    "VMI is not paused"
                }));
            }
            let conditions = json!({"conditions": [
                {"type": "Ready", "status": if pausing { "False" } else { "True" }, "lastProbeTime": null, "lastTransitionTime": null},
                {"type": "Paused", "status": if pausing { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": null},
            ]});
            objects.patch_vmi_status(namespace, name, conditions).await;
            let now = if pausing { "Paused" } else { "Running" };
            objects
                .patch_vm_status(namespace, name, status(now, true))
                .await;
            Ok(StatusCode::OK)
        }
        _ => Err((
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no action {action} on {plural}"),
        )),
    }
}
