//! Kubeconfig users of the `oidc` auth provider (`auth-provider: {name: oidc, config: …}`, as
//! `kubectl config set-credentials --auth-provider=oidc` writes them), on a real API server.
//!
//! The API server here does not know the issuer, so Wukong reaches it through a gate that
//! plays its OIDC authenticator: it lets through, as the admin, requests bearing an ID token
//! the issuer handed out that has not expired, and answers any other 401. The issuer is a
//! minimal one: discovery and a token endpoint for the `refresh_token` grant, over HTTPS as
//! kube-rs requires of it.

use super::{http_get, start_with_env};
use crate::controlplane::harness::ControlPlane;
use axum::{
    body::Body,
    extract::{Form, Request, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine as _,
};
use serde_json::{json, Value};
use server::simcluster::access::{self_signed, Credentials, TlsListener};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

const CLIENT_ID: &str = "kubernetes";
const CLIENT_SECRET: &str = "kubernetes-client-secret";

fn now() -> i64 {
    app::db::now_ms() / 1_000
}

/// An ID token as an issuer makes it: a JWT whose claims say when it expires (the signature
/// is random bytes: only the issuer's own ledger vouches for a token here).
fn id_token(issuer: &str, expires: i64) -> String {
    let part = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!(
        "{}.{}.{}",
        part(json!({"alg": "RS256", "typ": "JWT"})),
        part(json!({"iss": issuer, "sub": "operator", "aud": CLIENT_ID,
            "iat": now(), "exp": expires})),
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()),
    )
}

#[derive(Default)]
struct Ledger {
    /// ID tokens handed out, with when each expires.
    id_tokens: HashMap<String, i64>,
    /// Refresh tokens that still work; each works once (the issuer rotates them).
    refresh_tokens: HashSet<String>,
    /// What the issuer was asked, as `GET /path` or `POST /token <grant> <refresh token>`.
    asked: Vec<String>,
}

#[derive(Clone)]
struct Issuer {
    url: String,
    ledger: Arc<Mutex<Ledger>>,
}

impl Issuer {
    fn issue(&self, expires: i64) -> String {
        let token = id_token(&self.url, expires);
        let mut ledger = self.ledger.lock().expect("ledger");
        ledger.id_tokens.insert(token.clone(), expires);
        token
    }

    fn refresh_token(&self) -> String {
        let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let mut ledger = self.ledger.lock().expect("ledger");
        ledger.refresh_tokens.insert(token.clone());
        token
    }

    fn unexpired(&self, token: &str) -> bool {
        let ledger = self.ledger.lock().expect("ledger");
        ledger
            .id_tokens
            .get(token)
            .is_some_and(|expires| *expires > now())
    }

    fn asked(&self) -> Vec<String> {
        self.ledger.lock().expect("ledger").asked.clone()
    }
}

/// A listener on 127.0.0.1 and the HTTPS URL it will serve.
async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("address"));
    (listener, url)
}

/// Serves `router` on `listener` over HTTPS with `credentials`, for as long as the test's
/// runtime runs.
fn serve_https(listener: tokio::net::TcpListener, router: Router, credentials: &Credentials) {
    let (stop, stopped) = tokio::sync::watch::channel(());
    let listener = TlsListener::start(listener, credentials, stopped).expect("TLS");
    tokio::spawn(async move {
        let _stop = stop;
        let _ = axum::serve(listener, router).await;
    });
}

async fn start_issuer(credentials: &Credentials) -> Issuer {
    let (listener, url) = listen().await;
    let issuer = Issuer {
        url,
        ledger: Arc::default(),
    };
    let router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/token", post(token))
        .with_state(issuer.clone());
    serve_https(listener, router, credentials);
    issuer
}

async fn discovery(State(issuer): State<Issuer>) -> Json<Value> {
    issuer
        .ledger
        .lock()
        .expect("ledger")
        .asked
        .push("GET /.well-known/openid-configuration".to_owned());
    // What a refreshing client reads of it: the token endpoint.
    let url = &issuer.url;
    Json(json!({"issuer": url, "token_endpoint": format!("{url}/token")}))
}

/// The client authenticates with HTTP Basic or in the form (kube-rs tries both, in that
/// order, kube-client 5 client/auth/oidc.rs `AuthStyle`).
fn client_authenticated(headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let in_header = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == basic.as_bytes());
    let in_form = form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    in_header || in_form
}

