//! The built-in simulated cluster against the real API server: the same requests go to
//! both, and both must answer the same way wherever Wukong depends on the answer.

use super::harness::ControlPlane;
use crate::support::{api_resource, simulated};
use futures_util::TryStreamExt as _;
use kube::{
    api::{
        Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
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
    Answers {
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

#[tokio::test]
async fn the_simulator_answers_as_the_real_api_server_does() {
    let plane = ControlPlane::start().await;
    let real = plane.admin().await;
    plane.kubectl(&["create", "namespace", "conformance"]);
    let real_answers = ask(&real.client, "conformance").await;
    let sim = SimCluster::start_with(None, Default::default())
        .await
        .expect("sim");
    let simulated = simulated(&sim);
    let namespaces: Api<DynamicObject> = Api::all_with(
        simulated.client.clone(),
        &api_resource("", "v1", "Namespace", "namespaces"),
    );
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "conformance"}}))
            .expect("namespace"),
        )
        .await
        .expect("namespace");
    let simulated_answers = ask(&simulated.client, "conformance").await;
    assert_eq!(simulated_answers, real_answers);
}
