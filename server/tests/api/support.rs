//! Shared test fixtures: fresh databases and an in-process application.

use app::{
    auth::server::{
        password::PasswordHasher,
        session::SessionPolicy,
        users::{insert, NewUser},
        Auth,
    },
    context::AppState,
    db::{now_ms, Db},
};
use axum::response::Response;
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use std::{
    io,
    path::PathBuf,
    sync::{Arc, Mutex},
};

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

async fn postgres_db(server: &str) -> TestDb {
    let name = format!("wukong_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Db::connect(&format!("{server}/postgres"))
        .await
        .expect("reach the test PostgreSQL server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(admin.pool())
        .await
        .expect("create test database");
    admin.close().await;
    let db = Db::connect(&format!("{server}/{name}"))
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
        },
        allowed_origins: vec![ORIGIN.to_owned()],
        throttle: Default::default(),
    }
}

/// Creates a local account and returns its id.
pub async fn create_user(db: &Db, auth: &Auth, email: &str, password: &str) -> String {
    let hash = auth.hasher.hash(password.to_owned()).await.expect("hash");
    let mut conn = db.pool().acquire().await.expect("connection");
    let user = NewUser {
        email,
        display_name: "Test User",
        password_hash: &hash,
        is_admin: false,
        must_change_password: false,
    };
    insert(&mut conn, &user, now_ms())
        .await
        .expect("insert user")
}

/// Application state over `db`, serving static files from the repository's `public/`.
pub fn app_state(db: Db) -> AppState {
    app_state_with(db, test_auth(false))
}

pub fn app_state_with(db: Db, auth: Auth) -> AppState {
    let public = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../public");
    let leptos_options = LeptosOptions::builder()
        .output_name("wukong")
        .site_root(public.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build();
    AppState {
        leptos_options,
        db,
        auth,
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
pub async fn body_text(response: Response) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("UTF-8 body")
}

/// A session cookie (`name=token`) of a fresh user signed in through the router.
pub async fn signed_in_cookie(db: &Db) -> String {
    use axum::http::{header, Request};
    use tower::ServiceExt as _;
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