async fn token(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    let renewed = {
        let mut ledger = issuer.ledger.lock().expect("ledger");
        ledger
            .asked
            .push(format!("POST /token {grant} {presented}"));
        client_authenticated(&headers, &form)
            && grant == "refresh_token"
            && ledger.refresh_tokens.remove(&presented)
    };
    if !renewed {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    Json(
        json!({"access_token": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()),
        "token_type": "Bearer", "expires_in": 300,
        "id_token": issuer.issue(now() + 300), "refresh_token": issuer.refresh_token()}),
    )
    .into_response()
}

/// The API server's side: the `Authorization` headers it was sent.
type Heard = Arc<Mutex<Vec<String>>>;

#[derive(Clone)]
struct Gate {
    issuer: Issuer,
    admin: kube::Client,
    heard: Heard,
}

/// An unexpired ID token of the issuer lets the request through to the API server as the
/// admin, its answer streamed back (watches included); anything else is answered 401 as
/// the API server answers a token no authenticator accepts.
async fn through_gate(State(gate): State<Gate>, request: Request) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    gate.heard.lock().expect("heard").push(presented.clone());
    let accepted = presented
        .strip_prefix("Bearer ")
        .is_some_and(|token| gate.issuer.unexpired(token));
    if !accepted {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401});
        return (StatusCode::UNAUTHORIZED, Json(status)).into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut upstream = http::Request::builder().method(parts.method).uri(
        parts
            .uri
            .path_and_query()
            .map_or("/", |path| path.as_str())
            .to_owned(),
    );
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = parts.headers.get(&name) {
            upstream = upstream.header(name, value);
        }
    }
    let upstream = upstream
        .body(kube::client::Body::from(body.to_vec()))
        .expect("request");
    match gate.admin.send(upstream).await {
        Ok(answer) => {
            let (parts, body) = answer.into_parts();
            let mut response = Response::new(Body::new(body));
            *response.status_mut() = parts.status;
            if let Some(kind) = parts.headers.get(header::CONTENT_TYPE) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, kind.clone());
            }
            response
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// A gate to `plane` for the tokens of `issuer`; its URL, and the `Authorization` headers it
/// has been sent.
async fn start_gate(
    plane: &ControlPlane,
    issuer: &Issuer,
    credentials: &Credentials,
) -> (String, Heard) {
    let gate = Gate {
        issuer: issuer.clone(),
        admin: plane.admin().await.client,
        heard: Heard::default(),
    };
    let heard = gate.heard.clone();
    let (listener, url) = listen().await;
    serve_https(
        listener,
        Router::new().fallback(through_gate).with_state(gate),
        credentials,
    );
    (url, heard)
}

/// A kubeconfig for the gate at `server` (trusting `ca`) whose user holds `id_token` and
/// `refresh_token` of `issuer`.
fn kubeconfig(
    server: &str,
    ca: &str,
    issuer: &Issuer,
    id_token: &str,
    refresh_token: &str,
) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: cp\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {}\nusers:\n- name: operator\n  user:\n    auth-provider:\n      \
         name: oidc\n      config:\n        client-id: {CLIENT_ID}\n        client-secret: \
         {CLIENT_SECRET}\n        id-token: {id_token}\n        idp-issuer-url: {}\n        \
         refresh-token: {refresh_token}\ncontexts:\n- name: cp\n  context:\n    cluster: cp\n    \
         user: operator\ncurrent-context: cp\n",
        STANDARD.encode(ca),
        issuer.url,
    )
}

/// `/readyz` of a `wukong` on `kubeconfig`, trusting the issuer's certificate in
/// `trusted` as the machine's roots (kube-rs checks the issuer against those only), once
/// `done` holds of its body; the last answer after 30 s otherwise.
async fn readyz_with(
    dir: &std::path::Path,
    name: &str,
    kubeconfig: &str,
    trusted: &std::path::Path,
    done: fn(&str) -> bool,
) -> String {
    let path = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, kubeconfig).expect("write kubeconfig");
    let data = dir.join(name);
    let env = vec![
        ("KUBECONFIG", path.display().to_string()),
        ("SSL_CERT_FILE", trusted.display().to_string()),
    ];
    tokio::task::spawn_blocking(move || {
        let running = start_with_env(&data, &[], &env);
        let mut answer = String::new();
        for _ in 0..150 {
            answer = http_get(running.address, "/readyz");
            if done(&answer) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        answer
    })
    .await
    .expect("readyz")
}

