//! Conformance of the simulated cluster, through kube-rs as Wukong will call it.

use kube::{
    api::{
        Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
        PatchParams, PostParams,
    },
    Client,
};
use serde_json::{json, Value};
use simcluster::{schema, SimCluster};

fn client(sim: &SimCluster) -> Client {
    Client::try_from(sim.client_config()).expect("kube client")
}

pub(crate) fn vm_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kubevirt.io", "v1", "VirtualMachine"),
        "virtualmachines",
    )
}

pub(crate) fn namespaces(client: &Client) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("", "v1", "Namespace"),
        "namespaces",
    );
    Api::all_with(client.clone(), &resource)
}

async fn create_namespace(client: &Client, name: &str) {
    let namespace: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
    }))
    .expect("namespace");
    namespaces(client)
        .create(&PostParams::default(), &namespace)
        .await
        .expect("create namespace");
}

/// A minimal VirtualMachine as KubeVirt's docs show it, with `labels`.
pub(crate) fn vm(name: &str, labels: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "runStrategy": "Halted",
            "template": {
                "metadata": {"labels": {"kubevirt.io/vm": name}},
                "spec": {
                    "domain": {
                        "memory": {"guest": "128Mi"},
                        "devices": {"disks": [{"name": "rootdisk", "disk": {"bus": "virtio"}}]}
                    },
                    "volumes": [{"name": "rootdisk", "containerDisk": {"image": "quay.io/kubevirt/cirros-container-disk-demo"}}]
                }
            }
        }
    }))
    .expect("VM")
}

fn api_status(error: kube::Error) -> kube::core::Status {
    match error {
        kube::Error::Api(status) => *status,
        other => panic!("expected a Status answer, got {other:?}"),
    }
}

/// A simulated cluster started with `options`, a client for it, and namespace `team-a`.
pub(crate) async fn started(options: simcluster::SimOptions) -> (SimCluster, Client) {
    let sim = SimCluster::start_with(None, options).await.expect("start");
    let client = client(&sim);
    create_namespace(&client, "team-a").await;
    (sim, client)
}

/// Asserts that `result` is a `Status` answer with `code` whose reason or message is `text`.
fn assert_refused<T: std::fmt::Debug>(result: kube::Result<T>, code: u16, text: &str) {
    let status = api_status(result.expect_err("a refusal"));
    assert_eq!(status.code, code, "{status:?}");
    assert!(
        status.reason == text || status.message == text,
        "{status:?}"
    );
}

/// Loopback is open to every account on the machine, so the simulated cluster answers only
/// requests with the bearer token of the process that runs it (256 random bits; a new
/// process, a new token: see the `cli` tests): without it, with another one or in another
/// scheme, REST calls, watches, version and unknown paths all get 401 and a `Status`, as from
/// a real API server. The token is a credential, handled as one (LOG-04, OIDC-13).
#[tokio::test]
async fn every_request_needs_the_clusters_bearer_token() {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    let sim = SimCluster::start(None).await.expect("start");
    let token = sim.token().to_owned();
    let decoded = URL_SAFE_NO_PAD.decode(&token).expect("base64url token");
    assert_eq!(decoded.len(), 32, "256 bits");
    create_namespace(&client(&sim), "team-a").await;

    let http = crate::support::sim_http(&sim);
    let paths = [
        ("/version", 200),
        ("/api/v1/namespaces", 200),
        ("/api/v1/namespaces?watch=1", 200),
        (
            "/apis/kubevirt.io/v1/namespaces/team-a/virtualmachines",
            200,
        ),
        ("/nowhere", 404),
    ];
    let refused = [
        None,
        Some("Bearer ".to_owned()),
        Some("Bearer wrong".to_owned()),
        Some(format!("Bearer {}", &token[1..])),
        Some(format!("Bearer {token}x")),
        Some(format!("Basic {token}")),
        Some(token.clone()),
    ];
    for (path, allowed) in paths {
        let url = format!("{}{path}", sim.url());
        for authorization in &refused {
            let mut request = http.get(&url);
            if let Some(value) = authorization {
                request = request.header("Authorization", value);
            }
            let response = request.send().await.expect("an answer");
            assert_eq!(response.status(), 401, "{path} with {authorization:?}");
            let status: Value =
                serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
            assert_eq!(
                (&status["kind"], &status["code"], &status["reason"]),
                (&json!("Status"), &json!(401), &json!("Unauthorized")),
                "{path}"
            );
        }
        let response = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), allowed, "{path} with the token");
    }

    let mut anonymous = sim.client_config();
    anonymous.auth_info = Default::default();
    let anonymous = Client::try_from(anonymous).expect("client");
    assert_refused(
        namespaces(&anonymous).get("team-a").await,
        401,
        "Unauthorized",
    );
}

