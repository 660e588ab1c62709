//! The simulated KubeVirt and CDI standing in on the real control plane: DataVolumes it
//! creates and imports through the real API (with the real CRD's schema), Events the real
//! API server stores and selects, status the real schema accepts, and what the real garbage
//! collector does when a VM is deleted.

use super::{
    conformance::{act, create_json, settle},
    harness::ControlPlane,
};
use crate::support::api_resource;
use kube::{
    api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    Client,
};
use serde_json::{json, Value};
use server::simcluster::standin::StandIn;
use std::time::Duration;

pub(super) const NAMESPACE: &str = "team-a";

pub(super) fn api(
    client: &Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &api_resource(group, version, kind, plural),
    )
}

pub(super) fn vms(client: &Client) -> Api<DynamicObject> {
    api(
        client,
        "kubevirt.io",
        "v1",
        "VirtualMachine",
        "virtualmachines",
    )
}

fn instances(client: &Client) -> Api<DynamicObject> {
    api(
        client,
        "kubevirt.io",
        "v1",
        "VirtualMachineInstance",
        "virtualmachineinstances",
    )
}

fn data_volumes(client: &Client) -> Api<DynamicObject> {
    api(
        client,
        "cdi.kubevirt.io",
        "v1beta1",
        "DataVolume",
        "datavolumes",
    )
}

/// The real control plane with the stand-in (steps of 50 ms) and the namespace `team-a`.
pub(super) async fn started() -> (ControlPlane, Client, StandIn) {
    let plane = ControlPlane::start().await;
    let client = plane.admin().await.client;
    let kubevirt = StandIn::start(client.clone(), Duration::from_millis(50))
        .await
        .expect("the KubeVirt stand-in");
    plane.kubectl(&["create", "namespace", NAMESPACE]);
    (plane, client, kubevirt)
}

/// A VM as Wukong creates one, its root disk imported from `url` into `<name>-root`.
pub(super) fn importing(name: &str, url: &str, strategy: &str) -> DynamicObject {
    let disk = format!("{name}-root");
    serde_json::from_value(json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name},
        "spec": {
            "runStrategy": strategy,
            "dataVolumeTemplates": [{"metadata": {"name": disk},
                "spec": {"source": {"http": {"url": url}},
                    "storage": {"accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "5Gi"}}}}}],
            "template": {"spec": {
                "domain": {"memory": {"guest": "512Mi"},
                    "devices": {"disks": [{"name": "rootdisk", "bootOrder": 1,
                        "disk": {"bus": "virtio"}}],
                        "interfaces": [{"name": "default", "masquerade": {}}]}},
                "networks": [{"name": "default", "pod": {}}],
                "volumes": [{"name": "rootdisk", "dataVolume": {"name": disk}}]}},
        },
    }))
    .expect("VM")
}

/// `path` (a JSONPath) of each Event the real API server selects with `fields`, oldest
/// first, as kubectl lists them.
fn events_where(plane: &ControlPlane, fields: &str, path: &str) -> Vec<String> {
    let template = format!("jsonpath={{range .items[*]}}{{{path}}}{{\"\\n\"}}{{end}}");
    let listed = plane.kubectl(&[
        "get",
        "events",
        "-n",
        NAMESPACE,
        "--field-selector",
        fields,
        "--sort-by=.metadata.name",
        "-o",
        &template,
    ]);
    listed.lines().map(str::to_owned).collect()
}

pub(super) async fn create_vm(vms: &Api<DynamicObject>, vm: &DynamicObject) -> DynamicObject {
    vms.create(&PostParams::default(), vm)
        .await
        .expect("create the VM")
}

async fn exists(api: &Api<DynamicObject>, name: &str) -> bool {
    api.get_opt(name).await.expect("get").is_some()
}

pub(super) fn condition<'a>(object: &'a Value, kind: &str) -> &'a Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

pub(super) async fn get(api: &Api<DynamicObject>, name: &str) -> Value {
    serde_json::to_value(api.get(name).await.expect(name)).expect("JSON")
}

