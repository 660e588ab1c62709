//! VM bodies, typed views and every kube-rs call path of the VM pages, at the HTTP level:
//! against the simulated cluster, and against small mocks for the failures a real cluster
//! can produce.

use crate::support::{cluster_at, serve_on_loopback, simulated};
use app::{
    cluster::Cluster,
    vms::{
        names::{DataVolumeName, Namespace, VmName, VmRef},
        new_vm::{ImagePreset, ImageSource, NewVm, NewVmForm, RunStrategy},
        server::{
            body::{root_data_volume_name, virtual_machine},
            cluster::{act, create, delete},
            kubevirt::{VirtualMachine, VirtualMachineInstance},
            ownership::{claim, from_cluster, WukongVm},
        },
        types::{DiskDisposal, VmAction},
    },
    AppError,
};
use axum::{http::StatusCode, routing::any, Json, Router};
use kube::{
    api::{Api, ApiResource, DynamicObject, GroupVersionKind},
    ResourceExt as _,
};
use serde_json::{json, Value};
use server::simcluster::{resources, schema, standin::StandIn, SimCluster, SimOptions};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ada@laptop";

fn new_vm(name: &str, image: ImageSource, run_strategy: RunStrategy) -> NewVm {
    NewVm {
        name: VmName::parse(name).expect("name"),
        project: "team-a".to_owned(),
        cpus: 2,
        memory_mib: 2048,
        image,
        disk_gib: 20,
        ssh_key: Some(SSH_KEY.to_owned()),
        user_data: None,
        run_strategy,
    }
}

fn team_a() -> Namespace {
    Namespace::parse("team-a").expect("namespace")
}

fn vm_schema() -> Value {
    resources()
        .expect("schemas")
        .into_iter()
        .find(|resource| resource.kind == "VirtualMachine")
        .and_then(|resource| resource.schema)
        .expect("VirtualMachine schema")
}

#[test]
fn every_vm_body_wukong_generates_passes_the_virtualmachine_crd_schema() {
    let schema = vm_schema();
    let mut bodies = Vec::new();
    for preset in ImagePreset::ALL {
        for strategy in RunStrategy::CHOICES {
            bodies.push(new_vm("web-1", ImageSource::Preset(preset), strategy));
        }
    }
    let url = ImageSource::Url("https://images.example.test/disk.qcow2".to_owned());
    let mut imported = new_vm("imported", url, RunStrategy::Always);
    imported.user_data = Some("#cloud-config\npackages: [htop]\n".to_owned());
    bodies.push(imported);
    // User data over KubeVirt's inline limit: a `secretRef` instead.
    let mut long = new_vm(
        "long",
        ImageSource::Preset(ImagePreset::Cirros),
        RunStrategy::Halted,
    );
    long.user_data = Some(format!("#cloud-config\n{}", "# padding\n".repeat(300)));
    bodies.push(long);
    let mut bare = new_vm(
        "bare",
        ImageSource::Preset(ImagePreset::Cirros),
        RunStrategy::Halted,
    );
    bare.ssh_key = None;
    bodies.push(bare);
    for vm in &bodies {
        let object = virtual_machine(vm, &team_a(), "project-1").expect("body");
        let json = serde_json::to_value(&object).expect("JSON");
        let errors = schema::validate(&schema, &json);
        assert!(errors.is_empty(), "{}: {errors:?}\n{json:#}", vm.name);
        // Nothing a cluster would prune: every field is one the schema declares.
        assert_eq!(
            schema::prune(&schema, &mut json.clone()),
            Vec::<String>::new()
        );
        assert_eq!(json["apiVersion"], "kubevirt.io/v1");
        assert_eq!(json["kind"], "VirtualMachine");
        for labels in ["/metadata/labels", "/spec/template/metadata/labels"] {
            assert_eq!(
                json.pointer(labels).expect("labels")["app.kubernetes.io/managed-by"],
                "wukong"
            );
            assert_eq!(
                json.pointer(labels).expect("labels")["wukong.io/project"],
                "project-1"
            );
        }
        assert_eq!(object.cpus(), 2);
        assert_eq!(object.memory_bytes(), 2048 << 20);
        assert_eq!(object.run_strategy(), vm.run_strategy.as_str());
    }
    // The schema check is real: a body it must refuse is refused.
    let mut broken =
        serde_json::to_value(virtual_machine(&bodies[0], &team_a(), "p").expect("body"))
            .expect("JSON");
    broken["spec"]["template"]["spec"]["domain"]["cpu"]["cores"] = json!("two");
    assert!(!schema::validate(&schema, &broken).is_empty());
}

