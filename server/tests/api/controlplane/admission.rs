//! KubeVirt's validating webhook for VMs on the real control plane, served by the KubeVirt
//! stand-in as virt-api serves it: Wukong's own VMs pass it, and what it refuses reaches the
//! user as KubeVirt's reason.

use super::{cirros, harness::ControlPlane, namespace, new_vm, vm_object};
use app::{cluster::Cluster, vms::new_vm::ImageSource, vms::server::cluster::create, AppError};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use server::simcluster::standin::StandIn;
use std::time::Duration;

/// How kube-apiserver wraps a webhook's refusal (`ToStatusErr`,
/// staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/errors/statuserror.go).
const DENIED: &str =
    "admission webhook \"virtualmachine-validator.kubevirt.io\" denied the request: ";

/// KubeVirt's `cloudInitUserMaxLen`: the most user data it takes inline.
const USER_DATA_LIMIT: usize = 2048;

fn vms(cluster: &Cluster) -> Api<DynamicObject> {
    let resource =
        crate::support::api_resource("kubevirt.io", "v1", "VirtualMachine", "virtualmachines");
    Api::namespaced_with(cluster.client.clone(), "team-a", &resource)
}

/// A VM as a client writes one by hand: a container disk and cloud-init, both with volumes.
fn hand_written(name: &str) -> Value {
    json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"runStrategy": "Halted", "template": {"spec": {
            "domain": {
                "devices": {"disks": [
                    {"name": "rootdisk", "disk": {"bus": "virtio"}},
                    {"name": "cloudinitdisk", "disk": {"bus": "virtio"}}]},
                "resources": {"requests": {"memory": "128Mi"}}},
            "volumes": [
                {"name": "rootdisk",
                    "containerDisk": {"image": "quay.io/kubevirt/cirros-container-disk-demo"}},
                {"name": "cloudinitdisk",
                    "cloudInitNoCloud": {"userData": "#cloud-config\n"}}]}}}})
}

fn object(vm: &Value) -> DynamicObject {
    serde_json::from_value(vm.clone()).expect("VM")
}

/// Cloud-init user data of exactly `length` bytes.
fn user_data(length: usize) -> String {
    let mut data = "#cloud-config\n".to_owned();
    data.push_str(&"#".repeat(length - data.len()));
    data
}

/// What Wukong's cluster code makes of the API server's answer to creating `vm` as "x".
async fn refusal(cluster: &Cluster, api: &Api<DynamicObject>, vm: &Value) -> Option<AppError> {
    let (params, vm) = (PostParams::default(), object(vm));
    cluster
        .call("VM \"x\"", api.create(&params, &vm))
        .await
        .err()
}

fn invalid(message: &str) -> AppError {
    AppError::Invalid {
        field: String::new(),
        message: message.to_owned(),
    }
}

