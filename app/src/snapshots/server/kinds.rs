//! Typed views of KubeVirt's VirtualMachineSnapshot, VirtualMachineSnapshotContent,
//! VirtualMachineRestore (`snapshot.kubevirt.io/v1beta1`) and VirtualMachineClone
//! (`clone.kubevirt.io/v1beta1`), modelled as the VM kinds are: only what Wukong reads, the
//! rest kept as it came.

use crate::vms::server::kubevirt::{
    kubevirt_resource, quantity_value_bytes, Condition, Rest, VirtualMachine,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const SNAPSHOT_GROUP: &str = "snapshot.kubevirt.io";
pub const CLONE_GROUP: &str = "clone.kubevirt.io";
pub const VERSION: &str = "v1beta1";

/// KubeVirt's `TypedLocalObjectReference`: what a snapshot, restore or clone points at.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypedRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    pub kind: String,
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualMachineSnapshot {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: SnapshotSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SnapshotStatus>,
    #[serde(flatten)]
    pub rest: Rest,
}
kubevirt_resource!(
    VirtualMachineSnapshot,
    SNAPSHOT_GROUP,
    VERSION,
    "VirtualMachineSnapshot",
    "virtualmachinesnapshots"
);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotSpec {
    #[serde(default)]
    pub source: TypedRef,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_to_use: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indications: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<SnapshotError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine_snapshot_content_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualMachineSnapshotContent {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ContentSpec,
    #[serde(flatten)]
    pub rest: Rest,
}
kubevirt_resource!(
    VirtualMachineSnapshotContent,
    SNAPSHOT_GROUP,
    VERSION,
    "VirtualMachineSnapshotContent",
    "virtualmachinesnapshotcontents"
);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ContentSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_backups: Option<Vec<Value>>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentSource {
    /// The VM as it was when the snapshot was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine: Option<VirtualMachine>,
    #[serde(flatten)]
    pub rest: Rest,
}

impl VirtualMachineSnapshotContent {
    /// What its volume backups hold: the sum of their claims' storage requests, each the
    /// request of the DataVolume it was taken of.
    pub fn size_bytes(&self) -> u64 {
        self.spec
            .volume_backups
            .iter()
            .flatten()
            .filter_map(|backup| {
                backup.pointer("/persistentVolumeClaim/spec/resources/requests/storage")
            })
            .filter_map(quantity_value_bytes)
            .sum()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualMachineRestore {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: RestoreSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RestoreStatus>,
    #[serde(flatten)]
    pub rest: Rest,
}
kubevirt_resource!(
    VirtualMachineRestore,
    SNAPSHOT_GROUP,
    VERSION,
    "VirtualMachineRestore",
    "virtualmachinerestores"
);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    #[serde(default)]
    pub target: TypedRef,
    #[serde(default)]
    pub virtual_machine_snapshot_name: String,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualMachineClone {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: CloneSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CloneStatus>,
    #[serde(flatten)]
    pub rest: Rest,
}
kubevirt_resource!(
    VirtualMachineClone,
    CLONE_GROUP,
    VERSION,
    "VirtualMachineClone",
    "virtualmachineclones"
);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CloneSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TypedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TypedRef>,
    #[serde(flatten)]
    pub rest: Rest,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CloneStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    #[serde(flatten)]
    pub rest: Rest,
}

/// The message of the latest condition that is not true (why something is not ready or
/// failed), else of the latest one.
pub fn latest_message(conditions: Option<&Vec<Condition>>) -> Option<String> {
    let conditions = conditions?;
    conditions
        .iter()
        .rev()
        .find(|condition| condition.status != "True")
        .or_else(|| conditions.last())
        .and_then(|condition| {
            condition
                .message
                .clone()
                .or_else(|| condition.reason.clone())
        })
        .filter(|message| !message.is_empty())
}
