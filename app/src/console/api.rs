//! The console ticket (provisional copy of the contract; the server branch owns it).

use super::types::ConsoleKind;
use crate::AppError;
use leptos::prelude::*;

#[server(endpoint = "console_ticket")]
pub async fn console_ticket(
    project: String,
    vm: String,
    kind: ConsoleKind,
    take_over: bool,
) -> Result<super::types::ConsoleTicket, AppError> {
    let _ = (project, vm, kind, take_over);
    Err(AppError::ClusterUnavailable)
}
