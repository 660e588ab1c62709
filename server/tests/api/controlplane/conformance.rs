//! The built-in simulated cluster against the real API server: the same requests go to
//! both, and both must answer the same way wherever Wukong depends on the answer.

use super::harness::ControlPlane;
use crate::support::{api_resource, simulated};
use futures_util::TryStreamExt as _;
use kube::{
    api::{
        Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
        WatchParams,
    },
    Client,
};
use serde_json::{json, Value};
use server::simcluster::SimCluster;
use std::time::Duration;

fn vms(client: &Client, namespace: &str) -> Api<DynamicObject> {
    let resource = api_resource("kubevirt.io", "v1", "VirtualMachine", "virtualmachines");
    Api::namespaced_with(client.clone(), namespace, &resource)
}

fn vm(name: &str, extra_spec: Value) -> DynamicObject {
    let mut spec = json!({"runStrategy": "Halted", "template": {"spec": {"domain": {
        "devices": {}, "memory": {"guest": "128Mi"}}}}});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(
        json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "labels": {"app": "web"}}, "spec": spec}),
    )
    .expect("VM")
}

/// What a cluster answered to each check, to compare between the two.
#[derive(Debug, PartialEq)]
struct Answers {
    unknown_field_kept: bool,
    strict_refusal: (u16, String, String),
    missing: (u16, String, String),
    missing_namespace: (u16, String),
    terminating_kept: bool,
    gone_after_finalizer: bool,
    leaving_the_selector: Vec<String>,
    unknown_event_field: (u16, String, String),
    unknown_vm_field: (u16, String, String),
    stored_secret: Value,
    events_selected: usize,
}

/// Creates `object`, given as JSON, with `api`.
pub(super) async fn create_json(api: &Api<DynamicObject>, object: Value) -> DynamicObject {
    let object = serde_json::from_value(object).expect("an object");
    api.create(&PostParams::default(), &object)
        .await
        .expect("create")
}

fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> Box<kube::core::Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A create with `fieldValidation=Strict`, which kube's `PostParams` cannot ask for.
async fn create_strict(
    client: &Client,
    namespace: &str,
    object: &DynamicObject,
) -> kube::Result<Value> {
    let request = http::Request::post(format!(
        "/apis/kubevirt.io/v1/namespaces/{namespace}/virtualmachines?fieldValidation=Strict"
    ))
    .header("content-type", "application/json")
    .body(serde_json::to_vec(object).expect("JSON"))
    .expect("request");
    client.request(request).await
}

