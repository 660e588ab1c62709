//! Signing in and out with a password.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::{
        mfa,
        session::{self, Requester, SessionStage},
        throttle, users, Auth,
    },
    db::{now_ms, Db},
    AppError,
};
use sqlx::Row as _;

/// Failed sign-ins after which an account locks until an admin unlocks it.
pub const LOCK_AFTER_FAILURES: i64 = 100;

/// Checks the credentials and opens a new session, ending `previous` (the session the
/// request came with, if any) so a sign-in always yields a fresh token. Returns the token
/// and the stage of the session: for accounts with MFA it still owes the second factor.
///
/// Throttled attempts are refused before any database or argon2 work. Unknown email, wrong
/// password, disabled and locked account all answer the same `BadCredentials`; the audit log
/// keeps the real reason.
pub async fn login(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    email: &str,
    password: String,
    previous: Option<&str>,
) -> Result<(String, SessionStage), AppError> {
    let keys = throttle::attempt_keys(requester.ip.as_deref(), email);
    auth.throttle
        .check(&keys, now_ms())
        .map_err(|retry_after_secs| AppError::TooManyAttempts { retry_after_secs })?;
    let user = users::find_by_email(db, email).await?;
    let locked = user.as_ref().is_some_and(|user| user.is_locked);
    let password_ok = if locked {
        false
    } else {
        let hash = user.as_ref().and_then(|user| user.password_hash.clone());
        auth.hasher.verify(password, hash).await?
    };
    let now = now_ms();
    let refusal = match &user {
        None => Some("unknown_user"),
        Some(_) if locked => Some("account_locked"),
        Some(_) if !password_ok => Some("bad_password"),
        Some(user) if user.is_disabled => Some("account_disabled"),
        Some(_) => None,
    };
    let mut tx = db.pool().begin().await?;
    if let Some(reason) = refusal {
        auth.throttle.record_failure(&keys, now);
        let event = AuditEvent {
            event: "authn_login_fail",
            outcome: Outcome::Failure,
            severity: Severity::Warning,
            actor_user_id: user.as_ref().map(|user| user.id.as_str()),
            actor_email: Some(email),
            reason: Some(reason),
            target: None,
        };
        record(&mut tx, requester, &event, now).await?;
        if let (Some(user), "bad_password") = (&user, reason) {
            count_failure(&mut tx, requester, user, now).await?;
        }
        tx.commit().await?;
        return Err(AppError::BadCredentials);
    }
    let Some(user) = user else {
        return Err(AppError::BadCredentials);
    };
    // Read before the transaction: on SQLite a read-then-write transaction can deadlock.
    let stage = if mfa::is_enabled(db, &user.id).await? {
        SessionStage::MfaPending
    } else {
        SessionStage::Active
    };
    if let Some(previous) = previous {
        session::end(&mut tx, previous, "replaced_by_login", now).await?;
    }
    sqlx::query("UPDATE users SET failed_login_count = 0 WHERE id = $1 AND failed_login_count > 0")
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    let token = session::create(&mut tx, &auth.sessions, &user.id, stage, requester, now).await?;
    let event = AuditEvent {
        event: match stage {
            SessionStage::Active => "authn_login_success",
            SessionStage::MfaPending => "authn_login_mfa_pending",
        },
        outcome: Outcome::Success,
        severity: Severity::Info,
        actor_user_id: Some(&user.id),
        actor_email: Some(&user.email),
        reason: Some("password"),
        target: None,
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    if let Some(account) = keys.first() {
        auth.throttle.clear(account);
    }
    Ok((token, stage))
}

/// Counts a wrong password against the account, locking it at the limit.
async fn count_failure(
    tx: &mut sqlx::AnyConnection,
    requester: &Requester,
    user: &users::UserRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    let row = sqlx::query(
        "UPDATE users SET failed_login_count = failed_login_count + 1, \
         locked_at = CASE WHEN failed_login_count + 1 >= $1 THEN $2 ELSE locked_at END \
         WHERE id = $3 RETURNING locked_at",
    )
    .bind(LOCK_AFTER_FAILURES)
    .bind(now)
    .bind(&user.id)
    .fetch_one(&mut *tx)
    .await?;
    if row.try_get::<Option<i64>, _>("locked_at")? == Some(now) {
        let event = AuditEvent {
            event: "authn_login_lock",
            outcome: Outcome::Failure,
            severity: Severity::Warning,
            actor_user_id: Some(&user.id),
            actor_email: Some(&user.email),
            reason: Some("too_many_failures"),
            target: None,
        };
        record(tx, requester, &event, now).await?;
    }
    Ok(())
}

/// Ends the session for good and records it.
pub async fn logout(
    db: &Db,
    requester: &Requester,
    session: &session::Session,
) -> Result<(), AppError> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    session::end(&mut tx, &session.id, "logout", now).await?;
    let event = AuditEvent::by(
        &session.user,
        "authn_logout",
        Outcome::Success,
        Severity::Info,
        None,
    );
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(())
}
