//! Signing in and out with a password.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::{
        session::{self, Requester, SessionStage},
        users, Auth,
    },
    db::{now_ms, Db},
    AppError,
};

/// Checks the credentials and opens a new session, ending `previous` (the session the
/// request came with, if any) so a sign-in always yields a fresh token. Returns the token.
///
/// Unknown email, wrong password and disabled account all answer the same, after the same
/// argon2 work.
pub async fn login(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    email: &str,
    password: String,
    previous: Option<&str>,
) -> Result<String, AppError> {
    let user = users::find_by_email(db, email).await?;
    let hash = user.as_ref().and_then(|user| user.password_hash.clone());
    let password_ok = auth.hasher.verify(password, hash).await?;
    let now = now_ms();
    let refusal = match &user {
        None => Some("unknown_user"),
        Some(_) if !password_ok => Some("bad_password"),
        Some(user) if user.is_disabled => Some("account_disabled"),
        Some(_) => None,
    };
    let mut tx = db.pool().begin().await?;
    if let Some(reason) = refusal {
        let event = AuditEvent {
            event: "authn_login_fail",
            outcome: Outcome::Failure,
            severity: Severity::Warning,
            actor_user_id: user.as_ref().map(|user| user.id.as_str()),
            actor_email: Some(email),
            reason: Some(reason),
        };
        record(&mut tx, requester, &event, now).await?;
        tx.commit().await?;
        return Err(AppError::BadCredentials);
    }
    let Some(user) = user else {
        return Err(AppError::BadCredentials);
    };
    if let Some(previous) = previous {
        session::end(&mut tx, previous, "replaced_by_login", now).await?;
    }
    let token = session::create(
        &mut tx,
        &auth.sessions,
        &user.id,
        SessionStage::Active,
        requester,
        now,
    )
    .await?;
    let event = AuditEvent {
        event: "authn_login_success",
        outcome: Outcome::Success,
        severity: Severity::Info,
        actor_user_id: Some(&user.id),
        actor_email: Some(&user.email),
        reason: Some("password"),
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(token)
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