#[tokio::test]
async fn objects_are_created_read_listed_patched_and_deleted() {
    let sim = SimCluster::start(None).await.expect("start");
    let client = client(&sim);
    create_namespace(&client, "team-a").await;
    let vms: Api<DynamicObject> = Api::namespaced_with(client.clone(), "team-a", &vm_resource());
    let created = vms
        .create(
            &PostParams::default(),
            &vm("demo", json!({"app.kubernetes.io/managed-by": "wukong"})),
        )
        .await
        .expect("create");
    assert_eq!(created.metadata.namespace.as_deref(), Some("team-a"));
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    let read = vms.get("demo").await.expect("get");
    assert_eq!(read.data["spec"]["runStrategy"], "Halted");

    let patched = vms
        .patch(
            "demo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"runStrategy": "Always"}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(patched.data["spec"]["runStrategy"], "Always");
    assert_eq!(patched.metadata.generation, Some(2));
    assert_ne!(
        patched.metadata.resource_version,
        created.metadata.resource_version
    );
    let applied = vms
        .patch(
            "demo",
            &PatchParams::apply("wukong"),
            &Patch::Apply(json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "demo", "annotations": {"note": "x"}}})),
        )
        .await
        .expect("apply patch");
    assert_eq!(
        applied
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("note"))
            .map(String::as_str),
        Some("x")
    );

    vms.delete("demo", &DeleteParams::default())
        .await
        .expect("delete");
    let missing = api_status(vms.get("demo").await.unwrap_err());
    assert_eq!(missing.code, 404);
    assert_eq!(missing.reason, "NotFound");
}

#[tokio::test]
async fn a_duplicate_create_gets_409_already_exists() {
    let sim = SimCluster::start(None).await.expect("start");
    let client = client(&sim);
    create_namespace(&client, "team-a").await;
    let vms: Api<DynamicObject> = Api::namespaced_with(client, "team-a", &vm_resource());
    vms.create(&PostParams::default(), &vm("twice", json!({})))
        .await
        .expect("first");
    assert_refused(
        vms.create(&PostParams::default(), &vm("twice", json!({})))
            .await,
        409,
        "AlreadyExists",
    );
}

#[tokio::test]
async fn label_selectors_and_pages_filter_lists() {
    let sim = SimCluster::start(None).await.expect("start");
    let client = client(&sim);
    create_namespace(&client, "team-a").await;
    create_namespace(&client, "team-b").await;
    for (namespace, name, tier) in [
        ("team-a", "a1", "web"),
        ("team-a", "a2", "db"),
        ("team-b", "b1", "web"),
    ] {
        let vms: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &vm_resource());
        let labels = json!({"app.kubernetes.io/managed-by": "wukong", "tier": tier});
        vms.create(&PostParams::default(), &vm(name, labels))
            .await
            .expect("create");
    }
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &vm_resource());
    let names = |list: kube::core::ObjectList<DynamicObject>| -> Vec<String> {
        list.items
            .into_iter()
            .filter_map(|vm| vm.metadata.name)
            .collect()
    };
    let web = all
        .list(&ListParams::default().labels("tier=web"))
        .await
        .expect("list");
    assert_eq!(names(web), ["a1", "b1"]);
    let not_web = all
        .list(&ListParams::default().labels("tier!=web"))
        .await
        .expect("list");
    assert_eq!(names(not_web), ["a2"]);
    let set = all
        .list(&ListParams::default().labels("tier in (db,cache),app.kubernetes.io/managed-by"))
        .await
        .expect("list");
    assert_eq!(names(set), ["a2"]);
    let team_a: Api<DynamicObject> = Api::namespaced_with(client.clone(), "team-a", &vm_resource());
    assert_eq!(
        names(team_a.list(&ListParams::default()).await.expect("list")),
        ["a1", "a2"]
    );

    let first = all
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    let token = first.metadata.continue_.clone().expect("continue token");
    assert_eq!(names(first), ["a1", "a2"]);
    let second = all
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .expect("page 2");
    assert!(second
        .metadata
        .continue_
        .as_deref()
        .unwrap_or_default()
        .is_empty());
    assert_eq!(names(second), ["b1"]);
}

