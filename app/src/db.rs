//! Database access: one pool over SQLite (embedded default) or PostgreSQL, chosen by URL.
//!
//! Queries use sqlx's runtime API over the SQL both engines share (TEXT ids, BIGINT unix-ms
//! timestamps, BOOLEAN flags, `$n` placeholders), so one query text serves both backends.

use sqlx::{
    any::{install_default_drivers, AnyPoolOptions},
    migrate::{Migration, MigrationType, Migrator},
    AnyPool,
};
use std::{borrow::Cow, time::Duration};

/// Which engine a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names, or `None` for an unsupported scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme)?;
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            _ => None,
        }
    }

    /// A human name for logs and the UI.
    pub fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/NAME")]
    UnsupportedUrl(String),
    #[error("cannot open database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Per-connection SQLite settings. WAL lets readers run beside the writer; NORMAL sync is
/// durable against process crashes, which is what an embedded single-node store needs.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
];

/// A migration: version, description, SQL. Both lists must name the same versions.
type MigrationSource = (i64, &'static str, &'static str);

const SQLITE_MIGRATIONS: &[MigrationSource] = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "mfa_failures",
        include_str!("../migrations/sqlite/0002_mfa_failures.sql"),
    ),
    (
        3,
        "hardening",
        include_str!("../migrations/sqlite/0003_hardening.sql"),
    ),
    (
        4,
        "audit_paging",
        include_str!("../migrations/sqlite/0004_audit_paging.sql"),
    ),
    (
        5,
        "session_clock",
        include_str!("../migrations/sqlite/0005_session_clock.sql"),
    ),
    (
        6,
        "quotas",
        include_str!("../migrations/sqlite/0006_quotas.sql"),
    ),
    (
        7,
        "console_take_over",
        include_str!("../migrations/sqlite/0007_console_take_over.sql"),
    ),
    (
        8,
        "snapshots",
        include_str!("../migrations/sqlite/0008_snapshots.sql"),
    ),
];

const POSTGRES_MIGRATIONS: &[MigrationSource] = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "mfa_failures",
        include_str!("../migrations/postgres/0002_mfa_failures.sql"),
    ),
    (
        3,
        "hardening",
        include_str!("../migrations/postgres/0003_hardening.sql"),
    ),
    (
        4,
        "audit_paging",
        include_str!("../migrations/postgres/0004_audit_paging.sql"),
    ),
    (
        5,
        "session_clock",
        include_str!("../migrations/postgres/0005_session_clock.sql"),
    ),
    (
        6,
        "quotas",
        include_str!("../migrations/postgres/0006_quotas.sql"),
    ),
    (
        7,
        "console_take_over",
        include_str!("../migrations/postgres/0007_console_take_over.sql"),
    ),
    (
        8,
        "snapshots",
        include_str!("../migrations/postgres/0008_snapshots.sql"),
    ),
];

/// The migrations compiled into the binary for `backend`, as (version, description).
pub fn embedded_migrations(backend: Backend) -> Vec<(i64, &'static str)> {
    migration_sources(backend)
        .iter()
        .map(|(version, description, _)| (*version, *description))
        .collect()
}

fn migration_sources(backend: Backend) -> &'static [MigrationSource] {
    match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    }
}

/// A connection pool plus the backend it talks to. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Opens a pool and checks that the database answers.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let backend =
            Backend::from_url(url).ok_or_else(|| DbError::UnsupportedUrl(redact_url(url)))?;
        install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in SQLITE_PRAGMAS {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|source| DbError::Connect {
                url: redact_url(url),
                source,
            })?;
        Ok(Db { pool, backend })
    }

    /// Brings the schema up to date; safe to run on every start and from several replicas.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrations = migration_sources(self.backend)
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect::<Vec<_>>();
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            ..Migrator::DEFAULT
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction that reads and then writes what it read: on SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`), so that two of them serialise instead of deadlocking
    /// on the lock upgrade; on PostgreSQL the rows read must be locked with [`Db::lock_row`].
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Locks the row of `table` whose `id` is `id` until the end of the transaction
    /// (PostgreSQL's `FOR UPDATE`; SQLite's write transaction holds the whole database).
    /// Whether the row exists.
    pub async fn lock_row(
        &self,
        conn: &mut sqlx::AnyConnection,
        table: &'static str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        };
        let found = sqlx::query(&format!("SELECT id FROM {table} WHERE id = $1{lock}"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
        Ok(found.is_some())
    }

    /// Waits for checked-out connections to return, then closes them.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The URL with any password replaced, fit for logs and error messages.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Milliseconds since the Unix epoch, the timestamp unit of every table.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
