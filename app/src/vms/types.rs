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
}

/// KubeVirt's run strategies (`spec.runStrategy`): whether a VM should run, and what starts
/// and stops it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStrategy {
    Always,
    Halted,
    Manual,
    RerunOnFailure,
    Once,
    WaitAsReceiver,
}

impl RunStrategy {
    /// The strategies a new VM may be created with.
    pub const CHOICES: [RunStrategy; 4] = [
        RunStrategy::Halted,
        RunStrategy::Always,
        RunStrategy::RerunOnFailure,
        RunStrategy::Manual,
    ];

    /// KubeVirt's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStrategy::Always => "Always",
            RunStrategy::Halted => "Halted",
            RunStrategy::Manual => "Manual",
            RunStrategy::RerunOnFailure => "RerunOnFailure",
            RunStrategy::Once => "Once",
            RunStrategy::WaitAsReceiver => "WaitAsReceiver",
        }
    }

    /// The strategy KubeVirt names `text`; `None` for one this version does not know.
    pub fn parse(text: &str) -> Option<RunStrategy> {
        [
            RunStrategy::Always,
            RunStrategy::Halted,
            RunStrategy::Manual,
            RunStrategy::RerunOnFailure,
            RunStrategy::Once,
            RunStrategy::WaitAsReceiver,
        ]
        .into_iter()
        .find(|strategy| strategy.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            RunStrategy::Always => "Always running: start now, start again whenever it stops",
            RunStrategy::Halted => "Stopped: create it stopped, start it later",
            RunStrategy::Manual => "Manual: only start and stop when asked",
            RunStrategy::RerunOnFailure => "Start now, restart only after a failure",
            RunStrategy::Once => "Once: run until the guest stops, then stay stopped",
            RunStrategy::WaitAsReceiver => "Waiting to receive a migration",
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
    /// `None` for a strategy this version does not know: the buttons then follow the status
    /// alone, and the cluster has the last word.
    pub run_strategy: Option<RunStrategy>,
    pub cpus: u32,
    pub memory_mib: u64,
    /// The first IP address of the running instance.
    pub ip: Option<String>,
    /// Whether the guest agent is connected: not shown in the list, but its coming and going
    /// changes what the VM page shows, so it makes a live event.
    #[serde(default)]
    pub guest_agent: bool,
    pub node: Option<String>,
    /// Creation time, unix milliseconds.
    pub created_ms: i64,
}

impl VmSummary {
    /// Whether virt-api accepts `action` on this VM, given its run strategy and status:
    /// buttons follow this, and the cluster still has the last word. The rules are those of
    /// KubeVirt's `pkg/virt-api/rest/lifecycle.go` (`StartVMRequestHandler`,
    /// `StopVMRequestHandler`, `RestartVMRequestHandler`, `PauseVMIRequestHandler`,
    /// `UnpauseVMIRequestHandler`), where an instance that is not final runs.
    pub fn allows(&self, action: VmAction) -> bool {
        use RunStrategy::{Always, Halted, Once, WaitAsReceiver};
        use VmStatus::{Paused, Running, Stopped, Stopping, Terminating};
        let status = self.status;
        // No instance yet, or none any more (KubeVirt holds it back while disks provision).
        let without_instance = matches!(
            status,
            Stopped
                | Terminating
                | VmStatus::Provisioning
                | VmStatus::ErrorPvcNotFound
                | VmStatus::DataVolumeError
                | VmStatus::WaitingForVolumeBinding
        );
        match (action, self.run_strategy) {
            // These start by themselves: virt-api refuses a start request.
            (VmAction::Start, Some(Always | Once | WaitAsReceiver)) => false,
            (VmAction::Start, _) => status == Stopped,
            // Stopped by changing the strategy to Halted, with or without an instance.
            (VmAction::Stop, Some(Always | Once) | None) => {
                !matches!(status, Stopped | Stopping | Terminating)
            }
            // Halted takes only a shorter grace period (a force stop) of a stopping instance.
            (VmAction::Stop, Some(Halted | WaitAsReceiver)) => false,
            // Manual and RerunOnFailure stop an instance that exists.
            (VmAction::Stop, _) => !without_instance && status != Stopping,
            (VmAction::ForceStop, Some(Always | Once) | None) => {
                !matches!(status, Stopped | Terminating)
            }
            (VmAction::ForceStop, Some(WaitAsReceiver)) => false,
            (VmAction::ForceStop, _) => !without_instance,
            (VmAction::Restart, Some(Halted | Once | WaitAsReceiver)) => false,
            (VmAction::Restart, _) => matches!(status, Running | Paused),
            (VmAction::Pause, _) => status == Running,
            (VmAction::Unpause, _) => status == Paused,
        }
    }
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
    /// The running instance's network interfaces, as KubeVirt reports them.
    pub interfaces: Vec<VmInterface>,
    /// What the guest agent says of the operating system; `None` without an agent.
    pub guest_os: Option<GuestOs>,
    /// The import of each imported disk.
    pub imports: Vec<DiskImport>,
    /// The cluster's events about the VM, its instance and its disks, newest first.
    pub events: Vec<VmEvent>,
    /// Why events and imports could not be read, when they could not: the rest of the page
    /// still shows.
    pub activity_error: Option<String>,
}

/// A network interface of a running VM (KubeVirt's `status.interfaces`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmInterface {
    /// The network's name in the VM's spec.
    pub network: String,
    /// The name inside the guest (`eth0`), once the guest agent reports it.
    pub guest_name: Option<String>,
    pub mac: Option<String>,
    pub ips: Vec<String>,
}