#[test]
fn a_url_image_becomes_a_datavolume_and_the_ssh_key_reaches_cloud_init() {
    let url = "https://images.example.test/disk.qcow2";
    let vm = new_vm(
        "imported",
        ImageSource::Url(url.to_owned()),
        RunStrategy::Always,
    );
    let json =
        serde_json::to_value(virtual_machine(&vm, &team_a(), "p").expect("body")).expect("JSON");
    let template = &json["spec"]["dataVolumeTemplates"][0];
    assert_eq!(
        template["metadata"]["name"],
        root_data_volume_name("imported")
    );
    assert_eq!(template["spec"]["source"]["http"]["url"], url);
    assert_eq!(
        template["spec"]["storage"]["resources"]["requests"]["storage"],
        "20Gi"
    );
    let volumes = &json["spec"]["template"]["spec"]["volumes"];
    assert_eq!(volumes[0]["dataVolume"]["name"], "imported-root");
    let user_data = volumes[1]["cloudInitNoCloud"]["userData"]
        .as_str()
        .expect("user data");
    assert_eq!(
        user_data,
        format!("#cloud-config\nssh_authorized_keys:\n  - {SSH_KEY}\n")
    );
}

#[test]
fn the_create_form_names_each_bad_field() {
    let form = NewVmForm {
        name: "Web_1".to_owned(),
        project: String::new(),
        cpus: "0".to_owned(),
        memory_mib: "lots".to_owned(),
        image: "url".to_owned(),
        image_url: "ftp://example.test/x".to_owned(),
        disk_gib: "20".to_owned(),
        ssh_key: "not a key".to_owned(),
        user_data: "echo hi".to_owned(),
        run_strategy: "Sometimes".to_owned(),
    };
    let errors = form.parse().expect_err("refused");
    let mut fields: Vec<&str> = errors.iter().map(|error| error.field).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "cpus",
            "image_url",
            "memory_mib",
            "name",
            "project",
            "run_strategy",
            "ssh_key",
            "user_data"
        ]
    );
    let good = NewVmForm {
        name: "web-1".to_owned(),
        project: "team-a".to_owned(),
        cpus: "2".to_owned(),
        memory_mib: "2048".to_owned(),
        image: "fedora".to_owned(),
        ssh_key: SSH_KEY.to_owned(),
        run_strategy: "Always".to_owned(),
        ..NewVmForm::default()
    };
    let vm = good.parse().expect("accepted");
    assert_eq!(vm.image, ImageSource::Preset(ImagePreset::Fedora));
    assert_eq!(vm.disk_gib, 0, "a container disk has no size to ask for");
}

/// KubeVirt's typical VM, with fields Wukong does not model and `null` condition times.
fn typical_vm() -> Value {
    json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": "fedora-web", "namespace": "team-a", "uid": "3c1f",
            "labels": {"kubevirt.io/vm": "fedora-web"}, "annotations": {"team": "web"},
            "resourceVersion": "42", "generation": 3},
        "spec": {
            "runStrategy": "Always",
            "instancetype": {"kind": "VirtualMachineClusterInstancetype", "name": "u1.medium"},
            "dataVolumeTemplates": [{"metadata": {"name": "fedora-web-root"},
                "spec": {"source": {"registry": {"url": "docker://quay.io/containerdisks/fedora:latest"}},
                    "storage": {"resources": {"requests": {"storage": "30Gi"}}}}}],
            "template": {
                "metadata": {"labels": {"kubevirt.io/domain": "fedora-web"}},
                "spec": {
                    "domain": {"cpu": {"sockets": 2, "cores": 2, "threads": 1, "model": "host-passthrough"},
                        "memory": {"guest": "4Gi"},
                        "resources": {"requests": {"memory": "4Gi"}},
                        "devices": {"rng": {}, "disks": [{"name": "rootdisk", "disk": {"bus": "virtio"}}]},
                        "firmware": {"bootloader": {"efi": {"secureBoot": false}}}},
                    "terminationGracePeriodSeconds": 180,
                    "volumes": [{"name": "rootdisk", "dataVolume": {"name": "fedora-web-root"}, "futureField": 1}]
                }
            },
            "someFutureSpecField": {"x": [1, 2]}
        },
        "status": {
            "printableStatus": "Running", "ready": true, "created": true,
            "conditions": [{"type": "LiveMigratable", "status": "False", "reason": "DisksNotLiveMigratable",
                "message": "not migratable", "lastProbeTime": null, "lastTransitionTime": null}],
            "volumeSnapshotStatuses": [{"name": "rootdisk", "enabled": true}]
        }
    })
}

