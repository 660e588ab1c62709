//! Isolation between projects, swept over every server function in the registry (so a new
//! endpoint is covered without editing this test) and over the event socket.

use super::{json, Project, Tenancy, Who, MEMBER, NEWCOMER, VM};
use crate::support::{form, ORIGIN};
use app::realtime::types::EVENTS_PATH;
use axum::http::{header, StatusCode};
use futures_util::StreamExt as _;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

/// A slug no project has.
const GHOST: &str = "ghost-000000";

/// They name no project and replace the caller's session (signing out, signing in as
/// someone else): sweeping them would sign the outsider out.
const SKIPPED: [&str; 2] = ["/api/auth/logout", "/api/auth/login"];

/// A value for every argument any server function takes, naming `slug`'s project, its VM
/// and its member: as a form, and as JSON for the functions that take JSON.
fn arguments(t: &Tenancy, slug: &str) -> (String, String) {
    let form_body = format!(
        "slug={slug}&project={slug}&name={VM}&user_id={member}&email={email}&role=owner\
         &confirm_name=Alpha&description=d&owner_email=&allowed=true&namespace={namespace}\
         &search=&page=0&action=Unlock&disks=Delete&password={password}&current_password={password}\
         &new_password=x&confirm_password=x&code=123456&session_id=x&provider_id=x\
         &identity_id=x&required=true&id=&display_name=&is_admin=on&is_enabled=on\
         &issuer_url=http%3A%2F%2F127.0.0.1%3A9&client_id=c&client_secret=s&scopes=\
         &vm={VM}&kind=vnc&take_over=false&snapshot=snap&target=copy",
        slug = form(slug),
        member = form(&t.member_id),
        email = form(NEWCOMER),
        namespace = form(&t.alpha.namespace),
        // The right password, so that re-authentication is not throttled between the two
        // calls of a sweep.
        password = form(super::PASSWORD),
    );
    let limits = json!({"vcpus": "1", "memory_mib": "1", "disk_gib": "1", "vm_count": "1",
        "snapshot_count": "1", "snapshot_gib": "1"});
    let json_body = json!({
        "project": slug, "name": VM, "action": "Start", "disks": "Delete",
        "scope": {"Project": {"slug": slug}},
        "query": {"name": "", "project": slug, "status": null, "sort": "Name",
            "descending": false, "page": 0},
        "form": {"name": "made", "project": slug, "cpus": "1", "memory_mib": "256",
            "image": "cirros", "image_url": "", "disk_gib": "", "ssh_key": "", "user_data": "",
            "run_strategy": "Halted", "description": "d", "limits": limits, "is_default": false},
        "slug": slug, "id": "", "choice": {"Custom": limits}, "cpus": "2", "memory_mib": "512",
        "snapshot": "snap", "description": "d", "source": {"Vm": VM}, "target": "copy",
    });
    (form_body, json_body.to_string())
}

/// Calls `endpoint` with the arguments naming `slug`: as a form, or as JSON when the
/// function does not take a form.
async fn call(t: &Tenancy, endpoint: &str, slug: &str) -> (StatusCode, String) {
    let (form_body, json_body) = arguments(t, slug);
    let answer = t.post(Who::Outsider, endpoint, &form_body).await;
    if answer.0 == StatusCode::BAD_REQUEST {
        return t.post(Who::Outsider, endpoint, &json_body).await;
    }
    answer
}

/// What would give Alpha away in an answer.
fn secrets(t: &Tenancy) -> Vec<String> {
    vec![
        t.alpha.slug.clone(),
        t.alpha.id.clone(),
        t.alpha.namespace.clone(),
        "Alpha".to_owned(),
        VM.to_owned(),
        MEMBER.to_owned(),
        t.member_id.clone(),
    ]
}

/// Alpha as stored: its name, members with roles, and its VM's run strategy.
async fn alpha_state(t: &Tenancy) -> Value {
    let name: String = sqlx::query_scalar("SELECT name FROM projects WHERE id = $1")
        .bind(&t.alpha.id)
        .fetch_one(t.test.db.pool())
        .await
        .expect("name");
    let members: Vec<(String, String)> = sqlx::query_as(
        "SELECT user_id, role FROM project_members WHERE project_id = $1 ORDER BY user_id",
    )
    .bind(&t.alpha.id)
    .fetch_all(t.test.db.pool())
    .await
    .expect("members");
    let vms = kube::Api::<app::vms::server::kubevirt::VirtualMachine>::namespaced(
        t.state.cluster.client.clone(),
        &t.alpha.namespace,
    );
    let vm = vms.get(VM).await.expect("the VM is still there");
    let made = vms.get_opt("made").await.expect("read").is_some();
    json!({"name": name, "members": members, "run": vm.run_strategy(), "made": made})
}

