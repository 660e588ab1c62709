//! Signing in and out with a password, and the one password check that sign-in and every
//! re-authentication share.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::{
        lockout::{self, Counter, Reserved},
        mfa,
        password::MAX_PASSWORD_CHARS,
        session::{self, Requester, SessionStage, SignInMethod},
        throttle::{Attempt, AttemptKeys},
        users::{self, UserRow},
        Auth,
    },
    db::{now_ms, Db},
    AppError,
};

/// The longest email address (RFC 5321's path limit less the angle brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// Refuses sign-in input that no account can have, before the throttle, the database,
/// argon2 or the audit log see it (a 200 KB "email" must cost nothing).
pub fn check_bounds(email: &str, password: &str) -> Result<(), AppError> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err(AppError::too_long(
            "email",
            "The email address",
            MAX_EMAIL_BYTES,
        ));
    }
    if password.len() > 4 * MAX_PASSWORD_CHARS || password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(AppError::too_long(
            "password",
            "The password",
            MAX_PASSWORD_CHARS,
        ));
    }
    Ok(())
}

/// What a password check is for: the audit log names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    SignIn,
    Reauthentication,
}

impl Purpose {
    fn failure_event(self) -> &'static str {
        match self {
            Purpose::SignIn => "authn_login_fail",
            Purpose::Reauthentication => "authn_reauth_fail",
        }
    }
}

/// A password that matched an open account, and the throttle's hold on the attempt (to be
/// released as a success once the caller's transaction has acted on it).
pub struct PasswordOk {
    pub user: UserRow,
    pub attempt: Attempt,
}

/// Checks `password` for the account `email`: throttled first (429 before any other work),
/// then counted toward the account's lock before argon2 runs, then verified. Unknown email,
/// wrong password, disabled and locked account all verify against a hash (a dummy one when
/// there is none to use) and answer alike: `None`, with the real reason in the audit log.
/// The caller resets the count with [`lockout::forgive`] in the transaction that acts on
/// the success.
pub async fn check_password(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    email: &str,
    password: String,
    purpose: Purpose,
) -> Result<Option<PasswordOk>, AppError> {
    let now = now_ms();
    let attempt = auth
        .throttle
        .begin(AttemptKeys::password(requester.ip, email))
        .map_err(|retry_after_secs| AppError::TooManyAttempts { retry_after_secs })?;
    let user = users::find_by_email(db, email).await?;
    let reserved = match &user {
        Some(user) if !user.is_locked => {
            lockout::reserve(db, requester, &user.id, &user.email, Counter::Password, now).await?
        }
        _ => Reserved::Locked,
    };
    let hash = match (&user, reserved) {
        (Some(user), Reserved::Open) => user.password_hash.clone(),
        _ => None,
    };
    let matches = auth.hasher.verify(password, hash).await?;
    let refusal = match &user {
        None => Some("unknown_user"),
        Some(_) if reserved == Reserved::Locked => Some("account_locked"),
        Some(_) if !matches => Some("bad_password"),
        Some(user) if user.is_disabled => Some("account_disabled"),
        Some(_) => None,
    };
    match (user, refusal) {
        (Some(user), None) => Ok(Some(PasswordOk { user, attempt })),
        (user, reason) => {
            let event = AuditEvent {
                event: purpose.failure_event(),
                outcome: Outcome::Failure,
                severity: Severity::Warning,
                actor_user_id: user.as_ref().map(|user| user.id.as_str()),
                actor_email: Some(email),
                reason,
                target: None,
                project: None,
                changes: None,
            };
            let mut conn = db.pool().acquire().await?;
            record(&mut conn, requester, &event, now_ms()).await?;
            Ok(None)
        }
    }
}

/// Checks the credentials and opens a new session, ending `previous` (the session the
/// request came with, if any) so a sign-in always yields a fresh token. Returns the token
/// and the stage of the session: for accounts with MFA it still owes the second factor.
pub async fn login(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    email: &str,
    password: String,
    previous: Option<&str>,
) -> Result<(String, SessionStage), AppError> {
    check_bounds(email, &password)?;
    let Some(PasswordOk { user, attempt }) =
        check_password(db, auth, requester, email, password, Purpose::SignIn).await?
    else {
        return Err(AppError::BadCredentials);
    };
    // Read before the transaction: on SQLite a read-then-write transaction can deadlock.
    let stage = if mfa::is_enabled(db, &user.id).await? {
        SessionStage::MfaPending
    } else {
        SessionStage::Active
    };
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let token = if lockout::forgive(&mut tx, &user.id, Counter::Password, attempt.alone()).await? {
        session::create(
            &mut tx,
            &auth.sessions,
            &user.id,
            stage,
            &SignInMethod::Password,
            requester,
            now,
        )
        .await?
    } else {
        None
    };
    let Some(token) = token else {
        // Locked (or disabled) while the password was being checked.
        drop(tx);
        let event = AuditEvent {
            event: Purpose::SignIn.failure_event(),
            outcome: Outcome::Failure,
            severity: Severity::Warning,
            actor_user_id: Some(&user.id),
            actor_email: Some(&user.email),
            reason: Some("account_locked"),
            target: None,
            project: None,
            changes: None,
        };
        let mut conn = db.pool().acquire().await?;
        record(&mut conn, requester, &event, now).await?;
        return Err(AppError::BadCredentials);
    };
    if let Some(previous) = previous {
        session::replace(&mut tx, previous, now).await?;
    }
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
        project: None,
        changes: None,
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    attempt.succeeded();
    Ok((token, stage))
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
