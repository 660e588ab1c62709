//! What a user of another project can do with Alpha's snapshots by guessing their names:
//! nothing, and learn nothing (security.md AZ-02, AZ-10, WS-04).

use super::{eventually, listed, make_snapshot, ready_snapshot, snapshot_row};
use crate::tenancy::{
    isolation::{heard, socket},
    json, Tenancy, Who, VM,
};
use axum::http::StatusCode;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn another_projects_user_guessing_alphas_snapshot_names_gets_not_found() {
    let t = Tenancy::start().await;
    ready_snapshot(&t, "secret-snap").await;
    let beta = &t.beta.slug;
    let alpha = &t.alpha.slug;
    let probes = [
        // Their own project's slug with Alpha's names: looked up in Beta's namespace.
        (
            "snapshots/delete",
            json!({"project": beta, "snapshot": "secret-snap"}),
        ),
        (
            "snapshots/restore",
            json!({"project": beta, "snapshot": "secret-snap"}),
        ),
        (
            "snapshots/clone",
            json!({"project": beta, "source": {"Snapshot": "secret-snap"}, "target": "stolen"}),
        ),
        (
            "snapshots/clone",
            json!({"project": beta, "source": {"Vm": VM}, "target": "stolen"}),
        ),
        (
            "snapshots/take",
            json!({"project": beta, "name": VM, "snapshot": "peek", "description": ""}),
        ),
        // Alpha's slug: not a member.
        (
            "snapshots/delete",
            json!({"project": alpha, "snapshot": "secret-snap"}),
        ),
        (
            "snapshots/clone",
            json!({"project": alpha, "source": {"Snapshot": "secret-snap"}, "target": "stolen"}),
        ),
    ];
    for (endpoint, body) in probes {
        let (status, answer) = t.post(Who::Outsider, endpoint, &body.to_string()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{endpoint} {body}: {answer}");
        assert!(!answer.contains(&t.alpha.namespace), "{answer}");
    }
    let (status, _) = t
        .post(
            Who::Outsider,
            "snapshots/list",
            &format!("project={alpha}&vm="),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let own = listed(&t, Who::Outsider, &t.beta, "").await;
    assert_eq!(own["snapshots"], json!([]));
    assert_eq!(own["clones"], json!([]));
    // Nothing happened to Alpha's snapshot, and nothing was made anywhere.
    assert_eq!(snapshot_row(&t, "secret-snap").await["ready"], true);
    let vms = kube::Api::<app::vms::server::kubevirt::VirtualMachine>::all(
        t.state.cluster.client.clone(),
    );
    let names: Vec<String> = vms
        .list(&Default::default())
        .await
        .expect("VMs")
        .items
        .into_iter()
        .filter_map(|vm| vm.metadata.name)
        .collect();
    assert!(!names.contains(&"stolen".to_owned()), "{names:?}");
}

#[tokio::test]
async fn a_snapshot_labelled_for_another_project_is_no_ones_in_its_namespace() {
    let t = Tenancy::start().await;
    make_snapshot(&t, &t.alpha, &t.beta.id, VM, "stray").await;
    ready_snapshot(&t, "own").await;
    assert!(snapshot_row(&t, "stray").await.is_null());
    for who in [Who::Owner, Who::Outsider] {
        for project in [&t.alpha.slug, &t.beta.slug] {
            let body = json!({"project": project, "snapshot": "stray"});
            let (status, answer) = t.post(who, "snapshots/delete", &body.to_string()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{who:?} {project}: {answer}");
        }
    }
}

#[tokio::test]
async fn snapshot_changes_reach_only_the_sockets_of_the_projects_members() {
    let mut t = Tenancy::start().await;
    let viewer_cookie = t.cookie(Who::Viewer).to_owned();
    let outsider_cookie = t.cookie(Who::Outsider).to_owned();
    let mut viewer = socket(&mut t, &viewer_cookie).await;
    let mut outsider = socket(&mut t, &outsider_cookie).await;
    let (status, answer) = super::take(&t, Who::Operator, VM, "pushed").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let changed = json!({"type": "snapshots_changed"});
    let viewer_heard = heard(&mut viewer, Duration::from_secs(2)).await;
    assert!(
        viewer_heard.iter().any(|text| json(text) == changed),
        "{viewer_heard:?}"
    );
    // The outsider hears of no snapshot at all: the event went only to Alpha's members.
    let outsider_heard = heard(&mut outsider, Duration::from_secs(1)).await;
    assert!(
        outsider_heard.iter().all(|text| json(text) != changed),
        "{outsider_heard:?}"
    );
    eventually("the snapshot listed", || async {
        (!snapshot_row(&t, "pushed").await.is_null()).then_some(())
    })
    .await;
}
