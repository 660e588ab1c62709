//! Projects: who may create them, their namespaces, renaming, deleting with everything in
//! them, and adopting a namespace made outside Wukong.

use super::{json, Tenancy, Who, VM};
use crate::support::{api_resource as resource, form};
use app::vms::names::Namespace;
use axum::http::StatusCode;
use kube::{api::DynamicObject, Api};
use serde_json::json as value;

fn namespaces(t: &Tenancy) -> Api<DynamicObject> {
    Api::all_with(
        t.state.cluster.client.clone(),
        &resource("", "v1", "Namespace", "namespaces"),
    )
}

fn vms(t: &Tenancy, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        t.state.cluster.client.clone(),
        namespace,
        &resource("kubevirt.io", "v1", "VirtualMachine", "virtualmachines"),
    )
}

async fn project_row(t: &Tenancy, slug: &str) -> (String, String) {
    sqlx::query_as("SELECT id, namespace FROM projects WHERE slug = $1")
        .bind(slug)
        .fetch_one(t.test.db.pool())
        .await
        .expect("project")
}

/// Admins create projects for a first owner; other users only once the admin setting lets
/// them, and then for themselves. Each project gets its namespace, labelled as Wukong's and
/// the project's; the setting and the creation are audited.
#[tokio::test]
async fn admins_create_projects_and_users_may_once_the_setting_allows() {
    let t = Tenancy::start().await;
    let body = format!(
        "name=Gamma+Lab&description=GPU+work&owner_email={}",
        form(Who::Viewer.email())
    );
    let (status, body) = t.post(Who::Viewer, "projects/create", &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let create = format!(
        "name=Gamma+Lab&description=GPU+work&owner_email={}",
        form(Who::Viewer.email())
    );
    let (status, slug) = t.post(Who::GlobalAdmin, "projects/create", &create).await;
    assert_eq!(status, StatusCode::OK, "{slug}");
    let slug: String = serde_json::from_str(&slug).expect("slug");
    assert!(slug.starts_with("gamma-lab-"), "{slug}");
    let (id, namespace) = project_row(&t, &slug).await;
    let viewer = t.user_id(Who::Viewer.email()).await;
    let row = super::Project {
        id: id.clone(),
        slug: slug.clone(),
        namespace: namespace.clone(),
    };
    assert_eq!(t.role_of(&row, &viewer).await.as_deref(), Some("owner"));
    let made = namespaces(&t)
        .get(&namespace)
        .await
        .expect("namespace made");
    let labels = made.metadata.labels.expect("labels");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "wukong");
    assert_eq!(labels["wukong.io/project"], id);
    // Bad input is named field by field.
    let (status, body) = t
        .post(Who::GlobalAdmin, "projects/create", "name=+&description=")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(json(&body)["Invalid"]["field"], "name");
    let (status, body) = t
        .post(
            Who::GlobalAdmin,
            "projects/create",
            "name=X&description=&owner_email=nobody%40example.test",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(json(&body)["Invalid"]["field"], "owner_email");
    // The setting: admins only, then users create their own.
    let (status, _) = t
        .post(Who::Viewer, "projects/settings", "allowed=true")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = t
        .post(Who::GlobalAdmin, "projects/settings", "allowed=true")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, own) = t
        .post(
            Who::Operator,
            "projects/create",
            &format!(
                "name=Mine&description=&owner_email={}",
                form(Who::Viewer.email())
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{own}");
    let own: String = serde_json::from_str(&own).expect("slug");
    let (own_id, own_namespace) = project_row(&t, &own).await;
    let mine = super::Project {
        id: own_id,
        slug: own,
        namespace: own_namespace,
    };
    let operator = t.user_id(Who::Operator.email()).await;
    assert_eq!(
        t.role_of(&mine, &operator).await.as_deref(),
        Some("owner"),
        "a user's project is their own"
    );
    assert_eq!(
        t.role_of(&mine, &viewer).await,
        None,
        "users name no other owner"
    );
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT event_type, details FROM audit_logs WHERE event_type IN ('project_created', 'setting_changed') ORDER BY occurred_at",
    )
    .fetch_all(t.test.db.pool())
    .await
    .expect("audit");
    let kinds: Vec<&str> = audited.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["project_created", "setting_changed", "project_created"]
    );
    assert_eq!(
        json(&audited[1].1)["changes"],
        value!({"before": false, "after": true})
    );
}

