//! KubeVirt's VNC and serial console streams on the real control plane: the API server
//! authenticates and authorizes the WebSocket upgrade, and its aggregator relays it to the
//! KubeVirt stand-in, which serves the screen and terminal of the built-in cluster.

#[path = "../../../../simcluster/tests/api/console_client.rs"]
mod console_client;

use super::{cirros, eventually, harness::ControlPlane, namespace};
use app::{
    cluster::Cluster,
    vms::{new_vm::RunStrategy, server::cluster::create},
};
use console_client::{
    assert_test_pattern, connect, full_update, refusal, server_init, update_request, Endpoint,
    PROTOCOL,
};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{json, Value};
use server::simcluster::standin::StandIn;
use std::time::Duration;

/// A control plane with the KubeVirt stand-in (which stops when dropped) and a running VM.
struct Running {
    plane: ControlPlane,
    admin: Cluster,
    /// The control plane's CA, as its kubeconfig names it (DER).
    certificate: Vec<u8>,
    _kubevirt: StandIn,
}

impl Running {
    /// `stream` of VMI `team-a/name`, opened with the admin's token.
    fn endpoint(&self, name: &str, stream: &str) -> Endpoint {
        let address = self.plane.server.trim_start_matches("https://");
        let token = self.plane.admin_token();
        Endpoint::new(address, name, stream, &token, &self.certificate)
    }
}

/// VM `team-a/name` created running, once its VMI runs.
async fn running(name: &str) -> Running {
    let plane = ControlPlane::start().await;
    let admin = plane.admin().await;
    let kubevirt = StandIn::start(admin.client.clone(), Duration::from_millis(50))
        .await
        .expect("the KubeVirt stand-in");
    let mut vm = cirros(name);
    vm.run_strategy = RunStrategy::Always;
    create(&admin, &vm, &namespace("team-a"), "p")
        .await
        .expect("create");
    let vmis: Api<DynamicObject> = Api::namespaced_with(
        admin.client.clone(),
        "team-a",
        &crate::support::api_resource(
            "kubevirt.io",
            "v1",
            "VirtualMachineInstance",
            "virtualmachineinstances",
        ),
    );
    eventually("the VMI runs", || async {
        vmis.get_opt(name).await.ok().flatten().is_some_and(|vmi| {
            vmi.data.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
        })
    })
    .await;
    let kubeconfig = kube::config::Kubeconfig::read_from(&plane.kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("configuration");
    let certificate = config
        .root_cert
        .and_then(|certificates| certificates.into_iter().next())
        .expect("the control plane's CA");
    Running {
        plane,
        admin,
        certificate,
        _kubevirt: kubevirt,
    }
}

#[tokio::test]
async fn vnc_and_the_serial_console_pass_through_the_real_api_servers_aggregator() {
    let running = running("demo").await;
    let vnc_endpoint = running.endpoint("demo", "vnc");
    let (mut vnc, chosen) = connect(&vnc_endpoint, &[PROTOCOL])
        .await
        .expect("VNC through the API server");
    assert_eq!(chosen.as_deref(), Some(PROTOCOL));
    assert_eq!(vnc.read(12).await, b"RFB 003.008\n");
    vnc.send(b"RFB 003.008\n").await;
    assert_eq!(vnc.read(2).await, [1, 1], "one security type, None");
    vnc.send(&[1]).await;
    assert_eq!(vnc.read(4).await, [0; 4], "SecurityResult OK");
    // ClientInit, then a full update request.
    vnc.send(&[1]).await;
    assert_eq!(server_init(&mut vnc).await, "demo");
    vnc.send(&update_request(false)).await;
    assert_test_pattern(&full_update(&mut vnc).await);

    // virt-handler's refusal of a second viewer who wants the first one kept reaches the
    // client as the stand-in wrote it.
    let busy = refusal(&vnc_endpoint.with_query("preserveSession=true")).await;
    assert_eq!(busy["code"], 503);
    assert_eq!(busy["message"], "Active VNC connection. Request denied.");

    let console_endpoint = running.endpoint("demo", "console");
    let (mut console, _) = connect(&console_endpoint, &[PROTOCOL])
        .await
        .expect("the serial console through the API server");
    let greeting = console.read_until("[demo]$ ").await;
    assert!(greeting.contains("console of demo"), "{greeting:?}");
    console.send(b"hello\r").await;
    assert_eq!(
        console.read_until("[demo]$ ").await,
        "hello\r\nyou typed: hello\r\n[demo]$ "
    );

    // Stopping the VM ends both sessions, and a stopped VM's streams are refused.
    let vms: Api<DynamicObject> = Api::namespaced_with(
        running.admin.client.clone(),
        "team-a",
        &crate::support::api_resource("kubevirt.io", "v1", "VirtualMachine", "virtualmachines"),
    );
    vms.patch(
        "demo",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"runStrategy": "Halted"}})),
    )
    .await
    .expect("stop");
    for session in [&mut console, &mut vnc] {
        let frame = session.closed().await;
        assert_eq!(u16::from(frame.code), 1001, "going away");
        assert_eq!(frame.reason.as_str(), "the VMI is no longer running");
    }
    for endpoint in [&vnc_endpoint, &console_endpoint] {
        // While the instance shuts down it is not running (virt-api's 400); once it is gone,
        // virt-api's 404: a stopped VM has no VMI.
        let mut stopped = refusal(endpoint).await;
        for _ in 0..300 {
            if stopped["code"] == 404 {
                break;
            }
            assert_eq!(stopped["message"], "VMI is not running", "{}", endpoint.url);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            stopped = refusal(endpoint).await;
        }
        assert_eq!(stopped["code"], 404, "{}", endpoint.url);
        assert_eq!(stopped["reason"], "NotFound");
    }
}

