//! Live updates and the VM list at scale, against a real `wukong` process on loopback whose
//! kubeconfig points at a simulated cluster run by this benchmark (in memory); the benchmark
//! is the client, in a process of its own:
//!
//! 1. the VM list page (`GET /vms`, rendered on the server) and `vms/list` with 5,000 VMs
//!    in 50 projects (namespaces made outside Wukong and adopted), for a user who is a
//!    member of all 50, over 50 keep-alive connections: as fast as they go, and at a fixed
//!    rate with latencies counted from when each request was due;
//! 2. 10,000 WebSocket clients on `/ws/events` (20 users of all 50 projects, 500 sockets
//!    each): the server's resident memory and its CPU use while they are idle; then one VM
//!    status change at a time, and how long until each client received it.
//!
//! Run with `cargo bench -p server --bench live` in a shell whose `ulimit -n` allows
//! 10,500 files (`bench/run` sets it); `-- list` or `-- sockets` runs one part. It prints
//! figures; it asserts nothing.

#[allow(dead_code, reason = "each benchmark uses part of the shared helpers")]
mod common;

use app::{
    cluster::{Cluster, ClusterSource},
    vms::{
        names::{Namespace, VmName, VmRef},
        new_vm::NewVmForm,
        server::{cluster, ownership},
        types::VmAction,
    },
};
use common::{cpu_time, create_user, load, percentile, post, request, rss_kib, send, sign_in};
use futures_util::StreamExt as _;
use server::simcluster::SimCluster;
use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message};

const EMAIL: &str = "bench@example.test";
/// The user the lists and sockets are measured for: a member of every project, not an
/// admin.
const MEMBER: &str = "member@example.test";
const PROJECTS: usize = 50;
const PASSWORD: &str = "benchmark passphrase";
const VMS: usize = 5_000;
/// Keep-alive connections the list is requested over at once.
const CONNECTIONS: usize = 50;
/// Requests per second over all connections in the fixed-rate runs: for the list calls, and
/// for the page, which costs about four times as much CPU.
const LIST_RATE: f64 = 1_000.0;
const PAGE_RATE: f64 = 400.0;
const LOAD_FOR: Duration = Duration::from_secs(10);
const SOCKET_USERS: usize = 20;
const SOCKETS_PER_USER: usize = 500;
const CLIENTS: usize = SOCKET_USERS * SOCKETS_PER_USER;
/// How long the sockets' idle CPU use is measured: one period of their checks (each pings
/// its browser once in it).
const IDLE_FOR: Duration = Duration::from_secs(45);

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Starts `wukong` on the simulated cluster with the benchmark's accounts; its address
/// and the child process.
fn start_wukong(sim: &SimCluster, data_dir: &std::path::Path) -> (SocketAddr, std::process::Child) {
    create_user(data_dir, EMAIL, PASSWORD, true);
    create_user(data_dir, MEMBER, PASSWORD, false);
    for user in 0..SOCKET_USERS {
        create_user(data_dir, &socket_user(user), PASSWORD, false);
    }
    let sockets = SOCKETS_PER_USER.to_string();
    // Each account opens hundreds of sockets here; the default cap is sized for browser
    // tabs.
    common::start_wukong_on(sim, data_dir, &["--max-sockets-per-user", &sockets])
}

fn socket_user(index: usize) -> String {
    format!("watcher-{index:02}@example.test")
}

fn namespace_of(project: usize) -> String {
    format!("bench-{project:02}")
}

/// Makes the VMs through the cluster API, as another tool would: spread over the
/// namespaces of [`PROJECTS`] projects-to-be, labelled for no project yet.
async fn seed(sim: &SimCluster) -> Cluster {
    let client = kube::Client::try_from(sim.client_config()).expect("client");
    let cluster = Cluster::new(client, ClusterSource::Simulated(sim.url()));
    let began = Instant::now();
    for index in 0..VMS {
        let form = NewVmForm {
            name: format!("vm-{index:05}"),
            cpus: "1".to_owned(),
            memory_mib: "512".to_owned(),
            image: "cirros".to_owned(),
            run_strategy: "Halted".to_owned(),
            // Checked only for being chosen: the namespace below is where it goes.
            project: namespace_of(index % PROJECTS),
            ..NewVmForm::default()
        };
        let vm = form.parse().expect("form");
        let namespace = Namespace::parse(&namespace_of(index % PROJECTS)).expect("namespace");
        cluster::create(&cluster, &vm, &namespace, "unadopted")
            .await
            .expect("create");
    }
    println!("seeded {VMS} VMs in {:.1} s", began.elapsed().as_secs_f64());
    cluster
}

