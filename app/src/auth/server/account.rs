//! A signed-in user's own account.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::{
        lockout::{self, Counter},
        login::{check_bounds, check_password, PasswordOk, Purpose},
        password::check_new_password,
        session::{self, Requester, Session, SignInMethod, Which},
        users::FIRST_ADMIN_EMAIL,
        Auth,
    },
    db::{now_ms, Db},
    AppError,
};
use sqlx::Row as _;

/// How recent a sign-in through a linked identity provider must be to stand in for the
/// password of an account without one.
pub const FRESH_SIGN_IN_MS: i64 = 10 * 60_000;

/// Whether `session` signed in, less than ten minutes ago, through an identity provider
/// that is linked to its user: what accounts without a password show instead of one.
pub async fn fresh_provider_sign_in(db: &Db, session: &Session) -> Result<bool, AppError> {
    let SignInMethod::Oidc { provider_id } = &session.method else {
        return Ok(false);
    };
    if now_ms() - session.created_at >= FRESH_SIGN_IN_MS {
        return Ok(false);
    }
    Ok(
        sqlx::query("SELECT id FROM user_oidc_identities WHERE user_id = $1 AND provider_id = $2")
            .bind(&session.user.id)
            .bind(provider_id)
            .fetch_optional(db.pool())
            .await?
            .is_some(),
    )
}

/// Whether the account `user_id` has a local password.
pub async fn has_password(db: &Db, user_id: &str) -> Result<bool, AppError> {
    Ok(sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(db.pool())
        .await?
        .try_get::<Option<String>, _>("password_hash")?
        .is_some())
}

/// Asks for the password again before a sensitive change, so a session left open is not
/// enough to make it. It is the sign-in's own check: throttled, counted toward the lock,
/// audited. Accounts without a password show a fresh sign-in through a linked provider
/// instead. A refusal is reported on `field`.
pub async fn reauthenticate(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    password: String,
    field: &str,
) -> Result<(), AppError> {
    check_bounds(&session.user.email, &password)?;
    if !has_password(db, &session.user.id).await? {
        if fresh_provider_sign_in(db, session).await? {
            return Ok(());
        }
        return Err(invalid(
            field,
            "Sign out and sign in again through your identity provider, then retry within 10 minutes.",
        ));
    }
    let checked = check_password(
        db,
        auth,
        requester,
        &session.user.email,
        password,
        Purpose::Reauthentication,
    )
    .await?;
    let Some(PasswordOk { user, attempt }) = checked else {
        return Err(invalid(field, "The password is incorrect."));
    };
    let mut conn = db.pool().acquire().await?;
    if user.id != session.user.id
        || !lockout::forgive(&mut conn, &user.id, Counter::Password, attempt.alone()).await?
    {
        return Err(AppError::Unauthorized);
    }
    attempt.succeeded();
    Ok(())
}

pub(crate) fn invalid(field: &str, message: &str) -> AppError {
    AppError::Invalid {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// Replaces the password after checking the current one, clears a forced change, and ends
/// the user's other sessions (whoever knew the old password is signed out). The first-run
/// admin's change also removes the file that showed the generated password.
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
    session::end_all(
        &mut tx,
        &session.user.id,
        Which::AllBut(&session.id),
        "password_changed",
        now,
    )
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
    if session.user.email == FIRST_ADMIN_EMAIL {
        auth.first_admin_password.remove();
    }
    Ok(())
}
