//! The VM server functions and `/ws/events` on a real listening Wukong over the simulated
//! cluster: who may call them, what they do, and what every open socket hears.

use crate::support::{
    app_state_on, body_text, cookie_pair, create_user, set_cookie, simulated, test_auth, test_db,
    TestDb, ORIGIN,
};
use app::{
    context::AppState,
    realtime::types::{LiveEvent, EVENTS_PATH},
    vms::{
        new_vm::NewVmForm,
        types::{DiskDisposal, VmDetail, VmPage, VmQuery, VmStatus},
    },
};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use serde_json::{json, Value};
use server::simcluster::{SimCluster, SimOptions};
use std::{net::SocketAddr, time::Duration};
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
}

async fn sign_in(state: &AppState, email: &str) -> String {
    let body = format!(
        "email={}&password={}",
        email.replace('@', "%40"),
        PASSWORD.replace(' ', "+")
    );
    let request = Request::post("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, ORIGIN)
        .body(Body::from(body))
        .expect("request");
    let response = server::http::router(state.clone())
        .oneshot(request)
        .await
        .expect("answer");
    cookie_pair(&set_cookie(&response))
}

async fn start(sim: &SimCluster) -> Wukong {
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
    let namespace: String = sqlx::query_scalar("SELECT namespace FROM projects")
        .fetch_one(test.db.pool())
        .await
        .expect("namespace");
    let state = app_state_on(test.db.clone(), auth, simulated(sim));
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
    }
}

fn fast() -> SimOptions {
    SimOptions {
        transition_delay: Duration::from_millis(200),
        ..SimOptions::default()
    }
}

impl Wukong {
    /// Calls a JSON server fn; the answer's status and body.
    async fn call(&self, endpoint: &str, cookie: &str, body: Value) -> (StatusCode, String) {
        let request = Request::post(format!("/api/{endpoint}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, cookie)
            .body(Body::from(body.to_string()))
            .expect("request");
        let response = server::http::router(self.state.clone())
            .oneshot(request)
            .await
            .expect("answer");
        let status = response.status();
        (status, body_text(response).await)
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

    fn form(&self, name: &str) -> NewVmForm {
        NewVmForm {
            name: name.to_owned(),
            namespace: self.namespace.clone(),
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

#[tokio::test]
async fn only_admins_reach_vms_and_others_learn_nothing_about_them() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    let wukong = start(&sim).await;
    wukong.create("web-1").await;
    let target = json!({"namespace": wukong.namespace, "name": "web-1"});
    let (status, _) = wukong
        .call(
            "vms/list",
            &wukong.user,
            json!({"query": VmQuery::default()}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = wukong
        .call(
            "vms/create",
            &wukong.user,
            json!({"form": wukong.form("web-2")}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut action = target.clone();
    action["action"] = json!("Stop");
    let (status, _) = wukong.call("vms/action", &wukong.user, action).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut removal = target.clone();
    removal["disks"] = json!("Delete");
    let (status, _) = wukong.call("vms/delete", &wukong.user, removal).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let get = |cookie: String| {
        let request = Request::post("/api/vms/get")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, cookie)
            .body(Body::from(format!(
                "namespace={}&name=web-1",
                wukong.namespace
            )))
            .expect("request");
        server::http::router(wukong.state.clone()).oneshot(request)
    };
    assert_eq!(
        get(wukong.user.clone()).await.expect("answer").status(),
        StatusCode::NOT_FOUND
    );
    let response = get(wukong.admin.clone()).await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    let detail: VmDetail = serde_json::from_str(&body_text(response).await).expect("detail");
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

#[tokio::test]
async fn create_start_stop_delete_reach_every_socket_and_the_audit_log() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    let wukong = start(&sim).await;
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
    let target = json!({"namespace": wukong.namespace, "name": "web-1"});
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
    // Starting a running VM is refused with KubeVirt's reason.
    let (status, body) = wukong.call("vms/action", &wukong.admin, start).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("VM is already running"), "{body}");
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
    bad.namespace = "kube-system".to_owned();
    let (status, body) = wukong
        .call("vms/create", &wukong.admin, json!({"form": bad}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("\"field\":\"namespace\""), "{body}");
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

#[tokio::test]
async fn after_a_cluster_restart_sockets_resync_and_lists_show_what_changed_meanwhile() {
    let dir = tempfile::tempdir().expect("dir");
    let state_file = dir.path().join("sim.json");
    let sim = SimCluster::start_with(Some(&state_file), fast())
        .await
        .expect("sim");
    let port = sim.address.port();
    let wukong = start(&sim).await;
    let mut socket = wukong
        .socket(Some(&wukong.admin), ORIGIN)
        .await
        .expect("socket");
    wukong.create("before").await;
    wukong.create("kept").await;
    wait_event(&mut socket, |event| status_of(event, "kept").is_some()).await;
    drop(sim);
    // While Wukong cannot see the cluster, someone else deletes one VM and creates another.
    let elsewhere = SimCluster::start_with(Some(&state_file), fast())
        .await
        .expect("other sim");
    let other = simulated(&elsewhere);
    app::vms::server::cluster::delete(&other, &wukong.namespace, "before", DiskDisposal::Delete)
        .await
        .expect("delete meanwhile");
    let form = wukong.form("during").parse().expect("form");
    let object = app::vms::server::body::virtual_machine(&form, "p").expect("body");
    app::vms::server::cluster::create(&other, &object)
        .await
        .expect("create meanwhile");
    drop(elsewhere);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _sim = SimCluster::start_with(Some(&state_file), SimOptions { port, ..fast() })
        .await
        .expect("restarted");
    // The watch's version is gone: it relists, and the socket is told to fetch again.
    wait_event(&mut socket, |event| *event == LiveEvent::Resync).await;
    let page = wukong.list(VmQuery::default()).await;
    let names: Vec<&str> = page.items.iter().map(|vm| vm.name.as_str()).collect();
    assert_eq!(names, ["during", "kept"]);
    // And the same socket carries later changes.
    let target = json!({"namespace": wukong.namespace, "name": "kept", "action": "Start"});
    let (status, _) = wukong.call("vms/action", &wukong.admin, target).await;
    assert_eq!(status, StatusCode::OK);
    wait_event(&mut socket, |event| {
        status_of(event, "kept") == Some(VmStatus::Running)
    })
    .await;
}
