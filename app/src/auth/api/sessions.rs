//! Server functions for the user's own sessions.

use crate::{auth::types::SessionSummary, AppError};
use leptos::prelude::*;

/// The signed-in user's live sessions, this one marked.
#[server(endpoint = "auth/sessions")]
pub async fn list_sessions() -> Result<Vec<SessionSummary>, AppError> {
    use crate::{
        auth::server::devices,
        context::{require_signed_in, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_signed_in().map_err(respond)?;
    devices::list(&state.db, &session).await.map_err(respond)
}

/// Ends another of the user's sessions; that browser is signed out at its next request.
#[server(endpoint = "auth/sessions/end")]
pub async fn end_session(session_id: String) -> Result<(), AppError> {
    use crate::{
        auth::server::devices,
        context::{requester, require_signed_in, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_signed_in().map_err(respond)?;
    devices::end_others(&state.db, &requester(), &session, Some(&session_id))
        .await
        .map(|_| ())
        .map_err(respond)
}

/// Ends every session of the user but this one; answers how many ended.
#[server(endpoint = "auth/sessions/end-others")]
pub async fn end_other_sessions() -> Result<u64, AppError> {
    use crate::{
        auth::server::devices,
        context::{requester, require_signed_in, respond, state},
    };
    let state = state().map_err(respond)?;
    let session = require_signed_in().map_err(respond)?;
    devices::end_others(&state.db, &requester(), &session, None)
        .await
        .map_err(respond)
}
