//! `deploy/rbac.yaml` on a real API server: Wukong's whole VM flow runs as its service
//! account with exactly those rules, and without any one of them a named step of the flow
//! fails with a message that says which permission is missing.

use super::harness::{connect, ControlPlane};
use app::{
    authz::server::ProjectRow,
    cluster::Cluster,
    console::types::ConsoleKind,
    quotas::{server::mirror, types::Amounts},
    realtime::server::Live,
    snapshots::{
        server::{body, cluster as snapshot_cluster},
        types::CloneSource,
    },
    vms::{
        names::{Namespace, SnapshotName, VmName, VmRef},
        new_vm::{ImageSource, NewVm, RunStrategy},
        server::{
            activity::{events, imports},
            cluster::{act, create, delete},
            ownership::from_cluster,
        },
        types::{DiskDisposal, VmAction},
    },
};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{json, Value};
use server::{http::console::upstream::dial, simcluster::standin::StandIn};
use std::{path::Path, time::Duration};

/// The steps of the flow, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Create,
    Watch,
    /// Take a snapshot of the stopped VM, restore it, clone it, delete the snapshot.
    Snapshot,
    Start,
    /// The VNC screen and the serial console.
    Console,
    Pause,
    /// What the VM page reads beyond the live stores: imports and events.
    Activity,
    /// The project quota's mirror in the namespace.
    Quota,
    DeleteKeepingDisks,
}

fn vm(name: &str) -> NewVm {
    NewVm {
        name: VmName::parse(name).expect("name"),
        project: "p".to_owned(),
        cpus: 1,
        memory_mib: 512,
        image: ImageSource::Url("https://images.example.test/disk.qcow2".to_owned()),
        disk_gib: 5,
        ssh_key: None,
        // Longer than KubeVirt takes inline: the flow makes a Secret too.
        user_data: Some(format!(
            "#cloud-config\nwrite_files:\n{}",
            "- path: /etc/motd\n".repeat(150)
        )),
        run_strategy: RunStrategy::Halted,
    }
}

