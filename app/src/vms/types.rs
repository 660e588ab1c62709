//! Virtual machines on the wire, and the rules both sides apply to them.

use serde::{Deserialize, Serialize};

/// KubeVirt's `printableStatus` of a VirtualMachine, every value it defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum VmStatus {
    Stopped,
    Provisioning,
    Starting,
    Running,
    Paused,
    Stopping,
    Terminating,
    CrashLoopBackOff,
    Migrating,
    Unknown,
    ErrorUnschedulable,
    ErrImagePull,
    ImagePullBackOff,
    ErrorPvcNotFound,
    DataVolumeError,
    WaitingForVolumeBinding,
    WaitingForReceiver,
}

/// How a status looks: its colour class and icon follow from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusTone {
    Running,
    Changing,
    Stopped,
    Paused,
    Failing,
}

impl VmStatus {
    pub const ALL: [VmStatus; 17] = [
        VmStatus::Stopped,
        VmStatus::Provisioning,
        VmStatus::Starting,
        VmStatus::Running,
        VmStatus::Paused,
        VmStatus::Stopping,
        VmStatus::Terminating,
        VmStatus::CrashLoopBackOff,
        VmStatus::Migrating,
        VmStatus::Unknown,
        VmStatus::ErrorUnschedulable,
        VmStatus::ErrImagePull,
        VmStatus::ImagePullBackOff,
        VmStatus::ErrorPvcNotFound,
        VmStatus::DataVolumeError,
        VmStatus::WaitingForVolumeBinding,
        VmStatus::WaitingForReceiver,
    ];

    /// KubeVirt's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            VmStatus::Stopped => "Stopped",
            VmStatus::Provisioning => "Provisioning",
            VmStatus::Starting => "Starting",
            VmStatus::Running => "Running",
            VmStatus::Paused => "Paused",
            VmStatus::Stopping => "Stopping",
            VmStatus::Terminating => "Terminating",
            VmStatus::CrashLoopBackOff => "CrashLoopBackOff",
            VmStatus::Migrating => "Migrating",
            VmStatus::Unknown => "Unknown",
            VmStatus::ErrorUnschedulable => "ErrorUnschedulable",
            VmStatus::ErrImagePull => "ErrImagePull",
            VmStatus::ImagePullBackOff => "ImagePullBackOff",
            VmStatus::ErrorPvcNotFound => "ErrorPvcNotFound",
            VmStatus::DataVolumeError => "DataVolumeError",
            VmStatus::WaitingForVolumeBinding => "WaitingForVolumeBinding",
            VmStatus::WaitingForReceiver => "WaitingForReceiver",
        }
    }

    /// The status KubeVirt reports as `text`; a VM without one yet is Stopped, as the CRD
    /// defaults it, and a value this version does not know is Unknown.
    pub fn parse(text: Option<&str>) -> VmStatus {
        match text {
            None | Some("") => VmStatus::Stopped,
            Some(text) => VmStatus::ALL
                .into_iter()
                .find(|status| status.as_str() == text)
                .unwrap_or(VmStatus::Unknown),
        }
    }

    pub fn tone(self) -> StatusTone {
        match self {
            VmStatus::Running => StatusTone::Running,
            VmStatus::Stopped => StatusTone::Stopped,
            VmStatus::Paused => StatusTone::Paused,
            VmStatus::Provisioning
            | VmStatus::Starting
            | VmStatus::Stopping
            | VmStatus::Terminating
            | VmStatus::Migrating
            | VmStatus::WaitingForVolumeBinding
            | VmStatus::WaitingForReceiver => StatusTone::Changing,
            VmStatus::CrashLoopBackOff
            | VmStatus::Unknown
            | VmStatus::ErrorUnschedulable
            | VmStatus::ErrImagePull
            | VmStatus::ImagePullBackOff
            | VmStatus::ErrorPvcNotFound
            | VmStatus::DataVolumeError => StatusTone::Failing,
        }
    }

    /// Whether KubeVirt accepts `action` in this status; buttons follow this, and the
    /// cluster still has the last word.
    pub fn allows(self, action: VmAction) -> bool {
        match action {
            VmAction::Start => self == VmStatus::Stopped,
            VmAction::Stop => !matches!(
                self,
                VmStatus::Stopped | VmStatus::Stopping | VmStatus::Terminating
            ),
            VmAction::ForceStop => !matches!(self, VmStatus::Stopped | VmStatus::Terminating),
            VmAction::Restart => matches!(self, VmStatus::Running | VmStatus::Paused),
            VmAction::Pause => self == VmStatus::Running,
            VmAction::Unpause => self == VmStatus::Paused,
        }
    }
}