fn ready(answer: &str) -> bool {
    answer.starts_with("HTTP/1.1 200")
}

/// The ID token of a kubeconfig's OIDC user is what the API server is sent; once expired
/// it is renewed with the refresh token at the issuer's token endpoint, found by discovery,
/// and the renewed one is sent. When the issuer refuses, `/readyz` says what is wrong.
///
/// kube-rs (kube-client 5, client/auth/oidc.rs) renews a token within 10 s of its expiry,
/// as client-go's oidc plugin does (plugin/pkg/client/auth/oidc/oidc.go, `expiryDelta`).
/// Unlike client-go it reaches the issuer only over HTTPS, trusting the machine's roots
/// (or `SSL_CERT_FILE`) rather than `idp-certificate-authority`, and keeps the renewed
/// tokens in memory instead of writing them back to the kubeconfig.
#[tokio::test]
async fn an_oidc_users_id_token_is_sent_and_renewed_at_its_issuer_once_expired() {
    let plane = ControlPlane::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let issuer_tls = self_signed(vec!["127.0.0.1".to_owned()]).expect("issuer certificate");
    let gate_tls = self_signed(vec!["127.0.0.1".to_owned()]).expect("gate certificate");
    let trusted = dir.path().join("issuer.pem");
    std::fs::write(&trusted, &issuer_tls.certificate_pem).expect("write");
    let issuer = start_issuer(&issuer_tls).await;
    let ca = &gate_tls.certificate_pem;
    // Each Wukong below meets a gate of its own, which hears only it.
    let sent = |heard: &Heard| -> HashSet<String> {
        heard.lock().expect("heard").iter().cloned().collect()
    };

    let (gate, heard) = start_gate(&plane, &issuer, &gate_tls).await;
    let fresh = issuer.issue(now() + 3600);
    let config = kubeconfig(&gate, ca, &issuer, &fresh, &issuer.refresh_token());
    let answer = readyz_with(dir.path(), "fresh", &config, &trusted, ready).await;
    assert!(ready(&answer), "{answer}");
    assert!(answer.contains(r#""cluster":"ok""#), "{answer}");
    assert_eq!(sent(&heard), HashSet::from([format!("Bearer {fresh}")]));
    assert_eq!(issuer.asked(), Vec::<String>::new());

    let (gate, heard) = start_gate(&plane, &issuer, &gate_tls).await;
    let expired = issuer.issue(now() - 60);
    let refresh = issuer.refresh_token();
    let config = kubeconfig(&gate, ca, &issuer, &expired, &refresh);
    let answer = readyz_with(dir.path(), "expired", &config, &trusted, ready).await;
    assert!(ready(&answer), "{answer}");
    assert_eq!(
        issuer.asked(),
        [
            "GET /.well-known/openid-configuration".to_owned(),
            format!("POST /token refresh_token {refresh}"),
        ]
    );
    let renewed = sent(&heard);
    assert_eq!(renewed.len(), 1, "one renewed token: {renewed:?}");
    assert!(
        renewed.iter().all(|header| header
            .strip_prefix("Bearer ")
            .is_some_and(|token| token != expired && issuer.unexpired(token))),
        "{renewed:?}"
    );

    // The same refresh token again: the issuer rotated it, and refuses it now.
    let (gate, heard) = start_gate(&plane, &issuer, &gate_tls).await;
    let config = kubeconfig(&gate, ca, &issuer, &expired, &refresh);
    let answer = readyz_with(dir.path(), "refused", &config, &trusted, |answer| {
        answer.contains("watch:")
    })
    .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let body: Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default()).expect("JSON");
    assert_eq!(body["cluster"], "unavailable");
    let watches: Vec<&str> = body["watches"]
        .as_array()
        .expect("watches")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!watches.is_empty(), "{answer}");
    for watch in watches {
        assert!(
            watch.ends_with(
                " watch: Wukong has no working credentials for the cluster: the OIDC ID token \
                 of its kubeconfig has expired and the issuer did not renew it. An \
                 administrator must renew them; the server log says why they failed."
            ),
            "{watch}"
        );
    }
    assert_eq!(
        sent(&heard),
        HashSet::new(),
        "nothing reached the API server"
    );
}
