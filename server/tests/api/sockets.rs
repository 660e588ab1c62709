//! The limits of `/ws/events` on a real listener: message size, sockets per user, clients
//! that stop reading, sockets that end with their session, idle sessions, and a database
//! that fails during a check.

use crate::support::{
    app_state_on, create_user, simulated, test_auth, test_db, unreachable_cluster, TestDb, ORIGIN,
};
use app::{
    cluster::Cluster,
    context::AppState,
    db::now_ms,
    realtime::{
        sockets::{SocketPolicy, SocketSlots},
        types::{CLOSE_SESSION_REPLACED, EVENTS_PATH},
    },
    vms::types::VmQuery,
};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use futures_util::{SinkExt as _, StreamExt as _};
use kube::api::{Api, DynamicObject};
use server::simcluster::{SimCluster, SimOptions};
use std::{net::SocketAddr, time::Duration};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    client_async,
    tungstenite::{client::IntoClientRequest, protocol::frame::coding::CloseCode, Message},
    WebSocketStream,
};
use tower::ServiceExt as _;

const EMAIL: &str = "sockets@example.test";
const OTHER: &str = "other@example.test";
const PASSWORD: &str = "sockets test password";

type Socket = WebSocketStream<TcpStream>;

/// A Wukong on a real listener whose accepted connections have a small kernel send buffer
/// (so a client that stops reading fills it quickly), with `EMAIL` signed in.
struct Harness {
    test: TestDb,
    state: AppState,
    address: SocketAddr,
    cookie: String,
    user_id: String,
}

async fn harness(policy: SocketPolicy, cluster: Cluster) -> Harness {
    let test = test_db().await;
    let auth = test_auth(false);
    let user_id = create_user(&test.db, &auth, EMAIL, PASSWORD).await;
    create_user(&test.db, &auth, OTHER, PASSWORD).await;
    let mut state = app_state_on(test.db.clone(), auth, cluster);
    state.sockets = SocketSlots::new(policy);
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_send_buffer_size(4096).expect("send buffer");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let listener = socket.listen(64).expect("listen");
    let address = listener.local_addr().expect("address");
    let service =
        server::http::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, service).await;
    });
    let cookie = sign_in(&state, EMAIL).await;
    Harness {
        test,
        state,
        address,
        cookie,
        user_id,
    }
}

/// Sockets that check their session only once a minute, so that what closes them within
/// a test is something else.
fn policy() -> SocketPolicy {
    SocketPolicy {
        check_every: Duration::from_secs(60),
        ..SocketPolicy::new(20)
    }
}

/// Sockets that check their session ten times a second.
fn checking_often() -> SocketPolicy {
    SocketPolicy {
        check_every: Duration::from_millis(100),
        ..policy()
    }
}

async fn post(state: &AppState, endpoint: &str, body: String, cookie: Option<&str>) -> StatusCode {
    let form = "application/x-www-form-urlencoded";
    post_as(state, endpoint, form, body, cookie).await
}

async fn post_as(
    state: &AppState,
    endpoint: &str,
    content_type: &str,
    body: String,
    cookie: Option<&str>,
) -> StatusCode {
    let mut request = Request::post(format!("/api/{endpoint}"))
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ORIGIN, ORIGIN);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = server::http::router(state.clone())
        .oneshot(request.body(Body::from(body)).expect("request"))
        .await
        .expect("answer");
    response.status()
}

async fn sign_in(state: &AppState, email: &str) -> String {
    crate::support::sign_in(state, email, PASSWORD, None).await
}

impl Harness {
    /// Opens a socket as the holder of `cookie`; the refusal's status otherwise. A
    /// `tiny_receive_buffer` client has a minimal kernel receive buffer.
    async fn socket(&self, cookie: &str, tiny_receive_buffer: bool) -> Result<Socket, u16> {
        let url = format!("ws://{}{EVENTS_PATH}", self.address);
        let mut request = url.into_client_request().expect("request");
        let headers = request.headers_mut();
        headers.insert(header::ORIGIN, ORIGIN.parse().expect("origin"));
        headers.insert(header::COOKIE, cookie.parse().expect("cookie"));
        let tcp = TcpSocket::new_v4().expect("socket");
        if tiny_receive_buffer {
            tcp.set_recv_buffer_size(1024).expect("receive buffer");
        }
        let stream = tcp.connect(self.address).await.expect("connect");
        match client_async(request, stream).await {
            Ok((socket, _)) => Ok(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(other) => panic!("handshake failed: {other}"),
        }
    }

    /// Waits (at most `limit`) until `user_id` holds `count` sockets on the server side.
    async fn held_becomes(&self, count: u32, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if self.state.sockets.held_by(&self.user_id) == count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

/// The close code `socket` is closed with, reading past anything else; `None` when it only
/// broke, or stayed open for `limit`.
async fn close_code(socket: &mut Socket, limit: Duration) -> Option<CloseCode> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|frame| frame.code),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) | Err(_) => return None,
        }
    }
}

