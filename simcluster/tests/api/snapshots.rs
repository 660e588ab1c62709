//! The simulated KubeVirt's snapshots (`pkg/storage/snapshot/snapshot.go`): phases,
//! indications, the content with its volume backups, the lock on the source VM, a missing
//! source, deletion, and the watches that report them.

use crate::{
    cluster::{
        lifecycle::{create_vm, instances, sim, wait_for},
        vm,
    },
    kubevirt::{create, events_where, exists, reasons, until, watch_one},
};
use kube::{
    api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind},
    Client,
};
use serde_json::{json, Value};
use std::time::Duration;

fn api(client: &Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1beta1", kind), plural);
    Api::namespaced_with(client.clone(), "team-a", &resource)
}

pub(crate) fn snapshots(client: &Client) -> Api<DynamicObject> {
    let plural = "virtualmachinesnapshots";
    api(
        client,
        "snapshot.kubevirt.io",
        "VirtualMachineSnapshot",
        plural,
    )
}

pub(crate) fn contents(client: &Client) -> Api<DynamicObject> {
    let plural = "virtualmachinesnapshotcontents";
    api(
        client,
        "snapshot.kubevirt.io",
        "VirtualMachineSnapshotContent",
        plural,
    )
}

/// A snapshot of the VM `source`, as Wukong asks for one.
pub(crate) fn snapshot(name: &str, source: &str) -> Value {
    json!({
        "apiVersion": "snapshot.kubevirt.io/v1beta1", "kind": "VirtualMachineSnapshot",
        "metadata": {"name": name, "annotations": {"wukong.io/description": "before the upgrade"}},
        "spec": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": source}},
    })
}

