//! The cluster check (scripts/cluster-check.sh): Wukong's VM flows on a cluster with KubeVirt
//! and CDI, through Wukong's own cluster functions, one test per row of the script's table.
//! Each test works in a namespace of its own, which it deletes at the end, passed or not.
//!
//! `WUKONG_CHECK_KUBECONFIG` names the cluster, reached as `wukong --kubeconfig` reaches it.
//! Without it, each test starts the real control plane with the KubeVirt stand-in, so the
//! checks are themselves tested. `WUKONG_CHECK_WAIT_SECS` bounds each wait (600 s on a named
//! cluster, where images are pulled and disks imported; 60 s otherwise), and
//! `WUKONG_CHECK_IMAGE_URL` is the disk image the URL import fetches.

use crate::controlplane::harness::{connect, ControlPlane};
use app::{
    cluster::Cluster,
    realtime::server::Live,
    vms::{
        names::{Namespace, VmName, VmRef},
        new_vm::{ImagePreset, ImageSource, NewVm, RunStrategy},
        server::{
            body::root_data_volume_name,
            cluster::{act, create, delete},
            kubevirt::{VirtualMachine, VirtualMachineInstance},
            ownership::{from_cluster, WukongVm},
        },
        types::{DiskDisposal, VmAction},
    },
};
use futures_util::FutureExt as _;
use kube::api::{Api, DynamicObject};
use serde_json::{json, Value};
use server::simcluster::standin::StandIn;
use std::{
    panic::AssertUnwindSafe,
    path::Path,
    time::{Duration, Instant},
};

/// The project every check's VMs are labelled for; scripts/cluster-check.sh removes
/// namespaces of it that a test ended early left behind.
const PROJECT: &str = "wukong-cluster-check";

/// CirrOS, small enough to import quickly.
const DEFAULT_IMAGE_URL: &str =
    "https://download.cirros-cloud.net/0.6.2/cirros-0.6.2-x86_64-disk.img";

struct Check {
    cluster: Cluster,
    namespace: Namespace,
    wait: Duration,
    _plane: Option<ControlPlane>,
    _kubevirt: Option<StandIn>,
}

fn wait_from_environment(default_secs: u64) -> Duration {
    let secs = std::env::var("WUKONG_CHECK_WAIT_SECS")
        .ok()
        .map(|value| {
            value
                .parse()
                .expect("WUKONG_CHECK_WAIT_SECS is a number of seconds")
        })
        .unwrap_or(default_secs);
    Duration::from_secs(secs)
}

impl Check {
    async fn start() -> Check {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let namespace =
            Namespace::parse(&format!("wukong-check-{}", &suffix[..8])).expect("namespace");
        if let Some(path) = std::env::var_os("WUKONG_CHECK_KUBECONFIG") {
            return Check {
                cluster: connect(Path::new(&path)).await,
                namespace,
                wait: wait_from_environment(600),
                _plane: None,
                _kubevirt: None,
            };
        }
        let plane = ControlPlane::start().await;
        let cluster = plane.admin().await;
        let kubevirt = StandIn::start(cluster.client.clone(), Duration::from_millis(200))
            .await
            .expect("the KubeVirt stand-in");
        Check {
            cluster,
            namespace,
            wait: wait_from_environment(60),
            _plane: Some(plane),
            _kubevirt: Some(kubevirt),
        }
    }

    fn target(&self, name: &str) -> VmRef {
        VmRef {
            namespace: self.namespace.clone(),
            name: VmName::parse(name).expect("name"),
        }
    }

    /// Polls `probe` until it gives a value, for at most the check's wait.
    async fn until<T>(&self, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + self.wait;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {:?}",
                self.wait
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until `api` has the object `name` and `ready` holds of it; the object.
    async fn until_object<K>(
        &self,
        what: &str,
        api: &Api<K>,
        name: &str,
        ready: impl Fn(&K) -> bool,
    ) -> K
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        self.until(&format!("{what} {name}"), async || {
            api.get_opt(name).await.ok().flatten().filter(&ready)
        })
        .await
    }

