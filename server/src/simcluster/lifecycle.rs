//! KubeVirt's VM state machine, simulated: `runStrategy` decides whether a VM should run,
//! and a controller moves it Stopped → Starting → Running and Running → Stopping → Stopped
//! after configurable delays, creating and deleting its VirtualMachineInstance (with an IP
//! address and a node name). A VM that asks for more than the simulated node has ends in
//! ErrorUnschedulable. The `subresources.kubevirt.io` actions (start, stop, restart, pause,
//! unpause) answer as virt-api does: 202 or 200 with an empty body, 409 when the state does
//! not allow the action.

use super::{store::Key, Sim};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

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

fn get(sim: &Sim, key: &Key) -> Option<Value> {
    sim.store.lock().ok()?.get(key).cloned()
}

/// Changes a stored object under a new resourceVersion (and announces it to watches).
fn update(sim: &Sim, key: &Key, change: impl FnOnce(&mut Value)) {
    let Ok(mut store) = sim.store.lock() else {
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

fn set_status(sim: &Sim, vm: &Key, printable: &str, running: bool) {
    update(sim, vm, |object| {
        let status = object
            .as_object_mut()
            .map(|fields| fields.entry("status").or_insert_with(|| json!({})));
        if let Some(status) = status {
            status["printableStatus"] = json!(printable);
            status["created"] = json!(running);
            status["ready"] = json!(running && printable == "Running");
            status["conditions"] = json!([{
                "type": "Ready",
                "status": if running && printable == "Running" { "True" } else { "False" },
                "reason": printable,
                "lastProbeTime": null,
                "lastTransitionTime": null,
            }]);
        }
    });
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

fn new_vmi(vm: &Value, namespace: &str, name: &str, address_seed: u64) -> Value {
    let labels = vm
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let ip = format!(
        "10.244.{}.{}",
        (address_seed / 250) % 250,
        address_seed % 250 + 2
    );
    json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "uid": uuid::Uuid::new_v4().to_string(),
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

fn put_new(sim: &Sim, key: Key, object: Value) {
    let Ok(mut store) = sim.store.lock() else {
        return;
    };
    let version = store.bump();
    let mut object = object;
    object["metadata"]["resourceVersion"] = Value::String(version.to_string());
    if let Err(error) = store.put(key, object) {
        tracing::error!(%error, "simulated cluster: cannot save state");
    }
}

fn remove(sim: &Sim, key: &Key) {
    if let Ok(mut store) = sim.store.lock() {
        if store.get(key).is_some() {
            store.bump();
            if let Err(error) = store.remove(key) {
                tracing::error!(%error, "simulated cluster: cannot save state");
            }
        }
    }
}

/// Brings a VM's instance in line with what its spec asks for, after the delays a real
/// cluster takes. Called after every change of a VM.
pub fn reconcile(sim: &Arc<Sim>, namespace: &str, name: &str) {
    let vm_key = key(VM, namespace, name);
    let vmi_key = key(VMI, namespace, name);
    let Some(vm) = get(sim, &vm_key) else {
        remove(sim, &vmi_key);
        return;
    };
    let has_vmi = get(sim, &vmi_key).is_some();
    match (wants_running(&vm), has_vmi, printable(&vm)) {
        (true, false, "Starting" | "ErrorUnschedulable") | (true, true, _) => {}
        (true, false, _) => {
            set_status(sim, &vm_key, "Starting", false);
            later(sim, namespace, name, finish_start);
        }
        (false, true, "Stopping") => {}
        (false, true, _) => {
            set_status(sim, &vm_key, "Stopping", true);
            later(sim, namespace, name, finish_stop);
        }
        (false, false, "Stopped") => {}
        (false, false, _) => set_status(sim, &vm_key, "Stopped", false),
    }
}

fn later(sim: &Arc<Sim>, namespace: &str, name: &str, step: fn(&Arc<Sim>, &str, &str)) {
    let (sim, namespace, name) = (sim.clone(), namespace.to_owned(), name.to_owned());
    tokio::spawn(async move {
        tokio::time::sleep(sim.transition_delay).await;
        step(&sim, &namespace, &name);
    });
}

fn finish_start(sim: &Arc<Sim>, namespace: &str, name: &str) {
    let vm_key = key(VM, namespace, name);
    let Some(vm) = get(sim, &vm_key) else { return };
    if !wants_running(&vm) || printable(&vm) != "Starting" {
        return reconcile(sim, namespace, name);
    }
    let (cpus, memory) = demand(&vm);
    if cpus > NODE_CPUS || memory > NODE_MEMORY_BYTES {
        update(sim, &vm_key, |object| {
            object["status"]["printableStatus"] = json!("ErrorUnschedulable");
            object["status"]["conditions"] = json!([{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": format!("0/1 nodes are available: 1 Insufficient resources (the node has {NODE_CPUS} CPUs and 64Gi of memory)."),
                "lastProbeTime": null, "lastTransitionTime": null,
            }]);
        });
        return;
    }
    let seed = sim
        .store
        .lock()
        .map(|store| store.resource_version())
        .unwrap_or_default();
    put_new(
        sim,
        key(VMI, namespace, name),
        new_vmi(&vm, namespace, name, seed),
    );
    set_status(sim, &vm_key, "Running", true);
}

fn finish_stop(sim: &Arc<Sim>, namespace: &str, name: &str) {
    remove(sim, &key(VMI, namespace, name));
    let vm_key = key(VM, namespace, name);
    if get(sim, &vm_key).is_some() {
        set_status(sim, &vm_key, "Stopped", false);
        reconcile(sim, namespace, name);
    }
}

fn conflict(message: impl Into<String>) -> Refusal {
    (StatusCode::CONFLICT, "Conflict", message.into())
}

/// `PUT …/virtualmachines/{name}/{action}` and `…/virtualmachineinstances/{name}/{action}`.
pub fn act(
    sim: &Arc<Sim>,
    plural: &str,
    namespace: &str,
    name: &str,
    action: &str,
    body: &Value,
) -> Result<StatusCode, Refusal> {
    let vm_key = key(VM, namespace, name);
    let vmi_key = key(VMI, namespace, name);
    let not_found = |what: &str| {
        (
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{what} \"{name}\" not found"),
        )
    };
    let has_vmi = get(sim, &vmi_key).is_some();
    match (plural, action) {
        ("virtualmachines", "start") => {
            let vm = get(sim, &vm_key).ok_or_else(|| not_found(VM))?;
            if has_vmi || printable(&vm) == "Starting" {
                return Err(conflict("VM is already running"));
            }
            update(sim, &vm_key, |object| {
                object["spec"]["runStrategy"] = json!("Always")
            });
            reconcile(sim, namespace, name);
            Ok(StatusCode::ACCEPTED)
        }
        ("virtualmachines", "stop") => {
            let vm = get(sim, &vm_key).ok_or_else(|| not_found(VM))?;
            let force = body.get("gracePeriod").and_then(Value::as_i64) == Some(0);
            if !has_vmi && printable(&vm) != "Starting" && !force {
                return Err(conflict("VM is not running"));
            }
            update(sim, &vm_key, |object| {
                object["spec"]["runStrategy"] = json!("Halted")
            });
            if force {
                remove(sim, &vmi_key);
                set_status(sim, &vm_key, "Stopped", false);
            } else {
                reconcile(sim, namespace, name);
            }
            Ok(StatusCode::ACCEPTED)
        }
        ("virtualmachines", "restart") => {
            get(sim, &vm_key).ok_or_else(|| not_found(VM))?;
            if !has_vmi {
                return Err(conflict("VM is not running"));
            }
            set_status(sim, &vm_key, "Stopping", true);
            later(sim, namespace, name, finish_stop);
            Ok(StatusCode::ACCEPTED)
        }
        ("virtualmachineinstances", "pause" | "unpause") => {
            let vm = get(sim, &vm_key);
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
            update(sim, &vmi_key, |object| {
                object["status"]["conditions"] = json!([
                    {"type": "Ready", "status": if pausing { "False" } else { "True" }, "lastProbeTime": null, "lastTransitionTime": null},
                    {"type": "Paused", "status": if pausing { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": null},
                ]);
            });
            set_status(
                sim,
                &vm_key,
                if pausing { "Paused" } else { "Running" },
                true,
            );
            Ok(StatusCode::OK)
        }
        _ => Err((
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no action {action} on {plural}"),
        )),
    }
}
