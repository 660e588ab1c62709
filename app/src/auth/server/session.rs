//! Server-side sessions: a random 256-bit token in the cookie, only its SHA-256 in the
//! database, so a leaked database hands out no live session.
//!
//! This module owns the `user_sessions` table: every session is created, found and ended
//! here, so that the rules (a locked account gets no session, at most so many per user, an
//! ended session stays ended) hold for every caller.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::types::CurrentUser,
    db::Db,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use sqlx::{any::AnyRow, Row as _};

/// Cookie names: the `__Host-` prefix makes the browser insist on Secure, Path=/ and no
/// Domain, so a sibling subdomain cannot plant or read the session.
pub const SECURE_COOKIE: &str = "__Host-wukong_session";
pub const PLAIN_COOKIE: &str = "wukong_session";

/// `last_seen_at` is written at most this often, so sessions do not cost a write per request.
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// A session that still owes its second factor lasts this long at most.
pub const MFA_PENDING_TTL_MS: i64 = 5 * 60_000;

/// The `app_settings` key of "MFA required for everyone".
pub const MFA_REQUIRED_SETTING: &str = "mfa_required";

/// Live sessions a user may hold by default; signing in once more ends the oldest.
pub const DEFAULT_MAX_PER_USER: u32 = 10;

/// How sessions are issued and when they end.
#[derive(Clone, Debug)]
pub struct SessionPolicy {
    /// Inactivity after which a session ends.
    pub idle_ms: i64,
    /// Age after which a session ends however active it is.
    pub absolute_ms: i64,
    /// Whether cookies carry `Secure` and the `__Host-` prefix.
    pub secure_cookies: bool,
    /// Live sessions per user; the oldest end when a new one would exceed it.
    pub max_per_user: u32,
}

impl SessionPolicy {
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            SECURE_COOKIE
        } else {
            PLAIN_COOKIE
        }
    }

    /// The `Set-Cookie` value that hands `token` to the browser.
    pub fn cookie(&self, token: &str) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!(
            "{}={token}; HttpOnly{secure}; SameSite=Lax; Path=/",
            self.cookie_name()
        )
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn expired_cookie(&self) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!(
            "{}=; HttpOnly{secure}; SameSite=Lax; Path=/; Max-Age=0",
            self.cookie_name()
        )
    }
}

/// A fresh token and the hash stored for it.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Where a session stands in the sign-in flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStage {
    /// Password accepted, second factor still owed.
    MfaPending,
    Active,
}

impl SessionStage {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStage::MfaPending => "mfa_pending",
            SessionStage::Active => "active",
        }
    }
}

/// How the user of a session proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignInMethod {
    Password,
    /// Through the identity provider with this id.
    Oidc {
        provider_id: String,
    },
}

impl SignInMethod {
    fn columns(&self) -> (&'static str, Option<&str>) {
        match self {
            SignInMethod::Password => ("password", None),
            SignInMethod::Oidc { provider_id } => ("oidc", Some(provider_id)),
        }
    }

    fn from_columns(method: &str, provider_id: Option<String>) -> Self {
        match (method, provider_id) {
            ("oidc", Some(provider_id)) => SignInMethod::Oidc { provider_id },
            _ => SignInMethod::Password,
        }
    }
}

/// The session a request carries, put in its extensions by the session layer.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub stage: SessionStage,
    /// When the user signed in (unix milliseconds).
    pub created_at: i64,
    /// The user's last activity (unix milliseconds, recorded at most once a minute).
    pub last_seen_at: i64,
    pub method: SignInMethod,
    pub user: CurrentUser,
}

impl Session {
    /// Whether the session may use the application: fully signed in, with no forced
    /// password change or required MFA set-up pending.
    pub fn may_use_app(&self) -> bool {
        self.stage == SessionStage::Active
            && !self.user.must_change_password
            && !self.user.mfa_enrolment_required
    }
}

