//! The REST surface: `/api/v1/…` for core kinds and `/apis/{group}/{version}/…` for the
//! rest, answering as the Kubernetes API server does, errors as `Status` objects.

pub(super) use super::writes::lock;
use super::{
    console, discovery,
    fields::FieldSelector,
    lifecycle,
    selector::Selector,
    store::Key,
    watch,
    writes::{self, Answer},
    Resource, Sim,
};
use axum::{
    body::Bytes,
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        Query, State,
    },
    http::{header, HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{any, get},
    Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde_json::{json, Value};
use std::{collections::HashMap, sync::Arc, time::Duration};

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/api", get(core_versions))
        .route("/apis", get(groups))
        .route("/openapi/v3", get(openapi_root))
        .route("/openapi/v3/{*path}", get(openapi_group_version))
        .route("/api/{*path}", any(handle))
        .route("/apis/{*path}", any(handle))
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            unless_stopped,
        ))
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            with_token,
        ))
        .with_state(sim)
}

/// Every request, WebSocket upgrades included, must carry the cluster's bearer token, as a
/// real API server refuses anonymous requests; otherwise 401 and a `Status`, before anything
/// else is looked at.
async fn with_token(
    State(sim): State<Arc<Sim>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if presented.is_some_and(|token| same_bytes(token.as_bytes(), sim.token.as_bytes())) {
        return next.run(request).await;
    }
    Failure::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized").into_response()
}

/// Compares in a time that depends on the length only, so the answer's timing does not tell
/// how much of a guessed token was right.
fn same_bytes(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// A stopped cluster answers nothing: requests still arriving on connections that were open
/// when it stopped get 503 and the connection closes.
async fn unless_stopped(
    State(sim): State<Arc<Sim>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if sim.stopped.has_changed().is_err() {
        let mut response = Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the simulated cluster has stopped",
        )
        .into_response();
        response.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        return response;
    }
    next.run(request).await
}

async fn core_versions(headers: HeaderMap) -> Json<Value> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default();
    Json(discovery::core_versions(host))
}

async fn groups(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(discovery::groups(&sim))
}

async fn openapi_root(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(discovery::openapi_root(&sim))
}

async fn openapi_group_version(
    State(sim): State<Arc<Sim>>,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Response {
    match discovery::openapi_group_version(&sim, &path) {
        Some(document) => Json(document).into_response(),
        None => Failure::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
        .into_response(),
    }
}

async fn version() -> Json<Value> {
    Json(json!({"major": "1", "minor": "36", "gitVersion": "v1.36.0-wukong-simulated"}))
}

/// A Kubernetes `Status` error answer.
pub(super) struct Failure {
    code: StatusCode,
    reason: &'static str,
    message: String,
    pub(super) details: Value,
}

impl Failure {
    pub(super) fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            reason,
            message: message.into(),
            details: json!({}),
        }
    }

    pub(super) fn not_found(resource: &Resource, name: &str) -> Self {
        let mut failure = Failure::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} \"{name}\" not found", resource.id()),
        );
        failure.details = json!({"name": name, "group": resource.group, "kind": resource.plural});
        failure
    }

    pub(super) fn invalid(resource: &Resource, name: &str, causes: Vec<(String, String)>) -> Self {
        let summary: Vec<String> = causes
            .iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect();
        let mut failure = Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!(
                "{} \"{name}\" is invalid: {}",
                resource.kind,
                summary.join(", ")
            ),
        );
        let causes: Vec<Value> = causes
            .into_iter()
            .map(|(field, message)| json!({"reason": "FieldValueInvalid", "message": message, "field": field}))
            .collect();
        failure.details =
            json!({"name": name, "group": resource.group, "kind": resource.kind, "causes": causes});
        failure
    }

    pub(super) fn message(&self) -> &str {
        &self.message
    }

    pub(super) fn internal(error: impl std::fmt::Display) -> Self {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            error.to_string(),
        )
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "details": self.details,
            "code": self.code.as_u16(),
        });
        (self.code, Json(body)).into_response()
    }
}

/// What a request path names.
pub(super) struct Target {
    pub(super) resource: Resource,
    pub(super) namespace: Option<String>,
    pub(super) name: Option<String>,
    /// The request is for the object's `/status` subresource.
    pub(super) status: bool,
}

pub(super) fn find(sim: &Sim, group: &str, version: &str, plural: &str) -> Option<Resource> {
    sim.resources
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .cloned()
}

