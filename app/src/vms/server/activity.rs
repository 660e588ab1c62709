//! Why a VM is as it is, for its page: the cluster's events about the VM, its instance and
//! its disks, and how far each disk's import has come. Read when the page asks, not
//! watched: a cluster's events are many and short-lived, and only an open VM page needs
//! them.

use super::cluster::data_volumes;
use crate::{
    cluster::{quota_refusal, Cluster},
    vms::{
        names::{Namespace, VmRef},
        types::{DiskImport, VmEvent},
    },
    AppError,
};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::Value;

/// The newest events the page shows.
const EVENTS_SHOWN: usize = 50;

/// The kinds whose events are the VM's own: the VM, its instance (of the same name) and its
/// DataVolumes. CDI's events on the claim of the same name repeat the DataVolume's.
const KINDS: [&str; 3] = ["VirtualMachine", "VirtualMachineInstance", "DataVolume"];

/// The events about the VM, its instance and the DataVolumes `disks`, newest first.
pub async fn events(
    cluster: &Cluster,
    target: &VmRef,
    disks: &[String],
) -> Result<Vec<VmEvent>, AppError> {
    let api: Api<Event> = Api::namespaced(cluster.client.clone(), target.namespace.as_str());
    let mut found = Vec::new();
    // `involvedObject.name` is a field the API server selects events by
    // (kubernetes `pkg/registry/core/event/strategy.go`, `ToSelectableFields`).
    for name in std::iter::once(target.name.as_str()).chain(disks.iter().map(String::as_str)) {
        let params = ListParams::default().fields(&format!("involvedObject.name={name}"));
        let what = format!("The events of \"{name}\"");
        found.extend(cluster.call(&what, api.list(&params)).await?.items);
    }
    let mut events: Vec<(Option<i64>, VmEvent)> = found
        .into_iter()
        .filter(|event| KINDS.contains(&event.involved_object.kind.as_deref().unwrap_or_default()))
        .map(|event| {
            // Events of the events.k8s.io era carry `eventTime` and may lack the others.
            let seen = event
                .last_timestamp
                .as_ref()
                .map(|time| time.0)
                .or_else(|| event.event_time.as_ref().map(|time| time.0))
                .or_else(|| event.first_timestamp.as_ref().map(|time| time.0));
            let reason = event.reason.unwrap_or_default();
            let message = readable(
                &reason,
                event.message.unwrap_or_default(),
                &target.namespace,
            );
            let view = VmEvent {
                object_kind: event.involved_object.kind.unwrap_or_default(),
                object_name: event.involved_object.name.unwrap_or_default(),
                reason,
                message,
                warning: event.type_.as_deref() == Some("Warning"),
                count: event.count.map_or(1, |count| count.max(1) as u32),
                last_seen: seen.map(|time| time.to_string()),
            };
            (seen.map(|time| time.as_millisecond()), view)
        })
        .collect();
    events.sort_by_key(|(seen, _)| std::cmp::Reverse(*seen));
    Ok(events
        .into_iter()
        .take(EVENTS_SHOWN)
        .map(|(_, event)| event)
        .collect())
}

/// `message` of an event with `reason`, a quota's refusal of the launcher pod told in
/// Wukong's words: virt-controller's `FailedCreate` event carries the API server's
/// `exceeded quota` message, in amounts that include KubeVirt's overhead.
fn readable(reason: &str, message: String, namespace: &Namespace) -> String {
    let refusal = (reason == "FailedCreate")
        .then(|| quota_refusal(&message, &format!("project {namespace}")))
        .flatten();
    match refusal {
        Some(refusal) => format!(
            "The cluster's quota has no room to start this VM: {refusal} (the cluster counts each \
             VM with KubeVirt's overhead)."
        ),
        None => message,
    }
}

/// The import of each DataVolume of `disks` that exists.
pub async fn imports(
    cluster: &Cluster,
    target: &VmRef,
    disks: &[String],
) -> Result<Vec<DiskImport>, AppError> {
    let volumes = data_volumes(cluster, &target.namespace);
    let mut imports = Vec::new();
    for name in disks {
        let what = format!("Disk \"{name}\"");
        if let Some(volume) = cluster.call(&what, volumes.get_opt(name)).await? {
            imports.push(import(name, volume.data.get("status")));
        }
    }
    Ok(imports)
}

