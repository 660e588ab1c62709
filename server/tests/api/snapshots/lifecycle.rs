//! Take, list, delete, restore and clone, each to its end on the simulated cluster.

use super::{
    audited, eventually, listed, make_snapshot, ready, ready_snapshot, snapshot_row, take,
    vm_status,
};
use crate::{
    console::start_alpha_vm,
    tenancy::{json, Tenancy, Who, VM},
};
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_snapshot_of_a_running_vm_is_taken_online_listed_and_deleted() {
    let t = Tenancy::start().await;
    start_alpha_vm(&t).await;
    let (status, answer) = take(&t, Who::Operator, VM, "before-upgrade").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let row = ready(&t, "before-upgrade").await;
    assert_eq!(row["phase"], "Succeeded");
    assert_eq!(row["vm"], VM);
    assert_eq!(row["description"], "before the upgrade");
    assert!(row["taken_at"].is_string(), "{row}");
    assert!(row["error"].is_null(), "{row}");
    let indications = row["indications"].as_array().expect("indications");
    assert!(indications.contains(&json!("Online")), "{row}");
    // A container-disk VM has no persistent disk to copy.
    assert_eq!(row["size_bytes"], 0);
    // Listed for its VM, not for another.
    let for_vm = listed(&t, Who::Viewer, &t.alpha, VM).await;
    assert_eq!(for_vm["snapshots"].as_array().expect("list").len(), 1);
    let other = listed(&t, Who::Viewer, &t.alpha, "other-vm").await;
    assert!(other["snapshots"].as_array().expect("list").is_empty());
    assert_eq!(
        audited(&t, "snapshot_taken").await,
        vec![(
            "success".to_owned(),
            r#"{"reason":"snapshot before-upgrade"}"#.to_owned()
        )]
    );

    let body = json!({"project": t.alpha.slug, "snapshot": "before-upgrade"});
    let (status, answer) = t
        .post(Who::Operator, "snapshots/delete", &body.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    eventually("the snapshot gone", || async {
        snapshot_row(&t, "before-upgrade")
            .await
            .is_null()
            .then_some(())
    })
    .await;
    assert_eq!(audited(&t, "snapshot_deleted").await.len(), 1);
    // Deleting again: it is not there.
    let (status, _) = t
        .post(Who::Operator, "snapshots/delete", &body.to_string())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_snapshot_of_a_stopped_vm_is_offline() {
    let t = Tenancy::start().await;
    let (status, answer) = take(&t, Who::Operator, VM, "cold").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let row = ready(&t, "cold").await;
    assert_eq!(row["indications"], json!([]), "{row}");
}

#[tokio::test]
async fn a_snapshot_name_is_checked_like_a_vm_name() {
    let t = Tenancy::start().await;
    let (status, answer) = take(&t, Who::Operator, VM, "Not_A_Name").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(json(&answer)["Invalid"]["field"], "snapshot");
    assert!(listed(&t, Who::Viewer, &t.alpha, "").await["snapshots"]
        .as_array()
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn a_stopped_vm_is_restored_to_a_ready_snapshot_and_a_running_one_is_refused() {
    let t = Tenancy::start().await;
    ready_snapshot(&t, "good").await;
    start_alpha_vm(&t).await;
    let body = json!({"project": t.alpha.slug, "snapshot": "good"}).to_string();
    let (status, answer) = t.post(Who::Operator, "snapshots/restore", &body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer.contains(r#"VM \"web-1\" must be stopped before it is restored"#),
        "{answer}"
    );
    let stop = json!({"project": t.alpha.slug, "name": VM, "action": "Stop"});
    let (status, answer) = t.post(Who::Operator, "vms/action", &stop.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    vm_status(&t, "Stopped").await;
    let (status, answer) = t.post(Who::Operator, "snapshots/restore", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let restore = eventually("the restore complete", || async {
        let list = listed(&t, Who::Viewer, &t.alpha, VM).await;
        let restore = list["restores"]
            .as_array()
            .expect("restores")
            .first()
            .cloned();
        restore.filter(|restore| restore["complete"] == true)
    })
    .await;
    assert_eq!(restore["snapshot"], "good");
    assert!(restore["restored_at"].is_string(), "{restore}");
    let outcomes: Vec<String> = audited(&t, "snapshot_restored")
        .await
        .into_iter()
        .map(|(outcome, _)| outcome)
        .collect();
    assert_eq!(outcomes, ["failure", "success"]);
}

#[tokio::test]
async fn a_snapshot_that_is_not_ready_is_refused_for_restores_and_clones_with_its_reason() {
    let t = Tenancy::start().await;
    // Of a VM that does not exist: KubeVirt fails it.
    make_snapshot(&t, &t.alpha, &t.alpha.id, "gone-vm", "orphan").await;
    let row = eventually("the snapshot failed", || async {
        let row = snapshot_row(&t, "orphan").await;
        (row["phase"] == "Failed").then_some(row)
    })
    .await;
    assert!(row["error"].is_string(), "the failure is shown: {row}");
    let body = json!({"project": t.alpha.slug, "snapshot": "orphan"}).to_string();
    let (status, answer) = t.post(Who::Operator, "snapshots/restore", &body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer.contains(r#"Snapshot \"orphan\" failed and cannot be used"#),
        "{answer}"
    );
    let clone = json!({"project": t.alpha.slug, "source": {"Snapshot": "orphan"},
        "target": "copy"});
    let (status, answer) = t
        .post(Who::Operator, "snapshots/clone", &clone.to_string())
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(listed(&t, Who::Viewer, &t.alpha, "").await["restores"]
        .as_array()
        .expect("restores")
        .is_empty());
}

/// Clones `source` of Alpha into `target` as the operator; the new VM's page.
async fn clone(t: &Tenancy, source: serde_json::Value, target: &str) -> String {
    let body = json!({"project": t.alpha.slug, "source": source, "target": target});
    let (status, answer) = t
        .post(Who::Operator, "snapshots/clone", &body.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    serde_json::from_str(&answer).expect("address")
}

#[tokio::test]
async fn a_vm_and_a_snapshot_are_cloned_into_new_vms_of_the_project() {
    let t = Tenancy::start().await;
    let href = clone(&t, json!({"Vm": VM}), "web-copy").await;
    assert_eq!(href, format!("/projects/{}/vms/web-copy", t.alpha.slug));
    ready_snapshot(&t, "base").await;
    clone(&t, json!({"Snapshot": "base"}), "from-base").await;
    for name in ["web-copy", "from-base"] {
        let namespace = t.alpha.namespace.clone();
        t.wait_for_vm(&namespace, name).await;
        // Wukong's VM of the same project: its page answers.
        let body = format!("project={}&name={name}", t.alpha.slug);
        let (status, answer) = t.post(Who::Viewer, "vms/get", &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let clones = eventually("both clones succeeded", || async {
        let list = listed(&t, Who::Viewer, &t.alpha, "").await;
        let clones = list["clones"].as_array().expect("clones").clone();
        (clones.len() == 2 && clones.iter().all(|c| c["phase"] == "Succeeded")).then_some(clones)
    })
    .await;
    assert!(clones
        .iter()
        .any(|c| c["source"] == json!({"Snapshot": "base"})));
    assert_eq!(audited(&t, "vm_cloned").await.len(), 2);
}

#[tokio::test]
async fn a_clone_target_is_checked_like_a_vm_name_and_may_not_exist() {
    let t = Tenancy::start().await;
    for (target, status) in [
        ("Bad Name", StatusCode::UNPROCESSABLE_ENTITY),
        (VM, StatusCode::CONFLICT),
    ] {
        let body = json!({"project": t.alpha.slug, "source": {"Vm": VM}, "target": target});
        let (answered, answer) = t
            .post(Who::Operator, "snapshots/clone", &body.to_string())
            .await;
        assert_eq!(answered, status, "{target}: {answer}");
    }
}