/// The admin adopts each namespace into a project owned by [`MEMBER`].
async fn adopt(address: SocketAddr, admin: &str) {
    let began = Instant::now();
    for project in 0..PROJECTS {
        let body = format!(
            "namespace={}&name=Bench+{project:02}&description=&owner_email={}",
            namespace_of(project),
            MEMBER.replace('@', "%40")
        );
        let (status, head) = post(address, "/api/projects/adopt", &body, Some(admin)).await;
        assert_eq!(status, 200, "{head}");
    }
    println!(
        "adopted {PROJECTS} namespaces in {:.1} s",
        began.elapsed().as_secs_f64()
    );
}

/// Adds every socket user to every project, as viewers.
async fn add_socket_users(address: SocketAddr, member: &str) {
    let (status, projects) = send(
        address,
        "POST /api/projects/list",
        "application/x-www-form-urlencoded",
        "",
        Some(member),
    )
    .await;
    assert_eq!(status, 200, "{projects}");
    let body = projects.split("\r\n\r\n").nth(1).expect("body");
    let projects: Vec<serde_json::Value> = serde_json::from_str(body).expect("projects");
    for project in &projects {
        let slug = project["slug"].as_str().expect("slug");
        for user in 0..SOCKET_USERS {
            let body = format!(
                "slug={slug}&email={}&role=viewer",
                socket_user(user).replace('@', "%40")
            );
            let (status, head) =
                post(address, "/api/projects/members/add", &body, Some(member)).await;
            assert_eq!(status, 200, "{head}");
        }
    }
}

