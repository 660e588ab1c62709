//! User accounts in the database.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::{password::PasswordHasher, session::Requester},
    db::{now_ms, Db},
    AppError,
};
use sqlx::Row as _;

/// The account created on first run when no admin exists.
pub const FIRST_ADMIN_EMAIL: &str = "admin@localhost";

/// A user as stored; has the password hash, so it never leaves the server.
#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub is_disabled: bool,
    /// Locked after too many failed sign-ins, until an admin unlocks it.
    pub is_locked: bool,
}

/// Emails compare case-insensitively; they are stored trimmed and lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, email, password_hash, is_disabled, locked_at FROM users WHERE email = $1",
    )
    .bind(normalize_email(email))
    .fetch_optional(db.pool())
    .await?;
    row.map(|row| {
        Ok(UserRow {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            is_disabled: row.try_get::<i64, _>("is_disabled")? == 1,
            is_locked: row.try_get::<Option<i64>, _>("locked_at")?.is_some(),
        })
    })
    .transpose()
}

/// A new local account.
pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    /// `None` for accounts that sign in only through an identity provider.
    pub password_hash: Option<&'a str>,
    pub is_admin: bool,
    pub must_change_password: bool,
}

pub async fn insert(
    conn: &mut sqlx::AnyConnection,
    user: &NewUser<'_>,
    now: i64,
) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO users (id, email, display_name, password_hash, global_role, must_change_password, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(&id)
    .bind(normalize_email(user.email))
    .bind(user.display_name)
    .bind(user.password_hash)
    .bind(if user.is_admin { "admin" } else { "user" })
    .bind(i64::from(user.must_change_password))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(id)
}

/// On a database without any admin, creates `admin@localhost` with a random password that
/// must be changed at first sign-in, and returns that password (to be shown once).
pub async fn ensure_first_admin(
    db: &Db,
    hasher: &PasswordHasher,
) -> Result<Option<String>, AppError> {
    let admins: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE global_role = 'admin'")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    if admins > 0 {
        return Ok(None);
    }
    let password = super::session::new_token().0;
    let hash = hasher.hash(password.clone()).await?;
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let id = insert(
        &mut tx,
        &NewUser {
            email: FIRST_ADMIN_EMAIL,
            display_name: "Administrator",
            password_hash: Some(&hash),
            is_admin: true,
            must_change_password: true,
        },
        now,
    )
    .await?;
    crate::projects::server::create_personal(&mut tx, &id, FIRST_ADMIN_EMAIL, "Administrator", now)
        .await?;
    let event = AuditEvent {
        event: "user_created",
        outcome: Outcome::Success,
        severity: Severity::Warning,
        actor_user_id: Some(&id),
        actor_email: Some(FIRST_ADMIN_EMAIL),
        reason: Some("first_run_admin"),
        target: None,
        project: None,
        changes: None,
    };
    record(&mut tx, &Requester::default(), &event, now).await?;
    tx.commit().await?;
    Ok(Some(password))
}
