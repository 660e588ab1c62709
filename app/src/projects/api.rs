use crate::{projects::types::ProjectSummary, AppError};
use leptos::prelude::*;

/// The projects the signed-in user is a member of.
#[server(endpoint = "projects/list")]
pub async fn list_projects() -> Result<Vec<ProjectSummary>, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::list_for_member(&state.db, &session.user.id)
        .await
        .map_err(respond)
}

/// One project, for its members only.
#[server(endpoint = "projects/get")]
pub async fn get_project(slug: String) -> Result<ProjectSummary, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::find_for_member(&state.db, &session.user.id, &slug)
        .await
        .map_err(respond)
}
