//! Signing in through OpenID Connect providers: authorization code flow with PKCE (S256),
//! `state` bound to the browser by a short-lived cookie, `nonce`, discovery, and ID token
//! checks (signature, issuer, audience, expiry) by the `openidconnect` crate.
//!
//! An external identity is (issuer, subject), never an email address: a provider cannot take
//! over a local account by claiming its email.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::{
        server::{
            account::invalid,
            admin::Operator,
            mfa,
            session::{self, token_hash, Requester, SessionStage},
            users::{insert, normalize_email, NewUser},
            Auth,
        },
        types::{LinkedIdentity, OidcProviderButton, OidcProviderSummary},
    },
    db::{now_ms, Db},
    projects, AppError,
};
use openidconnect::{
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata},
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};
use sqlx::{any::AnyRow, Row as _};

/// Where providers send the browser back to, under the public URL.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";
/// An authorization request must come back within this time.
const REQUEST_TTL_MS: i64 = 10 * 60_000;

/// How Wukong talks to providers.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    /// The URL browsers reach Wukong at, without a trailing slash.
    pub public_url: String,
    /// Follows no redirects, so a provider URL cannot be turned into a request elsewhere.
    pub http: openidconnect::reqwest::Client,
}

impl OidcSettings {
    pub fn new(public_url: &str) -> Result<Self, String> {
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|error| error.to_string())?;
        Ok(OidcSettings {
            public_url: public_url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    pub fn redirect_url(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.public_url)
    }
}

/// Why a flow failed; each maps to a code the login page explains.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("unknown, expired, replayed or foreign state")]
    State,
    #[error("the provider answered with error {0}")]
    Denied(String),
    #[error("the provider could not be used: {0}")]
    Unavailable(String),
    #[error("the provider's answer failed verification: {0}")]
    Rejected(String),
    #[error("a local account already has this email")]
    EmailTaken,
    #[error("the provider gave no verified email")]
    NoEmail,
    #[error("the account is disabled or locked")]
    Refused,
    #[error("the identity belongs to another account")]
    LinkedElsewhere,
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<sqlx::Error> for OidcError {
    fn from(error: sqlx::Error) -> Self {
        OidcError::App(error.into())
    }
}

impl OidcError {
    /// The `?error=` code for the page the browser is sent back to.
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::State => "oidc_state",
            OidcError::Denied(_) => "oidc_denied",
            OidcError::Unavailable(_) => "oidc_unavailable",
            OidcError::EmailTaken => "oidc_email_taken",
            OidcError::NoEmail => "oidc_no_email",
            OidcError::Refused => "oidc_refused",
            OidcError::LinkedElsewhere => "oidc_linked_elsewhere",
            OidcError::Rejected(_) | OidcError::App(_) => "oidc_failed",
        }
    }
}

struct ProviderRow {
    id: String,
    name: String,
    issuer_url: String,
    client_id: String,
    client_secret_enc: String,
    scopes: String,
}

fn provider_row(row: &AnyRow) -> Result<ProviderRow, sqlx::Error> {
    Ok(ProviderRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        issuer_url: row.try_get("issuer_url")?,
        client_id: row.try_get("client_id")?,
        client_secret_enc: row.try_get("client_secret_enc")?,
        scopes: row.try_get("scopes")?,
    })
}