async fn ask(client: &Client, namespace: &str) -> Answers {
    let api = vms(client, namespace);
    // Fields the schema does not declare are pruned, not refused...
    let created = api
        .create(
            &PostParams::default(),
            &vm("pruned", json!({"unknownField": 1})),
        )
        .await
        .expect("create with an unknown field");
    let unknown_field_kept = created.data["spec"].get("unknownField").is_some();
    // ...unless the client asks for strict validation.
    let strict = api_error(
        create_strict(client, namespace, &vm("strict", json!({"unknownField": 1}))).await,
    );
    let missing = api_error(api.get("nope").await);
    let elsewhere = vms(client, "ghost-namespace");
    let missing_namespace = api_error(
        elsewhere
            .create(&PostParams::default(), &vm("lost", json!({})))
            .await,
    );

    // A delete of an object with a finalizer leaves it Terminating until the finalizer goes.
    let mut held = vm("held", json!({}));
    held.metadata.finalizers = Some(vec!["wukong.test/hold".to_owned()]);
    api.create(&PostParams::default(), &held)
        .await
        .expect("create held");
    api.delete("held", &DeleteParams::default())
        .await
        .expect("delete held");
    let terminating = api.get("held").await.expect("still there");
    let terminating_kept = terminating.metadata.deletion_timestamp.is_some();
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release");
    let mut gone_after_finalizer = false;
    for _ in 0..100 {
        if api.get_opt("held").await.expect("get").is_none() {
            gone_after_finalizer = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An object that stops matching a watch's label selector is DELETED for that watch.
    let version = api
        .list_metadata(&Default::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("resourceVersion");
    let stream = api
        .watch(&WatchParams::default().labels("app=web"), &version)
        .await
        .expect("watch");
    api.patch(
        "pruned",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await
    .expect("relabel");
    let mut events = Box::pin(stream);
    let mut leaving_the_selector = Vec::new();
    while let Ok(Ok(Some(event))) =
        tokio::time::timeout(Duration::from_secs(3), events.try_next()).await
    {
        let (kind, name) = match event {
            WatchEvent::Added(o) => ("ADDED", o.metadata.name),
            WatchEvent::Modified(o) => ("MODIFIED", o.metadata.name),
            WatchEvent::Deleted(o) => ("DELETED", o.metadata.name),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        };
        let name = name.unwrap_or_default();
        if name == "pruned" {
            leaving_the_selector.push(kind.to_owned());
            break;
        }
    }
    // Field selectors: an Event's own fields, and what neither kind offers.
    let events: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &api_resource("", "v1", "Event", "events"),
    );
    for (name, reason) in [("one", "Tested"), ("two", "Other")] {
        let event = json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("pruned.{name}")},
            "involvedObject": {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                "name": "pruned", "namespace": namespace},
            "reason": reason, "message": "checked", "type": "Normal",
            "source": {"component": "conformance"}, "count": 1});
        create_json(&events, event).await;
    }
    let selected = events
        .list(&ListParams::default().fields(
            "involvedObject.kind=VirtualMachine,involvedObject.name=pruned,reason=Tested,source=conformance",
        ))
        .await
        .expect("list Events");
    let unknown_event_field = api_error(
        events
            .list(&ListParams::default().fields("involvedObject.color=blue"))
            .await,
    );
    let unknown_vm_field = api_error(
        api.list(&ListParams::default().fields("spec.running=true"))
            .await,
    );
    // A Secret's stringData is stored base64-encoded in data.
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &api_resource("", "v1", "Secret", "secrets"),
    );
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "user-data"},
        "stringData": {"userdata": "#cloud-config\n"}});
    create_json(&secrets, secret).await;
    let stored = secrets.get("user-data").await.expect("Secret");
    let stored_secret = json!({"data": stored.data["data"], "type": stored.data["type"],
        "stringData": stored.data.get("stringData")});
    Answers {
        events_selected: selected.items.len(),
        unknown_event_field: (
            unknown_event_field.code,
            unknown_event_field.reason.clone(),
            unknown_event_field.message.clone(),
        ),
        unknown_vm_field: (
            unknown_vm_field.code,
            unknown_vm_field.reason.clone(),
            unknown_vm_field.message.clone(),
        ),
        stored_secret,
        unknown_field_kept,
        strict_refusal: (strict.code, strict.reason.clone(), strict.message.clone()),
        missing: (
            missing.code,
            missing.reason.clone(),
            missing.message.clone(),
        ),
        missing_namespace: (missing_namespace.code, missing_namespace.message.clone()),
        terminating_kept,
        gone_after_finalizer,
        leaving_the_selector,
    }
}

/// A built-in simulated cluster (its steps 50 ms) with the namespace `namespace`.
async fn simulator_with_namespace(namespace: &str) -> (SimCluster, app::cluster::Cluster) {
    let options = server::simcluster::SimOptions {
        transition_delay: Duration::from_millis(50),
        ..Default::default()
    };
    let sim = SimCluster::start_with(None, options).await.expect("sim");
    let cluster = simulated(&sim);
    let namespaces: Api<DynamicObject> = Api::all_with(
        cluster.client.clone(),
        &api_resource("", "v1", "Namespace", "namespaces"),
    );
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": namespace}}))
            .expect("namespace"),
        )
        .await
        .expect("namespace");
    (sim, cluster)
}

#[tokio::test]
async fn the_simulator_answers_as_the_real_api_server_does() {
    let plane = ControlPlane::start().await;
    let real = plane.admin().await;
    plane.kubectl(&["create", "namespace", "conformance"]);
    let real_answers = ask(&real.client, "conformance").await;
    let (_sim, simulated) = simulator_with_namespace("conformance").await;
    let simulated_answers = ask(&simulated.client, "conformance").await;
    assert_eq!(simulated_answers, real_answers);
}

/// virt-api's answer to one lifecycle call: the call's path, then status code (200 for any
/// success), reason and message (empty for a success).
type Answer = (String, u16, String, String);

/// `PUT /apis/subresources.kubevirt.io/v1/namespaces/{namespace}/{path}` with `body`.
pub(super) async fn act(
    client: &Client,
    namespace: &str,
    path: &str,
    body: Value,
) -> (u16, String, String) {
    let request = http::Request::put(format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/{namespace}/{path}"
    ))
    .header("content-type", "application/json")
    .body(serde_json::to_vec(&body).expect("JSON"))
    .expect("request");
    match client.request_text(request).await {
        Ok(_) => (200, String::new(), String::new()),
        Err(kube::Error::Api(status)) => (status.code, status.reason, status.message),
        Err(other) => panic!("{path}: {other}"),
    }
}

