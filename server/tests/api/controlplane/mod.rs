//! Wukong against a real Kubernetes control plane: etcd, kube-apiserver and
//! kube-controller-manager of one pinned release (`end2end/controlplane`), with KubeVirt's
//! and CDI's real CRDs, token authentication, RBAC and the default admission plugins.
//!
//! Most of these tests need no KubeVirt: they cover what the API server itself decides
//! (schemas, quota and namespace admission, authorization, garbage collection, watches).
//! `standin` and part of `conformance` run the simulated KubeVirt and CDI on it.

mod admission;
mod conformance;
mod consoles;
pub mod harness;
mod least_privilege;
mod snapshots;
mod standin;

use app::{
    cluster::Cluster,
    vms::{
        names::{Namespace, VmName, VmRef},
        new_vm::{ImagePreset, ImageSource, NewVm, RunStrategy},
        server::{
            cluster::{create, delete},
            kubevirt::VirtualMachine,
            ownership::from_cluster,
        },
        types::DiskDisposal,
    },
    AppError,
};
use harness::{connect, ControlPlane};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use std::time::Duration;

fn new_vm(name: &str, image: ImageSource) -> NewVm {
    NewVm {
        name: VmName::parse(name).expect("name"),
        project: "p".to_owned(),
        cpus: 1,
        memory_mib: 512,
        image,
        disk_gib: 5,
        ssh_key: None,
        user_data: Some("#cloud-config\nhostname: test\n".to_owned()),
        run_strategy: RunStrategy::Halted,
    }
}

fn namespace(name: &str) -> Namespace {
    Namespace::parse(name).expect("namespace")
}

fn target(namespace: &str, name: &str) -> VmRef {
    VmRef {
        namespace: self::namespace(namespace),
        name: VmName::parse(name).expect("name"),
    }
}

fn cirros(name: &str) -> NewVm {
    new_vm(name, ImageSource::Preset(ImagePreset::Cirros))
}

/// Waits until `check` holds, polling every 100 ms for up to 60 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 60 s");
}

fn invalid_message(result: Result<VirtualMachine, AppError>) -> String {
    match result {
        Err(AppError::Invalid { message, .. }) => message,
        other => panic!("expected a refusal the user can act on, got {other:?}"),
    }
}

