//! The audit log on the wire.

use serde::{Deserialize, Serialize};

/// Whose audit log: everything (global admins), one project's (its members), or one VM's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditScope {
    #[default]
    Everything,
    Project {
        slug: String,
    },
    Vm {
        project: String,
        name: String,
    },
}

/// What part of the log to show; empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// The actor's email, exactly (any case).
    #[serde(default)]
    pub actor: String,
    /// An event type, e.g. `vm_action`.
    #[serde(default)]
    pub event: String,
    /// `success`, `failure` or `denied`.
    #[serde(default)]
    pub outcome: String,
    /// `info`, `notice`, `warning` or `critical`.
    #[serde(default)]
    pub severity: String,
    /// From this time on, unix milliseconds.
    #[serde(default)]
    pub from_ms: Option<i64>,
    /// Before this time, unix milliseconds.
    #[serde(default)]
    pub until_ms: Option<i64>,
    /// Text the target contains (any case).
    #[serde(default)]
    pub target: String,
}

/// Where the next page starts: the last entry shown (newest first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCursor {
    pub occurred_ms: i64,
    pub id: String,
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub occurred_ms: i64,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub event: String,
    pub target_type: Option<String>,
    pub target: Option<String>,
    pub outcome: String,
    pub severity: String,
    /// The JSON details: a reason, and what a change changed.
    pub details: String,
}

/// One page of the log, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Where the next (older) page starts, when there is one.
    pub next: Option<AuditCursor>,
}

/// Entries per page.
pub const AUDIT_PAGE_SIZE: usize = 50;
