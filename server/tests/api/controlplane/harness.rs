//! Starts the real control plane (`end2end/controlplane`, built by scripts/test.sh) for one
//! test and hands out connections to it as Wukong makes them: from a kubeconfig file.

use app::cluster::Cluster;
use clap::Parser as _;
use serde::Deserialize;
use serde_json::{json, Value};
use server::config::Settings;
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdin, Command},
};

/// What the control plane prints once it serves requests.
#[derive(Deserialize)]
struct Ready {
    server: String,
    kubeconfig: PathBuf,
    ca: PathBuf,
}

/// A running control plane. It stops when this is dropped: its stdin closes, and the child
/// is killed as well in case it does not notice.
pub struct ControlPlane {
    child: Child,
    stdin: ChildStdin,
    pub dir: tempfile::TempDir,
    pub server: String,
    pub kubeconfig: PathBuf,
    ca: PathBuf,
}

/// The program: `WUKONG_CONTROLPLANE`, or where scripts/test.sh builds it.
fn program() -> PathBuf {
    if let Some(path) = std::env::var_os("WUKONG_CONTROLPLANE") {
        return PathBuf::from(path);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/controlplane/controlplane");
    assert!(
        built.exists(),
        "the control plane is not built: run scripts/test.sh, or \
         `go build -C end2end/controlplane -o ../../target/controlplane/controlplane .`"
    );
    built
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

impl ControlPlane {
    pub async fn start() -> Self {
        Self::start_in(tempfile::tempdir().expect("temporary directory"), 0).await
    }

    /// Starts on `dir`, whose state (etcd's data, credentials) a stopped control plane
    /// left there, on `port` (0 for a free one): to its clients, the same cluster again.
    pub async fn start_in(dir: tempfile::TempDir, port: u16) -> Self {
        Self::launch(dir, port, &[]).await
    }

    /// As [`Self::start_in`], with etcd's history compacted up to its latest revision first,
    /// as the API server's periodic compaction would have done while it was down: no
    /// resourceVersion from before is served any more, by etcd or the new watch caches.
    pub async fn start_compacted_in(dir: tempfile::TempDir, port: u16) -> Self {
        Self::launch(dir, port, &["--compact"]).await
    }

    async fn launch(dir: tempfile::TempDir, port: u16, flags: &[&str]) -> Self {
        let mut child = Command::new(program())
            .arg("--dir")
            .arg(dir.path())
            .arg("--port")
            .arg(port.to_string())
            .arg("--crds")
            .arg(repo_file("end2end/controlplane/crds.json"))
            .args(flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the control plane");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(150),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("the control plane is ready within 150 s")
        .expect("read the control plane's stdout");
        let ready: Ready = serde_json::from_str(&line).unwrap_or_else(|error| {
            let log =
                std::fs::read_to_string(dir.path().join("controlplane.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!("the control plane did not start ({error}): {line:?}\n{tail:#?}")
        });
        ControlPlane {
            child,
            stdin,
            dir,
            server: ready.server,
            kubeconfig: ready.kubeconfig,
            ca: ready.ca,
        }
    }

    /// Stops, as an API server that goes down does, and hands back its directory.
    pub async fn stop(self) -> tempfile::TempDir {
        let ControlPlane {
            mut child,
            stdin,
            dir,
            ..
        } = self;
        drop(stdin);
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("the control plane stops within 30 s")
            .expect("wait for the control plane");
        dir
    }

    /// The admin's bearer token (the first line of the static token file).
    pub fn admin_token(&self) -> String {
        let tokens = std::fs::read_to_string(self.dir.path().join("tokens.csv")).expect("tokens");
        tokens.split(',').next().expect("token").to_owned()
    }

    pub fn port(&self) -> u16 {
        self.server
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("port")
    }

    /// Wukong's connection as the cluster admin, made as `--kubeconfig` makes it.
    pub async fn admin(&self) -> Cluster {
        connect(&self.kubeconfig).await
    }

    /// A kubeconfig for `token` on this control plane.
    pub fn kubeconfig_for(&self, name: &str, token: &str) -> PathBuf {
        self.kubeconfig_for_server(name, &self.server, token)
    }

    /// A kubeconfig for `token` on this control plane, reached at `server` (a relay).
    pub fn kubeconfig_for_server(&self, name: &str, server: &str, token: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.kubeconfig"));
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: controlplane\n  cluster:\n    \
             server: {}\n    certificate-authority: {}\nusers:\n- name: {name}\n  user:\n    \
             token: {token}\ncontexts:\n- name: {name}\n  context:\n    cluster: controlplane\n    \
             user: {name}\ncurrent-context: {name}\n",
            server,
            self.ca.display()
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// A token of the service account `namespace/name`, from the TokenRequest API, as a
    /// pod of that account would get it.
    pub async fn service_account_token(
        &self,
        admin: &Cluster,
        namespace: &str,
        name: &str,
    ) -> String {
        let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600}});
        let request = http::Request::post(format!(
            "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
        ))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).expect("JSON"))
        .expect("request");
        let answer: Value = admin.client.request(request).await.expect("token request");
        answer["status"]["token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    /// `kubectl` against this control plane as the admin; panics with its output when it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("run kubectl");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        text
    }
}

/// Wukong's cluster connection from the kubeconfig at `path`, through its `--kubeconfig`.
pub async fn connect(path: &Path) -> Cluster {
    let data = tempfile::tempdir().expect("data directory");
    let settings = Settings::try_parse_from([
        "wukong".as_ref(),
        "--kubeconfig".as_ref(),
        path.as_os_str(),
        "--data-dir".as_ref(),
        data.path().as_os_str(),
    ])
    .expect("settings");
    let (cluster, simulated) = server::cluster::connect(&settings)
        .await
        .expect("connect to the control plane");
    assert!(simulated.is_none(), "a kubeconfig was given");
    cluster
}

/// A TCP relay to `upstream` that a test can cut, ending every connection through it and
/// refusing new ones, and restore: the network between Wukong and its API server.
pub struct Relay {
    pub address: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
    _task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (cut, watching) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if *watching.borrow() {
                    continue;
                }
                let mut cut = watching.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Relay {
            address,
            cut,
            _task: task,
        }
    }

    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}
