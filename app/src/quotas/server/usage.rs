//! Reading quotas and usage: one project's, every project's for admins, the user's own.

use super::amounts;
use crate::{
    auth::types::CurrentUser,
    authz::{
        server::{self as authz, AdminCap, ProjectRow},
        Action,
    },
    db::Db,
    quotas::types::{ProjectQuota, Resource, TemplateRef},
    AppError,
};
use sqlx::{any::AnyRow, Row as _};
use std::cmp::Ordering;

/// The quota, usage and template of projects, `filter` choosing which. A project without a
/// quota row has zero limits; without a usage row, zero usage.
fn select(filter: &str) -> String {
    let coalesced = |table: &str, prefix: &str| {
        Resource::ALL
            .into_iter()
            .map(|r| format!("COALESCE({table}.{k}, 0) AS {prefix}{k}", k = r.key()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let same: Vec<String> = Resource::ALL
        .into_iter()
        .map(|r| format!("t.{k} = q.{k}", k = r.key()))
        .collect();
    format!(
        "SELECT p.slug, p.name, q.template_id, t.name AS template_name, \
         CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT) AS template_current, {}, {} \
         FROM projects p \
         LEFT JOIN resource_quotas q ON q.project_id = p.id \
         LEFT JOIN resource_usage u ON u.project_id = p.id \
         LEFT JOIN quota_templates t ON t.id = q.template_id {filter}",
        same.join(" AND "),
        coalesced("q", "q_"),
        coalesced("u", "u_"),
    )
}

fn quota(row: &AnyRow) -> Result<ProjectQuota, sqlx::Error> {
    let template_id: Option<String> = row.try_get("template_id")?;
    let template_name: Option<String> = row.try_get("template_name")?;
    let current: i64 = row.try_get("template_current")?;
    Ok(ProjectQuota {
        project_slug: row.try_get("slug")?,
        project_name: row.try_get("name")?,
        template: template_id
            .zip(template_name)
            .map(|(id, name)| TemplateRef {
                id,
                name,
                current: current == 1,
            }),
        limits: amounts(row, "q_")?,
        usage: amounts(row, "u_")?,
    })
}

/// The quota and usage of `project`.
pub async fn project_quota(db: &Db, project: &ProjectRow) -> Result<ProjectQuota, AppError> {
    let mut conn = db.pool().acquire().await?;
    read(&mut conn, &project.id).await
}

/// The quota and usage of the project `project_id`, read on `conn` (inside the caller's
/// transaction when it checks a request).
pub(super) async fn read(
    conn: &mut sqlx::AnyConnection,
    project_id: &str,
) -> Result<ProjectQuota, AppError> {
    let row = sqlx::query(&select("WHERE p.id = $1"))
        .bind(project_id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| AppError::NotFound {
            what: "That project".to_owned(),
        })?;
    Ok(quota(&row)?)
}

/// The fullest first, then by name.
fn nearest_first(a: &ProjectQuota, b: &ProjectQuota) -> Ordering {
    b.fullness()
        .total_cmp(&a.fullness())
        .then_with(|| a.project_name.cmp(&b.project_name))
}

/// Every project's quota and usage, the nearest to a limit first.
pub async fn overview(db: &Db, _admin: &AdminCap) -> Result<Vec<ProjectQuota>, AppError> {
    let rows = sqlx::query(&select("")).fetch_all(db.pool()).await?;
    let mut quotas = rows.iter().map(quota).collect::<Result<Vec<_>, _>>()?;
    quotas.sort_by(nearest_first);
    Ok(quotas)
}

/// The quotas of the projects `user` is a member of, the nearest to a limit first.
pub async fn mine(db: &Db, user: &CurrentUser) -> Result<Vec<ProjectQuota>, AppError> {
    let mut quotas = Vec::new();
    for access in authz::projects(db, user, Action::View).await? {
        if access.standing().role.is_some() {
            quotas.push(project_quota(db, access.project()).await?);
        }
    }
    quotas.sort_by(nearest_first);
    Ok(quotas)
}
