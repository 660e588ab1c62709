//! The simulated cluster: an HTTPS server on 127.0.0.1 that speaks the Kubernetes REST
//! conventions for the resources Wukong uses (namespaces, resource quotas and KubeVirt's
//! kinds), so Wukong runs, and is tested, through kube-rs without a real cluster.
//!
//! It answers only HTTPS requests that carry this process's bearer token (see `access`);
//! Wukong gets token and certificate through [`SimCluster::client_config`], a person through
//! the kubeconfig written by [`SimCluster::write_kubeconfig`].

pub mod access;
mod api;
mod console;
mod discovery;
mod fields;
pub mod files;
mod gc;
pub mod lifecycle;
mod pattern;
mod quantity;
mod quota;
mod remote;
mod rfb;
pub mod schema;
mod selector;
pub mod standin;
mod store;
mod terminal;
mod watch;
mod writes;

use serde_json::Value;
use std::{
    io,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
};
use tokio::net::TcpListener;

/// The CRD schemas of the KubeVirt and CDI kinds served, extracted from their generated CRDs
/// by `scripts/extract-crd-schemas.py`.
const KUBEVIRT_SCHEMAS: &str = include_str!("../crds/kubevirt-schemas.json");

/// A kind the simulated cluster serves.
#[derive(Clone, Debug)]
pub struct Resource {
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
    /// What `kubectl` also accepts for the plural (`vm`, `ns`).
    pub short_names: Vec<String>,
    /// The CRD's OpenAPI schema, for kinds that have one.
    pub schema: Option<Value>,
    /// Whether `status` is a subresource: written through `/status` only, and ignored in
    /// writes of the object itself.
    pub status_subresource: bool,
}

impl Resource {
    fn core(
        kind: &str,
        plural: &str,
        short_names: &[&str],
        namespaced: bool,
        status_subresource: bool,
    ) -> Self {
        Resource {
            group: String::new(),
            version: "v1".to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced,
            short_names: short_names.iter().map(|name| (*name).to_owned()).collect(),
            schema: None,
            status_subresource,
        }
    }

    /// `plural.group`, or the plural alone for the core group.
    pub fn id(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Every kind served: of the core group what Wukong and the simulated KubeVirt use (Secrets
/// hold long cloud-init user data, Events what the controllers did, Pods are VMs' launcher
/// pods, which resource quotas charge), and the KubeVirt and CDI kinds with their CRD
/// schemas.
pub fn resources() -> Result<Vec<Resource>, serde_json::Error> {
    let mut resources = vec![
        Resource::core("Namespace", "namespaces", &["ns"], false, true),
        Resource::core("Pod", "pods", &["po"], true, true),
        Resource::core("ResourceQuota", "resourcequotas", &["quota"], true, true),
        Resource::core("Secret", "secrets", &[], true, false),
        Resource::core("Event", "events", &["ev"], true, false),
    ];
    let schemas: serde_json::Map<String, Value> = serde_json::from_str(KUBEVIRT_SCHEMAS)?;
    for entry in schemas.values() {
        let text = |key: &str| entry[key].as_str().unwrap_or_default().to_owned();
        resources.push(Resource {
            group: text("group"),
            version: text("version"),
            kind: text("kind"),
            plural: text("plural"),
            namespaced: true,
            short_names: entry["shortNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            schema: Some(entry["schema"].clone()),
            status_subresource: entry["statusSubresource"].as_bool().unwrap_or(false),
        });
    }
    Ok(resources)
}

/// Shared state of the server.
pub struct Sim {
    resources: Vec<Resource>,
    store: Mutex<store::Store>,
    bookmark_every: std::time::Duration,
    transition_delay: std::time::Duration,
    event_ttl: std::time::Duration,
    /// Changes (to closed) when the cluster stops, ending open watches.
    stopped: tokio::sync::watch::Receiver<()>,
    sessions: console::Sessions,
    /// Requests for a console stream so far, admitted or not.
    console_requests: Arc<std::sync::atomic::AtomicU64>,
    /// The simulated KubeVirt's and CDI's events so far, to count repeats.
    recorder: lifecycle::Recorder,
    /// What every request must carry as `Authorization: Bearer …`.
    token: &'static str,
}

/// Tunables, for tests that need expiry or bookmarks soon.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Changes kept for watches to resume from; older resourceVersions get 410 Gone.
    pub history: usize,
    /// How often an idle watch that asked for bookmarks gets one.
    pub bookmark_every: std::time::Duration,
    /// How long each step of a VM's start and stop, or of a disk import, takes.
    pub transition_delay: std::time::Duration,
    /// How long an Event is kept after it was last seen (the API server's `--event-ttl`).
    pub event_ttl: std::time::Duration,
    /// The port on 127.0.0.1; 0 for any free one.
    pub port: u16,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            history: 10_000,
            bookmark_every: std::time::Duration::from_secs(30),
            transition_delay: std::time::Duration::from_secs(2),
            event_ttl: std::time::Duration::from_secs(3600),
            port: 0,
        }
    }
}

/// A running simulated cluster.
pub struct SimCluster {
    pub address: SocketAddr,
    credentials: &'static access::Credentials,
    /// How kube-rs reaches it, token and certificate included.
    config: kube::Config,
    console_requests: Arc<std::sync::atomic::AtomicU64>,
    /// Dropped to stop: the server closes its connections and open watches end, as a
    /// restarted API server's would.
    _stop: tokio::sync::watch::Sender<()>,
}

impl SimCluster {
    /// Starts on 127.0.0.1 and a free port, with its state in `state_file` (or in memory).
    pub async fn start(state_file: Option<&Path>) -> io::Result<Self> {
        Self::start_with(state_file, SimOptions::default()).await
    }

