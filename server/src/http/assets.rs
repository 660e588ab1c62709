//! The browser bundle under its hashed names: the copy compressed at build time that the
//! client accepts (brotli, else gzip, else the file itself), marked for browsers to keep
//! for a year without asking again. Anything else goes to the site's static files and,
//! failing those, the not-found page.

use app::context::AppState;
use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderValue, Uri},
    response::Response,
};
use std::future::Future;
use tower::ServiceExt as _;
use tower_http::services::ServeFile;

/// A year, the longest lifetime caches honour: a hashed name never changes its content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Serves `uri` if it names a file of the hashed bundle, else passes the request on to
/// `otherwise`.
pub async fn bundle_or<Otherwise, Answer>(
    otherwise: Otherwise,
    uri: Uri,
    State(state): State<AppState>,
    request: Request,
) -> Response
where
    Otherwise: FnOnce(Uri, State<AppState>, Request) -> Answer,
    Answer: Future<Output = Response>,
{
    let Some(path) = state.bundle.file(uri.path()) else {
        return otherwise(uri, State(state), request).await;
    };
    let file = ServeFile::new(path).precompressed_br().precompressed_gzip();
    match file.oneshot(request).await {
        Ok(response) => immutable(response.map(Body::new)),
        Err(never) => match never {},
    }
}

/// Marks a served file for keeping; shared caches are told the body depends on the
/// encodings the client accepts.
fn immutable(mut response: Response) -> Response {
    if response.status().is_success() {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}