#[test]
fn typed_views_read_what_wukong_needs_and_keep_everything_else() {
    let original = typical_vm();
    let vm: VirtualMachine = serde_json::from_value(original.clone()).expect("VM view");
    assert_eq!(vm.cpus(), 4);
    assert_eq!(vm.memory_bytes(), 4 << 30);
    assert_eq!(vm.printable_status(), Some("Running"));
    assert_eq!(vm.run_strategy(), "Always");
    assert_eq!(vm.data_volume_names(), ["fedora-web-root"]);
    assert_eq!(serde_json::to_value(&vm).expect("JSON"), original);

    let vmi_json = json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {"name": "fedora-web", "namespace": "team-a"},
        "spec": {"domain": {"devices": {}}},
        "status": {"phase": "Running", "nodeName": "node-7",
            "interfaces": [{"name": "default", "ipAddress": "10.0.0.7", "ipAddresses": ["10.0.0.7"], "mac": "02:00"}],
            "guestOSInfo": {"id": "fedora"},
            "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T10:00:00Z"}]}
    });
    let vmi: VirtualMachineInstance = serde_json::from_value(vmi_json.clone()).expect("VMI view");
    assert_eq!(vmi.ip().as_deref(), Some("10.0.0.7"));
    assert_eq!(vmi.node().as_deref(), Some("node-7"));
    assert_eq!(serde_json::to_value(&vmi).expect("JSON"), vmi_json);
}

fn fast() -> SimOptions {
    SimOptions {
        transition_delay: Duration::from_millis(50),
        ..SimOptions::default()
    }
}

fn vms_api(cluster: &Cluster) -> Api<VirtualMachine> {
    Api::namespaced(cluster.client.clone(), "team-a")
}