/// Who made a request, for sessions and the audit log.
#[derive(Clone, Debug, Default)]
pub struct Requester {
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// The longest user agent kept (sessions and the audit log); longer ones are cut.
pub const MAX_USER_AGENT_CHARS: usize = 256;

impl Requester {
    /// A requester from its address and `User-Agent` header, the agent cut to
    /// [`MAX_USER_AGENT_CHARS`].
    pub fn new(ip: Option<std::net::IpAddr>, user_agent: Option<&str>) -> Self {
        Requester {
            ip,
            user_agent: user_agent.map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect()),
        }
    }

    /// The address as stored in sessions and the audit log.
    pub fn ip_text(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}

/// Stores a new session for `user_id` and returns its token, or `None` when the account is
/// locked or disabled by the time the session would be written: the check is part of the
/// insert, so a lock that lands during a sign-in still wins. A new active session ends (and
/// audits) the user's oldest active sessions beyond the policy's limit.
pub async fn create(
    conn: &mut sqlx::AnyConnection,
    policy: &SessionPolicy,
    user_id: &str,
    stage: SessionStage,
    method: &SignInMethod,
    requester: &Requester,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let (token, hash) = new_token();
    let lifetime = match stage {
        SessionStage::MfaPending => policy.absolute_ms.min(MFA_PENDING_TTL_MS),
        SessionStage::Active => policy.absolute_ms,
    };
    let (method_name, provider_id) = method.columns();
    let id = uuid::Uuid::new_v4().to_string();
    let inserted = sqlx::query(
        "INSERT INTO user_sessions (id, user_id, token_hash, stage, ip_address, user_agent, \
         created_at, last_seen_at, expires_at, auth_method, auth_provider_id) \
         SELECT $1, id, $2, $3, $4, $5, $6, $6, $7, $8, $9 FROM users \
         WHERE id = $10 AND locked_at IS NULL AND is_disabled = 0",
    )
    .bind(&id)
    .bind(hash)
    .bind(stage.as_str())
    .bind(requester.ip_text())
    .bind(requester.user_agent.clone())
    .bind(now)
    .bind(now + lifetime)
    .bind(method_name)
    .bind(provider_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() != 1 {
        return Ok(None);
    }
    if stage == SessionStage::MfaPending {
        // Pending sessions last minutes and are not counted: someone who only knows the
        // password must not be able to push the user's real sessions out.
        return Ok(Some(token));
    }
    let evicted = sqlx::query(
        "UPDATE user_sessions SET ended_at = $1, end_reason = 'session_limit' WHERE id IN \
         (SELECT id FROM user_sessions WHERE user_id = $2 AND stage = 'active' \
         AND ended_at IS NULL AND expires_at > $1 \
         ORDER BY created_at DESC, id DESC LIMIT 1000000 OFFSET $3) RETURNING id",
    )
    .bind(now)
    .bind(user_id)
    .bind(i64::from(policy.max_per_user.max(1)))
    .fetch_all(&mut *conn)
    .await?;
    for row in evicted {
        let session_id: String = row.try_get("id")?;
        let event = AuditEvent {
            event: "session_evicted",
            outcome: Outcome::Success,
            severity: Severity::Info,
            actor_user_id: Some(user_id),
            actor_email: None,
            reason: Some("session_limit"),
            target: Some(("session", &session_id)),
            project: None,
            changes: None,
        };
        record(&mut *conn, requester, &event, now).await?;
    }
    Ok(Some(token))
}

const SESSION_COLUMNS: &str = "s.id, s.stage, s.created_at, s.last_seen_at, s.auth_method, \
     s.auth_provider_id, u.id AS user_id, u.email, u.display_name, u.global_role, \
     u.must_change_password, COALESCE(m.is_enabled, 0) AS mfa_enabled, \
     (SELECT value FROM app_settings WHERE key = $4) AS mfa_required \
     FROM user_sessions s JOIN users u ON u.id = s.user_id \
     LEFT JOIN user_mfa_settings m ON m.user_id = u.id";

/// What makes a session live: not ended, not idle too long, not too old, and its user
/// neither disabled nor locked.
const LIVE: &str = "s.ended_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $3 \
     AND u.is_disabled = 0 AND u.locked_at IS NULL";

/// The live session `token` opens, if any. Looking it up is not activity: see [`touch`].
pub async fn find(
    db: &Db,
    policy: &SessionPolicy,
    token: &str,
    now: i64,
) -> Result<Option<Session>, sqlx::Error> {
    let sql = format!("SELECT {SESSION_COLUMNS} WHERE s.token_hash = $1 AND {LIVE}");
    sqlx::query(&sql)
        .bind(token_hash(token))
        .bind(now)
        .bind(now - policy.idle_ms)
        .bind(MFA_REQUIRED_SETTING)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(session_from_row)
        .transpose()
}

/// Records that the user of `session` did something: its last activity moves to `now`, at
/// most once a minute so that sessions do not cost a write per request.
pub async fn touch(db: &Db, session: &Session, now: i64) -> Result<(), sqlx::Error> {
    if session.last_seen_at >= now - TOUCH_INTERVAL_MS {
        return Ok(());
    }
    sqlx::query("UPDATE user_sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
        .bind(now)
        .bind(&session.id)
        .execute(db.pool())
        .await
        .map(|_| ())
}

/// Whether a request counts as something the user did. The session layer touches the
/// session after answering unless the handler said otherwise ([`Activity::not_by_user`]):
/// what the browser does on its own (a live socket, a refresh because of a pushed change)
/// must not keep an idle session alive.
#[derive(Clone, Debug)]
pub struct Activity(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Default for Activity {
    fn default() -> Self {
        Activity(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
            true,
        )))
    }
}

impl Activity {
    pub fn not_by_user(&self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn by_user(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Whether the session `session_id` is still live, without counting as activity: an open
/// socket re-checks its session this way, so pushes do not keep an idle session alive.
pub async fn is_live(
    db: &Db,
    policy: &SessionPolicy,
    session_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "SELECT s.id FROM user_sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = $1 AND {LIVE}"
    );
    Ok(sqlx::query(&sql)
        .bind(session_id)
        .bind(now)
        .bind(now - policy.idle_ms)
        .fetch_optional(db.pool())
        .await?
        .is_some())
}

fn session_from_row(row: &AnyRow) -> Result<Session, sqlx::Error> {
    let stage = match row.try_get::<String, _>("stage")?.as_str() {
        "active" => SessionStage::Active,
        _ => SessionStage::MfaPending,
    };
    Ok(Session {
        id: row.try_get("id")?,
        stage,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        method: SignInMethod::from_columns(
            &row.try_get::<String, _>("auth_method")?,
            row.try_get("auth_provider_id")?,
        ),
        user: CurrentUser {
            id: row.try_get("user_id")?,
            email: row.try_get("email")?,
            display_name: row.try_get("display_name")?,
            is_admin: row.try_get::<String, _>("global_role")? == "admin",
            must_change_password: row.try_get::<i64, _>("must_change_password")? == 1,
            mfa_enrolment_required: row.try_get::<i64, _>("mfa_enabled")? == 0
                && row.try_get::<Option<String>, _>("mfa_required")?.as_deref() == Some("true"),
        },
    })
}

/// Ends a session for good; its token is refused from then on. False when it had already
/// ended.
pub async fn end(
    conn: &mut sqlx::AnyConnection,
    session_id: &str,
    reason: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE user_sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(session_id)
    .execute(conn)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Why a session ended when the same browser holds its successor (a new sign-in, a new
/// token after setting up MFA): its sockets may reconnect with the new cookie.
pub const REPLACED: &str = "replaced";

/// Ends `session_id` because the same browser has just been given a new one.
pub async fn replace(
    conn: &mut sqlx::AnyConnection,
    session_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    end(conn, session_id, REPLACED, now).await
}

/// Ends the pending session `session_id` whose second factor was just given; false when it
/// had already ended or is not pending (a concurrent request used it first).
pub async fn end_pending(
    conn: &mut sqlx::AnyConnection,
    session_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE user_sessions SET ended_at = $1, end_reason = 'mfa_completed' \
         WHERE id = $2 AND ended_at IS NULL AND stage = 'mfa_pending'",
    )
    .bind(now)
    .bind(session_id)
    .execute(conn)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Which of a user's sessions [`end_all`] ends.
#[derive(Clone, Copy, Debug)]
pub enum Which<'a> {
    All,
    /// Every one but this.
    AllBut(&'a str),
    /// Only this one, and only if it is not the other.
    OneOf {
        session_id: &'a str,
        but: &'a str,
    },
}

/// Ends sessions of `user_id`; answers how many ended.
pub async fn end_all(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    which: Which<'_>,
    reason: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let (keep, only) = match which {
        Which::All => (None, None),
        Which::AllBut(keep) => (Some(keep), None),
        Which::OneOf { session_id, but } => (Some(but), Some(session_id)),
    };
    sqlx::query(
        "UPDATE user_sessions SET ended_at = $1, end_reason = $2 \
         WHERE user_id = $3 AND ended_at IS NULL AND ($4 IS NULL OR id <> $4) \
         AND ($5 IS NULL OR id = $5)",
    )
    .bind(now)
    .bind(reason)
    .bind(user_id)
    .bind(keep)
    .bind(only)
    .execute(conn)
    .await
    .map(|done| done.rows_affected())
}

/// A session that ended, as the sockets learn of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndedSession {
    pub id: String,
    pub ended_at: i64,
    /// Ended by [`replace`]: the browser holds a successor.
    pub replaced: bool,
}

/// A session as [`ended_since`] reads it: id, `ended_at`, `end_reason` (both `NULL` for one
/// ended by the clock), `expires_at`, `last_seen_at`.
type EndingRow = (String, Option<i64>, Option<String>, i64, i64);

/// Sessions that ended at or after `since` and by `now` (unix milliseconds): ended by
/// someone (sign-out, an admin, a lock...) or by the clock, idle too long or too old. The
/// clock ends sessions without a write, so they are found by when their time was up.
pub async fn ended_since(
    db: &Db,
    policy: &SessionPolicy,
    since: i64,
    now: i64,
) -> Result<Vec<EndedSession>, sqlx::Error> {
    // One statement for both kinds: the poller runs it four times a second, and each
    // statement costs the pool a round trip between threads.
    let rows: Vec<EndingRow> = sqlx::query_as(
        "SELECT id, ended_at, end_reason, expires_at, last_seen_at FROM user_sessions \
         WHERE ended_at >= $1 \
         UNION ALL \
         SELECT id, CAST(NULL AS BIGINT), CAST(NULL AS TEXT), expires_at, last_seen_at \
         FROM user_sessions WHERE ended_at IS NULL \
         AND ((expires_at >= $2 AND expires_at <= $3) OR (last_seen_at >= $4 AND last_seen_at <= $5))",
    )
    .bind(since)
    .bind(since)
    .bind(now)
    .bind(since - policy.idle_ms)
    .bind(now - policy.idle_ms)
    .fetch_all(db.pool())
    .await?;
    let ended = rows
        .into_iter()
        .map(
            |(id, ended_at, end_reason, expires_at, last_seen_at)| EndedSession {
                id,
                ended_at: ended_at.unwrap_or(expires_at.min(last_seen_at + policy.idle_ms)),
                replaced: end_reason.as_deref() == Some(REPLACED),
            },
        )
        .collect();
    Ok(ended)
}
