//! Consoles through Wukong against the same streams opened straight from the simulated
//! cluster (in this process, over TLS), with a real `wukong` process on loopback between:
//!
//! 1. latency per frame: a byte typed into a VM's serial console until its echo is back,
//!    [`ROUND_TRIPS`] times, p50 and p99; and a whole VNC screen (640 × 480 × 4 bytes,
//!    1.2 MB) from its request to its last byte, [`UPDATES`] times;
//! 2. throughput: those screens back to back, in MB/s;
//! 3. the server's resident memory with [`VMS`] × 2 consoles open (VNC and serial of each
//!    VM), each having shown its first bytes.
//!
//! Run with `cargo bench -p server --bench console`. It prints figures; it asserts nothing.

#[allow(dead_code, reason = "each benchmark uses part of the shared helpers")]
mod common;
#[allow(
    dead_code,
    reason = "the benchmark uses the RFB part of the tests' client"
)]
#[path = "../../simcluster/tests/api/console_client.rs"]
mod console_client;

use app::{
    cluster::{Cluster, ClusterSource},
    console::types::{CONSOLE_PROTOCOL, TICKET_PROTOCOL_PREFIX},
    vms::{names::Namespace, new_vm::NewVmForm, server::cluster},
};
use common::{create_user, percentile, post, rss_kib, sign_in};
use console_client::{full_update, server_init, update_request, Endpoint, Peer, PROTOCOL};
use futures_util::StreamExt as _;
use kube::api::{Api, DynamicObject, ListParams};
use server::simcluster::SimCluster;
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

const EMAIL: &str = "bench@example.test";
const PASSWORD: &str = "benchmark passphrase";
const NAMESPACE: &str = "consoles";
/// VMs, each with two consoles open for the memory figure.
const VMS: usize = 100;
const ROUND_TRIPS: usize = 2_000;
const UPDATES: usize = 100;
const SCREEN_BYTES: usize = console_client::WIDTH * console_client::HEIGHT * 4;