async fn wait_for_status(admin: &Cluster, target: &VmRef, status: &str) {
    let vms: Api<DynamicObject> = Api::namespaced_with(
        admin.client.clone(),
        target.namespace.as_str(),
        &crate::support::api_resource("kubevirt.io", "v1", "VirtualMachine", "virtualmachines"),
    );
    for _ in 0..300 {
        let vm = vms.get(target.name.as_str()).await.expect("VM");
        if vm.data.pointer("/status/printableStatus") == Some(&json!(status)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{target} never became {status}");
}

/// Wukong's flow as `wukong` sees the cluster, in namespace `namespace`; the first step that
/// failed and the message a user would read.
async fn flow(wukong: &Cluster, admin: &Cluster, namespace: &str) -> Result<(), (Step, String)> {
    let failed = |step| move |error: app::AppError| (step, error.to_string());
    let target = VmRef {
        namespace: Namespace::parse(namespace).expect("namespace"),
        name: VmName::parse("db-1").expect("name"),
    };
    create(wukong, &vm("db-1"), &target.namespace, "p")
        .await
        .map_err(failed(Step::Create))?;
    let live = Live::start(&wukong.client);
    let watched = live.ready(Duration::from_secs(5)).await;
    let failures = live.watch_failures();
    live.stop();
    if !watched || !failures.is_empty() {
        return Err((Step::Watch, failures.join(" ")));
    }
    snapshots(wukong, &target)
        .await
        .map_err(failed(Step::Snapshot))?;
    let ours = from_cluster(wukong, &target, "p")
        .await
        .map_err(failed(Step::Create))?;
    act(wukong, &ours, VmAction::Start)
        .await
        .map_err(failed(Step::Start))?;
    wait_for_status(admin, &target, "Running").await;
    for kind in ConsoleKind::ALL {
        dial(&wukong.client, &target, kind, false)
            .await
            .map_err(|refused| (Step::Console, refused.to_string()))?;
    }
    act(wukong, &ours, VmAction::Pause)
        .await
        .map_err(failed(Step::Pause))?;
    wait_for_status(admin, &target, "Paused").await;
    let disks = ["db-1-root".to_owned()];
    imports(wukong, &target, &disks)
        .await
        .map_err(failed(Step::Activity))?;
    events(wukong, &target, &disks)
        .await
        .map_err(failed(Step::Activity))?;
    let limits = Amounts {
        vcpus: 4,
        memory_mib: 4096,
        disk_gib: 20,
        vm_count: 2,
        ..Amounts::default()
    };
    mirror::apply(wukong, &target.namespace, "p", &limits)
        .await
        .map_err(failed(Step::Quota))?;
    delete(wukong, &ours, DiskDisposal::Keep)
        .await
        .map_err(failed(Step::DeleteKeepingDisks))
}

/// The snapshot flow on the stopped VM `target` as `wukong` sees the cluster.
async fn snapshots(wukong: &Cluster, target: &VmRef) -> Result<(), app::AppError> {
    let project = ProjectRow {
        id: "p".to_owned(),
        slug: "p".to_owned(),
        name: "p".to_owned(),
        description: String::new(),
        namespace: target.namespace.to_string(),
        is_personal: false,
    };
    let name = SnapshotName::parse("db-1-snap").expect("name");
    let object = body::snapshot(&name, &target.name, "", &target.namespace, "p").expect("snapshot");
    snapshot_cluster::create(wukong, &target.namespace, "snapshot", &object).await?;
    let mut taken = snapshot_cluster::find(wukong, &project, name.as_str())
        .await?
        .1;
    for _ in 0..300 {
        if taken.status.as_ref().and_then(|status| status.ready_to_use) == Some(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        taken = snapshot_cluster::find(wukong, &project, name.as_str())
            .await?
            .1;
    }
    let namespace = target.namespace.as_str();
    assert!(snapshot_cluster::content(wukong, namespace, &taken)
        .await?
        .is_some());
    snapshot_cluster::content_sizes(wukong, namespace).await?;
    let restore = body::restore("db-1-restore", &target.name, &name, &target.namespace, "p")
        .expect("restore");
    snapshot_cluster::create(wukong, &target.namespace, "restore", &restore).await?;
    let copy = VmName::parse("db-1-copy").expect("name");
    let source = CloneSource::Snapshot(name.to_string());
    let clone = body::clone("db-1-clone", &source, &copy, &target.namespace, "p").expect("clone");
    snapshot_cluster::create(wukong, &target.namespace, "clone", &clone).await?;
    snapshot_cluster::delete(wukong, namespace, &taken).await
}

fn cluster_roles(admin: &Cluster) -> Api<DynamicObject> {
    let resource = ApiResource {
        group: "rbac.authorization.k8s.io".to_owned(),
        version: "v1".to_owned(),
        api_version: "rbac.authorization.k8s.io/v1".to_owned(),
        kind: "ClusterRole".to_owned(),
        plural: "clusterroles".to_owned(),
    };
    Api::all_with(admin.client.clone(), &resource)
}

/// Whether the API server's authorizer lets Wukong's account `verb` `resource`: the way to
/// know a role change has reached it.
async fn allowed(admin: &Cluster, group: &str, resource: &str, verb: &str) -> bool {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "system:serviceaccount:wukong:wukong",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:wukong", "system:authenticated"],
            "resourceAttributes": {"group": group, "resource": resource,
                "subresource": subresource, "verb": verb, "namespace": "lp"}}});
    let request = http::Request::post("/apis/authorization.k8s.io/v1/subjectaccessreviews")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&review).expect("JSON"))
        .expect("request");
    let answer: Value = admin.client.request(request).await.expect("review");
    answer["status"]["allowed"] == json!(true)
}

