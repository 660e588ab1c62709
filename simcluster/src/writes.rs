//! Writes of objects as the API server makes them: creates, patches, status writes and
//! deletes, with their checks (schema, names, optimistic concurrency, namespace lifecycle)
//! and their effects (uid, resourceVersion, generation, finalizers). The REST surface (`api`)
//! and the simulated KubeVirt's controllers (`lifecycle::Embedded`) both write through here.

use super::{
    api::{now_rfc3339, Failure, Target},
    lifecycle::admission,
    schema,
    store::Key,
    Sim,
};
use axum::http::StatusCode;
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::{json, Value};

pub(super) type Answer = Result<(StatusCode, Value), Failure>;

pub(super) fn key(target: &Target, name: &str) -> Key {
    Key {
        resource: target.resource.id(),
        namespace: target.namespace.clone().unwrap_or_default(),
        name: name.to_owned(),
    }
}

pub(super) fn lock(sim: &Sim) -> Result<std::sync::MutexGuard<'_, super::store::Store>, Failure> {
    sim.store
        .lock()
        .map_err(|_| Failure::internal("store lock poisoned"))
}

pub(super) fn get_one(sim: &Sim, target: &Target, name: &str) -> Answer {
    let store = lock(sim)?;
    store
        .get(&key(target, name))
        .map(|object| (StatusCode::OK, object.clone()))
        .ok_or_else(|| Failure::not_found(&target.resource, name))
}

/// Checks an object before it is stored: kind and apiVersion, name, and the CRD schema,
/// after pruning the fields the schema does not declare (refused instead when `strict`).
fn check_object(
    target: &Target,
    object: &mut Value,
    name: &str,
    strict: bool,
) -> Result<(), Failure> {
    let resource = &target.resource;
    if let Some(schema) = &resource.schema {
        let pruned = schema::prune(schema, object);
        if strict && !pruned.is_empty() {
            let fields: Vec<String> = pruned
                .iter()
                .map(|field| format!("unknown field \"{field}\""))
                .collect();
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                    fields.join(", "),
                    kind = resource.kind,
                    version = resource.version,
                ),
            ));
        }
    }
    let mut causes = Vec::new();
    if object.get("apiVersion").and_then(Value::as_str) != Some(resource.api_version().as_str()) {
        causes.push((
            "apiVersion".to_owned(),
            format!("must be {}", resource.api_version()),
        ));
    }
    if object.get("kind").and_then(Value::as_str) != Some(resource.kind.as_str()) {
        causes.push(("kind".to_owned(), format!("must be {}", resource.kind)));
    }
    if let Some(problem) = name_problem(name, !resource.namespaced) {
        causes.push(("metadata.name".to_owned(), problem));
    }
    if let Some(schema) = &resource.schema {
        for error in schema::validate(schema, object) {
            causes.push((error.field, error.message));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(Failure::invalid(resource, name, causes))
    }
}

/// DNS-1123 subdomain (names of most objects) or label (namespaces): lowercase letters,
/// digits and '-', starting and ending with an alphanumeric.
fn name_problem(name: &str, label: bool) -> Option<String> {
    let max = if label { 63 } else { 253 };
    let allowed =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (!label && c == '.');
    let edges_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > max || !name.chars().all(allowed) || !edges_ok {
        Some(format!(
            "a lowercase RFC 1123 {} must consist of lower case alphanumeric characters{}, and must start and end with an alphanumeric character (at most {max} characters)",
            if label { "label" } else { "subdomain" },
            if label { " or '-'" } else { ", '-' or '.'" }
        ))
    } else {
        None
    }
}

