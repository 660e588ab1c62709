//! Server-side state shared by every request, and the helpers server fns reach it through.

use crate::{db::Db, AppError};
use axum::extract::FromRef;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

/// Everything a request handler or server fn needs. Built once by the `server` crate and
/// provided to server fns and server-side rendering by `leptos_routes`.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The process state, from inside a server fn.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::internal("AppState is not in the context"))
}

/// Sets the response status from `error` and hands it back, for `.map_err(respond)`.
///
/// Leptos 0.8 answers every server-fn error with 500 unless the status is set here; it is
/// set only on the error path because the client decodes any 4xx/5xx body as an `AppError`.
pub fn respond(error: AppError) -> AppError {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.set_status(error.status());
    }
    error
}
