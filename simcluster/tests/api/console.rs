//! The simulated cluster's VNC and serial console WebSockets, used as virtctl and noVNC use
//! KubeVirt's.

use crate::{
    cluster::{
        lifecycle::{act, sim, wait_for},
        vm,
    },
    console_client::{
        assert_test_pattern, connect, full_update, pixel, refusal, server_init, update_request,
        Endpoint, Peer, PROTOCOL,
    },
};
use futures_util::SinkExt as _;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::json;
use simcluster::SimCluster;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message};

/// A simulated cluster with VM `name` running in namespace `team-a`.
async fn running(name: &str) -> (SimCluster, kube::Client, Api<DynamicObject>) {
    let (sim, client, vms) = sim().await;
    vms.create(&PostParams::default(), &vm(name, json!({})))
        .await
        .expect("create");
    act(&client, "virtualmachines", name, "start", json!({}))
        .await
        .expect("start");
    wait_for(&vms, name, "Running").await;
    (sim, client, vms)
}

/// VM `demo` running, and a session of `stream` open on it.
async fn demo_session(stream: &str, protocols: &[&str]) -> (SimCluster, kube::Client, Peer) {
    let (sim, client, _vms) = running("demo").await;
    let (peer, _) = connect(&url(&sim, "demo", stream), protocols)
        .await
        .expect("connect");
    (sim, client, peer)
}

fn url(sim: &SimCluster, name: &str, stream: &str) -> Endpoint {
    Endpoint::new(
        &sim.address.to_string(),
        name,
        stream,
        sim.token(),
        sim.certificate_der(),
    )
}

#[tokio::test]
async fn vnc_speaks_rfb_3_8_and_shows_the_test_pattern_in_the_clients_pixel_format() {
    let (_sim, _client, mut vnc) = demo_session("vnc", &[]).await;
    assert_eq!(vnc.read(12).await, b"RFB 003.008\n");
    // Message boundaries mean nothing: the version comes in two pieces.
    vnc.send(b"RFB 003").await;
    vnc.send(b".008\n").await;
    assert_eq!(vnc.read(2).await, [1, 1], "one security type, None");
    // The choice of None and ClientInit in one message.
    vnc.send(&[1, 1]).await;
    assert_eq!(vnc.read(4).await, [0; 4], "SecurityResult OK");
    assert_eq!(server_init(&mut vnc).await, "demo");

    // SetEncodings (Raw, CopyRect, DesktopSize) and a full update request, split mid-message.
    let mut messages = vec![2, 0, 0, 3];
    for encoding in [0i32, 1, -223] {
        messages.extend_from_slice(&encoding.to_be_bytes());
    }
    messages.extend(update_request(false));
    let (first, second) = messages.split_at(7);
    vnc.send(first).await;
    vnc.send(second).await;
    assert_test_pattern(&full_update(&mut vnc).await);

    // An incremental request goes unanswered while nothing changes; input is taken and
    // ignored; then noVNC's pixel format (red in the low byte), one byte a message.
    let mut messages = update_request(true);
    messages.extend([4, 1, 0, 0, 0, 0, 0, 0x61]);
    messages.extend([5, 1, 0, 10, 0, 20]);
    messages.extend([6, 0, 0, 0, 0, 0, 0, 5]);
    messages.extend(b"hello");
    messages.extend([
        0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 0, 8, 16, 0, 0, 0,
    ]);
    messages.extend(update_request(false));
    for byte in messages {
        vnc.send(&[byte]).await;
    }
    let pixels = full_update(&mut vnc).await;
    assert_eq!(
        pixel(&pixels, 120, 10),
        [255, 255, 0, 0],
        "yellow, as R G B x"
    );
    assert_eq!(pixel(&pixels, 440, 10), [255, 0, 0, 0], "red, as R G B x");
}

#[tokio::test]
async fn an_rfb_3_3_client_gets_security_none_without_a_choice() {
    let (_sim, _client, mut vnc) = demo_session("vnc", &[PROTOCOL]).await;
    assert_eq!(vnc.read(12).await, b"RFB 003.008\n");
    vnc.send(b"RFB 003.003\n").await;
    assert_eq!(
        vnc.read(4).await,
        [0, 0, 0, 1],
        "security type None, decided"
    );
    vnc.send(&[0]).await;
    assert_eq!(vnc.read(4).await, [2, 128, 1, 224], "ServerInit: 640 × 480");
}

#[tokio::test]
async fn plain_kubevirt_io_is_chosen_when_offered_and_no_protocol_when_none_is() {
    let (sim, _client, _vms) = running("demo").await;
    let offered = ["base64url.bearer.authorization.k8s.io.dG9rZW4", PROTOCOL];
    let (_console, chosen) = connect(&url(&sim, "demo", "console"), &offered)
        .await
        .expect("connect offering protocols");
    assert_eq!(chosen.as_deref(), Some(PROTOCOL));
    let (_vnc, chosen) = connect(&url(&sim, "demo", "vnc"), &[])
        .await
        .expect("connect offering none");
    assert_eq!(chosen, None);
}

