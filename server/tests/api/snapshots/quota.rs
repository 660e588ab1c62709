//! Snapshots are charged to the project's quota (their count and their disks' GiB) on the
//! same reservation path as VMs; clones to the VM quota, as creates are.

use super::{audited, eventually, make_snapshot, ready, snapshot_row, take};
use crate::{
    quotas::{quota_of, room_for, set_limits, small},
    tenancy::{Tenancy, Who, VM},
};
use app::quotas::{server::reconcile::reconcile, types::Amounts};
use axum::http::StatusCode;
use serde_json::json;

/// Leaves Alpha room for `snapshots` snapshots (of 10 GiB in all) and nothing else; its
/// usage.
async fn snapshot_room(t: &Tenancy, snapshots: i64) -> Amounts {
    let usage = room_for(t, &t.alpha, 0).await;
    let mut limits = quota_of(t, &t.alpha).await.limits;
    limits.snapshot_count = usage.snapshot_count + snapshots;
    limits.snapshot_gib = usage.snapshot_gib + 10;
    set_limits(t, &t.alpha, &limits).await;
    usage
}

#[tokio::test]
async fn a_snapshot_is_charged_refused_when_full_and_released_once_deleted() {
    let t = Tenancy::start().await;
    let usage = snapshot_room(&t, 1).await;
    let (status, answer) = take(&t, Who::Operator, VM, "first").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let charged = quota_of(&t, &t.alpha).await.usage;
    assert_eq!(charged.snapshot_count, usage.snapshot_count + 1);
    ready(&t, "first").await;

    let (status, answer) = take(&t, Who::Operator, VM, "second").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer.contains(&format!(
            "snapshots: 1 requested, 0 of 1 free in project {}",
            t.alpha.slug
        )),
        "{answer}"
    );
    assert!(snapshot_row(&t, "second").await.is_null());
    assert_eq!(quota_of(&t, &t.alpha).await.usage, charged);
    let outcomes: Vec<String> = audited(&t, "snapshot_taken")
        .await
        .into_iter()
        .map(|(outcome, _)| outcome)
        .collect();
    assert_eq!(outcomes, ["success", "failure"]);

    let body = json!({"project": t.alpha.slug, "snapshot": "first"});
    let (status, answer) = t
        .post(Who::Operator, "snapshots/delete", &body.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    eventually("the snapshot's quota given back", || async {
        let _ = reconcile(&t.state, &t.alpha.id).await;
        (quota_of(&t, &t.alpha).await.usage == usage).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_snapshot_the_cluster_refuses_gives_its_reservation_back() {
    let t = Tenancy::start().await;
    snapshot_room(&t, 1).await;
    // Made behind Wukong's back, so not reserved: Wukong's check passes, the cluster
    // answers that it exists.
    make_snapshot(&t, &t.alpha, &t.alpha.id, VM, "taken").await;
    let before = quota_of(&t, &t.alpha).await.usage;
    let (status, answer) = take(&t, Who::Operator, VM, "taken").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer.contains("already exists"), "{answer}");
    assert_eq!(quota_of(&t, &t.alpha).await.usage, before);
    // The reconciler counts the stray snapshot, and audits that it did.
    ready(&t, "taken").await;
    assert!(reconcile(&t.state, &t.alpha.id).await.expect("reconcile") >= 1);
    assert_eq!(
        quota_of(&t, &t.alpha).await.usage.snapshot_count,
        before.snapshot_count + 1
    );
    let corrections: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_logs WHERE event_type = 'quota_usage_corrected' \
         AND target_type = 'snapshot' AND target_id = 'taken'",
    )
    .fetch_one(t.test.db.pool())
    .await
    .expect("count");
    assert_eq!(corrections, 1);
}

#[tokio::test]
async fn a_clone_is_checked_against_the_vm_quota_like_a_create() {
    let t = Tenancy::start().await;
    let usage = room_for(&t, &t.alpha, 0).await;
    let body = json!({"project": t.alpha.slug, "source": {"Vm": VM}, "target": "copy"});
    let (status, answer) = t
        .post(Who::Operator, "snapshots/clone", &body.to_string())
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer.contains("1 requested, 0 of"), "{answer}");
    assert_eq!(quota_of(&t, &t.alpha).await.usage, usage);

    set_limits(&t, &t.alpha, &usage.plus(&small(), 1)).await;
    let (status, answer) = t
        .post(Who::Operator, "snapshots/clone", &body.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        quota_of(&t, &t.alpha).await.usage,
        usage.plus(&small(), 1),
        "the clone holds what its source holds"
    );
    let namespace = t.alpha.namespace.clone();
    t.wait_for_vm(&namespace, "copy").await;
    // Once the VM exists, the reconciler confirms it and has nothing to correct.
    reconcile(&t.state, &t.alpha.id).await.expect("reconcile");
    assert_eq!(quota_of(&t, &t.alpha).await.usage, usage.plus(&small(), 1));
}
