//! The cluster's end of a console: KubeVirt's `vnc` or `console` WebSocket, opened through
//! kube's own HTTP stack so that it carries Wukong's credentials, TLS and proxy settings.
//! kube's `connect` insists on the `channel.k8s.io` subprotocols, which KubeVirt does not
//! speak, so the upgrade is done here with `plain.kubevirt.io`.

use app::{console::types::ConsoleKind, vms::names::VmRef};
use http::{header, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::{
    tungstenite::{
        handshake::client::generate_key, handshake::derive_accept_key, protocol::Role,
        protocol::WebSocketConfig,
    },
    WebSocketStream,
};

pub type Upstream = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// KubeVirt's only subprotocol.
const PROTOCOL: &str = "plain.kubevirt.io";

/// The largest message accepted from KubeVirt: VNC screen updates of over a megabyte are
/// ordinary, and the stream is trusted.
pub const MAX_UPSTREAM_MESSAGE: usize = 16 * 1024 * 1024;

/// Why the console could not be opened.
#[derive(Debug)]
pub enum Refused {
    /// No running instance (404, or 400 "VMI is not running").
    NotRunning,
    /// Another client holds the screen (503 with `preserveSession=true`).
    InUse,
    /// Anything else; the detail is for the log.
    Failed(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NotRunning => f.write_str("the VM is not running"),
            Refused::InUse => f.write_str("another client holds the console"),
            Refused::Failed(detail) => f.write_str(detail),
        }
    }
}

/// The subresource KubeVirt serves `kind` at.
fn subresource(kind: ConsoleKind) -> &'static str {
    match kind {
        ConsoleKind::Vnc => "vnc",
        ConsoleKind::Serial => "console",
    }
}

/// Opens the `kind` stream of `target`'s instance. VNC asks KubeVirt to keep an existing
/// session (`preserveSession=true`) unless `take_over`, so that no one's screen is taken
/// silently.
pub async fn dial(
    client: &kube::Client,
    target: &VmRef,
    kind: ConsoleKind,
    take_over: bool,
) -> Result<Upstream, Refused> {
    let mut path = format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/{}/virtualmachineinstances/{}/{}",
        target.namespace,
        target.name,
        subresource(kind)
    );
    if kind == ConsoleKind::Vnc {
        path.push_str(if take_over {
            "?preserveSession=false"
        } else {
            "?preserveSession=true"
        });
    }
    let key = generate_key();
    let request = Request::get(path)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_KEY, &key)
        .header(header::SEC_WEBSOCKET_PROTOCOL, PROTOCOL)
        .body(kube::client::Body::from(Vec::new()))
        .map_err(|error| Refused::Failed(error.to_string()))?;
    let response = client
        .send(request)
        .await
        .map_err(|error| Refused::Failed(error.to_string()))?;
    match response.status() {
        StatusCode::SWITCHING_PROTOCOLS => {}
        StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => return Err(Refused::NotRunning),
        StatusCode::SERVICE_UNAVAILABLE => return Err(Refused::InUse),
        StatusCode::FORBIDDEN => return Err(Refused::Failed(denied(response).await)),
        status => return Err(Refused::Failed(format!("the cluster answered {status}"))),
    }
    let accepted = response
        .headers()
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .map(|value| value.as_bytes());
    if accepted != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
        return Err(Refused::Failed("wrong Sec-WebSocket-Accept".to_owned()));
    }
    let upgraded = hyper::upgrade::on(response)
        .await
        .map_err(|error| Refused::Failed(error.to_string()))?;
    let config = WebSocketConfig::default().max_message_size(Some(MAX_UPSTREAM_MESSAGE));
    Ok(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, Some(config)).await)
}

/// What the cluster's refusal says Wukong's account lacks, as the other cluster calls say it.
async fn denied(response: http::Response<kube::client::Body>) -> String {
    let body = response
        .into_body()
        .collect_bytes()
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|status| status["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    match app::cluster::missing_permission(&message) {
        Some(permission) => app::AppError::ClusterDenied { permission }.to_string(),
        None => "the cluster answered 403 Forbidden".to_owned(),
    }
}