/// A DataVolume the VM controller creates through the real API passes the real CDI schema
/// and goes through CDI's phases to Succeeded (pkg/controller/datavolume/import-controller.go);
/// the VM then runs, and its Fedora guest's agent reports the OS (pkg/virt-handler/vm.go).
/// A source that answers 404 leaves the VM in DataVolumeError (pkg/storage/types/dv.go,
/// `HasDataVolumeErrors`). The Events of each are stored by the real API server and found
/// with its field selectors.
#[tokio::test]
async fn imports_run_their_phases_and_failures_show_on_the_real_api_server() {
    let (plane, client, _kubevirt) = started().await;
    let vms = vms(&client);
    let fedora = "https://images.example.test/fedora-42.qcow2";
    let missing = "https://images.example.test/missing-notfound.qcow2";
    create_vm(&vms, &importing("web", fedora, "Always")).await;
    create_vm(&vms, &importing("gone", missing, "Always")).await;
    settle(&vms, "web", "Running").await;
    settle(&vms, "gone", "DataVolumeError").await;

    let disk = get(&data_volumes(&client), "web-root").await;
    assert_eq!(disk["status"]["phase"], "Succeeded");
    assert_eq!(disk["status"]["progress"], "100.0%");
    assert_eq!(condition(&disk, "Ready")["status"], "True");
    assert_eq!(condition(&disk, "Running")["reason"], "Completed");
    let of_disk = "involvedObject.kind=DataVolume,involvedObject.name=web-root";
    assert_eq!(
        events_where(&plane, of_disk, ".reason"),
        [
            "Pending",
            "Bound",
            "ImportScheduled",
            "ImportInProgress",
            "ImportSucceeded"
        ]
    );
    let sources = events_where(&plane, of_disk, ".source.component");
    assert!(
        sources
            .iter()
            .all(|source| source == "datavolume-import-controller"),
        "{sources:?}"
    );

    let failed = get(&data_volumes(&client), "gone-root").await;
    assert_eq!(failed["status"]["phase"], "ImportInProgress");
    let running = condition(&failed, "Running");
    assert_eq!(
        (&running["status"], &running["reason"]),
        (&json!("False"), &json!("Error"))
    );
    assert_eq!(
        running["message"],
        "Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found"
    );
    let warnings = events_where(
        &plane,
        "involvedObject.name=gone-root,type=Warning",
        ".reason",
    );
    assert_eq!(warnings, ["Error"]);
    assert!(!exists(&instances(&client), "gone").await);

    // The instance as virt-handler reports it, once the guest agent is connected.
    let mut vmi = get(&instances(&client), "web").await;
    for _ in 0..600 {
        if condition(&vmi, "AgentConnected")["status"] == "True" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        vmi = get(&instances(&client), "web").await;
    }
    assert_eq!(vmi["status"]["guestOSInfo"]["id"], "fedora");
    let interface = &vmi["status"]["interfaces"][0];
    assert_eq!(interface["name"], "default");
    assert_eq!(interface["interfaceName"], "eth0");
    assert_eq!(interface["infoSource"], "domain, guest-agent");
    assert!(interface["ipAddress"]
        .as_str()
        .is_some_and(|ip| ip.starts_with("10.244.")));

    let vm_uid = get(&vms, "web").await["metadata"]["uid"].clone();
    let of_vm = format!("involvedObject.uid={}", vm_uid.as_str().unwrap_or_default());
    assert_eq!(
        events_where(&plane, &of_vm, ".reason"),
        ["SuccessfulDataVolumeCreate", "SuccessfulCreate"]
    );
    assert_eq!(
        events_where(&plane, &of_vm, ".source.component"),
        ["virtualmachine-controller", "virtualmachine-controller"]
    );
}

