use super::types::ServerInfo;
use crate::AppError;
use leptos::prelude::*;

#[server(endpoint = "system/info")]
pub async fn get_server_info() -> Result<ServerInfo, AppError> {
    use crate::context::{require_session, respond, state};
    require_session().map_err(respond)?;
    let state = state().map_err(respond)?;
    state
        .db
        .ping()
        .await
        .map_err(|error| respond(error.into()))?;
    Ok(ServerInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        database: state.db.backend().label().to_owned(),
        // Not the kubeconfig path or API URL: every signed-in user sees this.
        cluster: if state.cluster.is_simulated() {
            "Simulated cluster".to_owned()
        } else {
            "Kubernetes".to_owned()
        },
    })
}

/// Whether the cluster is the built-in simulated one, for the banner on every page (also
/// while a password change or MFA set-up is owed).
#[server(endpoint = "system/simulated")]
pub async fn is_cluster_simulated() -> Result<bool, AppError> {
    use crate::context::{require_signed_in, respond, state};
    require_signed_in().map_err(respond)?;
    Ok(state().map_err(respond)?.cluster.is_simulated())
}

/// Answers only for global admins: the admin area's pages are refused to everyone else.
#[server(endpoint = "system/admin")]
pub async fn check_admin() -> Result<(), AppError> {
    use crate::context::{require_session, respond};
    let session = require_session().map_err(respond)?;
    crate::authz::server::require_admin(&session.user).map_err(respond)?;
    Ok(())
}
