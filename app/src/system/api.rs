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
    })
}
