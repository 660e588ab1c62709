//! The simulated KubeVirt's restores (`pkg/storage/snapshot/restore.go`): a stopped VM
//! rewritten from a snapshot, and what keeps a restore waiting or makes it fail.

use crate::{
    cluster::lifecycle::{create_vm, sim, wait_for},
    kubevirt::{create, events_where, reasons, until, watch_one},
    snapshots::{condition, running_with_agent, snapshot, snapshots, with_data_volume},
};
use kube::{
    api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams},
    Client,
};
use serde_json::{json, Value};

pub(crate) fn restores(client: &Client) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("snapshot.kubevirt.io", "v1beta1", "VirtualMachineRestore"),
        "virtualmachinerestores",
    );
    Api::namespaced_with(client.clone(), "team-a", &resource)
}

/// A restore of `snapshot` onto the VM `target`, as Wukong asks for one.
pub(crate) fn restore(name: &str, target: &str, snapshot: &str) -> Value {
    json!({
        "apiVersion": "snapshot.kubevirt.io/v1beta1", "kind": "VirtualMachineRestore",
        "metadata": {"name": name},
        "spec": {"target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": target},
            "virtualMachineSnapshotName": snapshot},
    })
}

/// A snapshot `name` of the VM `vm`, once ready.
pub(crate) async fn ready_snapshot(client: &Client, name: &str, vm: &str) -> Value {
    let seen = create_until(&snapshots(client), snapshot(name, vm), |s| {
        s["status"]["readyToUse"] == true
    })
    .await;
    seen.last().cloned().expect("ready")
}

/// Creates `object` with `api` and returns the versions of it up to the first for which
/// `done` holds.
pub(crate) async fn create_until(
    api: &Api<DynamicObject>,
    object: Value,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let name = object["metadata"]["name"]
        .as_str()
        .expect("a name")
        .to_owned();
    let mut versions = watch_one(api, &name).await;
    create(api, object).await;
    until(&mut versions, done).await
}

/// Deletes `name` with `api` and waits until it is gone.
pub(crate) async fn delete_until_gone(api: &Api<DynamicObject>, name: &str) {
    api.delete(name, &Default::default()).await.expect("delete");
    crate::snapshots::gone(api, name).await;
}

fn reason<'a>(object: &'a Value, kind: &str) -> &'a str {
    condition(object, kind)["reason"]
        .as_str()
        .unwrap_or_default()
}

/// `updateVMRestore`: the target is marked while the restore runs, its volumes restored to
/// new DataVolumes (pre-populated, so ready at once), its spec rewritten from the snapshot
/// with its own run strategy kept, the DataVolume it no longer uses deleted; then complete.
#[tokio::test]
async fn a_stopped_vm_is_restored_from_its_snapshot() {
    let (_sim, client, vms) = sim().await;
    create_vm(&vms, &with_data_volume("idle", "Halted")).await;
    wait_for(&vms, "idle", "Stopped").await;
    ready_snapshot(&client, "good", "idle").await;
    let bigger = json!({"spec": {"template": {"spec": {"domain": {"memory": {"guest": "1Gi"}}}}}});
    vms.patch("idle", &PatchParams::default(), &Patch::Merge(bigger))
        .await
        .expect("change the VM");

    let mut vm_versions = watch_one(&vms, "idle").await;
    let mut versions = watch_one(&restores(&client), "rollback").await;
    let created = create(&restores(&client), restore("rollback", "idle", "good")).await;
    let seen = until(&mut versions, |r| r["status"]["complete"] == true).await;
    let uid = created.metadata.uid.expect("uid");
    let reasons_seen: Vec<&str> = seen.iter().map(|r| reason(r, "Progressing")).collect();
    assert!(
        reasons_seen.contains(&"Initializing VirtualMachineRestore"),
        "{reasons_seen:?}"
    );
    assert!(
        reasons_seen.contains(&"Creating new PVCs"),
        "{reasons_seen:?}"
    );
    let done = seen.last().expect("complete");
    assert_eq!(condition(done, "Ready")["status"], "True");
    assert_eq!(reason(done, "Ready"), "Operation complete");
    assert_eq!(condition(done, "Progressing")["status"], "False");
    assert!(done["status"]["restoreTime"].is_string());
    let restored_name = format!("restore-{uid}-rootdisk");
    assert_eq!(
        done["status"]["restores"],
        json!([{"volumeName": "rootdisk", "persistentVolumeClaim": restored_name,
            "dataVolumeName": restored_name,
            "volumeSnapshotName": done["status"]["restores"][0]["volumeSnapshotName"]}])
    );
    assert_eq!(done["status"]["deletedDataVolumes"], json!(["idle-root"]));
    assert_eq!(done["metadata"]["ownerReferences"][0]["name"], "idle");

    // Marked while it ran, and no more.
    until(&mut vm_versions, |vm| {
        vm["status"]["restoreInProgress"] == "rollback"
    })
    .await;
    let after = until(&mut vm_versions, |vm| {
        vm["status"].get("restoreInProgress").is_none()
    })
    .await;
    let vm = after.last().expect("VM");
    assert_eq!(vm["spec"]["runStrategy"], "Halted");
    assert_eq!(
        vm["spec"]["template"]["spec"]["domain"]["memory"]["guest"],
        "128Mi"
    );
    assert_eq!(
        vm["spec"]["template"]["spec"]["volumes"][0]["dataVolume"]["name"],
        restored_name
    );
    assert_eq!(
        vm["spec"]["dataVolumeTemplates"][0]["metadata"]["name"],
        restored_name
    );
    assert_eq!(
        vm["metadata"]["annotations"]["restore.kubevirt.io/lastRestoreUID"],
        format!("rollback-{uid}")
    );
    let recorded = events_where(
        &client,
        "involvedObject.kind=VirtualMachineRestore,involvedObject.name=rollback",
    )
    .await;
    assert_eq!(reasons(&recorded), ["VirtualMachineRestoreComplete"]);
    assert_eq!(
        recorded[0]["message"],
        "Successfully completed VirtualMachineRestore rollback"
    );
    // The VM starts from its restored disk.
    crate::cluster::lifecycle::act_and_wait(
        &client,
        &vms,
        ("virtualmachines", "idle", "start"),
        "Running",
    )
    .await;
}