#[tokio::test]
async fn a_schema_invalid_body_gets_422_naming_the_field_and_unknown_fields_are_pruned() {
    let sim = SimCluster::start(None).await.expect("start");
    let client = client(&sim);
    create_namespace(&client, "team-a").await;
    let vms: Api<DynamicObject> = Api::namespaced_with(client, "team-a", &vm_resource());
    let mut bad = vm("bad", json!({}));
    bad.data["spec"]["template"]["spec"]["domain"]["cpu"] = json!({"cores": "two"});
    let status = api_status(vms.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status
            .message
            .contains("spec.template.spec.domain.cpu.cores"),
        "{}",
        status.message
    );

    // A misspelt field is pruned, as the API server prunes custom resources; strict
    // validation is in `controlplane::conformance`.
    let mut unknown = vm("unknown", json!({}));
    unknown.data["spec"]["runStratgy"] = json!("Always");
    let stored = vms
        .create(&PostParams::default(), &unknown)
        .await
        .expect("created, pruned");
    assert_eq!(stored.data["spec"].get("runStratgy"), None);

    let status = api_status(
        vms.create(&PostParams::default(), &vm("Not_A_Name", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("metadata.name"),
        "{}",
        status.message
    );

    let elsewhere: Api<DynamicObject> =
        Api::namespaced_with(self::client(&sim), "nowhere", &vm_resource());
    let status = api_status(
        elsewhere
            .create(&PostParams::default(), &vm("x", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status.code, status.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("simcluster.json");
    {
        let sim = SimCluster::start(Some(&file)).await.expect("start");
        let client = client(&sim);
        create_namespace(&client, "team-a").await;
        let vms: Api<DynamicObject> = Api::namespaced_with(client, "team-a", &vm_resource());
        vms.create(&PostParams::default(), &vm("kept", json!({})))
            .await
            .expect("create");
    }
    let sim = SimCluster::start(Some(&file)).await.expect("restart");
    let vms: Api<DynamicObject> = Api::namespaced_with(client(&sim), "team-a", &vm_resource());
    assert_eq!(
        vms.get("kept").await.expect("still there").data["spec"]["runStrategy"],
        "Halted"
    );
}

#[test]
fn every_kind_schema_loads_and_the_typical_vm_of_the_kubevirt_docs_validates() {
    let resources = simcluster::resources().expect("schemas");
    let kinds: Vec<&str> = resources.iter().map(|r| r.kind.as_str()).collect();
    for kind in [
        "VirtualMachine",
        "VirtualMachineInstance",
        "VirtualMachineSnapshot",
        "VirtualMachineRestore",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let vm_schema = resources
        .iter()
        .find(|r| r.kind == "VirtualMachine")
        .and_then(|r| r.schema.clone())
        .expect("VM schema");
    let typical = json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": "fedora-web", "namespace": "team-a"},
        "spec": {
            "runStrategy": "Always",
            "dataVolumeTemplates": [{
                "metadata": {"name": "fedora-web-root"},
                "spec": {
                    "source": {"registry": {"url": "docker://quay.io/containerdisks/fedora:latest"}},
                    "storage": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "30Gi"}}}
                }
            }],
            "template": {"spec": {
                "domain": {
                    "cpu": {"sockets": 1, "cores": 2, "threads": 1},
                    "memory": {"guest": "4Gi"},
                    "resources": {"requests": {"memory": "4Gi"}},
                    "devices": {"disks": [{"name": "rootdisk", "bootOrder": 1, "disk": {"bus": "virtio"}}]}
                },
                "volumes": [
                    {"name": "rootdisk", "dataVolume": {"name": "fedora-web-root"}},
                    {"name": "cloudinitdisk", "cloudInitNoCloud": {"userData": "#cloud-config\n"}}
                ]
            }}
        }
    });
    assert_eq!(schema::validate(&vm_schema, &typical), []);
    let mut wrong = typical.clone();
    wrong["spec"]["dataVolumeTemplates"][0]["spec"]["storage"]["accessModes"] =
        json!("ReadWriteOnce");
    let errors = schema::validate(&vm_schema, &wrong);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].field,
        "spec.dataVolumeTemplates[0].spec.storage.accessModes"
    );
}