async fn wait_for_status(cluster: &Cluster, name: &str, status: &str) {
    let vms = vms_api(cluster);
    for _ in 0..500 {
        let vm = vms.get(name).await.expect("get VM");
        if vm.printable_status() == Some(status) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("VM {name} never reached {status}");
}

fn conflict_message(result: Result<(), AppError>) -> String {
    match result {
        Err(AppError::Conflict { message }) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn target(name: &str) -> VmRef {
    VmRef {
        namespace: Namespace::parse("team-a").expect("namespace"),
        name: VmName::parse(name).expect("name"),
    }
}

/// The VM `team-a/name` as the gate sees it in the cluster, for the project "p".
async fn ours(cluster: &Cluster, name: &str) -> WukongVm {
    from_cluster(cluster, &target(name), "p")
        .await
        .expect("Wukong's VM")
}

#[tokio::test]
async fn create_then_every_lifecycle_action_goes_through_kubevirts_subresources() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    every_lifecycle_action(&simulated(&sim)).await;
}

/// The same flow on a real API server, with the simulated KubeVirt standing in for
/// virt-controller and virt-api behind an `APIService`.
#[tokio::test]
async fn every_lifecycle_action_on_a_real_api_server() {
    let plane = crate::controlplane::harness::ControlPlane::start().await;
    let cluster = plane.admin().await;
    let _kubevirt = StandIn::start(cluster.client.clone(), Duration::from_millis(50))
        .await
        .expect("the KubeVirt stand-in");
    every_lifecycle_action(&cluster).await;
}

/// Create, then every action, each answered as KubeVirt answers, then delete.
async fn every_lifecycle_action(cluster: &Cluster) {
    let cluster = cluster.clone();
    let vm = new_vm(
        "web-1",
        ImageSource::Preset(ImagePreset::Cirros),
        RunStrategy::Halted,
    );
    // The namespace does not exist yet: creating the VM creates it.
    let created = create(&cluster, &vm, &team_a(), "p")
        .await
        .expect("created");
    assert!(created.metadata.uid.is_some());
    match create(&cluster, &vm, &team_a(), "p").await {
        Err(AppError::Conflict { message }) => {
            assert!(message.contains("already exists"), "{message}")
        }
        other => panic!("a second create must conflict, got {other:?}"),
    }
    wait_for_status(&cluster, "web-1", "Stopped").await;
    let web = ours(&cluster, "web-1").await;
    assert_eq!(
        conflict_message(act(&cluster, &web, VmAction::Pause).await),
        "VM \"web-1\" is not running."
    );
    act(&cluster, &web, VmAction::Start).await.expect("start");
    wait_for_status(&cluster, "web-1", "Running").await;
    let start_again = act(&cluster, &web, VmAction::Start).await;
    assert_eq!(
        conflict_message(start_again),
        "VM \"web-1\" is already running."
    );
    act(&cluster, &web, VmAction::Pause).await.expect("pause");
    wait_for_status(&cluster, "web-1", "Paused").await;
    act(&cluster, &web, VmAction::Unpause)
        .await
        .expect("unpause");
    wait_for_status(&cluster, "web-1", "Running").await;
    act(&cluster, &web, VmAction::Restart)
        .await
        .expect("restart");
    wait_for_status(&cluster, "web-1", "Running").await;
    act(&cluster, &web, VmAction::Stop).await.expect("stop");
    wait_for_status(&cluster, "web-1", "Stopped").await;
    act(&cluster, &web, VmAction::Start).await.expect("start");
    wait_for_status(&cluster, "web-1", "Running").await;
    act(&cluster, &web, VmAction::ForceStop)
        .await
        .expect("force stop");
    wait_for_status(&cluster, "web-1", "Stopped").await;
    assert_eq!(
        from_cluster(&cluster, &target("nope"), "p").await.err(),
        Some(AppError::NotFound {
            what: "VM \"nope\"".to_owned()
        })
    );
    delete(&cluster, &web, DiskDisposal::Delete)
        .await
        .expect("delete");
    assert!(vms_api(&cluster)
        .get_opt("web-1")
        .await
        .expect("get")
        .is_none());
    // A VM the gate saw that is gone by the time of the delete.
    assert_eq!(
        delete(&cluster, &web, DiskDisposal::Keep).await,
        Err(AppError::NotFound {
            what: "VM \"web-1\"".to_owned()
        })
    );
}

/// `team-a/name` as the cluster would send it: Wukong's labels for project "p", one
/// DataVolume, and `uid`.
fn labelled_vm(name: &str, uid: &str) -> Value {
    json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": "team-a", "uid": uid,
            "labels": {"app.kubernetes.io/managed-by": "wukong", "wukong.io/project": "p"}},
        "spec": {"dataVolumeTemplates": [{"metadata": {"name": format!("{name}-root")}}]}})
}

fn claimed(name: &str) -> WukongVm {
    let vm: VirtualMachine = serde_json::from_value(labelled_vm(name, "vm-uid")).expect("VM");
    claim(&target(name), "p", Arc::new(vm)).expect("Wukong's VM")
}

/// An API server that answers every request with `status` and a `Status` body, after `delay`.
async fn mock_cluster(
    status: u16,
    reason: &'static str,
    delay: Duration,
) -> (Cluster, tokio::task::JoinHandle<()>) {
    let handler = move || async move {
        tokio::time::sleep(delay).await;
        let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": format!("mock {reason}"), "reason": reason, "code": status});
        (StatusCode::from_u16(status).expect("status"), Json(body))
    };
    let (url, task) = serve_on_loopback(Router::new().fallback(any(handler))).await;
    (
        cluster_at(&url).with_timeout(Duration::from_millis(300)),
        task,
    )
}

/// A refusal without the RBAC authorizer's words.
fn denied() -> AppError {
    AppError::ClusterDenied {
        permission: "do that".to_owned(),
    }
}

