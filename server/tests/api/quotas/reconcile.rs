//! Usage follows the cluster: a create the cluster refuses gives its reservation back, a VM
//! deleted behind Wukong's back is released by the reconciler and audited, and a create
//! still in flight is left alone.

use super::{quota_of, room_for, row, session, small, small_vm};
use crate::tenancy::{Tenancy, Who, VM};
use app::{
    auth::server::session::Requester,
    quotas::server::{
        reconcile::reconcile,
        reserve::{reserve, Ledger},
    },
    vms::server::{kubevirt::VirtualMachine, requests},
    AppError,
};
use kube::api::{Api, DeleteParams};
use std::time::Duration;

async fn corrections(t: &Tenancy, reason: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_logs WHERE event_type = 'quota_usage_corrected' \
         AND project_id = $1 AND details LIKE $2",
    )
    .bind(&t.alpha.id)
    .bind(format!("%\"reason\":\"{reason}\"%"))
    .fetch_one(t.state.db.pool())
    .await
    .expect("count")
}

#[tokio::test]
async fn a_vm_made_outside_wukongs_quota_path_is_counted_and_audited() {
    let t = Tenancy::start().await;
    // The fixture makes its VM straight in the cluster, as a VM from before quotas was.
    assert_eq!(quota_of(&t, &t.alpha).await.usage.vm_count, 0);
    assert_eq!(
        reconcile(&t.state, &t.alpha.id).await.expect("reconcile"),
        1
    );
    assert_eq!(quota_of(&t, &t.alpha).await.usage, small());
    assert_eq!(corrections(&t, "vm_not_reserved").await, 1);
    // Nothing more to correct the second time.
    assert_eq!(
        reconcile(&t.state, &t.alpha.id).await.expect("reconcile"),
        0
    );
}

#[tokio::test]
async fn a_create_the_cluster_refuses_leaves_usage_unchanged() {
    let t = Tenancy::start().await;
    // The fixture's VM is in the cluster but not yet reserved: Wukong's check passes and
    // the cluster answers 409.
    let before = quota_of(&t, &t.alpha).await.usage;
    let operator = session(&t, Who::Operator).await;
    let form = small_vm(&t.alpha, VM);
    let refused = requests::create(&t.state, &operator, &Requester::default(), &form).await;
    assert!(
        matches!(&refused, Err(AppError::Invalid { field, .. }) if field == "name"),
        "{refused:?}"
    );
    assert_eq!(quota_of(&t, &t.alpha).await.usage, before);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM vm_reservations WHERE vm_name = $1")
        .bind(VM)
        .fetch_one(t.state.db.pool())
        .await
        .expect("count");
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_vm_deleted_behind_wukongs_back_is_released_by_the_reconciler_and_audited() {
    let t = Tenancy::start().await;
    let before = room_for(&t, &t.alpha, 2).await;
    let operator = session(&t, Who::Operator).await;
    let form = small_vm(&t.alpha, "doomed");
    requests::create(&t.state, &operator, &Requester::default(), &form)
        .await
        .expect("made");
    assert_eq!(quota_of(&t, &t.alpha).await.usage, before.plus(&small(), 1));
    let vms: Api<VirtualMachine> =
        Api::namespaced(t.state.cluster.client.clone(), &t.alpha.namespace);
    vms.delete("doomed", &DeleteParams::default())
        .await
        .expect("deleted with kubectl's rights");
    for _ in 0..500 {
        if vms.get_opt("doomed").await.expect("get").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        reconcile(&t.state, &t.alpha.id).await.expect("reconcile"),
        1
    );
    assert_eq!(quota_of(&t, &t.alpha).await.usage, before);
    assert_eq!(corrections(&t, "vm_gone").await, 1);
}

#[tokio::test]
async fn a_delete_through_wukong_is_released_once_the_vm_is_gone_without_a_correction() {
    let t = Tenancy::start().await;
    let before = room_for(&t, &t.alpha, 2).await;
    let operator = session(&t, Who::Operator).await;
    let form = small_vm(&t.alpha, "short-lived");
    requests::create(&t.state, &operator, &Requester::default(), &form)
        .await
        .expect("made");
    t.wait_for_vm(&t.alpha.namespace, "short-lived").await;
    let disks = app::vms::types::DiskDisposal::Delete;
    requests::delete(
        &t.state,
        &operator,
        &Requester::default(),
        &t.alpha.slug,
        "short-lived",
        disks,
    )
    .await
    .expect("deleted");
    let vms: Api<VirtualMachine> =
        Api::namespaced(t.state.cluster.client.clone(), &t.alpha.namespace);
    for _ in 0..500 {
        if vms.get_opt("short-lived").await.expect("get").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    reconcile(&t.state, &t.alpha.id).await.expect("reconcile");
    assert_eq!(quota_of(&t, &t.alpha).await.usage, before);
    assert_eq!(corrections(&t, "vm_gone").await, 0);
}

#[tokio::test]
async fn a_create_in_flight_is_not_released_by_the_reconciler() {
    let t = Tenancy::start().await;
    let before = room_for(&t, &t.alpha, 2).await;
    // Reserved, and the cluster not asked yet.
    reserve(
        &t.state.db,
        Ledger::Vms,
        &row(&t.alpha),
        "in-flight",
        &small(),
    )
    .await
    .expect("reserved");
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        reconcile(&t.state, &t.alpha.id).await.expect("reconcile"),
        0
    );
    assert_eq!(quota_of(&t, &t.alpha).await.usage, before.plus(&small(), 1));
}
