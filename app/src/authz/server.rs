//! Authorization on the server. A request that touches a project gets a [`ProjectAccess`]
//! from [`project`] or [`projects`], the only places that read memberships, and the code
//! that acts on a project takes one; admin-only services take an [`AdminCap`], which only
//! [`require_admin`] makes. So code that did not check cannot call them.

use super::{Action, ProjectRole, Standing};
use crate::{auth::types::CurrentUser, db::Db, AppError};
use sqlx::{any::AnyRow, Row as _};

/// Proof that the holder is a global admin.
#[derive(Clone, Debug)]
pub struct AdminCap {
    user: CurrentUser,
}

impl AdminCap {
    /// The admin it was made for.
    pub fn user(&self) -> &CurrentUser {
        &self.user
    }
}

/// `user`'s admin capability, or `Forbidden`.
pub fn require_admin(user: &CurrentUser) -> Result<AdminCap, AppError> {
    if user.is_admin {
        Ok(AdminCap { user: user.clone() })
    } else {
        Err(AppError::Forbidden)
    }
}

/// A project as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub namespace: String,
    pub is_personal: bool,
}

/// Proof that a user may do an action in a project, with the project and where the user
/// stands in it.
#[derive(Clone, Debug)]
pub struct ProjectAccess {
    project: ProjectRow,
    standing: Standing,
}

impl ProjectAccess {
    pub fn project(&self) -> &ProjectRow {
        &self.project
    }

    pub fn standing(&self) -> Standing {
        self.standing
    }

    /// Whether the same user may also do `action` here.
    pub fn may(&self, action: Action) -> bool {
        self.standing.may(action)
    }

    /// This access, for `action` too; `Forbidden` when the user may not do it.
    pub fn require(&self, action: Action) -> Result<&ProjectAccess, AppError> {
        if self.may(action) {
            Ok(self)
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// Longest slug looked up; a longer one names no project.
const MAX_SLUG: usize = 100;

const SELECT: &str = "SELECT p.id, p.slug, p.name, p.description, p.namespace, p.is_personal, \
     m.role FROM projects p LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = $1";

fn access(row: &AnyRow, user: &CurrentUser) -> Result<ProjectAccess, AppError> {
    let role: Option<String> = row.try_get("role")?;
    let role = match role {
        Some(text) => Some(
            ProjectRole::parse(&text)
                .ok_or_else(|| AppError::internal(format!("unknown project role {text:?}")))?,
        ),
        None => None,
    };
    Ok(ProjectAccess {
        project: ProjectRow {
            id: row.try_get("id")?,
            slug: row.try_get("slug")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            namespace: row.try_get("namespace")?,
            is_personal: row.try_get::<i64, _>("is_personal")? == 1,
        },
        standing: Standing {
            role,
            global_admin: user.is_admin,
        },
    })
}

/// The project `slug` if `user` may do `action` in it. Anyone who is neither a member nor a
/// global admin gets `NotFound`, as for a project that does not exist, so that nobody learns
/// which projects exist; a member whose role does not allow the action gets `Forbidden`.
pub async fn project(
    db: &Db,
    user: &CurrentUser,
    slug: &str,
    action: Action,
) -> Result<ProjectAccess, AppError> {
    if slug.is_empty() || slug.len() > MAX_SLUG {
        return Err(project_not_found());
    }
    one(db, user, "p.slug", slug, action).await
}

/// [`project`] for the project with id `id`, for what stored the id when it checked the
/// slug (a console ticket) and checks again now.
pub async fn project_by_id(
    db: &Db,
    user: &CurrentUser,
    id: &str,
    action: Action,
) -> Result<ProjectAccess, AppError> {
    one(db, user, "p.id", id, action).await
}

fn project_not_found() -> AppError {
    AppError::NotFound {
        what: "That project".to_owned(),
    }
}

/// The project whose `column` is `value`, checked as [`project`] says.
async fn one(
    db: &Db,
    user: &CurrentUser,
    column: &str,
    value: &str,
    action: Action,
) -> Result<ProjectAccess, AppError> {
    let row = sqlx::query(&format!("{SELECT} WHERE {column} = $2"))
        .bind(&user.id)
        .bind(value)
        .fetch_optional(db.pool())
        .await?;
    let access = match row {
        Some(row) => access(&row, user)?,
        None => return Err(project_not_found()),
    };
    if access.standing.role.is_none() && !access.standing.global_admin {
        return Err(project_not_found());
    }
    access.require(action)?;
    Ok(access)
}

/// Every project where `user` may do `action`: their projects, or every project for a
/// global admin. Personal projects first, then by name.
pub async fn projects(
    db: &Db,
    user: &CurrentUser,
    action: Action,
) -> Result<Vec<ProjectAccess>, AppError> {
    let only_members = if user.is_admin {
        ""
    } else {
        " WHERE m.user_id IS NOT NULL"
    };
    let rows = sqlx::query(&format!(
        "{SELECT}{only_members} ORDER BY p.is_personal DESC, p.name, p.slug"
    ))
    .bind(&user.id)
    .fetch_all(db.pool())
    .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        let access = access(row, user)?;
        if access.may(action) {
            found.push(access);
        }
    }
    Ok(found)
}
