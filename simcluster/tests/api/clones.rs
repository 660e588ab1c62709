//! The simulated KubeVirt's clones (`pkg/virt-controller/watch/clone/clone.go`): a new VM
//! from a VM or from a snapshot, phase by phase, and a clone whose source is missing.

use crate::{
    cluster::lifecycle::{create_vm, sim, wait_for},
    kubevirt::{events_where, reasons},
    restores::{create_until, ready_snapshot, restores},
    snapshots::{condition, gone, phase, snapshots, with_data_volume},
};
use kube::{
    api::{Api, ApiResource, DynamicObject, GroupVersionKind},
    Client,
};
use serde_json::{json, Value};

pub(crate) fn clones(client: &Client) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("clone.kubevirt.io", "v1beta1", "VirtualMachineClone"),
        "virtualmachineclones",
    );
    Api::namespaced_with(client.clone(), "team-a", &resource)
}

/// A clone of the VM or snapshot `source` to the VM `target`, as Wukong asks for one.
pub(crate) fn clone(name: &str, (group, kind, source): (&str, &str, &str), target: &str) -> Value {
    json!({
        "apiVersion": "clone.kubevirt.io/v1beta1", "kind": "VirtualMachineClone",
        "metadata": {"name": name},
        "spec": {"source": {"apiGroup": group, "kind": kind, "name": source},
            "target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": target}},
    })
}

/// The phases `versions` went through, each once, in order.
fn phases(versions: &[Value]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for version in versions {
        let phase = phase(version);
        if !phase.is_empty() && seen.last() != Some(&phase) {
            seen.push(phase);
        }
    }
    seen
}

/// A clone of a VM snapshots it, restores the snapshot to the new VM (stopped, with the
/// source's labels and a disk of its own), succeeds, and cleans up its snapshot and restore.
#[tokio::test]
async fn a_clone_of_a_vm_makes_a_new_stopped_vm_phase_by_phase() {
    let (_sim, client, vms) = sim().await;
    create_vm(&vms, &with_data_volume("golden", "Always")).await;
    wait_for(&vms, "golden", "Running").await;
    let body = clone(
        "copy",
        ("kubevirt.io", "VirtualMachine", "golden"),
        "golden-2",
    );
    let seen = create_until(&clones(&client), body, |c| phase(c) == "Succeeded").await;
    assert_eq!(
        phases(&seen),
        ["SnapshotInProgress", "RestoreInProgress", "Succeeded"]
    );
    let uid = seen[0]["metadata"]["uid"].as_str().expect("uid");
    let snapshot_name = format!("tmp-snapshot-{uid}");
    let restore_name = format!("tmp-restore-{uid}");
    let restoring = seen
        .iter()
        .find(|c| phase(c) == "RestoreInProgress")
        .expect("restoring");
    assert_eq!(restoring["status"]["snapshotName"], snapshot_name);
    assert_eq!(restoring["status"]["restoreName"], restore_name);
    assert_eq!(
        condition(restoring, "Progressing")["reason"],
        "Still processing"
    );
    let done = seen.last().expect("Succeeded");
    assert_eq!(done["status"]["targetName"], "golden-2");
    assert_eq!(condition(done, "Ready")["status"], "True");
    assert_eq!(condition(done, "Ready")["reason"], "Ready");

    let target = vms.get("golden-2").await.expect("the new VM");
    assert_eq!(target.data["spec"]["runStrategy"], "Halted");
    assert_eq!(
        target.metadata.labels.as_ref().expect("labels")["app"],
        "web"
    );
    let disk = &target.data["spec"]["template"]["spec"]["volumes"][0]["dataVolume"]["name"];
    let disk = disk.as_str().expect("a DataVolume");
    assert!(disk.starts_with("restore-"), "{disk}");
    // The new VM's disk is its own, gone with it.
    let data_volumes: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "team-a",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("cdi.kubevirt.io", "v1beta1", "DataVolume"),
            "datavolumes",
        ),
    );
    let volume = data_volumes.get(disk).await.expect("the new disk");
    let owners = volume.metadata.owner_references.expect("owners");
    assert_eq!(owners[0].name, "golden-2");
    assert_eq!(owners[0].uid, target.metadata.uid.clone().expect("uid"));
    wait_for(&vms, "golden-2", "Stopped").await;

    // The snapshot and restore it made go once it succeeded.
    gone(&snapshots(&client), &snapshot_name).await;
    gone(&restores(&client), &restore_name).await;
    let clone = clones(&client).get("copy").await.expect("clone");
    assert!(clone.data["status"].get("snapshotName").is_none());
    assert!(clone.data["status"].get("restoreName").is_none());
    let recorded = events_where(
        &client,
        "involvedObject.kind=VirtualMachineClone,involvedObject.name=copy",
    )
    .await;
    let recorded = reasons(&recorded);
    for reason in [
        "SnapshotCreated",
        "SnapshotReady",
        "RestoreCreated",
        "RestoreReady",
        "TargetVMCreated",
        "PVCBound",
    ] {
        assert!(recorded.contains(&reason), "{reason} in {recorded:?}");
    }
}

/// A clone of a snapshot restores it to the new VM and leaves the snapshot in place.
#[tokio::test]
async fn a_clone_of_a_snapshot_makes_a_new_vm_and_keeps_the_snapshot() {
    let (_sim, client, vms) = sim().await;
    create_vm(&vms, &with_data_volume("golden", "Halted")).await;
    wait_for(&vms, "golden", "Stopped").await;
    ready_snapshot(&client, "gold", "golden").await;
    let body = clone(
        "from-gold",
        ("snapshot.kubevirt.io", "VirtualMachineSnapshot", "gold"),
        "golden-3",
    );
    let seen = create_until(&clones(&client), body, |c| phase(c) == "Succeeded").await;
    assert_eq!(phases(&seen), ["RestoreInProgress", "Succeeded"]);
    let target = vms.get("golden-3").await.expect("the new VM");
    assert_eq!(target.data["spec"]["runStrategy"], "Halted");
    assert!(snapshots(&client)
        .get_opt("gold")
        .await
        .expect("get")
        .is_some());
}

