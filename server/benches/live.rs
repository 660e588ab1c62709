//! Live updates and the VM list at scale, against a real `wukong` process on loopback whose
//! kubeconfig points at a simulated cluster run by this benchmark (in memory):
//!
//! 1. the VM list page (`GET /vms`, rendered on the server) and `vms/list` with 5,000 VMs
//!    in 50 projects (namespaces made outside Wukong and adopted), for a user who is a
//!    member of all 50;
//! 2. 1,000 WebSocket clients on `/ws/events`; one VM status change; p50/p99 of the time until
//!    each client received it, and the time until all had; the server's resident memory.
//!
//! Run with `cargo bench -p server --bench live` (it needs about 2,100 file descriptors). It
//! prints figures; it asserts nothing.

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
use common::{create_user, percentile, post, rss_kib, send};
use futures_util::StreamExt as _;
use server::simcluster::{SimCluster, SimOptions};
use std::{
    net::SocketAddr,
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
const CLIENTS: usize = 1_000;

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Starts `wukong` on the simulated cluster; its address and the child process.
fn start_wukong(sim: &SimCluster, data_dir: &std::path::Path) -> (SocketAddr, std::process::Child) {
    let kubeconfig = data_dir.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    create_user(data_dir, EMAIL, PASSWORD, true);
    create_user(data_dir, MEMBER, PASSWORD, false);
    let data = data_dir.to_string_lossy();
    let kubeconfig = kubeconfig.to_string_lossy();
    common::start_wukong(
        &[
            "--log",
            "warn,wukong=info,server=info",
            "--data-dir",
            &data,
            "--kubeconfig",
            &kubeconfig,
            // One account opens every socket here; the default cap is sized for browser tabs.
            "--max-sockets-per-user",
            &CLIENTS.to_string(),
        ],
        data_dir,
    )
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

async fn sign_in(address: SocketAddr, email: &str) -> String {
    let body = format!(
        "email={}&password={}",
        email.replace('@', "%40"),
        PASSWORD.replace(' ', "+")
    );
    let (status, head) = post(address, "/api/auth/login", &body, None).await;
    assert_eq!(status, 200, "{head}");
    head.lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|value| value.split(';').next())
        .expect("session cookie")
        .to_owned()
}

async fn timed_requests(label: &str, rounds: usize, call: impl AsyncFn() -> u16) {
    let mut latencies = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let began = Instant::now();
        assert_eq!(call().await, 200, "{label}");
        latencies.push(began.elapsed());
    }
    latencies.sort();
    println!(
        "{label}: n={rounds} p50={:.1} ms p99={:.1} ms",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99))
    );
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

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = SimCluster::start_with(None, SimOptions::default())
        .await
        .expect("simulated cluster");
    let cluster = seed(&sim).await;
    let (address, mut child) = start_wukong(&sim, dir.path());
    let admin = sign_in(address, EMAIL).await;
    adopt(address, &admin).await;
    let cookie = sign_in(address, MEMBER).await;
    println!(
        "Wukong (pid {}) on {address}, {} cores",
        child.id(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );

    let list_body =
        r#"{"query":{"name":"","status":null,"sort":"Name","descending":false,"page":0}}"#;
    let list = async || {
        send(
            address,
            "POST /api/vms/list",
            "application/json",
            list_body,
            Some(&cookie),
        )
        .await
    };
    let began = Instant::now();
    while !list().await.1.contains(&format!("\"total\":{VMS}")) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "Wukong listed all {VMS} VMs {:.1} s after sign-in",
        began.elapsed().as_secs_f64()
    );
    timed_requests(
        &format!("GET /vms (server-rendered page, {VMS} VMs)"),
        50,
        async || {
            send(address, "GET /vms", "text/html", "", Some(&cookie))
                .await
                .0
        },
    )
    .await;
    timed_requests(&format!("vms/list (page 1 of {VMS} VMs)"), 50, async || {
        list().await.0
    })
    .await;
    let filtered =
        r#"{"query":{"name":"vm-04","status":null,"sort":"Memory","descending":true,"page":3}}"#;
    timed_requests(
        "vms/list (filtered, sorted by memory, page 4)",
        50,
        async || {
            send(
                address,
                "POST /api/vms/list",
                "application/json",
                filtered,
                Some(&cookie),
            )
            .await
            .0
        },
    )
    .await;
    println!(
        "server RSS with {VMS} VMs: {} MiB",
        rss_kib(child.id()) / 1024
    );

    let mut sockets = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
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
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("socket");
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "server RSS with {CLIENTS} sockets open: {} MiB",
        rss_kib(child.id()) / 1024
    );

    for round in 0..3 {
        let target = VmRef {
            namespace: Namespace::parse(&namespace_of(round % PROJECTS)).expect("namespace"),
            name: VmName::parse(&format!("vm-{round:05}")).expect("name"),
        };
        let project = project_of(&cluster, &target).await;
        let vm = ownership::from_cluster(&cluster, &target, &project)
            .await
            .expect("Wukong's VM");
        let name = format!("\"name\":\"{}\"", target.name);
        let began = Instant::now();
        let mut waiting = futures_util::stream::FuturesUnordered::new();
        for socket in sockets.iter_mut() {
            let name = name.clone();
            waiting.push(async move {
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        if text.contains(&name) && text.contains("\"status\":\"Starting\"") {
                            return Some(began.elapsed());
                        }
                    }
                }
                None
            });
        }
        let (acted, mut latencies) =
            tokio::join!(cluster::act(&cluster, &vm, VmAction::Start), async {
                let mut latencies = Vec::with_capacity(CLIENTS);
                while let Some(latency) = waiting.next().await {
                    latencies.extend(latency);
                }
                latencies
            });
        acted.expect("start");
        latencies.sort();
        println!(
            "round {round}: one status change to {} of {CLIENTS} sockets: p50={:.1} ms p99={:.1} ms all={:.1} ms",
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