/// AZ-01: for every server function, a signed-in user of another project who names Alpha,
/// its VM or its member gets exactly the answer they get for a project that does not
/// exist (404 wherever a project is named), with nothing of Alpha in it, and Alpha is left
/// as it was.
#[tokio::test]
async fn every_server_function_answers_an_outsider_as_if_the_project_did_not_exist() {
    let t = Tenancy::start().await;
    let before = alpha_state(&t).await;
    let paths: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .filter(|path| !SKIPPED.contains(path))
        .collect();
    assert!(
        paths.len() >= 40,
        "the registry lists every function: {paths:?}"
    );
    let mut hidden = Vec::new();
    for path in &paths {
        let endpoint = path.trim_start_matches("/api/");
        let (status, body) = call(&t, endpoint, &t.alpha.slug).await;
        let (ghost_status, _) = call(&t, endpoint, GHOST).await;
        assert_eq!(
            status, ghost_status,
            "{endpoint}: Alpha answers {status} ({body}), a missing project {ghost_status}"
        );
        assert_ne!(
            status,
            StatusCode::BAD_REQUEST,
            "{endpoint}: arguments do not decode: {body}"
        );
        for secret in secrets(&t) {
            assert!(
                !body.contains(&secret),
                "{endpoint} gave away {secret:?}: {body}"
            );
        }
        if status == StatusCode::NOT_FOUND {
            hidden.push(endpoint);
        }
    }
    for named in [
        "vms/get",
        "vms/action",
        "vms/delete",
        "vms/create",
        "vms/resize",
        "quotas/project",
        "projects/get",
        "projects/update",
        "projects/deletion",
        "projects/delete",
        "projects/members",
        "projects/members/add",
        "projects/members/role",
        "projects/members/remove",
        "console_ticket",
        "snapshots/list",
        "snapshots/take",
        "snapshots/delete",
        "snapshots/restore",
        "snapshots/clone",
    ] {
        assert!(
            hidden.contains(&named),
            "{named} did not answer 404: {hidden:?}"
        );
    }
    assert_eq!(alpha_state(&t).await, before, "Alpha changed");
    // The outsider's session still stands: the sweep was made signed in throughout.
    let (status, _) = t.post(Who::Outsider, "projects/list", "").await;
    assert_eq!(status, StatusCode::OK);
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

pub async fn socket(t: &mut Tenancy, cookie: &str) -> Socket {
    let address = t.listen().await;
    let mut request = format!("ws://{address}{EVENTS_PATH}")
        .into_client_request()
        .expect("request");
    let headers = request.headers_mut();
    headers.insert(header::ORIGIN, ORIGIN.parse().expect("origin"));
    headers.insert(header::COOKIE, cookie.parse().expect("cookie"));
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    tokio_tungstenite::client_async(request, stream)
        .await
        .expect("socket")
        .0
}

/// The text messages `socket` receives within `wait`.
pub async fn heard(socket: &mut Socket, wait: Duration) -> Vec<String> {
    let mut texts = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
        if let Message::Text(text) = message {
            texts.push(text.to_string());
        }
    }
    texts
}

/// Starts `name` of `slug`'s project as `who`.
pub async fn start_vm(t: &Tenancy, who: Who, slug: &str, name: &str) {
    let body = json!({"project": slug, "name": name, "action": "Start"}).to_string();
    let (status, answer) = t.post(who, "vms/action", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// WS-04: the event socket carries only the events of the user's projects: the outsider
/// hears Beta's VM start and nothing of Alpha's, while Alpha's viewer hears Alpha's.
#[tokio::test]
async fn the_event_socket_carries_only_the_users_projects() {
    let mut t = Tenancy::start().await;
    let outsider_cookie = t.cookie(Who::Outsider).to_owned();
    let viewer_cookie = t.cookie(Who::Viewer).to_owned();
    let mut outsider = socket(&mut t, &outsider_cookie).await;
    let mut viewer = socket(&mut t, &viewer_cookie).await;
    // Both sockets are subscribed once a first event of their own arrives; start both VMs.
    let beta_slug = t.beta.slug.clone();
    let alpha_slug = t.alpha.slug.clone();
    start_vm(&t, Who::Owner, &alpha_slug, VM).await;
    start_vm(&t, Who::Outsider, &beta_slug, "beta-vm").await;
    let outsider_heard = heard(&mut outsider, Duration::from_secs(2)).await;
    let viewer_heard = heard(&mut viewer, Duration::from_secs(2)).await;
    assert!(
        outsider_heard.iter().any(|text| text.contains("beta-vm")),
        "the outsider's socket works: {outsider_heard:?}"
    );
    for text in &outsider_heard {
        for secret in secrets(&t) {
            assert!(
                !text.contains(&secret),
                "the outsider heard {secret:?}: {text}"
            );
        }
    }
    assert!(viewer_heard
        .iter()
        .any(|text| json(text)["vm"]["name"] == VM));
    assert!(!viewer_heard.iter().any(|text| text.contains("beta-vm")));
}

/// WS-04: a VM in Alpha's namespace but labelled for Beta (made behind Wukong's back) is a
/// VM of neither project, as the list and the VM pages already hold: Alpha's viewer hears
/// Alpha's own VM and nothing of the stray one.
#[tokio::test]
async fn a_vm_labelled_for_another_project_is_not_heard_in_its_namespace() {
    let mut t = Tenancy::start().await;
    let viewer_cookie = t.cookie(Who::Viewer).to_owned();
    let mut viewer = socket(&mut t, &viewer_cookie).await;
    let stray = Project {
        id: t.beta.id.clone(),
        slug: t.beta.slug.clone(),
        namespace: t.alpha.namespace.clone(),
    };
    t.make_vm(&stray, "stray").await;
    let alpha_slug = t.alpha.slug.clone();
    start_vm(&t, Who::Owner, &alpha_slug, VM).await;
    let viewer_heard = heard(&mut viewer, Duration::from_secs(2)).await;
    assert!(
        viewer_heard
            .iter()
            .any(|text| json(text)["vm"]["name"] == VM),
        "the viewer's socket works: {viewer_heard:?}"
    );
    assert!(
        !viewer_heard.iter().any(|text| text.contains("stray")),
        "{viewer_heard:?}"
    );
}