    pub async fn start_with(state_file: Option<&Path>, options: SimOptions) -> io::Result<Self> {
        let resources = resources().map_err(io::Error::other)?;
        let credentials = access::credentials()?;
        let (stop, stopped) = tokio::sync::watch::channel(());
        let console_requests = Arc::default();
        let sim = Arc::new(Sim {
            resources,
            store: Mutex::new(store::Store::open(state_file, options.history)?),
            bookmark_every: options.bookmark_every,
            transition_delay: options.transition_delay,
            event_ttl: options.event_ttl,
            stopped: stopped.clone(),
            sessions: console::Sessions::default(),
            console_requests: Arc::clone(&console_requests),
            recorder: lifecycle::Recorder::default(),
            token: &credentials.token,
        });
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let address = listener.local_addr()?;
        let mut config = kube::Config::new(
            format!("https://{address}")
                .parse()
                .map_err(io::Error::other)?,
        );
        config.auth_info.token = Some(credentials.token.as_str().into());
        config.root_cert = Some(vec![credentials.certificate.to_vec()]);
        let listener = access::TlsListener::start(listener, credentials, stopped.clone())?;
        let mut stopping = stopped;
        let shutdown = async move {
            let _ = stopping.changed().await;
        };
        lifecycle::run_embedded(sim.clone());
        tokio::spawn(async move {
            let serving = axum::serve(listener, api::router(sim)).with_graceful_shutdown(shutdown);
            if let Err(error) = serving.await {
                tracing::error!(%error, "simulated cluster stopped");
            }
        });
        Ok(SimCluster {
            address,
            credentials,
            config,
            console_requests,
            _stop: stop,
        })
    }

    /// How many requests for a VNC or serial console stream reached the cluster, for tests
    /// that check a refusal happened before Wukong asked it.
    pub fn console_requests(&self) -> u64 {
        self.console_requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// The bearer token every request must carry.
    pub fn token(&self) -> &str {
        &self.credentials.token
    }

    /// The certificate it serves (self-signed), for clients to trust.
    pub fn certificate_der(&self) -> &[u8] {
        &self.credentials.certificate
    }

    /// A kube-rs configuration that reaches this cluster with its token.
    pub fn client_config(&self) -> kube::Config {
        self.config.clone()
    }

    /// A kubeconfig (JSON, which kubectl and kube-rs read as YAML) with this cluster and its
    /// certificate, a user holding its token, and a context of both as the current one.
    pub fn kubeconfig(&self) -> String {
        use base64::{engine::general_purpose::STANDARD, Engine as _};
        const NAME: &str = "wukong-simulated";
        let cluster = serde_json::json!({
            "server": self.url(),
            "certificate-authority-data": STANDARD.encode(&self.credentials.certificate_pem),
        });
        let document = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": NAME, "cluster": cluster}],
            "users": [{"name": NAME, "user": {"token": self.token()}}],
            "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": NAME}}],
            "current-context": NAME,
        });
        format!("{document:#}\n")
    }

    /// Writes [`Self::kubeconfig`] to `path`, readable by the owner only, replacing an
    /// earlier one (whose token no longer works).
    pub fn write_kubeconfig(&self, path: &Path) -> io::Result<()> {
        files::replace(path, self.kubeconfig().as_bytes())
    }
}
