//! The quota server functions: thin wrappers over `server`. Templates and the overview are
//! for global admins; a project's quota is for its members, and only admins change it.

use super::types::{ProjectQuota, QuotaChoice, QuotaTemplate, QuotaTemplateForm};
use crate::AppError;
use leptos::prelude::*;

/// Every quota template (global admins).
#[server(endpoint = "quotas/templates")]
pub async fn list_quota_templates() -> Result<Vec<QuotaTemplate>, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    super::server::templates::list(&state.db, &admin)
        .await
        .map_err(respond)
}

/// Creates a template (`id` empty) or changes one; answers it as saved, with the number of
/// projects that use it so that the page can offer to apply the change to them.
#[server(endpoint = "quotas/templates/save", input = server_fn::codec::Json)]
pub async fn save_quota_template(
    id: String,
    form: QuotaTemplateForm,
) -> Result<QuotaTemplate, AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    super::server::templates::save(&state, &admin, &requester(), &id, &form)
        .await
        .map_err(respond)
}

/// Gives every project that uses the template `id` the template's current limits; answers
/// how many projects changed.
#[server(endpoint = "quotas/templates/apply")]
pub async fn apply_quota_template(id: String) -> Result<u64, AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    super::server::templates::apply(&state, &admin, &requester(), &id)
        .await
        .map_err(respond)
}

/// Deletes a template that no project uses.
#[server(endpoint = "quotas/templates/delete")]
pub async fn delete_quota_template(id: String) -> Result<(), AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    super::server::templates::delete(&state.db, &admin, &requester(), &id)
        .await
        .map_err(respond)
}

/// A project's quota and usage, for its members.
#[server(endpoint = "quotas/project")]
pub async fn get_project_quota(slug: String) -> Result<ProjectQuota, AppError> {
    use crate::context::{not_user_activity, require_session, respond, state};
    not_user_activity();
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let access =
        crate::authz::server::project(&state.db, &session.user, &slug, crate::authz::Action::View)
            .await
            .map_err(respond)?;
    super::server::usage::project_quota(&state.db, access.project())
        .await
        .map_err(respond)
}

/// Sets a project's quota from a template or to custom limits (global admins).
#[server(endpoint = "quotas/project/set", input = server_fn::codec::Json)]
pub async fn set_project_quota(
    slug: String,
    choice: QuotaChoice,
) -> Result<ProjectQuota, AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    super::server::limits::set(&state, &admin, &requester(), &slug, &choice)
        .await
        .map_err(respond)
}

/// Every project's quota and usage, the nearest to their limits first (global admins).
#[server(endpoint = "quotas/overview")]
pub async fn quota_overview() -> Result<Vec<ProjectQuota>, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    super::server::usage::overview(&state.db, &admin)
        .await
        .map_err(respond)
}

/// The quotas of the projects the signed-in user is a member of, for the dashboard.
#[server(endpoint = "quotas/mine")]
pub async fn my_quotas() -> Result<Vec<ProjectQuota>, AppError> {
    use crate::context::{not_user_activity, require_session, respond, state};
    not_user_activity();
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::usage::mine(&state.db, &session.user)
        .await
        .map_err(respond)
}
