//! Reading the audit log: one scope checked through `authz`, filters, and keyset paging
//! (newest first, by time then id), so that a page costs the same at the millionth row as at
//! the first.

use crate::{
    audit::types::{AuditCursor, AuditEntry, AuditFilter, AuditPage, AuditScope},
    auth::types::CurrentUser,
    authz::{
        server::{self as authz, require_admin},
        Action,
    },
    db::Db,
    vms::names::VmName,
    AppError,
};
use sqlx::{any::AnyRow, Row as _};

/// A scope the user was found to be allowed to read.
#[derive(Clone, Debug)]
pub struct ReadableScope {
    project_id: Option<String>,
    vm: Option<String>,
}

/// The longest text filter accepted.
const MAX_FILTER_CHARS: usize = 256;

/// `scope`, if `user` may read it: everything for global admins only (403), a project or a
/// VM for its members (404 for anyone else, as everywhere).
pub async fn readable(
    db: &Db,
    user: &CurrentUser,
    scope: &AuditScope,
) -> Result<ReadableScope, AppError> {
    match scope {
        AuditScope::Everything => {
            require_admin(user)?;
            Ok(ReadableScope {
                project_id: None,
                vm: None,
            })
        }
        AuditScope::Project { slug } => {
            let access = authz::project(db, user, slug, Action::View).await?;
            Ok(ReadableScope {
                project_id: Some(access.project().id.clone()),
                vm: None,
            })
        }
        AuditScope::Vm { project, name } => {
            let access = authz::project(db, user, project, Action::View).await?;
            let name = VmName::parse(name).map_err(|_| AppError::NotFound {
                what: "That virtual machine".to_owned(),
            })?;
            Ok(ReadableScope {
                project_id: Some(access.project().id.clone()),
                vm: Some(name.to_string()),
            })
        }
    }
}

enum Bind {
    Text(String),
    Number(i64),
}

/// The WHERE clause and its values for `scope`, `filter` and the page after `after`.
fn conditions(
    scope: &ReadableScope,
    filter: &AuditFilter,
    after: Option<&AuditCursor>,
) -> Result<(String, Vec<Bind>), AppError> {
    for (field, text) in [
        ("actor", &filter.actor),
        ("event", &filter.event),
        ("outcome", &filter.outcome),
        ("severity", &filter.severity),
        ("target", &filter.target),
    ] {
        if text.chars().count() > MAX_FILTER_CHARS {
            return Err(AppError::too_long(field, "The filter", MAX_FILTER_CHARS));
        }
    }
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    let mut push = |clause: &str, values: Vec<Bind>| {
        let mut clause = clause.to_owned();
        for value in values {
            binds.push(value);
            clause = clause.replacen('?', &format!("${}", binds.len()), 1);
        }
        clauses.push(clause);
    };
    if let Some(project) = &scope.project_id {
        push("project_id = ?", vec![Bind::Text(project.clone())]);
    }
    if let Some(vm) = &scope.vm {
        push(
            "target_type = 'vm' AND target_id = ?",
            vec![Bind::Text(vm.clone())],
        );
    }
    let text = |value: &str| Bind::Text(value.trim().to_owned());
    if !filter.actor.trim().is_empty() {
        push("actor_email = ?", vec![text(&filter.actor.to_lowercase())]);
    }
    if !filter.event.trim().is_empty() {
        push("event_type = ?", vec![text(&filter.event)]);
    }
    if !filter.outcome.trim().is_empty() {
        push("outcome = ?", vec![text(&filter.outcome)]);
    }
    if !filter.severity.trim().is_empty() {
        push("severity = ?", vec![text(&filter.severity)]);
    }
    if let Some(from) = filter.from_ms {
        push("occurred_at >= ?", vec![Bind::Number(from)]);
    }
    if let Some(until) = filter.until_ms {
        push("occurred_at < ?", vec![Bind::Number(until)]);
    }
    if !filter.target.trim().is_empty() {
        let escaped = filter
            .target
            .trim()
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        push(
            "LOWER(target_id) LIKE ? ESCAPE '\\'",
            vec![Bind::Text(format!("%{escaped}%"))],
        );
    }
    if let Some(after) = after {
        push(
            "(occurred_at, id) < (?, ?)",
            vec![
                Bind::Number(after.occurred_ms),
                Bind::Text(after.id.clone()),
            ],
        );
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    Ok((sql, binds))
}

fn entry(row: &AnyRow) -> Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        occurred_ms: row.try_get("occurred_at")?,
        actor: row.try_get("actor_email")?,
        ip: row.try_get("ip_address")?,
        event: row.try_get("event_type")?,
        target_type: row.try_get("target_type")?,
        target: row.try_get("target_id")?,
        outcome: row.try_get("outcome")?,
        severity: row.try_get("severity")?,
        details: row.try_get("details")?,
    })
}

/// Up to `limit` entries of `scope` matching `filter`, newest first, after `after`.
pub async fn page(
    db: &Db,
    scope: &ReadableScope,
    filter: &AuditFilter,
    after: Option<&AuditCursor>,
    limit: usize,
) -> Result<AuditPage, AppError> {
    let (conditions, binds) = conditions(scope, filter, after)?;
    let sql = format!(
        "SELECT id, occurred_at, actor_email, ip_address, event_type, target_type, target_id, \
         outcome, severity, details FROM audit_logs{conditions} \
         ORDER BY occurred_at DESC, id DESC LIMIT {}",
        limit + 1
    );
    // Not kept prepared: PostgreSQL's generic plan for a cached statement guesses a handful
    // of rows and sorts a bitmap scan, 20 ms deep in a busy project; planned with the values
    // it walks the index backwards and stops after one page.
    let mut query = sqlx::query(&sql).persistent(false);
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text),
            Bind::Number(number) => query.bind(number),
        };
    }
    let rows = query.fetch_all(db.pool()).await?;
    let mut entries = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
    let next = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|last| AuditCursor {
            occurred_ms: last.occurred_ms,
            id: last.id.clone(),
        })
    } else {
        None
    };
    Ok(AuditPage { entries, next })
}