/// A DataVolume's import as CDI reports it (containerized-data-importer
/// `pkg/controller/datavolume/import-controller.go` and `conditions.go`): `progress` is
/// "N/A" until the importer reports, then "45.67%"; the Running condition says why an
/// import does not progress.
fn import(name: &str, status: Option<&Value>) -> DiskImport {
    let text = |pointer: &str| {
        status
            .and_then(|status| status.pointer(pointer))
            .and_then(Value::as_str)
    };
    let percent = text("/progress")
        .and_then(|progress| progress.strip_suffix('%'))
        .and_then(|number| number.trim().parse::<f32>().ok())
        .map(|percent| percent.clamp(0.0, 100.0) as u8);
    let running = status
        .and_then(|status| status.get("conditions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|condition| condition.get("type").and_then(Value::as_str) == Some("Running"));
    let problem = running
        .filter(|condition| {
            condition.get("status").and_then(Value::as_str) == Some("False")
                && !matches!(
                    condition.get("reason").and_then(Value::as_str),
                    None | Some("" | "Completed")
                )
        })
        .and_then(|condition| condition.get("message").and_then(Value::as_str))
        .filter(|message| !message.is_empty())
        .map(str::to_owned);
    DiskImport {
        name: name.to_owned(),
        phase: text("/phase").unwrap_or("Pending").to_owned(),
        percent,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::{import, readable};
    use crate::vms::names::Namespace;
    use serde_json::json;

    /// CDI's status as it moves (containerized-data-importer v1.66.0,
    /// `pkg/controller/datavolume/import-controller.go`, `conditions.go`).
    #[test]
    fn imports_read_cdis_phase_progress_and_failure() {
        let fresh = import("d", None);
        assert_eq!((fresh.phase.as_str(), fresh.percent), ("Pending", None));
        let status = json!({"phase": "ImportInProgress", "progress": "45.67%",
            "conditions": [{"type": "Running", "status": "True", "reason": "Pod is running"}]});
        let running = import("d", Some(&status));
        assert_eq!(running.percent, Some(45));
        assert_eq!(running.problem, None);
        assert!(running.in_progress());
        let status = json!({"phase": "ImportInProgress", "progress": "N/A", "restartCount": 2,
            "conditions": [{"type": "Running", "status": "False", "reason": "Error",
                "message": "Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found"}]});
        let failing = import("d", Some(&status));
        assert_eq!(failing.percent, None);
        assert_eq!(
            failing.problem.as_deref(),
            Some("Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found")
        );
        let status = json!({"phase": "Succeeded", "progress": "100.0%",
            "conditions": [{"type": "Running", "status": "False", "reason": "Completed", "message": "Import Complete"}]});
        let done = import("d", Some(&status));
        assert_eq!(
            (done.percent, done.in_progress(), done.problem),
            (Some(100), false, None)
        );
    }

    #[test]
    fn a_quota_refusal_of_the_launcher_pod_reads_like_wukongs_own() {
        let namespace = Namespace::parse("team-b").unwrap();
        let refused = "Error creating pod: pods \"virt-launcher-big-x2bcd\" is forbidden: \
                       exceeded quota: wukong-quota, requested: requests.memory=2499107073, \
                       used: requests.memory=0, limited: requests.memory=2383Mi";
        assert_eq!(
            readable("FailedCreate", refused.to_owned(), &namespace),
            "The cluster's quota has no room to start this VM: memory: 2383.34 MiB requested, \
             2383 of 2383 MiB free in project team-b (the cluster counts each VM with KubeVirt's \
             overhead)."
        );
        let other = "Error creating pod: admission webhook denied";
        assert_eq!(
            readable("FailedCreate", other.to_owned(), &namespace),
            other
        );
        assert_eq!(readable("Started", refused.to_owned(), &namespace), refused);
    }
}