/// The API server refuses a user without `get` on the streams (RBAC, before the stand-in
/// hears of it), and the stand-in refuses a VMI that does not exist as virt-api does.
#[tokio::test]
async fn the_streams_are_refused_without_permission_and_for_a_missing_vmi() {
    let running = running("demo").await;
    running.plane.kubectl(&["create", "namespace", "outsiders"]);
    running
        .plane
        .kubectl(&["-n", "outsiders", "create", "serviceaccount", "viewer"]);
    let token = running
        .plane
        .service_account_token(&running.admin, "outsiders", "viewer")
        .await;
    for stream in ["vnc", "console"] {
        let refused = refusal(&running.endpoint("demo", stream).with_token(Some(&token))).await;
        assert_eq!(refused["code"], 403, "{stream}");
        assert_eq!(refused["reason"], "Forbidden");
        assert_eq!(
            refused["message"],
            format!(
                "virtualmachineinstances.subresources.kubevirt.io \"demo\" is forbidden: User \
                 \"system:serviceaccount:outsiders:viewer\" cannot get resource \
                 \"virtualmachineinstances/{stream}\" in API group \"subresources.kubevirt.io\" \
                 in the namespace \"team-a\""
            )
        );
    }
    // With the permission for VNC, the same token gets in there, and only there.
    let grant = running.plane.dir.path().join("vnc-viewer.json");
    let role = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "vnc-viewer", "namespace": "team-a"},
         "rules": [{"apiGroups": ["subresources.kubevirt.io"],
                    "resources": ["virtualmachineinstances/vnc"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "vnc-viewer", "namespace": "team-a"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "vnc-viewer"},
         "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": "outsiders"}]},
    ]});
    std::fs::write(&grant, role.to_string()).expect("write the grant");
    running
        .plane
        .kubectl(&["apply", "-f", grant.to_str().expect("path")]);
    let viewer_vnc = running.endpoint("demo", "vnc").with_token(Some(&token));
    eventually("the authorizer sees the grant", || async {
        connect(&viewer_vnc, &[PROTOCOL]).await.is_ok()
    })
    .await;
    let viewer_console = running.endpoint("demo", "console").with_token(Some(&token));
    let still = refusal(&viewer_console).await;
    assert_eq!(still["code"], 403);

    let missing = refusal(&running.endpoint("ghost", "vnc")).await;
    assert_eq!(missing["code"], 404);
    assert_eq!(missing["reason"], "NotFound");
    assert_eq!(
        missing["message"],
        "virtualmachineinstance.kubevirt.io \"ghost\" not found"
    );
}