mod watching {
    use super::{assert_refused, client, create_namespace, started};
    use futures_util::{Stream, StreamExt as _};
    use kube::api::{ApiResource, GroupVersionKind};
    use kube::{
        api::{
            Api, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
        },
        core::ObjectMeta,
    };
    use serde_json::{json, Value};
    use simcluster::{SimCluster, SimOptions};
    use std::time::Duration;

    // Resource quotas have no controller acting on them, so every event is the test's own.
    fn quota_resource() -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "ResourceQuota"),
            "resourcequotas",
        )
    }

    /// A simulated cluster started with `options` and its quotas in namespace `team-a`.
    async fn quotas_with(options: SimOptions) -> (SimCluster, Api<DynamicObject>) {
        let (sim, client) = started(options).await;
        (
            sim,
            Api::namespaced_with(client, "team-a", &quota_resource()),
        )
    }

    async fn merge(quotas: &Api<DynamicObject>, name: &str, patch: Value) {
        quotas
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("patch");
    }

    /// Options that keep the last `history` changes for watches.
    fn keeping(history: usize) -> SimOptions {
        SimOptions {
            history,
            ..SimOptions::default()
        }
    }

    async fn create_all(quotas: &Api<DynamicObject>, names: &[&str]) {
        for name in names {
            quotas
                .create(&PostParams::default(), &quota(name, json!({})))
                .await
                .expect("create");
        }
    }

    fn quota(name: &str, labels: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": name, "labels": labels},
            "spec": {"hard": {"requests.cpu": "4"}}
        }))
        .expect("quota")
    }

    /// (type, name) of the next event, waiting at most 5 s.
    async fn watch_from(
        quotas: &Api<DynamicObject>,
        version: &str,
    ) -> impl Stream<Item = kube::Result<WatchEvent<DynamicObject>>> + Unpin {
        quotas
            .watch(&WatchParams::default().timeout(30), version)
            .await
            .expect("watch")
            .boxed()
    }

    async fn next(
        events: &mut (impl Stream<Item = kube::Result<WatchEvent<DynamicObject>>> + Unpin),
    ) -> (String, String) {
        let event = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("an event within 5 s")
            .expect("stream open")
            .expect("event decodes");
        let name = |meta: &ObjectMeta| meta.name.clone().unwrap_or_default();
        match event {
            WatchEvent::Added(vm) => ("ADDED".to_owned(), name(&vm.metadata)),
            WatchEvent::Modified(vm) => ("MODIFIED".to_owned(), name(&vm.metadata)),
            WatchEvent::Deleted(vm) => ("DELETED".to_owned(), name(&vm.metadata)),
            WatchEvent::Bookmark(bookmark) => {
                ("BOOKMARK".to_owned(), bookmark.metadata.resource_version)
            }
            WatchEvent::Error(error) => ("ERROR".to_owned(), error.code.to_string()),
        }
    }

    fn event(kind: &str, name: &str) -> (String, String) {
        (kind.to_owned(), name.to_owned())
    }

    #[tokio::test]
    async fn a_watch_resumes_from_a_resource_version_then_streams_live_changes() {
        let sim = SimCluster::start(None).await.expect("start");
        let client = client(&sim);
        create_namespace(&client, "team-a").await;
        let quotas: Api<DynamicObject> = Api::namespaced_with(client, "team-a", &quota_resource());
        let first = quotas
            .create(&PostParams::default(), &quota("a", json!({})))
            .await
            .expect("a");
        let from = first.metadata.resource_version.expect("resourceVersion");
        quotas
            .create(&PostParams::default(), &quota("b", json!({})))
            .await
            .expect("b");
        merge(
            &quotas,
            "a",
            json!({"spec": {"hard": {"requests.cpu": "8"}}}),
        )
        .await;
        let mut events = watch_from(&quotas, &from).await;
        assert_eq!(next(&mut events).await, event("ADDED", "b"));
        assert_eq!(next(&mut events).await, event("MODIFIED", "a"));
        quotas
            .create(&PostParams::default(), &quota("c", json!({})))
            .await
            .expect("c");
        assert_eq!(next(&mut events).await, event("ADDED", "c"));
        quotas
            .delete("b", &Default::default())
            .await
            .expect("delete b");
        assert_eq!(next(&mut events).await, event("DELETED", "b"));
    }

    #[tokio::test]
    async fn a_watch_from_an_expired_version_gets_410_gone() {
        let (_sim, quotas) = quotas_with(keeping(3)).await;
        create_all(&quotas, &["v1", "v2", "v3", "v4", "v5"]).await;
        let mut events = quotas
            .watch(&WatchParams::default(), "1")
            .await
            .expect("watch")
            .boxed();
        assert_eq!(next(&mut events).await, event("ERROR", "410"));
        // From the current state there is nothing to miss.
        let mut events = quotas
            .watch(&WatchParams::default(), "0")
            .await
            .expect("watch")
            .boxed();
        for name in ["v1", "v2", "v3", "v4", "v5"] {
            assert_eq!(next(&mut events).await, event("ADDED", name));
        }
    }

    /// The pages of a list are one list at one resource version: a watch from it replays
    /// what changed while the later pages were fetched (a reflector that relists under load,
    /// like Wukong's live store, would otherwise keep stale objects for good), and a list
    /// continued after that version has left the history must start again.
    #[tokio::test]
    async fn a_paged_list_and_the_watch_from_it_miss_no_change() {
        let (_sim, quotas) = quotas_with(keeping(4)).await;
        create_all(&quotas, &["a", "b"]).await;
        let first = quotas
            .list(&ListParams::default().limit(1))
            .await
            .expect("page 1");
        let version = first.metadata.resource_version.clone().expect("version");
        let token = first.metadata.continue_.clone().expect("continue token");
        merge(
            &quotas,
            "a",
            json!({"metadata": {"labels": {"tier": "web"}}}),
        )
        .await;
        let second = quotas
            .list(&ListParams::default().limit(1).continue_token(&token))
            .await
            .expect("page 2");
        assert_eq!(second.metadata.resource_version.as_deref(), Some(&*version));
        let mut events = watch_from(&quotas, &version).await;
        assert_eq!(next(&mut events).await, event("MODIFIED", "a"));

        create_all(&quotas, &["c", "d", "e", "f"]).await;
        assert_refused(
            quotas
                .list(&ListParams::default().limit(1).continue_token(&token))
                .await,
            410,
            "Expired",
        );
    }

    #[tokio::test]
    async fn watches_filter_by_label_and_send_bookmarks() {
        let options = SimOptions {
            bookmark_every: Duration::from_millis(100),
            ..SimOptions::default()
        };
        let (_sim, quotas) = quotas_with(options).await;
        let mut events = quotas
            .watch(&WatchParams::default().labels("tier=web"), "0")
            .await
            .expect("watch")
            .boxed();
        quotas
            .create(&PostParams::default(), &quota("db", json!({"tier": "db"})))
            .await
            .expect("db");
        quotas
            .create(
                &PostParams::default(),
                &quota("web", json!({"tier": "web"})),
            )
            .await
            .expect("web");
        assert_eq!(next(&mut events).await, event("ADDED", "web"));
        let (kind, version) = next(&mut events).await;
        assert_eq!(kind, "BOOKMARK");
        assert!(version.parse::<u64>().expect("numeric") >= 3);
    }
}

