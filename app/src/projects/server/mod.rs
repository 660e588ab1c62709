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
    projects::types::{ProjectCard, ProjectScope, ProjectSummary},
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

/// The dashboard's cards: each project `user` may see, with its member count and its VMs
/// by status (from the live store, as the VM list counts them).
pub async fn overview(
    state: &crate::context::AppState,
    user: &CurrentUser,
) -> Result<Vec<ProjectCard>, AppError> {
    use crate::vms::types::VmStatus;
    use std::collections::HashMap;
    let found = authz::projects(&state.db, user, Action::View).await?;
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT project_id, COUNT(*) FROM project_members GROUP BY project_id")
            .fetch_all(state.db.pool())
            .await?;
    let members: HashMap<String, i64> = counts.into_iter().collect();
    // The dashboard does not wait for a cluster that is down: it says so instead.
    let listed = state.live.ready(std::time::Duration::ZERO).await;
    let mut by_project: HashMap<String, HashMap<VmStatus, u64>> = if listed {
        let visible: Vec<_> = found.iter().map(ProjectAccess::project).collect();
        state.live.index().counts(&visible)
    } else {
        HashMap::new()
    };
    let mut cards = Vec::with_capacity(found.len());
    for access in &found {
        let project = access.project();
        let vms_by_status = listed.then(|| {
            let mut counts: Vec<_> = by_project
                .remove(&project.id)
                .unwrap_or_default()
                .into_iter()
                .collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            counts
        });
        cards.push(ProjectCard {
            project: summary(access),
            members: members
                .get(&project.id)
                .map_or(0, |count| u64::try_from(*count).unwrap_or_default()),
            vms_by_status,
        });
    }
    Ok(cards)
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