/// WS-06: a message larger than the limit closes the socket with 1009 (Message Too Big).
#[tokio::test]
async fn a_message_over_the_size_limit_closes_the_socket_with_1009() {
    let wukong = harness(policy(), unreachable_cluster()).await;
    let mut socket = wukong.socket(&wukong.cookie, false).await.expect("socket");
    socket
        .send(Message::Text("small".into()))
        .await
        .expect("send");
    let limit = wukong.state.sockets.policy.max_incoming_bytes;
    socket
        .send(Message::Text("x".repeat(limit + 1).into()))
        .await
        .expect("send");
    assert_eq!(
        close_code(&mut socket, Duration::from_secs(5)).await,
        Some(CloseCode::Size)
    );
    assert!(wukong.held_becomes(0, Duration::from_secs(5)).await);
}

/// WS-06: a user holds at most the configured number of sockets; others are unaffected, and
/// a closed socket frees its place.
#[tokio::test]
async fn a_user_holds_at_most_the_configured_number_of_sockets() {
    let wukong = harness(
        SocketPolicy {
            max_per_user: 3,
            ..policy()
        },
        unreachable_cluster(),
    )
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(wukong.socket(&wukong.cookie, false).await.expect("socket"));
    }
    assert_eq!(wukong.socket(&wukong.cookie, false).await.err(), Some(429));
    let other = sign_in(&wukong.state, OTHER).await;
    assert!(wukong.socket(&other, false).await.is_ok(), "another user");
    let mut first = open.remove(0);
    first.close(None).await.expect("close");
    assert!(wukong.held_becomes(2, Duration::from_secs(5)).await);
    assert!(wukong.socket(&wukong.cookie, false).await.is_ok());
}

/// A minimal VirtualMachine of Wukong's (labelled, so the watch sees it), with a long
/// description so that each event carries some weight.
/// A VM `name` in `namespace`, labelled for the project `project_id`.
fn vm(name: &str, namespace: &str, project_id: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "wukong", "wukong.io/project": project_id},
            "annotations": {"description": "d".repeat(2_000)},
        },
        "spec": {
            "runStrategy": "Halted",
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/managed-by": "wukong"}},
                "spec": {
                    "domain": {"devices": {}, "memory": {"guest": "128Mi"}},
                },
            },
        },
    })
}

/// WS-07: a client that stops reading while events flow is dropped after the send timeout
/// (its slot and hub subscription released), while a client that reads keeps receiving.
#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_send_timeout() {
    let sim = SimCluster::start_with(None, SimOptions::default())
        .await
        .expect("sim");
    let cluster = simulated(&sim);
    let client = cluster.client.clone();
    let wukong = harness(
        SocketPolicy {
            send_timeout: Duration::from_millis(300),
            ..policy()
        },
        cluster,
    )
    .await;
    // The user owns the project whose namespace the VMs are made in, so sees their events.
    let mut conn = wukong.test.db.pool().acquire().await.expect("connection");
    let project = app::projects::server::lifecycle::NewProjectRow {
        name: "Flood",
        description: "",
        namespace: Some("flood"),
        is_personal: false,
        slug_base: "flood",
        owner_id: &wukong.user_id,
        created_by: None,
    };
    let project = app::projects::server::lifecycle::insert(&mut conn, &project, 0)
        .await
        .expect("project");
    drop(conn);
    let cookie = sign_in(&wukong.state, EMAIL).await;
    let stalled = wukong.socket(&cookie, true).await.expect("stalled socket");
    let mut reader = wukong.socket(&cookie, false).await.expect("reader");
    assert!(wukong.held_becomes(2, Duration::from_secs(5)).await);

    let resource = crate::support::api_resource;
    let namespaces: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource("", "v1", "Namespace", "namespaces"),
    );
    let namespace = serde_json::from_value(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flood"}}),
    )
    .expect("namespace");
    namespaces
        .create(&Default::default(), &namespace)
        .await
        .expect("namespace created");
    let vms: Api<DynamicObject> = Api::namespaced_with(
        client,
        "flood",
        &resource("kubevirt.io", "v1", "VirtualMachine", "virtualmachines"),
    );
    let mut created = 0;
    while wukong.state.sockets.held_by(&wukong.user_id) == 2 && created < 2_000 {
        let object =
            serde_json::from_value(vm(&format!("vm-{created}"), "flood", &project.id)).expect("vm");
        vms.create(&Default::default(), &object)
            .await
            .expect("vm created");
        created += 1;
    }
    assert!(
        wukong.held_becomes(1, Duration::from_secs(10)).await,
        "the stalled socket is still held after {created} events"
    );
    let last = format!("vm-{}", created - 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = false;
    while !seen && tokio::time::Instant::now() < deadline {
        if let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_secs(1), reader.next()).await
        {
            seen = text.contains(&last);
        }
    }
    assert!(seen, "the reading socket heard the last VM");
    drop(stalled);
}