#[tokio::test]
async fn cluster_failures_become_messages_a_user_can_act_on() {
    let web = claimed("web-1");
    let cases = [
        (403, "Forbidden", Duration::ZERO, denied()),
        (401, "Unauthorized", Duration::ZERO, denied()),
        (
            503,
            "ServiceUnavailable",
            Duration::ZERO,
            AppError::ClusterUnavailable,
        ),
        (
            200,
            "Slow",
            Duration::from_secs(5),
            AppError::ClusterUnavailable,
        ),
    ];
    for (status, reason, delay, expected) in cases {
        let (cluster, task) = mock_cluster(status, reason, delay).await;
        assert_eq!(
            act(&cluster, &web, VmAction::Start).await,
            Err(expected),
            "{status}"
        );
        task.abort();
    }
    // API Priority and Fairness sheds load with a 429 in plain text and a Retry-After header
    // (kube-apiserver's staging/src/k8s.io/apiserver/pkg/server/filters/priority-and-fairness.go,
    // `tooManyRequests`). kube-rs retries such answers, waiting as long as they ask, within the
    // request's time: the action goes through once the API server takes it.
    let calls = Arc::new(Mutex::new(0u32));
    let counted = calls.clone();
    let shedding = move || {
        let counted = counted.clone();
        async move {
            let mut calls = counted.lock().expect("calls");
            *calls += 1;
            if *calls <= 2 {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    "Too many requests, please try again later.\n",
                )
            } else {
                (StatusCode::ACCEPTED, [("retry-after", "0")], "")
            }
        }
    };
    let (url, task) = serve_on_loopback(Router::new().fallback(any(shedding))).await;
    let patient = cluster_at(&url).with_timeout(Duration::from_secs(10));
    assert_eq!(act(&patient, &web, VmAction::Start).await, Ok(()));
    assert_eq!(
        *calls.lock().expect("calls"),
        3,
        "two refusals, then the action"
    );
    task.abort();
    let (cluster, task) = mock_cluster(409, "Conflict", Duration::ZERO).await;
    let message = conflict_message(act(&cluster, &web, VmAction::Stop).await);
    assert_eq!(message, "VM \"web-1\": mock Conflict");
    task.abort();
    let closed = crate::support::unreachable_cluster();
    assert_eq!(
        act(&closed, &web, VmAction::Start).await,
        Err(AppError::ClusterUnavailable)
    );
}

type Calls = Arc<Mutex<Vec<(String, String, Value)>>>;

/// Records `(method, path, JSON body)` of a request into `calls`.
fn note(calls: &Calls, method: &axum::http::Method, uri: &axum::http::Uri, body: &[u8]) {
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    calls
        .lock()
        .expect("calls")
        .push((method.to_string(), uri.path().to_owned(), body));
}

