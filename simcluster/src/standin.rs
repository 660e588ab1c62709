//! The simulated KubeVirt as a stand-in on any API server, such as the real control plane
//! the tests start: its controllers (`remote`), which watch VMs, VMIs and DataVolumes and
//! write through the API as virt-controller, virt-handler and CDI do, and an aggregated API
//! server for `v1.subresources.kubevirt.io`, registered with an `APIService`, so that lifecycle calls
//! and the VNC and serial console streams (`consoles`) reach it through the API server
//! exactly as they reach virt-api (authenticated and authorized there first).
//!
//! The aggregator finds it through a Service of type ExternalName pointing at `localhost`
//! (`staging/src/k8s.io/apiserver/pkg/util/proxy/proxy.go`, `ResolveCluster`; Endpoints may
//! not hold loopback addresses) and checks its certificate against the `APIService`'s
//! `caBundle` for the name `virt-api.kubevirt.svc`. It does not check the aggregator's client
//! certificate: it is a test harness on loopback, not virt-api.
//!
//! Behind the same Service it also serves KubeVirt's validating webhooks for VMs, snapshots,
//! restores and clones (`webhook`).

mod consoles;
mod webhook;

use super::{
    access,
    api::subresource,
    console, lifecycle,
    remote::{control, Remote},
};
use axum::{
    body::Bytes,
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        Query, State,
    },
    http::{Method, Uri},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use kube::{
    api::{Api, ApiResource, DynamicObject, Patch, PatchParams},
    Client,
};
use serde_json::{json, Value};
use std::{collections::HashMap, io, net::SocketAddr, time::Duration};
use tokio::net::TcpListener;

const NAMESPACE: &str = "kubevirt";
const SERVICE: &str = "virt-api";
const GROUP_VERSION: &str = "subresources.kubevirt.io/v1";

/// A running stand-in; it stops when dropped.
pub struct StandIn {
    pub address: SocketAddr,
    _stop: tokio::sync::watch::Sender<()>,
    controller: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.controller.abort();
    }
}

impl StandIn {
    /// Starts the controller and the aggregated API server on 127.0.0.1, registers them with
    /// the API server `client` reaches (which must allow it to manage namespaces, services,
    /// API services, validating webhook configurations and KubeVirt's kinds), and returns
    /// once the API server serves the group and calls the webhook.
    pub async fn start(client: Client, transition_delay: Duration) -> io::Result<Self> {
        let remote = Remote::new(client.clone(), transition_delay);
        let credentials = access::self_signed(vec![
            format!("{SERVICE}.{NAMESPACE}.svc"),
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])?;
        let certificate_pem = credentials.certificate_pem.clone();
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::watch::channel(());
        let listener = access::TlsListener::start(listener, &credentials, stopped.clone())?;
        let router = Router::new()
            .route("/apis", get(groups))
            .route("/apis/subresources.kubevirt.io", get(group))
            .route("/apis/subresources.kubevirt.io/v1", get(resources))
            .route(
                "/apis/subresources.kubevirt.io/v1/namespaces/{*rest}",
                get(stream).fallback(action),
            )
            .route(webhook::PATH, post(webhook::review));
        let router = webhook::STORAGE_PLURALS
            .iter()
            .filter_map(|plural| lifecycle::admission::webhook(plural))
            .fold(router, |router, (_, path, _)| {
                router.route(path, post(webhook::review_storage))
            })
            .with_state(Aggregated {
                remote: remote.clone(),
                sessions: console::Sessions::default(),
            });
        let mut stopping = stopped;
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopping.changed().await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "KubeVirt stand-in stopped");
            }
        });
        register(&client, address.port(), &certificate_pem)
            .await
            .map_err(io::Error::other)?;
        webhook::register(&client, address.port(), &certificate_pem)
            .await
            .map_err(io::Error::other)?;
        let controller = tokio::spawn(control(remote));
        Ok(StandIn {
            address,
            _stop: stop,
            controller,
        })
    }
}

