//! Writing audit records, inside the transaction of the change they record.

pub mod query;

use crate::auth::{server::session::Requester, types::CurrentUser};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
}

/// One audit record. `event` uses the OWASP logging vocabulary (`authn_login_success`, …).
#[derive(Clone, Debug)]
pub struct AuditEvent<'a> {
    pub event: &'a str,
    pub outcome: Outcome,
    pub severity: Severity,
    pub actor_user_id: Option<&'a str>,
    pub actor_email: Option<&'a str>,
    /// A short machine-readable reason or detail, stored as JSON `{"reason": …}`.
    pub reason: Option<&'a str>,
    /// What the event was done to, as (type, id), when that is not the actor.
    pub target: Option<(&'a str, &'a str)>,
    /// The id of the project the event happened in, for the project's audit page.
    pub project: Option<&'a str>,
    /// What a change changed, as `{"before": …, "after": …}`, stored with the reason.
    pub changes: Option<&'a serde_json::Value>,
}

impl<'a> AuditEvent<'a> {
    /// An event done by the signed-in `user`.
    pub fn by(
        user: &'a CurrentUser,
        event: &'a str,
        outcome: Outcome,
        severity: Severity,
        reason: Option<&'a str>,
    ) -> Self {
        AuditEvent {
            event,
            outcome,
            severity,
            actor_user_id: Some(&user.id),
            actor_email: Some(&user.email),
            reason,
            target: None,
            project: None,
            changes: None,
        }
    }

    /// An event Wukong did on its own (a background task), with no user behind it.
    pub fn system(event: &'a str, outcome: Outcome, severity: Severity) -> Self {
        AuditEvent {
            event,
            outcome,
            severity,
            actor_user_id: None,
            actor_email: None,
            reason: None,
            target: None,
            project: None,
            changes: None,
        }
    }

    /// The same event with `reason` as its detail.
    pub fn with_reason(self, reason: &'a str) -> Self {
        AuditEvent {
            reason: Some(reason),
            ..self
        }
    }

    /// The same event, about the user `user_id`.
    pub fn on_user(self, user_id: &'a str) -> Self {
        AuditEvent {
            target: Some(("user", user_id)),
            ..self
        }
    }

    /// The same event, about `kind` `id` in the project `project_id`.
    pub fn in_project(self, project_id: &'a str, kind: &'a str, id: &'a str) -> Self {
        AuditEvent {
            project: Some(project_id),
            target: Some((kind, id)),
            ..self
        }
    }

    /// The same event, recording what changed.
    pub fn with_changes(self, changes: &'a serde_json::Value) -> Self {
        AuditEvent {
            changes: Some(changes),
            ..self
        }
    }
}

/// The longest text kept of each audit field that can carry what a client sent (the email
/// tried, the user agent, a reason or target); longer values are cut, so a flood of huge
/// inputs cannot grow the log.
pub const MAX_FIELD_CHARS: usize = 256;

/// `text` cut to [`MAX_FIELD_CHARS`].
pub fn cut(text: &str) -> String {
    text.chars().take(MAX_FIELD_CHARS).collect()
}

pub async fn record(
    conn: &mut sqlx::AnyConnection,
    requester: &Requester,
    event: &AuditEvent<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let outcome = match event.outcome {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
    };
    let severity = match event.severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
    };
    let mut details = serde_json::Map::new();
    if let Some(reason) = event.reason {
        details.insert("reason".to_owned(), cut(reason).into());
    }
    if let Some(changes) = event.changes {
        details.insert("changes".to_owned(), changes.clone());
    }
    let details = serde_json::Value::Object(details).to_string();
    sqlx::query(
        "INSERT INTO audit_logs (id, occurred_at, actor_user_id, actor_email, ip_address, user_agent, \
         event_type, outcome, severity, details, target_type, target_id, project_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(now)
    .bind(event.actor_user_id.map(cut))
    .bind(event.actor_email.map(cut))
    .bind(requester.ip_text())
    .bind(requester.user_agent.as_deref().map(cut))
    .bind(event.event)
    .bind(outcome)
    .bind(severity)
    .bind(details)
    .bind(event.target.map(|(kind, _)| kind.to_owned()))
    .bind(event.target.map(|(_, id)| cut(id)))
    .bind(event.project)
    .execute(conn)
    .await
    .map(|_| ())
}
