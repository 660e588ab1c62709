//! Projects in the database.

pub mod lifecycle;
pub mod members;
pub mod namespace;

use crate::{
    auth::types::CurrentUser,
    authz::{
        server::{self as authz, ProjectAccess},
        Action,
    },
    db::Db,
    projects::types::{ProjectScope, ProjectSummary},
    AppError,
};
use sqlx::Row as _;

/// The namespace of a project comes from its immutable id, never its name, so two projects
/// with the same name can never share one.
pub fn namespace_for(project_id: &uuid::Uuid) -> String {
    format!("wukong-{}", project_id.simple())
}

/// A URL-safe slug from `base` plus a random suffix, so slugs never collide by name.
pub(crate) fn slug_for(base: &str, project_id: &uuid::Uuid) -> String {
    let mut stem: String = base
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    stem = stem.trim_matches('-').chars().take(30).collect();
    let suffix = &project_id.simple().to_string()[..6];
    if stem.is_empty() {
        format!("project-{suffix}")
    } else {
        format!("{stem}-{suffix}")
    }
}

/// Creates the personal default project of a new user, with them as owner. Returns its slug.
pub async fn create_personal(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    email: &str,
    display_name: &str,
    now: i64,
) -> Result<String, sqlx::Error> {
    let row = lifecycle::NewProjectRow {
        name: &format!("{display_name}'s project"),
        description: "Personal project, created with the account.",
        namespace: None,
        is_personal: true,
        slug_base: email.split('@').next().unwrap_or_default(),
        owner_id: user_id,
        created_by: Some(user_id),
    };
    Ok(lifecycle::insert(tx, &row, now).await?.slug)
}

/// How a project appears in lists, for the user `access` was checked for.
pub fn summary(access: &ProjectAccess) -> ProjectSummary {
    let project = access.project();
    ProjectSummary {
        id: project.id.clone(),
        slug: project.slug.clone(),
        name: project.name.clone(),
        description: project.description.clone(),
        is_personal: project.is_personal,
        standing: access.standing(),
    }
}

/// What the VM pages need of a project.
pub fn scope(access: &ProjectAccess) -> ProjectScope {
    let project = access.project();
    ProjectScope {
        slug: project.slug.clone(),
        name: project.name.clone(),
        namespace: project.namespace.clone(),
        standing: access.standing(),
    }
}

/// The projects `user` may see: their own, or every project for a global admin.
pub async fn list(db: &Db, user: &CurrentUser) -> Result<Vec<ProjectSummary>, AppError> {
    let found = authz::projects(db, user, Action::View).await?;
    Ok(found.iter().map(summary).collect())
}

/// The slug of `user_id`'s personal project, if they have one.
pub async fn personal_slug(db: &Db, user_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query(
        "SELECT p.slug FROM projects p JOIN project_members m ON m.project_id = p.id \
         WHERE m.user_id = $1 AND p.is_personal = 1 AND p.created_by = $1",
    )
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?
    .map(|row| row.try_get("slug"))
    .transpose()
}
