//! Server-side sessions: a random 256-bit token in the cookie, only its SHA-256 in the
//! database, so a leaked database hands out no live session.

use crate::{auth::types::CurrentUser, db::Db};
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

/// How sessions are issued and when they end.
#[derive(Clone, Debug)]
pub struct SessionPolicy {
    /// Inactivity after which a session ends.
    pub idle_ms: i64,
    /// Age after which a session ends however active it is.
    pub absolute_ms: i64,
    /// Whether cookies carry `Secure` (dropped only for plain http on a loopback address).
    pub secure_cookies: bool,
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

/// The session a request carries, put in its extensions by the session layer.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub stage: SessionStage,
    /// When the user signed in (unix milliseconds).
    pub created_at: i64,
    pub user: CurrentUser,
}

/// Who made a request, for sessions and the audit log.
#[derive(Clone, Debug, Default)]
pub struct Requester {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Stores a new session for `user_id` and returns its token.
pub async fn create(
    conn: &mut sqlx::AnyConnection,
    policy: &SessionPolicy,
    user_id: &str,
    stage: SessionStage,
    requester: &Requester,
    now: i64,
) -> Result<String, sqlx::Error> {
    let (token, hash) = new_token();
    let lifetime = match stage {
        SessionStage::MfaPending => policy.absolute_ms.min(MFA_PENDING_TTL_MS),
        SessionStage::Active => policy.absolute_ms,
    };
    sqlx::query(
        "INSERT INTO user_sessions (id, user_id, token_hash, stage, ip_address, user_agent, \
         created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(user_id)
    .bind(hash)
    .bind(stage.as_str())
    .bind(requester.ip.clone())
    .bind(requester.user_agent.clone())
    .bind(now)
    .bind(now + lifetime)
    .execute(conn)
    .await?;
    Ok(token)
}

/// The live session `token` opens, if any: not ended, not idle too long, not too old, and
/// its user not disabled. Refreshes its last activity at most once a minute.
pub async fn find(
    db: &Db,
    policy: &SessionPolicy,
    token: &str,
    now: i64,
) -> Result<Option<Session>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT s.id, s.stage, s.created_at, s.last_seen_at, u.id AS user_id, u.email, u.display_name, \
         u.global_role, u.must_change_password, COALESCE(m.is_enabled, 0) AS mfa_enabled, \
         (SELECT value FROM app_settings WHERE key = $4) AS mfa_required \
         FROM user_sessions s JOIN users u ON u.id = s.user_id \
         LEFT JOIN user_mfa_settings m ON m.user_id = u.id \
         WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2 \
         AND s.last_seen_at > $3 AND u.is_disabled = 0",
    )
    .bind(token_hash(token))
    .bind(now)
    .bind(now - policy.idle_ms)
    .bind(MFA_REQUIRED_SETTING)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let session = session_from_row(&row)?;
    if row.try_get::<i64, _>("last_seen_at")? < now - TOUCH_INTERVAL_MS {
        sqlx::query("UPDATE user_sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&session.id)
            .execute(db.pool())
            .await?;
    }
    Ok(Some(session))
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

/// Ends a session for good; its token is refused from then on.
pub async fn end(
    conn: &mut sqlx::AnyConnection,
    session_id: &str,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE user_sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL")
        .bind(now)
        .bind(reason)
        .bind(session_id)
        .execute(conn)
        .await
        .map(|_| ())
}