/// Renaming is audited with before and after; deleting shows what goes, needs the name
/// typed, and takes the namespace with every VM in it.
#[tokio::test]
async fn renaming_and_deleting_a_project() {
    let t = Tenancy::start().await;
    let slug = form(&t.alpha.slug);
    let (status, _) = t
        .post(
            Who::Admin,
            "projects/update",
            &format!("slug={slug}&name=Alpha+Prime&description=New"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, details): (String, String) = sqlx::query_as(
        "SELECT event_type, details FROM audit_logs WHERE event_type = 'project_updated'",
    )
    .fetch_one(t.test.db.pool())
    .await
    .expect("audited");
    assert_eq!(
        json(&details)["changes"],
        value!({"before": {"name": "Alpha", "description": "A test project."},
            "after": {"name": "Alpha Prime", "description": "New"}})
    );
    let (status, preview) = t
        .post(Who::Owner, "projects/deletion", &format!("slug={slug}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(json(&preview)["vms"], value!([VM]));
    assert_eq!(json(&preview)["namespace"], t.alpha.namespace.as_str());
    let (status, body) = t
        .post(
            Who::Owner,
            "projects/delete",
            &format!("slug={slug}&confirm_name=Alpha"),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the old name does not confirm: {body}"
    );
    assert!(vms(&t, &t.alpha.namespace)
        .get_opt(VM)
        .await
        .expect("read")
        .is_some());
    let (status, body) = t
        .post(
            Who::Owner,
            "projects/delete",
            &format!("slug={slug}&confirm_name=Alpha+Prime"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(namespaces(&t)
        .get_opt(&t.alpha.namespace)
        .await
        .expect("read")
        .is_none());
    assert!(vms(&t, &t.alpha.namespace)
        .get_opt(VM)
        .await
        .expect("read")
        .is_none());
    let (status, _) = t
        .post(Who::Owner, "projects/get", &format!("slug={slug}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let deleted: String = sqlx::query_scalar(
        "SELECT details FROM audit_logs WHERE event_type = 'project_deleted' AND project_id = $1",
    )
    .bind(&t.alpha.id)
    .fetch_one(t.test.db.pool())
    .await
    .expect("audited");
    assert_eq!(json(&deleted)["changes"]["before"]["vms"], value!([VM]));
}

/// A namespace with a VM made straight through the cluster API, not by Wukong, is adopted
/// into a new project: the VM appears in it, untouched but for Wukong's labels, and an
/// operator of the project stops it. System namespaces and adopted ones are refused.
#[tokio::test]
async fn an_adopted_namespace_brings_its_vms_into_the_project() {
    let t = Tenancy::start().await;
    let namespace: DynamicObject = serde_json::from_value(value!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "legacy"}}))
    .expect("namespace");
    namespaces(&t)
        .create(&Default::default(), &namespace)
        .await
        .expect("namespace");
    let vm: DynamicObject = serde_json::from_value(value!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": "old-db", "namespace": "legacy", "labels": {"team": "data"}},
        "spec": {"runStrategy": "Always", "template": {"spec": {"domain": {
            "devices": {}, "memory": {"guest": "512Mi"}}}}},
    }))
    .expect("vm");
    let uid = vms(&t, "legacy")
        .create(&Default::default(), &vm)
        .await
        .expect("vm")
        .metadata
        .uid;
    let adopt = "namespace=legacy&name=Legacy+data&description=&owner_email=";
    let (status, _) = t.post(Who::Owner, "projects/adopt", adopt).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "project owners do not adopt namespaces"
    );
    for refused in [
        "kube-system",
        "default",
        "missing-one",
        t.alpha.namespace.as_str(),
    ] {
        let body = format!("namespace={refused}&name=X&description=&owner_email=");
        let (status, body) = t.post(Who::GlobalAdmin, "projects/adopt", &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{refused}: {body}"
        );
        assert_eq!(json(&body)["Invalid"]["field"], "namespace");
    }
    let (status, slug) = t.post(Who::GlobalAdmin, "projects/adopt", adopt).await;
    assert_eq!(status, StatusCode::OK, "{slug}");
    let slug: String = serde_json::from_str(&slug).expect("slug");
    let body = format!(
        "slug={}&email={}&role=operator",
        form(&slug),
        form(Who::Operator.email())
    );
    let (status, _) = t
        .post(Who::GlobalAdmin, "projects/members/add", &body)
        .await;
    assert_eq!(status, StatusCode::OK);
    t.wait_for_vm("legacy", "old-db").await;
    let list = value!({"query": {"name": "", "project": slug, "status": null, "sort": "Name",
        "descending": false, "page": 0}});
    let (status, page) = t.post(Who::Operator, "vms/list", &list.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<String> = json(&page)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|vm| vm["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["old-db"]);
    let adopted = vms(&t, "legacy").get("old-db").await.expect("still there");
    let labels = adopted.metadata.labels.clone().expect("labels");
    assert_eq!(labels["team"], "data", "its own labels stay");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "wukong");
    assert_eq!(adopted.metadata.uid, uid, "not recreated");
    let stop = value!({"project": slug, "name": "old-db", "action": "Stop"});
    let (status, body) = t.post(Who::Operator, "vms/action", &stop.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stopped = vms(&t, "legacy").get("old-db").await.expect("VM");
    assert_eq!(stopped.data["spec"]["runStrategy"], "Halted");
}

/// A project without its namespace (from before namespaces came with projects, or made
/// without the cluster at hand) gets it at the next pass of the namespace keeper.
#[tokio::test]
async fn projects_without_a_namespace_get_one() {
    let t = Tenancy::start().await;
    namespaces(&t)
        .delete(&t.beta.namespace, &Default::default())
        .await
        .expect("deleted");
    let mut ensured = std::collections::HashSet::new();
    app::projects::server::lifecycle::ensure_namespaces(&t.state, &mut ensured)
        .await
        .expect("ensured");
    assert!(ensured.contains(&t.beta.id) && ensured.contains(&t.alpha.id));
    let namespace = Namespace::parse(&t.beta.namespace).expect("name");
    assert!(
        app::projects::server::namespace::exists(&t.state.cluster, &namespace)
            .await
            .expect("read")
    );
}

/// The dashboard has a card per project of the user (their role, the members, the VMs by
/// status), and the admin area answers only global admins, as a page and in the menu.
#[tokio::test]
async fn the_dashboard_shows_the_users_projects_and_the_admin_area_only_admins() {
    let t = Tenancy::start().await;
    let (status, body) = t.post(Who::Viewer, "projects/overview", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        json(&body),
        value!([{
            "project": {"id": t.alpha.id, "slug": t.alpha.slug, "name": "Alpha",
                "description": "A test project.", "is_personal": false,
                "standing": {"role": "viewer", "global_admin": false}},
            "members": 5,
            "vms_by_status": [["Stopped", 1]],
        }])
    );
    let (_, body) = t.post(Who::Outsider, "projects/overview", "").await;
    let names: Vec<&str> = json(&body)
        .as_array()
        .expect("cards")
        .iter()
        .filter_map(|card| card["project"]["name"].as_str())
        .map(|name| if name == "Beta" { "Beta" } else { "other" })
        .collect();
    assert_eq!(names, ["Beta"]);
    let (status, _, html) = t.get(Who::Owner, "/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        !html.contains("/admin/users"),
        "the admin area's links are not shown"
    );
    let (status, _, html) = t.get(Who::GlobalAdmin, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("/admin/users"));
}
