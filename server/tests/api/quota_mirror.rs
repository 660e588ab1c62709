//! The project quota mirrored as a `ResourceQuota` (`app::quotas::server::mirror`): applied
//! with the computed values and updated when the limits change, and judged by the cluster's
//! own quota admission of the launcher pods: KubeVirt's requests as the simulated cluster
//! (or, on the real control plane, the stand-in's real Pods) compute them, which a VM sized
//! exactly to the project quota fits and a VM one MiB larger does not.

use crate::support::api_resource;
use crate::support::simulated;
use app::{
    cluster::{quota_refusal, Cluster},
    projects::server::namespace::ensure,
    quotas::{
        server::mirror::{apply, hard, QUOTA_NAME},
        types::Amounts,
    },
    vms::{
        names::{Namespace, VmName, VmRef},
        new_vm::{ImagePreset, ImageSource, NewVm, RunStrategy},
        server::{activity::events, cluster::create},
    },
    AppError,
};
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;
use server::simcluster::{standin::StandIn, SimCluster, SimOptions};
use std::{collections::BTreeMap, time::Duration};

fn fast() -> SimOptions {
    SimOptions {
        transition_delay: Duration::from_millis(50),
        ..SimOptions::default()
    }
}

fn namespace(name: &str) -> Namespace {
    Namespace::parse(name).expect("namespace")
}

/// Room for one VM of 2 vCPUs and 2048 MiB.
fn one_vm() -> Amounts {
    Amounts {
        vcpus: 2,
        memory_mib: 2048,
        disk_gib: 20,
        vm_count: 1,
        ..Amounts::default()
    }
}

fn vm(name: &str, cpus: u32, memory_mib: u64) -> NewVm {
    NewVm {
        name: VmName::parse(name).expect("name"),
        project: "p".to_owned(),
        cpus,
        memory_mib,
        image: ImageSource::Preset(ImagePreset::Cirros),
        disk_gib: 1,
        ssh_key: None,
        user_data: Some("#cloud-config\n".to_owned()),
        run_strategy: RunStrategy::Always,
    }
}

fn quotas(cluster: &Cluster, namespace: &str) -> Api<DynamicObject> {
    let resource = api_resource("", "v1", "ResourceQuota", "resourcequotas");
    Api::namespaced_with(cluster.client.clone(), namespace, &resource)
}

pub async fn quota(cluster: &Cluster, namespace: &str) -> DynamicObject {
    quotas(cluster, namespace)
        .get(QUOTA_NAME)
        .await
        .expect("the mirror")
}

