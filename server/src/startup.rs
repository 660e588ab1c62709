//! Turning settings into a running server.

use crate::{config::Settings, data_dir, http};
use app::{
    assets::Bundle,
    auth::server::{
        first_admin::{self, PasswordFile},
        oidc::OidcSettings,
        password::PasswordHasher,
        secrets::SecretBox,
        session::SessionPolicy,
        users::{ensure_first_admin, FIRST_ADMIN_EMAIL},
        Auth,
    },
    context::AppState,
    db::Db,
    net::TrustedProxies,
    realtime::sockets::{SocketPolicy, SocketSlots},
    AppError,
};
use leptos::config::LeptosOptions;
use std::{
    future::Future,
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};
use tokio::net::TcpListener;

/// The file stem of the built assets (`pkg/wukong.js`, `.wasm`, `.css`), set for every build
/// in `.cargo/config.toml`.
const SITE_NAME: &str = env!("LEPTOS_OUTPUT_NAME");

/// Why Wukong could not start. Each message is one line that names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot use data directory {}: {source}", path.display())]
    DataDir { path: PathBuf, source: io::Error },
    #[error("cannot make the database file {} private: {source}", path.display())]
    DatabaseFile { path: PathBuf, source: io::Error },
    #[error("kubeconfig {} cannot be read: {source}", path.display())]
    Kubeconfig { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Database(#[from] app::db::DbError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: io::Error,
    },
    #[error("cannot set up password hashing: {0}")]
    Hasher(argon2::password_hash::Error),
    #[error("cannot set up the first admin account: {0}")]
    FirstAdmin(AppError),
    #[error("cannot write the first admin's password to {}: {source}; run `wukong user reset-password {FIRST_ADMIN_EMAIL}` for a new one", path.display())]
    FirstAdminPassword { path: PathBuf, source: io::Error },
    #[error("cannot connect to the cluster: {0}")]
    Cluster(String),
    #[error("cannot set up the HTTP client for identity providers: {0}")]
    HttpClient(String),
    #[error("secret key {origin}: {reason}")]
    SecretKey { origin: String, reason: String },
}

/// A server that is bound and migrated, ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// The background work that uses the database; it ends before the pool is closed.
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The built-in cluster, when no real one is configured; stops with the server.
    _simulated_cluster: Option<crate::simcluster::SimCluster>,
}