/// Waits until the VM `name` is `printable` (up to 60 s).
pub(super) async fn settle(api: &Api<DynamicObject>, name: &str, printable: &str) {
    for _ in 0..600 {
        let vm = api.get(name).await.expect("VM");
        if vm.data["status"]["printableStatus"] == printable {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} did not become {printable} within 60 s");
}

/// A VM with `strategy`, sized `cores`, booting a disk imported from `url` when given.
fn strategy_vm(name: &str, strategy: &str, cores: u32, url: Option<&str>) -> DynamicObject {
    let mut vm = vm(name, json!({"runStrategy": strategy}));
    vm.data["spec"]["template"]["spec"]["domain"]["cpu"] = json!({"cores": cores});
    if let Some(url) = url {
        let disk = format!("{name}-root");
        vm.data["spec"]["dataVolumeTemplates"] = json!([{"metadata": {"name": disk},
            "spec": {"source": {"http": {"url": url}},
                "storage": {"resources": {"requests": {"storage": "1Gi"}}}}}]);
        vm.data["spec"]["template"]["spec"]["domain"]["devices"] =
            json!({"disks": [{"name": "rootdisk", "disk": {"bus": "virtio"}}]});
        vm.data["spec"]["template"]["spec"]["volumes"] =
            json!([{"name": "rootdisk", "dataVolume": {"name": disk}}]);
    }
    vm
}

/// Every refusal of virt-api's lifecycle calls that a settled VM can meet, by run strategy
/// (pkg/virt-api/rest/lifecycle.go), and the calls that succeed, in `namespace`.
async fn ask_virt_api(client: &Client, namespace: &str) -> Vec<Answer> {
    let api = vms(client, namespace);
    let vmis = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        namespace,
        &api_resource(
            "kubevirt.io",
            "v1",
            "VirtualMachineInstance",
            "virtualmachineinstances",
        ),
    );
    let missing = "https://images.example.test/missing-notfound.qcow2";
    let fleet = [
        strategy_vm("halted", "Halted", 1, None),
        strategy_vm("manual", "Manual", 1, None),
        strategy_vm("rerun", "RerunOnFailure", 1, None),
        strategy_vm("once", "Once", 1, None),
        strategy_vm("huge", "Always", 64, None),
        strategy_vm("blocked", "Always", 1, Some(missing)),
        strategy_vm("waiting", "Manual", 1, Some(missing)),
    ];
    for vm in &fleet {
        api.create(&PostParams::default(), vm)
            .await
            .expect("create");
    }
    for (name, printable) in [
        ("halted", "Stopped"),
        ("manual", "Stopped"),
        ("rerun", "Running"),
        ("once", "Running"),
        ("huge", "ErrorUnschedulable"),
        ("blocked", "DataVolumeError"),
        ("waiting", "DataVolumeError"),
    ] {
        settle(&api, name, printable).await;
    }
    let mut answers = Vec::new();
    for (path, body, _, _) in VIRT_API_CALLS {
        let body = serde_json::from_str(body).expect("a JSON body");
        let (code, reason, message) = act(client, namespace, path, body).await;
        answers.push((path.to_string(), code, reason, message));
    }
    // A Once VM whose guest shut down keeps its final instance; a start is still refused.
    vmis.patch(
        "once",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
    )
    .await
    .expect("guest shutdown");
    settle(&api, "once", "Stopped").await;
    let (code, reason, message) = act(client, namespace, ONCE_AFTER_SHUTDOWN, json!({})).await;
    answers.push((ONCE_AFTER_SHUTDOWN.to_owned(), code, reason, message));
    let blocked = api.get("blocked").await.expect("VM");
    let strategy = blocked.data["spec"]["runStrategy"]
        .as_str()
        .unwrap_or_default();
    answers.push((
        RUN_STRATEGY.to_owned(),
        0,
        String::new(),
        strategy.to_owned(),
    ));
    answers
}

