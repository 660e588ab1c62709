//! The rows of snapshots, restores and clones.

use crate::{
    components::format_utc,
    snapshots::types::{CloneSummary, RestoreSummary, SnapshotSummary},
    vms::types::vm_href,
};
use leptos::prelude::*;
use leptos_router::components::A;

/// A size in bytes as the table shows it: "0 GiB" for container disks, else GiB with one
/// decimal.
pub fn size_text(bytes: Option<u64>) -> String {
    match bytes {
        None => "—".to_owned(),
        Some(bytes) => format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30)),
    }
}

/// How the snapshot was taken, in KubeVirt's words (`Online`, `GuestAgent`,
/// `NoGuestAgent`, …); none for a stopped VM.
pub fn taken_text(snapshot: &SnapshotSummary) -> String {
    if snapshot.indications.is_empty() {
        return "Offline".to_owned();
    }
    snapshot.indications.join(", ")
}

pub fn status_text(snapshot: &SnapshotSummary) -> String {
    match (snapshot.deleting, snapshot.ready) {
        (true, _) => "Deleting".to_owned(),
        (false, true) => "Ready".to_owned(),
        (false, false) => snapshot.phase.clone(),
    }
}

#[component]
pub fn RestoreRows(project: String, restores: Vec<RestoreSummary>) -> impl IntoView {
    (!restores.is_empty()).then(|| view! {
        <h3>"Restores"</h3>
        <table>
            <thead><tr><th scope="col">"VM"</th><th scope="col">"Snapshot"</th><th scope="col">"Progress"</th><th scope="col">"Restored"</th></tr></thead>
            <tbody>
                {restores.into_iter().map(|restore| {
                    let id = format!("restore-{}", restore.snapshot);
                    view! {
                    <tr data-testid=id>
                        <td><A href=vm_href(&project, &restore.vm)>{restore.vm.clone()}</A></td>
                        <td>{restore.snapshot}</td>
                        <td data-testid="restore-state">{if restore.complete { "Complete".to_owned() } else { restore.progress }}</td>
                        <td>{restore.restored_at.unwrap_or_else(|| format_utc(restore.created_ms))}</td>
                    </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    })
}

#[component]
pub fn CloneRows(project: String, clones: Vec<CloneSummary>) -> impl IntoView {
    (!clones.is_empty()).then(|| view! {
        <h3>"Clones"</h3>
        <table>
            <thead><tr><th scope="col">"From"</th><th scope="col">"New VM"</th><th scope="col">"Phase"</th></tr></thead>
            <tbody>
                {clones.into_iter().map(|clone| {
                    let id = format!("clone-{}", clone.target);
                    view! {
                    <tr data-testid=id>
                        <td>{clone.source.what()}</td>
                        <td><A href=vm_href(&project, &clone.target)>{clone.target.clone()}</A></td>
                        <td data-testid="clone-phase">
                            {clone.phase}
                            {clone.error.map(|error| view! { <p class="form-error">{error}</p> })}
                        </td>
                    </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    })
}
