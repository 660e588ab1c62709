//! Signing in through OpenID Connect providers: authorization code flow with PKCE (S256),
//! `state` bound to the browser by a short-lived cookie, `nonce`, discovery, and ID token
//! checks (signature, issuer, audience, expiry) by the `openidconnect` crate.
//!
//! An external identity is (issuer, subject), never an email address: a provider cannot take
//! over a local account by claiming its email. Linking one to an existing account needs the
//! account's own credentials ([`linking`]); who may sign up through a provider is the
//! provider's policy ([`admission`]); starting a flow is bounded ([`limits`]).

pub mod admission;
mod flow;
pub mod limits;
pub mod linking;
mod providers;

pub use flow::{begin, complete, CallbackParams, Completion};
pub use linking::{linked_identities, start_link, unlink};
pub use providers::{list, save};

use crate::{
    auth::{
        server::session::SessionPolicy,
        types::{oidc_error_message, OidcProviderButton},
    },
    db::Db,
    AppError,
};
use admission::Refusal;
use limits::{StartLimiter, StartLimits};
use openidconnect::{
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
        CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
        CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse,
        CoreTokenType,
    },
    AdditionalClaims, ClientId, ClientSecret, EmptyExtraTokenFields, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, RedirectUrl, StandardErrorResponse,
    StandardTokenResponse,
};
use sqlx::{any::AnyRow, Row as _};
use std::{collections::HashMap, sync::Arc};

/// Where providers send the browser back to, under the public URL.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";
/// An authorization request must come back within this time.
const REQUEST_TTL_MS: i64 = 10 * 60_000;

/// The cookie that binds an authorization request to the browser that started it
/// (login-CSRF defence); `__Host-` when cookies are Secure.
const STATE_COOKIE: &str = "wukong_oidc_state";
const SECURE_STATE_COOKIE: &str = "__Host-wukong_oidc_state";

pub fn state_cookie_name(policy: &SessionPolicy) -> &'static str {
    if policy.secure_cookies {
        SECURE_STATE_COOKIE
    } else {
        STATE_COOKIE
    }
}

/// The `Set-Cookie` value carrying `state` for as long as the request lives; an empty
/// `state` removes the cookie.
pub fn state_cookie(policy: &SessionPolicy, state: &str) -> String {
    let secure = if policy.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let max_age = if state.is_empty() {
        0
    } else {
        REQUEST_TTL_MS / 1_000
    };
    format!(
        "{}={state}; HttpOnly{secure}; SameSite=Lax; Path=/; Max-Age={max_age}",
        state_cookie_name(policy)
    )
}

/// How Wukong talks to providers.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    /// The URL browsers reach Wukong at, without a trailing slash.
    pub public_url: String,
    /// Follows no redirects, so a provider URL cannot be turned into a request elsewhere.
    pub http: openidconnect::reqwest::Client,
    pub limits: StartLimits,
    /// Starts per client address in the current minute.
    pub starts: Arc<StartLimiter>,
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
            limits: StartLimits::default(),
            starts: Arc::default(),
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
    #[error("a link came back to a browser not signed in as the user who started it")]
    LinkSession,
    #[error("too many sign-ins started; retry in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
    #[error("sign-up refused: {}", .0.reason())]
    SignUpRefused(Refusal),
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
            OidcError::LinkSession => "oidc_link_session",
            OidcError::Busy { .. } => "oidc_busy",
            OidcError::SignUpRefused(refusal) => refusal.code(),
            OidcError::Rejected(_) | OidcError::App(_) => "oidc_failed",
        }
    }

    /// The error a server fn answers with when a flow cannot start.
    pub fn into_app_error(self) -> AppError {
        match self {
            OidcError::App(error) => error,
            OidcError::Busy { retry_after_secs } => AppError::TooManyAttempts { retry_after_secs },
            other => {
                tracing::warn!(error = %other, "OIDC flow could not start");
                AppError::Invalid {
                    field: "provider".to_owned(),
                    message: oidc_error_message(other.code()).to_owned(),
                }
            }
        }
    }
}

/// Claims beyond the standard ones, by name (a required group or claim is read from them).
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct ExtraClaims(HashMap<String, serde_json::Value>);

impl AdditionalClaims for ExtraClaims {}

impl ExtraClaims {
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.get(name)
    }
}

type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        ExtraClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// A client of one provider, built from its discovery document.
type ProviderClient = openidconnect::Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct ProviderRow {
    id: String,
    name: String,
    issuer_url: String,
    client_id: String,
    client_secret_enc: String,
    scopes: String,
    sign_up: admission::SignUpPolicy,
}

fn provider_row(row: &AnyRow) -> Result<ProviderRow, sqlx::Error> {
    Ok(ProviderRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        issuer_url: row.try_get("issuer_url")?,
        client_id: row.try_get("client_id")?,
        client_secret_enc: row.try_get("client_secret_enc")?,
        scopes: row.try_get("scopes")?,
        sign_up: admission::SignUpPolicy::from_row(row)?,
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

/// A client of `provider` from a fresh discovery, sending browsers back to the callback.
async fn provider_client(
    settings: &OidcSettings,
    provider: &ProviderRow,
    secret: Option<ClientSecret>,
) -> Result<ProviderClient, OidcError> {
    let metadata = discover(settings, &provider.issuer_url).await?;
    let redirect = RedirectUrl::new(settings.redirect_url())
        .map_err(|error| OidcError::Unavailable(error.to_string()))?;
    Ok(ProviderClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        secret,
    )
    .set_redirect_uri(redirect))
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