/// The namespace, Service and `APIService` that route `subresources.kubevirt.io` here, then
/// a wait until the API server reports the `APIService` available.
async fn register(client: &Client, port: u16, certificate_pem: &str) -> Result<(), kube::Error> {
    use base64::{engine::general_purpose::STANDARD, Engine as _};
    let apply = PatchParams::apply("wukong-kubevirt-stand-in").force();
    let core = |kind: &str, plural: &str| ApiResource {
        group: String::new(),
        version: "v1".to_owned(),
        api_version: "v1".to_owned(),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    };
    let namespaces: Api<DynamicObject> =
        Api::all_with(client.clone(), &core("Namespace", "namespaces"));
    namespaces
        .patch(
            NAMESPACE,
            &apply,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": NAMESPACE}})),
        )
        .await?;
    let services: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NAMESPACE, &core("Service", "services"));
    services
        .patch(
            SERVICE,
            &apply,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE},
            "spec": {"type": "ExternalName", "externalName": "localhost",
                "ports": [{"name": "https", "port": port}]}})),
        )
        .await?;
    let api_services: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource {
            group: "apiregistration.k8s.io".to_owned(),
            version: "v1".to_owned(),
            api_version: "apiregistration.k8s.io/v1".to_owned(),
            kind: "APIService".to_owned(),
            plural: "apiservices".to_owned(),
        },
    );
    let name = "v1.subresources.kubevirt.io";
    api_services
        .patch(
            name,
            &apply,
            &Patch::Apply(json!({
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": name},
            "spec": {"group": "subresources.kubevirt.io", "version": "v1",
                "groupPriorityMinimum": 1000, "versionPriority": 15,
                "service": {"namespace": NAMESPACE, "name": SERVICE, "port": port},
                "caBundle": STANDARD.encode(certificate_pem)}})),
        )
        .await?;
    for _ in 0..300 {
        let registered = api_services.get(name).await?;
        let available = registered
            .data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c["type"] == "Available" && c["status"] == "True")
            });
        if available {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(kube::Error::Service(
        format!("the API server did not find {name} available within 30 s").into(),
    ))
}

async fn groups() -> Json<Value> {
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_document()]}))
}

async fn group() -> Json<Value> {
    Json(group_document())
}

fn group_document() -> Value {
    let version = json!({"groupVersion": GROUP_VERSION, "version": "v1"});
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": "subresources.kubevirt.io",
        "versions": [version], "preferredVersion": version})
}

/// The subresources virt-api serves that this stand-in answers.
async fn resources() -> Json<Value> {
    let entry = |name: &str, kind: &str, verb: &str| json!({"name": name, "singularName": "", "namespaced": true, "kind": kind, "verbs": [verb]});
    Json(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
        "resources": [
            entry("virtualmachines/start", "VirtualMachine", "update"),
            entry("virtualmachines/stop", "VirtualMachine", "update"),
            entry("virtualmachines/restart", "VirtualMachine", "update"),
            entry("virtualmachineinstances/pause", "VirtualMachineInstance", "update"),
            entry("virtualmachineinstances/unpause", "VirtualMachineInstance", "update"),
            entry("virtualmachineinstances/vnc", "VirtualMachineInstance", "get"),
            entry("virtualmachineinstances/console", "VirtualMachineInstance", "get"),
        ]}),
    )
}

/// What the aggregated API server works with: the API server's objects, and the open
/// console sessions.
#[derive(Clone)]
struct Aggregated {
    remote: Remote,
    sessions: console::Sessions,
}

/// A GET: the VNC or serial console stream it names, or the answer to a GET of the others.
async fn stream(
    State(server): State<Aggregated>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let rest = subresource_path(&uri);
    match console::Target::parse(rest) {
        Some(target) => {
            consoles::connect(&server.remote, &server.sessions, target, &query, upgrade)
                .await
                .unwrap_or_else(IntoResponse::into_response)
        }
        None => subresource(&server.remote, &Method::GET, rest, &[]).await,
    }
}

async fn action(
    State(server): State<Aggregated>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    subresource(&server.remote, &method, subresource_path(&uri), &body).await
}

/// `{namespace}/{plural}/{name}/{subresource}`.
fn subresource_path(uri: &Uri) -> &str {
    uri.path()
        .strip_prefix("/apis/subresources.kubevirt.io/v1/namespaces/")
        .unwrap_or_default()
}