/// `kubectl create` of `vm` as the admin: whether it succeeded, and its stderr. It runs
/// without blocking the test's runtime, where the stand-in answers the webhook's calls.
async fn kubectl_create(plane: &ControlPlane, vm: &Value) -> (bool, String) {
    let path = plane.dir.path().join("vm.json");
    std::fs::write(&path, vm.to_string()).expect("write the manifest");
    let output = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&plane.kubeconfig)
        .args(["create", "-f"])
        .arg(&path)
        .output()
        .await
        .expect("run kubectl");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn kubevirts_webhook_admits_wukongs_vms_and_its_refusals_reach_the_user_as_kubevirts_reasons()
{
    let plane = ControlPlane::start().await;
    let cluster = plane.admin().await;
    let _kubevirt = StandIn::start(cluster.client.clone(), Duration::from_millis(50))
        .await
        .expect("the KubeVirt stand-in");

    // Wukong's bodies pass, at KubeVirt's limit for inline user data and just past it (the
    // data then goes into a Secret).
    let mut at_limit = cirros("web-1");
    at_limit.user_data = Some(user_data(USER_DATA_LIMIT));
    create(&cluster, &at_limit, &namespace("team-a"), "p")
        .await
        .expect("a VM with the most user data KubeVirt takes inline");
    let stored = vm_object(&cluster, "team-a", "web-1").await;
    let inline = stored
        .pointer("/spec/template/spec/volumes/1/cloudInitNoCloud/userData")
        .and_then(Value::as_str)
        .expect("inline user data");
    assert_eq!(inline.len(), USER_DATA_LIMIT);
    let mut past_limit = new_vm(
        "db-1",
        ImageSource::Url("https://images.example.test/debian-13.qcow2".to_owned()),
    );
    past_limit.user_data = Some(user_data(USER_DATA_LIMIT + 1));
    create(&cluster, &past_limit, &namespace("team-a"), "p")
        .await
        .expect("a VM importing its disk, with its user data in a Secret");
    // A VM written by hand with the deprecated `running` passes too, with KubeVirt's warning,
    // which only its webhook gives.
    let (admitted, warnings) = kubectl_create(&plane, &{
        let mut vm = hand_written("by-hand");
        vm["spec"]["running"] = json!(false);
        vm["spec"]
            .as_object_mut()
            .expect("spec")
            .remove("runStrategy");
        vm
    })
    .await;
    assert!(admitted, "{warnings}");
    assert_eq!(
        warnings,
        "Warning: spec.running is deprecated, please use spec.runStrategy instead.\n"
    );

    // A disk whose volume was renamed: refused through Wukong's mapping of cluster errors,
    // with KubeVirt's cause (`validateBootOrder`, vmi-create-admitter.go).
    let api = vms(&cluster);
    let mut no_volume = hand_written("x");
    no_volume["spec"]["template"]["spec"]["volumes"][0]["name"] = json!("root");
    let missing = "spec.template.spec.domain.devices.disks[0].Name 'rootdisk' not found.";
    assert_eq!(
        refusal(&cluster, &api, &no_volume).await,
        Some(invalid(&format!("The cluster refused VM \"x\": {missing}")))
    );
    // It was the webhook: the API server names it, with KubeVirt's code, reason and cause.
    match api
        .create(&PostParams::default(), &object(&no_volume))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(
                (status.code, status.reason.as_str(), status.message.as_str()),
                (422, "Invalid", format!("{DENIED}{missing}").as_str())
            );
            let causes = status.details.expect("details").causes;
            assert_eq!(causes.len(), 1, "{causes:?}");
            assert_eq!(
                causes[0].field,
                "spec.template.spec.domain.devices.disks[0].name"
            );
        }
        other => panic!("the webhook must refuse the VM, got {other:?}"),
    }
    // kubectl shows an Invalid status by its causes, field first (`checkErr`,
    // staging/src/k8s.io/kubectl/pkg/cmd/util/helpers.go), as it shows KubeVirt's.
    let (created, stderr) = kubectl_create(&plane, &no_volume).await;
    assert!(!created);
    assert_eq!(
        stderr,
        format!(
            "The request is invalid: spec.template.spec.domain.devices.disks[0].name: {missing}\n"
        )
    );

    // Several causes at once come in KubeVirt's order, joined by ", " (`ToAdmissionResponse`,
    // pkg/util/webhooks/webhooks.go).
    let mut three = no_volume.clone();
    three["spec"]["runStrategy"] = json!("halted");
    three["spec"]["template"]["spec"]["volumes"][1]["cloudInitNoCloud"]["userData"] =
        json!(user_data(USER_DATA_LIMIT + 1));
    assert_eq!(
        refusal(&cluster, &api, &three).await,
        Some(invalid(&format!(
            "The cluster refused VM \"x\": {missing}, spec.template.spec.volumes[1].\
             cloudInitNoCloud userdata exceeds 2048 byte limit. Should use \
             UserDataSecretRef for larger data., Invalid RunStrategy (halted)"
        )))
    );

    // Updates are checked as creates are.
    let both = Patch::Merge(json!({"spec": {"running": true}}));
    assert_eq!(
        cluster
            .call(
                "VM \"web-1\"",
                api.patch("web-1", &PatchParams::default(), &both)
            )
            .await
            .err(),
        Some(invalid(
            "The cluster refused VM \"web-1\": Running and RunStrategy are mutually \
             exclusive. Note that Running is deprecated, please use RunStrategy instead"
        ))
    );

    // Without KubeVirt's webhook the API server alone takes the same VM: the refusals were
    // KubeVirt's, not the schema's.
    plane.kubectl(&[
        "delete",
        "validatingwebhookconfiguration",
        "virt-api-validator",
    ]);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    super::eventually("the API server stops calling the webhook", || async {
        api.create(&dry_run, &object(&three)).await.is_ok()
    })
    .await;
}
