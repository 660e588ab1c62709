//! Quota templates: named sets of limits that admins give projects. A project copies the
//! limits when it is given a template, so changing a template changes no project until the
//! admin applies it to the projects that use it.

use super::{amounts, columns, limits, limits_json};
use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::session::Requester,
    authz::server::AdminCap,
    context::AppState,
    db::{now_ms, Db},
    quotas::types::{Amounts, QuotaTemplate, QuotaTemplateForm, Resource},
    AppError,
};
use serde_json::json;
use sqlx::{any::AnyRow, Row as _};

const MAX_NAME: usize = 64;
const MAX_DESCRIPTION: usize = 500;

fn select(filter: &str) -> String {
    format!(
        "SELECT t.id, t.name, t.description, t.is_default, {}, \
         (SELECT COUNT(*) FROM resource_quotas q WHERE q.template_id = t.id) AS projects \
         FROM quota_templates t {filter}",
        columns("t")
    )
}

fn template(row: &AnyRow) -> Result<QuotaTemplate, sqlx::Error> {
    let is_default: i64 = row.try_get("is_default")?;
    Ok(QuotaTemplate {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        limits: amounts(row, "")?,
        is_default: is_default == 1,
        projects: row.try_get("projects")?,
    })
}

/// Every template, smallest first.
pub async fn list(db: &Db, _admin: &AdminCap) -> Result<Vec<QuotaTemplate>, AppError> {
    let rows = sqlx::query(&select("ORDER BY t.vcpus, t.memory_mib, t.name"))
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().map(template).collect::<Result<_, _>>()?)
}

async fn find(conn: &mut sqlx::AnyConnection, id: &str) -> Result<QuotaTemplate, AppError> {
    let row = sqlx::query(&select("WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => Ok(template(&row)?),
        None => Err(AppError::NotFound {
            what: "That quota template".to_owned(),
        }),
    }
}

/// The template's limits, for giving them to a project.
pub(super) async fn limits_of(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<(String, Amounts), AppError> {
    let found = find(conn, id).await?;
    Ok((found.name, found.limits))
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The form's name, description and limits, or the first field in error.
fn checked(form: &QuotaTemplateForm) -> Result<(String, String, Amounts), AppError> {
    let name = form.name.trim();
    if name.is_empty() {
        return Err(invalid("name", "Give the template a name."));
    }
    if name.chars().count() > MAX_NAME {
        return Err(AppError::too_long("name", "The name", MAX_NAME));
    }
    let description = form.description.trim();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(AppError::too_long(
            "description",
            "The description",
            MAX_DESCRIPTION,
        ));
    }
    let limits = form
        .limits
        .parse()
        .map_err(|(field, message)| invalid(field, message))?;
    Ok((name.to_owned(), description.to_owned(), limits))
}

/// Creates a template (`id` empty) or changes the template `id`. Making it the default
/// takes that from the template that had it; the default cannot be unmade, only moved, so
/// new projects always get a quota.
pub async fn save(
    state: &AppState,
    admin: &AdminCap,
    requester: &Requester,
    id: &str,
    form: &QuotaTemplateForm,
) -> Result<QuotaTemplate, AppError> {
    let (name, description, limits) = checked(form)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let before = match id {
        "" => None,
        id => Some(find(&mut tx, id).await?),
    };
    let id = before
        .as_ref()
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), |t| t.id.clone());
    let taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM quota_templates WHERE name = $1 AND id <> $2")
            .bind(&name)
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
    if taken.is_some() {
        return Err(invalid("name", "Another template has this name."));
    }
    if before.as_ref().is_some_and(|t| t.is_default) && !form.is_default {
        return Err(invalid(
            "is_default",
            "New projects need a template: make another template the default instead.",
        ));
    }
    if form.is_default {
        sqlx::query("UPDATE quota_templates SET is_default = 0 WHERE is_default = 1 AND id <> $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
    }
    let sets: Vec<String> = Resource::ALL
        .into_iter()
        .map(|r| format!("{k} = {}", limits.get(r), k = r.key()))
        .collect();
    if before.is_some() {
        sqlx::query(&format!(
            "UPDATE quota_templates SET name = $1, description = $2, is_default = $3, \
             updated_at = $4, {} WHERE id = $5",
            sets.join(", ")
        ))
        .bind(&name)
        .bind(&description)
        .bind(i64::from(form.is_default))
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    } else {
        let keys: Vec<&str> = Resource::ALL.into_iter().map(Resource::key).collect();
        let values: Vec<String> = Resource::ALL
            .into_iter()
            .map(|r| limits.get(r).to_string())
            .collect();
        sqlx::query(&format!(
            "INSERT INTO quota_templates (id, name, description, is_default, created_at, \
             updated_at, {}) VALUES ($1, $2, $3, $4, $5, $5, {})",
            keys.join(", "),
            values.join(", ")
        ))
        .bind(&id)
        .bind(&name)
        .bind(&description)
        .bind(i64::from(form.is_default))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let after = json!({"name": name, "description": description, "default": form.is_default,
        "limits": limits_json(&limits)});
    let changes = match &before {
        Some(t) => json!({"before": {"name": t.name, "description": t.description,
            "default": t.is_default, "limits": limits_json(&t.limits)}, "after": after}),
        None => json!({"after": after}),
    };
    let event = if before.is_some() {
        "quota_template_changed"
    } else {
        "quota_template_created"
    };
    let audit = AuditEvent::by(admin.user(), event, Outcome::Success, Severity::Info, None)
        .with_changes(&changes);
    let audit = AuditEvent {
        target: Some(("quota_template", &id)),
        ..audit
    };
    record(&mut tx, requester, &audit, now).await?;
    let saved = find(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Gives every project that uses the template `id` its current limits; how many changed.
pub async fn apply(
    state: &AppState,
    admin: &AdminCap,
    requester: &Requester,
    id: &str,
) -> Result<u64, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    let (_, limits_now) = limits_of(&mut conn, id).await?;
    drop(conn);
    let users: Vec<String> =
        sqlx::query_scalar("SELECT project_id FROM resource_quotas WHERE template_id = $1")
            .bind(id)
            .fetch_all(state.db.pool())
            .await?;
    let mut changed = 0;
    for project_id in users {
        if limits::give(state, admin, requester, &project_id, Some(id), &limits_now).await? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// Deletes the template `id`, unless a project uses it or it is the default.
pub async fn delete(
    db: &Db,
    admin: &AdminCap,
    requester: &Requester,
    id: &str,
) -> Result<(), AppError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let found = find(&mut tx, id).await?;
    if found.projects > 0 {
        let projects = match found.projects {
            1 => "1 project uses".to_owned(),
            n => format!("{n} projects use"),
        };
        return Err(AppError::Conflict {
            message: format!(
                "The template \"{}\" cannot be deleted: {projects} it. Give them another \
                 quota first.",
                found.name
            ),
        });
    }
    if found.is_default {
        return Err(AppError::Conflict {
            message: format!(
                "The template \"{}\" is what new projects get: make another template the \
                 default first.",
                found.name
            ),
        });
    }
    sqlx::query("DELETE FROM quota_templates WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let changes = json!({"before": {"name": found.name, "limits": limits_json(&found.limits)}});
    let audit = AuditEvent::by(
        admin.user(),
        "quota_template_deleted",
        Outcome::Success,
        Severity::Info,
        None,
    )
    .with_changes(&changes);
    let audit = AuditEvent {
        target: Some(("quota_template", id)),
        ..audit
    };
    record(&mut tx, requester, &audit, now).await?;
    tx.commit().await?;
    Ok(())
}