    /// Waits until `api` has no object `name`.
    async fn until_absent<K>(&self, what: &str, api: &Api<K>, name: &str)
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        self.until(&format!("{what} {name} gone"), async || {
            matches!(api.get_opt(name).await, Ok(None)).then_some(())
        })
        .await;
    }

    fn vms(&self) -> Api<VirtualMachine> {
        Api::namespaced(self.cluster.client.clone(), self.namespace.as_str())
    }

    fn vmis(&self) -> Api<VirtualMachineInstance> {
        Api::namespaced(self.cluster.client.clone(), self.namespace.as_str())
    }

    fn data_volumes(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.cluster.client.clone(),
            self.namespace.as_str(),
            &crate::support::api_resource(
                "cdi.kubevirt.io",
                "v1beta1",
                "DataVolume",
                "datavolumes",
            ),
        )
    }

    /// Creates the VM `name` as Wukong's create form does, and hands it back as Wukong's.
    async fn create(&self, name: &str, image: ImageSource, run_strategy: RunStrategy) -> WukongVm {
        let vm = NewVm {
            name: VmName::parse(name).expect("name"),
            project: PROJECT.to_owned(),
            cpus: 1,
            memory_mib: 256,
            image,
            disk_gib: 1,
            ssh_key: None,
            user_data: Some("#cloud-config\nhostname: wukong-check\n".to_owned()),
            run_strategy,
        };
        create(&self.cluster, &vm, &self.namespace, PROJECT)
            .await
            .unwrap_or_else(|error| panic!("create {name}: {error}"));
        self.wukongs(name).await
    }

    async fn wukongs(&self, name: &str) -> WukongVm {
        from_cluster(&self.cluster, &self.target(name), PROJECT)
            .await
            .unwrap_or_else(|error| panic!("read {name}: {error}"))
    }

    async fn act(&self, vm: &WukongVm, action: VmAction) {
        act(&self.cluster, vm, action)
            .await
            .unwrap_or_else(|error| panic!("{action:?}: {error}"));
    }

    /// Runs `action` and waits until KubeVirt reports the VM as `status`.
    async fn act_until(&self, vm: &WukongVm, action: VmAction, status: &str) {
        self.act(vm, action).await;
        self.status(vm.target().name.as_str(), status).await;
    }

    /// Waits until KubeVirt reports the VM `name` as `status` (its `printableStatus`).
    async fn status(&self, name: &str, status: &str) {
        self.until_object(&format!("VM {name} {status}"), &self.vms(), name, |vm| {
            vm.printable_status() == Some(status)
        })
        .await;
    }

    /// The UID of the VM's instance once it runs, if it is not `other`.
    async fn running_instance(&self, name: &str, other: Option<&str>) -> String {
        let vmi = self
            .until_object(
                &format!("a new instance of {name} running"),
                &self.vmis(),
                name,
                |vmi| {
                    let phase = vmi
                        .status
                        .as_ref()
                        .and_then(|status| status.phase.as_deref());
                    phase == Some("Running") && vmi.metadata.uid.as_deref() != other
                },
            )
            .await;
        vmi.metadata.uid.unwrap_or_default()
    }

    /// A CirrOS VM from its container disk, started and running.
    async fn running(&self, name: &str) -> WukongVm {
        let vm = self
            .create(
                name,
                ImageSource::Preset(ImagePreset::Cirros),
                RunStrategy::Halted,
            )
            .await;
        self.act_until(&vm, VmAction::Start, "Running").await;
        self.running_instance(name, None).await;
        vm
    }

    /// A VM whose root disk CDI imports from the check's image URL.
    async fn imported(&self, name: &str, run_strategy: RunStrategy) -> WukongVm {
        let url = std::env::var("WUKONG_CHECK_IMAGE_URL")
            .unwrap_or_else(|_| DEFAULT_IMAGE_URL.to_owned());
        self.create(name, ImageSource::Url(url), run_strategy).await
    }

    /// The VM's root DataVolume once it exists. KubeVirt's VM controller creates the
    /// DataVolumes of `dataVolumeTemplates` as soon as it sees the VM, running or not
    /// (kubevirt/kubevirt pkg/virt-controller/watch/vm/vm.go, `handleDataVolumes`, unless
    /// the VM is annotated against immediate creation).
    async fn root_disk(&self, name: &str) -> DynamicObject {
        let disk = root_data_volume_name(name);
        self.until_object("DataVolume", &self.data_volumes(), &disk, |_| true)
            .await
    }

    /// A stopped VM of an imported disk, deleted with `disks` once KubeVirt made its
    /// DataVolume, and gone: the VM as it was, and its disk before the delete.
    async fn delete_imported(&self, name: &str, disks: DiskDisposal) -> (WukongVm, DynamicObject) {
        let vm = self.imported(name, RunStrategy::Halted).await;
        let disk = self.root_disk(name).await;
        delete(&self.cluster, &vm, disks)
            .await
            .unwrap_or_else(|error| panic!("delete {name} ({disks:?}): {error}"));
        self.until_absent("VM", &self.vms(), name).await;
        (vm, disk)
    }
}

