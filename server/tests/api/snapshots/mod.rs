//! Snapshots, restores and clones through Wukong's server functions, over the simulated
//! cluster's KubeVirt controllers: each lifecycle, the quota it is charged to, its audit
//! record, and what a user of another project can learn or do (nothing).

mod isolation;
mod lifecycle;
mod quota;
mod schemas;

use crate::tenancy::{json, Project, Tenancy, Who, VM};
use app::{
    snapshots::server::{body, cluster},
    vms::names::{Namespace, SnapshotName, VmName},
};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::{future::Future, time::Duration};

/// Polls `check` until it answers `Some`, for at most ten seconds.
pub async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, check: impl Fn() -> F) -> T {
    for _ in 0..1000 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} never happened");
}

/// `project`'s snapshot list as `who` reads it (every VM's when `vm` is empty).
pub async fn listed(t: &Tenancy, who: Who, project: &Project, vm: &str) -> Value {
    let body = format!("project={}&vm={vm}", project.slug);
    let (status, answer) = t.post(who, "snapshots/list", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    json(&answer)
}

/// The snapshot `name` of Alpha as listed, once it is there.
pub async fn snapshot_row(t: &Tenancy, name: &str) -> Value {
    let list = listed(t, Who::Viewer, &t.alpha, "").await;
    list["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .find(|row| row["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Takes the snapshot `snapshot` of Alpha's VM `vm` as `who`; the answer.
pub async fn take(t: &Tenancy, who: Who, vm: &str, snapshot: &str) -> (StatusCode, String) {
    let body = json!({"project": t.alpha.slug, "name": vm, "snapshot": snapshot,
        "description": "before the upgrade"});
    t.post(who, "snapshots/take", &body.to_string()).await
}

/// Waits until Alpha's snapshot `name` is ready to use; its row.
pub async fn ready(t: &Tenancy, name: &str) -> Value {
    eventually(&format!("snapshot {name} ready"), || async {
        let row = snapshot_row(t, name).await;
        (row["ready"] == true).then_some(row)
    })
    .await
}

/// A ready snapshot `name` of Alpha's VM, made as Wukong makes it.
pub async fn ready_snapshot(t: &Tenancy, name: &str) {
    make_snapshot(t, &t.alpha, &t.alpha.id, VM, name).await;
    ready(t, name).await;
}

/// A snapshot `name` of the VM `vm` in `project`'s namespace, labelled for the project
/// `label`, made straight in the cluster (as a snapshot from behind Wukong's back is).
pub async fn make_snapshot(t: &Tenancy, project: &Project, label: &str, vm: &str, name: &str) {
    let namespace = Namespace::parse(&project.namespace).expect("namespace");
    let object = body::snapshot(
        &SnapshotName::parse(name).expect("name"),
        &VmName::parse(vm).expect("name"),
        "",
        &namespace,
        label,
    )
    .expect("body");
    cluster::create(&t.state.cluster, &namespace, name, &object)
        .await
        .expect("snapshot");
}

/// Alpha's audit records of `event`, as (outcome, reason).
pub async fn audited(t: &Tenancy, event: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT outcome, details FROM audit_logs WHERE event_type = $1 AND project_id = $2 \
         ORDER BY occurred_at",
    )
    .bind(event)
    .bind(&t.alpha.id)
    .fetch_all(t.test.db.pool())
    .await
    .expect("audit")
}

/// Waits until the cluster says Alpha's VM has `status`.
pub async fn vm_status(t: &Tenancy, status: &str) {
    eventually(&format!("{VM} {status}"), || async {
        let vm = t.state.live.vm(&t.alpha.namespace, VM);
        (vm.as_deref().and_then(|vm| vm.printable_status()) == Some(status)).then_some(())
    })
    .await
}