/// A VM booting Fedora (which runs a guest agent) from an imported DataVolume of 5Gi, with
/// cloud-init user data, run as `strategy` says.
pub(crate) fn with_data_volume(name: &str, strategy: &str) -> DynamicObject {
    let mut vm = vm(name, json!({"app": "web"}));
    vm.data["spec"]["runStrategy"] = json!(strategy);
    vm.data["spec"]["dataVolumeTemplates"] = json!([{
        "metadata": {"name": format!("{name}-root")},
        "spec": {"source": {"http": {"url": "https://images.example.com/fedora-42.qcow2"}},
            "storage": {"accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "5Gi"}}}},
    }]);
    let template = &mut vm.data["spec"]["template"]["spec"];
    template["volumes"] = json!([
        {"name": "rootdisk", "dataVolume": {"name": format!("{name}-root")}},
        {"name": "cloudinit", "cloudInitNoCloud": {"userData": "#cloud-config\n"}},
    ]);
    template["domain"]["devices"]["disks"] = json!([
        {"name": "rootdisk", "disk": {"bus": "virtio"}},
        {"name": "cloudinit", "disk": {"bus": "virtio"}},
    ]);
    vm
}

pub(crate) fn phase(object: &Value) -> &str {
    object["status"]["phase"].as_str().unwrap_or_default()
}

pub(crate) fn condition<'a>(object: &'a Value, kind: &str) -> &'a Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

/// Waits until `name` is gone from `api`.
pub(crate) async fn gone(api: &Api<DynamicObject>, name: &str) {
    for _ in 0..500 {
        if !exists(api, name).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} is still there");
}

/// Runs `vm` until its guest agent connected.
pub(crate) async fn running_with_agent(
    client: &Client,
    vms: &Api<DynamicObject>,
    vm: &DynamicObject,
) -> Value {
    let name = vm.metadata.name.clone().expect("a name");
    let mut instance = watch_one(&instances(client), &name).await;
    create_vm(vms, vm).await;
    until(&mut instance, |vmi| {
        condition(vmi, "AgentConnected")["status"] == "True"
    })
    .await;
    serde_json::to_value(vms.get(&name).await.expect("VM")).expect("JSON")
}

/// `updateSnapshotStatus`, `createContent` and `Lock` (snapshot.go, source.go): a snapshot
/// of a running VM is InProgress, locks the VM while its content is taken, and then is
/// Succeeded and ready to use, online and with the guest agent; its content holds the VM
/// and a backup of the DataVolume with its PVC's size, and the cloud-init volume is excluded.
/// Deleting it deletes its content.
#[tokio::test]
async fn a_snapshot_of_a_running_vm_succeeds_online_with_its_data_volume_backed_up() {
    let (_sim, client, vms) = sim().await;
    let vm = running_with_agent(&client, &vms, &with_data_volume("web", "Always")).await;
    let mut vm_versions = watch_one(&vms, "web").await;
    let mut versions = watch_one(&snapshots(&client), "before-upgrade").await;
    create(&snapshots(&client), snapshot("before-upgrade", "web")).await;
    let seen = until(&mut versions, |snapshot| phase(snapshot) == "Succeeded").await;

    // Before its first status, the snapshot has no phase.
    let phases: Vec<&str> = seen.iter().map(phase).filter(|p| !p.is_empty()).collect();
    assert_eq!(phases.first(), Some(&"InProgress"), "{phases:?}");
    assert!(phases
        .iter()
        .all(|p| matches!(*p, "InProgress" | "Succeeded")));
    let locked = seen
        .iter()
        .find(|s| condition(s, "Progressing")["status"] == "True")
        .expect("a version with the source locked");
    assert_eq!(
        condition(locked, "Progressing")["reason"],
        "Source locked and operation in progress"
    );
    assert_eq!(
        locked["status"]["indications"],
        json!(["GuestAgent", "Online"])
    );
    assert_eq!(
        locked["status"]["sourceIndications"][1],
        json!({"indication": "Online", "message":
            "Snapshot taken while the VM was running. Consistency depends on guest-agent quiescing."})
    );
    let done = seen.last().expect("Succeeded");
    let status = &done["status"];
    assert_eq!(status["readyToUse"], true);
    assert_eq!(status["sourceUID"], vm["metadata"]["uid"]);
    assert!(status["creationTime"].is_string());
    assert_eq!(condition(done, "Ready")["status"], "True");
    assert_eq!(
        condition(done, "Progressing")["reason"],
        "Operation complete"
    );
    assert_eq!(
        status["snapshotVolumes"],
        json!({"includedVolumes": ["rootdisk"], "excludedVolumes": ["cloudinit"]})
    );

    let uid = done["metadata"]["uid"].as_str().expect("uid");
    let content_name = format!("vmsnapshot-content-{uid}");
    assert_eq!(status["virtualMachineSnapshotContentName"], content_name);
    let content = contents(&client).get(&content_name).await.expect("content");
    let content = serde_json::to_value(content).expect("JSON");
    assert_eq!(content["status"]["readyToUse"], true);
    assert_eq!(
        content["spec"]["virtualMachineSnapshotName"],
        "before-upgrade"
    );
    let copy = &content["spec"]["source"]["virtualMachine"];
    assert_eq!(copy["metadata"]["name"], "web");
    assert_eq!(copy["spec"]["template"], vm["spec"]["template"]);
    let backups = content["spec"]["volumeBackups"]
        .as_array()
        .expect("backups");
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(backups[0]["volumeName"], "rootdisk");
    assert_eq!(
        backups[0]["volumeSnapshotName"],
        format!("vmsnapshot-{uid}-volume-rootdisk")
    );
    let claim = &backups[0]["persistentVolumeClaim"];
    assert_eq!(claim["metadata"]["name"], "web-root");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "5Gi");
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteOnce"]));

    // The VM was locked for the snapshot (named in its status, and held by a finalizer),
    // and is unlocked after it.
    let source_finalizer = |vm: &Value| {
        vm["metadata"]["finalizers"]
            .to_string()
            .contains("snapshot.kubevirt.io/snapshot-source-protection")
    };
    until(&mut vm_versions, |vm| {
        vm["status"]["snapshotInProgress"] == "before-upgrade" && source_finalizer(vm)
    })
    .await;
    until(&mut vm_versions, |vm| {
        vm["status"].get("snapshotInProgress").is_none() && !source_finalizer(vm)
    })
    .await;

    let recorded = events_where(
        &client,
        "involvedObject.kind=VirtualMachineSnapshot,involvedObject.name=before-upgrade",
    )
    .await;
    assert_eq!(
        reasons(&recorded),
        ["SuccessfulVirtualMachineSnapshotContentCreate"]
    );
    assert_eq!(
        recorded[0]["message"],
        format!("Successfully created VirtualMachineSnapshotContent {content_name}")
    );

    snapshots(&client)
        .delete("before-upgrade", &DeleteParams::default())
        .await
        .expect("delete");
    gone(&snapshots(&client), "before-upgrade").await;
    gone(&contents(&client), &content_name).await;
}

/// A stopped VM's snapshot has no indications (`updateSnapshotSourceIndications`).
#[tokio::test]
async fn a_snapshot_of_a_stopped_vm_is_offline() {
    let (_sim, client, vms) = sim().await;
    create_vm(&vms, &with_data_volume("idle", "Halted")).await;
    wait_for(&vms, "idle", "Stopped").await;
    let mut versions = watch_one(&snapshots(&client), "offline").await;
    create(&snapshots(&client), snapshot("offline", "idle")).await;
    let seen = until(&mut versions, |snapshot| phase(snapshot) == "Succeeded").await;
    for version in &seen {
        assert!(version["status"].get("indications").is_none(), "{version}");
        assert!(version["status"].get("sourceIndications").is_none());
    }
    let done = seen.last().expect("Succeeded");
    assert_eq!(done["status"]["readyToUse"], true);
    let content_name = done["status"]["virtualMachineSnapshotContentName"]
        .as_str()
        .expect("content");
    let content = contents(&client).get(content_name).await.expect("content");
    assert_eq!(
        content.data["spec"]["volumeBackups"][0]["persistentVolumeClaim"]["spec"]["resources"],
        json!({"requests": {"storage": "5Gi"}})
    );
}

