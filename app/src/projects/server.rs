//! Projects in the database.

use crate::{projects::types::ProjectSummary, AppError};
use sqlx::{any::AnyRow, Row as _};

/// The namespace of a project comes from its immutable id, never its name, so two projects
/// with the same name can never share one.
pub fn namespace_for(project_id: &uuid::Uuid) -> String {
    format!("wukong-{}", project_id.simple())
}

/// A URL-safe slug from `base` plus a random suffix, so slugs never collide by name.
fn slug_for(base: &str, project_id: &uuid::Uuid) -> String {
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
    let id = uuid::Uuid::new_v4();
    let local_part = email.split('@').next().unwrap_or_default();
    let slug = slug_for(local_part, &id);
    sqlx::query(
        "INSERT INTO projects (id, slug, name, description, namespace, is_personal, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7)",
    )
    .bind(id.to_string())
    .bind(&slug)
    .bind(format!("{display_name}'s project"))
    .bind("Personal project, created with the account.")
    .bind(namespace_for(&id))
    .bind(user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO project_members (project_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
    )
    .bind(id.to_string())
    .bind(user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(slug)
}

const COLUMNS: &str = "p.id, p.slug, p.name, p.description, p.is_personal, m.role FROM projects p \
     JOIN project_members m ON m.project_id = p.id";

fn summary(row: &AnyRow) -> Result<ProjectSummary, sqlx::Error> {
    Ok(ProjectSummary {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        is_personal: row.try_get::<i64, _>("is_personal")? == 1,
        role: row.try_get("role")?,
    })
}

/// The projects `user_id` is a member of, personal first, then by name.
pub async fn list_for_member(
    db: &crate::db::Db,
    user_id: &str,
) -> Result<Vec<ProjectSummary>, AppError> {
    let sql = format!("SELECT {COLUMNS} WHERE m.user_id = $1 ORDER BY p.is_personal DESC, p.name");
    let rows = sqlx::query(&sql).bind(user_id).fetch_all(db.pool()).await?;
    Ok(rows.iter().map(summary).collect::<Result<_, _>>()?)
}

/// The project `slug` if `user_id` is a member; `NotFound` otherwise, so non-members learn
/// nothing about which projects exist.
pub async fn find_for_member(
    db: &crate::db::Db,
    user_id: &str,
    slug: &str,
) -> Result<ProjectSummary, AppError> {
    let sql = format!("SELECT {COLUMNS} WHERE m.user_id = $1 AND p.slug = $2");
    let row = sqlx::query(&sql)
        .bind(user_id)
        .bind(slug)
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some(row) => Ok(summary(&row)?),
        None => Err(AppError::NotFound {
            what: "That project".to_owned(),
        }),
    }
}

/// The slug of `user_id`'s personal project, if they have one.
pub async fn personal_slug(
    db: &crate::db::Db,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
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
