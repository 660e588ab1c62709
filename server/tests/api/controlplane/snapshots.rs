//! The simulated KubeVirt's snapshot, restore and clone controllers and their admission
//! webhooks standing in on the real control plane: the objects go through the real API
//! server, its CRD schemas and its webhook calls, as they would on a cluster with KubeVirt.

use super::{
    conformance::{act, settle},
    standin::{api, condition, create_vm, get, importing, started, vms, NAMESPACE},
};
use kube::{
    api::{Api, DynamicObject, PostParams},
    Client,
};
use serde_json::{json, Value};
use std::time::Duration;

fn snapshots(client: &Client) -> Api<DynamicObject> {
    api(
        client,
        "snapshot.kubevirt.io",
        "v1beta1",
        "VirtualMachineSnapshot",
        "virtualmachinesnapshots",
    )
}

fn contents(client: &Client) -> Api<DynamicObject> {
    api(
        client,
        "snapshot.kubevirt.io",
        "v1beta1",
        "VirtualMachineSnapshotContent",
        "virtualmachinesnapshotcontents",
    )
}

fn restores(client: &Client) -> Api<DynamicObject> {
    api(
        client,
        "snapshot.kubevirt.io",
        "v1beta1",
        "VirtualMachineRestore",
        "virtualmachinerestores",
    )
}

fn clones(client: &Client) -> Api<DynamicObject> {
    api(
        client,
        "clone.kubevirt.io",
        "v1beta1",
        "VirtualMachineClone",
        "virtualmachineclones",
    )
}

async fn post(api: &Api<DynamicObject>, object: Value) -> Result<DynamicObject, kube::Error> {
    let object: DynamicObject = serde_json::from_value(object).expect("object");
    api.create(&PostParams::default(), &object).await
}

/// Waits up to 60 s for `name` to satisfy `done`; answers it as JSON.
async fn until(api: &Api<DynamicObject>, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        if let Some(object) = api.get_opt(name).await.expect("get") {
            last = serde_json::to_value(object).expect("JSON");
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} did not get there within 60 s: {last}");
}

fn vm_reference(name: &str) -> Value {
    json!({"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": name})
}

/// A snapshot of a running VM with an imported disk, a restore of it once the VM is
/// stopped, and a clone of the snapshot, each through the real API server to completion;
/// a clone onto its own source is refused by the stand-in's webhook, which the real API
/// server calls (`pkg/virt-api/webhooks/validating-webhook/admitters/vmclone-admitter.go`).
#[tokio::test]
async fn snapshots_restores_and_clones_complete_through_the_real_api_server() {
    let (_plane, client, _kubevirt) = started().await;
    let vms = vms(&client);
    let image = "https://images.example.test/debian-13.qcow2";
    create_vm(&vms, &importing("db", image, "Always")).await;
    settle(&vms, "db", "Running").await;

    let snapshot = json!({"apiVersion": "snapshot.kubevirt.io/v1beta1",
        "kind": "VirtualMachineSnapshot", "metadata": {"name": "before-upgrade"},
        "spec": {"source": vm_reference("db")}});
    post(&snapshots(&client), snapshot)
        .await
        .expect("create the snapshot");
    let taken = until(&snapshots(&client), "before-upgrade", |s| {
        s["status"]["phase"] == "Succeeded"
    })
    .await;
    assert_eq!(taken["status"]["readyToUse"], true, "{taken}");
    let indications = taken["status"]["indications"].to_string();
    assert!(indications.contains("Online"), "{taken}");
    let content_name = taken["status"]["virtualMachineSnapshotContentName"]
        .as_str()
        .expect("content name");
    let content = get(&contents(&client), content_name).await;
    assert_eq!(
        content["spec"]["volumeBackups"][0]["persistentVolumeClaim"]["spec"]["resources"]
            ["requests"]["storage"],
        "5Gi",
        "{content}"
    );

    let onto_itself = json!({"apiVersion": "clone.kubevirt.io/v1beta1",
        "kind": "VirtualMachineClone", "metadata": {"name": "onto-itself"},
        "spec": {"source": vm_reference("db"), "target": vm_reference("db")}});
    match post(&clones(&client), onto_itself).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(status.message.contains("denied the request"), "{status:?}");
        }
        other => panic!("a clone onto its source was not refused: {other:?}"),
    }

    let (code, _, message) = act(&client, NAMESPACE, "virtualmachines/db/stop", json!({})).await;
    assert_eq!(code, 200, "{message}");
    settle(&vms, "db", "Stopped").await;
    let restore = json!({"apiVersion": "snapshot.kubevirt.io/v1beta1",
        "kind": "VirtualMachineRestore", "metadata": {"name": "roll-back"},
        "spec": {"target": vm_reference("db"), "virtualMachineSnapshotName": "before-upgrade"}});
    post(&restores(&client), restore)
        .await
        .expect("create the restore");
    let restored = until(&restores(&client), "roll-back", |r| {
        r["status"]["complete"] == true
    })
    .await;
    assert_eq!(
        condition(&restored, "Ready")["status"],
        "True",
        "{restored}"
    );
    let vm = get(&vms, "db").await;
    assert!(vm["status"].get("restoreInProgress").is_none(), "{vm}");

    let copy = json!({"apiVersion": "clone.kubevirt.io/v1beta1",
        "kind": "VirtualMachineClone", "metadata": {"name": "copy-db"},
        "spec": {"source": {"apiGroup": "snapshot.kubevirt.io",
                "kind": "VirtualMachineSnapshot", "name": "before-upgrade"},
            "target": vm_reference("db-copy")}});
    post(&clones(&client), copy)
        .await
        .expect("create the clone");
    until(&clones(&client), "copy-db", |c| {
        c["status"]["phase"] == "Succeeded"
    })
    .await;
    settle(&vms, "db-copy", "Stopped").await;
}
