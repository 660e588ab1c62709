//! The Content Security Policy of HTML responses.
//!
//! Scripts run only when they carry the per-response nonce that Leptos stamps on its
//! hydration scripts; `'strict-dynamic'` lets those load the WASM glue module, and
//! `'wasm-unsafe-eval'` allows compiling WebAssembly without allowing JavaScript `eval`.
//! Styles come from the site, or from `<style>` elements carrying the nonce: the serial
//! console's terminal (xterm.js) writes its measurements and colours into some, and the
//! console page hands them the nonce.

use leptos::{config::LeptosOptions, nonce::use_nonce, prelude::use_context};
use leptos_axum::ResponseOptions;

/// The policy for a page rendered with `nonce`. `live_reload` is the WebSocket origin of
/// `cargo leptos watch`, allowed only while watching.
pub fn page_policy(nonce: &str, live_reload: Option<&str>) -> String {
    let connect = match live_reload {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data: blob:; font-src 'self'; \
         connect-src {connect}; worker-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    )
}

/// Sets the page policy on the response being rendered; called from the shell.
pub fn set_page_policy(options: &LeptosOptions) {
    let (Some(nonce), Some(response)) = (use_nonce(), use_context::<ResponseOptions>()) else {
        return;
    };
    let live_reload = std::env::var_os("LEPTOS_WATCH").map(|_| {
        let host = options.site_addr.ip();
        format!("ws://{host}:{}", options.reload_port)
    });
    let policy = page_policy(&nonce, live_reload.as_deref());
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}