/// Runs `flow` on a fresh check, and deletes the check's namespace afterwards whether the
/// flow passed or not.
async fn run(flow: impl AsyncFnOnce(&Check)) {
    let check = Check::start().await;
    let outcome = AssertUnwindSafe(flow(&check)).catch_unwind().await;
    let cleaned = app::projects::server::namespace::delete(&check.cluster, &check.namespace).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    cleaned.expect("delete the check's namespace");
}

/// Row "connect/discovery": the kubeconfig works, and the API server serves KubeVirt's VMs,
/// their instances and actions, and CDI's DataVolumes.
#[tokio::test]
async fn connect_and_discovery() {
    run(async |check| {
        check.cluster.ping().await.expect("the API server answers");
        for (group_version, resources) in [
            (
                "kubevirt.io/v1",
                &["virtualmachines", "virtualmachineinstances"][..],
            ),
            (
                "subresources.kubevirt.io/v1",
                &[
                    "virtualmachines/start",
                    "virtualmachines/stop",
                    "virtualmachines/restart",
                    "virtualmachineinstances/pause",
                    "virtualmachineinstances/unpause",
                ][..],
            ),
            ("cdi.kubevirt.io/v1beta1", &["datavolumes"][..]),
        ] {
            let served = check
                .cluster
                .client
                .list_api_group_resources(group_version)
                .await
                .unwrap_or_else(|error| panic!("{group_version} is not served: {error}"));
            for resource in resources {
                assert!(
                    served.resources.iter().any(|found| found.name == *resource),
                    "{group_version} lacks {resource}"
                );
            }
        }
    })
    .await;
}

/// The rules of Wukong's ClusterRole in deploy/rbac.yaml as (group, resource, verb). The
/// file writes each rule's lists in flow style with quoted strings, which JSON reads.
fn wukongs_permissions() -> Vec<(String, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/rbac.yaml");
    let text = std::fs::read_to_string(path).expect("deploy/rbac.yaml");
    let list = |line: &str, key: &str| -> Option<Vec<String>> {
        let rest = line
            .trim_start()
            .trim_start_matches("- ")
            .strip_prefix(key)?;
        Some(serde_json::from_str(rest.trim()).expect("a list in flow style"))
    };
    let mut permissions = Vec::new();
    let (mut groups, mut resources) = (Vec::new(), Vec::new());
    for line in text.lines() {
        if let Some(found) = list(line, "apiGroups:") {
            groups = found;
        } else if let Some(found) = list(line, "resources:") {
            resources = found;
        } else if let Some(verbs) = list(line, "verbs:") {
            for group in &groups {
                for resource in &resources {
                    for verb in &verbs {
                        permissions.push((group.clone(), resource.clone(), verb.clone()));
                    }
                }
            }
        }
    }
    permissions
}

/// Row "RBAC check": the kubeconfig's account may do everything Wukong's role grants,
/// across the cluster, as the API server's authorizer answers a SelfSubjectAccessReview.
#[tokio::test]
async fn rbac_check() {
    run(async |check| {
        let permissions = wukongs_permissions();
        let create_vms = (
            "kubevirt.io".to_owned(),
            "virtualmachines".to_owned(),
            "create".to_owned(),
        );
        assert!(permissions.contains(&create_vms), "{permissions:?}");
        let mut missing = Vec::new();
        for (group, resource, verb) in permissions {
            let named = match group.as_str() {
                "" => resource.clone(),
                group => format!("{resource}.{group}"),
            };
            let (resource, subresource) = resource.split_once('/').unwrap_or((&resource, ""));
            let review = json!({"apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": {
                    "group": group, "resource": resource, "subresource": subresource,
                    "verb": verb}}});
            let request =
                http::Request::post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&review).expect("JSON"))
                    .expect("request");
            let answer: Value = check.cluster.client.request(request).await.expect("review");
            if answer["status"]["allowed"] != json!(true) {
                missing.push(format!("{verb} {named}"));
            }
        }
        assert!(
            missing.is_empty(),
            "the kubeconfig's account may not {}",
            missing.join(", ")
        );
    })
    .await;
}

