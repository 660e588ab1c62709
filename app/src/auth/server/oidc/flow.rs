//! One pass through a provider: the authorization request, then the callback that redeems
//! the code and signs the user in (creating the account on a first sign-in the provider's
//! policy allows) or links the identity to the user who started it.

use super::{
    admission, enabled_provider, limits, linking, provider_client, secret_context, ExtraClaims,
    OidcError, ProviderClient, ProviderRow, REQUEST_TTL_MS,
};
use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::{
        admin::user_id_by_email,
        mfa,
        session::{self, token_hash, Requester, Session, SessionStage},
        users::{insert, normalize_email, NewUser},
        Auth,
    },
    db::{now_ms, Db},
    projects, AppError,
};
use openidconnect::{
    core::{CoreAuthenticationFlow, CoreGenderClaim},
    AccessToken, AuthorizationCode, ClientSecret, CsrfToken, Nonce, OAuth2TokenResponse as _,
    PkceCodeChallenge, PkceCodeVerifier, Scope, SubjectIdentifier, TokenResponse as _,
    UserInfoClaims,
};
use sqlx::Row as _;

/// The authorization URL to send the browser to, and the `state` to bind to it by cookie.
/// `link_user_id` links the identity to that signed-in user instead of signing in.
///
/// Bounded (VAL-06): the client address must be under its rate before any database work,
/// and pending requests under their caps before the provider is contacted (the insert
/// checks them again, atomically).
pub async fn begin(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    provider_id: &str,
    link_user_id: Option<&str>,
    return_to: &str,
) -> Result<(String, String), OidcError> {
    let settings = &auth.oidc;
    let now = now_ms();
    settings
        .starts
        .admit(requester.ip, settings.limits.per_address_per_minute, now)
        .map_err(|retry_after_secs| OidcError::Busy { retry_after_secs })?;
    let address = limits::address_text(requester);
    limits::purge_expired(db, now).await?;
    if !limits::room_for_one_more(db, &settings.limits, address.as_deref()).await? {
        return Err(limits::full());
    }
    let provider = enabled_provider(db, provider_id)
        .await?
        .ok_or_else(|| OidcError::Unavailable("no such enabled provider".to_owned()))?;
    let client = provider_client(settings, &provider, None).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in provider
        .scopes
        .split_whitespace()
        .filter(|s| *s != "openid")
    {
        request = request.add_scope(Scope::new(scope.to_owned()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    let sealed_verifier = auth
        .secrets
        .seal(verifier.secret().as_bytes(), &token_hash(state.secret()))
        .map_err(AppError::internal)?;
    let pending = limits::NewRequest {
        state_hash: token_hash(state.secret()),
        provider_id: &provider.id,
        nonce: nonce.secret(),
        sealed_verifier: &sealed_verifier,
        link_user_id,
        return_to,
        address: address.as_deref(),
        created_at: now,
        expires_at: now + REQUEST_TTL_MS,
    };
    if !limits::insert_within_caps(db, &settings.limits, &pending).await? {
        return Err(limits::full());
    }
    Ok((url.to_string(), state.secret().clone()))
}

/// What the provider sent back to the callback.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

/// How a completed flow ended.
pub enum Completion {
    /// Signed in: the new session's token, its stage, and where to go.
    SignedIn {
        token: String,
        stage: SessionStage,
        landing: String,
    },
    /// The identity was linked to the signed-in user; back to the account page.
    Linked,
}

struct PendingRequest {
    provider_id: String,
    nonce: String,
    verifier: String,
    link_user_id: Option<String>,
    return_to: String,
}

/// Takes the authorization request for `state` out of the database (single use), if it
/// exists and has not expired.
async fn take_request(db: &Db, auth: &Auth, state: &str) -> Result<PendingRequest, OidcError> {
    let hash = token_hash(state);
    let row = sqlx::query(
        "DELETE FROM oidc_login_requests WHERE state_hash = $1 \
         RETURNING provider_id, nonce, pkce_verifier, link_user_id, return_to, expires_at",
    )
    .bind(&hash)
    .fetch_optional(db.pool())
    .await?
    .ok_or(OidcError::State)?;
    if row.try_get::<i64, _>("expires_at")? < now_ms() {
        return Err(OidcError::State);
    }
    let sealed: String = row.try_get("pkce_verifier")?;
    let verifier = auth
        .secrets
        .open(&sealed, &hash)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(OidcError::State)?;
    Ok(PendingRequest {
        provider_id: row.try_get("provider_id")?,
        nonce: row.try_get("nonce")?,
        verifier,
        link_user_id: row.try_get("link_user_id")?,
        return_to: row.try_get("return_to")?,
    })
}

/// The verified identity an ID token asserts.
pub(super) struct Identity {
    pub issuer: String,
    pub subject: String,
    /// Only when the provider says it is verified.
    pub email: Option<String>,
    pub name: Option<String>,
}

/// A redeemed code: the identity, and what is needed to read more of its claims.
pub(super) struct Redeemed {
    pub identity: Identity,
    id_token_claims: ExtraClaims,
    client: ProviderClient,
    access_token: AccessToken,
}

impl Redeemed {
    /// The claim `name` from the ID token, else from the userinfo endpoint (whose `sub` must
    /// be the ID token's, OIDC-10) when the provider has one.
    async fn claim(&self, name: &str, auth: &Auth) -> Result<Option<serde_json::Value>, OidcError> {
        if let Some(value) = self.id_token_claims.get(name) {
            return Ok(Some(value.clone()));
        }
        let subject = SubjectIdentifier::new(self.identity.subject.clone());
        let Ok(request) = self
            .client
            .user_info(self.access_token.clone(), Some(subject))
        else {
            return Ok(None);
        };
        let claims: UserInfoClaims<ExtraClaims, CoreGenderClaim> = request
            .request_async(&auth.oidc.http)
            .await
            .map_err(|error| OidcError::Rejected(format!("userinfo: {error}")))?;
        Ok(claims.additional_claims().get(name).cloned())
    }
}

/// Redeems the code (with the PKCE verifier) and verifies the ID token.
async fn redeem(
    auth: &Auth,
    provider: &ProviderRow,
    pending: &PendingRequest,
    params: &CallbackParams,
) -> Result<Redeemed, OidcError> {
    if let Some(iss) = &params.iss {
        // RFC 9207: the authorization response names its issuer; discovery checked that it
        // is the configured one, so it must be that.
        if *iss != provider.issuer_url {
            return Err(OidcError::Rejected("iss parameter mismatch".to_owned()));
        }
    }
    let secret = auth
        .secrets
        .open(&provider.client_secret_enc, &secret_context(&provider.id))
        .map_err(AppError::internal)?;
    let secret = String::from_utf8(secret).map_err(AppError::internal)?;
    let client = provider_client(&auth.oidc, provider, Some(ClientSecret::new(secret))).await?;
    let code = params.code.clone().ok_or(OidcError::State)?;
    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|error| OidcError::Unavailable(error.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
        .request_async(&auth.oidc.http)
        .await
        .map_err(|error| OidcError::Rejected(format!("token request: {error}")))?;
    let id_token = response
        .id_token()
        .ok_or_else(|| OidcError::Rejected("no ID token".to_owned()))?;
    let claims = id_token
        .claims(
            &client.id_token_verifier(),
            &Nonce::new(pending.nonce.clone()),
        )
        .map_err(|error| OidcError::Rejected(error.to_string()))?;
    let email = claims
        .email()
        .filter(|_| claims.email_verified() == Some(true))
        .map(|email| normalize_email(email.as_str()));
    let identity = Identity {
        issuer: claims.issuer().as_str().to_owned(),
        subject: claims.subject().as_str().to_owned(),
        email,
        name: claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.as_str().to_owned()),
    };
    let id_token_claims = claims.additional_claims().clone();
    Ok(Redeemed {
        identity,
        id_token_claims,
        access_token: response.access_token().clone(),
        client,
    })
}

/// Completes the flow at the callback: checks `state` against the browser's cookie, redeems
/// the code, verifies the ID token, then signs the user in (creating the account and its
/// personal project on a first sign-in the provider allows) or links the identity.
///
/// A link completes only in a browser whose session belongs to the user who started it
/// (`current`); a sign-in ends `current`, so each sign-in yields a fresh session.
pub async fn complete(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    params: &CallbackParams,
    cookie_state: Option<&str>,
    current: Option<&Session>,
) -> Result<Completion, OidcError> {
    let state = params.state.as_deref().ok_or(OidcError::State)?;
    if cookie_state != Some(state) {
        return Err(OidcError::State);
    }
    let pending = take_request(db, auth, state).await?;
    if let Some(error) = &params.error {
        return Err(OidcError::Denied(error.chars().take(64).collect()));
    }
    if let Some(user_id) = &pending.link_user_id {
        linking::check_same_user(db, requester, user_id, current).await?;
    }
    let provider = enabled_provider(db, &pending.provider_id)
        .await?
        .ok_or_else(|| OidcError::Unavailable("provider disabled".to_owned()))?;
    let redeemed = redeem(auth, &provider, &pending, params).await?;
    match &pending.link_user_id {
        Some(user_id) => linking::link(db, requester, &provider, &redeemed.identity, user_id).await,
        None => {
            let previous = current.map(|session| session.id.as_str());
            sign_in(
                db,
                auth,
                requester,
                &provider,
                &redeemed,
                &pending.return_to,
                previous,
            )
            .await
        }
    }
}

pub(super) async fn identity_owner(
    db: &Db,
    identity: &Identity,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT user_id FROM user_oidc_identities WHERE issuer = $1 AND subject = $2")
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .fetch_optional(db.pool())
        .await?
        .map(|row| row.try_get("user_id"))
        .transpose()
}

pub(super) async fn insert_identity(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    provider: &ProviderRow,
    identity: &Identity,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_oidc_identities (id, user_id, provider_id, issuer, subject, email, \
         created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(user_id)
    .bind(&provider.id)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .bind(identity.email.clone())
    .bind(now)
    .execute(tx)
    .await
    .map(|_| ())
}

async fn sign_in(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    provider: &ProviderRow,
    redeemed: &Redeemed,
    return_to: &str,
    previous_session: Option<&str>,
) -> Result<Completion, OidcError> {
    let identity = &redeemed.identity;
    let now = now_ms();
    let existing = identity_owner(db, identity).await?;
    let (user_id, created) = match existing {
        Some(user_id) => (user_id, false),
        None => (
            create_account(db, auth, requester, provider, redeemed).await?,
            true,
        ),
    };
    let row = sqlx::query("SELECT email, is_disabled, locked_at FROM users WHERE id = $1")
        .bind(&user_id)
        .fetch_one(db.pool())
        .await?;
    let email: String = row.try_get("email")?;
    if row.try_get::<i64, _>("is_disabled")? == 1
        || row.try_get::<Option<i64>, _>("locked_at")?.is_some()
    {
        return Err(OidcError::Refused);
    }
    let stage = if mfa::is_enabled(db, &user_id).await? {
        SessionStage::MfaPending
    } else {
        SessionStage::Active
    };
    let personal = projects::server::personal_slug(db, &user_id).await?;
    let mut tx = db.pool().begin().await?;
    if let Some(previous) = previous_session {
        session::replace(&mut tx, previous, now).await?;
    }
    sqlx::query(
        "UPDATE user_oidc_identities SET last_login_at = $1 WHERE issuer = $2 AND subject = $3",
    )
    .bind(now)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .execute(&mut *tx)
    .await?;
    let method = session::SignInMethod::Oidc {
        provider_id: provider.id.clone(),
    };
    let token = session::create(
        &mut tx,
        &auth.sessions,
        &user_id,
        stage,
        &method,
        requester,
        now,
    )
    .await?
    .ok_or(OidcError::Refused)?;
    let event = AuditEvent {
        event: match stage {
            SessionStage::Active => "authn_login_success",
            SessionStage::MfaPending => "authn_login_mfa_pending",
        },
        outcome: Outcome::Success,
        severity: Severity::Info,
        actor_user_id: Some(&user_id),
        actor_email: Some(&email),
        reason: Some("oidc"),
        target: None,
        project: None,
        changes: None,
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    // A new account lands in its personal project; otherwise the page asked for.
    let landing = match personal {
        Some(slug) if created || return_to == "/" => format!("/projects/{slug}"),
        _ => return_to.to_owned(),
    };
    Ok(Completion::SignedIn {
        token,
        stage,
        landing,
    })
}

/// Creates the account of a first OIDC sign-in, with its personal project, when the
/// provider's sign-up policy lets this identity in. An email that a local account already
/// has is refused (OIDC-09): that account links the provider itself, after proving its own
/// credentials. Every refusal is audited.
async fn create_account(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    provider: &ProviderRow,
    redeemed: &Redeemed,
) -> Result<String, OidcError> {
    let identity = &redeemed.identity;
    let admitted = match &identity.email {
        None => Err(OidcError::NoEmail),
        Some(email) if user_id_by_email(db, email).await?.is_some() => Err(OidcError::EmailTaken),
        Some(email) => admit(auth, provider, redeemed, email).await,
    };
    let email = match admitted {
        Ok(email) => email,
        Err(error) => {
            admission::record_refusal(db, requester, provider, identity, &error).await?;
            return Err(error);
        }
    };
    let display_name = identity
        .name
        .clone()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let user_id = insert(
        &mut tx,
        &NewUser {
            email: &email,
            display_name: &display_name,
            password_hash: None,
            is_admin: false,
            must_change_password: false,
        },
        now,
    )
    .await?;
    insert_identity(&mut tx, &user_id, provider, identity, now).await?;
    projects::server::create_personal(&mut tx, &user_id, &email, &display_name, now).await?;
    let event = AuditEvent {
        event: "user_created",
        outcome: Outcome::Success,
        severity: Severity::Info,
        actor_user_id: Some(&user_id),
        actor_email: Some(&email),
        reason: Some("oidc_first_login"),
        target: None,
        project: None,
        changes: None,
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(user_id)
}

/// Whether the provider's sign-up policy lets `email` (and the identity's claim) in.
async fn admit(
    auth: &Auth,
    provider: &ProviderRow,
    redeemed: &Redeemed,
    email: &str,
) -> Result<String, OidcError> {
    let policy = &provider.sign_up;
    policy
        .admit_email(email)
        .map_err(OidcError::SignUpRefused)?;
    if let Some(required) = &policy.required_claim {
        let value = redeemed.claim(&required.name, auth).await?;
        required
            .admit(value.as_ref())
            .map_err(OidcError::SignUpRefused)?;
    }
    Ok(email.to_owned())
}
