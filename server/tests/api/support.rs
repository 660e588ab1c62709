//! Shared test fixtures: fresh databases and an in-process application.

use app::{
    assets::Bundle,
    auth::server::{
        oidc::OidcSettings,
        password::PasswordHasher,
        secrets::SecretBox,
        session::{SessionPolicy, DEFAULT_MAX_PER_USER},
        throttle::{LoginThrottle, DEFAULT_CAPACITY},
        users::{insert, NewUser},
        Auth,
    },
    cluster::{Cluster, ClusterSource},
    context::AppState,
    db::{now_ms, Db},
    realtime::sockets::{SocketPolicy, SocketSlots},
};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    response::Response,
};
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use server::simcluster::SimCluster;
use sqlx::Row as _;
use std::{
    io,
    path::PathBuf,
    sync::{Arc, Mutex},
};
use tower::ServiceExt as _;

/// A migrated database that belongs to one test.
pub struct TestDb {
    pub db: Db,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server to test against (`postgres://USER@HOST:PORT`), when there is one.
pub fn postgres_server() -> Option<String> {
    std::env::var("WUKONG_TEST_POSTGRES").ok()
}

/// A fresh, migrated database: PostgreSQL when `WUKONG_TEST_POSTGRES` is set, else SQLite.
pub async fn test_db() -> TestDb {
    match postgres_server() {
        Some(server) => postgres_db(&server).await,
        None => sqlite_db().await,
    }
}

/// A fresh, migrated SQLite file database.
pub async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    let db = Db::connect(&url).await.expect("open SQLite");
    db.migrate().await.expect("migrate SQLite");
    TestDb {
        db,
        _dir: Some(dir),
    }
}

