//! A signed-in user's own account.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::{
        password::check_new_password,
        session::{Requester, Session},
        throttle, Auth,
    },
    db::{now_ms, Db},
    AppError,
};
use sqlx::Row as _;

/// How recent a sign-in must be to stand in for the password of an account without one.
const FRESH_SIGN_IN_MS: i64 = 10 * 60_000;

/// Asks for the password again before a sensitive change, so a session left open is not
/// enough to make it. Throttled like sign-in; a wrong password is audited and reported on
/// `field`.
pub async fn reauthenticate(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    password: String,
    field: &str,
) -> Result<(), AppError> {
    let keys = throttle::attempt_keys(requester.ip.as_deref(), &session.user.email);
    auth.throttle
        .check(&keys, now_ms())
        .map_err(|retry_after_secs| AppError::TooManyAttempts { retry_after_secs })?;
    let stored: Option<String> = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(&session.user.id)
        .fetch_one(db.pool())
        .await?
        .try_get("password_hash")?;
    // Accounts made through an identity provider have no password: a fresh sign-in stands in.
    if stored.is_none() && now_ms() - session.created_at < FRESH_SIGN_IN_MS {
        return Ok(());
    }
    if auth.hasher.verify(password, stored).await? {
        return Ok(());
    }
    let now = now_ms();
    auth.throttle.record_failure(&keys, now);
    let mut tx = db.pool().begin().await?;
    let event = AuditEvent::by(
        &session.user,
        "authn_reauth_fail",
        Outcome::Failure,
        Severity::Warning,
        Some("bad_password"),
    );
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Err(invalid(field, "The password is incorrect."))
}

pub(crate) fn invalid(field: &str, message: &str) -> AppError {
    AppError::Invalid {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// Replaces the password after checking the current one, clears a forced change, and ends
/// the user's other sessions (whoever knew the old password is signed out).
pub async fn change_password(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    current: String,
    new: String,
    confirm: String,
) -> Result<(), AppError> {
    reauthenticate(
        db,
        auth,
        requester,
        session,
        current.clone(),
        "current_password",
    )
    .await?;
    let now = now_ms();
    check_new_password(&new, &session.user.email).map_err(|error| match error {
        AppError::Invalid { message, .. } => invalid("new_password", &message),
        other => other,
    })?;
    if new == current {
        return Err(invalid(
            "new_password",
            "Choose a password different from the current one.",
        ));
    }
    if new != confirm {
        return Err(invalid("confirm_password", "The two new passwords differ."));
    }
    let hash = auth.hasher.hash(new).await?;
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE users SET password_hash = $1, must_change_password = 0, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now)
        .bind(&session.user.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE user_sessions SET ended_at = $1, end_reason = 'password_changed' \
         WHERE user_id = $2 AND id <> $3 AND ended_at IS NULL",
    )
    .bind(now)
    .bind(&session.user.id)
    .bind(&session.id)
    .execute(&mut *tx)
    .await?;
    let event = AuditEvent::by(
        &session.user,
        "authn_password_change",
        Outcome::Success,
        Severity::Info,
        None,
    );
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(())
}