/// SES-05, SES-06, WS-05: signing out, or the session being ended from another browser,
/// closes that session's sockets (1008) within a second — by the revocation poller, since the
/// periodic check here comes only once a minute. Sockets of other sessions stay open.
#[tokio::test]
async fn ending_a_session_closes_its_sockets_within_a_second() {
    let wukong = harness(policy(), unreachable_cluster()).await;
    let other_session = sign_in(&wukong.state, EMAIL).await;
    let mut ours = wukong.socket(&wukong.cookie, false).await.expect("socket");
    let mut theirs = wukong.socket(&other_session, false).await.expect("socket");
    let status = post(
        &wukong.state,
        "auth/logout",
        String::new(),
        Some(&wukong.cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        close_code(&mut ours, Duration::from_secs(1)).await,
        Some(CloseCode::Policy)
    );
    assert_eq!(
        close_code(&mut theirs, Duration::from_millis(600)).await,
        None,
        "another session's socket stays open"
    );

    let third = sign_in(&wukong.state, EMAIL).await;
    let ended: String = sqlx::query_scalar(
        "SELECT id FROM user_sessions WHERE ended_at IS NULL ORDER BY created_at LIMIT 1",
    )
    .fetch_one(wukong.test.db.pool())
    .await
    .expect("the other session");
    let status = post(
        &wukong.state,
        "auth/sessions/end",
        format!("session_id={ended}"),
        Some(&third),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        close_code(&mut theirs, Duration::from_secs(1)).await,
        Some(CloseCode::Policy)
    );
}

/// SES-02, WS-05: a session the same browser replaces (signing in again) closes its socket
/// with 4000, so the page reconnects with its new cookie rather than being sent to sign in.
#[tokio::test]
async fn a_replaced_session_closes_its_socket_so_that_the_page_reconnects() {
    let wukong = harness(policy(), unreachable_cluster()).await;
    let mut socket = wukong.socket(&wukong.cookie, false).await.expect("socket");
    let renewed =
        crate::support::sign_in(&wukong.state, EMAIL, PASSWORD, Some(&wukong.cookie)).await;
    assert_eq!(
        close_code(&mut socket, Duration::from_secs(1)).await,
        Some(CloseCode::from(CLOSE_SESSION_REPLACED))
    );
    assert!(wukong.socket(&renewed, false).await.is_ok());
    assert_eq!(wukong.socket(&wukong.cookie, false).await.err(), Some(401));
}

/// SES-04, WS-05: neither an open socket's checks, nor opening another socket, nor a page's
/// refresh after a pushed change count as activity, so a session left alone with sockets open
/// still ends when idle, and its sockets close; a request of the user's does count.
#[tokio::test]
async fn an_open_socket_does_not_keep_an_idle_session_alive() {
    let wukong = harness(checking_often(), unreachable_cluster()).await;
    let idle_ms = wukong.state.auth.sessions.idle_ms;
    let age = |last_seen: i64| {
        sqlx::query("UPDATE user_sessions SET last_seen_at = $1")
            .bind(last_seen)
            .execute(wukong.test.db.pool())
    };
    let last_seen = || {
        sqlx::query_scalar::<_, i64>("SELECT last_seen_at FROM user_sessions")
            .fetch_one(wukong.test.db.pool())
    };
    let mut socket = wukong.socket(&wukong.cookie, false).await.expect("socket");
    let almost_idle = now_ms() - idle_ms + 60_000;
    age(almost_idle).await.expect("age the session");
    let _reopened = wukong.socket(&wukong.cookie, false).await.expect("socket");
    assert_eq!(
        close_code(&mut socket, Duration::from_millis(700)).await,
        None
    );
    let query = serde_json::json!({"query": VmQuery::default(), "pushed": true}).to_string();
    let cookie = Some(wukong.cookie.as_str());
    post_as(&wukong.state, "vms/list", "application/json", query, cookie).await;
    assert_eq!(
        last_seen().await.expect("session"),
        almost_idle,
        "a socket, or a refresh after a pushed change, touched the session"
    );
    let me = post(
        &wukong.state,
        "auth/me",
        String::new(),
        Some(&wukong.cookie),
    )
    .await;
    assert_eq!(me, StatusCode::OK);
    assert!(
        last_seen().await.expect("session") > almost_idle,
        "a request is activity"
    );
    age(now_ms() - idle_ms - 1).await.expect("idle now");
    assert_eq!(
        close_code(&mut socket, Duration::from_secs(5)).await,
        Some(CloseCode::Policy)
    );
}

/// LOG-08: when the periodic session check cannot reach the database, the socket closes
/// (fail closed) rather than carrying on unchecked.
#[tokio::test]
async fn a_database_error_during_the_session_check_closes_the_socket() {
    let wukong = harness(checking_often(), unreachable_cluster()).await;
    let mut socket = wukong.socket(&wukong.cookie, false).await.expect("socket");
    wukong.test.db.close().await;
    assert_eq!(
        close_code(&mut socket, Duration::from_secs(5)).await,
        Some(CloseCode::Error)
    );
}
