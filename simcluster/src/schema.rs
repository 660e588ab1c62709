//! Checks objects against the structural OpenAPI v3 schemas of KubeVirt's CRDs, the way the
//! Kubernetes API server does: fields the schema does not declare are pruned (refused only
//! when the client asks for strict field validation), then wrong types, missing required
//! fields and values outside an enum are refused with the path of the field
//! (`staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning/algorithm.go`).

use serde_json::{Map, Value};

/// One problem with an object: the JSON path of the field (`spec.template.spec.domain`) and
/// what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// All problems of `value` against `schema`, in document order; empty when valid.
pub fn validate(schema: &Value, value: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check(schema, value, "", &mut errors);
    errors
}

/// Removes from `value` every field `schema` does not declare, as the API server prunes
/// custom resources; returns their paths (`spec.runStratgy`) in document order.
pub fn prune(schema: &Value, value: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    prune_at(schema, value, "", &mut pruned);
    pruned
}

fn prune_at(schema: &Value, value: &mut Value, path: &str, pruned: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema
                .get("additionalProperties")
                .filter(|extra| extra.is_object());
            let open = flag(schema, "x-kubernetes-preserve-unknown-fields")
                || (properties.is_none() && schema.get("additionalProperties").is_none());
            fields.retain(|name, field| {
                let field_path = child(path, name);
                match (properties.and_then(|p| p.get(name)), additional) {
                    (Some(field_schema), _) | (None, Some(field_schema)) => {
                        prune_at(field_schema, field, &field_path, pruned);
                        true
                    }
                    // The root's apiVersion, kind and metadata are not the schema's to prune.
                    _ if open
                        || (path.is_empty()
                            && matches!(name.as_str(), "apiVersion" | "kind" | "metadata")) =>
                    {
                        true
                    }
                    _ => {
                        pruned.push(field_path);
                        false
                    }
                }
            });
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    prune_at(item_schema, item, path, pruned);
                }
            }
        }
        _ => {}
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn fail(errors: &mut Vec<FieldError>, path: &str, message: String) {
    errors.push(FieldError {
        field: if path.is_empty() {
            "<root>".to_owned()
        } else {
            path.to_owned()
        },
        message,
    });
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        if !flag(schema, "nullable") && schema.get("type").is_some() {
            fail(errors, path, "must not be null".to_owned());
        }
        return;
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !matches!(type_name(value), "integer" | "string") {
            fail(
                errors,
                path,
                format!("must be an integer or a string, not {}", type_name(value)),
            );
        }
        return;
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        let matches_one = branches.iter().any(|branch| {
            let mut scratch = Vec::new();
            check(branch, value, path, &mut scratch);
            scratch.is_empty()
        });
        if !matches_one {
            fail(errors, path, "matches none of the allowed forms".to_owned());
            return;
        }
    }
    let Some(expected) = schema.get("type").and_then(Value::as_str) else {
        return;
    };
    let actual = type_name(value);
    let type_ok = actual == expected || (expected == "number" && actual == "integer");
    if !type_ok {
        fail(
            errors,
            path,
            format!("must be of type {expected}, not {actual}"),
        );
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            let listed: Vec<String> = allowed.iter().map(Value::to_string).collect();
            fail(
                errors,
                path,
                format!("must be one of {}", listed.join(", ")),
            );
        }
    }
    match value {
        Value::Object(fields) => check_object(schema, fields, path, errors),
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
                if items.len() as u64 > max {
                    fail(errors, path, format!("must have at most {max} items"));
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{index}]"), errors);
                }
            }
        }
        Value::String(text) => {
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
                if text.chars().count() as u64 > max {
                    fail(errors, path, format!("must be at most {max} characters"));
                }
            }
        }
        _ => {}
    }
}

fn check_object(
    schema: &Value,
    fields: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                fail(errors, &child(path, name), "is required".to_owned());
            }
        }
    }
    // Unknown fields are gone by now (`prune`).
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema
        .get("additionalProperties")
        .filter(|extra| extra.is_object());
    for (name, field) in fields {
        let field_path = child(path, name);
        if let Some(field_schema) = properties.and_then(|p| p.get(name)).or(additional) {
            check(field_schema, field, &field_path, errors);
        }
    }
}