/// Gives the role `rules` and waits until the authorizer agrees on the first verb of
/// `probe` (a rule), allowed or not.
async fn set_rules(admin: &Cluster, rules: &[Value], probe: &Value, expect_allowed: bool) {
    cluster_roles(admin)
        .patch(
            "wukong",
            &PatchParams::default(),
            &Patch::Merge(json!({ "rules": rules })),
        )
        .await
        .expect("change the role");
    let group = probe["apiGroups"][0].as_str().expect("group");
    let resource = probe["resources"][0].as_str().expect("resource");
    let verb = probe["verbs"][0].as_str().expect("verb");
    for _ in 0..100 {
        if allowed(admin, group, resource, verb).await == expect_allowed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the authorizer never saw the role change for {resource}");
}

#[tokio::test]
async fn wukong_needs_every_rule_of_its_role_and_nothing_more() {
    let plane = ControlPlane::start().await;
    let admin = plane.admin().await;
    let _kubevirt = StandIn::start(admin.client.clone(), Duration::from_millis(50))
        .await
        .expect("the KubeVirt stand-in");
    let rbac = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/rbac.yaml");
    plane.kubectl(&["apply", "-f", rbac.to_str().expect("path")]);
    // The Deployment, volume claim and Service are valid for the API server and meet the
    // "restricted" Pod Security Standard the namespace enforces: no warning.
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/wukong.yaml");
    let output = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&plane.kubeconfig)
        .args(["apply", "--dry-run=server", "-f"])
        .arg(&manifests)
        .output()
        .expect("kubectl");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.is_empty(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).lines().count(),
        3,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let role: Value =
        serde_json::from_str(&plane.kubectl(&["get", "clusterrole", "wukong", "-o", "json"]))
            .expect("role");
    let rules = role["rules"].as_array().expect("rules").clone();
    let token = plane
        .service_account_token(&admin, "wukong", "wukong")
        .await;
    let wukong = connect(&plane.kubeconfig_for("wukong", &token)).await;

    assert_eq!(
        flow(&wukong, &admin, "lp-all").await,
        Ok(()),
        "with every rule"
    );

    // Each rule, by its first resource: the step that breaks without it, and the
    // permission the message names.
    let expected = [
        (
            "namespaces",
            Step::Create,
            r#"get "namespaces" (core) in namespace lp-0"#,
        ),
        (
            "virtualmachines",
            Step::Create,
            r#"create "virtualmachines" (kubevirt.io) in namespace lp-1"#,
        ),
        (
            "virtualmachineinstances",
            Step::Watch,
            r#"list "virtualmachineinstances" (kubevirt.io) across the cluster"#,
        ),
        (
            "virtualmachines/start",
            Step::Start,
            r#"update "virtualmachines/start" (subresources.kubevirt.io) in namespace lp-3"#,
        ),
        (
            "virtualmachineinstances/pause",
            Step::Pause,
            r#"update "virtualmachineinstances/pause" (subresources.kubevirt.io) in namespace lp-4"#,
        ),
        (
            "virtualmachineinstances/vnc",
            Step::Console,
            r#"get "virtualmachineinstances/vnc" (subresources.kubevirt.io) in namespace lp-5"#,
        ),
        (
            "secrets",
            Step::Create,
            r#"create "secrets" (core) in namespace lp-6"#,
        ),
        (
            "datavolumes",
            Step::Create,
            r#"get "datavolumes" (cdi.kubevirt.io) in namespace lp-7"#,
        ),
        (
            "events",
            Step::Activity,
            r#"list "events" (core) in namespace lp-8"#,
        ),
        (
            "resourcequotas",
            Step::Quota,
            r#"patch "resourcequotas" (core) in namespace lp-9"#,
        ),
        (
            "virtualmachinesnapshots",
            Step::Watch,
            r#"list "virtualmachinesnapshots" (snapshot.kubevirt.io) across the cluster"#,
        ),
        (
            "virtualmachinesnapshotcontents",
            Step::Snapshot,
            r#"get "virtualmachinesnapshotcontents" (snapshot.kubevirt.io) in namespace lp-11"#,
        ),
        (
            "virtualmachinerestores",
            Step::Watch,
            r#"list "virtualmachinerestores" (snapshot.kubevirt.io) across the cluster"#,
        ),
        (
            "virtualmachineclones",
            Step::Watch,
            r#"list "virtualmachineclones" (clone.kubevirt.io) across the cluster"#,
        ),
    ];
    assert_eq!(
        rules.len(),
        expected.len(),
        "a rule without a test: {rules:#?}"
    );
    for (index, (resource, step, permission)) in expected.into_iter().enumerate() {
        let removed = &rules[index];
        assert_eq!(removed["resources"][0], json!(resource));
        let without: Vec<Value> = rules
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .map(|(_, rule)| rule.clone())
            .collect();
        set_rules(&admin, &without, removed, false).await;
        let namespace = format!("lp-{index}");
        match flow(&wukong, &admin, &namespace).await {
            Err((failed, message)) => {
                assert_eq!(failed, step, "without the {resource} rule: {message}");
                assert!(
                    message.contains(&format!(
                        "Wukong's cluster account is not allowed to {permission}."
                    )),
                    "without the {resource} rule: {message}"
                );
            }
            Ok(()) => panic!("the flow needs no {resource} rule"),
        }
        if resource == "secrets" {
            // The VM made before its Secret was refused is gone again: nothing half-made.
            let vms: Api<DynamicObject> = Api::namespaced_with(
                admin.client.clone(),
                &namespace,
                &crate::support::api_resource(
                    "kubevirt.io",
                    "v1",
                    "VirtualMachine",
                    "virtualmachines",
                ),
            );
            assert!(vms.get_opt("db-1").await.expect("get").is_none());
        }
        set_rules(&admin, &rules, removed, true).await;
    }
}
