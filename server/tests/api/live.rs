//! The VM server functions and `/ws/events` on a real listening Wukong over the simulated
//! cluster: who may call them, what they do, and what every open socket hears.

use crate::controlplane::harness::{connect, ControlPlane, Relay};
use crate::support::{
    app_state_on, body_text, cluster_at, create_user, form, simulated, test_auth, test_db, TestDb,
    ORIGIN,
};
use app::{
    cluster::Cluster,
    context::AppState,
    realtime::types::{LiveEvent, EVENTS_PATH},
    vms::{
        new_vm::NewVmForm,
        server::{body::virtual_machine, kubevirt::VirtualMachine},
        types::{VmDetail, VmPage, VmQuery, VmStatus, VmSummary},
    },
};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use server::simcluster::{standin::StandIn, SimCluster, SimOptions};
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    client_async,
    tungstenite::{client::IntoClientRequest, Message},
    WebSocketStream,
};
use tower::ServiceExt as _;

const ADMIN: &str = "root@example.test";
const USER: &str = "user@example.test";
const PASSWORD: &str = "long enough password";

/// A Wukong listening on 127.0.0.1 over a simulated cluster, with an admin and a plain user
/// signed in, and a project to create VMs in.
struct Wukong {
    test: TestDb,
    state: AppState,
    address: SocketAddr,
    admin: String,
    user: String,
    namespace: String,
    project_id: String,
    /// The admin's project, as requests name it.
    slug: String,
}

async fn sign_in(state: &AppState, email: &str) -> String {
    crate::support::sign_in(state, email, PASSWORD, None).await
}

async fn start(sim: &SimCluster) -> Wukong {
    start_on(simulated(sim)).await
}

/// A Wukong over the API server `cluster` reaches.
async fn start_on(cluster: app::cluster::Cluster) -> Wukong {
    let test = test_db().await;
    let auth = test_auth(false);
    let admin_id = create_user(&test.db, &auth, ADMIN, PASSWORD).await;
    create_user(&test.db, &auth, USER, PASSWORD).await;
    sqlx::query("UPDATE users SET global_role = 'admin' WHERE id = $1")
        .bind(&admin_id)
        .execute(test.db.pool())
        .await
        .expect("promote");
    let mut conn = test.db.pool().acquire().await.expect("connection");
    app::projects::server::create_personal(&mut conn, &admin_id, ADMIN, "Root", 0)
        .await
        .expect("project");
    drop(conn);
    let (project_id, namespace, slug): (String, String, String) =
        sqlx::query_as("SELECT id, namespace, slug FROM projects")
            .fetch_one(test.db.pool())
            .await
            .expect("namespace");
    // These tests make up to sixty VMs; quotas are tested on their own.
    sqlx::query(
        "UPDATE resource_quotas SET vcpus = 1000, memory_mib = 1000000, disk_gib = 10000, \
         vm_count = 1000 WHERE project_id = $1",
    )
    .bind(&project_id)
    .execute(test.db.pool())
    .await
    .expect("room");
    let state = app_state_on(test.db.clone(), auth, cluster);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let service =
        server::http::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, service).await;
    });
    let admin = sign_in(&state, ADMIN).await;
    let user = sign_in(&state, USER).await;
    Wukong {
        test,
        state,
        address,
        admin,
        user,
        namespace,
        project_id,
        slug,
    }
}

fn fast() -> SimOptions {
    SimOptions {
        transition_delay: Duration::from_millis(200),
        ..SimOptions::default()
    }
}

impl Wukong {
    /// Posts `body` of `content_type` to the server fn `endpoint`; the answer's status and
    /// body.
    async fn post(
        &self,
        endpoint: &str,
        cookie: &str,
        content_type: &str,
        body: String,
    ) -> (StatusCode, String) {
        let request = Request::post(format!("/api/{endpoint}"))
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .expect("request");
        let response = server::http::router(self.state.clone())
            .oneshot(request)
            .await
            .expect("answer");
        let status = response.status();
        (status, body_text(response).await)
    }

    /// Calls a JSON server fn.
    async fn call(&self, endpoint: &str, cookie: &str, body: Value) -> (StatusCode, String) {
        self.post(endpoint, cookie, "application/json", body.to_string())
            .await
    }

    /// Calls `vms/get`, which takes a form-encoded body.
    async fn get(&self, cookie: &str, project: &str, name: &str) -> (StatusCode, String) {
        let body = format!("project={}&name={}", form(project), form(name));
        self.post("vms/get", cookie, "application/x-www-form-urlencoded", body)
            .await
    }

    /// As an admin: reads the VM `name` of the project `project` (a slug), starts it and
    /// deletes it; the three answers.
    async fn read_start_delete(&self, project: &str, name: &str) -> [(StatusCode, String); 3] {
        let target = json!({"project": project, "name": name});
        let mut action = target.clone();
        action["action"] = json!("Start");
        let mut removal = target;
        removal["disks"] = json!("Delete");
        [
            self.get(&self.admin, project, name).await,
            self.call("vms/action", &self.admin, action).await,
            self.call("vms/delete", &self.admin, removal).await,
        ]
    }

