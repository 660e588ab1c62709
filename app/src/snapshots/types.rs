//! Snapshot, restore and clone wire types, shared by the pages and the server.

use serde::{Deserialize, Serialize};

/// One VirtualMachineSnapshot as the pages list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    pub name: String,
    /// The VM it was taken of.
    pub vm: String,
    pub description: String,
    /// KubeVirt's phase: `InProgress`, `Succeeded`, `Failed`, or `Unknown` before the
    /// controller has looked.
    pub phase: String,
    pub ready: bool,
    /// How it was taken: `Online`, `GuestAgent`, `NoGuestAgent`, …; none when the VM was
    /// stopped.
    pub indications: Vec<String>,
    /// The persistent disks it holds, in bytes; `None` until its content exists.
    pub size_bytes: Option<u64>,
    /// When the snapshot was asked for.
    pub created_ms: i64,
    /// When KubeVirt took it (RFC 3339), once it has.
    pub taken_at: Option<String>,
    /// Why it failed or is not ready, as KubeVirt says it.
    pub error: Option<String>,
    /// Its delete was accepted and the cluster is removing it.
    pub deleting: bool,
}

impl SnapshotSummary {
    pub fn failed(&self) -> bool {
        self.phase == "Failed"
    }
}

/// One VirtualMachineRestore: a VM being put back to a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreSummary {
    pub name: String,
    pub vm: String,
    pub snapshot: String,
    pub complete: bool,
    /// Where it is: the reason and message of KubeVirt's latest condition.
    pub progress: String,
    /// When it completed (RFC 3339).
    pub restored_at: Option<String>,
    pub created_ms: i64,
}

/// One VirtualMachineClone: a new VM made from a VM or a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneSummary {
    pub name: String,
    pub source: CloneSource,
    /// The new VM's name.
    pub target: String,
    /// KubeVirt's phase: `SnapshotInProgress`, `CreatingTargetVM`, `RestoreInProgress`,
    /// `Succeeded`, `Failed`, or `Unknown` before the controller has looked.
    pub phase: String,
    /// Why it failed, as KubeVirt says it.
    pub error: Option<String>,
    pub created_ms: i64,
}

/// What a clone copies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CloneSource {
    Vm(String),
    Snapshot(String),
}

impl CloneSource {
    pub fn name(&self) -> &str {
        match self {
            CloneSource::Vm(name) | CloneSource::Snapshot(name) => name,
        }
    }

    /// How pages and audit records say it: `VM "web-1"`, `snapshot "before-upgrade"`.
    pub fn what(&self) -> String {
        match self {
            CloneSource::Vm(name) => format!("VM \"{name}\""),
            CloneSource::Snapshot(name) => format!("snapshot \"{name}\""),
        }
    }
}

/// The snapshots, restores and clones of a VM, or of a whole project; newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotList {
    pub snapshots: Vec<SnapshotSummary>,
    pub restores: Vec<RestoreSummary>,
    pub clones: Vec<CloneSummary>,
}

/// The longest description kept with a snapshot.
pub const MAX_DESCRIPTION: usize = 500;
