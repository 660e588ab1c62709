//! A client of KubeVirt's VNC and serial console WebSockets, opened as virtctl and noVNC
//! open them. The simulated cluster's tests use it, and so do the server's tests of the
//! stand-in on the real control plane, which include this file by its path.

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use std::{collections::HashSet, sync::Arc, time::Duration};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    connect_async_tls_with_config,
    tungstenite::{self, client::IntoClientRequest as _, protocol::CloseFrame, Message},
    Connector, MaybeTlsStream, WebSocketStream,
};

pub const PROTOCOL: &str = "plain.kubevirt.io";
pub const WIDTH: usize = 640;
pub const HEIGHT: usize = 480;

/// A stream's WebSocket URL, the bearer token sent to open it and the certificate trusted.
#[derive(Clone)]
pub struct Endpoint {
    pub url: String,
    pub token: Option<String>,
    pub certificate: Vec<u8>,
}

impl Endpoint {
    /// `stream` (`vnc` or `console`) of VMI `team-a/name` on the API server at `address`
    /// (`host:port`), whose certificate is, or is signed by, `certificate` (DER).
    pub fn new(address: &str, name: &str, stream: &str, token: &str, certificate: &[u8]) -> Self {
        Endpoint {
            url: format!(
                "wss://{address}/apis/subresources.kubevirt.io/v1/namespaces/team-a/virtualmachineinstances/{name}/{stream}"
            ),
            token: Some(token.to_owned()),
            certificate: certificate.to_vec(),
        }
    }

    pub fn with_query(&self, query: &str) -> Self {
        Endpoint {
            url: format!("{}?{query}", self.url),
            ..self.clone()
        }
    }

    pub fn with_token(&self, token: Option<&str>) -> Self {
        Endpoint {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }
}

/// Connects offering `protocols`; answers the socket and the protocol the server chose.
pub async fn connect(
    endpoint: &Endpoint,
    protocols: &[&str],
) -> tungstenite::Result<(Peer, Option<String>)> {
    let mut request = endpoint.url.as_str().into_client_request()?;
    if let Some(token) = &endpoint.token {
        let authorization = format!("Bearer {token}").parse().expect("header value");
        request.headers_mut().insert("Authorization", authorization);
    }
    if !protocols.is_empty() {
        let offered = protocols.join(", ").parse().expect("header value");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", offered);
    }
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(endpoint.certificate.clone().into())
        .expect("the cluster's certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = Connector::Rustls(Arc::new(tls));
    let (socket, response) =
        connect_async_tls_with_config(request, None, false, Some(connector)).await?;
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|value| value.to_str().expect("ASCII").to_owned());
    Ok((
        Peer {
            socket,
            received: Vec::new(),
        },
        chosen,
    ))
}

/// The `Status` object of a refused upgrade, checked against the HTTP status. An HTTP client
/// asks, as a WebSocket client would, because it reads the whole answer: a WebSocket client
/// keeps only what came in with the headers.
pub async fn refusal(endpoint: &Endpoint) -> Value {
    let certificate = reqwest::Certificate::from_der(&endpoint.certificate).expect("certificate");
    let client = reqwest::Client::builder()
        .add_root_certificate(certificate)
        .http1_only()
        .build()
        .expect("HTTP client");
    let mut request = client
        .get(endpoint.url.replacen("wss://", "https://", 1))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Protocol", PROTOCOL);
    if let Some(token) = &endpoint.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("an answer");
    let code = response.status().as_u16();
    assert!(code >= 400, "expected a refusal, got {code}");
    let body = response.bytes().await.expect("the body");
    let status: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|error| panic!("a Status ({error}): {}", String::from_utf8_lossy(&body)));
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["code"], code);
    status
}

/// The server's end of a session, read as a byte stream.
pub struct Peer {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    received: Vec<u8>,
}

impl Peer {
    /// A session opened some other way (through a proxy of the stream).
    #[allow(
        dead_code,
        reason = "for the server's console benchmark, which opens through Wukong"
    )]
    pub fn from_socket(socket: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Peer {
        Peer {
            socket,
            received: Vec::new(),
        }
    }

    async fn next(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(5), self.socket.next())
            .await
            .expect("a message in time")
            .expect("an open socket")
            .expect("a message")
    }

    async fn receive(&mut self) {
        match self.next().await {
            Message::Binary(bytes) => self.received.extend_from_slice(&bytes),
            other => panic!("expected bytes, got {other:?}"),
        }
    }

    pub async fn read(&mut self, count: usize) -> Vec<u8> {
        while self.received.len() < count {
            self.receive().await;
        }
        self.received.drain(..count).collect()
    }

    /// Everything up to the end of the first `text`.
    pub async fn read_until(&mut self, text: &str) -> String {
        loop {
            let found = self
                .received
                .windows(text.len())
                .position(|window| window == text.as_bytes());
            if let Some(at) = found {
                let bytes = self.received.drain(..at + text.len()).collect();
                return String::from_utf8(bytes).expect("UTF-8");
            }
            self.receive().await;
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.socket
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("send");
    }

    pub async fn closed(&mut self) -> CloseFrame {
        match self.next().await {
            Message::Close(Some(frame)) => frame,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Reads a ServerInit that must announce the 640 × 480 screen in the server's pixel format;
/// the desktop's name.
pub async fn server_init(vnc: &mut Peer) -> String {
    let init = vnc.read(24).await;
    assert_eq!(init[..4], [2, 128, 1, 224], "640 × 480");
    assert_eq!(
        init[4..20],
        [32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0],
        "32 bits, depth 24, little-endian true colour, shifts 16/8/0"
    );
    let name_length = u32::from_be_bytes([init[20], init[21], init[22], init[23]]);
    String::from_utf8(vnc.read(name_length as usize).await).expect("UTF-8")
}

pub fn update_request(incremental: bool) -> Vec<u8> {
    let mut message = vec![3, u8::from(incremental), 0, 0, 0, 0];
    message.extend_from_slice(&(WIDTH as u16).to_be_bytes());
    message.extend_from_slice(&(HEIGHT as u16).to_be_bytes());
    message
}

/// Reads a FramebufferUpdate that must be the whole screen as one Raw rectangle; its pixels.
pub async fn full_update(vnc: &mut Peer) -> Vec<u8> {
    assert_eq!(
        vnc.read(4).await,
        [0, 0, 0, 1],
        "an update of one rectangle"
    );
    assert_eq!(
        vnc.read(12).await,
        [0, 0, 0, 0, 2, 128, 1, 224, 0, 0, 0, 0],
        "x 0, y 0, 640 × 480, Raw"
    );
    vnc.read(WIDTH * HEIGHT * 4).await
}

pub fn pixel(pixels: &[u8], x: usize, y: usize) -> &[u8] {
    let at = (y * WIDTH + x) * 4;
    &pixels[at..at + 4]
}

/// Checks the test pattern in the server's pixel format: eight colour bars above a band
/// with the VM's name drawn on it.
pub fn assert_test_pattern(pixels: &[u8]) {
    let colours: HashSet<&[u8]> = pixels.chunks(4).collect();
    assert_eq!(colours.len(), 9, "eight bars and a band: {colours:?}");
    let band: HashSet<&[u8]> = pixels[WIDTH * HEIGHT * 2 / 3 * 4..].chunks(4).collect();
    assert_eq!(band.len(), 2, "the name drawn on the band: {band:?}");
    assert_eq!(
        pixel(pixels, 120, 10),
        [0, 255, 255, 0],
        "yellow, as B G R x"
    );
    assert_eq!(pixel(pixels, 440, 10), [0, 0, 255, 0], "red, as B G R x");
}