    async fn list(&self, query: VmQuery) -> VmPage {
        let (status, body) = self
            .call("vms/list", &self.admin, json!({"query": query}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_str(&body).expect("page")
    }

    /// Waits until the list shows `name` in `status`.
    async fn wait_for(&self, name: &str, status: VmStatus) -> VmPage {
        for _ in 0..300 {
            let page = self
                .list(VmQuery {
                    name: name.to_owned(),
                    ..VmQuery::default()
                })
                .await;
            if page
                .items
                .iter()
                .any(|vm| vm.name == name && vm.status == status)
            {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{name} never listed as {status:?}");
    }

    /// The list's rows as (name, `field`), listed every 100 ms until `done` holds of them,
    /// at most `tries` times; the last rows.
    async fn rows_until<T>(
        &self,
        field: fn(&VmSummary) -> T,
        tries: usize,
        done: impl Fn(&[(String, T)]) -> bool,
    ) -> Vec<(String, T)> {
        let mut rows = Vec::new();
        for _ in 0..tries {
            let page = self.list(VmQuery::default()).await;
            rows = page
                .items
                .iter()
                .map(|vm| (vm.name.clone(), field(vm)))
                .collect();
            if done(&rows) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rows
    }

    fn form(&self, name: &str) -> NewVmForm {
        NewVmForm {
            name: name.to_owned(),
            project: self.slug.clone(),
            cpus: "2".to_owned(),
            memory_mib: "1024".to_owned(),
            image: "cirros".to_owned(),
            run_strategy: "Halted".to_owned(),
            ..NewVmForm::default()
        }
    }

    async fn create(&self, name: &str) {
        let (status, body) = self
            .call("vms/create", &self.admin, json!({"form": self.form(name)}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn socket(&self, cookie: Option<&str>, origin: &str) -> Result<Socket, u16> {
        let url = format!("ws://{}{EVENTS_PATH}", self.address);
        let mut request = url.into_client_request().expect("request");
        request
            .headers_mut()
            .insert(header::ORIGIN, origin.parse().expect("origin"));
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert(header::COOKIE, cookie.parse().expect("cookie"));
        }
        let stream = TcpStream::connect(self.address).await.expect("connect");
        match client_async(request, stream).await {
            Ok((socket, _)) => Ok(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(other) => panic!("handshake failed: {other}"),
        }
    }

    async fn audit_events(&self) -> Vec<(String, String, String)> {
        sqlx::query_as("SELECT event_type, outcome, details FROM audit_logs WHERE event_type LIKE 'vm_%' ORDER BY occurred_at")
            .fetch_all(self.test.db.pool())
            .await
            .expect("audit")
    }
}

type Socket = WebSocketStream<TcpStream>;

fn namespace(name: &str) -> app::vms::names::Namespace {
    app::vms::names::Namespace::parse(name).expect("namespace")
}

/// The next event on `socket`, or `None` if nothing comes within `wait`.
async fn next_event(socket: &mut Socket, wait: Duration) -> Option<LiveEvent> {
    use futures_util::StreamExt as _;
    loop {
        let message = tokio::time::timeout(wait, socket.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(text) = message {
            return Some(serde_json::from_str(&text).expect("a live event"));
        }
    }
}

/// Reads events until `wanted` matches one; panics after 10 s.
async fn wait_event(socket: &mut Socket, wanted: impl Fn(&LiveEvent) -> bool) -> LiveEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if let Some(event) = next_event(socket, Duration::from_secs(1)).await {
            if wanted(&event) {
                return event;
            }
        }
    }
    panic!("the awaited event never came");
}

fn status_of(event: &LiveEvent, name: &str) -> Option<VmStatus> {
    match event {
        LiveEvent::VmChanged { vm } if vm.name == name => Some(vm.status),
        _ => None,
    }
}

/// AZ-01: a user who is not a member of the project sees none of its VMs, cannot create
/// one in it, and gets 404 for each of its VMs; their socket carries nothing about them.
#[tokio::test]
async fn non_members_learn_nothing_about_a_projects_vms() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    let wukong = start(&sim).await;
    wukong.create("web-1").await;
    wukong.wait_for("web-1", VmStatus::Stopped).await;
    let target = json!({"project": wukong.slug, "name": "web-1"});
    let (status, body) = wukong
        .call(
            "vms/list",
            &wukong.user,
            json!({"query": VmQuery::default()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let page: VmPage = serde_json::from_str(&body).expect("page");
    assert_eq!((page.total, page.items.len()), (0, 0), "{body}");
    assert!(
        page.projects
            .iter()
            .all(|project| project.slug != wukong.slug),
        "{body}"
    );
    let (status, body) = wukong
        .call(
            "vms/create",
            &wukong.user,
            json!({"form": wukong.form("web-2")}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, r#"{"NotFound":{"what":"That project"}}"#);
    let mut action = target.clone();
    action["action"] = json!("Stop");
    let (status, _) = wukong.call("vms/action", &wukong.user, action).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut removal = target.clone();
    removal["disks"] = json!("Delete");
    let (status, _) = wukong.call("vms/delete", &wukong.user, removal).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = wukong.get(&wukong.user, &wukong.slug, "web-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = wukong.get(&wukong.admin, &wukong.slug, "web-1").await;
    assert_eq!(status, StatusCode::OK);
    let detail: VmDetail = serde_json::from_str(&body).expect("detail");
    assert_eq!(detail.run_strategy, "Halted");
    assert_eq!(
        detail.disks,
        ["rootdisk: container disk quay.io/kubevirt/cirros-container-disk-demo:latest"]
    );
    // The user's socket opens (they are signed in) but carries nothing about the VM.
    let mut socket = wukong
        .socket(Some(&wukong.user), ORIGIN)
        .await
        .expect("socket");
    let mut start = target.clone();
    start["action"] = json!("Start");
    let (status, _) = wukong.call("vms/action", &wukong.admin, start).await;
    assert_eq!(status, StatusCode::OK);
    wukong.wait_for("web-1", VmStatus::Running).await;
    assert_eq!(
        next_event(&mut socket, Duration::from_millis(300)).await,
        None
    );
}

#[tokio::test]
async fn the_event_socket_needs_a_session_and_an_allowed_origin() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    let wukong = start(&sim).await;
    assert_eq!(wukong.socket(None, ORIGIN).await.err(), Some(401));
    assert_eq!(
        wukong
            .socket(Some(&wukong.admin), "http://evil.test")
            .await
            .err(),
        Some(403)
    );
    assert!(wukong.socket(Some(&wukong.admin), ORIGIN).await.is_ok());
    // A signed-out session is refused too.
    let (status, _) = wukong.call("auth/logout", &wukong.admin, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        wukong.socket(Some(&wukong.admin), ORIGIN).await.err(),
        Some(401)
    );
}

/// An API server whose cluster-wide lists of VMs and instances are empty and whose watches
/// stay open, except that while `refusing` holds it refuses Wukong's list of instances as
/// the RBAC authorizer does.
async fn refusing_cluster(refusing: Arc<std::sync::atomic::AtomicBool>) -> String {
    use axum::{http::Uri, routing::any, Json, Router};
    use std::sync::atomic::Ordering;
    let handler = move |uri: Uri| {
        let refusing = refusing.clone();
        async move {
            let instances = uri.path() == "/apis/kubevirt.io/v1/virtualmachineinstances";
            if instances && refusing.load(Ordering::SeqCst) {
                let refusal = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "Forbidden", "code": 403, "message": "virtualmachineinstances.kubevirt.io is forbidden: \
                    User \"system:serviceaccount:wukong:wukong\" cannot list resource \"virtualmachineinstances\" \
                    in API group \"kubevirt.io\" at the cluster scope"});
                return (StatusCode::FORBIDDEN, Json(refusal));
            }
            if uri.query().is_some_and(|query| query.contains("watch=")) {
                std::future::pending::<()>().await;
            }
            let empty = json!({"apiVersion": "kubevirt.io/v1", "kind": "List",
                "metadata": {"resourceVersion": "1"}, "items": []});
            (StatusCode::OK, Json(empty))
        }
    };
    let (url, _) = crate::support::serve_on_loopback(Router::new().fallback(any(handler))).await;
    url
}

/// What the banner on every page shows: the failures the socket last announced, after
/// waiting up to `limit` for `wanted`.
async fn announced(
    socket: &mut Socket,
    limit: Duration,
    wanted: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if let Some(LiveEvent::ClusterWatch { failures }) =
            next_event(socket, Duration::from_secs(1)).await
        {
            if wanted(&failures) {
                return failures;
            }
        }
    }
    panic!("the awaited watch state was never announced");
}

/// A watch the cluster refuses is never an endless spinner: every open page is told why
/// (the banner), so is a page opened later, and so is `/readyz`; once the cluster allows the
/// watch again, the pages are told that too.
#[tokio::test]
async fn a_failing_watch_is_announced_to_every_page_until_it_works_again() {
    let refusing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let wukong = start_on(cluster_at(&refusing_cluster(refusing.clone()).await)).await;
    let mut early = wukong
        .socket(Some(&wukong.admin), ORIGIN)
        .await
        .expect("socket");
    let missing = "Wukong's cluster account is not allowed to list \"virtualmachineinstances\" (kubevirt.io) across the cluster.";
    let failures = announced(&mut early, Duration::from_secs(10), |failures| {
        !failures.is_empty()
    })
    .await;
    assert!(
        failures.iter().any(|failure| failure.contains(missing)),
        "{failures:?}"
    );
    let mut late = wukong
        .socket(Some(&wukong.user), ORIGIN)
        .await
        .expect("socket");
    let first = next_event(&mut late, Duration::from_secs(5)).await;
    assert_eq!(
        first,
        Some(LiveEvent::ClusterWatch {
            failures: failures.clone()
        })
    );
    let response = crate::support::get_from(wukong.state.clone(), "/readyz").await;
    let ready: Value = serde_json::from_str(&body_text(response).await).expect("JSON");
    assert!(
        ready["watches"]
            .as_array()
            .expect("watches")
            .iter()
            .any(|failure| failure.as_str().is_some_and(|text| text.contains(missing))),
        "{ready}"
    );

    refusing.store(false, std::sync::atomic::Ordering::SeqCst);
    // The watcher's backoff decides when it asks again: within its 30 s ceiling.
    for socket in [&mut early, &mut late] {
        announced(socket, Duration::from_secs(40), <[String]>::is_empty).await;
    }
}

#[tokio::test]
async fn create_start_stop_delete_reach_every_socket_and_the_audit_log() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    sockets_and_audit_follow_the_lifecycle(start(&sim).await).await;
}

/// The same on a real API server, with the simulated KubeVirt standing in for KubeVirt:
/// every change reaches the sockets through Wukong's watches of the real API server.
#[tokio::test]
async fn on_a_real_api_server_the_lifecycle_reaches_every_socket_and_the_audit_log() {
    let OnAControlPlane {
        plane: _plane,
        wukong,
        _kubevirt,
        ..
    } = on_a_control_plane(false).await;
    sockets_and_audit_follow_the_lifecycle(wukong).await;
}

async fn sockets_and_audit_follow_the_lifecycle(wukong: Wukong) {
    let mut first = wukong
        .socket(Some(&wukong.admin), ORIGIN)
        .await
        .expect("socket");
    let mut second = wukong
        .socket(Some(&wukong.admin), ORIGIN)
        .await
        .expect("socket");
    wukong.create("web-1").await;
    for socket in [&mut first, &mut second] {
        let created = wait_event(socket, |event| status_of(event, "web-1").is_some()).await;
        let LiveEvent::VmChanged { vm } = created else {
            unreachable!()
        };
        assert_eq!((vm.cpus, vm.memory_mib), (2, 1024));
    }
    let target = json!({"project": wukong.slug, "name": "web-1"});
    let mut start = target.clone();
    start["action"] = json!("Start");
    let (status, body) = wukong
        .call("vms/action", &wukong.admin, start.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for socket in [&mut first, &mut second] {
        wait_event(socket, |event| {
            status_of(event, "web-1") == Some(VmStatus::Starting)
        })
        .await;
        let running = wait_event(socket, |event| {
            matches!(event, LiveEvent::VmChanged { vm } if vm.status == VmStatus::Running && vm.ip.is_some())
        })
        .await;
        let LiveEvent::VmChanged { vm } = running else {
            unreachable!()
        };
        assert_eq!(vm.node.as_deref(), Some("sim-node-1"));
    }
    let page = wukong.wait_for("web-1", VmStatus::Running).await;
    assert!(page.items[0].ip.is_some());
    // Starting a running VM is refused for KubeVirt's reason (virt-api's "VM is already
    // running", pkg/virt-api/rest/lifecycle.go).
    let (status, body) = wukong.call("vms/action", &wukong.admin, start).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        r#"{"Conflict":{"message":"VM \"web-1\" is already running."}}"#
    );
    let mut stop = target.clone();
    stop["action"] = json!("Stop");
    let (status, _) = wukong.call("vms/action", &wukong.admin, stop).await;
    assert_eq!(status, StatusCode::OK);
    wait_event(&mut first, |event| {
        status_of(event, "web-1") == Some(VmStatus::Stopped)
    })
    .await;
    let mut removal = target.clone();
    removal["disks"] = json!("Delete");
    let (status, _) = wukong.call("vms/delete", &wukong.admin, removal).await;
    assert_eq!(status, StatusCode::OK);
    for socket in [&mut first, &mut second] {
        wait_event(
            socket,
            |event| matches!(event, LiveEvent::VmRemoved { name, .. } if name == "web-1"),
        )
        .await;
    }
    let events = wukong.audit_events().await;
    let summary: Vec<(&str, &str)> = events
        .iter()
        .map(|(e, o, _)| (e.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("vm_created", "success"),
            ("vm_action", "success"),
            ("vm_action", "failure"),
            ("vm_action", "success"),
            ("vm_deleted", "success"),
        ]
    );
}

#[tokio::test]
async fn the_create_form_is_checked_on_the_server_field_by_field() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    let wukong = start(&sim).await;
    let mut bad = wukong.form("Bad_Name");
    let (status, body) = wukong
        .call("vms/create", &wukong.admin, json!({"form": bad}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("\"field\":\"name\""), "{body}");
    bad = wukong.form("ok");
    bad.project = "kube-system".to_owned();
    let (status, body) = wukong
        .call("vms/create", &wukong.admin, json!({"form": bad}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, r#"{"NotFound":{"what":"That project"}}"#);
    wukong.create("web-1").await;
    let (status, body) = wukong
        .call(
            "vms/create",
            &wukong.admin,
            json!({"form": wukong.form("web-1")}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("already exists"), "{body}");
}

#[tokio::test]
async fn the_list_filters_sorts_and_pages_on_the_server() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    let wukong = start(&sim).await;
    for index in 0..60 {
        wukong.create(&format!("vm-{index:02}")).await;
    }
    wukong.create("other").await;
    wukong.wait_for("vm-59", VmStatus::Stopped).await;
    let all = wukong.list(VmQuery::default()).await;
    assert_eq!(all.total, 61);
    assert_eq!(all.items.len(), 50);
    assert_eq!(all.items[0].name, "other");
    let second = wukong
        .list(VmQuery {
            page: 1,
            ..VmQuery::default()
        })
        .await;
    assert_eq!(second.items.len(), 11);
    assert_eq!(
        second.items.last().map(|vm| vm.name.as_str()),
        Some("vm-59")
    );
    let filtered = wukong
        .list(VmQuery {
            name: "VM-5".to_owned(),
            descending: true,
            ..VmQuery::default()
        })
        .await;
    let names: Vec<&str> = filtered.items.iter().map(|vm| vm.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "vm-59", "vm-58", "vm-57", "vm-56", "vm-55", "vm-54", "vm-53", "vm-52", "vm-51",
            "vm-50"
        ]
    );
    let running = wukong
        .list(VmQuery {
            status: Some(VmStatus::Running),
            ..VmQuery::default()
        })
        .await;
    assert_eq!(running.total, 0);
}

/// Starts the drills below: "before" and "kept" exist, and the socket has seen them.
async fn two_vms_seen(wukong: &Wukong) -> Socket {
    let mut socket = wukong
        .socket(Some(&wukong.admin), ORIGIN)
        .await
        .expect("socket");
    wukong.create("before").await;
    wukong.create("kept").await;
    wait_event(&mut socket, |event| status_of(event, "kept").is_some()).await;
    socket
}

/// While Wukong cannot see the cluster, someone else deletes one VM and creates another,
/// through `other`.
async fn change_meanwhile(wukong: &Wukong, other: &app::cluster::Cluster) {
    let vms: Api<VirtualMachine> = Api::namespaced(other.client.clone(), &wukong.namespace);
    vms.delete("before", &DeleteParams::default())
        .await
        .expect("delete meanwhile");
    let form = wukong.form("during").parse().expect("form");
    app::vms::server::cluster::create(
        other,
        &form,
        &namespace(&wukong.namespace),
        &wukong.project_id,
    )
    .await
    .expect("create meanwhile");
}

fn names(page: &VmPage) -> Vec<&str> {
    page.items.iter().map(|vm| vm.name.as_str()).collect()
}

/// Ends the drills: the list comes to show what changed meanwhile, and the same socket
/// carries later changes.
async fn caught_up(wukong: &Wukong, socket: &mut Socket) {
    for _ in 0..300 {
        if names(&wukong.list(VmQuery::default()).await) == ["during", "kept"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        names(&wukong.list(VmQuery::default()).await),
        ["during", "kept"]
    );
    let target = json!({"project": wukong.slug, "name": "kept", "action": "Start"});
    let (status, body) = wukong.call("vms/action", &wukong.admin, target).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_event(socket, |event| {
        status_of(event, "kept") == Some(VmStatus::Running)
    })
    .await;
}

#[tokio::test]
async fn after_a_cluster_restart_sockets_resync_and_lists_show_what_changed_meanwhile() {
    let dir = tempfile::tempdir().expect("dir");
    let state_file = dir.path().join("sim.json");
    let sim = SimCluster::start_with(Some(&state_file), fast())
        .await
        .expect("sim");
    let port = sim.address.port();
    let wukong = start(&sim).await;
    let mut socket = two_vms_seen(&wukong).await;
    drop(sim);
    let elsewhere = SimCluster::start_with(Some(&state_file), fast())
        .await
        .expect("other sim");
    change_meanwhile(&wukong, &simulated(&elsewhere)).await;
    drop(elsewhere);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _sim = SimCluster::start_with(Some(&state_file), SimOptions { port, ..fast() })
        .await
        .expect("restarted");
    // The watch's version is gone: it relists, and the socket is told to fetch again.
    wait_event(&mut socket, |event| *event == LiveEvent::Resync).await;
    assert_eq!(
        names(&wukong.list(VmQuery::default()).await),
        ["during", "kept"]
    );
    caught_up(&wukong, &mut socket).await;
}

/// Wukong on a real control plane with the KubeVirt stand-in (which stops when dropped),
/// reaching it through a relay when `relayed`.
struct OnAControlPlane {
    plane: ControlPlane,
    wukong: Wukong,
    relay: Option<Relay>,
    _kubevirt: StandIn,
}

async fn on_a_control_plane(relayed: bool) -> OnAControlPlane {
    let plane = ControlPlane::start().await;
    let admin = plane.admin().await;
    let kubevirt = StandIn::start(admin.client.clone(), Duration::from_millis(200))
        .await
        .expect("the KubeVirt stand-in");
    let (cluster, relay) = if relayed {
        let relay = Relay::start(
            plane
                .server
                .trim_start_matches("https://")
                .parse()
                .expect("address"),
        )
        .await;
        let through = plane.kubeconfig_for_server(
            "relayed",
            &format!("https://{}", relay.address),
            &plane.admin_token(),
        );
        (connect(&through).await, Some(relay))
    } else {
        (admin, None)
    };
    OnAControlPlane {
        wukong: start_on(cluster).await,
        plane,
        relay,
        _kubevirt: kubevirt,
    }
}

/// The same drill on a real API server, where Wukong's watches come back to a
/// resourceVersion the API server no longer has: it was down while VMs were deleted, created
/// and changed through another API server on the same etcd data, and etcd's history was
/// compacted meanwhile. The restarted API server's watch cache begins at the revision it
/// listed at start, and it answers a watch from an older one with a single ERROR event, 410
/// Expired, "too old resource version" (staging/src/k8s.io/apiserver/pkg/storage/cacher/:
/// `GetIntervalLocked` in watch_cache_history.go, sent as an event by `newErrWatcher` in
/// cacher.go). kube-rs's watcher starts over from a list on that code (kube-runtime
/// watcher.rs, `WatchEvent::Error` with 410), and the sockets are told to resync.
#[tokio::test]
async fn after_a_real_api_server_restart_expired_watches_relist_and_lists_show_what_changed() {
    let OnAControlPlane {
        plane,
        wukong,
        _kubevirt,
        ..
    } = on_a_control_plane(false).await;
    let port = plane.port();
    let mut socket = two_vms_seen(&wukong).await;
    // The cluster's revision now: no version Wukong's watches hold is newer.
    let seen = resource_version_now(&plane.admin().await).await;
    let dir = plane.stop().await;
    let elsewhere = ControlPlane::start_in(dir, 0).await;
    let other = elsewhere.admin().await;
    change_meanwhile(&wukong, &other).await;
    Api::<VirtualMachine>::namespaced(other.client.clone(), &wukong.namespace)
        .patch(
            "kept",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"template": {"spec": {"domain": {"cpu": {"cores": 4}}}}}}),
            ),
        )
        .await
        .expect("resize meanwhile");
    let dir = elsewhere.stop().await;
    let plane = ControlPlane::start_compacted_in(dir, port).await;
    assert_expired(&plane.admin().await, &seen).await;
    let expected = [("during".to_owned(), 2), ("kept".to_owned(), 4)];
    let rows = wukong
        .rows_until(|vm| vm.cpus, 600, |rows| rows == expected)
        .await;
    assert_eq!(rows, expected);
    // Only a new list drops "before", and a list ends in a resync.
    wait_event(&mut socket, |event| *event == LiveEvent::Resync).await;
    caught_up(&wukong, &mut socket).await;
}

/// The revision of the cluster's VMs as a list reads it now.
async fn resource_version_now(cluster: &Cluster) -> String {
    let vms: Api<VirtualMachine> = Api::all(cluster.client.clone());
    vms.list_metadata(&Default::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("a list's resourceVersion")
}

/// A watch of VMs from `version` is answered with an ERROR event carrying 410 Expired. The
/// watch cache of a CRD is made at its first request and answers 429 until it has listed.
async fn assert_expired(cluster: &Cluster, version: &str) {
    let path = format!("/apis/kubevirt.io/v1/virtualmachines?watch=true&resourceVersion={version}");
    for _ in 0..600 {
        let request = Request::get(&path).body(Vec::new()).expect("request");
        // A watch that was served would stay open.
        let answer = tokio::time::timeout(
            Duration::from_secs(30),
            cluster.client.request_text(request),
        )
        .await
        .unwrap_or_else(|_| panic!("a watch from {version} was served, not refused"));
        match answer {
            Ok(body) => {
                let event: Value = serde_json::from_str(body.trim()).expect("one watch event");
                assert_eq!(event["type"], "ERROR", "{body}");
                assert_eq!(event["object"]["code"], 410, "{body}");
                assert_eq!(event["object"]["reason"], "Expired", "{body}");
                let message = event["object"]["message"].as_str().unwrap_or_default();
                assert!(message.starts_with("too old resource version"), "{body}");
                return;
            }
            Err(kube::Error::Api(status)) if status.code == 429 => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("the watch from {version}: {other:?}"),
        }
    }
    panic!("the API server's watch cache was not ready within 60 s");
}

/// The network between Wukong and a real API server is cut (every connection ends, new ones
/// are refused) while VMs change, then comes back: the list and sockets catch up.
#[tokio::test]
async fn after_a_network_cut_to_a_real_api_server_lists_catch_up() {
    let setup = on_a_control_plane(true).await;
    let (wukong, relay) = (&setup.wukong, setup.relay.as_ref().expect("relay"));
    let mut socket = two_vms_seen(wukong).await;
    relay.cut();
    change_meanwhile(wukong, &setup.plane.admin().await).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Cut off, Wukong still lists what it saw last.
    assert_eq!(
        names(&wukong.list(VmQuery::default()).await),
        ["before", "kept"]
    );
    relay.restore();
    caught_up(wukong, &mut socket).await;
}

/// VMs made by other tools may hold any value the CRD schema allows: memory as a number of
/// bytes, no status at all. One such VM must not break the list, and a VM being deleted (held
/// by a finalizer here) shows as Terminating until it is gone.
#[tokio::test]
async fn odd_but_valid_vms_and_terminating_ones_list_as_they_are() {
    // The stand-in stays: without it KubeVirt's webhook, which every VM change passes, fails.
    let OnAControlPlane {
        plane,
        wukong,
        _kubevirt,
        ..
    } = on_a_control_plane(false).await;
    let admin = plane.admin().await;
    wukong.create("web-1").await;
    let vms = Api::<DynamicObject>::namespaced_with(
        admin.client.clone(),
        &wukong.namespace,
        &crate::support::api_resource("kubevirt.io", "v1", "VirtualMachine", "virtualmachines"),
    );
    let labels =
        json!({"app.kubernetes.io/managed-by": "wukong", "wukong.io/project": wukong.project_id});
    for (name, domain) in [
        (
            "numeric-guest",
            json!({"devices": {}, "memory": {"guest": 1_073_741_824}}),
        ),
        (
            "numeric-request",
            json!({"devices": {}, "resources": {"requests": {"memory": 536_870_912}}}),
        ),
    ] {
        let vm = json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": name, "labels": labels, "finalizers": ["wukong.test/hold"]},
            "spec": {"runStrategy": "Halted", "template": {"spec": {"domain": domain}}}});
        vms.create(
            &PostParams::default(),
            &serde_json::from_value(vm).expect("VM"),
        )
        .await
        .expect("a VM as kubectl would make it");
    }
    let memory = wukong
        .rows_until(|vm| vm.memory_mib, 300, |rows| rows.len() == 3)
        .await;
    assert_eq!(
        memory,
        [
            ("numeric-guest".to_owned(), 1024),
            ("numeric-request".to_owned(), 512),
            ("web-1".to_owned(), 1024)
        ]
    );
    vms.delete("numeric-guest", &DeleteParams::default())
        .await
        .expect("delete");
    wukong
        .wait_for("numeric-guest", VmStatus::Terminating)
        .await;
    for name in ["numeric-guest", "numeric-request"] {
        vms.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("release");
    }
}

/// The VM page says why a VM is as it is (issue 11, item 7): the import of its disk as CDI
/// reports it, rising and then done; the instance's interfaces; the guest OS its agent
/// reports; and the events of the VM, its instance and its DataVolume.
#[tokio::test]
async fn the_vm_page_shows_the_import_interfaces_guest_os_and_events() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    vm_page_shows_why(start(&sim).await).await;
}

#[tokio::test]
async fn on_a_real_api_server_the_vm_page_shows_why() {
    let OnAControlPlane {
        plane: _plane,
        wukong,
        _kubevirt,
        ..
    } = on_a_control_plane(false).await;
    vm_page_shows_why(wukong).await;
}

async fn vm_page_shows_why(wukong: Wukong) {
    let form = NewVmForm {
        image: "url".to_owned(),
        image_url: "https://images.example.test/fedora-42.qcow2".to_owned(),
        disk_gib: "5".to_owned(),
        run_strategy: "Always".to_owned(),
        ..wukong.form("imported")
    };
    let (status, body) = wukong
        .call("vms/create", &wukong.admin, json!({ "form": form }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut progress = Vec::new();
    let mut detail = None;
    for _ in 0..600 {
        let (status, body) = wukong.get(&wukong.admin, &wukong.slug, "imported").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let read: VmDetail = serde_json::from_str(&body).expect("detail");
        assert_eq!(read.activity_error, None);
        progress.extend(read.imports.iter().filter_map(|import| import.percent));
        if read.summary.status == VmStatus::Running && read.guest_os.is_some() {
            detail = Some(read);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let detail = detail.expect("the VM never ran with a guest agent");
    let import = &detail.imports[..];
    assert_eq!(import.len(), 1, "{import:?}");
    assert_eq!(
        (
            import[0].name.as_str(),
            import[0].phase.as_str(),
            import[0].percent
        ),
        ("imported-root", "Succeeded", Some(100))
    );
    assert!(
        progress
            .iter()
            .any(|percent| *percent > 0 && *percent < 100),
        "never seen importing: {progress:?}"
    );
    let interface = &detail.interfaces[0];
    assert_eq!(interface.network, "default");
    assert!(
        interface
            .ips
            .first()
            .is_some_and(|ip| ip.starts_with("10.244.")),
        "{interface:?}"
    );
    assert!(
        detail
            .guest_os
            .as_ref()
            .is_some_and(|os| os.name.starts_with("Fedora Linux")),
        "{:?}",
        detail.guest_os
    );
    let seen: Vec<(&str, &str)> = detail
        .events
        .iter()
        .map(|event| (event.object_kind.as_str(), event.reason.as_str()))
        .collect();
    for expected in [
        ("DataVolume", "ImportScheduled"),
        ("DataVolume", "ImportSucceeded"),
        ("VirtualMachine", "SuccessfulCreate"),
        ("VirtualMachineInstance", "Started"),
    ] {
        assert!(seen.contains(&expected), "{expected:?} not in {seen:?}");
    }
}

/// Requests the mock API server of [`recording_cluster`] received, as `METHOD path?query`.
type Heard = Arc<Mutex<Vec<String>>>;

/// An API server that answers the live watches (cluster-wide lists of VMs and instances:
/// empty, and watches that stay open) and records every other request, answering it 404.
async fn recording_cluster() -> (String, Heard) {
    use axum::{http::Method, http::Uri, routing::any, Json, Router};
    let heard = Heard::default();
    let log = heard.clone();
    let handler = move |method: Method, uri: Uri| {
        let log = log.clone();
        async move {
            let watched = matches!(
                uri.path(),
                "/apis/kubevirt.io/v1/virtualmachines"
                    | "/apis/kubevirt.io/v1/virtualmachineinstances"
                    | "/apis/snapshot.kubevirt.io/v1beta1/virtualmachinesnapshots"
                    | "/apis/snapshot.kubevirt.io/v1beta1/virtualmachinerestores"
                    | "/apis/clone.kubevirt.io/v1beta1/virtualmachineclones"
            );
            if watched && method == Method::GET {
                if uri.query().is_some_and(|query| query.contains("watch=")) {
                    std::future::pending::<()>().await;
                }
                let empty = json!({"apiVersion": "kubevirt.io/v1", "kind": "List",
                    "metadata": {"resourceVersion": "1"}, "items": []});
                return (StatusCode::OK, Json(empty));
            }
            log.lock().expect("log").push(format!("{method} {uri}"));
            let missing = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": "NotFound", "code": 404, "message": "not found"});
            (StatusCode::NOT_FOUND, Json(missing))
        }
    };
    let (url, _) = crate::support::serve_on_loopback(Router::new().fallback(any(handler))).await;
    (url, heard)
}

/// VAL-03, AZ-02, AZ-03: names that are not DNS-1123 labels, in any request naming a VM,
/// are answered 404 before anything reaches the cluster, and so is any VM of a project that
/// does not exist (a namespace is not a project's name); the create form refuses them field
/// by field (422), its project being only one of the user's.
#[tokio::test]
async fn malformed_names_and_foreign_namespaces_never_reach_the_cluster() {
    let (url, heard) = recording_cluster().await;
    let wukong = start_on(cluster_at(&url)).await;
    let long = "a".repeat(64);
    let hostile = ["../x", "a/b", "UPPER", long.as_str(), "%2e%2e", ""];
    let mut targets: Vec<(String, String)> = Vec::new();
    for bad in hostile {
        targets.push((wukong.slug.clone(), bad.to_owned()));
        targets.push((bad.to_owned(), "web-1".to_owned()));
    }
    targets.push(("kube-system".to_owned(), "coredns".to_owned()));
    targets.push((wukong.namespace.clone(), "web-1".to_owned()));
    for (project, name) in &targets {
        for (status, body) in wukong.read_start_delete(project, name).await {
            assert_eq!(status, StatusCode::NOT_FOUND, "{project}/{name}: {body}");
            let expected = if *project == wukong.slug {
                r#"{"NotFound":{"what":"That virtual machine"}}"#
            } else {
                r#"{"NotFound":{"what":"That project"}}"#
            };
            assert_eq!(body, expected, "a bad name is not echoed");
        }
    }
    for bad in hostile {
        for field in ["name", "project"] {
            let mut form = wukong.form("web-1");
            match field {
                "name" => form.name = bad.to_owned(),
                _ => form.project = bad.to_owned(),
            }
            let (status, body) = wukong
                .call("vms/create", &wukong.admin, json!({"form": form}))
                .await;
            // A bad name is the form's fault (422); a project that is not the user's, the
            // same 404 as anywhere else (an empty one is not chosen yet: the form's fault).
            if field == "name" || bad.is_empty() {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field} {bad:?}");
                assert!(body.contains(&format!("\"field\":\"{field}\"")), "{body}");
            } else {
                assert_eq!(status, StatusCode::NOT_FOUND, "{field} {bad:?}");
                assert_eq!(body, r#"{"NotFound":{"what":"That project"}}"#);
            }
        }
    }
    assert_eq!(*heard.lock().expect("log"), Vec::<String>::new());
}

/// Waits until the cluster reports `namespace/name` Stopped; then its identity, run
/// strategy and version.
async fn settled(cluster: &Cluster, namespace: &str, name: &str) -> (String, String, String) {
    let vms: Api<VirtualMachine> = Api::namespaced(cluster.client.clone(), namespace);
    for _ in 0..300 {
        let vm = vms.get(name).await.expect("VM still there");
        if vm.printable_status() == Some("Stopped") {
            let field = |value: &Option<String>| value.clone().unwrap_or_default();
            return (
                field(&vm.metadata.uid),
                vm.run_strategy(),
                field(&vm.metadata.resource_version),
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{namespace}/{name} never settled");
}

/// AZ-02: a VM Wukong did not make for the project of its namespace is not Wukong's to list,
/// read, start or delete, even for a global admin: each answers 404 exactly like a VM that
/// does not exist, and the VM is untouched.
#[tokio::test]
async fn vms_that_are_not_wukongs_answer_404_and_are_left_untouched() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    let wukong = start(&sim).await;
    wukong.create("web-1").await;
    let cluster = simulated(&sim);
    let new_vm = |name: &str| wukong.form(name).parse().expect("form");
    let create = app::vms::server::cluster::create;
    let ours = namespace(&wukong.namespace);
    // Made with kubectl, as it were: no Wukong labels, in the project's namespace.
    let mut stray = virtual_machine(&new_vm("stray"), &ours, &wukong.project_id).expect("body");
    stray.metadata.labels = None;
    let vms: Api<VirtualMachine> = Api::namespaced(cluster.client.clone(), &wukong.namespace);
    vms.create(&PostParams::default(), &stray)
        .await
        .expect("create");
    // Labelled for another project.
    create(&cluster, &new_vm("foreign"), &ours, "another-project")
        .await
        .expect("create");
    // Wukong's labels and this project's id, in a namespace no project owns.
    create(
        &cluster,
        &new_vm("orphan"),
        &namespace("elsewhere"),
        &wukong.project_id,
    )
    .await
    .expect("create");
    let others = [
        (wukong.namespace.as_str(), "stray"),
        (wukong.namespace.as_str(), "foreign"),
        ("elsewhere", "orphan"),
    ];
    let mut before = Vec::new();
    for (namespace, name) in others {
        before.push(settled(&cluster, namespace, name).await);
    }
    // The labelled ones are in the live store: a 404 for them is the gate's, not the store's.
    for (namespace, name) in [others[1], others[2]] {
        for _ in 0..300 {
            if wukong.state.live.vm(namespace, name).is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Only the project's own VMs are listed.
    let listed = wukong.list(VmQuery::default()).await;
    let names: Vec<&str> = listed.items.iter().map(|vm| vm.name.as_str()).collect();
    assert_eq!(names, ["web-1"]);
    let (status, _) = wukong.get(&wukong.admin, &wukong.slug, "web-1").await;
    assert_eq!(status, StatusCode::OK);
    for (_, name) in others {
        let absent = format!("{{\"NotFound\":{{\"what\":\"VM \\\"{name}\\\"\"}}}}");
        for (status, body) in wukong.read_start_delete(&wukong.slug, name).await {
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::NOT_FOUND, absent.as_str())
            );
        }
    }
    for ((namespace, name), before) in others.into_iter().zip(before) {
        assert_eq!(settled(&cluster, namespace, name).await, before, "{name}");
    }
    let refused = wukong
        .audit_events()
        .await
        .into_iter()
        .filter(|(_, outcome, _)| outcome == "failure")
        .count();
    assert_eq!(refused, 6, "each refused action and delete is audited");
}
