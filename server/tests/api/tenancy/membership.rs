//! Members and roles: the rules that keep a project owned, audits with before and after,
//! and changes that reach open sockets at once.

use super::{
    isolation::{heard, socket, start_vm},
    json, Tenancy, Who, VM,
};
use crate::support::form;
use axum::http::StatusCode;
use std::time::Duration;

async fn owner_id(t: &Tenancy) -> String {
    t.user_id(super::Who::Owner.email()).await
}

async fn set_role(t: &Tenancy, who: Who, user_id: &str, role: &str) -> (StatusCode, String) {
    let body = format!("slug={}&user_id={user_id}&role={role}", form(&t.alpha.slug));
    t.post(who, "projects/members/role", &body).await
}

async fn remove(t: &Tenancy, who: Who, user_id: &str) -> (StatusCode, String) {
    let body = format!("slug={}&user_id={user_id}", form(&t.alpha.slug));
    t.post(who, "projects/members/remove", &body).await
}

/// The last owner can neither leave nor be demoted; ownership is handed over by making
/// another member owner, after which the first may step down or leave.
#[tokio::test]
async fn a_project_always_keeps_an_owner_and_ownership_can_be_handed_over() {
    let t = Tenancy::start().await;
    let owner = owner_id(&t).await;
    let (status, body) = remove(&t, Who::Owner, &owner).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("at least one owner"), "{body}");
    let (status, _) = set_role(&t, Who::Owner, &owner, "admin").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = set_role(&t, Who::GlobalAdmin, &owner, "viewer").await;
    assert_eq!(status, StatusCode::CONFLICT, "not even a global admin");
    assert_eq!(t.role_of(&t.alpha, &owner).await.as_deref(), Some("owner"));
    // Handing over.
    let (status, body) = set_role(&t, Who::Owner, &t.member_id, "owner").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = remove(&t, Who::Owner, &owner).await;
    assert_eq!(status, StatusCode::OK, "the former owner leaves");
    assert_eq!(t.role_of(&t.alpha, &owner).await, None);
    assert_eq!(
        t.role_of(&t.alpha, &t.member_id).await.as_deref(),
        Some("owner")
    );
    // Any member may leave; a project admin may not touch owners.
    let viewer = t.user_id(Who::Viewer.email()).await;
    let (status, _) = remove(&t, Who::Viewer, &viewer).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = remove(&t, Who::Admin, &t.member_id).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let events: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT event_type, details, project_id FROM audit_logs \
         WHERE event_type LIKE 'project_%' ORDER BY occurred_at, event_type",
    )
    .fetch_all(t.test.db.pool())
    .await
    .expect("audit");
    let changes: Vec<(&str, serde_json::Value)> = events
        .iter()
        .map(|(event, details, project)| {
            assert_eq!(project.as_deref(), Some(t.alpha.id.as_str()));
            (event.as_str(), json(details)["changes"].clone())
        })
        .collect();
    assert_eq!(
        changes,
        [
            (
                "project_role_changed",
                serde_json::json!({"before": "viewer", "after": "owner"})
            ),
            (
                "project_member_left",
                serde_json::json!({"before": "owner", "after": null})
            ),
            (
                "project_member_left",
                serde_json::json!({"before": "viewer", "after": null})
            ),
        ]
    );
}

/// Two owners demoting each other at the same moment: the change that comes second sees
/// the first and is refused (its caller is no longer an owner, or the other is the last
/// one), so the project keeps one owner (SQLite: a write transaction taken at once;
/// PostgreSQL: the project's row locked, and roles read again inside it).
#[tokio::test]
async fn owners_demoting_each_other_at_once_leave_one_owner() {
    let t = Tenancy::start().await;
    let owner = owner_id(&t).await;
    let (status, _) = set_role(&t, Who::Owner, &t.member_id, "owner").await;
    assert_eq!(status, StatusCode::OK);
    let second = t.sign_in(super::MEMBER).await;
    for _ in 0..5 {
        let body_a = format!(
            "slug={}&user_id={}&role=admin",
            form(&t.alpha.slug),
            t.member_id
        );
        let body_b = format!("slug={}&user_id={owner}&role=admin", form(&t.alpha.slug));
        let (first, other) = tokio::join!(
            t.post(Who::Owner, "projects/members/role", &body_a),
            t.post_as(&second, "projects/members/role", &body_b),
        );
        let owners: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM project_members WHERE project_id = $1 AND role = 'owner'",
        )
        .bind(&t.alpha.id)
        .fetch_one(t.test.db.pool())
        .await
        .expect("owners");
        assert_eq!(owners, 1, "answers {} and {}", first.0, other.0);
        let statuses = [first.0, other.0];
        assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
        // Refused as the last owner, or as no longer an owner.
        assert!(
            statuses.contains(&StatusCode::CONFLICT) || statuses.contains(&StatusCode::FORBIDDEN),
            "{statuses:?}"
        );
        // Whoever is left makes the other owner again for the next round.
        let (remaining, demoted) = if first.0 == StatusCode::OK {
            (t.cookie(Who::Owner), &t.member_id)
        } else {
            (second.as_str(), &owner)
        };
        let body = format!("slug={}&user_id={demoted}&role=owner", form(&t.alpha.slug));
        let (status, _) = t.post_as(remaining, "projects/members/role", &body).await;
        assert_eq!(status, StatusCode::OK);
    }
}

/// Removing a member takes effect on their next request and on their open socket at once:
/// it is told its access changed and hears nothing of the project after; adding a user
/// starts the project's events on their open socket without a reconnect.
#[tokio::test]
async fn membership_changes_reach_open_sockets_at_once() {
    let mut t = Tenancy::start().await;
    let viewer_cookie = t.cookie(Who::Viewer).to_owned();
    let mut viewer = socket(&mut t, &viewer_cookie).await;
    let newcomer_cookie = t.sign_in(super::NEWCOMER).await;
    let mut newcomer = socket(&mut t, &newcomer_cookie).await;
    let alpha = t.alpha.slug.clone();
    let viewer_id = t.user_id(Who::Viewer.email()).await;
    let (status, _) = remove(&t, Who::Owner, &viewer_id).await;
    assert_eq!(status, StatusCode::OK);
    let body = format!(
        "slug={}&email={}&role=viewer",
        form(&alpha),
        form(super::NEWCOMER)
    );
    let (status, _) = t.post(Who::Owner, "projects/members/add", &body).await;
    assert_eq!(status, StatusCode::OK);
    let told = |texts: &[String]| {
        texts
            .iter()
            .any(|text| json(text)["type"] == "access_changed")
    };
    let viewer_heard = heard(&mut viewer, Duration::from_millis(500)).await;
    assert!(told(&viewer_heard), "{viewer_heard:?}");
    let newcomer_heard = heard(&mut newcomer, Duration::from_millis(500)).await;
    assert!(told(&newcomer_heard), "{newcomer_heard:?}");
    start_vm(&t, Who::Owner, &alpha, VM).await;
    let viewer_heard = heard(&mut viewer, Duration::from_secs(2)).await;
    assert!(
        !viewer_heard.iter().any(|text| text.contains(VM)),
        "a removed member still hears the project: {viewer_heard:?}"
    );
    let newcomer_heard = heard(&mut newcomer, Duration::from_secs(1)).await;
    assert!(newcomer_heard
        .iter()
        .any(|text| json(text)["vm"]["name"] == VM));
    // And the next request is refused as for anyone outside the project.
    let (status, _) = t
        .post(
            Who::Viewer,
            "vms/get",
            &format!("project={}&name={VM}", form(&alpha)),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