pub(crate) mod lifecycle {
    use super::{api_status, assert_refused, started, vm, vm_resource};
    use kube::{
        api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams},
        Client,
    };
    use serde_json::{json, Value};
    use simcluster::{SimCluster, SimOptions};
    use std::time::Duration;

    const VMS: &str = "virtualmachines";
    const VMIS: &str = "virtualmachineinstances";

    pub(crate) async fn sim() -> (SimCluster, Client, Api<DynamicObject>) {
        let options = SimOptions {
            transition_delay: Duration::from_millis(50),
            ..SimOptions::default()
        };
        let (sim, client) = started(options).await;
        let vms = Api::namespaced_with(client.clone(), "team-a", &vm_resource());
        (sim, client, vms)
    }

    /// `PUT /apis/subresources.kubevirt.io/v1/…/{plural}/{name}/{action}`, as virtctl does.
    pub(crate) async fn act(
        client: &Client,
        plural: &str,
        name: &str,
        action: &str,
        body: Value,
    ) -> kube::Result<String> {
        let request = http::Request::put(format!(
            "/apis/subresources.kubevirt.io/v1/namespaces/team-a/{plural}/{name}/{action}"
        ))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).expect("JSON"))
        .expect("request");
        client.request_text(request).await
    }

    pub(crate) async fn wait_for(
        vms: &Api<DynamicObject>,
        name: &str,
        status: &str,
    ) -> DynamicObject {
        for _ in 0..500 {
            let vm = vms.get(name).await.expect("VM");
            if vm
                .data
                .pointer("/status/printableStatus")
                .and_then(Value::as_str)
                == Some(status)
            {
                return vm;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{name} never became {status}");
    }

    pub(crate) async fn create_vm(vms: &Api<DynamicObject>, vm: &DynamicObject) -> DynamicObject {
        vms.create(&PostParams::default(), vm)
            .await
            .expect("create the VM")
    }

    /// [`act`], which must succeed, then [`wait_for`] the VM to be `status`.
    pub(crate) async fn act_and_wait(
        client: &Client,
        vms: &Api<DynamicObject>,
        (plural, name, action): (&str, &str, &str),
        status: &str,
    ) -> DynamicObject {
        act(client, plural, name, action, json!({}))
            .await
            .unwrap_or_else(|error| panic!("{action} {name}: {error}"));
        wait_for(vms, name, status).await
    }

    /// The uid of the VMI `name`, if there is one.
    pub(crate) async fn instance_uid(client: &Client, name: &str) -> Option<String> {
        let vmi = instances(client).get_opt(name).await.expect("get VMI");
        vmi.and_then(|vmi| vmi.metadata.uid)
    }

    pub(crate) fn instances(client: &Client) -> Api<DynamicObject> {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("kubevirt.io", "v1", "VirtualMachineInstance"),
            VMIS,
        );
        Api::namespaced_with(client.clone(), "team-a", &resource)
    }

    #[tokio::test]
    async fn start_pause_unpause_and_stop_follow_kubevirts_state_machine() {
        let (_sim, client, vms) = sim().await;
        vms.create(&PostParams::default(), &vm("demo", json!({})))
            .await
            .expect("create");
        wait_for(&vms, "demo", "Stopped").await;
        assert_eq!(
            act(&client, VMS, "demo", "start", json!({}))
                .await
                .expect("start"),
            ""
        );
        wait_for(&vms, "demo", "Running").await;
        let vmi = instances(&client).get("demo").await.expect("VMI");
        assert_eq!(vmi.data["status"]["nodeName"], "sim-node-1");
        assert!(vmi.data["status"]["interfaces"][0]["ipAddress"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.244.")));

        // virt-api's words, after the API server's conflict prefix
        // (pkg/virt-api/rest/lifecycle.go, `StartVMRequestHandler`).
        assert_refused(
            act(&client, VMS, "demo", "start", json!({})).await,
            409,
            "Operation cannot be fulfilled on virtualmachine.kubevirt.io \"demo\": VM is already running",
        );

        act(&client, VMIS, "demo", "pause", json!({}))
            .await
            .expect("pause");
        wait_for(&vms, "demo", "Paused").await;
        assert_refused(
            act(&client, VMIS, "demo", "pause", json!({})).await,
            409,
            "Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"demo\": VMI is already paused",
        );
        act(&client, VMIS, "demo", "unpause", json!({}))
            .await
            .expect("unpause");
        wait_for(&vms, "demo", "Running").await;

        act(&client, VMS, "demo", "stop", json!({}))
            .await
            .expect("stop");
        let stopped = wait_for(&vms, "demo", "Stopped").await;
        assert_eq!(stopped.data["spec"]["runStrategy"], "Halted");
        assert_eq!(
            api_status(instances(&client).get("demo").await.unwrap_err()).code,
            404
        );
        assert_refused(
            act(&client, VMS, "demo", "restart", json!({})).await,
            409,
            "Operation cannot be fulfilled on virtualmachine.kubevirt.io \"demo\": RunStategy Halted does not support manual restart requests",
        );
    }

    #[tokio::test]
    async fn run_strategy_always_starts_restart_cycles_and_force_stop_is_immediate() {
        let (_sim, client, vms) = sim().await;
        let mut always = vm("always", json!({}));
        always.data["spec"]["runStrategy"] = json!("Always");
        vms.create(&PostParams::default(), &always)
            .await
            .expect("create");
        let first = wait_for(&vms, "always", "Running").await;
        let first_uid = instance_uid(&client, "always").await;
        act(
            &client,
            "virtualmachines",
            "always",
            "restart",
            json!({"gracePeriodSeconds": 0}),
        )
        .await
        .expect("restart");
        wait_for(&vms, "always", "Stopping").await;
        wait_for(&vms, "always", "Running").await;
        let second_uid = instance_uid(&client, "always").await;
        assert_ne!(first_uid, second_uid, "a new instance after the restart");
        assert!(first.metadata.resource_version.is_some());

        act(
            &client,
            "virtualmachines",
            "always",
            "stop",
            json!({"gracePeriod": 0}),
        )
        .await
        .expect("force stop");
        let vm = wait_for(&vms, "always", "Stopped").await;
        assert_eq!(vm.data["spec"]["runStrategy"], "Halted");
        // The restart (virt-api sets a grace period of 1 s) shut the guest down gracefully;
        // the force stop killed it (pkg/virt-handler/vm.go, `helperVmShutdown`).
        let reasons = |uid: Option<String>| {
            let client = client.clone();
            async move {
                let selector = format!("involvedObject.uid={}", uid.unwrap_or_default());
                let events = crate::kubevirt::events_where(&client, &selector).await;
                crate::kubevirt::reasons(&events)
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            }
        };
        let restarted = reasons(first_uid).await;
        assert!(
            restarted.contains(&"ShuttingDown".to_owned()),
            "{restarted:?}"
        );
        let killed = reasons(second_uid).await;
        assert!(killed.contains(&"Deleted".to_owned()), "{killed:?}");
        assert!(!killed.contains(&"ShuttingDown".to_owned()), "{killed:?}");
    }

    #[tokio::test]
    async fn a_vm_bigger_than_the_node_is_unschedulable() {
        let (_sim, client, vms) = sim().await;
        let mut big = vm("big", json!({}));
        big.data["spec"]["template"]["spec"]["domain"]["cpu"] = json!({"cores": 64});
        vms.create(&PostParams::default(), &big)
            .await
            .expect("create");
        act(&client, VMS, "big", "start", json!({}))
            .await
            .expect("start");
        // The instance waits for a node (phase Scheduling), with the scheduler's reason on
        // it and on the VM (pkg/virt-controller/watch/vm/vm.go,
        // `isVirtualMachineStatusUnschedulable`).
        let vm = wait_for(&vms, "big", "ErrorUnschedulable").await;
        let conditions = vm.data["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let scheduled = conditions
            .iter()
            .find(|condition| condition["type"] == "PodScheduled")
            .expect("PodScheduled");
        assert_eq!(scheduled["reason"], "Unschedulable");
        let message = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are \
                       available: 1 No preemption victims found for incoming pod.";
        assert_eq!(scheduled["message"], message);
        let vmi = instances(&client).get("big").await.expect("VMI");
        assert_eq!(vmi.data["status"]["phase"], "Scheduling");
        let events = crate::kubevirt::events_where(&client, "involvedObject.kind=Pod").await;
        assert_eq!(crate::kubevirt::reasons(&events), ["FailedScheduling"]);
        assert_eq!(events[0]["type"], "Warning");
        assert_eq!(events[0]["message"], message);
        assert_eq!(events[0]["source"]["component"], "default-scheduler");
        assert!(events[0]["involvedObject"]["name"]
            .as_str()
            .is_some_and(|pod| pod.starts_with("virt-launcher-big-")));
    }

    #[test]
    fn quantities_read_as_bytes() {
        use simcluster::lifecycle::quantity_bytes;
        assert_eq!(quantity_bytes("128Mi"), Some(128 << 20));
        assert_eq!(quantity_bytes("4Gi"), Some(4 << 30));
        assert_eq!(quantity_bytes("1G"), Some(1_000_000_000));
        assert_eq!(quantity_bytes("512"), Some(512));
        assert_eq!(quantity_bytes("1Xi"), None);
    }
}

/// `kubectl`, the standard client, works against the simulated cluster with the kubeconfig
/// it writes: apply of a KubeVirt example VM (create, then a change), get across
/// namespaces, patch, delete, and a watch that sees each of those.
mod kubectl {
    use simcluster::SimCluster;
    use std::{path::Path, process::Stdio, time::Duration};
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

    const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n";

    /// A VM as KubeVirt's examples write one: a container disk and cloud-init.
    fn example_vm(run_strategy: &str) -> String {
        format!(
            "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: testvm\n\
             spec:\n  runStrategy: {run_strategy}\n  template:\n    metadata:\n      labels:\n        \
             kubevirt.io/domain: testvm\n    spec:\n      domain:\n        devices:\n          \
             disks:\n          - name: containerdisk\n            disk:\n              bus: virtio\n          \
             - name: cloudinitdisk\n            disk:\n              bus: virtio\n          \
             interfaces:\n          - name: default\n            masquerade: {{}}\n        \
             resources:\n          requests:\n            memory: 64M\n      networks:\n      \
             - name: default\n        pod: {{}}\n      volumes:\n      - name: containerdisk\n        \
             containerDisk:\n          image: quay.io/kubevirt/cirros-container-disk-demo\n      \
             - name: cloudinitdisk\n        cloudInitNoCloud:\n          userDataBase64: SGkuXG4=\n"
        )
    }

    async fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> String {
        let mut child = tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run kubectl");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(stdin.unwrap_or_default().as_bytes())
            .await
            .expect("write stdin");
        drop(input);
        let output = child.wait_with_output().await.expect("kubectl output");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "kubectl {args:?}: {}{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        text
    }

    #[tokio::test]
    async fn apply_get_patch_delete_and_watch_work() {
        let sim = SimCluster::start(None).await.expect("start");
        let dir = tempfile::tempdir().expect("dir");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        kubectl(&kubeconfig, &["apply", "-f", "-"], Some(NAMESPACE)).await;
        let created = kubectl(
            &kubeconfig,
            &["apply", "-n", "demo", "-f", "-"],
            Some(&example_vm("Halted")),
        )
        .await;
        assert_eq!(created.trim(), "virtualmachine.kubevirt.io/testvm created");
        let mut watch = tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([
                "get",
                "vm",
                "-n",
                "demo",
                "-w",
                "--output-watch-events",
                "-o",
                "jsonpath={.type} {.object.metadata.name} {.object.spec.runStrategy}{\"\\n\"}",
            ])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl get -w");
        let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
        let mut next_line = async || {
            tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("the watch goes on")
                .expect("read")
                .expect("a line")
        };
        // The watch starts with what exists; every later change comes after this line.
        assert_eq!(next_line().await, "ADDED testvm Halted");
        let changed = kubectl(
            &kubeconfig,
            &["apply", "-n", "demo", "-f", "-"],
            Some(&example_vm("Manual")),
        )
        .await;
        assert_eq!(
            changed.trim(),
            "virtualmachine.kubevirt.io/testvm configured"
        );
        let listed = kubectl(&kubeconfig, &["get", "vm", "-A", "-o", "name"], None).await;
        assert_eq!(listed.trim(), "virtualmachine.kubevirt.io/testvm");
        let patched = kubectl(
            &kubeconfig,
            &[
                "patch",
                "vm",
                "testvm",
                "-n",
                "demo",
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"runStrategy":"Halted"}}"#,
            ],
            None,
        )
        .await;
        assert_eq!(patched.trim(), "virtualmachine.kubevirt.io/testvm patched");
        let deleted = kubectl(&kubeconfig, &["delete", "vm", "testvm", "-n", "demo"], None).await;
        assert_eq!(
            deleted.trim(),
            "virtualmachine.kubevirt.io \"testvm\" deleted"
        );

        let mut seen = Vec::new();
        while !seen.iter().any(|line: &String| line.starts_with("DELETED")) {
            seen.push(next_line().await);
        }
        assert!(
            seen.iter().any(|line| line == "MODIFIED testvm Manual"),
            "{seen:#?}"
        );
        assert_eq!(
            seen.last().map(String::as_str),
            Some("DELETED testvm Halted"),
            "{seen:#?}"
        );
    }
}