/// The list calls over [`CONNECTIONS`] connections, as fast as they go and at a fixed rate.
async fn list_load(pid: u32, address: SocketAddr, cookie: &str) {
    let page = request(address, "GET /vms", &format!("Cookie: {cookie}\r\n"), "");
    let list = |query: &str| {
        request(
            address,
            "POST /api/vms/list",
            &format!("Cookie: {cookie}\r\nContent-Type: application/json\r\n"),
            &format!(r#"{{"query":{query}}}"#),
        )
    };
    let calls = [
        (
            format!("GET /vms (server-rendered page, {VMS} VMs)"),
            page,
            PAGE_RATE,
        ),
        (
            format!("vms/list (page 1 of {VMS} VMs)"),
            list(r#"{"name":"","status":null,"sort":"Name","descending":false,"page":0}"#),
            LIST_RATE,
        ),
        (
            "vms/list (filtered, sorted by memory, page 4)".to_owned(),
            list(r#"{"name":"vm-04","status":null,"sort":"Memory","descending":true,"page":3}"#),
            LIST_RATE,
        ),
    ];
    for (label, call, rate) in calls {
        let closed = load(pid, address, call.clone(), CONNECTIONS, LOAD_FOR, None).await;
        println!(
            "{label}, {CONNECTIONS} connections, back to back: {}",
            closed.summary()
        );
        let fixed = load(pid, address, call, CONNECTIONS, LOAD_FOR, Some(rate)).await;
        println!(
            "{label}, {CONNECTIONS} connections, {rate} per second: {}",
            fixed.summary()
        );
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens [`SOCKETS_PER_USER`] sockets for each of `cookies`, 200 handshakes at a time.
async fn open_sockets(address: SocketAddr, cookies: &[String]) -> Vec<Socket> {
    let handshakes = cookies.iter().flat_map(|cookie| {
        std::iter::repeat_n(cookie.clone(), SOCKETS_PER_USER).map(move |cookie| async move {
            let mut request = format!("ws://{address}/ws/events")
                .into_client_request()
                .expect("request");
            request.headers_mut().insert(
                "origin",
                format!("http://{address}").parse().expect("origin"),
            );
            request
                .headers_mut()
                .insert("cookie", cookie.parse().expect("cookie"));
            tokio_tungstenite::connect_async(request)
                .await
                .expect("socket")
                .0
        })
    });
    futures_util::stream::iter(handshakes)
        .buffer_unordered(200)
        .collect()
        .await
}

/// The project a VM was adopted into, by its label.
async fn project_of(cluster: &Cluster, target: &VmRef) -> String {
    let vms: kube::Api<app::vms::server::kubevirt::VirtualMachine> =
        kube::Api::namespaced(cluster.client.clone(), target.namespace.as_str());
    let vm = vms.get(target.name.as_str()).await.expect("VM");
    vm.metadata
        .labels
        .and_then(|labels| labels.get("wukong.io/project").cloned())
        .expect("adopted")
}

/// Whether the part `name` ("list" or "sockets") is to run: all of them unless arguments
/// name some (`cargo bench -p server --bench live -- sockets`).
fn part(name: &str) -> bool {
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    named.is_empty() || named.iter().any(|arg| arg == name)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = common::start_sim().await;
    let cluster = seed(&sim).await;
    let (address, mut child) = start_wukong(&sim, dir.path());
    let admin = sign_in(address, EMAIL, PASSWORD).await;
    adopt(address, &admin).await;
    let cookie = sign_in(address, MEMBER, PASSWORD).await;
    println!(
        "Wukong (pid {}) on {address}, {} cores",
        child.id(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );

    let list_body =
        r#"{"query":{"name":"","status":null,"sort":"Name","descending":false,"page":0}}"#;
    let began = Instant::now();
    while !send(
        address,
        "POST /api/vms/list",
        "application/json",
        list_body,
        Some(&cookie),
    )
    .await
    .1
    .contains(&format!("\"total\":{VMS}"))
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "Wukong listed all {VMS} VMs {:.1} s after sign-in",
        began.elapsed().as_secs_f64()
    );
    println!(
        "server RSS with {VMS} VMs: {} MiB",
        rss_kib(child.id()) / 1024
    );
    if part("list") {
        list_load(child.id(), address, &cookie).await;
    }
    if !part("sockets") {
        let _ = child.kill();
        let _ = child.wait();
        return;
    }

    add_socket_users(address, &cookie).await;
    let mut cookies = Vec::with_capacity(SOCKET_USERS);
    for user in 0..SOCKET_USERS {
        cookies.push(sign_in(address, &socket_user(user), PASSWORD).await);
    }
    let before = rss_kib(child.id());
    let began = Instant::now();
    let sockets = open_sockets(address, &cookies).await;
    println!(
        "{} sockets open in {:.1} s",
        sockets.len(),
        began.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let open = rss_kib(child.id());
    println!(
        "server RSS with {CLIENTS} sockets open: {} MiB ({:.1} KiB per socket over {} MiB before)",
        open / 1024,
        (open.saturating_sub(before)) as f64 / CLIENTS as f64,
        before / 1024
    );
    // Each socket is read by a task of its own, as a browser tab would read it: the
    // clients answer pings meanwhile, and a change is timed as each one receives it.
    let (round_sender, round) = tokio::sync::watch::channel(None::<Arc<(String, Instant)>>);
    let (heard_sender, mut heard) = tokio::sync::mpsc::unbounded_channel();
    for mut socket in sockets {
        let round = round.clone();
        let heard = heard_sender.clone();
        tokio::spawn(async move {
            // A VM may be reported starting more than once (its address comes later): only
            // the first report of each round counts.
            let mut reported: Option<Arc<(String, Instant)>> = None;
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Some(current) = round.borrow().clone() else {
                    continue;
                };
                if reported
                    .as_ref()
                    .is_some_and(|done| Arc::ptr_eq(done, &current))
                {
                    continue;
                }
                let (name, began) = &*current;
                if text.contains(name.as_str()) && text.contains("\"status\":\"Starting\"") {
                    let _ = heard.send(began.elapsed());
                    reported = Some(current);
                }
            }
        });
    }
    let cpu_before = cpu_time(child.id());
    tokio::time::sleep(IDLE_FOR).await;
    let idle = cpu_time(child.id()).saturating_sub(cpu_before);
    println!(
        "server CPU with {CLIENTS} idle sockets: {:.2}% of one core over {} s",
        100.0 * idle.as_secs_f64() / IDLE_FOR.as_secs_f64(),
        IDLE_FOR.as_secs()
    );

    for round_number in 0..5 {
        let target = VmRef {
            namespace: Namespace::parse(&namespace_of(round_number % PROJECTS)).expect("namespace"),
            name: VmName::parse(&format!("vm-{round_number:05}")).expect("name"),
        };
        let project = project_of(&cluster, &target).await;
        let vm = ownership::from_cluster(&cluster, &target, &project)
            .await
            .expect("Wukong's VM");
        let name = format!("\"name\":\"{}\"", target.name);
        round_sender.send_replace(Some(Arc::new((name, Instant::now()))));
        cluster::act(&cluster, &vm, VmAction::Start)
            .await
            .expect("start");
        let mut latencies = Vec::with_capacity(CLIENTS);
        while latencies.len() < CLIENTS {
            match tokio::time::timeout(Duration::from_secs(10), heard.recv()).await {
                Ok(Some(latency)) => latencies.push(latency),
                _ => break,
            }
        }
        latencies.sort();
        println!(
            "round {round_number}: one status change to {} of {CLIENTS} sockets: p50={:.1} ms p99={:.1} ms all={:.1} ms",
            latencies.len(),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(latencies.last().copied().unwrap_or_default()),
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    println!(
        "server RSS after the rounds: {} MiB",
        rss_kib(child.id()) / 1024
    );
    let _ = child.kill();
    let _ = child.wait();
}