/// The quantities at `pointer` (`/spec/hard`, `/status/used`) of `quota`.
fn amounts(quota: &DynamicObject, pointer: &str) -> BTreeMap<String, String> {
    quota
        .data
        .pointer(pointer)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, quantity)| {
            (
                name.clone(),
                quantity.as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub fn spec_hard(quota: &DynamicObject) -> BTreeMap<String, String> {
    amounts(quota, "/spec/hard")
}

/// The quota controller has recorded the quota's limits, so that admission can judge by it
/// (until then the real API server refuses what the quota counts: "status unknown").
async fn quota_synced(cluster: &Cluster, namespace: &str) {
    for _ in 0..300 {
        let quota = quota(cluster, namespace).await;
        if amounts(&quota, "/status/hard").len() == spec_hard(&quota).len() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the quota controller never synced the quota in {namespace}");
}

fn instances(cluster: &Cluster, namespace: &str) -> Api<DynamicObject> {
    let resource = api_resource(
        "kubevirt.io",
        "v1",
        "VirtualMachineInstance",
        "virtualmachineinstances",
    );
    Api::namespaced_with(cluster.client.clone(), namespace, &resource)
}

async fn wait_for_phase(cluster: &Cluster, namespace: &str, name: &str, phase: &str) {
    let vmis = instances(cluster, namespace);
    for _ in 0..300 {
        if let Some(vmi) = vmis.get_opt(name).await.expect("VMI") {
            if vmi.data.pointer("/status/phase") == Some(&Value::from(phase)) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{namespace}/{name} never reached {phase}");
}

/// The VMI's `Synchronized` condition once it says the quota refused its pod.
async fn quota_refused_pod(cluster: &Cluster, namespace: &str, name: &str) -> Value {
    let vmis = instances(cluster, namespace);
    for _ in 0..300 {
        if let Some(vmi) = vmis.get_opt(name).await.expect("VMI") {
            let conditions = vmi.data.pointer("/status/conditions").cloned();
            let synchronized = conditions
                .and_then(|conditions| conditions.as_array().cloned())
                .into_iter()
                .flatten()
                .find(|condition| condition["type"] == "Synchronized");
            if let Some(condition) = synchronized.filter(|condition| {
                condition["message"]
                    .as_str()
                    .is_some_and(|message| message.contains("exceeded quota"))
            }) {
                return condition;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the quota never refused the pod of {namespace}/{name}");
}

/// The messages of the namespace's `FailedCreate` events, once there is one.
async fn refusal_events(cluster: &Cluster, namespace: &str) -> Vec<String> {
    let resource = api_resource("", "v1", "Event", "events");
    let event_api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), namespace, &resource);
    for _ in 0..300 {
        let failed: Vec<String> = event_api
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|event| event.data["reason"] == "FailedCreate")
            .filter_map(|event| event.data["message"].as_str().map(str::to_owned))
            .collect();
        if !failed.is_empty() {
            return failed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no FailedCreate event in {namespace}");
}

#[tokio::test]
async fn apply_creates_the_mirror_and_updates_it_when_the_limits_change() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    let cluster = simulated(&sim);
    let team = namespace("team-a");
    ensure(&cluster, &team, "p").await.expect("namespace");
    apply(&cluster, &team, "p", &one_vm()).await.expect("apply");
    let created = quota(&cluster, "team-a").await;
    assert_eq!(spec_hard(&created), hard(&one_vm()));
    assert_eq!(
        spec_hard(&created),
        BTreeMap::from([
            (
                "count/virtualmachines.kubevirt.io".to_owned(),
                "1".to_owned()
            ),
            ("requests.cpu".to_owned(), "206m".to_owned()),
            ("requests.memory".to_owned(), "2383Mi".to_owned()),
            ("requests.storage".to_owned(), "21672Mi".to_owned()),
        ])
    );
    let labels = created.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "wukong");
    assert_eq!(labels["wukong.io/project"], "p");

    let larger = Amounts {
        vcpus: 8,
        memory_mib: 16384,
        disk_gib: 100,
        vm_count: 4,
        ..Amounts::default()
    };
    apply(&cluster, &team, "p", &larger).await.expect("update");
    let updated = quota(&cluster, "team-a").await;
    assert_eq!(spec_hard(&updated), hard(&larger));
    assert_ne!(spec_hard(&updated), spec_hard(&created));
    assert_eq!(
        updated.metadata.uid, created.metadata.uid,
        "updated in place"
    );
    let all = quotas(&cluster, "team-a")
        .list(&ListParams::default())
        .await;
    assert_eq!(all.expect("list").items.len(), 1);
}

#[tokio::test]
async fn the_simulated_quota_admission_takes_a_vm_sized_exactly_to_the_mirror() {
    let sim = SimCluster::start_with(None, fast()).await.expect("sim");
    exact_fit(&simulated(&sim)).await;
}

/// The same on a real API server: the stand-in creates each launcher pod as a real Pod,
/// which the real ResourceQuota admission judges.
#[tokio::test]
async fn the_real_quota_admission_takes_a_vm_sized_exactly_to_the_mirror() {
    let plane = crate::controlplane::harness::ControlPlane::start().await;
    let cluster = plane.admin().await;
    let _kubevirt = StandIn::start(cluster.client.clone(), Duration::from_millis(50))
        .await
        .expect("the KubeVirt stand-in");
    exact_fit(&cluster).await;
}

/// Under the mirror of room for one VM of 2 vCPUs and 2048 MiB: that VM runs and its launcher
/// pod is counted, a second VM is refused by the object count, and in another project a VM
/// of one MiB more gets no launcher pod until that project's quota grows.
async fn exact_fit(cluster: &Cluster) {
    for name in ["team-a", "team-b"] {
        ensure(cluster, &namespace(name), "p")
            .await
            .expect("namespace");
        apply(cluster, &namespace(name), "p", &one_vm())
            .await
            .expect("mirror");
        quota_synced(cluster, name).await;
    }

    create(cluster, &vm("exact", 2, 2048), &namespace("team-a"), "p")
        .await
        .expect("a VM sized to the quota");
    wait_for_phase(cluster, "team-a", "exact", "Running").await;
    // The launcher pod's requests, as KubeVirt makes them, are what the quota counts:
    // 2048Mi + 4Mi page tables + 296Mi + 36M of helper containers, and 200m + 6m.
    let mut used = BTreeMap::new();
    for _ in 0..300 {
        used = amounts(&quota(cluster, "team-a").await, "/status/used");
        if used.get("requests.cpu").is_some_and(|cpu| cpu != "0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(used["requests.cpu"], "206m");
    assert_eq!(used["requests.memory"], "2498056448");
    assert_eq!(used["count/virtualmachines.kubevirt.io"], "1");

    match create(cluster, &vm("second", 1, 512), &namespace("team-a"), "p").await {
        Err(AppError::QuotaExceeded { message }) => {
            assert_eq!(message, "VMs: 1 requested, 0 of 1 free in project team-a");
        }
        other => panic!("expected the cluster's quota refusal, got {other:?}"),
    }

    create(cluster, &vm("larger", 2, 2049), &namespace("team-b"), "p")
        .await
        .expect("the VM object is within the count");
    let condition = quota_refused_pod(cluster, "team-b", "larger").await;
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "FailedCreate");
    let message = condition["message"].as_str().expect("message");
    assert!(
        message.starts_with("failed to create virtual machine pod: pods \"virt-launcher-larger-"),
        "{message}"
    );
    assert!(
        message.ends_with(
            "is forbidden: exceeded quota: wukong-quota, requested: requests.memory=2499107073, \
             used: requests.memory=0, limited: requests.memory=2383Mi"
        ),
        "{message}"
    );
    assert_eq!(
        quota_refusal(message, "project team-b").as_deref(),
        Some("memory: 2383.34 MiB requested, 2383 of 2383 MiB free in project team-b")
    );
    // The event is posted after the condition is written: wait for it.
    let failed = refusal_events(cluster, "team-b").await;
    assert!(
        failed.iter().any(|event| event
            .starts_with("Error creating pod: pods \"virt-launcher-larger-")
            && event.contains("exceeded quota: wukong-quota")),
        "{failed:?}"
    );
    let vmi = instances(cluster, "team-b")
        .get("larger")
        .await
        .expect("VMI");
    assert_eq!(vmi.data["status"]["phase"], "Pending");

    // The VM page tells the refusal in Wukong's words.
    let larger = VmRef {
        namespace: namespace("team-b"),
        name: VmName::parse("larger").expect("name"),
    };
    let shown = events(cluster, &larger, &[]).await.expect("events");
    assert!(
        shown.iter().any(|event| event.reason == "FailedCreate"
            && event.message
                == "The cluster's quota has no room to start this VM: memory: 2383.34 MiB \
                    requested, 2383 of 2383 MiB free in project team-b (the cluster counts each \
                    VM with KubeVirt's overhead)."),
        "{shown:?}"
    );

    // The VMI controller keeps trying: once the project's quota grows, the pod is made.
    let grown = Amounts {
        memory_mib: 4096,
        ..one_vm()
    };
    apply(cluster, &namespace("team-b"), "p", &grown)
        .await
        .expect("a larger mirror");
    wait_for_phase(cluster, "team-b", "larger", "Running").await;
}
