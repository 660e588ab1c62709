//! Quotas on the server: templates, each project's limits, and usage reserved against them
//! in the same write transaction that checks the limit (`reserve`), so concurrent requests
//! serialise on the project's usage row and can never overcommit it.

pub mod limits;
pub mod mirror;
pub mod reconcile;
pub mod reserve;
pub mod templates;
pub mod usage;

use super::types::{Amounts, Resource};
use sqlx::{any::AnyRow, Row as _};

/// The six amount columns, in [`Resource::ALL`] order, each prefixed with `table.`.
fn columns(table: &str) -> String {
    Resource::ALL
        .into_iter()
        .map(|resource| format!("{table}.{}", resource.key()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The amounts of `row` whose columns are named with `prefix` (as `SELECT u.vcpus AS
/// u_vcpus` would name them) or plainly when `prefix` is empty.
fn amounts(row: &AnyRow, prefix: &str) -> Result<Amounts, sqlx::Error> {
    let mut amounts = Amounts::default();
    for resource in Resource::ALL {
        let value: i64 = row.try_get(format!("{prefix}{}", resource.key()).as_str())?;
        amounts.set(resource, value);
    }
    Ok(amounts)
}

/// Amounts as audited: `{"vcpus": 4, …}`.
fn limits_json(limits: &Amounts) -> serde_json::Value {
    Resource::ALL
        .into_iter()
        .map(|r| (r.key().to_owned(), serde_json::json!(limits.get(r))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The namespace of the project `project_id`, if the project exists.
async fn namespace_of(db: &crate::db::Db, project_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT namespace FROM projects WHERE id = $1")
        .bind(project_id)
        .fetch_optional(db.pool())
        .await
}
