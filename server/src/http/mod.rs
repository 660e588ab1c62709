//! The HTTP surface: pages and server fns from `app`, probes, static files, and the layers
//! every response passes through.

mod events;
mod headers;
mod health;
mod oidc;
mod origin;
mod server_fn;
mod session;

use app::{context::AppState, shell, App};
use axum::{middleware, routing::get, Router};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::trace::TraceLayer;

/// The complete application router. Tests drive it directly with `oneshot`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(app::realtime::types::EVENTS_PATH, get(events::events))
        .route("/auth/oidc/callback", get(oidc::callback))
        .route("/auth/oidc/{provider}/start", get(oidc::start))
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(server_fn::client_errors_as_400))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::resolve_session,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            origin::require_allowed_origin,
        ))
        .layer(middleware::from_fn(headers::security_headers))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
