//! Server functions of OIDC sign-in providers.

use crate::{
    auth::types::{LinkedIdentity, OidcProviderButton, OidcProviderSummary, OidcProviders},
    AppError,
};
use leptos::prelude::*;

/// Enabled providers, one button each on the login page (no session needed).
#[server(endpoint = "auth/oidc/providers")]
pub async fn list_sign_in_providers() -> Result<Vec<OidcProviderButton>, AppError> {
    use crate::context::{respond, state};
    let state = state().map_err(respond)?;
    crate::auth::server::oidc::buttons(&state.db)
        .await
        .map_err(|error| respond(error.into()))
}

/// The identities linked to the signed-in user.
#[server(endpoint = "auth/oidc/identities")]
pub async fn list_linked_identities() -> Result<Vec<LinkedIdentity>, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    crate::auth::server::oidc::linked_identities(&state.db, &session.user.id)
        .await
        .map_err(|error| respond(error.into()))
}

/// Admins: every provider.
#[server(endpoint = "admin/oidc")]
pub async fn list_oidc_providers() -> Result<OidcProviders, AppError> {
    use crate::{
        auth::server::{admin::Operator, oidc},
        context::{require_session, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let providers = oidc::list(&state.db, Operator::Admin(&session.user))
        .await
        .map_err(respond)?;
    Ok(OidcProviders {
        providers,
        redirect_uri: state.auth.oidc.redirect_url(),
    })
}

/// Admins: adds a provider (no `id`) or updates one; an empty secret keeps the stored one.
#[server(endpoint = "admin/oidc/save")]
pub async fn save_oidc_provider(
    id: Option<String>,
    name: String,
    issuer_url: String,
    client_id: String,
    client_secret: String,
    scopes: String,
    is_enabled: Option<String>,
) -> Result<OidcProviderSummary, AppError> {
    use crate::{
        auth::server::{
            admin::Operator,
            oidc::{self, ProviderInput},
        },
        context::{requester, require_session, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let input = ProviderInput {
        id,
        name,
        issuer_url,
        client_id,
        client_secret,
        scopes,
        is_enabled: is_enabled.is_some(),
    };
    oidc::save(
        &state.db,
        &state.auth,
        &requester(),
        Operator::Admin(&session.user),
        input,
    )
    .await
    .map_err(respond)
}
