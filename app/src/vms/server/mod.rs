//! Virtual machines on the server: KubeVirt types, the bodies Wukong creates, cluster calls,
//! and the list and detail views built from the live stores.

pub mod activity;
pub mod body;
pub mod cluster;
pub mod index;
pub mod kubevirt;
pub mod ownership;
pub mod requests;

use crate::{
    authz::server::ProjectRow,
    projects::types::ProjectScope,
    realtime::server::Live,
    vms::types::{VmCondition, VmDetail, VmSort, VmSummary},
};
use kubevirt::{Condition, VirtualMachine};
use std::cmp::Ordering;

/// The id of the project `vm` is labelled for, if any.
pub fn project_label(vm: &VirtualMachine) -> Option<&str> {
    vm.metadata
        .labels
        .as_ref()?
        .get(body::PROJECT_LABEL)
        .map(String::as_str)
}

/// Whether `vm` is a VM of `project` as the ownership gate sees it: in the project's
/// namespace and labelled for it.
pub fn belongs(vm: &VirtualMachine, project: &ProjectRow) -> bool {
    vm.metadata.namespace.as_deref() == Some(project.namespace.as_str())
        && project_label(vm) == Some(project.id.as_str())
}

fn compare(sort: VmSort, a: &VmSummary, b: &VmSummary) -> Ordering {
    let by_name = || (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name));
    let first = match sort {
        VmSort::Name => a.name.cmp(&b.name),
        VmSort::Project => a.project_name.cmp(&b.project_name),
        VmSort::Status => a.status.as_str().cmp(b.status.as_str()),
        VmSort::Cpus => a.cpus.cmp(&b.cpus),
        VmSort::Memory => a.memory_mib.cmp(&b.memory_mib),
        // Youngest first reads as "age ascending".
        VmSort::Age => b.created_ms.cmp(&a.created_ms),
    };
    first.then_with(by_name)
}

fn conditions(conditions: Option<&Vec<Condition>>) -> impl Iterator<Item = VmCondition> + '_ {
    conditions
        .into_iter()
        .flatten()
        .map(|condition| VmCondition {
            kind: condition.kind.clone(),
            status: condition.status.clone(),
            reason: condition.reason.clone().unwrap_or_default(),
            message: condition.message.clone().unwrap_or_default(),
            last_transition: condition
                .rest
                .get("lastTransitionTime")
                .and_then(|time| time.as_str())
                .map(str::to_owned),
        })
}

/// The VM page: spec summary, status and the conditions of the VM and its instance.
pub fn detail(live: &Live, vm: &VirtualMachine, project: ProjectScope) -> VmDetail {
    let mut summary = live.summary(vm);
    summary.project.clone_from(&project.slug);
    summary.project_name.clone_from(&project.name);
    let vmi = live.vmi(&summary.namespace, &summary.name);
    let mut all: Vec<VmCondition> =
        conditions(vm.status.as_ref().and_then(|s| s.conditions.as_ref())).collect();
    let instance_conditions = vmi
        .as_ref()
        .and_then(|vmi| vmi.status.as_ref())
        .and_then(|status| status.conditions.as_ref());
    // KubeVirt copies most instance conditions onto the VM; show each kind once.
    for condition in conditions(instance_conditions) {
        if !all.iter().any(|seen| seen.kind == condition.kind) {
            all.push(condition);
        }
    }
    let disks = vm
        .volumes()
        .iter()
        .map(|volume| {
            let source = if let Some(image) = volume
                .container_disk
                .as_ref()
                .and_then(|disk| disk.get("image"))
                .and_then(|image| image.as_str())
            {
                format!("container disk {image}")
            } else if let Some(name) = volume
                .data_volume
                .as_ref()
                .and_then(|disk| disk.get("name"))
                .and_then(|name| name.as_str())
            {
                format!("DataVolume {name}")
            } else if let Some(kind) = volume.rest.keys().next() {
                kind.clone()
            } else {
                "unknown source".to_owned()
            };
            format!("{}: {source}", volume.name)
        })
        .collect();
    VmDetail {
        project,
        run_strategy: vm.run_strategy(),
        disks,
        conditions: all,
        data_volumes: vm.data_volume_names(),
        interfaces: vmi.as_ref().map(|vmi| vmi.interfaces()).unwrap_or_default(),
        guest_os: vmi.as_ref().and_then(|vmi| vmi.guest_os()),
        imports: Vec::new(),
        events: Vec::new(),
        activity_error: None,
        summary,
    }
}
