//! The audit log's server function; the export is a plain download route of the server
//! (`/audit/export`), checked the same way.

use super::types::{AuditCursor, AuditFilter, AuditPage, AuditScope};
use crate::AppError;
use leptos::{prelude::*, server_fn};

/// One page of the log of `scope` matching `filter`, newest first, after `after`.
#[server(endpoint = "audit/list", input = server_fn::codec::Json)]
pub async fn list_audit(
    scope: AuditScope,
    #[server(default)] filter: AuditFilter,
    #[server(default)] after: Option<AuditCursor>,
) -> Result<AuditPage, AppError> {
    use super::{server::query, types::AUDIT_PAGE_SIZE};
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let scope = query::readable(&state.db, &session.user, &scope)
        .await
        .map_err(respond)?;
    query::page(&state.db, &scope, &filter, after.as_ref(), AUDIT_PAGE_SIZE)
        .await
        .map_err(respond)
}