fn parse_target(sim: &Sim, path: &str) -> Result<Target, Failure> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => {
            return Err(Failure::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            ))
        }
    };
    let unknown = || {
        Failure::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let (rest, status) = match rest {
        [named @ .., "status"] if named.len() == 2 || named.len() == 4 => (named, true),
        _ => (rest, false),
    };
    let (namespace, plural, name) = match rest {
        ["namespaces", namespace, plural] => (Some(*namespace), *plural, None),
        ["namespaces", namespace, plural, name] => (Some(*namespace), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return Err(unknown()),
    };
    if status && (name.is_none() || namespace.is_none() && rest.len() != 2) {
        return Err(unknown());
    }
    let resource = find(sim, group, version, plural).ok_or_else(unknown)?;
    if resource.namespaced != namespace.is_some() && name.is_some()
        || status && !resource.status_subresource
    {
        return Err(unknown());
    }
    Ok(Target {
        resource,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        status,
    })
}

async fn handle(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    body: Bytes,
) -> Response {
    let is_watch = matches!(query.get("watch").map(String::as_str), Some("1" | "true"));
    if method == Method::GET && is_watch {
        return match start_watch(&sim, uri.path(), &query) {
            Ok(response) => response,
            Err(failure) => failure.into_response(),
        };
    }
    if let Some(rest) = uri.path().strip_prefix(SUBRESOURCES) {
        return match console::Target::parse(rest) {
            Some(target) if method == Method::GET => {
                console::connect(&sim, target, &query, upgrade)
                    .unwrap_or_else(IntoResponse::into_response)
            }
            _ => subresource(&lifecycle::Embedded(sim.clone()), &method, rest, &body).await,
        };
    }
    if method == Method::GET {
        if let Some(list) = discovery::resource_list(&sim, uri.path()) {
            return Json(list).into_response();
        }
    }
    let result =
        parse_target(&sim, uri.path()).and_then(|target| match (&method, target.name.clone()) {
            (&Method::GET, Some(name)) => writes::get_one(&sim, &target, &name),
            (&Method::PATCH | &Method::PUT, Some(name)) if target.status => {
                if method == Method::PATCH {
                    content_type_allowed(&headers)?;
                }
                let written = parse_json(&body)?;
                let replace = method == Method::PUT;
                writes::write_status(&sim, &target, &name, written, replace, is_strict(&query))
            }
            _ if target.status => Err(method_not_allowed(&method)),
            (&Method::GET, None) => list(&sim, &target, &query),
            (&Method::POST, None) => {
                json_body(&headers)?;
                writes::create(&sim, &target, parse_json(&body)?, is_strict(&query))
            }
            (&Method::PATCH, Some(name)) => {
                let is_apply = content_type_allowed(&headers)?;
                let patch = parse_json(&body)?;
                writes::patch(&sim, &target, &name, patch, is_apply, is_strict(&query))
            }
            (&Method::DELETE, Some(name)) => writes::delete(&sim, &target, &name),
            _ => Err(method_not_allowed(&method)),
        });
    match result {
        Ok((status, value)) => (status, Json(value)).into_response(),
        Err(failure) => failure.into_response(),
    }
}

/// KubeVirt's aggregated API (virt-api): lifecycle actions, VNC and serial console.
const SUBRESOURCES: &str = "/apis/subresources.kubevirt.io/v1/namespaces/";

/// A lifecycle action on `objects`: the built-in cluster's, or a real API server's when
/// this answers for KubeVirt there (`standin`).
pub(super) async fn subresource<O: lifecycle::Objects>(
    objects: &O,
    method: &Method,
    rest: &str,
    body: &[u8],
) -> Response {
    let segments: Vec<&str> = rest.split('/').collect();
    let [namespace, plural, name, action] = segments.as_slice() else {
        return Failure::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
        .into_response();
    };
    if method != Method::PUT {
        return method_not_allowed(method).into_response();
    }
    let options = if body.is_empty() {
        json!({})
    } else {
        match parse_json(body) {
            Ok(options) => options,
            Err(failure) => return failure.into_response(),
        }
    };
    match lifecycle::act(objects, plural, namespace, name, action, &options).await {
        Ok(status) => status.into_response(),
        Err(refusal) => {
            let mut failure = Failure::new(refusal.code, refusal.reason, refusal.message);
            failure.details = refusal.details;
            failure.into_response()
        }
    }
}

fn method_not_allowed(method: &Method) -> Failure {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("{method} is not supported here"),
    )
}