/// The VNC and serial console WebSockets of the simulated cluster open only with its bearer
/// token, like its REST calls: without it or with another, the upgrade gets 401 and a
/// `Status`, even for a running VM (the spirit of WS-03 for the cluster's own sockets).
#[tokio::test]
async fn the_streams_refuse_an_upgrade_without_the_clusters_token() {
    let (sim, _client, _vms) = running("demo").await;
    for stream in ["vnc", "console"] {
        let endpoint = url(&sim, "demo", stream);
        for token in [None, Some("wrong")] {
            let refused = refusal(&endpoint.with_token(token)).await;
            assert_eq!(refused["code"], 401, "{stream} with {token:?}");
            assert_eq!(refused["reason"], "Unauthorized");
        }
        connect(&endpoint, &[PROTOCOL])
            .await
            .expect("the stream with the token");
    }
}

#[tokio::test]
async fn the_console_greets_echoes_lines_and_erases() {
    let (_sim, _client, mut console) = demo_session("console", &[PROTOCOL]).await;
    let greeting = console.read_until("[demo]$ ").await;
    assert!(greeting.contains("console of demo"), "{greeting:?}");

    console.send(b"hel").await;
    console
        .socket
        .send(Message::text("text messages are not input"))
        .await
        .expect("send");
    console.send(b"lo\r").await;
    assert_eq!(
        console.read_until("[demo]$ ").await,
        "hello\r\nyou typed: hello\r\n[demo]$ "
    );
    console.send(b"ab\x7fc\r").await;
    assert_eq!(
        console.read_until("[demo]$ ").await,
        "ab\x08 \x08c\r\nyou typed: ac\r\n[demo]$ "
    );
}

#[tokio::test]
async fn missing_stopped_and_headless_vms_are_refused_but_paused_ones_connect() {
    let (sim, client, vms) = sim().await;
    let missing = refusal(&url(&sim, "ghost", "vnc")).await;
    assert_eq!(missing["code"], 404);
    assert_eq!(missing["reason"], "NotFound");
    assert_eq!(
        missing["message"],
        "virtualmachineinstance.kubevirt.io \"ghost\" not found"
    );

    vms.create(&PostParams::default(), &vm("stopped", json!({})))
        .await
        .expect("create");
    for stream in ["vnc", "console"] {
        let stopped = refusal(&url(&sim, "stopped", stream)).await;
        assert_eq!(stopped["code"], 404, "{stream}");
        assert_eq!(stopped["reason"], "NotFound");
        assert_eq!(
            stopped["message"],
            "virtualmachineinstance.kubevirt.io \"stopped\" not found"
        );
    }

    let mut headless = vm("headless", json!({}));
    headless.data["spec"]["template"]["spec"]["domain"]["devices"]["autoattachGraphicsDevice"] =
        json!(false);
    vms.create(&PostParams::default(), &headless)
        .await
        .expect("create");
    act(&client, "virtualmachines", "headless", "start", json!({}))
        .await
        .expect("start");
    wait_for(&vms, "headless", "Running").await;
    let headless = refusal(&url(&sim, "headless", "vnc")).await;
    assert_eq!(headless["code"], 400);
    assert_eq!(headless["message"], "No graphics devices are present.");
    connect(&url(&sim, "headless", "console"), &[PROTOCOL])
        .await
        .expect("the serial console all the same");

    // A paused VMI is still running, as far as its streams go.
    act(
        &client,
        "virtualmachineinstances",
        "headless",
        "pause",
        json!({}),
    )
    .await
    .expect("pause");
    wait_for(&vms, "headless", "Paused").await;
    connect(&url(&sim, "headless", "console"), &[PROTOCOL])
        .await
        .expect("the console of a paused VMI");
}

#[tokio::test]
async fn a_new_vnc_connection_ends_the_old_unless_the_session_is_to_be_preserved() {
    let (sim, _client, _vms) = running("demo").await;
    let vnc_url = url(&sim, "demo", "vnc");
    let (mut first, _) = connect(&vnc_url, &[PROTOCOL]).await.expect("first");
    assert_eq!(first.read(12).await, b"RFB 003.008\n");
    let (mut second, _) = connect(&vnc_url, &[PROTOCOL]).await.expect("second");
    let frame = first.closed().await;
    assert_eq!(frame.reason.as_str(), "replaced by a newer connection");

    let preserving = vnc_url.with_query("preserveSession=true");
    let busy = refusal(&preserving).await;
    assert_eq!(busy["code"], 503);
    assert_eq!(busy["message"], "Active VNC connection. Request denied.");

    // The serial console is a session of its own: opening it leaves VNC alone.
    let (_console, _) = connect(&url(&sim, "demo", "console"), &[PROTOCOL])
        .await
        .expect("console");
    assert_eq!(second.read(12).await, b"RFB 003.008\n");
    second.send(b"RFB 003.008\n").await;
    assert_eq!(second.read(2).await, [1, 1]);

    // Once the client has gone, a preserving connection gets in.
    second.socket.close(None).await.expect("close");
    for _ in 0..100 {
        match connect(&preserving, &[PROTOCOL]).await {
            Ok(_) => return,
            Err(tungstenite::Error::Http(response)) if response.status() == 503 => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("{error}"),
        }
    }
    panic!("the ended session still counts as active");
}

#[tokio::test]
async fn stopping_the_vm_closes_its_console() {
    let (_sim, client, mut console) = demo_session("console", &[PROTOCOL]).await;
    console.read_until("[demo]$ ").await;
    act(&client, "virtualmachines", "demo", "stop", json!({}))
        .await
        .expect("stop");
    let frame = console.closed().await;
    assert_eq!(u16::from(frame.code), 1001, "going away");
    assert_eq!(frame.reason.as_str(), "the VMI is no longer running");
}
