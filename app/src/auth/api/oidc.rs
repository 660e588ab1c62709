//! Server functions of OIDC sign-in providers.

use crate::{
    auth::types::{
        OidcProviderButton, OidcProviderForm, OidcProviderSummary, OidcProviders, SignInMethods,
    },
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

/// The ways the signed-in user can sign in: password or not, and linked identities.
#[server(endpoint = "auth/oidc/identities")]
pub async fn list_linked_identities() -> Result<SignInMethods, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    crate::auth::server::oidc::linked_identities(&state.db, &session.user.id)
        .await
        .map_err(respond)
}

/// Starts linking a provider to the signed-in user's account; needs the password again (or
/// a fresh sign-in through a linked provider) and, with MFA on, a code. Sets the cookie
/// that binds the request to this browser and returns the provider URL to go to.
#[server(endpoint = "auth/oidc/link")]
pub async fn link_provider(
    provider_id: String,
    #[server(default)] password: String,
    code: Option<String>,
) -> Result<String, AppError> {
    use crate::{
        auth::server::oidc,
        context::{requester, require_session, respond, set_cookie, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let (url, request_state) = oidc::start_link(
        &state.db,
        &state.auth,
        &requester(),
        &session,
        &provider_id,
        password,
        code.as_deref(),
    )
    .await
    .map_err(respond)?;
    set_cookie(&oidc::state_cookie(&state.auth.sessions, &request_state));
    Ok(url)
}

/// Unlinks one of the signed-in user's identities; needs the same as linking, and refuses
/// to remove the last way to sign in.
#[server(endpoint = "auth/oidc/unlink")]
pub async fn unlink_provider(
    identity_id: String,
    #[server(default)] password: String,
    code: Option<String>,
) -> Result<(), AppError> {
    use crate::{
        auth::server::oidc,
        context::{requester, require_session, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    oidc::unlink(
        &state.db,
        &state.auth,
        &requester(),
        &session,
        &identity_id,
        password,
        code.as_deref(),
    )
    .await
    .map_err(respond)
}

/// Admins: every provider.
#[server(endpoint = "admin/oidc")]
pub async fn list_oidc_providers() -> Result<OidcProviders, AppError> {
    use crate::{
        auth::server::oidc,
        context::{require_session, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    let providers = oidc::list(&state.db, &admin).await.map_err(respond)?;
    Ok(OidcProviders {
        providers,
        redirect_uri: state.auth.oidc.redirect_url(),
    })
}

/// Admins: adds a provider (no `id`) or updates one; an empty secret keeps the stored one.
#[server(endpoint = "admin/oidc/save")]
pub async fn save_oidc_provider(
    #[server(flatten)] provider: OidcProviderForm,
) -> Result<OidcProviderSummary, AppError> {
    use crate::{
        auth::server::{admin::Operator, oidc},
        context::{requester, require_session, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    oidc::save(
        &state.db,
        &state.auth,
        &requester(),
        Operator::Admin(&admin),
        provider,
    )
    .await
    .map_err(respond)
}