/// Without its source a snapshot waits, "Source does not exist", until its failure deadline
/// passes (`vmSnapshotDeadlineExceeded`), then Failed.
#[tokio::test]
async fn a_snapshot_of_a_missing_vm_fails_at_its_deadline() {
    let (_sim, client, _vms) = sim().await;
    let mut versions = watch_one(&snapshots(&client), "orphan").await;
    create(&snapshots(&client), snapshot("orphan", "nowhere")).await;
    let seen = until(&mut versions, |snapshot| phase(snapshot) == "Failed").await;
    let waiting = seen
        .iter()
        .find(|snapshot| !phase(snapshot).is_empty())
        .expect("a phase");
    assert_eq!(phase(waiting), "InProgress");
    assert_eq!(
        condition(waiting, "Progressing")["reason"],
        "Source does not exist"
    );
    assert_eq!(waiting["status"]["readyToUse"], false);
    let failed = seen.last().expect("Failed");
    assert_eq!(condition(failed, "Failure")["status"], "True");
    assert_eq!(
        condition(failed, "Failure")["reason"],
        "snapshot deadline exceeded"
    );
    assert_eq!(
        condition(failed, "Progressing")["reason"],
        "Operation failed"
    );
    assert_eq!(condition(failed, "Ready")["reason"], "Not ready");
    assert!(failed["status"].get("sourceUID").is_none());
    // Deleting a failed snapshot lets it go.
    snapshots(&client)
        .delete("orphan", &DeleteParams::default())
        .await
        .expect("delete");
    gone(&snapshots(&client), "orphan").await;
}

/// Snapshots, their contents, restores and clones are watched as the VM kinds are: changes
/// from a resourceVersion, and bookmarks.
#[tokio::test]
async fn watches_of_the_snapshot_kinds_deliver_changes_and_bookmarks() {
    use futures_util::StreamExt as _;
    use kube::api::{WatchEvent, WatchParams};
    let options = simcluster::SimOptions {
        transition_delay: Duration::from_millis(50),
        bookmark_every: Duration::from_millis(100),
        ..simcluster::SimOptions::default()
    };
    let (_sim, client) = crate::cluster::started(options).await;
    let apis = [
        snapshots(&client),
        contents(&client),
        crate::restores::restores(&client),
        crate::clones::clones(&client),
    ];
    let mut watches = Vec::new();
    for api in &apis {
        let version = api
            .list(&Default::default())
            .await
            .expect("list")
            .metadata
            .resource_version
            .expect("a resourceVersion");
        // kube-rs asks for bookmarks by default.
        let params = WatchParams::default();
        watches.push(api.watch(&params, &version).await.expect("watch").boxed());
    }
    let vms = Api::namespaced_with(client.clone(), "team-a", &crate::cluster::vm_resource());
    create_vm(&vms, &crate::cluster::vm("plain", json!({}))).await;
    create(&snapshots(&client), snapshot("plain-1", "plain")).await;
    let restore = crate::restores::restore("plain-back", "plain", "plain-1");
    create(&crate::restores::restores(&client), restore).await;
    let source = ("kubevirt.io", "VirtualMachine", "plain");
    let clone = crate::clones::clone("plain-copy", source, "plain-2");
    create(&crate::clones::clones(&client), clone).await;
    let names = ["plain-1", "vmsnapshot-content-", "plain-back", "plain-copy"];
    for (watch, name) in watches.iter_mut().zip(names) {
        let mut added = false;
        let mut bookmark = false;
        while !(added && bookmark) {
            let event = tokio::time::timeout(Duration::from_secs(20), watch.next())
                .await
                .expect("an event within 20 s")
                .expect("the watch goes on")
                .expect("an event");
            match event {
                WatchEvent::Added(object) | WatchEvent::Modified(object) => {
                    let named = object.metadata.name.unwrap_or_default();
                    added |= named.starts_with(name);
                }
                WatchEvent::Bookmark(mark) => {
                    bookmark |= !mark.metadata.resource_version.is_empty()
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

/// `Lock` (source.go) waits for the VM's volumes: a snapshot of a VM whose disk cannot be
/// imported stays InProgress, the source unlocked, and says which volume it waits for.
#[tokio::test]
async fn a_snapshot_waits_for_the_vms_volumes_and_says_so() {
    let (_sim, client, vms) = sim().await;
    let mut broken = with_data_volume("broken", "Halted");
    broken.data["spec"]["dataVolumeTemplates"][0]["spec"]["source"]["http"]["url"] =
        json!("https://images.invalid/fedora.qcow2");
    create_vm(&vms, &broken).await;
    let mut versions = watch_one(&snapshots(&client), "early").await;
    create(&snapshots(&client), snapshot("early", "broken")).await;
    let seen = until(&mut versions, |snapshot| {
        condition(snapshot, "Progressing")["reason"]
            == "Source not locked source team-a/broken volume not populated: broken-root"
    })
    .await;
    let waiting = seen.last().expect("waiting");
    assert_eq!(phase(waiting), "InProgress");
    assert_eq!(condition(waiting, "Progressing")["status"], "False");
    let vm = vms.get("broken").await.expect("VM");
    assert!(vm.data["status"].get("snapshotInProgress").is_none());
}
