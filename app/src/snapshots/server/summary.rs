//! The rows the pages list, from the cluster's objects.

use super::{
    kinds::{latest_message, VirtualMachineClone, VirtualMachineRestore, VirtualMachineSnapshot},
    DESCRIPTION,
};
use crate::snapshots::types::{CloneSource, CloneSummary, RestoreSummary, SnapshotSummary};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

fn created_ms(metadata: &ObjectMeta) -> i64 {
    metadata
        .creation_timestamp
        .as_ref()
        .map_or(0, |time| time.0.as_millisecond())
}

/// `snapshot` as listed; `sizes` are the namespace's content sizes by content name.
pub fn snapshot(
    snapshot: &VirtualMachineSnapshot,
    sizes: &BTreeMap<String, u64>,
) -> SnapshotSummary {
    let status = snapshot.status.as_ref();
    let phase = status
        .and_then(|status| status.phase.clone())
        .unwrap_or_else(|| "Unknown".to_owned());
    let error = status
        .and_then(|status| status.error.as_ref())
        .and_then(|error| error.message.clone())
        .or_else(|| {
            // Why it is not ready yet, or why it failed without an error.
            let ready = status.and_then(|status| status.ready_to_use) == Some(true);
            (!ready && phase != "InProgress")
                .then(|| latest_message(status.and_then(|status| status.conditions.as_ref())))
                .flatten()
        });
    SnapshotSummary {
        name: snapshot.metadata.name.clone().unwrap_or_default(),
        vm: snapshot.spec.source.name.clone(),
        description: snapshot
            .metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(DESCRIPTION))
            .cloned()
            .unwrap_or_default(),
        ready: status.and_then(|status| status.ready_to_use) == Some(true),
        indications: status
            .and_then(|status| status.indications.clone())
            .unwrap_or_default(),
        size_bytes: status
            .and_then(|status| status.virtual_machine_snapshot_content_name.as_ref())
            .and_then(|content| sizes.get(content))
            .copied(),
        created_ms: created_ms(&snapshot.metadata),
        taken_at: status.and_then(|status| status.creation_time.clone()),
        error,
        deleting: snapshot.metadata.deletion_timestamp.is_some(),
        phase,
    }
}

pub fn restore(restore: &VirtualMachineRestore) -> RestoreSummary {
    let status = restore.status.as_ref();
    let complete = status.and_then(|status| status.complete) == Some(true);
    let progress = status
        .and_then(|status| status.conditions.as_ref())
        .and_then(|conditions| conditions.last())
        .map(|condition| {
            let reason = condition.reason.clone().unwrap_or_default();
            match condition
                .message
                .as_deref()
                .filter(|message| !message.is_empty())
            {
                Some(message) if !reason.is_empty() => format!("{reason}: {message}"),
                Some(message) => message.to_owned(),
                None => reason,
            }
        })
        .filter(|progress| !progress.is_empty())
        .unwrap_or_else(|| {
            if complete {
                "Complete"
            } else {
                "Waiting to start"
            }
            .to_owned()
        });
    RestoreSummary {
        name: restore.metadata.name.clone().unwrap_or_default(),
        vm: restore.spec.target.name.clone(),
        snapshot: restore.spec.virtual_machine_snapshot_name.clone(),
        complete,
        progress,
        restored_at: status.and_then(|status| status.restore_time.clone()),
        created_ms: created_ms(&restore.metadata),
    }
}

pub fn clone(clone: &VirtualMachineClone) -> CloneSummary {
    let status = clone.status.as_ref();
    let phase = status
        .and_then(|status| status.phase.clone())
        .unwrap_or_else(|| "Unknown".to_owned());
    let source = clone.spec.source.as_ref().map_or_else(
        || CloneSource::Vm(String::new()),
        |source| match source.kind.as_str() {
            "VirtualMachineSnapshot" => CloneSource::Snapshot(source.name.clone()),
            _ => CloneSource::Vm(source.name.clone()),
        },
    );
    CloneSummary {
        name: clone.metadata.name.clone().unwrap_or_default(),
        target: clone
            .spec
            .target
            .as_ref()
            .map(|target| target.name.clone())
            .unwrap_or_default(),
        error: (phase == "Failed")
            .then(|| latest_message(status.and_then(|status| status.conditions.as_ref())))
            .flatten(),
        created_ms: created_ms(&clone.metadata),
        source,
        phase,
    }
}