/// REL-09: the DELETE carries the UID of the VM the gate checked as its precondition.
#[tokio::test]
async fn deleting_a_vm_can_keep_its_datavolumes() {
    // The simulated cluster has no CDI: a mock-free check that a VM without DataVolumes
    // deletes either way, then an HTTP mock that records what a keep sends.
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    let cluster = simulated(&sim);
    let url = ImageSource::Url("https://images.example.test/disk.qcow2".to_owned());
    let vm = new_vm("imported", url, RunStrategy::Halted);
    create(&cluster, &vm, &team_a(), "p")
        .await
        .expect("created");
    let imported = ours(&cluster, "imported").await;
    delete(&cluster, &imported, DiskDisposal::Keep)
        .await
        .expect("deleted, keeping disks");
    assert!(vms_api(&cluster)
        .get_opt("imported")
        .await
        .expect("get")
        .is_none());

    let recorded = Calls::default();
    let log = recorded.clone();
    let vm_json = labelled_vm("imported", "vm-uid");
    let dv_json = json!({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
        "metadata": {"name": "imported-root", "namespace": "team-a", "resourceVersion": "7",
            "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "name": "imported", "uid": "vm-uid"},
                                {"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": "other-uid"}]}});
    let app = Router::new().fallback(any(
        move |method: axum::http::Method, uri: axum::http::Uri, body: axum::body::Bytes| {
            note(&log, &method, &uri, &body);
            let (vm_json, dv_json) = (vm_json.clone(), dv_json.clone());
            async move {
                if uri.path().contains("datavolumes") {
                    Json(dv_json)
                } else {
                    Json(vm_json)
                }
            }
        },
    ));
    let (url, task) = serve_on_loopback(app).await;
    let mock = cluster_at(&url);
    let imported = ours(&mock, "imported").await;
    delete(&mock, &imported, DiskDisposal::Keep)
        .await
        .expect("deleted");
    task.abort();
    let calls = recorded.lock().expect("log").clone();
    let summary: Vec<(&str, &str)> = calls
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "GET",
                "/apis/kubevirt.io/v1/namespaces/team-a/virtualmachines/imported"
            ),
            (
                "GET",
                "/apis/cdi.kubevirt.io/v1beta1/namespaces/team-a/datavolumes/imported-root"
            ),
            (
                "PATCH",
                "/apis/cdi.kubevirt.io/v1beta1/namespaces/team-a/datavolumes/imported-root"
            ),
            (
                "DELETE",
                "/apis/kubevirt.io/v1/namespaces/team-a/virtualmachines/imported"
            ),
        ]
    );
    let patch = &calls[2].2;
    assert_eq!(patch["metadata"]["resourceVersion"], "7");
    let owners = patch["metadata"]["ownerReferences"]
        .as_array()
        .expect("owners");
    assert_eq!(owners.len(), 1, "only the VM lets go: {owners:?}");
    assert_eq!(owners[0]["uid"], "other-uid");
    let removal = &calls[3].2;
    assert_eq!(removal["preconditions"], json!({"uid": "vm-uid"}));
    assert_eq!(removal["propagationPolicy"], "Background");
}

/// REL-09: a VM deleted and re-created under the same name between the gate's GET and the
/// DELETE is not deleted. The mock API server re-creates the VM (a new UID) right after
/// answering the GET, and checks a delete's UID precondition as the Kubernetes API server
/// does (`Preconditions.Check` in `k8s.io/apiserver/pkg/storage/interfaces.go`, a 409
/// Conflict through `InterpretDeleteError`), with the same message.
#[tokio::test]
async fn a_delete_racing_a_re_create_leaves_the_new_vm_alone() {
    let current = Arc::new(Mutex::new(Some(labelled_vm("web-1", "old-uid"))));
    let stored = current.clone();
    let app = Router::new().fallback(any(
        move |method: axum::http::Method, body: axum::body::Bytes| {
            let stored = stored.clone();
            async move {
                let mut vm = stored.lock().expect("VM");
                let Some(held) = vm.clone() else {
                    let gone = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "NotFound", "code": 404, "message": "not found"});
                    return (StatusCode::NOT_FOUND, Json(gone));
                };
                let held_uid = held["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
                if method == axum::http::Method::GET {
                    *vm = Some(labelled_vm("web-1", "new-uid"));
                    return (StatusCode::OK, Json(held));
                }
                let options: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                match options["preconditions"]["uid"].as_str() {
                    Some(uid) if uid != held_uid => {
                        let message = format!(
                            "Operation cannot be fulfilled on virtualmachines.kubevirt.io \"web-1\": \
                             Precondition failed: UID in precondition: {uid}, UID in object meta: {held_uid}"
                        );
                        let conflict = json!({"kind": "Status", "apiVersion": "v1",
                            "status": "Failure", "reason": "Conflict", "code": 409,
                            "message": message});
                        (StatusCode::CONFLICT, Json(conflict))
                    }
                    _ => {
                        *vm = None;
                        (StatusCode::OK, Json(held))
                    }
                }
            }
        },
    ));
    let (url, task) = serve_on_loopback(app).await;
    let mock = cluster_at(&url);
    let checked = ours(&mock, "web-1").await;
    assert_eq!(checked.uid(), Some("old-uid"));
    let message = conflict_message(delete(&mock, &checked, DiskDisposal::Delete).await);
    task.abort();
    assert_eq!(
        message,
        "VM \"web-1\" was replaced by a new VM of the same name while it was being deleted. \
         Nothing was deleted; reload the page to see the new VM."
    );
    let left = current
        .lock()
        .expect("VM")
        .clone()
        .expect("the new VM is still there");
    assert_eq!(left["metadata"]["uid"], "new-uid");
}

