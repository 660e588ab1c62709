//! Linking identities to an existing account, and unlinking them (OIDC-09, SES-11).
//!
//! Linking adds a way into the account, so it takes what changing the password takes: the
//! password again (or, for an account without one, a sign-in through one of its linked
//! providers less than ten minutes old) and, with MFA on, a current code. The authorization
//! request is bound to the user, and its callback completes only in a browser signed in as
//! that user. Unlinking needs the same, and never removes the last way to sign in.

use super::{
    flow::{identity_owner, insert_identity, Identity},
    Completion, OidcError, ProviderRow,
};
use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::{
        server::{
            account::{has_password, invalid, reauthenticate},
            mfa,
            session::{Requester, Session, SessionStage},
            Auth,
        },
        types::{LinkedIdentity, SignInMethods},
    },
    db::{now_ms, Db},
    AppError,
};
use sqlx::Row as _;

/// Where the browser returns to after linking.
const ACCOUNT_PAGE: &str = "/account";

/// The ways `user_id` can sign in.
pub async fn linked_identities(db: &Db, user_id: &str) -> Result<SignInMethods, AppError> {
    let rows = sqlx::query(
        "SELECT i.id, i.provider_id, p.name, i.issuer, i.email, i.created_at \
         FROM user_oidc_identities i LEFT JOIN oidc_providers p ON p.id = i.provider_id \
         WHERE i.user_id = $1 ORDER BY i.created_at",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    let identities = rows
        .iter()
        .map(|row| {
            Ok(LinkedIdentity {
                id: row.try_get("id")?,
                provider_id: row.try_get("provider_id")?,
                provider_name: row.try_get("name")?,
                issuer: row.try_get("issuer")?,
                email: row.try_get("email")?,
                linked_at: row.try_get("created_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(SignInMethods {
        has_password: has_password(db, user_id).await?,
        identities,
    })
}

/// Proves the signed-in user is at the keyboard: the password again (or a fresh provider
/// sign-in), then a current code when MFA is on. Each check is throttled, counted toward
/// the account's lock and audited when it fails.
async fn reauthenticate_fully(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    password: String,
    code: Option<&str>,
) -> Result<(), AppError> {
    if let Some(code) = code {
        mfa::check_code_bounds(code)?;
    }
    reauthenticate(db, auth, requester, session, password, "password").await?;
    if !mfa::is_enabled(db, &session.user.id).await? {
        return Ok(());
    }
    let code = code
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .ok_or_else(|| {
            invalid(
                "code",
                "Enter a code from your authenticator app, or a backup code.",
            )
        })?;
    mfa::reverify_code(db, auth, requester, session, code).await
}

/// Starts linking `provider_id` to the signed-in user once they have re-authenticated:
/// returns the provider URL to send the browser to, and the `state` for its cookie.
pub async fn start_link(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    provider_id: &str,
    password: String,
    code: Option<&str>,
) -> Result<(String, String), AppError> {
    let linked =
        sqlx::query("SELECT id FROM user_oidc_identities WHERE user_id = $1 AND provider_id = $2")
            .bind(&session.user.id)
            .bind(provider_id)
            .fetch_optional(db.pool())
            .await?;
    if linked.is_some() {
        return Err(invalid(
            "provider",
            "This provider is already linked to your account.",
        ));
    }
    reauthenticate_fully(db, auth, requester, session, password, code).await?;
    super::begin(
        db,
        auth,
        requester,
        provider_id,
        Some(&session.user.id),
        ACCOUNT_PAGE,
    )
    .await
    .map_err(OidcError::into_app_error)
}

/// Refuses (and audits) a link callback unless the browser is signed in as `user_id`, the
/// user who started the link.
pub(super) async fn check_same_user(
    db: &Db,
    requester: &Requester,
    user_id: &str,
    current: Option<&Session>,
) -> Result<(), OidcError> {
    let signed_in = current
        .filter(|session| session.stage == SessionStage::Active)
        .map(|session| session.user.id.as_str());
    if signed_in == Some(user_id) {
        return Ok(());
    }
    let reason = if signed_in.is_some() {
        "other_user_session"
    } else {
        "no_session"
    };
    let target = signed_in.map(|other| ("user", other));
    record_refusal(db, requester, user_id, reason, target).await?;
    Err(OidcError::LinkSession)
}

/// Audits a link callback that linked nothing to `user_id`, who started it.
async fn record_refusal(
    db: &Db,
    requester: &Requester,
    user_id: &str,
    reason: &str,
    target: Option<(&str, &str)>,
) -> Result<(), sqlx::Error> {
    let event = AuditEvent {
        event: "oidc_link_refused",
        outcome: Outcome::Failure,
        severity: Severity::Warning,
        actor_user_id: Some(user_id),
        actor_email: None,
        reason: Some(reason),
        target,
        project: None,
        changes: None,
    };
    let mut conn = db.pool().acquire().await?;
    record(&mut conn, requester, &event, now_ms()).await
}

/// Links the verified `identity` to `user_id` (the user who started and finished the link).
pub(super) async fn link(
    db: &Db,
    requester: &Requester,
    provider: &ProviderRow,
    identity: &Identity,
    user_id: &str,
) -> Result<Completion, OidcError> {
    match identity_owner(db, identity).await? {
        Some(owner) if owner == user_id => return Ok(Completion::Linked),
        Some(_) => {
            let target = Some(("oidc_provider", provider.id.as_str()));
            record_refusal(db, requester, user_id, "linked_elsewhere", target).await?;
            return Err(OidcError::LinkedElsewhere);
        }
        None => {}
    }
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    insert_identity(&mut tx, user_id, provider, identity, now).await?;
    let event = AuditEvent {
        event: "oidc_linked",
        outcome: Outcome::Success,
        severity: Severity::Info,
        actor_user_id: Some(user_id),
        actor_email: None,
        reason: Some(&provider.name),
        target: Some(("oidc_provider", &provider.id)),
        project: None,
        changes: None,
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(Completion::Linked)
}

const LAST_WAY: &str = "This is the only way to sign in to your account. Set a password or link another provider first.";

/// Removes one of the signed-in user's linked identities after they re-authenticate, unless
/// it is their last way to sign in.
pub async fn unlink(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    identity_id: &str,
    password: String,
    code: Option<&str>,
) -> Result<(), AppError> {
    let user_id = &session.user.id;
    let methods = linked_identities(db, user_id).await?;
    let Some(identity) = methods.identities.iter().find(|i| i.id == identity_id) else {
        return Err(AppError::NotFound {
            what: "That linked provider".to_owned(),
        });
    };
    if !methods.has_password && methods.identities.len() <= 1 {
        return Err(invalid("identity", LAST_WAY));
    }
    reauthenticate_fully(db, auth, requester, session, password, code).await?;
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    // Takes the user's row lock first, so two unlinks of a passwordless account's last two
    // identities cannot both see the other one still there.
    sqlx::query("UPDATE users SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let removed = sqlx::query(
        "DELETE FROM user_oidc_identities WHERE id = $1 AND user_id = $2 AND ( \
         EXISTS (SELECT 1 FROM users WHERE id = $2 AND password_hash IS NOT NULL) \
         OR (SELECT COUNT(*) FROM user_oidc_identities WHERE user_id = $2) > 1)",
    )
    .bind(identity_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    if removed.rows_affected() != 1 {
        return Err(invalid("identity", LAST_WAY));
    }
    let provider = identity
        .provider_name
        .as_deref()
        .unwrap_or(&identity.issuer);
    let event = AuditEvent::by(
        &session.user,
        "oidc_unlinked",
        Outcome::Success,
        Severity::Warning,
        Some(provider),
    );
    let event = AuditEvent {
        target: Some(("oidc_identity", identity_id)),
        ..event
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(())
}
