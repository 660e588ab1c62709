//! The objects Wukong creates for snapshots, restores and clones, labelled as its VMs are.
//! Each passes the real CRD schema (tested with every variant in
//! `server/tests/api/snapshots/schemas.rs`).

use super::{
    kinds::{
        VirtualMachineClone, VirtualMachineRestore, VirtualMachineSnapshot, CLONE_GROUP,
        SNAPSHOT_GROUP, VERSION,
    },
    DESCRIPTION,
};
use crate::{
    snapshots::types::CloneSource,
    vms::{
        names::{Namespace, SnapshotName, VmName},
        server::{
            body::PROJECT_LABEL,
            kubevirt::{GROUP, MANAGED_BY},
        },
    },
};
use serde_json::{json, Value};

fn metadata(name: &str, namespace: &Namespace, project_id: &str) -> Value {
    json!({
        "name": name,
        "namespace": namespace,
        "labels": {MANAGED_BY: "wukong", PROJECT_LABEL: project_id},
    })
}

fn vm_ref(vm: &str) -> Value {
    json!({"apiGroup": GROUP, "kind": "VirtualMachine", "name": vm})
}

/// The snapshot `name` of the VM `vm`; a description is kept as an annotation.
pub fn snapshot(
    name: &SnapshotName,
    vm: &VmName,
    description: &str,
    namespace: &Namespace,
    project_id: &str,
) -> Result<VirtualMachineSnapshot, serde_json::Error> {
    let mut metadata = metadata(name.as_str(), namespace, project_id);
    if !description.is_empty() {
        metadata["annotations"] = json!({DESCRIPTION: description});
    }
    serde_json::from_value(json!({
        "apiVersion": format!("{SNAPSHOT_GROUP}/{VERSION}"),
        "kind": "VirtualMachineSnapshot",
        "metadata": metadata,
        "spec": {"source": vm_ref(vm.as_str())},
    }))
}

/// The restore `name` of the VM `vm` to its snapshot `snapshot`.
pub fn restore(
    name: &str,
    vm: &VmName,
    snapshot: &SnapshotName,
    namespace: &Namespace,
    project_id: &str,
) -> Result<VirtualMachineRestore, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": format!("{SNAPSHOT_GROUP}/{VERSION}"),
        "kind": "VirtualMachineRestore",
        "metadata": metadata(name, namespace, project_id),
        "spec": {"target": vm_ref(vm.as_str()), "virtualMachineSnapshotName": snapshot},
    }))
}

/// The clone `name` of `source` into the new VM `target`. KubeVirt copies the source's
/// labels to the new VM (its default label filter is `*`), Wukong's among them, so the new
/// VM is Wukong's VM of the same project.
pub fn clone(
    name: &str,
    source: &CloneSource,
    target: &VmName,
    namespace: &Namespace,
    project_id: &str,
) -> Result<VirtualMachineClone, serde_json::Error> {
    let source = match source {
        CloneSource::Vm(vm) => vm_ref(vm),
        CloneSource::Snapshot(snapshot) => json!({
            "apiGroup": SNAPSHOT_GROUP, "kind": "VirtualMachineSnapshot", "name": snapshot,
        }),
    };
    serde_json::from_value(json!({
        "apiVersion": format!("{CLONE_GROUP}/{VERSION}"),
        "kind": "VirtualMachineClone",
        "metadata": metadata(name, namespace, project_id),
        "spec": {"source": source, "target": vm_ref(target.as_str())},
    }))
}