/// A lifecycle action on a VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VmAction {
    Start,
    /// A graceful shutdown.
    Stop,
    /// Stop now, without waiting for the guest (grace period 0).
    ForceStop,
    Restart,
    Pause,
    Unpause,
}

impl VmAction {
    pub const ALL: [VmAction; 6] = [
        VmAction::Start,
        VmAction::Stop,
        VmAction::ForceStop,
        VmAction::Restart,
        VmAction::Pause,
        VmAction::Unpause,
    ];

    pub fn label(self) -> &'static str {
        match self {
            VmAction::Start => "Start",
            VmAction::Stop => "Stop",
            VmAction::ForceStop => "Force stop",
            VmAction::Restart => "Restart",
            VmAction::Pause => "Pause",
            VmAction::Unpause => "Unpause",
        }
    }

    /// Actions that interrupt a running guest ask for confirmation first.
    pub fn needs_confirmation(self) -> bool {
        matches!(
            self,
            VmAction::Stop | VmAction::ForceStop | VmAction::Restart
        )
    }
}

/// One row of the VM list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSummary {
    /// The Kubernetes namespace: with `name`, what live events name the VM by.
    pub namespace: String,
    pub name: String,
    /// The project's slug and name, filled in for the user who asks; empty in live events,
    /// which the page matches to its projects by namespace.
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub project_name: String,
    pub status: VmStatus,
    pub cpus: u32,
    pub memory_mib: u64,
    /// The first IP address of the running instance.
    pub ip: Option<String>,
    pub node: Option<String>,
    /// Creation time, unix milliseconds.
    pub created_ms: i64,
}

/// The page of the VM `name` of the project `project` (its slug).
pub fn vm_href(project: &str, name: &str) -> String {
    format!(
        "/projects/{}/vms/{}",
        crate::url::percent_encode(project),
        crate::url::percent_encode(name)
    )
}

/// A condition of the VM or its instance, as KubeVirt reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmCondition {
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    /// As KubeVirt sends it (RFC 3339), when it sends one.
    pub last_transition: Option<String>,
}

/// Everything the VM page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmDetail {
    pub summary: VmSummary,
    /// The VM's project, with what the user may do there.
    pub project: crate::projects::types::ProjectScope,
    pub run_strategy: String,
    /// Where each disk comes from, e.g. "rootdisk: container disk quay.io/…".
    pub disks: Vec<String>,
    pub conditions: Vec<VmCondition>,
    /// Names of the DataVolumes created with the VM, which a delete may keep.
    pub data_volumes: Vec<String>,
}

/// Columns the VM list sorts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VmSort {
    #[default]
    Name,
    Project,
    Status,
    Cpus,
    Memory,
    Age,
}

impl VmSort {
    pub const ALL: [VmSort; 6] = [
        VmSort::Name,
        VmSort::Project,
        VmSort::Status,
        VmSort::Cpus,
        VmSort::Memory,
        VmSort::Age,
    ];

    pub fn key(self) -> &'static str {
        match self {
            VmSort::Name => "name",
            VmSort::Project => "project",
            VmSort::Status => "status",
            VmSort::Cpus => "cpus",
            VmSort::Memory => "memory",
            VmSort::Age => "age",
        }
    }

    pub fn from_key(key: &str) -> VmSort {
        VmSort::ALL
            .into_iter()
            .find(|sort| sort.key() == key)
            .unwrap_or_default()
    }
}

/// What part of the VM list to show.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmQuery {
    /// Part of the name, any case.
    pub name: String,
    /// Only the VMs of this project (its slug); all the user's projects when empty.
    #[serde(default)]
    pub project: String,
    pub status: Option<VmStatus>,
    pub sort: VmSort,
    pub descending: bool,
    /// From 0.
    pub page: usize,
}

/// Rows shown per page of the VM list.
pub const VM_PAGE_SIZE: usize = 50;

/// One page of the VM list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmPage {
    pub items: Vec<VmSummary>,
    /// Every project whose VMs the user may see, for the project filter and for placing
    /// the VMs live events report.
    pub projects: Vec<crate::projects::types::ProjectScope>,
    /// Rows matching the filter, over all pages.
    pub total: usize,
    pub page: usize,
}

/// What happens to the disks a VM imported when it is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskDisposal {
    Delete,
    Keep,
}