/// `getVMSnapshot`: a restore from a snapshot that is not ready waits, saying why, and
/// completes nothing.
#[tokio::test]
async fn a_restore_from_a_snapshot_not_ready_says_so_and_waits() {
    let (_sim, client, vms) = sim().await;
    create_vm(&vms, &with_data_volume("idle", "Halted")).await;
    // A snapshot of a VM that does not exist stays not ready.
    create(&snapshots(&client), snapshot("pending", "nowhere")).await;
    let early = restore("early", "idle", "pending");
    let seen = create_until(&restores(&client), early, |r| {
        reason(r, "Ready") == "VMSnapshot team-a/pending not ready"
    })
    .await;
    let waiting = seen.last().expect("waiting");
    assert_eq!(condition(waiting, "Progressing")["status"], "False");
    assert_eq!(waiting["status"]["complete"], false);
    let recorded = events_where(
        &client,
        "involvedObject.kind=VirtualMachineRestore,involvedObject.name=early",
    )
    .await;
    assert_eq!(reasons(&recorded)[0], "VirtualMachineRestoreError");
    assert_eq!(
        recorded[0]["message"],
        "VirtualMachineRestore encountered error VMSnapshot team-a/pending not ready"
    );

    // Another target: one restore of a target at a time.
    let missing = restore("missing", "elsewhere", "nothing");
    create_until(&restores(&client), missing, |r| {
        reason(r, "Ready") == "VMSnapshot team-a/nothing does not exist"
    })
    .await;
}

/// `handleVMRestoreTargetNotReady`: onto a running VM, a restore waits by default, fails at
/// once with FailImmediate, and with StopTarget stops the VM and goes on.
#[tokio::test]
async fn a_restore_onto_a_running_vm_waits_fails_or_stops_it_as_its_policy_says() {
    let (_sim, client, vms) = sim().await;
    running_with_agent(&client, &vms, &with_data_volume("web", "Always")).await;
    ready_snapshot(&client, "good", "web").await;

    let patient = restore("patient", "web", "good");
    let seen = create_until(&restores(&client), patient, |r| {
        reason(r, "Ready").starts_with("Waiting for target VM to be powered off")
    })
    .await;
    assert_eq!(
        reason(seen.last().expect("waiting"), "Progressing"),
        "Waiting for target VM to be powered off. Please stop the restore target to proceed \
         with restore, or the operation will fail after 5m0s"
    );
    let recorded = events_where(
        &client,
        "involvedObject.kind=VirtualMachineRestore,involvedObject.name=patient",
    )
    .await;
    assert_eq!(reasons(&recorded)[0], "RestoreTargetNotReady");
    assert_eq!(
        recorded[0]["message"],
        "Restore target VMI still exists, please stop the restore target to proceed with restore"
    );
    delete_until_gone(&restores(&client), "patient").await;

    let mut impatient = restore("impatient", "web", "good");
    impatient["spec"]["targetReadinessPolicy"] = json!("FailImmediate");
    let seen = create_until(&restores(&client), impatient, |r| {
        condition(r, "Failure")["status"] == "True"
    })
    .await;
    assert_eq!(
        reason(seen.last().expect("failed"), "Failure"),
        "Restore target VMI must be powered off before restore operation"
    );
    delete_until_gone(&restores(&client), "impatient").await;

    let mut stopping = restore("stopping", "web", "good");
    stopping["spec"]["targetReadinessPolicy"] = json!("StopTarget");
    let seen = create_until(&restores(&client), stopping, |r| {
        r["status"]["complete"] == true
    })
    .await;
    assert!(seen.iter().any(
        |r| reason(r, "Ready") == "Automatically stopping restore target for restore operation"
    ));
    let vm = wait_for(&vms, "web", "Stopped").await;
    assert_eq!(vm.data["spec"]["runStrategy"], "Halted");
}