fn vm_name(index: usize) -> String {
    format!("vm-{index:03}")
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The VMs, running, made through the cluster API in a namespace Wukong adopts later.
async fn seed(sim: &SimCluster) -> Cluster {
    let client = kube::Client::try_from(sim.client_config()).expect("client");
    let cluster = Cluster::new(client, ClusterSource::Simulated(sim.url()));
    let namespace = Namespace::parse(NAMESPACE).expect("namespace");
    for index in 0..VMS {
        let form = NewVmForm {
            name: vm_name(index),
            cpus: "1".to_owned(),
            memory_mib: "512".to_owned(),
            image: "cirros".to_owned(),
            run_strategy: "Always".to_owned(),
            project: NAMESPACE.to_owned(),
            ..NewVmForm::default()
        };
        let vm = form.parse().expect("form");
        cluster::create(&cluster, &vm, &namespace, "unadopted")
            .await
            .expect("create");
    }
    cluster
}

/// Waits until every VM's instance runs.
async fn all_running(cluster: &Cluster) {
    let vmis: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        NAMESPACE,
        &kube::api::ApiResource {
            group: "kubevirt.io".to_owned(),
            version: "v1".to_owned(),
            api_version: "kubevirt.io/v1".to_owned(),
            kind: "VirtualMachineInstance".to_owned(),
            plural: "virtualmachineinstances".to_owned(),
        },
    );
    loop {
        let list = vmis.list(&ListParams::default()).await.expect("VMIs");
        let running = list
            .items
            .iter()
            .filter(|vmi| vmi.data.pointer("/status/phase") == Some(&"Running".into()))
            .count();
        if running == VMS {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Wukong {
    address: SocketAddr,
    cookie: String,
    slug: String,
}

impl Wukong {
    /// Opens `kind` of VM `name` through Wukong, with a fresh ticket.
    async fn open(&self, name: &str, kind: &str) -> Peer {
        let body = format!(
            "project={}&vm={name}&kind={kind}&take_over=false",
            self.slug
        );
        let (status, answer) = post(
            self.address,
            "/api/console_ticket",
            &body,
            Some(&self.cookie),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let json = answer.split("\r\n\r\n").nth(1).expect("body");
        let ticket: serde_json::Value = serde_json::from_str(json).expect("ticket");
        let ticket = ticket["ticket"].as_str().expect("ticket");
        let mut request = format!("ws://{}/console/{kind}", self.address)
            .into_client_request()
            .expect("request");
        let headers = request.headers_mut();
        let origin = format!("http://{}", self.address);
        headers.insert("origin", origin.parse().expect("origin"));
        headers.insert("cookie", self.cookie.parse().expect("cookie"));
        let protocols = format!("{CONSOLE_PROTOCOL}, {TICKET_PROTOCOL_PREFIX}{ticket}");
        headers.insert(
            "sec-websocket-protocol",
            protocols.parse().expect("protocols"),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("console");
        Peer::from_socket(socket)
    }
}

/// Opens `stream` of VM `name` straight from the simulated cluster.
async fn direct(sim: &SimCluster, name: &str, stream: &str) -> Peer {
    let endpoint = Endpoint {
        url: format!(
            "wss://{}/apis/subresources.kubevirt.io/v1/namespaces/{NAMESPACE}/virtualmachineinstances/{name}/{stream}",
            sim.address
        ),
        token: Some(sim.token().to_owned()),
        certificate: sim.certificate_der().to_vec(),
    };
    console_client::connect(&endpoint, &[PROTOCOL])
        .await
        .expect("console")
        .0
}

/// Typed bytes until their echo is back; sorted round trips.
async fn echoes(terminal: &mut Peer) -> Vec<Duration> {
    terminal.read_until("$ ").await;
    let mut latencies = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let began = Instant::now();
        terminal.send(b"a").await;
        terminal.read(1).await;
        latencies.push(began.elapsed());
    }
    latencies.sort();
    latencies
}

/// Whole screens, each requested once the last is in; sorted times and the total.
async fn screens(vnc: &mut Peer) -> (Vec<Duration>, Duration) {
    assert_eq!(vnc.read(12).await, b"RFB 003.008\n");
    vnc.send(b"RFB 003.008\n").await;
    vnc.read(2).await;
    vnc.send(&[1, 1]).await;
    vnc.read(4).await;
    server_init(vnc).await;
    let mut latencies = Vec::with_capacity(UPDATES);
    let began = Instant::now();
    for _ in 0..UPDATES {
        let asked = Instant::now();
        vnc.send(&update_request(false)).await;
        full_update(vnc).await;
        latencies.push(asked.elapsed());
    }
    let total = began.elapsed();
    latencies.sort();
    (latencies, total)
}

fn report(label: &str, echo: &[Duration], screen: &[Duration], total: Duration) -> (f64, f64) {
    let megabytes = (UPDATES * SCREEN_BYTES) as f64 / 1e6;
    println!(
        "{label}: serial echo p50 {:.3} ms, p99 {:.3} ms; VNC screen (1.2 MB) p50 {:.2} ms, p99 {:.2} ms; {:.0} MB/s",
        ms(percentile(echo, 0.5)),
        ms(percentile(echo, 0.99)),
        ms(percentile(screen, 0.5)),
        ms(percentile(screen, 0.99)),
        megabytes / total.as_secs_f64(),
    );
    (ms(percentile(echo, 0.5)), ms(percentile(echo, 0.99)))
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = common::start_sim().await;
    let cluster = seed(&sim).await;
    create_user(dir.path(), EMAIL, PASSWORD, true);
    let (address, mut child) = common::start_wukong_on(&sim, dir.path(), &[]);
    let cookie = sign_in(address, EMAIL, PASSWORD).await;
    let body = format!(
        "namespace={NAMESPACE}&name=Consoles&description=&owner_email={}",
        EMAIL.replace('@', "%40")
    );
    let (status, answer) = post(address, "/api/projects/adopt", &body, Some(&cookie)).await;
    assert_eq!(status, 200, "{answer}");
    all_running(&cluster).await;
    let (status, answer) = post(address, "/api/projects/list", "", Some(&cookie)).await;
    assert_eq!(status, 200, "{answer}");
    let projects: Vec<serde_json::Value> =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).expect("body")).expect("projects");
    let slug = projects
        .iter()
        .find(|project| project["name"] == "Consoles")
        .and_then(|project| project["slug"].as_str())
        .expect("the adopted project")
        .to_owned();
    let wukong = Wukong {
        address,
        cookie,
        slug,
    };
    println!("Wukong (pid {}) on {address}", child.id());

    let mut terminal = direct(&sim, &vm_name(0), "console").await;
    let direct_echo = echoes(&mut terminal).await;
    let mut vnc = direct(&sim, &vm_name(0), "vnc").await;
    let (direct_screen, direct_total) = screens(&mut vnc).await;
    drop((terminal, vnc));
    let mut terminal = wukong.open(&vm_name(1), "serial").await;
    let proxied_echo = echoes(&mut terminal).await;
    let mut vnc = wukong.open(&vm_name(1), "vnc").await;
    let (proxied_screen, proxied_total) = screens(&mut vnc).await;
    drop((terminal, vnc));
    let (direct_p50, direct_p99) = report("direct", &direct_echo, &direct_screen, direct_total);
    let (proxied_p50, proxied_p99) = report(
        "through Wukong",
        &proxied_echo,
        &proxied_screen,
        proxied_total,
    );
    println!(
        "added by Wukong per frame (serial echo): p50 {:.3} ms, p99 {:.3} ms",
        proxied_p50 - direct_p50,
        proxied_p99 - direct_p99
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(child.id());
    let openings = (0..VMS).flat_map(|index| {
        ["vnc", "serial"].map(|kind| {
            let wukong = &wukong;
            async move {
                let mut peer = wukong.open(&vm_name(index), kind).await;
                peer.read(1).await;
                peer
            }
        })
    });
    let open: Vec<Peer> = futures_util::stream::iter(openings)
        .buffer_unordered(20)
        .collect()
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(child.id());
    println!(
        "server RSS with {} open consoles: {} MiB ({:.1} KiB per console over {} MiB before)",
        open.len(),
        after / 1024,
        after.saturating_sub(before) as f64 / open.len() as f64,
        before / 1024
    );
    drop(open);
    let _ = child.kill();
    let _ = child.wait();
}
