//! Field selectors (`?fieldSelector=involvedObject.name=web-1,type!=Normal`): exact matches
//! of the fields a kind lets clients select on, all of which must hold.
//!
//! Which fields each kind offers, and the refusal of any other, follow the API server:
//! Events, Namespaces and Secrets have field label conversions of their own
//! (`pkg/apis/core/v1/conversion.go`, whose refusal reads `field label not supported: …`),
//! and so have custom resources, which offer `metadata.name` and `metadata.namespace`
//! (`staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/customresource_handler.go`;
//! the conformance test against the real API server shows the same refusal); the other core
//! kinds offer those two with apimachinery's refusal (`DefaultMetaV1FieldSelectorConversion`
//! in `staging/src/k8s.io/apimachinery/pkg/runtime/conversion.go`). The values of an Event's
//! fields are those of `ToSelectableFields` in `pkg/registry/core/event/strategy.go`
//! (`source` is the source's component).

use super::Resource;
use serde_json::Value;

const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
const NAMESPACE_FIELDS: &[&str] = &["status.phase", "metadata.name"];
const SECRET_FIELDS: &[&str] = &["type", "metadata.namespace", "metadata.name"];
const CUSTOM_RESOURCE_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

#[derive(Debug)]
struct Requirement {
    /// Where the field's value is in the object, as a JSON pointer.
    pointer: String,
    value: String,
    equal: bool,
}

/// A parsed field selector; the empty one selects everything.
#[derive(Debug, Default)]
pub struct FieldSelector(Vec<Requirement>);

impl FieldSelector {
    /// Parses `text` for `resource`, refusing fields the kind does not offer with the API
    /// server's message (which the caller answers with 400 BadRequest).
    pub fn parse(resource: &Resource, text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for clause in text.split(',').filter(|clause| !clause.trim().is_empty()) {
            let (field, value, equal) = if let Some((field, value)) = clause.split_once("!=") {
                (field, value, false)
            } else if let Some((field, value)) = clause.split_once("==") {
                (field, value, true)
            } else if let Some((field, value)) = clause.split_once('=') {
                (field, value, true)
            } else {
                return Err(format!(
                    "invalid selector: '{text}'; can't understand '{clause}'"
                ));
            };
            let field = field.trim();
            check_field(resource, field)?;
            let pointer =
                if resource.group.is_empty() && resource.kind == "Event" && field == "source" {
                    "/source/component".to_owned()
                } else {
                    format!("/{}", field.replace('.', "/"))
                };
            requirements.push(Requirement {
                pointer,
                value: value.trim().to_owned(),
                equal,
            });
        }
        Ok(FieldSelector(requirements))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|requirement| {
            let actual = match object.pointer(&requirement.pointer) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == requirement.value) == requirement.equal
        })
    }
}

fn check_field(resource: &Resource, field: &str) -> Result<(), String> {
    let own = match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Event") => Some(EVENT_FIELDS),
        ("", "Namespace") => Some(NAMESPACE_FIELDS),
        ("", "Secret") => Some(SECRET_FIELDS),
        _ if resource.schema.is_some() => Some(CUSTOM_RESOURCE_FIELDS),
        _ => None,
    };
    match own {
        Some(fields) if fields.contains(&field) => Ok(()),
        Some(_) => Err(format!("field label not supported: {field}")),
        None if matches!(field, "metadata.name" | "metadata.namespace") => Ok(()),
        None => Err(format!(
            "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        )),
    }
}
