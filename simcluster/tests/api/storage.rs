//! Disks and what a VM owns: CDI's DataVolume imports as the VM controller creates and
//! waits for them, Secrets, and garbage collection of a deleted VM's dependents.

use crate::{
    cluster::{
        lifecycle::{create_vm, instances, sim, wait_for},
        vm,
    },
    kubevirt::{create, events_where, exists, reasons, until, watch_one},
};
use kube::{
    api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams},
    Client,
};
use serde_json::{json, Value};

fn data_volumes(client: &Client) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cdi.kubevirt.io", "v1beta1", "DataVolume"),
        "datavolumes",
    );
    Api::namespaced_with(client.clone(), "team-a", &resource)
}

fn secrets(client: &Client) -> Api<DynamicObject> {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Secret"), "secrets");
    Api::namespaced_with(client.clone(), "team-a", &resource)
}

/// A VM whose root disk is imported from `url` into the DataVolume `<name>-root`, as Wukong
/// creates one.
fn importing(name: &str, url: &str) -> DynamicObject {
    let mut vm = vm(name, json!({}));
    vm.data["spec"]["runStrategy"] = json!("Always");
    vm.data["spec"]["dataVolumeTemplates"] = json!([{
        "metadata": {"name": format!("{name}-root"), "labels": {"app": "web"}},
        "spec": {"source": {"http": {"url": url}},
            "storage": {"accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "5Gi"}}}},
    }]);
    vm.data["spec"]["template"]["spec"]["volumes"][0] =
        json!({"name": "rootdisk", "dataVolume": {"name": format!("{name}-root")}});
    vm
}

fn condition<'a>(object: &'a Value, kind: &str) -> &'a Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

fn percent(progress: &Value) -> f64 {
    progress
        .as_str()
        .and_then(|text| text.strip_suffix('%'))
        .and_then(|number| number.parse().ok())
        .unwrap_or(-1.0)
}

/// The VM controller creates the DataVolume of its template, controlled by the VM
/// (`handleDataVolumes`, `CreateDataVolumeManifest` in pkg/virt-controller/watch/); CDI takes
/// it Pending → ImportScheduled → ImportInProgress (progress rising) → Succeeded
/// (pkg/controller/datavolume/import-controller.go); the VM shows Provisioning meanwhile
/// (`setPrintableStatus`) and starts once the disk is there.
#[tokio::test]
async fn an_import_goes_through_cdis_phases_then_the_vm_starts() {
    let (_sim, client, vms) = sim().await;
    let mut disk = watch_one(&data_volumes(&client), "web-root").await;
    let created = create_vm(
        &vms,
        &importing("web", "https://images.example.test/fedora-42.qcow2"),
    )
    .await;
    let mut machine = watch_one(&vms, "web").await;
    let seen = until(&mut disk, |dv| dv["status"]["phase"] == "Succeeded").await;
    let mut phases: Vec<&str> = seen
        .iter()
        .filter_map(|dv| dv["status"]["phase"].as_str())
        .collect();
    phases.dedup();
    assert_eq!(
        phases,
        [
            "Pending",
            "ImportScheduled",
            "ImportInProgress",
            "Succeeded"
        ]
    );
    let progress: Vec<f64> = seen
        .iter()
        .filter(|dv| dv["status"]["phase"] == "ImportInProgress")
        .map(|dv| percent(&dv["status"]["progress"]))
        .filter(|percent| *percent >= 0.0)
        .collect();
    assert!(progress.len() >= 2, "{progress:?}");
    assert!(
        progress.windows(2).all(|pair| pair[0] < pair[1]),
        "{progress:?}"
    );
    assert!(progress
        .iter()
        .all(|percent| *percent > 0.0 && *percent < 100.0));

    let done = seen.last().expect("done");
    assert_eq!(done["status"]["progress"], "100.0%");
    assert_eq!(done["status"]["claimName"], "web-root");
    let bound = condition(done, "Bound");
    assert_eq!(
        (&bound["status"], &bound["reason"]),
        (&json!("True"), &json!("Bound"))
    );
    assert_eq!(bound["message"], "PVC web-root Bound");
    assert_eq!(condition(done, "Ready")["status"], "True");
    let running = condition(done, "Running");
    assert_eq!(
        (&running["status"], &running["reason"], &running["message"]),
        (
            &json!("False"),
            &json!("Completed"),
            &json!("Import Complete")
        )
    );
    let uid = created.metadata.uid.expect("uid");
    assert_eq!(done["metadata"]["ownerReferences"][0]["uid"], uid.as_str());
    assert_eq!(done["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(
        done["metadata"]["labels"]["kubevirt.io/created-by"],
        uid.as_str()
    );
    assert_eq!(done["metadata"]["labels"]["app"], "web");
    assert_eq!(
        done["spec"]["source"]["http"]["url"],
        "https://images.example.test/fedora-42.qcow2"
    );

    let statuses = until(&mut machine, |vm| {
        vm["status"]["printableStatus"] == "Running"
    })
    .await;
    let mut statuses: Vec<&str> = statuses
        .iter()
        .filter_map(|vm| vm["status"]["printableStatus"].as_str())
        .collect();
    statuses.dedup();
    assert_eq!(statuses, ["Provisioning", "Starting", "Running"]);

    let of_disk = events_where(
        &client,
        "involvedObject.kind=DataVolume,involvedObject.name=web-root",
    )
    .await;
    assert_eq!(
        reasons(&of_disk),
        [
            "Pending",
            "Bound",
            "ImportScheduled",
            "ImportInProgress",
            "ImportSucceeded"
        ]
    );
    assert_eq!(
        of_disk[4]["message"],
        "Successfully imported into PVC web-root"
    );
    assert_eq!(
        of_disk[4]["source"]["component"],
        "datavolume-import-controller"
    );
    let of_vm = events_where(
        &client,
        "involvedObject.kind=VirtualMachine,involvedObject.name=web",
    )
    .await;
    assert_eq!(
        reasons(&of_vm),
        ["SuccessfulDataVolumeCreate", "SuccessfulCreate"]
    );
    assert_eq!(of_vm[0]["message"], "Created DataVolume web-root");
}

/// A source that answers 404, or whose host does not resolve, fails the importer with
/// CDI's message (cmd/cdi-importer/importer.go, pkg/importer/http-datasource.go): the
/// DataVolume stays ImportInProgress, Running False with reason Error, and the VM reports
/// DataVolumeError (`HasDataVolumeErrors`, pkg/storage/types/dv.go) and never starts.
#[tokio::test]
async fn an_import_that_cannot_fetch_its_source_is_a_data_volume_error() {
    let (_sim, client, vms) = sim().await;
    let cases = [
        ("gone", "https://images.example.test/disk-notfound.qcow2",
            "Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found".to_owned()),
        ("lost", "https://mirror.invalid/disk.img",
            "Unable to connect to http data source: HTTP request errored: Get \"https://mirror.invalid/disk.img\": dial tcp: lookup mirror.invalid on 10.96.0.10:53: no such host".to_owned()),
    ];
    for (name, url, message) in cases {
        create_vm(&vms, &importing(name, url)).await;
        let vm = wait_for(&vms, name, "DataVolumeError").await;
        assert_eq!(vm.data["status"]["created"], false);
        let disk = data_volumes(&client)
            .get(&format!("{name}-root"))
            .await
            .expect("DataVolume");
        let disk = serde_json::to_value(disk).expect("JSON");
        assert_eq!(disk["status"]["phase"], "ImportInProgress");
        let running = condition(&disk, "Running");
        assert_eq!(
            (&running["status"], &running["reason"]),
            (&json!("False"), &json!("Error"))
        );
        assert_eq!(running["message"], message);
        assert!(disk["status"]["restartCount"].as_u64() >= Some(1));
        let warnings = events_where(
            &client,
            &format!("involvedObject.name={name}-root,type=Warning"),
        )
        .await;
        assert_eq!(reasons(&warnings), ["Error"]);
        assert_eq!(warnings[0]["message"], message);
        assert!(!exists(&instances(&client), name).await);
    }
}

/// Deleting a VM deletes what it owns, as the garbage collector does after a background
/// delete (pkg/controller/garbagecollector/garbagecollector.go): its instance (once shut
/// down), its DataVolume, and the Secret Wukong keeps long user data in; what it no longer
/// owns stays. A Secret's `stringData` is stored as `data`, as the API server stores it.
#[tokio::test]
async fn deleting_a_vm_collects_what_it_owns() {
    let (_sim, client, vms) = sim().await;
    let created = create_vm(
        &vms,
        &importing("db", "https://images.example.test/debian-13.qcow2"),
    )
    .await;
    let owner = json!([{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "name": "db", "uid": created.metadata.uid}]);
    for (name, owners) in [("db-cloudinit", owner), ("unrelated", json!([]))] {
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "ownerReferences": owners},
            "stringData": {"userdata": "#cloud-config\n"}});
        create(&secrets(&client), secret).await;
    }
    let stored = secrets(&client).get("db-cloudinit").await.expect("Secret");
    assert_eq!(
        stored.data["data"],
        json!({"userdata": "I2Nsb3VkLWNvbmZpZwo="})
    );
    assert_eq!(stored.data["type"], "Opaque");
    assert!(stored.data.get("stringData").is_none());
    wait_for(&vms, "db", "Running").await;

    let mut instance = watch_one(&instances(&client), "db").await;
    vms.delete("db", &DeleteParams::background())
        .await
        .expect("delete");
    until(&mut instance, |vmi| vmi["deleted"] == true).await;
    assert!(!exists(&data_volumes(&client), "db-root").await);
    assert!(!exists(&secrets(&client), "db-cloudinit").await);
    assert!(exists(&secrets(&client), "unrelated").await);

    // A disk released from its VM (as Wukong does to keep it) outlives the VM.
    create_vm(
        &vms,
        &importing("kept", "https://images.example.test/debian-13.qcow2"),
    )
    .await;
    wait_for(&vms, "kept", "Running").await;
    let release = Patch::Merge(json!({"metadata": {"ownerReferences": null}}));
    data_volumes(&client)
        .patch("kept-root", &PatchParams::default(), &release)
        .await
        .expect("release");
    let mut instance = watch_one(&instances(&client), "kept").await;
    vms.delete("kept", &DeleteParams::background())
        .await
        .expect("delete");
    until(&mut instance, |vmi| vmi["deleted"] == true).await;
    assert!(exists(&data_volumes(&client), "kept-root").await);
}