async fn enabled_provider(db: &Db, id: &str) -> Result<Option<ProviderRow>, sqlx::Error> {
    sqlx::query("SELECT * FROM oidc_providers WHERE id = $1 AND is_enabled = 1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(provider_row)
        .transpose()
}

fn secret_context(provider_id: &str) -> String {
    format!("oidc-client-secret:{provider_id}")
}

/// Reads the provider's discovery document; its `issuer` must equal the configured one.
async fn discover(
    settings: &OidcSettings,
    issuer_url: &str,
) -> Result<CoreProviderMetadata, OidcError> {
    let issuer = IssuerUrl::new(issuer_url.to_owned())
        .map_err(|error| OidcError::Unavailable(error.to_string()))?;
    CoreProviderMetadata::discover_async(issuer, &settings.http)
        .await
        .map_err(|error| OidcError::Unavailable(error.to_string()))
}

/// The authorization URL to send the browser to, and the `state` to bind to it by cookie.
/// `link_user_id` links the identity to that signed-in user instead of signing in.
pub async fn begin(
    db: &Db,
    auth: &Auth,
    provider_id: &str,
    link_user_id: Option<&str>,
    return_to: &str,
) -> Result<(String, String), OidcError> {
    let provider = enabled_provider(db, provider_id)
        .await?
        .ok_or_else(|| OidcError::Unavailable("no such enabled provider".to_owned()))?;
    let metadata = discover(&auth.oidc, &provider.issuer_url).await?;
    let redirect = RedirectUrl::new(auth.oidc.redirect_url())
        .map_err(|error| OidcError::Unavailable(error.to_string()))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        None,
    )
    .set_redirect_uri(redirect);
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
    let now = now_ms();
    let sealed_verifier = auth
        .secrets
        .seal(verifier.secret().as_bytes(), &token_hash(state.secret()))
        .map_err(AppError::internal)?;
    sqlx::query("DELETE FROM oidc_login_requests WHERE expires_at < $1")
        .bind(now)
        .execute(db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO oidc_login_requests (state_hash, provider_id, nonce, pkce_verifier, \
         link_user_id, return_to, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(token_hash(state.secret()))
    .bind(&provider.id)
    .bind(nonce.secret().clone())
    .bind(sealed_verifier)
    .bind(link_user_id)
    .bind(return_to)
    .bind(now)
    .bind(now + REQUEST_TTL_MS)
    .execute(db.pool())
    .await?;
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
struct Identity {
    issuer: String,
    subject: String,
    /// Only when the provider says it is verified.
    email: Option<String>,
    name: Option<String>,
}

/// Redeems the code (with the PKCE verifier) and verifies the ID token.
async fn redeem(
    auth: &Auth,
    provider: &ProviderRow,
    pending: &PendingRequest,
    params: &CallbackParams,
) -> Result<Identity, OidcError> {
    let metadata = discover(&auth.oidc, &provider.issuer_url).await?;
    if let Some(iss) = &params.iss {
        // RFC 9207: the authorization response names its issuer; it must be ours.
        if iss != metadata.issuer().as_str() {
            return Err(OidcError::Rejected("iss parameter mismatch".to_owned()));
        }
    }
    let secret = auth
        .secrets
        .open(&provider.client_secret_enc, &secret_context(&provider.id))
        .map_err(AppError::internal)?;
    let secret = String::from_utf8(secret).map_err(AppError::internal)?;
    let redirect = RedirectUrl::new(auth.oidc.redirect_url())
        .map_err(|error| OidcError::Unavailable(error.to_string()))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(redirect);
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
    Ok(Identity {
        issuer: claims.issuer().as_str().to_owned(),
        subject: claims.subject().as_str().to_owned(),
        email,
        name: claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.as_str().to_owned()),
    })
}

/// Completes the flow at the callback: checks `state` against the browser's cookie, redeems
/// the code, verifies the ID token, then signs the user in (creating the account and its
/// personal project on first sign-in) or links the identity.
pub async fn complete(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    params: &CallbackParams,
    cookie_state: Option<&str>,
    previous_session: Option<&str>,
) -> Result<Completion, OidcError> {
    let state = params.state.as_deref().ok_or(OidcError::State)?;
    if cookie_state != Some(state) {
        return Err(OidcError::State);
    }
    let pending = take_request(db, auth, state).await?;
    if let Some(error) = &params.error {
        return Err(OidcError::Denied(error.chars().take(64).collect()));
    }
    let provider = enabled_provider(db, &pending.provider_id)
        .await?
        .ok_or_else(|| OidcError::Unavailable("provider disabled".to_owned()))?;
    let identity = redeem(auth, &provider, &pending, params).await?;
    match &pending.link_user_id {
        Some(user_id) => link(db, requester, &provider, &identity, user_id).await,
        None => {
            sign_in(
                db,
                auth,
                requester,
                &provider,
                &identity,
                &pending.return_to,
                previous_session,
            )
            .await
        }
    }
}

async fn identity_owner(db: &Db, identity: &Identity) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT user_id FROM user_oidc_identities WHERE issuer = $1 AND subject = $2")
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .fetch_optional(db.pool())
        .await?
        .map(|row| row.try_get("user_id"))
        .transpose()
}

async fn insert_identity(
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

async fn link(
    db: &Db,
    requester: &Requester,
    provider: &ProviderRow,
    identity: &Identity,
    user_id: &str,
) -> Result<Completion, OidcError> {
    match identity_owner(db, identity).await? {
        Some(owner) if owner == user_id => return Ok(Completion::Linked),
        Some(_) => return Err(OidcError::LinkedElsewhere),
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
        target: None,
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(Completion::Linked)
}

async fn sign_in(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    provider: &ProviderRow,
    identity: &Identity,
    return_to: &str,
    previous_session: Option<&str>,
) -> Result<Completion, OidcError> {
    let now = now_ms();
    let existing = identity_owner(db, identity).await?;
    let (user_id, created) = match existing {
        Some(user_id) => (user_id, false),
        None => (
            create_account(db, requester, provider, identity).await?,
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
        session::end(&mut tx, previous, "replaced_by_login", now).await?;
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

/// Creates the account of a first OIDC sign-in, with its personal project.
async fn create_account(
    db: &Db,
    requester: &Requester,
    provider: &ProviderRow,
    identity: &Identity,
) -> Result<String, OidcError> {
    let email = identity.email.clone().ok_or(OidcError::NoEmail)?;
    if super::admin::user_id_by_email(db, &email).await?.is_some() {
        return Err(OidcError::EmailTaken);
    }
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
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(user_id)
}

/// Enabled providers, for the login page.
pub async fn buttons(db: &Db) -> Result<Vec<OidcProviderButton>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT id, name FROM oidc_providers WHERE is_enabled = 1 ORDER BY name")
            .fetch_all(db.pool())
            .await?;
    rows.iter()
        .map(|row| {
            Ok(OidcProviderButton {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
            })
        })
        .collect()
}

/// The identities linked to `user_id`.
pub async fn linked_identities(db: &Db, user_id: &str) -> Result<Vec<LinkedIdentity>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT p.name, i.issuer, i.email, i.created_at FROM user_oidc_identities i \
         LEFT JOIN oidc_providers p ON p.id = i.provider_id WHERE i.user_id = $1 ORDER BY i.created_at",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(LinkedIdentity {
                provider_name: row.try_get("name")?,
                issuer: row.try_get("issuer")?,
                email: row.try_get("email")?,
                linked_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// Every provider, for the admin page.
pub async fn list(db: &Db, operator: Operator<'_>) -> Result<Vec<OidcProviderSummary>, AppError> {
    ensure_admin(operator)?;
    let rows = sqlx::query(
        "SELECT id, name, issuer_url, client_id, scopes, is_enabled FROM oidc_providers ORDER BY name",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|row| {
            Ok(OidcProviderSummary {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                issuer_url: row.try_get("issuer_url")?,
                client_id: row.try_get("client_id")?,
                scopes: row.try_get("scopes")?,
                is_enabled: row.try_get::<i64, _>("is_enabled")? == 1,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?)
}

fn ensure_admin(operator: Operator<'_>) -> Result<(), AppError> {
    match operator {
        Operator::Admin(user) if !user.is_admin => Err(AppError::Forbidden),
        _ => Ok(()),
    }
}

/// A provider as an admin submits it; an empty secret on an existing provider keeps the
/// stored one.
pub struct ProviderInput {
    pub id: Option<String>,
    pub name: String,
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: String,
    pub is_enabled: bool,
}

/// Adds or updates a provider after checking that its discovery document can be read and
/// names the same issuer.
pub async fn save(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    operator: Operator<'_>,
    input: ProviderInput,
) -> Result<OidcProviderSummary, AppError> {
    ensure_admin(operator)?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(invalid(
            "name",
            "Give the provider a name of 1 to 60 characters.",
        ));
    }
    let issuer_url = input.issuer_url.trim().trim_end_matches('/').to_owned();
    let url_ok = issuer_url.starts_with("https://") || issuer_url.starts_with("http://");
    if !url_ok || issuer_url.contains(['?', '#', ' ']) {
        return Err(invalid(
            "issuer_url",
            "Enter the issuer URL, like https://login.example.com/realms/main.",
        ));
    }
    if input.client_id.trim().is_empty() {
        return Err(invalid(
            "client_id",
            "Enter the client id the provider issued.",
        ));
    }
    let scopes = match input.scopes.split_whitespace().collect::<Vec<_>>() {
        scopes if scopes.is_empty() => "openid email profile".to_owned(),
        scopes if scopes.contains(&"openid") => scopes.join(" "),
        scopes => format!("openid {}", scopes.join(" ")),
    };
    if input.is_enabled {
        let metadata = discover(&auth.oidc, &issuer_url).await.map_err(|error| {
            invalid(
                "issuer_url",
                &format!("Wukong could not read this provider's discovery document ({error})."),
            )
        })?;
        if metadata.issuer().as_str().trim_end_matches('/') != issuer_url {
            return Err(invalid(
                "issuer_url",
                &format!(
                    "The provider calls itself {}; use exactly that URL.",
                    metadata.issuer().as_str()
                ),
            ));
        }
    }
    let id = input
        .id
        .clone()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let is_new = input.id.as_deref().is_none_or(str::is_empty);
    let secret = input.client_secret.trim();
    if is_new && secret.is_empty() {
        return Err(invalid(
            "client_secret",
            "Enter the client secret the provider issued.",
        ));
    }
    let sealed = if secret.is_empty() {
        None
    } else {
        Some(
            auth.secrets
                .seal(secret.as_bytes(), &secret_context(&id))
                .map_err(AppError::internal)?,
        )
    };
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let written = if is_new {
        sqlx::query(
            "INSERT INTO oidc_providers (id, name, issuer_url, client_id, client_secret_enc, scopes, \
             is_enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&id)
        .bind(name)
        .bind(&issuer_url)
        .bind(input.client_id.trim())
        .bind(sealed)
        .bind(&scopes)
        .bind(i64::from(input.is_enabled))
        .bind(now)
        .execute(&mut *tx)
        .await
    } else {
        sqlx::query(
            "UPDATE oidc_providers SET name = $1, issuer_url = $2, client_id = $3, \
             client_secret_enc = COALESCE($4, client_secret_enc), scopes = $5, is_enabled = $6, \
             updated_at = $7 WHERE id = $8",
        )
        .bind(name)
        .bind(&issuer_url)
        .bind(input.client_id.trim())
        .bind(sealed)
        .bind(&scopes)
        .bind(i64::from(input.is_enabled))
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await
    };
    match written {
        Ok(done) if done.rows_affected() == 1 => {}
        Ok(_) => {
            return Err(AppError::NotFound {
                what: "That provider".to_owned(),
            })
        }
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(invalid("name", "Another provider already has this name."))
        }
        Err(error) => return Err(error.into()),
    }
    let (actor_user_id, actor_email) = match operator {
        Operator::Admin(admin) => (Some(admin.id.as_str()), Some(admin.email.as_str())),
        Operator::Cli => (None, None),
    };
    let event = AuditEvent {
        event: "oidc_provider_changed",
        outcome: Outcome::Success,
        severity: Severity::Warning,
        actor_user_id,
        actor_email,
        reason: Some(if is_new {
            "added"
        } else if input.is_enabled {
            "updated"
        } else {
            "disabled"
        }),
        target: Some(("oidc_provider", &id)),
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(OidcProviderSummary {
        id,
        name: name.to_owned(),
        issuer_url,
        client_id: input.client_id.trim().to_owned(),
        scopes,
        is_enabled: input.is_enabled,
    })
}