/// VAL-03: only DNS-1123 labels are namespace and VM names, whether parsed from a request,
/// from the create form or deserialised; each hostile form is refused.
#[test]
fn names_that_could_leave_their_path_segment_are_refused() {
    let long = "a".repeat(64);
    let hostile = [
        "",
        "../x",
        "a/b",
        "UPPER",
        "%2e%2e",
        "..",
        ".",
        "-a",
        "a-",
        "a.b",
        "a b",
        "a\nb",
        "a:b",
        "a?b",
        "a#b",
        "é",
        long.as_str(),
    ];
    for bad in hostile {
        assert!(VmName::parse(bad).is_err(), "{bad:?}");
        assert!(Namespace::parse(bad).is_err(), "{bad:?}");
        assert!(
            serde_json::from_value::<VmName>(json!(bad)).is_err(),
            "{bad:?}"
        );
        for (namespace, name) in [("team-a", bad), (bad, "web-1")] {
            assert_eq!(
                VmRef::from_request(namespace, name),
                Err(AppError::NotFound {
                    what: "That virtual machine".to_owned()
                }),
                "{bad:?} must look like any VM the caller may not see"
            );
        }
        let form = NewVmForm {
            name: bad.to_owned(),
            ..NewVmForm::default()
        };
        let errors = form.parse().expect_err("refused");
        assert!(
            errors.iter().any(|error| error.field == "name"),
            "{bad:?}: {errors:?}"
        );
    }
    for good in ["a", "web-1", "0", "a".repeat(63).as_str()] {
        assert_eq!(VmName::parse(good).map(String::from).as_deref(), Ok(good));
        let namespace: Namespace = serde_json::from_value(json!(good)).expect("a label");
        assert_eq!(namespace.as_str(), good);
    }
    // A DataVolume name is a subdomain: "{63-character VM name}-root" is one.
    assert!(DataVolumeName::parse(&format!("{long}-root")).is_ok());
    for bad in ["a..b", ".a", "a.", "a/b", "../a", ""] {
        assert!(DataVolumeName::parse(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn the_status_subresource_writes_status_only() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    let cluster = simulated(&sim);
    let vm = new_vm(
        "web-1",
        ImageSource::Preset(ImagePreset::Cirros),
        RunStrategy::Halted,
    );
    create(&cluster, &vm, &team_a(), "p")
        .await
        .expect("created");
    wait_for_status(&cluster, "web-1", "Stopped").await;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kubevirt.io", "v1", "VirtualMachine"),
        "virtualmachines",
    );
    let vms: Api<DynamicObject> = Api::namespaced_with(cluster.client.clone(), "team-a", &resource);
    let before = vms.get("web-1").await.expect("get");
    let patch =
        json!({"spec": {"runStrategy": "Always"}, "status": {"printableStatus": "Provisioning"}});
    let after = vms
        .patch_status(
            "web-1",
            &Default::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .expect("status patch");
    assert_eq!(after.data["status"]["printableStatus"], "Provisioning");
    assert_eq!(
        after.data["spec"]["runStrategy"], "Halted",
        "the spec is not written through /status"
    );
    assert_eq!(after.metadata.generation, before.metadata.generation);
    assert_ne!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    // And the main resource ignores status.
    let spec_patch =
        json!({"status": {"printableStatus": "Running"}, "metadata": {"labels": {"x": "y"}}});
    let main = vms
        .patch(
            "web-1",
            &Default::default(),
            &kube::api::Patch::Merge(&spec_patch),
        )
        .await
        .expect("patch");
    assert_eq!(main.labels().get("x").map(String::as_str), Some("y"));
    assert_ne!(
        main.data["status"]["printableStatus"], "Running",
        "status is not written through the main resource"
    );
    // A stale resourceVersion is a conflict.
    let stale = json!({"metadata": {"resourceVersion": before.metadata.resource_version}, "status": {"ready": true}});
    let refused = vms
        .patch_status(
            "web-1",
            &Default::default(),
            &kube::api::Patch::Merge(&stale),
        )
        .await
        .expect_err("stale");
    assert!(matches!(refused, kube::Error::Api(status) if status.code == 409));
}