#[tokio::test]
async fn the_control_plane_is_a_real_api_server_with_kubevirts_kinds() {
    let plane = ControlPlane::start().await;
    let admin = plane.admin().await;
    admin.ping().await.expect("the API server answers");
    let version: Value =
        serde_json::from_str(&plane.kubectl(&["version", "-o", "json"])).expect("version JSON");
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.37.2");
    let crds = plane.kubectl(&["get", "crd", "-o", "name"]);
    for crd in [
        "virtualmachines.kubevirt.io",
        "virtualmachineinstances.kubevirt.io",
        "datavolumes.cdi.kubevirt.io",
        "virtualmachinesnapshots.snapshot.kubevirt.io",
    ] {
        assert!(crds.contains(crd), "{crd} missing from {crds}");
    }
    // Token authentication with RBAC: a service account without a role is refused, as
    // kube-apiserver's RBAC authorizer refuses (plugin/pkg/auth/authorizer/rbac).
    plane.kubectl(&["create", "namespace", "outsiders"]);
    plane.kubectl(&["-n", "outsiders", "create", "serviceaccount", "nobody"]);
    let token = plane
        .service_account_token(&admin, "outsiders", "nobody")
        .await;
    let nobody = connect(&plane.kubeconfig_for("nobody", &token)).await;
    assert_eq!(
        create(&nobody, &cirros("web-1"), &namespace("team-a"), "p")
            .await
            .err(),
        Some(AppError::ClusterDenied {
            // For namespaces the authorizer names the namespace itself as the scope.
            permission: "get \"namespaces\" (core) in namespace team-a".to_owned()
        })
    );
    let vms: Api<VirtualMachine> = Api::all(nobody.client.clone());
    match vms.list(&Default::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("an account without a role must be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn wukongs_vm_bodies_pass_the_real_schema_and_deletes_follow_garbage_collection() {
    let plane = ControlPlane::start().await;
    let cluster = plane.admin().await;
    // Creating the first VM creates the project's namespace.
    create(&cluster, &cirros("web-1"), &namespace("team-a"), "p")
        .await
        .expect("a container-disk VM");
    for name in ["db-1", "db-2"] {
        let imported = new_vm(
            name,
            ImageSource::Url("https://images.example.test/debian-13.qcow2".to_owned()),
        );
        create(&cluster, &imported, &namespace("team-a"), "p")
            .await
            .expect("a VM importing its disk from a URL");
    }
    match create(&cluster, &cirros("web-1"), &namespace("team-a"), "p").await {
        Err(AppError::Conflict { message }) => {
            assert!(message.contains("already exists"), "{message}")
        }
        other => panic!("a second create must conflict, got {other:?}"),
    }
    let data_volumes = data_volumes(&cluster, "team-a");
    let mut disks = Vec::new();
    for name in ["db-1", "db-2"] {
        // What the API server stored reads back through Wukong's typed views.
        let vm = from_cluster(&cluster, &target("team-a", name), "p")
            .await
            .expect("Wukong's VM");
        let volumes = vm.object().data_volume_names();
        assert_eq!(volumes.len(), 1, "{volumes:?}");
        // KubeVirt's VM controller creates each DataVolume of `dataVolumeTemplates`, owned
        // by the VM (`CreateDataVolumeManifest`, pkg/virt-controller/watch/); CDI and KubeVirt
        // are not here, so the test does it.
        let stored = vm_object(&cluster, "team-a", name).await;
        data_volumes
            .create(
                &PostParams::default(),
                &data_volume_of(&stored, &volumes[0]),
            )
            .await
            .expect("the VM's DataVolume");
        disks.push((vm, volumes[0].clone()));
    }
    let [(kept_vm, kept_disk), (dropped_vm, dropped_disk)] =
        <[_; 2]>::try_from(disks).expect("two");
    delete(&cluster, &kept_vm, DiskDisposal::Keep)
        .await
        .expect("delete, keeping the disk");
    delete(&cluster, &dropped_vm, DiskDisposal::Delete)
        .await
        .expect("delete with the disk");
    let web = from_cluster(&cluster, &target("team-a", "web-1"), "p")
        .await
        .expect("Wukong's VM");
    delete(&cluster, &web, DiskDisposal::Delete)
        .await
        .expect("delete a VM without disks");
    let vms: Api<VirtualMachine> = Api::namespaced(cluster.client.clone(), "team-a");
    eventually("the VMs are gone", || async {
        vms.list(&Default::default())
            .await
            .is_ok_and(|list| list.items.is_empty())
    })
    .await;
    // The garbage collector removes the disk its VM still owned...
    eventually("the owned disk is collected", || async {
        data_volumes
            .get_opt(&dropped_disk)
            .await
            .is_ok_and(|found| found.is_none())
    })
    .await;
    // ...and leaves the one Wukong released first.
    let kept = data_volumes
        .get(&kept_disk)
        .await
        .expect("the kept disk outlives its VM");
    assert!(kept
        .metadata
        .owner_references
        .unwrap_or_default()
        .is_empty());
    // A new VM of the kept disk's VM's name would meet that disk: refused, saying why.
    let again = new_vm(
        "db-1",
        ImageSource::Url("https://images.example.test/debian-13.qcow2".to_owned()),
    );
    match create(&cluster, &again, &namespace("team-a"), "p").await {
        Err(AppError::Conflict { message }) => assert_eq!(
            message,
            "A disk named \"db-1-root\" is still in this project, kept when an earlier VM \
             \"db-1\" was deleted. Choose another name, or delete that disk first."
        ),
        other => panic!("re-using a kept disk's name must be refused, got {other:?}"),
    }
    assert!(vms.get_opt("db-1").await.expect("get").is_none());
}

/// The VM as the API server stored it.
async fn vm_object(cluster: &Cluster, namespace: &str, name: &str) -> Value {
    let resource =
        crate::support::api_resource("kubevirt.io", "v1", "VirtualMachine", "virtualmachines");
    let vms: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), namespace, &resource);
    serde_json::to_value(vms.get(name).await.expect("the VM")).expect("JSON")
}

fn data_volumes(cluster: &Cluster, namespace: &str) -> Api<DynamicObject> {
    let resource =
        crate::support::api_resource("cdi.kubevirt.io", "v1beta1", "DataVolume", "datavolumes");
    Api::namespaced_with(cluster.client.clone(), namespace, &resource)
}

/// The DataVolume `name` of `vm`'s templates, owned by the VM as KubeVirt makes it.
fn data_volume_of(vm: &Value, name: &str) -> DynamicObject {
    let template = vm["spec"]["dataVolumeTemplates"]
        .as_array()
        .and_then(|templates| templates.iter().find(|t| t["metadata"]["name"] == name))
        .expect("the template");
    serde_json::from_value(json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "name": vm["metadata"]["name"], "uid": vm["metadata"]["uid"],
            "controller": true, "blockOwnerDeletion": true}]},
        "spec": template["spec"],
    }))
    .expect("DataVolume")
}

