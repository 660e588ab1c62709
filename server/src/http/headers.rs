//! Security headers on every response, whoever produced it (pages, server fns, static
//! files, errors).

use axum::{
    extract::Request,
    http::{header, HeaderMap, HeaderValue},
    middleware::Next,
    response::Response,
};

/// For responses that are not pages (pages set a nonce-based policy while rendering):
/// nothing may run, load or frame them.
const STRICT_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `same-origin` keeps paths and ids out of other sites' logs while still letting the
/// browser send `Origin` on our own POSTs (`no-referrer` would turn it into `null`).
const REFERRER_POLICY: &str = "same-origin";

const PERMISSIONS_POLICY: &str =
    "camera=(), microphone=(), geolocation=(), usb=(), payment=(), clipboard-read=(self), clipboard-write=(self)";

pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_dynamic = is_dynamic(response.headers());
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(STRICT_POLICY));
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, REFERRER_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("permissions-policy"),
            PERMISSIONS_POLICY,
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Pages and API answers may carry private data: never store them. Static assets are
    // revalidated instead, since their names carry no content hash.
    let cache = if is_dynamic { "no-store" } else { "no-cache" };
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static(cache));
    response
}

fn is_dynamic(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    content_type.starts_with("text/html")
        || content_type.starts_with("application/json")
        || content_type.is_empty()
}