/// Creates `object`, as a POST does: named in the request's namespace, checked, and given
/// its uid, resourceVersion, creation time and first generation.
pub(super) fn create(sim: &Sim, target: &Target, mut object: Value, strict: bool) -> Answer {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let (Some(namespace), Some(in_body)) = (
        &target.namespace,
        object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str),
    ) {
        if namespace != in_body {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "the namespace of the object does not match the namespace of the request",
            ));
        }
    }
    check_object(target, &mut object, &name, strict)?;
    secret_data(target, &mut object);
    let mut store = lock(sim)?;
    if let Some(namespace) = &target.namespace {
        let namespace_key = Key {
            resource: "namespaces".to_owned(),
            namespace: String::new(),
            name: namespace.clone(),
        };
        let Some(namespace_object) = store.get(&namespace_key) else {
            let mut failure = Failure::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("namespaces \"{namespace}\" not found"),
            );
            failure.details = json!({"name": namespace, "kind": "namespaces"});
            return Err(failure);
        };
        if is_terminating(namespace_object) {
            return Err(terminating_namespace(target, &name, namespace));
        }
    }
    webhooks(&store, target, &object, None)?;
    super::quota::admit(&store, target, &name, &object)?;
    if let Some(namespace) = target.namespace.as_deref().filter(|_| is_quota(target)) {
        super::quota::with_status(&store, namespace, &mut object);
    }
    let key = key(target, &name);
    if store.get(&key).is_some() {
        let mut failure = Failure::new(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", target.resource.id()),
        );
        failure.details =
            json!({"name": name, "group": target.resource.group, "kind": target.resource.plural});
        return Err(failure);
    }
    let version = store.bump();
    let metadata = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| {
            Failure::invalid(
                &target.resource,
                &name,
                vec![("metadata".to_owned(), "is required".to_owned())],
            )
        })?;
    metadata.insert(
        "uid".to_owned(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    metadata.insert(
        "resourceVersion".to_owned(),
        Value::String(version.to_string()),
    );
    metadata.insert("creationTimestamp".to_owned(), Value::String(now_rfc3339()));
    metadata.insert("generation".to_owned(), json!(1));
    if let Some(namespace) = &target.namespace {
        metadata.insert("namespace".to_owned(), Value::String(namespace.clone()));
    }
    store.put(key, object.clone()).map_err(Failure::internal)?;
    Ok((StatusCode::CREATED, object))
}

/// Optimistic concurrency: a write that names a resourceVersion must name the current one.
fn check_resource_version(
    target: &Target,
    name: &str,
    written: &Value,
    current: &Value,
) -> Result<(), Failure> {
    let version = |object: &Value| {
        object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let expected = version(written);
    if expected.is_some() && expected != version(current) {
        return Err(Failure::new(StatusCode::CONFLICT, "Conflict", format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", target.resource.id())));
    }
    Ok(())
}

/// RFC 7386 JSON merge patch.
pub(super) fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// A merge patch (or, `is_apply`, a server-side apply) of the object `name`.
pub(super) fn patch(
    sim: &Sim,
    target: &Target,
    name: &str,
    patch: Value,
    is_apply: bool,
    strict: bool,
) -> Answer {
    let key = key(target, name);
    let existing = lock(sim)?.get(&key).cloned();
    let Some(mut object) = existing else {
        // Server-side apply creates what does not exist yet.
        if is_apply {
            return create(sim, target, patch, strict);
        }
        return Err(Failure::not_found(&target.resource, name));
    };
    check_resource_version(target, name, &patch, &object)?;
    let before_spec = object.get("spec").cloned();
    let mut patch = patch;
    if let Some(fields) = patch.as_object_mut() {
        // Where status is a subresource, the main resource ignores it.
        if target.resource.status_subresource {
            fields.remove("status");
        }
        if let Some(Value::Object(metadata)) = fields.get_mut("metadata") {
            for immutable in [
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "generation",
            ] {
                metadata.remove(immutable);
            }
        }
    }
    let before = object.clone();
    merge(&mut object, &patch);
    check_object(target, &mut object, name, strict)?;
    secret_data(target, &mut object);
    let mut store = lock(sim)?;
    webhooks(&store, target, &object, Some(&before))?;
    if let Some(namespace) = target.namespace.as_deref().filter(|_| is_quota(target)) {
        super::quota::with_status(&store, namespace, &mut object);
    }
    let version = store.bump();
    // The generation counts changes of the spec, as the API server does.
    let spec_changed = before_spec.as_ref() != object.get("spec");
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert(
            "resourceVersion".to_owned(),
            Value::String(version.to_string()),
        );
        if spec_changed {
            let generation = metadata
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            metadata.insert("generation".to_owned(), json!(generation + 1));
        }
    }
    store_or_finish(&mut store, key, object.clone())?;
    Ok((StatusCode::OK, object))
}

/// `/status`: a merge patch or (`replace`) a replacement of the object's `status`, and
/// nothing else, as controllers write it. The spec and metadata in `written` are ignored.
pub(super) fn write_status(
    sim: &Sim,
    target: &Target,
    name: &str,
    written: Value,
    replace: bool,
    strict: bool,
) -> Answer {
    let key = key(target, name);
    let mut store = lock(sim)?;
    let mut object = store
        .get(&key)
        .cloned()
        .ok_or_else(|| Failure::not_found(&target.resource, name))?;
    check_resource_version(target, name, &written, &object)?;
    let status = written.get("status").cloned().unwrap_or(Value::Null);
    if replace {
        object["status"] = status;
    } else if !status.is_null() {
        merge(
            object.as_object_mut().map_or(&mut Value::Null, |fields| {
                fields.entry("status").or_insert_with(|| json!({}))
            }),
            &status,
        );
    }
    check_object(target, &mut object, name, strict)?;
    let version = store.bump();
    object["metadata"]["resourceVersion"] = Value::String(version.to_string());
    store.put(key, object.clone()).map_err(Failure::internal)?;
    Ok((StatusCode::OK, object))
}

/// KubeVirt's validating webhooks for snapshots, restores and clones
/// (`lifecycle::admission`), on a create or (with `old`) an update, refusing as the API
/// server passes a webhook's refusal on (`ToStatusErr` in
/// `staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/errors/statuserror.go`).
fn webhooks(
    store: &super::store::Store,
    target: &Target,
    object: &Value,
    old: Option<&Value>,
) -> Result<(), Failure> {
    let resource = &target.resource;
    let kubevirt_group = matches!(
        resource.group.as_str(),
        "snapshot.kubevirt.io" | "clone.kubevirt.io"
    );
    let Some((webhook, _, on_update)) =
        admission::webhook(&resource.plural).filter(|_| kubevirt_group)
    else {
        return Ok(());
    };
    if old.is_some() && !on_update {
        return Ok(());
    }
    let namespace = target.namespace.clone().unwrap_or_default();
    let restores: Vec<Value> = store
        .keys()
        .filter(|_| resource.plural == "virtualmachinerestores")
        .filter(|key| key.resource == resource.id() && key.namespace == namespace)
        .filter_map(|key| store.get(key).cloned())
        .collect();
    let causes = admission::causes(&resource.plural, object, old, &restores);
    if causes.is_empty() {
        return Ok(());
    }
    let status = admission::refusal_status(causes);
    let message = format!(
        "admission webhook \"{webhook}\" denied the request: {}",
        status["message"].as_str().unwrap_or_default()
    );
    let mut failure = Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message);
    failure.details = status["details"].clone();
    Err(failure)
}

fn is_quota(target: &Target) -> bool {
    target.resource.plural == "resourcequotas" && target.resource.group.is_empty()
}

pub(super) fn is_terminating(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

fn has_finalizers(object: &Value) -> bool {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|finalizers| !finalizers.is_empty())
}

/// The NamespaceLifecycle admission plugin's refusal, with its `NamespaceTerminating` cause
/// (`staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go`).
fn terminating_namespace(target: &Target, name: &str, namespace: &str) -> Failure {
    let mut failure = Failure::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} \
             because it is being terminated",
            target.resource.id()
        ),
    );
    failure.details = json!({"name": name, "group": target.resource.group,
        "kind": target.resource.plural, "causes": [{"reason": "NamespaceTerminating",
        "message": format!("namespace {namespace} is being terminated"),
        "field": "metadata.namespace"}]});
    failure
}

