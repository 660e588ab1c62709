//! Shared test fixtures: fresh databases and an in-process application.

use app::{context::AppState, db::Db};
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

/// Application state over `db`, serving static files from the repository's `public/`.
pub fn app_state(db: Db) -> AppState {
    let public = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../public");
    let leptos_options = LeptosOptions::builder()
        .output_name("wukong")
        .site_root(public.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build();
    AppState { leptos_options, db }
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