#[tokio::test]
async fn quota_and_namespace_refusals_become_messages_a_user_can_act_on() {
    let plane = ControlPlane::start().await;
    let cluster = plane.admin().await;
    create(&cluster, &cirros("web-1"), &namespace("team-a"), "p")
        .await
        .expect("first VM");
    plane.kubectl(&[
        "-n",
        "team-a",
        "create",
        "quota",
        "vms",
        "--hard=count/virtualmachines.kubevirt.io=1",
    ]);
    // Admission counts against the usage the quota controller has recorded.
    eventually("the quota controller records usage", || async {
        plane
            .kubectl(&[
                "-n",
                "team-a",
                "get",
                "quota",
                "vms",
                "-o",
                "jsonpath={.status.used}",
            ])
            .contains("count/virtualmachines.kubevirt.io")
    })
    .await;
    // Told as Wukong tells its own refusals, naming the project by its namespace.
    match create(&cluster, &cirros("web-2"), &namespace("team-a"), "p").await {
        Err(AppError::QuotaExceeded { message }) => {
            assert_eq!(message, "VMs: 1 requested, 0 of 1 free in project team-a");
        }
        other => panic!("expected the quota's refusal, got {other:?}"),
    }

    // A namespace being deleted takes nothing new (the NamespaceLifecycle admission plugin,
    // staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go).
    let vms: Api<VirtualMachine> = Api::namespaced(cluster.client.clone(), "team-a");
    vms.patch(
        "web-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["wukong.test/hold"]}})),
    )
    .await
    .expect("hold the namespace in Terminating");
    plane.kubectl(&["delete", "namespace", "team-a", "--wait=false"]);
    let refused =
        invalid_message(create(&cluster, &cirros("web-3"), &namespace("team-a"), "p").await);
    assert_eq!(
        refused,
        "VM \"web-3\" cannot be created: its namespace is being deleted. Wait until it is gone, \
         or ask an administrator why it is stuck."
    );
    vms.patch(
        "web-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release the namespace");
}

/// User data longer than KubeVirt takes inline goes into a Secret the VM references, owned by
/// the VM, so the real garbage collector deletes it with the VM.
#[tokio::test]
async fn long_user_data_lives_in_a_secret_that_goes_with_its_vm() {
    let plane = ControlPlane::start().await;
    let cluster = plane.admin().await;
    let mut long = cirros("web-1");
    long.user_data = Some(format!(
        "#cloud-config\nruncmd:\n{}",
        "- echo hello\n".repeat(200)
    ));
    create(&cluster, &long, &namespace("team-a"), "p")
        .await
        .expect("created");
    let stored = vm_object(&cluster, "team-a", "web-1").await;
    let volumes = stored["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes");
    let cloud_init = volumes
        .iter()
        .find(|volume| volume["name"] == "cloudinitdisk")
        .expect("cloud-init volume");
    assert_eq!(
        cloud_init["cloudInitNoCloud"],
        json!({"secretRef": {"name": "web-1-cloudinit"}})
    );
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        "team-a",
        &crate::support::api_resource("", "v1", "Secret", "secrets"),
    );
    let secret = secrets.get("web-1-cloudinit").await.expect("the Secret");
    use base64::Engine as _;
    let user_data = base64::engine::general_purpose::STANDARD
        .decode(secret.data["data"]["userdata"].as_str().expect("userdata"))
        .expect("base64");
    assert_eq!(
        Some(String::from_utf8(user_data).expect("UTF-8")),
        long.user_data
    );
    // A short one stays inline.
    create(&cluster, &cirros("web-2"), &namespace("team-a"), "p")
        .await
        .expect("created");
    let short = vm_object(&cluster, "team-a", "web-2").await;
    let short_volumes = short["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(
        short_volumes.contains(r##""userData":"#cloud-config\nhostname: test\n""##),
        "{short_volumes}"
    );

    let web = from_cluster(&cluster, &target("team-a", "web-1"), "p")
        .await
        .expect("Wukong's VM");
    delete(&cluster, &web, DiskDisposal::Delete)
        .await
        .expect("delete");
    eventually("the Secret is collected with its VM", || async {
        secrets
            .get_opt("web-1-cloudinit")
            .await
            .is_ok_and(|found| found.is_none())
    })
    .await;
}
