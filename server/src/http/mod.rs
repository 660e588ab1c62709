//! The HTTP surface: pages and server fns from `app`, probes, static files, and the layers
//! every response passes through.

mod assets;
mod audit_export;
pub mod console;
mod events;
mod headers;
mod health;
mod oidc;
mod origin;
mod server_fn;
mod session;

use app::{context::AppState, shell, App};
use axum::{middleware, routing::get, Router};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::sync::LazyLock;
use tower_http::{
    compression::{
        predicate::{NotForContentType, Predicate},
        CompressionLayer, CompressionLevel, DefaultPredicate,
    },
    limit::RequestBodyLimitLayer,
    trace::TraceLayer,
};

/// The largest request body accepted (413 beyond): far above any form Wukong has, and small
/// enough that a flood of huge bodies is refused before it is buffered. Server functions read
/// their whole body before decoding it, with no limit of their own.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The app's page routes, generated once per process. Generating renders the app with
/// resource loads suppressed by a flag that leptos shares across the whole process, and a
/// resource whose first poll sees that flag never loads: a page rendering on another thread
/// while a router was built waited forever. Rendering needs a router, and every router takes
/// its routes from here, so no render can overlap the one generation.
static PAGE_ROUTES: LazyLock<Vec<AxumRouteListing>> = LazyLock::new(|| generate_route_list(App));

/// Brotli or gzip, as the client accepts, for pages, server-fn answers, the audit export and
/// the small static files: a VM list page shrinks about tenfold. Level 5 costs about a
/// millisecond per page. WASM is left out: the bundle goes out as the copies compressed
/// once at build time (`assets`), and compressing megabytes per request would cost more
/// than all the rest. BREACH needs a secret that stays the same across many responses:
/// sessions travel in cookies, and what bodies hold once (CSP nonces, a TOTP seed, recovery
/// codes) is new each time.
fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .quality(CompressionLevel::Precise(5))
        .compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new("application/wasm")),
        )
}

/// The complete application router. Tests drive it directly with `oneshot`.
pub fn router(state: AppState) -> Router {
    let routes = PAGE_ROUTES.clone();
    let options = state.leptos_options.clone();
    // The not-found page is rendered with the state in context, like every other page.
    let context = state.clone();
    let pages = leptos_axum::file_and_error_handler_with_context::<AppState, _>(
        move || provide_context(context.clone()),
        shell,
    );
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(app::realtime::types::EVENTS_PATH, get(events::events))
        .route("/audit/export", get(audit_export::export))
        .route("/console/{kind}", get(console::console))
        .route("/auth/oidc/callback", get(oidc::callback))
        .route("/auth/oidc/{provider}/start", get(oidc::start))
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(move |uri, state, request| assets::bundle_or(pages, uri, state, request))
        .layer(middleware::from_fn(server_fn::client_errors_as_400))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::resolve_session,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            origin::require_allowed_origin,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::from_fn(headers::security_headers))
        .layer(compression())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