pub(super) fn bad_request(message: impl Into<String>) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn start_watch(
    sim: &Arc<Sim>,
    path: &str,
    query: &HashMap<String, String>,
) -> Result<Response, Failure> {
    let target = parse_target(sim, path)?;
    if target.name.is_some() {
        return Err(bad_request("watch a collection, not one object"));
    }
    let selector = Selector::parse(query.get("labelSelector").map_or("", String::as_str))
        .map_err(bad_request)?;
    let fields = field_selector(&target.resource, query)?;
    let from = match query.get("resourceVersion").filter(|v| !v.is_empty()) {
        Some(version) => Some(
            version
                .parse::<u64>()
                .map_err(|_| bad_request(format!("invalid resourceVersion {version:?}")))?,
        ),
        None => None,
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|seconds| seconds.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let bookmarks = matches!(
        query.get("allowWatchBookmarks").map(String::as_str),
        Some("true" | "1")
    );
    Ok(watch::watch(
        sim.clone(),
        watch::WatchRequest {
            resource: target.resource,
            namespace: target.namespace,
            selector,
            fields,
            from,
            bookmarks,
            timeout,
        },
    ))
}

fn field_selector(
    resource: &Resource,
    query: &HashMap<String, String>,
) -> Result<FieldSelector, Failure> {
    FieldSelector::parse(
        resource,
        query.get("fieldSelector").map_or("", String::as_str),
    )
    .map_err(bad_request)
}

/// The continue token: the resource version of the list's first page and where the next
/// page starts (namespace and name of the last item returned).
fn continue_token(resource_version: u64, key: &Key) -> String {
    URL_SAFE_NO_PAD.encode(format!("{resource_version}/{}/{}", key.namespace, key.name))
}

/// A continue token's resource version and the key the next page starts after.
fn parse_continue_token(token: &str) -> Option<(u64, String)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (version, after) = text.split_once('/')?;
    Some((version.parse().ok()?, after.to_owned()))
}

/// Every page of a list carries the resource version of its first page, as the API server's
/// do (`k8s.io/apiserver/pkg/storage/continue.go`): a watch from it then replays whatever
/// changed while the later pages were fetched. (The API server serves those pages from a
/// snapshot; these are served from the present, which the replay makes up for.)
fn list(sim: &Sim, target: &Target, query: &HashMap<String, String>) -> Answer {
    let selector = Selector::parse(query.get("labelSelector").map_or("", String::as_str))
        .map_err(|message| Failure::new(StatusCode::BAD_REQUEST, "BadRequest", message))?;
    let fields = field_selector(&target.resource, query)?;
    let limit = query
        .get("limit")
        .and_then(|limit| limit.parse::<usize>().ok())
        .filter(|limit| *limit > 0);
    let continued = match query.get("continue").filter(|token| !token.is_empty()) {
        Some(token) => Some(parse_continue_token(token).ok_or_else(|| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "invalid continue token",
            )
        })?),
        None => None,
    };
    let store = lock(sim)?;
    let resource_version = match &continued {
        Some((version, _)) if !store.remembers(*version) => {
            return Err(Failure::new(
                StatusCode::GONE,
                "Expired",
                "the continue token is too old: start the list again",
            ));
        }
        Some((version, _)) => *version,
        None => store.resource_version(),
    };
    let resource_id = target.resource.id();
    let mut items: Vec<&Value> = Vec::new();
    let mut next = None;
    let selected = store
        .list(&resource_id, target.namespace.as_deref())
        .filter(|(key, _)| {
            continued
                .as_ref()
                .is_none_or(|(_, after)| format!("{}/{}", key.namespace, key.name) > *after)
        })
        .filter(|(_, object)| selector.matches(object.pointer("/metadata/labels")))
        .filter(|(_, object)| fields.matches(object));
    let mut last_key = None;
    for (key, object) in selected {
        if limit.is_some_and(|limit| items.len() == limit) {
            // More remain: the token names the last item returned, the next page starts after it.
            next = last_key.map(|key| continue_token(resource_version, key));
            break;
        }
        items.push(object);
        last_key = Some(key);
    }
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if let Some(token) = next {
        metadata["continue"] = Value::String(token);
    }
    Ok((
        StatusCode::OK,
        json!({
            "apiVersion": target.resource.api_version(),
            "kind": format!("{}List", target.resource.kind),
            "metadata": metadata,
            "items": items,
        }),
    ))
}

pub(super) fn now_rfc3339() -> String {
    // Whole seconds, as the API server writes timestamps.
    format!("{:.0}", jiff::Timestamp::now())
}

/// Whether the request asks for strict field validation (`?fieldValidation=Strict`); the
/// default, `Warn`, and `Ignore` both prune unknown fields silently here.
fn is_strict(query: &HashMap<String, String>) -> bool {
    query.get("fieldValidation").map(String::as_str) == Some("Strict")
}

/// Whether a PATCH body is server-side apply (true) or a merge patch (false); others are refused.
fn content_type_allowed(headers: &HeaderMap) -> Result<bool, Failure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let is_apply = content_type.starts_with("application/apply-patch");
    if is_apply || content_type.starts_with("application/merge-patch+json") {
        Ok(is_apply)
    } else {
        Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format: {content_type}"),
        ))
    }
}

/// A create's body must be JSON: this server decodes neither protobuf nor CBOR, and says so
/// with 415, on which client-go sends the request again as JSON.
fn json_body(headers: &HeaderMap) -> Result<(), Failure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if content_type.starts_with("application/json") {
        Ok(())
    } else {
        Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format: {content_type}"),
        ))
    }
}

fn parse_json(body: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice(body).map_err(|error| bad_request(format!("invalid JSON: {error}")))
}