/// Marks `object` as being deleted: it stays, Terminating, until its finalizers are gone.
fn mark_terminating(
    store: &mut super::store::Store,
    key: Key,
    mut object: Value,
) -> Result<Value, Failure> {
    if !is_terminating(&object) {
        let version = store.bump();
        object["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        object["metadata"]["resourceVersion"] = Value::String(version.to_string());
        store.put(key, object.clone()).map_err(Failure::internal)?;
    }
    Ok(object)
}

/// Stores a changed object, unless it was being deleted and its last finalizer just went:
/// then it is removed, and a namespace it held in Terminating goes too once empty.
fn store_or_finish(
    store: &mut super::store::Store,
    key: Key,
    object: Value,
) -> Result<(), Failure> {
    if !is_terminating(&object) || has_finalizers(&object) {
        return store.put(key, object).map_err(Failure::internal);
    }
    store.bump();
    // Watches see it go as it was last written, as the API server's see it.
    store.remove_as(&key, object).map_err(Failure::internal)?;
    let namespace_key = Key {
        resource: "namespaces".to_owned(),
        namespace: String::new(),
        name: key.namespace.clone(),
    };
    let emptied = !key.namespace.is_empty()
        && store.get(&namespace_key).is_some_and(is_terminating)
        && !store.keys().any(|inner| inner.namespace == key.namespace);
    if emptied {
        store.bump();
        store.remove(&namespace_key).map_err(Failure::internal)?;
    }
    Ok(())
}

pub(super) fn delete(sim: &Sim, target: &Target, name: &str) -> Answer {
    let mut store = lock(sim)?;
    let key = key(target, name);
    let Some(object) = store.get(&key).cloned() else {
        return Err(Failure::not_found(&target.resource, name));
    };
    // Kubernetes' namespace controller deletes everything in a deleted namespace (here at
    // once, each object with its own DELETED event); objects with finalizers stay
    // Terminating, and so does the namespace until they are gone.
    let mut held = false;
    if target.resource.plural == "namespaces" {
        let inside: Vec<Key> = store
            .keys()
            .filter(|inner| inner.namespace == name)
            .cloned()
            .collect();
        for inner in inside {
            let Some(inner_object) = store.get(&inner).cloned() else {
                continue;
            };
            if has_finalizers(&inner_object) {
                mark_terminating(&mut store, inner, inner_object)?;
                held = true;
            } else {
                store.bump();
                store.remove(&inner).map_err(Failure::internal)?;
            }
        }
    }
    if held || has_finalizers(&object) {
        let mut marked = mark_terminating(&mut store, key.clone(), object)?;
        if held && marked.pointer("/status/phase").is_none() {
            marked["status"] = json!({"phase": "Terminating"});
            store.put(key, marked.clone()).map_err(Failure::internal)?;
        }
        return Ok((StatusCode::OK, marked));
    }
    store.bump();
    let removed = store.remove(&key).map_err(Failure::internal)?;
    Ok((StatusCode::OK, removed.unwrap_or(Value::Null)))
}

/// A Secret's `stringData` is write-only: the API server merges it into `data`, base64
/// encoded, and stores no `stringData` (`pkg/apis/core/v1/conversion.go`,
/// `Convert_v1_Secret_To_core_Secret`); `type` defaults to `Opaque`
/// (`pkg/apis/core/v1/defaults.go`).
fn secret_data(target: &Target, object: &mut Value) {
    if !(target.resource.group.is_empty() && target.resource.kind == "Secret") {
        return;
    }
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(strings)) = fields.remove("stringData") {
        let data = fields.entry("data").or_insert_with(|| json!({}));
        for (key, value) in strings {
            let text = value.as_str().unwrap_or_default();
            data[key] = Value::String(STANDARD.encode(text));
        }
    }
    fields
        .entry("type")
        .or_insert_with(|| Value::String("Opaque".to_owned()));
}