/// Deleting a VM on the real control plane: kube-controller-manager's garbage collector
/// deletes its DataVolume, its Secret and its instance, which the stand-in shuts down and
/// releases (the VMI controller's finalizer, pkg/virt-controller/watch/vmi/lifecycle.go).
/// Then the run strategies' reactions to the guest (pkg/virt-controller/watch/vm/vm.go,
/// `syncRunStrategy`): RerunOnFailure restarts a crash but not a shutdown; Manual starts
/// through `stateChangeRequests` only.
#[tokio::test]
async fn the_real_garbage_collector_and_the_run_strategies_work_with_the_stand_in() {
    let (_plane, client, _kubevirt) = started().await;
    let vms = vms(&client);
    let image = "https://images.example.test/debian-13.qcow2";
    let created = create_vm(&vms, &importing("db", image, "Always")).await;
    let secrets = api(&client, "", "v1", "Secret", "secrets");
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db-cloudinit", "ownerReferences": [{"apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine", "name": "db", "uid": created.metadata.uid}]},
        "stringData": {"userdata": "#cloud-config\n"}});
    create_json(&secrets, secret).await;
    settle(&vms, "db", "Running").await;
    vms.delete("db", &DeleteParams::background())
        .await
        .expect("delete");
    let dependents = [
        (instances(&client), "db"),
        (data_volumes(&client), "db-root"),
        (secrets, "db-cloudinit"),
    ];
    for (api, name) in &dependents {
        let mut collected = false;
        for _ in 0..600 {
            if !exists(api, name).await {
                collected = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(collected, "{name} is collected with its VM");
    }

    let container_disk = |name: &str, strategy: &str| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": name},
            "spec": {"runStrategy": strategy, "template": {"spec": {
                "domain": {"memory": {"guest": "128Mi"}, "devices": {}},
                "volumes": [{"name": "rootdisk",
                    "containerDisk": {"image": "quay.io/kubevirt/cirros-container-disk-demo"}}]}}},
        }))
        .expect("VM")
    };
    create_vm(&vms, &container_disk("rerun", "RerunOnFailure")).await;
    settle(&vms, "rerun", "Running").await;
    let report = |phase: &str| Patch::Merge(json!({"status": {"phase": phase}}));
    let first = get(&instances(&client), "rerun").await["metadata"]["uid"].clone();
    instances(&client)
        .patch("rerun", &PatchParams::default(), &report("Failed"))
        .await
        .expect("crash");
    let mut replaced = false;
    for _ in 0..600 {
        let vmi = instances(&client).get_opt("rerun").await.expect("get");
        let vmi = vmi.map(|vmi| serde_json::to_value(vmi).expect("JSON"));
        if vmi.is_some_and(|vmi| {
            vmi["metadata"]["uid"] != first && vmi["status"]["phase"] == "Running"
        }) {
            replaced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(replaced, "a crashed instance is replaced");
    instances(&client)
        .patch("rerun", &PatchParams::default(), &report("Succeeded"))
        .await
        .expect("guest shutdown");
    settle(&vms, "rerun", "Stopped").await;
    // Stopped already shows while the final instance is being removed (`created` is whether
    // one exists, vm.go): it goes, and nothing creates another.
    let mut stopped = get(&vms, "rerun").await;
    for _ in 0..100 {
        if stopped["status"]["created"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        stopped = get(&vms, "rerun").await;
    }
    assert_eq!(stopped["status"]["created"], false);
    assert_eq!(stopped["status"]["printableStatus"], "Stopped");
    assert_eq!(stopped["spec"]["runStrategy"], "RerunOnFailure");

    create_vm(&vms, &container_disk("manual", "Manual")).await;
    settle(&vms, "manual", "Stopped").await;
    assert_eq!(
        act(
            &client,
            NAMESPACE,
            "virtualmachines/manual/start",
            json!({})
        )
        .await
        .0,
        200
    );
    settle(&vms, "manual", "Running").await;
    let running = get(&vms, "manual").await;
    assert_eq!(running["spec"]["runStrategy"], "Manual");
    assert!(
        running["status"].get("stateChangeRequests").is_none(),
        "{running}"
    );
    assert_eq!(
        act(&client, NAMESPACE, "virtualmachines/manual/stop", json!({}))
            .await
            .0,
        200
    );
    settle(&vms, "manual", "Stopped").await;
    assert_eq!(get(&vms, "manual").await["spec"]["runStrategy"], "Manual");
}