impl Application {
    /// Prepares the data directory, opens and migrates the database and binds the listener.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        if let Some(path) = &settings.kubeconfig {
            std::fs::metadata(path).map_err(|source| StartupError::Kubeconfig {
                path: path.clone(),
                source,
            })?;
        }
        let db = open_database(settings).await?;
        tracing::info!(database = db.backend().label(), "database ready");
        let (cluster, simulated_cluster) = crate::cluster::connect(settings).await?;
        if cluster.is_simulated() {
            tracing::warn!(cluster = %cluster.label(), "no kubeconfig found: using the simulated cluster");
        } else {
            tracing::info!(cluster = %cluster.label(), "cluster configured");
        }

        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartupError::Listen {
                    address: settings.listen,
                    source,
                })?;
        let address = listener
            .local_addr()
            .map_err(|source| StartupError::Listen {
                address: settings.listen,
                source,
            })?;
        let hasher = hasher()?;
        let first_admin_password = hand_over_first_admin_password(settings, &db, &hasher).await?;
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"));
        let auth = Auth {
            hasher,
            sessions: SessionPolicy {
                idle_ms: millis(settings.session_idle_timeout),
                absolute_ms: millis(settings.session_absolute_timeout),
                secure_cookies: secure_cookies(&public_url, address),
                max_per_user: settings.max_sessions_per_user,
            },
            allowed_origins: allowed_origins(
                settings
                    .allowed_origins
                    .iter()
                    .chain(settings.public_url.as_ref()),
                address,
            ),
            throttle: Default::default(),
            secrets: load_secret_key(settings)?,
            oidc: OidcSettings::new(&public_url).map_err(StartupError::HttpClient)?,
            revocations: Default::default(),
            trusted_proxies: TrustedProxies {
                ranges: settings.trusted_proxies.clone(),
                header: settings.forwarded_header.into(),
            },
            first_admin_password,
        };
        let leptos_options = leptos_options(settings, address);
        let state = AppState {
            bundle: Arc::new(site_bundle(&leptos_options)),
            leptos_options,
            db,
            auth,
            live: app::realtime::server::Live::start(&cluster.client),
            sockets: SocketSlots::new(SocketPolicy::new(settings.max_sockets_per_user)),
            consoles: Default::default(),
            cluster,
        };
        // Every project gets its namespace, whoever made it (and projects from before
        // namespaces came with them); in the background, so a slow cluster does not hold up
        // the start.
        let background = vec![
            tokio::spawn(app::projects::server::lifecycle::keep_namespaces(
                state.clone(),
            )),
            tokio::spawn(app::quotas::server::reconcile::keep_reconciling(
                state.clone(),
            )),
        ];
        Ok(Application {
            listener,
            state,
            background,
            _simulated_cluster: simulated_cluster,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.state.leptos_options.site_addr
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and closes the
    /// database pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let address = self.address();
        let db = self.state.db.clone();
        let live = self.state.live.clone();
        tracing::info!(%address, "listening on http://{address}");
        let served = axum::serve(
            self.listener,
            http::router(self.state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        // A reconciliation woken by the last watch events would otherwise meet a closed pool.
        for task in &self.background {
            task.abort();
        }
        for task in self.background {
            // Cancelled is the expected ending; a panic has been reported where it happened.
            let _ = task.await;
        }
        live.stop();
        db.close().await;
        tracing::info!("stopped");
        served
    }
}

/// Prepares the data directory, then opens and migrates the configured database.
pub async fn open_database(settings: &Settings) -> Result<Db, StartupError> {
    prepare_data_dir(&settings.data_dir)?;
    if settings.database_url.is_none() {
        let path = settings.sqlite_file();
        data_dir::prepare_sqlite_file(&path)
            .map_err(|source| StartupError::DatabaseFile { path, source })?;
    }
    let db = Db::connect(&settings.database_url()).await?;
    db.migrate().await?;
    Ok(db)
}

/// Creates the first admin on a database without one and writes its generated password to
/// a file only Wukong's account can read; the log says where, never what (LOG-04). On later
/// starts, removes that file if the password was changed meanwhile.
async fn hand_over_first_admin_password(
    settings: &Settings,
    db: &Db,
    hasher: &PasswordHasher,
) -> Result<PasswordFile, StartupError> {
    let path = settings.data_dir.join(first_admin::FILE_NAME);
    let file = PasswordFile::at(path.clone());
    match ensure_first_admin(db, hasher)
        .await
        .map_err(StartupError::FirstAdmin)?
    {
        Some(password) => {
            data_dir::replace(&path, format!("{password}\n").as_bytes()).map_err(|source| {
                StartupError::FirstAdminPassword {
                    path: path.clone(),
                    source,
                }
            })?;
            tracing::warn!(
                email = FIRST_ADMIN_EMAIL,
                path = %path.display(),
                "first run: created the admin account; its password is in {}: sign in and change it now (the file is removed then)",
                path.display()
            );
        }
        None => {
            file.remove_if_stale(db)
                .await
                .map_err(StartupError::FirstAdmin)?;
            if path.exists() {
                tracing::warn!(
                    email = FIRST_ADMIN_EMAIL,
                    path = %path.display(),
                    "the first-run admin password in {} is still unchanged: sign in and change it",
                    path.display()
                );
            }
        }
    }
    Ok(file)
}

/// The password hasher, allowed as many concurrent hashes as there are cores.
pub fn hasher() -> Result<PasswordHasher, StartupError> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    PasswordHasher::new(cores).map_err(StartupError::Hasher)
}

/// Cookies carry `Secure` and the `__Host-` prefix unless browsers reach Wukong only over
/// plain http on a loopback address: behind a TLS proxy (an https public URL) they do even
/// when Wukong itself listens on loopback.
pub fn secure_cookies(public_url: &str, address: SocketAddr) -> bool {
    public_url.starts_with("https://") || !address.ip().is_loopback()
}

fn millis(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// The configured origins plus the listen address itself (and `localhost` for loopback).
pub fn allowed_origins<'a>(
    configured: impl Iterator<Item = &'a String>,
    address: SocketAddr,
) -> Vec<String> {
    let mut origins: Vec<String> = configured
        .map(|origin| origin.trim().trim_end_matches('/').to_owned())
        .filter(|origin| !origin.is_empty())
        .collect();
    origins.push(format!("http://{address}"));
    if address.ip().is_loopback() {
        origins.push(format!("http://localhost:{}", address.port()));
    }
    origins
}

/// The key for secrets at rest: from the setting, else from the key file, which is created
/// (readable by the owner only) with a new random key when it does not exist yet.
fn load_secret_key(settings: &Settings) -> Result<SecretBox, StartupError> {
    if let Some(key) = &settings.secret_key {
        return SecretBox::from_base64(key).map_err(|error| StartupError::SecretKey {
            origin: "from WUKONG_SECRET_KEY".to_owned(),
            reason: error.to_string(),
        });
    }
    let path = settings.secret_key_file();
    let fail = |reason: String| StartupError::SecretKey {
        origin: format!("file {}", path.display()),
        reason,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let key = SecretBox::generate_key();
            data_dir::write_new(&path, key.as_bytes()).map_err(|error| fail(error.to_string()))?;
            tracing::info!(path = %path.display(), "created a new secret key file");
            key
        }
        Err(error) => return Err(fail(error.to_string())),
    };
    SecretBox::from_base64(&text).map_err(|error| fail(error.to_string()))
}

/// Creates the data directory if needed (owner-only) and proves it is writable, so a bad
/// directory is reported at start-up rather than at the first write.
fn prepare_data_dir(path: &Path) -> Result<(), StartupError> {
    let fail = |source| StartupError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    data_dir::create(path).map_err(fail)?;
    let probe = path.join(".wukong-write-test");
    // Replaced, not created new: a probe left by a crash must not stop the start.
    data_dir::replace(&probe, b"ok").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

fn leptos_options(settings: &Settings, address: SocketAddr) -> LeptosOptions {
    // cargo-leptos sets LEPTOS_RELOAD_PORT while watching; the live-reload script needs it.
    let reload_port = std::env::var("LEPTOS_RELOAD_PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(3001);
    LeptosOptions::builder()
        .output_name(SITE_NAME)
        .site_root(settings.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(address)
        .reload_port(reload_port)
        .build()
}

/// The browser bundle of the site, under hashed names except while `cargo leptos watch`
/// rebuilds it in place (it reloads the page's stylesheet by its plain name).
fn site_bundle(options: &LeptosOptions) -> Bundle {
    let watching = std::env::var_os("LEPTOS_WATCH").is_some();
    Bundle::load(
        Path::new(options.site_root.as_ref()),
        &options.site_pkg_dir,
        &options.output_name,
        !watching,
    )
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