/// Row "create from container disk".
#[tokio::test]
async fn create_from_container_disk() {
    run(async |check| {
        let vm = check
            .create(
                "disk-from-image",
                ImageSource::Preset(ImagePreset::Cirros),
                RunStrategy::Halted,
            )
            .await;
        assert_eq!(vm.object().run_strategy(), "Halted");
        check.status("disk-from-image", "Stopped").await;
    })
    .await;
}

/// Row "start → Running": KubeVirt starts the instance and reports it running.
#[tokio::test]
async fn start_until_running() {
    run(async |check| {
        check.running("starts").await;
    })
    .await;
}

/// Row "pause/unpause".
#[tokio::test]
async fn pause_and_unpause() {
    run(async |check| {
        let vm = check.running("pauses").await;
        check.act_until(&vm, VmAction::Pause, "Paused").await;
        check.act_until(&vm, VmAction::Unpause, "Running").await;
    })
    .await;
}

/// Row "restart": a new instance replaces the running one, and runs.
#[tokio::test]
async fn restart() {
    run(async |check| {
        let vm = check.running("restarts").await;
        let before = check.running_instance("restarts", None).await;
        check.act(&vm, VmAction::Restart).await;
        check.running_instance("restarts", Some(&before)).await;
        check.status("restarts", "Running").await;
    })
    .await;
}

/// Row "stop": the instance goes away and the VM reports Stopped.
#[tokio::test]
async fn stop() {
    run(async |check| {
        let vm = check.running("stops").await;
        check.act_until(&vm, VmAction::Stop, "Stopped").await;
        check
            .until_absent("the instance", &check.vmis(), "stops")
            .await;
    })
    .await;
}

/// Row "create from URL import": CDI imports the root disk, its DataVolume reaching phase
/// Succeeded. The VM runs from the start: with a WaitForFirstConsumer StorageClass (kind's
/// default) CDI imports only once a pod will use the disk.
#[tokio::test]
async fn create_from_url_import() {
    run(async |check| {
        check.imported("imports", RunStrategy::Always).await;
        let disk = root_data_volume_name("imports");
        check
            .until_object(
                "imported DataVolume",
                &check.data_volumes(),
                &disk,
                |volume| {
                    let phase = &volume.data["status"]["phase"];
                    assert_ne!(
                        phase, "Failed",
                        "the import failed: {}",
                        volume.data["status"]
                    );
                    phase == "Succeeded"
                },
            )
            .await;
        check.status("imports", "Running").await;
    })
    .await;
}

/// Row "delete keeping disks": the VM goes, its disk stays, no longer owned by it.
#[tokio::test]
async fn delete_keeping_disks() {
    run(async |check| {
        let (vm, disk) = check.delete_imported("keeps", DiskDisposal::Keep).await;
        let kept = check
            .data_volumes()
            .get(&disk.metadata.name.clone().unwrap_or_default())
            .await
            .expect("the disk outlives its VM");
        assert_eq!(kept.metadata.uid, disk.metadata.uid);
        assert!(
            kept.metadata
                .owner_references
                .unwrap_or_default()
                .iter()
                .all(|owner| Some(owner.uid.as_str()) != vm.uid()),
            "still owned by the VM"
        );
    })
    .await;
}

/// Row "delete with disks": the garbage collector removes the disk with its VM.
#[tokio::test]
async fn delete_with_disks() {
    run(async |check| {
        let (_, disk) = check.delete_imported("drops", DiskDisposal::Delete).await;
        let name = disk.metadata.name.clone().unwrap_or_default();
        check
            .until_absent("DataVolume", &check.data_volumes(), &name)
            .await;
    })
    .await;
}

/// Row "watch events reach the live store": Wukong's watches see a VM appear, run and go.
#[tokio::test]
async fn watch_events_reach_the_live_store() {
    run(async |check| {
        let live = Live::start(&check.cluster.client);
        assert!(live.ready(check.wait).await, "{:?}", live.watch_failures());
        let namespace = check.namespace.as_str();
        let vm = check.running("watched").await;
        check
            .until("the live store sees it running", async || {
                let seen = live.vm(namespace, "watched")?;
                let instance = live.vmi(namespace, "watched")?;
                (seen.printable_status() == Some("Running") && instance.metadata.uid.is_some())
                    .then_some(())
            })
            .await;
        delete(&check.cluster, &vm, DiskDisposal::Delete)
            .await
            .expect("delete");
        check
            .until("the live store sees it gone", async || {
                live.vm(namespace, "watched").is_none().then_some(())
            })
            .await;
        assert_eq!(live.watch_failures(), Vec::<String>::new());
        live.stop();
    })
    .await;
}
