//! Consoles through Wukong (`/console/{kind}`), over the simulated cluster: tickets and the
//! checks of the socket (`tickets`), and open consoles, how they end and what the audit log
//! keeps of them (`sessions`).

mod sessions;
mod tickets;

use crate::{
    support::{form, ORIGIN},
    tenancy::{json, Tenancy, Who, VM},
};
use app::console::types::{CONSOLE_PROTOCOL, TICKET_PROTOCOL_PREFIX};
use axum::http::{header, StatusCode};
use futures_util::StreamExt as _;
use std::time::Duration;
use tokio_tungstenite::{
    tungstenite::{self, client::IntoClientRequest as _, protocol::CloseFrame, Message},
    WebSocketStream,
};

pub type Socket = WebSocketStream<tokio::net::TcpStream>;

/// A tenancy whose Alpha VM runs.
pub async fn running() -> Tenancy {
    let t = Tenancy::start().await;
    start_alpha_vm(&t).await;
    t
}

/// Alpha's VM started by its owner, once the live store sees its instance run.
pub async fn start_alpha_vm(t: &Tenancy) {
    let body = serde_json::json!({"project": t.alpha.slug, "name": VM, "action": "Start"});
    let (status, answer) = t.post(Who::Owner, "vms/action", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    for _ in 0..1000 {
        let vmi = t.state.live.vmi(&t.alpha.namespace, VM);
        let phase = vmi
            .as_ref()
            .and_then(|vmi| vmi.status.as_ref())
            .and_then(|status| status.phase.clone());
        if phase.as_deref() == Some("Running") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{VM} never ran");
}

/// The server fn's answer to a ticket for `kind` of Alpha's VM, asked with `cookie`.
pub async fn ask_ticket(
    t: &Tenancy,
    cookie: &str,
    kind: &str,
    take_over: bool,
) -> (StatusCode, String) {
    let body = format!(
        "project={}&vm={VM}&kind={kind}&take_over={take_over}",
        form(&t.alpha.slug)
    );
    t.post_as(cookie, "console_ticket", &body).await
}

/// A ticket for `kind` of Alpha's VM, which `cookie`'s user may have.
pub async fn ticket(t: &Tenancy, cookie: &str, kind: &str, take_over: bool) -> String {
    let (status, body) = ask_ticket(t, cookie, kind, take_over).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = json(&body);
    assert_eq!(answer["path"], format!("/console/{kind}"));
    answer["ticket"].as_str().expect("ticket").to_owned()
}

/// How a browser opens a console: its `Origin`, its cookie and the ticket.
pub struct Opening<'a> {
    pub path: &'a str,
    pub origin: Option<&'a str>,
    pub cookie: Option<&'a str>,
    pub ticket: Option<&'a str>,
}

impl<'a> Opening<'a> {
    pub fn new(kind: &'a str, cookie: &'a str, ticket: &'a str) -> Self {
        let path = match kind {
            "vnc" => "/console/vnc",
            _ => "/console/serial",
        };
        Opening {
            path,
            origin: Some(ORIGIN),
            cookie: Some(cookie),
            ticket: Some(ticket),
        }
    }
}

/// Opens a console as a browser would; the socket, or the HTTP status it was refused with.
pub async fn open(t: &mut Tenancy, opening: Opening<'_>) -> Result<Socket, StatusCode> {
    let address = t.listen().await;
    let mut request = format!("ws://{address}{}", opening.path)
        .into_client_request()
        .expect("request");
    let headers = request.headers_mut();
    if let Some(origin) = opening.origin {
        headers.insert(header::ORIGIN, origin.parse().expect("origin"));
    }
    if let Some(cookie) = opening.cookie {
        headers.insert(header::COOKIE, cookie.parse().expect("cookie"));
    }
    let mut protocols = CONSOLE_PROTOCOL.to_owned();
    if let Some(ticket) = opening.ticket {
        protocols.push_str(&format!(", {TICKET_PROTOCOL_PREFIX}{ticket}"));
    }
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        protocols.parse().expect("protocols"),
    );
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((socket, response)) => {
            assert_eq!(
                response.headers()[header::SEC_WEBSOCKET_PROTOCOL],
                CONSOLE_PROTOCOL
            );
            Ok(socket)
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status()),
        Err(error) => panic!("the console's handshake failed: {error}"),
    }
}

/// Opens Alpha's VM's `kind` console as `who`, with a fresh ticket.
pub async fn open_as(t: &mut Tenancy, who: Who, kind: &str, take_over: bool) -> Socket {
    let cookie = t.cookie(who).to_owned();
    let ticket = ticket(t, &cookie, kind, take_over).await;
    open(t, Opening::new(kind, &cookie, &ticket))
        .await
        .expect("the console opens")
}

/// Bytes from the console until `enough` holds of all received so far.
pub async fn read_until(socket: &mut Socket, enough: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut received = Vec::new();
    let wait = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(message) = socket.next().await {
            match message.expect("console message") {
                Message::Binary(bytes) => received.extend_from_slice(&bytes),
                Message::Close(frame) => panic!("closed early: {frame:?}"),
                _ => {}
            }
            if enough(&received) {
                return;
            }
        }
        panic!("the console ended");
    });
    wait.await.unwrap_or_else(|_| {
        panic!(
            "not enough from the console: {:?}",
            String::from_utf8_lossy(&received)
        )
    });
    received
}

/// The close frame that ends `socket`, skipping whatever comes before it.
pub async fn closing(socket: &mut Socket) -> CloseFrame {
    let wait = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(message) = socket.next().await {
            if let Ok(Message::Close(Some(frame))) = message {
                return frame;
            }
        }
        panic!("the console ended without a close frame");
    });
    wait.await.expect("the console closes")
}
