//! Command-line flags, each with a `WUKONG_*` environment fallback.

use app::{auth::server::session::DEFAULT_MAX_PER_USER, net::Cidr};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::{net::SocketAddr, path::PathBuf};

/// Wukong: a multi-tenant web dashboard for KubeVirt virtual machines.
#[derive(Debug, Clone, Parser)]
#[command(name = "wukong", version, about, long_about = None)]
pub struct Settings {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address and port to listen on. Port 0 picks a free port (the log says which).
    #[arg(long, env = "WUKONG_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Directory for Wukong's own files (the SQLite database, key files). Created if missing.
    #[arg(long, env = "WUKONG_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/NAME.
    /// Default: the SQLite file wukong.db in the data directory.
    #[arg(long, env = "WUKONG_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Kubeconfig file of the cluster whose KubeVirt API Wukong uses. Default: KUBECONFIG,
    /// then ~/.kube/config, then the in-cluster service account.
    #[arg(long, env = "WUKONG_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Log format: "text" for people, "json" for log collectors, "auto" picks text on a
    /// terminal and JSON otherwise.
    #[arg(long, env = "WUKONG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    /// Which logs to keep, in tracing's filter syntax (e.g. "info" or "info,server=debug").
    #[arg(long, env = "WUKONG_LOG", default_value = "info")]
    pub log: String,

    /// A session ends after this many seconds without activity.
    #[arg(long, env = "WUKONG_SESSION_IDLE_TIMEOUT", default_value_t = 3600)]
    pub session_idle_timeout: u64,

    /// A session ends this many seconds after sign-in, however active.
    #[arg(
        long,
        env = "WUKONG_SESSION_ABSOLUTE_TIMEOUT",
        default_value_t = 86_400
    )]
    pub session_absolute_timeout: u64,

    /// The URL browsers use to reach Wukong (scheme://host[:port]), when it is not the listen
    /// address (behind a proxy). Identity providers send users back to
    /// PUBLIC_URL/auth/oidc/callback; register that redirect URI with them.
    #[arg(long, env = "WUKONG_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Origins (scheme://host[:port]) allowed to send state-changing requests, besides the
    /// listen address itself: the public URL when Wukong runs behind a proxy. Comma-separated
    /// in the environment variable.
    #[arg(
        long = "allowed-origin",
        env = "WUKONG_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Reverse proxies (address ranges, e.g. 10.0.0.0/8 or 2001:db8::/32) whose forwarding
    /// header names the client. Only requests from these peers have the header read, from the
    /// right-most untrusted hop; without any, forwarding headers are ignored. Repeatable;
    /// comma-separated in the environment variable.
    #[arg(
        long = "trusted-proxy",
        env = "WUKONG_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<Cidr>,

    /// The header the trusted proxies write the client address into.
    #[arg(long, env = "WUKONG_FORWARDED_HEADER", value_enum, default_value_t = ForwardedHeaderArg::XForwardedFor)]
    pub forwarded_header: ForwardedHeaderArg,

    /// Live sessions one user may hold; signing in again ends the oldest.
    #[arg(long, env = "WUKONG_MAX_SESSIONS_PER_USER", default_value_t = DEFAULT_MAX_PER_USER)]
    pub max_sessions_per_user: u32,

    /// Live-update sockets one user may hold open at once (all their tabs together).
    #[arg(long, env = "WUKONG_MAX_SOCKETS_PER_USER", default_value_t = 20)]
    pub max_sockets_per_user: u32,

    /// Key (32 bytes, base64) that encrypts TOTP seeds and OIDC client secrets in the
    /// database. Default: the key file, created with a random key on first start.
    #[arg(long, env = "WUKONG_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// File holding the key when `--secret-key` is not given. Default: secret.key in the
    /// data directory. Keep it with backups of the database, apart from them.
    #[arg(long, env = "WUKONG_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// Directory of the built web assets (pkg/ with the WASM, JS and CSS, plus public files).
    #[arg(long, env = "WUKONG_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
}

/// Without a command, Wukong serves.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Manage accounts in the configured database (for the first admin, or when locked out).
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Create a local account. Without --password-stdin a random password is printed, to be
    /// changed at first sign-in.
    Create {
        email: String,
        /// Give the account the global admin role.
        #[arg(long)]
        admin: bool,
        /// Name shown in the UI. Default: the part of the email before the @.
        #[arg(long, default_value = "")]
        name: String,
        /// Read the password from the first line of standard input instead.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new random password (printed), to be changed at next sign-in; also unlocks the
    /// account and ends its sessions.
    ResetPassword(UserEmail),
    /// Remove the account's second factor and end its sessions.
    ResetMfa(UserEmail),
    /// Disable the account and end its sessions.
    Disable(UserEmail),
    /// Enable a disabled account.
    Enable(UserEmail),
    /// Unlock an account locked after too many failed attempts.
    Unlock(UserEmail),
}

#[derive(Debug, Clone, Args)]
pub struct UserEmail {
    pub email: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForwardedHeaderArg {
    /// `X-Forwarded-For: client, proxy1, …`
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1, …`
    Forwarded,
}

impl From<ForwardedHeaderArg> for app::net::ForwardedHeader {
    fn from(arg: ForwardedHeaderArg) -> Self {
        match arg {
            ForwardedHeaderArg::XForwardedFor => app::net::ForwardedHeader::XForwardedFor,
            ForwardedHeaderArg::Forwarded => app::net::ForwardedHeader::Forwarded,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Auto,
    Text,
    Json,
}

impl Settings {
    pub fn secret_key_file(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secret.key"))
    }

    /// The database URL in force: the configured one, else SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.sqlite_file().display()),
        }
    }

    /// The default database: the SQLite file in the data directory.
    pub fn sqlite_file(&self) -> PathBuf {
        self.data_dir.join("wukong.db")
    }
}