/// The guest's operating system, as its agent reports it (`status.guestOSInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestOs {
    /// e.g. "Fedora Linux 41 (Cloud Edition)".
    pub name: String,
    pub kernel: String,
}

/// The import of a disk image into a DataVolume (CDI's `status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskImport {
    pub name: String,
    /// CDI's phase: Pending, ImportScheduled, ImportInProgress, Succeeded, Failed, …
    pub phase: String,
    /// Whole percent done, when CDI reports a number.
    pub percent: Option<u8>,
    /// Why it is not progressing, when CDI says (its Running condition).
    pub problem: Option<String>,
}

impl DiskImport {
    /// Whether the page should keep watching it.
    pub fn in_progress(&self) -> bool {
        !matches!(self.phase.as_str(), "Succeeded" | "Failed")
    }
}

/// A Kubernetes event about the VM or something of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmEvent {
    /// The kind of object it is about: VirtualMachine, VirtualMachineInstance, DataVolume.
    pub object_kind: String,
    pub object_name: String,
    pub reason: String,
    pub message: String,
    pub warning: bool,
    /// How often it happened.
    pub count: u32,
    /// When it last happened, RFC 3339.
    pub last_seen: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::{RunStrategy, VmAction, VmStatus, VmSummary};

    fn vm(run_strategy: RunStrategy, status: VmStatus) -> VmSummary {
        VmSummary {
            namespace: "ns".to_owned(),
            name: "web-1".to_owned(),
            project: String::new(),
            project_name: String::new(),
            status,
            run_strategy: Some(run_strategy),
            cpus: 1,
            memory_mib: 512,
            ip: None,
            guest_agent: false,
            node: None,
            created_ms: 0,
        }
    }

    /// The buttons offer what virt-api accepts (kubevirt/kubevirt v1.9.0
    /// `pkg/virt-api/rest/lifecycle.go`): per run strategy and status, the actions allowed,
    /// in the order of `VmAction::ALL` (start, stop, force stop, restart, pause, unpause).
    #[test]
    fn buttons_follow_the_run_strategy_as_virt_api_does() {
        use RunStrategy::{Always, Halted, Manual, Once, RerunOnFailure};
        use VmStatus::{Paused, Running, Stopped, Stopping, Terminating};
        let cases = [
            // Always starts by itself; stop turns it Halted.
            (Always, Stopped, "......"),
            (Always, Running, ".SFRP."),
            (Always, Paused, ".SFR.U"),
            (Always, VmStatus::ErrorUnschedulable, ".SF..."),
            (Always, Stopping, "..F..."),
            // Halted: start only; a stopping instance may only be forced off.
            (Halted, Stopped, "A....."),
            (Halted, Stopping, "..F..."),
            // Manual and RerunOnFailure: start and stop by request, of an instance that exists.
            (Manual, Stopped, "A....."),
            (Manual, Running, ".SFRP."),
            (Manual, VmStatus::Provisioning, "......"),
            (RerunOnFailure, Running, ".SFRP."),
            (RerunOnFailure, Stopped, "A....."),
            // Once never takes a start or restart.
            (Once, Running, ".SF.P."),
            (Once, Stopped, "......"),
            (Always, Terminating, "......"),
        ];
        for (strategy, status, expected) in cases {
            let vm = vm(strategy, status);
            let allowed: String = VmAction::ALL
                .into_iter()
                .map(|action| {
                    if vm.allows(action) {
                        letter(action)
                    } else {
                        '.'
                    }
                })
                .collect();
            assert_eq!(allowed, expected, "{strategy:?} {status:?}");
        }
    }

    /// How a case writes an allowed action; '.' is a refused one.
    fn letter(action: VmAction) -> char {
        match action {
            VmAction::Start => 'A',
            VmAction::Stop => 'S',
            VmAction::ForceStop => 'F',
            VmAction::Restart => 'R',
            VmAction::Pause => 'P',
            VmAction::Unpause => 'U',
        }
    }
}
