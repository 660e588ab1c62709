//! Each project's limits: from a template or custom, set by global admins. Lowering them
//! below what the project holds is allowed: nothing is deleted, the project shows over
//! quota and cannot grow until it is back under.

use super::{limits_json, reserve::lock_usage, templates, usage};
use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::session::Requester,
    authz::{server as authz, server::AdminCap, Action},
    context::AppState,
    db::now_ms,
    quotas::types::{Amounts, ProjectQuota, QuotaChoice, Resource},
    vms::names::Namespace,
    AppError,
};
use serde_json::json;

/// Gives the project `slug` the quota `choice`; answers it with the project's usage.
pub async fn set(
    state: &AppState,
    admin: &AdminCap,
    requester: &Requester,
    slug: &str,
    choice: &QuotaChoice,
) -> Result<ProjectQuota, AppError> {
    let access = authz::project(&state.db, admin.user(), slug, Action::View).await?;
    let project = access.project();
    let (template, limits) = match choice {
        QuotaChoice::Template(id) => {
            let mut conn = state.db.pool().acquire().await?;
            let (_, limits) = templates::limits_of(&mut conn, id).await?;
            (Some(id.as_str()), limits)
        }
        QuotaChoice::Custom(form) => {
            let limits = form.parse().map_err(|(field, message)| AppError::Invalid {
                field: field.to_owned(),
                message,
            })?;
            (None, limits)
        }
    };
    give(state, admin, requester, &project.id, template, &limits).await?;
    usage::project_quota(&state.db, project).await
}

/// Writes `limits` (from `template`, or custom) as the quota of `project_id` and audits the
/// change in the project; whether anything changed.
pub(super) async fn give(
    state: &AppState,
    admin: &AdminCap,
    requester: &Requester,
    project_id: &str,
    template: Option<&str>,
    limits: &Amounts,
) -> Result<bool, AppError> {
    let now = now_ms();
    let mut tx = lock_usage(&state.db, project_id).await?;
    let before = usage::read(&mut tx, project_id).await?;
    let template_before = before.template.as_ref().map(|t| t.id.as_str());
    if before.limits == *limits && template_before == template {
        return Ok(false);
    }
    let keys: Vec<&str> = Resource::ALL.into_iter().map(Resource::key).collect();
    let values: Vec<String> = Resource::ALL
        .into_iter()
        .map(|r| limits.get(r).to_string())
        .collect();
    let updates: Vec<String> = keys.iter().map(|k| format!("{k} = excluded.{k}")).collect();
    sqlx::query(&format!(
        "INSERT INTO resource_quotas (project_id, template_id, updated_at, {}) \
         VALUES ($1, $2, $3, {}) ON CONFLICT (project_id) DO UPDATE SET \
         template_id = excluded.template_id, updated_at = excluded.updated_at, {}",
        keys.join(", "),
        values.join(", "),
        updates.join(", ")
    ))
    .bind(project_id)
    .bind(template)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let changes = json!({
        "before": {"template": template_before, "limits": limits_json(&before.limits)},
        "after": {"template": template, "limits": limits_json(limits)},
    });
    let audit = AuditEvent::by(
        admin.user(),
        "project_quota_changed",
        Outcome::Success,
        Severity::Info,
        None,
    )
    .in_project(project_id, "project", project_id)
    .with_changes(&changes);
    record(&mut tx, requester, &audit, now).await?;
    tx.commit().await?;
    if let Err(error) = mirror(state, project_id).await {
        // The next full pass of the reconciler applies it again.
        tracing::warn!(%error, project = %project_id, "could not mirror the project's quota");
    }
    Ok(true)
}

/// Writes the project's limits into its namespace as the cluster's `ResourceQuota`
/// (`mirror`); the namespace must exist.
pub async fn mirror(state: &AppState, project_id: &str) -> Result<(), AppError> {
    let Some(namespace) = super::namespace_of(&state.db, project_id).await? else {
        return Ok(());
    };
    let namespace = Namespace::parse(&namespace).map_err(AppError::internal)?;
    let mut conn = state.db.pool().acquire().await?;
    let limits = usage::read(&mut conn, project_id).await?.limits;
    drop(conn);
    super::mirror::apply(&state.cluster, &namespace, project_id, &limits).await
}

/// Gives a new project the default template's quota and an empty usage row, inside the
/// transaction that makes it.
pub async fn assign_default(
    conn: &mut sqlx::AnyConnection,
    project_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let keys: Vec<&str> = Resource::ALL.into_iter().map(Resource::key).collect();
    let from_template: Vec<String> = keys.iter().map(|k| format!("t.{k}")).collect();
    sqlx::query(&format!(
        "INSERT INTO resource_quotas (project_id, template_id, updated_at, {}) \
         SELECT $1, t.id, $2, {} FROM quota_templates t WHERE t.is_default = 1",
        keys.join(", "),
        from_template.join(", ")
    ))
    .bind(project_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO resource_usage (project_id, updated_at) VALUES ($1, $2)")
        .bind(project_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