/// The calls, in order, with their bodies, and virt-api's answers: the status code and,
/// for a refusal, what follows `Operation cannot be fulfilled on <kind> "<name>": ` in a
/// conflict, or the whole message otherwise (a not-found says nothing more).
const VIRT_API_CALLS: [(&str, &str, u16, &str); 25] = [
    ("virtualmachines/nope/start", "{}", 404, ""),
    ("virtualmachines/nope/stop", "{}", 404, ""),
    ("virtualmachines/nope/restart", "{}", 404, ""),
    ("virtualmachineinstances/nope/pause", "{}", 404, ""),
    ("virtualmachineinstances/nope/unpause", "{}", 404, ""),
    (
        "virtualmachines/rerun/restart",
        r#"{"gracePeriodSeconds": 5}"#,
        400,
        "For force restart, only gracePeriod=0 is supported for now",
    ),
    (
        "virtualmachines/rerun/restart",
        r#"{"gracePeriodSeconds": -1}"#,
        400,
        "gracePeriod has to be greater or equal to 0",
    ),
    (
        "virtualmachines/halted/stop",
        "{}",
        409,
        "VM is not running",
    ),
    (
        "virtualmachines/halted/restart",
        "{}",
        409,
        "RunStategy Halted does not support manual restart requests",
    ),
    ("virtualmachineinstances/halted/pause", "{}", 404, ""),
    (
        "virtualmachines/manual/stop",
        "{}",
        409,
        "VM is not running",
    ),
    (
        "virtualmachines/manual/restart",
        "{}",
        409,
        "VM is not running: Halted",
    ),
    (
        "virtualmachines/rerun/start",
        "{}",
        409,
        "VM is already running",
    ),
    (
        "virtualmachines/once/start",
        "{}",
        409,
        "VM is already running",
    ),
    (
        "virtualmachines/once/restart",
        "{}",
        409,
        "RunStategy Once does not support manual restart requests",
    ),
    (
        "virtualmachines/blocked/start",
        "{}",
        409,
        "Always does not support manual start requests",
    ),
    (
        "virtualmachines/blocked/restart",
        "{}",
        409,
        "VM is not running: Halted",
    ),
    // Pausing says "VM", unpausing "VMI".
    (
        "virtualmachineinstances/huge/pause",
        "{}",
        409,
        "VM is not running",
    ),
    (
        "virtualmachineinstances/huge/unpause",
        "{}",
        409,
        "VMI is not running",
    ),
    (
        "virtualmachineinstances/rerun/unpause",
        "{}",
        409,
        "VMI is not paused",
    ),
    ("virtualmachineinstances/rerun/pause", "{}", 200, ""),
    (
        "virtualmachineinstances/rerun/pause",
        "{}",
        409,
        "VMI is already paused",
    ),
    ("virtualmachines/waiting/start", "{}", 200, ""),
    (
        "virtualmachines/waiting/start",
        "{}",
        500,
        "Internal error occurred: unable to complete request: stop/start already underway",
    ),
    ("virtualmachines/blocked/stop", "{}", 200, ""),
];
const ONCE_AFTER_SHUTDOWN: &str = "virtualmachines/once/start";
const RUN_STRATEGY: &str = "blocked: runStrategy after the stop";

/// virt-api's answers, word for word (pkg/virt-api/rest/lifecycle.go and subresource.go;
/// conflicts and not-found as `errors.NewConflict`/`NewNotFound` phrase them).
fn expected_virt_api_answers() -> Vec<Answer> {
    let answer = |path: &str, code: u16, said: &str| {
        let mut parts = path.split('/');
        let kind = parts.next().unwrap_or_default().trim_end_matches('s');
        let name = parts.next().unwrap_or_default();
        let (reason, message) = match code {
            200 => ("", String::new()),
            400 => ("BadRequest", said.to_owned()),
            404 => (
                "NotFound",
                format!("{kind}.kubevirt.io \"{name}\" not found"),
            ),
            409 => (
                "Conflict",
                format!("Operation cannot be fulfilled on {kind}.kubevirt.io \"{name}\": {said}"),
            ),
            _ => ("InternalError", said.to_owned()),
        };
        (path.to_owned(), code, reason.to_owned(), message)
    };
    let mut expected: Vec<Answer> = VIRT_API_CALLS
        .iter()
        .map(|(path, _, code, said)| answer(path, *code, said))
        .collect();
    expected.push(answer(
        ONCE_AFTER_SHUTDOWN,
        409,
        "Once does not support manual start requests",
    ));
    expected.push((
        RUN_STRATEGY.to_owned(),
        0,
        String::new(),
        "Halted".to_owned(),
    ));
    expected
}

/// The stand-in on the real API server (its answers proxied by the aggregator, as virt-api's
/// are) and the built-in simulator answer every lifecycle call alike, and as KubeVirt does.
#[tokio::test]
async fn virt_api_answers_alike_on_the_simulator_and_through_the_real_aggregator() {
    let plane = ControlPlane::start().await;
    let real = plane.admin().await;
    let _kubevirt =
        server::simcluster::standin::StandIn::start(real.client.clone(), Duration::from_millis(50))
            .await
            .expect("the KubeVirt stand-in");
    plane.kubectl(&["create", "namespace", "strategies"]);
    let through_the_api_server = ask_virt_api(&real.client, "strategies").await;
    let (_sim, simulated) = simulator_with_namespace("strategies").await;
    let built_in = ask_virt_api(&simulated.client, "strategies").await;
    assert_eq!(built_in, expected_virt_api_answers());
    assert_eq!(through_the_api_server, built_in);
}
