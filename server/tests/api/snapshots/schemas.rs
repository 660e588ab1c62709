//! Every snapshot, restore and clone body Wukong sends passes the real CRD schemas
//! (`../shared/crds/`, extracted into the simulated cluster's schema file), with nothing a
//! real API server would prune.

use app::{
    snapshots::{server::body, types::CloneSource},
    vms::names::{Namespace, SnapshotName, VmName},
};
use serde_json::{json, Value};
use server::simcluster::{resources, schema};

fn schema_of(kind: &str) -> Value {
    resources()
        .expect("schemas")
        .into_iter()
        .find(|resource| resource.kind == kind)
        .and_then(|resource| resource.schema)
        .unwrap_or_else(|| panic!("no {kind} schema"))
}

/// Checks `object` against `kind`'s schema and Wukong's labels.
fn passes(kind: &str, object: &impl serde::Serialize) -> Value {
    let json = serde_json::to_value(object).expect("JSON");
    let schema = schema_of(kind);
    let errors = schema::validate(&schema, &json);
    assert!(errors.is_empty(), "{kind}: {errors:?}\n{json:#}");
    assert_eq!(
        schema::prune(&schema, &mut json.clone()),
        Vec::<String>::new(),
        "{json:#}"
    );
    assert_eq!(json["kind"], kind);
    assert_eq!(
        json["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "wukong"
    );
    assert_eq!(json["metadata"]["labels"]["wukong.io/project"], "project-1");
    json
}

#[test]
fn every_snapshot_restore_and_clone_body_passes_its_crd_schema() {
    let namespace = Namespace::parse("team-a").expect("namespace");
    let vm = VmName::parse("web-1").expect("name");
    let snapshot = SnapshotName::parse("before-upgrade").expect("name");
    for description in ["", "Before the kernel upgrade: \"risky\" ✓"] {
        let object =
            body::snapshot(&snapshot, &vm, description, &namespace, "project-1").expect("body");
        let json = passes("VirtualMachineSnapshot", &object);
        assert_eq!(json["apiVersion"], "snapshot.kubevirt.io/v1beta1");
        assert_eq!(
            json["spec"]["source"],
            json!({"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "web-1"})
        );
        let annotation = json.pointer("/metadata/annotations/wukong.io~1description");
        assert_eq!(
            annotation.and_then(Value::as_str).unwrap_or_default(),
            description
        );
    }
    let restore = body::restore(
        "before-upgrade-restore-1",
        &vm,
        &snapshot,
        &namespace,
        "project-1",
    )
    .expect("body");
    let json = passes("VirtualMachineRestore", &restore);
    assert_eq!(json["spec"]["virtualMachineSnapshotName"], "before-upgrade");
    assert_eq!(json["spec"]["target"]["name"], "web-1");
    let copy = VmName::parse("web-2").expect("name");
    for source in [
        CloneSource::Vm("web-1".to_owned()),
        CloneSource::Snapshot("before-upgrade".to_owned()),
    ] {
        let clone =
            body::clone("web-2-clone-1", &source, &copy, &namespace, "project-1").expect("body");
        let json = passes("VirtualMachineClone", &clone);
        assert_eq!(json["apiVersion"], "clone.kubevirt.io/v1beta1");
        assert_eq!(json["spec"]["source"]["name"], source.name());
        assert_eq!(
            json["spec"]["target"],
            json!({"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "web-2"})
        );
    }
    // The check is real: a body it must refuse is refused.
    let mut broken = serde_json::to_value(&restore).expect("JSON");
    broken["spec"]["target"]["name"] = json!(7);
    assert!(!schema::validate(&schema_of("VirtualMachineRestore"), &broken).is_empty());
}