/// The URL of a new, empty database on the PostgreSQL `server`.
pub async fn new_postgres_database(server: &str) -> String {
    let name = format!("wukong_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Db::connect(&format!("{server}/postgres"))
        .await
        .expect("reach the test PostgreSQL server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(admin.pool())
        .await
        .expect("create test database");
    admin.close().await;
    format!("{server}/{name}")
}

async fn postgres_db(server: &str) -> TestDb {
    let db = Db::connect(&new_postgres_database(server).await)
        .await
        .expect("open test database");
    db.migrate().await.expect("migrate PostgreSQL");
    TestDb { db, _dir: None }
}

/// The origin test requests claim to come from.
pub const ORIGIN: &str = "http://wukong.test";

/// Identity services for tests: real argon2id, plain-http cookies, [`ORIGIN`] allowed.
pub fn test_auth(secure_cookies: bool) -> Auth {
    Auth {
        hasher: PasswordHasher::new(2).expect("hasher"),
        sessions: SessionPolicy {
            idle_ms: 3_600_000,
            absolute_ms: 86_400_000,
            secure_cookies,
            max_per_user: DEFAULT_MAX_PER_USER,
        },
        allowed_origins: vec![ORIGIN.to_owned()],
        throttle: frozen_throttle(),
        secrets: SecretBox::new(&[7; 32]).expect("test key"),
        oidc: OidcSettings::new(ORIGIN).expect("HTTP client"),
        revocations: Default::default(),
        trusted_proxies: Default::default(),
        first_admin_password: Default::default(),
    }
}

/// A sign-in throttle whose clock stands still: its delays never run out during a test, so
/// "the sixth attempt is held back" does not depend on how fast the machine is.
pub fn frozen_throttle() -> Arc<LoginThrottle> {
    let now = now_ms();
    Arc::new(LoginThrottle::with_clock(
        DEFAULT_CAPACITY,
        Arc::new(move || now),
    ))
}

/// Creates a local account and returns its id.
pub async fn create_user(db: &Db, auth: &Auth, email: &str, password: &str) -> String {
    let hash = auth.hasher.hash(password.to_owned()).await.expect("hash");
    let mut conn = db.pool().acquire().await.expect("connection");
    let user = NewUser {
        email,
        display_name: "Test User",
        password_hash: Some(&hash),
        is_admin: false,
        must_change_password: false,
    };
    insert(&mut conn, &user, now_ms())
        .await
        .expect("insert user")
}

/// The API resource of a kind, for dynamic requests (`group` empty for the core group).
pub fn api_resource(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

/// A cluster connection to a port where nothing listens: enough for tests that never call
/// the cluster, and a cluster that is down for those that check.
pub fn unreachable_cluster() -> Cluster {
    cluster_at("http://127.0.0.1:9")
}

/// A connection to the simulated cluster `sim`, with its token.
pub fn simulated(sim: &SimCluster) -> Cluster {
    let client = kube::Client::try_from(sim.client_config()).expect("kube client");
    Cluster::new(client, ClusterSource::Simulated(sim.url()))
}

/// A connection without credentials to a stand-in API server at `url` (a test's mock).
pub fn cluster_at(url: &str) -> Cluster {
    let config = kube::Config::new(url.parse().expect("cluster URL"));
    let client = kube::Client::try_from(config).expect("kube client");
    Cluster::new(client, ClusterSource::Simulated(url.to_owned()))
}

/// Application state over `db`, serving static files from the repository's `public/`.
pub fn app_state(db: Db) -> AppState {
    app_state_with(db, test_auth(false))
}

pub fn app_state_with(db: Db, auth: Auth) -> AppState {
    app_state_on(db, auth, unreachable_cluster())
}

/// Application state over `db` and `cluster`, with live watches of that cluster.
pub fn app_state_on(db: Db, auth: Auth, cluster: Cluster) -> AppState {
    let public = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../public");
    let leptos_options = LeptosOptions::builder()
        .output_name("wukong")
        .site_root(public.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build();
    AppState {
        bundle: Arc::new(Bundle::load(&public, "pkg", "wukong", true)),
        leptos_options,
        db,
        auth,
        live: app::realtime::server::Live::start(&cluster.client),
        sockets: SocketSlots::new(SocketPolicy::new(20)),
        consoles: Default::default(),
        cluster,
    }
}

/// Log output captured for the current thread, for tests on what the server logs.
#[derive(Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Captures the logs of this thread until the returned guard drops (single-threaded
    /// tests only: other threads keep their own subscriber).
    pub fn start(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The whole body of a response, as text.
/// Serves `app` on a fresh loopback port; its URL and task.
pub async fn serve_on_loopback(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

/// Wukong's answer to a GET of `path` without a session.
pub async fn get_from(state: AppState, path: &str) -> Response {
    server::http::router(state)
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("answer")
}

pub async fn body_text(response: Response) -> String {
    String::from_utf8(body_bytes(response).await.to_vec()).expect("UTF-8 body")
}

/// The whole body of `response`, as sent (compressed, when it was).
pub async fn body_bytes(response: Response) -> axum::body::Bytes {
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}

/// A session cookie (`name=token`) of a fresh user signed in through the router.
pub async fn signed_in_cookie(db: &Db) -> String {
    let auth = test_auth(false);
    let email = format!("{}@example.test", uuid::Uuid::new_v4().simple());
    create_user(db, &auth, &email, "page viewer password").await;
    let request = Request::post("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, ORIGIN)
        .body(axum::body::Body::from(format!(
            "email={}&password=page+viewer+password",
            email.replace('@', "%40")
        )))
        .expect("request");
    let response = server::http::router(app_state_with(db.clone(), auth))
        .oneshot(request)
        .await
        .expect("router answers");
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .expect("signed in");
    set_cookie
        .split(';')
        .next()
        .expect("cookie pair")
        .to_owned()
}

pub const EMAIL: &str = "ada@example.test";
pub const PASSWORD: &str = "correct horse battery";

/// A user `EMAIL`/`PASSWORD` on a fresh database, and requests to the router.
pub struct Client {
    pub test: TestDb,
    pub auth: Auth,
}

impl Client {
    /// The same user and database, with the in-memory sign-in throttle forgotten (as after
    /// a restart).
    pub fn with_fresh_throttle(&self) -> Client {
        Client {
            test: TestDb {
                db: self.test.db.clone(),
                _dir: None,
            },
            auth: Auth {
                throttle: frozen_throttle(),
                ..self.auth.clone()
            },
        }
    }

    pub async fn new(secure_cookies: bool) -> Self {
        let test = test_db().await;
        let auth = test_auth(secure_cookies);
        create_user(&test.db, &auth, EMAIL, PASSWORD).await;
        Client { test, auth }
    }

    pub async fn post(
        &self,
        endpoint: &str,
        body: &str,
        origin: Option<&str>,
        cookie: Option<&str>,
    ) -> Response {
        let mut request = Request::post(format!("/api/{endpoint}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        server::http::router(app_state_with(self.test.db.clone(), self.auth.clone()))
            .oneshot(request.body(Body::from(body.to_owned())).expect("request"))
            .await
            .expect("router answers")
    }

    /// A server fn that takes JSON, from an allowed origin.
    pub async fn post_json(&self, endpoint: &str, body: &str, cookie: Option<&str>) -> Response {
        let mut request = Request::post(format!("/api/{endpoint}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, ORIGIN);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        server::http::router(app_state_with(self.test.db.clone(), self.auth.clone()))
            .oneshot(request.body(Body::from(body.to_owned())).expect("request"))
            .await
            .expect("router answers")
    }

    pub async fn get(&self, path: &str, cookie: &str) -> Response {
        let request = Request::get(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .expect("request");
        server::http::router(app_state_with(self.test.db.clone(), self.auth.clone()))
            .oneshot(request)
            .await
            .expect("router answers")
    }

    pub async fn login(&self, email: &str, password: &str, cookie: Option<&str>) -> Response {
        let body = format!("email={}&password={}", form(email), form(password));
        self.post("auth/login", &body, Some(ORIGIN), cookie).await
    }

    pub async fn me(&self, cookie: &str) -> StatusCode {
        self.post("auth/me", "", Some(ORIGIN), Some(cookie))
            .await
            .status()
    }

    pub async fn audit_reasons(&self, event: &str) -> Vec<String> {
        sqlx::query("SELECT details FROM audit_logs WHERE event_type = $1 ORDER BY occurred_at")
            .bind(event)
            .fetch_all(self.test.db.pool())
            .await
            .expect("audit rows")
            .iter()
            .map(|row| row.get::<String, _>("details"))
            .collect()
    }
}

/// `value` encoded for an `application/x-www-form-urlencoded` body.
pub fn form(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The one `Set-Cookie` of `response`.
pub fn set_cookie(response: &Response) -> String {
    let values: Vec<_> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .collect();
    assert_eq!(values.len(), 1, "expected one Set-Cookie, got {values:?}");
    values[0].to_str().expect("ASCII").to_owned()
}

/// `name=value` of a `Set-Cookie`, ready for a `Cookie` header.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().expect("pair").to_owned()
}

/// Signs `email` in through the router of `state`, from a browser holding the session
/// cookie `previous` if any; the new session cookie (`name=value`).
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    previous: Option<&str>,
) -> String {
    let mut request = Request::post("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, ORIGIN);
    if let Some(previous) = previous {
        request = request.header(header::COOKIE, previous);
    }
    let request = request
        .body(Body::from(format!(
            "email={}&password={}",
            form(email),
            form(password)
        )))
        .expect("request");
    let response = server::http::router(state.clone())
        .oneshot(request)
        .await
        .expect("router answers");
    cookie_pair(&set_cookie(&response))
}
