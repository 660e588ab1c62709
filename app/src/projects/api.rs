//! The project server functions: thin wrappers over `server`. Every one that names a
//! project resolves it through `authz::server::project`, which answers 404 to anyone who is
//! not a member.

#[cfg(feature = "ssr")]
use crate::projects::types::{NewProjectForm, ProjectForm};
use crate::{
    authz::ProjectRole,
    projects::types::{
        MemberSummary, ProjectCard, ProjectCreation, ProjectDeletion, ProjectSummary,
    },
    AppError,
};
use leptos::prelude::*;

/// The state, the session and the project `slug` checked for `action`.
#[cfg(feature = "ssr")]
async fn scoped(
    slug: &str,
    action: crate::authz::Action,
) -> Result<
    (
        crate::context::AppState,
        crate::auth::server::session::Session,
        crate::authz::server::ProjectAccess,
    ),
    AppError,
> {
    use crate::context::{require_session, state};
    let state = state()?;
    let session = require_session()?;
    let access = crate::authz::server::project(&state.db, &session.user, slug, action).await?;
    Ok((state, session, access))
}

/// The projects the signed-in user may see.
#[server(endpoint = "projects/list")]
pub async fn list_projects() -> Result<Vec<ProjectSummary>, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::list(&state.db, &session.user)
        .await
        .map_err(respond)
}

/// The dashboard's project cards.
#[server(endpoint = "projects/overview")]
pub async fn project_overview() -> Result<Vec<ProjectCard>, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::overview(&state, &session.user)
        .await
        .map_err(respond)
}

/// One project, for its members (and global admins) only.
#[server(endpoint = "projects/get")]
pub async fn get_project(slug: String) -> Result<ProjectSummary, AppError> {
    use crate::{authz::Action, context::respond};
    let (_, _, access) = scoped(&slug, Action::View).await.map_err(respond)?;
    Ok(super::server::summary(&access))
}

/// Whether the signed-in user may create projects.
#[server(endpoint = "projects/creation")]
pub async fn may_create_projects() -> Result<ProjectCreation, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let users_may_create = super::server::lifecycle::users_may_create(&state.db)
        .await
        .map_err(respond)?;
    Ok(ProjectCreation {
        allowed: session.user.is_admin || users_may_create,
        as_admin: session.user.is_admin,
        users_may_create,
    })
}

/// Creates a project; answers its slug. `owner_email` (admins only) names the first owner.
#[server(endpoint = "projects/create")]
pub async fn create_project(
    name: String,
    description: String,
    #[server(default)] owner_email: String,
) -> Result<String, AppError> {
    use crate::context::{requester, require_session, respond, state};
    let form = NewProjectForm {
        project: ProjectForm { name, description },
        owner_email,
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::lifecycle::create(&state, &session.user, &requester(), &form)
        .await
        .map_err(respond)
}

/// Adopts an existing namespace into a new project (global admins); answers its slug.
#[server(endpoint = "projects/adopt")]
pub async fn adopt_namespace(
    namespace: String,
    name: String,
    description: String,
    #[server(default)] owner_email: String,
) -> Result<String, AppError> {
    use crate::context::{requester, require_session, respond, state};
    let form = NewProjectForm {
        project: ProjectForm { name, description },
        owner_email,
    };
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    super::server::lifecycle::adopt(&state, &admin, &requester(), &form, &namespace)
        .await
        .map_err(respond)
}

/// The admin setting that lets users who are not admins create projects.
#[server(endpoint = "projects/settings")]
pub async fn set_users_create_projects(allowed: bool) -> Result<(), AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let admin = crate::authz::server::require_admin(&session.user).map_err(respond)?;
    super::server::lifecycle::set_users_may_create(&state.db, &admin, &requester(), allowed)
        .await
        .map_err(respond)
}

/// Renames a project or changes its description.
#[server(endpoint = "projects/update")]
pub async fn update_project(
    slug: String,
    name: String,
    description: String,
) -> Result<(), AppError> {
    use crate::{
        authz::Action,
        context::{requester, respond},
    };
    let form = ProjectForm { name, description };
    let (state, session, access) = scoped(&slug, Action::EditProject).await.map_err(respond)?;
    super::server::lifecycle::update(&state.db, &access, &session.user, &requester(), &form)
        .await
        .map_err(respond)
}

/// What deleting the project would delete.
#[server(endpoint = "projects/deletion")]
pub async fn preview_project_deletion(slug: String) -> Result<ProjectDeletion, AppError> {
    use crate::{authz::Action, context::respond};
    let (state, _, access) = scoped(&slug, Action::DeleteProject)
        .await
        .map_err(respond)?;
    super::server::lifecycle::deletion(&state, &access)
        .await
        .map_err(respond)
}

/// Deletes the project and everything in it; `confirm_name` must repeat its name.
#[server(endpoint = "projects/delete")]
pub async fn delete_project(slug: String, confirm_name: String) -> Result<(), AppError> {
    use crate::{
        authz::Action,
        context::{requester, respond},
    };
    let (state, session, access) = scoped(&slug, Action::DeleteProject)
        .await
        .map_err(respond)?;
    let members = super::server::members::list(&state.db, &access)
        .await
        .map_err(respond)?;
    super::server::lifecycle::delete(&state, &access, &session.user, &requester(), &confirm_name)
        .await
        .map_err(respond)?;
    for member in members {
        state.live.access_changed(&member.user_id);
    }
    Ok(())
}

/// The project's members.
#[server(endpoint = "projects/members")]
pub async fn list_members(slug: String) -> Result<Vec<MemberSummary>, AppError> {
    use crate::{authz::Action, context::respond};
    let (state, _, access) = scoped(&slug, Action::View).await.map_err(respond)?;
    super::server::members::list(&state.db, &access)
        .await
        .map_err(respond)
}

/// Adds an existing user to the project.
#[server(endpoint = "projects/members/add")]
pub async fn add_member(slug: String, email: String, role: ProjectRole) -> Result<(), AppError> {
    use crate::{
        authz::Action,
        context::{requester, respond},
    };
    let (state, session, access) = scoped(&slug, Action::ManageMembers)
        .await
        .map_err(respond)?;
    let member = super::server::members::add(
        &state.db,
        &access,
        &session.user,
        &requester(),
        &email,
        role,
    )
    .await
    .map_err(respond)?;
    state.live.access_changed(&member);
    Ok(())
}

/// Changes a member's role.
#[server(endpoint = "projects/members/role")]
pub async fn change_member_role(
    slug: String,
    user_id: String,
    role: ProjectRole,
) -> Result<(), AppError> {
    use crate::{
        authz::Action,
        context::{requester, respond},
    };
    let (state, session, access) = scoped(&slug, Action::ManageMembers)
        .await
        .map_err(respond)?;
    super::server::members::change_role(
        &state.db,
        &access,
        &session.user,
        &requester(),
        &user_id,
        role,
    )
    .await
    .map_err(respond)?;
    state.live.access_changed(&user_id);
    Ok(())
}

/// Removes a member; a member removing themselves leaves the project.
#[server(endpoint = "projects/members/remove")]
pub async fn remove_member(slug: String, user_id: String) -> Result<(), AppError> {
    use crate::{
        authz::Action,
        context::{requester, respond},
    };
    let (state, session, access) = scoped(&slug, Action::View).await.map_err(respond)?;
    super::server::members::remove(&state.db, &access, &session.user, &requester(), &user_id)
        .await
        .map_err(respond)?;
    state.live.access_changed(&user_id);
    Ok(())
}
