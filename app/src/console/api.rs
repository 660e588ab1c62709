//! The console server fn: a ticket for the console WebSocket.

use super::types::{ConsoleKind, ConsoleTicket};
use crate::AppError;
use leptos::prelude::*;

/// A single-use ticket to open the `kind` console of VM `vm` in project `project` (a slug),
/// for the signed-in user and this session only. `take_over` lets it close another user's
/// console of the same VM. A stopped VM answers 409.
#[server(name = IssueConsoleTicket, endpoint = "console_ticket")]
pub async fn console_ticket(
    project: String,
    vm: String,
    kind: ConsoleKind,
    take_over: bool,
) -> Result<ConsoleTicket, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::tickets::issue(&state, &session, &project, &vm, kind, take_over)
        .await
        .map_err(respond)
}