/// `retrieveCloneInfo`: without its source a clone stays pending, without a phase.
#[tokio::test]
async fn a_clone_of_a_missing_vm_waits_for_it() {
    let (_sim, client, _vms) = sim().await;
    let body = clone(
        "orphan",
        ("kubevirt.io", "VirtualMachine", "nowhere"),
        "copy",
    );
    let seen = create_until(&clones(&client), body, |c| {
        condition(c, "Ready")["reason"] == "Source doesnt exist: VirtualMachine team-a/nowhere"
    })
    .await;
    let pending = seen.last().expect("pending");
    assert_eq!(phase(pending), "");
    assert_eq!(condition(pending, "Progressing")["reason"], "Pending");
    assert_eq!(condition(pending, "Progressing")["status"], "False");
    let recorded = events_where(
        &client,
        "involvedObject.kind=VirtualMachineClone,involvedObject.name=orphan",
    )
    .await;
    assert_eq!(reasons(&recorded), ["SourceDoesNotExist"]);
}

/// Every object of the new kinds, as the controllers left it after a snapshot, a restore and
/// a clone, passes its CRD schema (`simcluster::schema::validate`, against the schemas from
/// KubeVirt's CRDs), with the fields the controllers write all kept.
#[tokio::test]
async fn what_the_controllers_write_passes_the_crd_schemas() {
    let (_sim, client, vms) = sim().await;
    create_vm(&vms, &with_data_volume("golden", "Halted")).await;
    wait_for(&vms, "golden", "Stopped").await;
    ready_snapshot(&client, "gold", "golden").await;
    let restore = json!({
        "apiVersion": "snapshot.kubevirt.io/v1beta1", "kind": "VirtualMachineRestore",
        "metadata": {"name": "back"},
        "spec": {"target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "golden"},
            "virtualMachineSnapshotName": "gold"},
    });
    create_until(&restores(&client), restore, |r| {
        r["status"]["complete"] == true
    })
    .await;
    let body = clone(
        "copy",
        ("kubevirt.io", "VirtualMachine", "golden"),
        "golden-2",
    );
    create_until(&clones(&client), body, |c| phase(c) == "Succeeded").await;

    let schemas = simcluster::resources().expect("schemas");
    let schema = |kind: &str| {
        schemas
            .iter()
            .find(|resource| resource.kind == kind)
            .and_then(|resource| resource.schema.clone())
            .expect("a schema")
    };
    let all = |api: Api<DynamicObject>| async move {
        let list = api.list(&Default::default()).await.expect("list");
        list.items
            .into_iter()
            .map(|object| serde_json::to_value(object).expect("JSON"))
            .collect::<Vec<Value>>()
    };
    let kinds = [
        ("VirtualMachineSnapshot", all(snapshots(&client)).await),
        (
            "VirtualMachineSnapshotContent",
            all(crate::snapshots::contents(&client)).await,
        ),
        ("VirtualMachineRestore", all(restores(&client)).await),
        ("VirtualMachineClone", all(clones(&client)).await),
        ("VirtualMachine", all(vms.clone()).await),
    ];
    for (kind, objects) in &kinds {
        assert!(!objects.is_empty(), "no {kind}");
        let schema = schema(kind);
        for object in objects {
            let errors = simcluster::schema::validate(&schema, object);
            assert!(errors.is_empty(), "{kind}: {errors:?}");
            let mut pruned = object.clone();
            assert_eq!(
                simcluster::schema::prune(&schema, &mut pruned),
                Vec::<String>::new()
            );
        }
    }
    let content = &kinds[1].1[0];
    let claim = &content["spec"]["volumeBackups"][0]["persistentVolumeClaim"];
    assert!(claim["spec"]["volumeName"].is_string(), "{claim}");
    assert_eq!(
        content["status"]["volumeSnapshotStatus"][0]["readyToUse"],
        true
    );
    let restore = &kinds[2].1[0];
    assert!(restore["status"]["restores"][0]["dataVolumeName"].is_string());
    let clone = &kinds[3].1[0];
    assert_eq!(clone["status"]["targetName"], "golden-2");
}

/// A deleted namespace goes with its snapshots, contents and restores, whose controllers take
/// out their finalizers as KubeVirt's do (`handleVMRestoreDeletion`, `updateVMSnapshot`).
#[tokio::test]
async fn a_namespace_goes_with_its_snapshots_and_restores() {
    let (_sim, client, vms) = sim().await;
    create_vm(&vms, &with_data_volume("golden", "Halted")).await;
    wait_for(&vms, "golden", "Stopped").await;
    ready_snapshot(&client, "gold", "golden").await;
    let back = crate::restores::restore("back", "golden", "gold");
    create_until(&restores(&client), back, |r| {
        r["status"]["complete"] == true
    })
    .await;
    create_until(
        &snapshots(&client),
        crate::snapshots::snapshot("waiting", "nowhere"),
        |s| phase(s) == "InProgress",
    )
    .await;
    let namespaces = crate::cluster::namespaces(&client);
    namespaces
        .delete("team-a", &Default::default())
        .await
        .expect("delete the namespace");
    gone(&namespaces, "team-a").await;
}
