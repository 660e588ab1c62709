//! virt-api's validating webhooks for snapshots, restores and clones (KubeVirt v1.9.0:
//! `pkg/storage/admitters/vmsnapshot.go`, `vmrestore.go`,
//! `pkg/virt-api/webhooks/validating-webhook/admitters/vmclone-admitter.go`), each cause word
//! for word. The stand-in serves them as webhooks; the built-in cluster asks them on its
//! creates and updates, and refuses as the API server passes a webhook's refusal on.
//!
//! What they do not check is left to the controllers, as in KubeVirt: a snapshot of a VM
//! that does not exist, a restore from a snapshot that is not ready or onto a running VM, a
//! clone whose source is missing or whose target exists.

use serde_json::{json, Value};

/// A refusal's cause (`metav1.StatusCause`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Cause {
    pub(crate) kind: &'static str,
    pub(crate) field: String,
    pub(crate) message: String,
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Cause {
    Cause {
        kind: "FieldValueInvalid",
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The webhook virt-operator registers for `plural` (`webhooks.go`), its path, and whether
/// it is called on updates too.
pub(crate) fn webhook(plural: &str) -> Option<(&'static str, &'static str, bool)> {
    match plural {
        "virtualmachinesnapshots" => Some((
            "virtualmachinesnapshot-validator.snapshot.kubevirt.io",
            "/virtualmachinesnapshots-validate",
            true,
        )),
        "virtualmachinerestores" => Some((
            "virtualmachinerestore-validator.snapshot.kubevirt.io",
            "/virtualmachinerestores-validate",
            true,
        )),
        "virtualmachineclones" => Some((
            "vm-clone-validator.kubevirt.io",
            "/vm-clone-validate-create",
            false,
        )),
        _ => None,
    }
}

/// Why the webhook for `plural` refuses `object` (created, or updated from `old`); none if
/// it admits it. `restores` are the restores in the object's namespace.
pub(crate) fn causes(
    plural: &str,
    object: &Value,
    old: Option<&Value>,
    restores: &[Value],
) -> Vec<Cause> {
    if let Some(old) = old {
        // Snapshots and restores: the spec stays as created.
        return if old.get("spec") == object.get("spec") {
            Vec::new()
        } else {
            vec![invalid("spec", "spec in immutable after creation")]
        };
    }
    match plural {
        "virtualmachinesnapshots" => reference(object, "source", "kubevirt.io"),
        "virtualmachinerestores" => {
            let mut causes = reference(object, "target", "kubevirt.io");
            causes.extend(restore_in_progress(object, restores));
            causes
        }
        "virtualmachineclones" => clone(object),
        _ => Vec::new(),
    }
}

/// The source of a snapshot or the target of a restore: a VirtualMachine of `group`.
fn reference(object: &Value, field: &str, group: &str) -> Vec<Cause> {
    let path = format!("spec.{field}");
    let reference = &object["spec"][field];
    match reference.get("apiGroup").and_then(Value::as_str) {
        None => vec![Cause {
            kind: "FieldValueNotFound",
            field: format!("{path}.apiGroup"),
            message: "missing apiGroup".to_owned(),
        }],
        Some(named) if named == group => {
            if reference["kind"] == "VirtualMachine" {
                Vec::new()
            } else {
                vec![invalid(&format!("{path}.kind"), "invalid kind")]
            }
        }
        Some(_) => vec![invalid(&format!("{path}.apiGroup"), "invalid apiGroup")],
    }
}

/// Another restore of the same target that is not complete.
fn restore_in_progress(object: &Value, restores: &[Value]) -> Vec<Cause> {
    restores
        .iter()
        .filter(|other| other["spec"]["target"] == object["spec"]["target"])
        .filter(|other| other.pointer("/status/complete") != Some(&json!(true)))
        .map(|other| {
            let name = other["metadata"]["name"].as_str().unwrap_or_default();
            invalid(
                "spec.target",
                format!("VirtualMachineRestore \"{name}\" in progress"),
            )
        })
        .collect()
}

/// `VirtualMachineCloneAdmitter.Admit`: the filters, the kinds, the source, the target, MAC
/// addresses and patches.
fn clone(object: &Value) -> Vec<Cause> {
    let spec = &object["spec"];
    let mut causes = Vec::new();
    for (pointer, field) in [
        ("/annotationFilters", "spec.annotations"),
        ("/labelFilters", "spec.labels"),
        ("/template/annotationFilters", "spec.template.annotations"),
        ("/template/labelFilters", "spec.template.labels"),
    ] {
        let filters = spec.pointer(pointer).and_then(Value::as_array);
        for filter in filters.into_iter().flatten().filter_map(Value::as_str) {
            causes.extend(filter_causes(filter, field));
        }
    }
    let source_kind = spec["source"]["kind"].as_str().unwrap_or_default();
    if !matches!(source_kind, "VirtualMachine" | "VirtualMachineSnapshot") {
        causes.push(invalid("spec.Source.Kind", "Source kind is not supported"));
    }
    let target = spec.get("target").filter(|target| !target.is_null());
    if target.is_some_and(|target| target["kind"] != "VirtualMachine") {
        causes.push(invalid("spec.Target.Kind", "Target kind is not supported"));
    }
    let source = &spec["source"];
    if source["apiGroup"].as_str().unwrap_or_default().is_empty() {
        let message = "Source's APIGroup cannot be empty";
        causes.push(invalid("spec.Source.APIGroup", message));
    }
    if source_kind.is_empty() {
        causes.push(invalid("spec.Source", "Source's Kind cannot be empty"));
    }
    if source["name"].as_str().unwrap_or_default().is_empty() {
        causes.push(invalid("spec.Source.Name", "Source's name cannot be empty"));
    }
    let same_vm = target.is_some_and(|target| {
        source_kind == "VirtualMachine"
            && target["kind"] == "VirtualMachine"
            && target["name"] == source["name"]
    });
    if same_vm {
        let message = "Target name cannot be equal to source name when both are VirtualMachines";
        causes.push(invalid("spec.target.name", message));
    }
    let macs = spec.get("newMacAddresses").and_then(Value::as_object);
    for (interface, mac) in macs.into_iter().flatten() {
        let mac = mac.as_str().unwrap_or_default();
        if !mac.is_empty() && !is_mac(mac) {
            causes.push(invalid(
                &format!("spec.newMacAddresses.{interface}"),
                format!("interface {interface} has malformed MAC address ({mac})."),
            ));
        }
    }
    let patches = spec.get("patches").and_then(Value::as_array);
    for (index, patch) in patches.into_iter().flatten().enumerate() {
        let patch = patch.as_str().unwrap_or_default();
        if serde_json::from_str::<Value>(patch).is_err() {
            causes.push(invalid(
                &format!("spec.patches[{index}]"),
                format!("patch is not valid JSON ({patch})"),
            ));
        }
    }
    causes
}

/// `validateFilters`, for one filter.
fn filter_causes(filter: &str, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    if filter.chars().count() == 1 {
        if filter == "!" {
            causes.push(invalid(field, "a negation character is not a valid filter"));
        }
        return causes;
    }
    let problem = |what: &str, character: &str, rule: &str| {
        invalid(
            field,
            format!(
                "{field} filter {filter} is invalid: cannot contain a {what} character \
                 ({character}); FilterRules: {rule}"
            ),
        )
    };
    let mut inner = filter.chars();
    inner.next();
    if inner.as_str().contains('!') {
        let rule = "NegationChar can be only used at the beginning of the filter";
        causes.push(problem("negation", "!", rule));
    }
    let mut head = filter.chars();
    head.next_back();
    if head.as_str().contains('*') {
        let rule = "WildcardChar can be only at the end of the filter";
        causes.push(problem("wildcard", "*", rule));
    }
    causes
}

/// A MAC address as Go's `net.ParseMAC` takes one of six bytes (`ValidateMacAddress`).
fn is_mac(mac: &str) -> bool {
    let groups: Vec<&str> = mac.split([':', '-']).collect();
    groups.len() == 6
        && groups
            .iter()
            .all(|group| group.len() == 2 && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `ToAdmissionResponse` (pkg/util/webhooks/webhooks.go): the Status of a refusal, as a
/// webhook answers it: 422 Invalid, the first ten causes, and as the message their messages
/// joined by ", ", the rest only counted.
pub(crate) fn refusal_status(mut causes: Vec<Cause>) -> Value {
    const SHOWN: usize = 10;
    let more = causes.len().saturating_sub(SHOWN);
    causes.truncate(SHOWN);
    let messages: Vec<&str> = causes.iter().map(|cause| cause.message.as_str()).collect();
    let mut message = messages.join(", ");
    if more > 0 {
        message.push_str(&format!(", and {more} more validation errors"));
    }
    let details: Vec<Value> = causes
        .iter()
        .map(|cause| json!({"reason": cause.kind, "message": cause.message, "field": cause.field}))
        .collect();
    json!({"message": message, "reason": "Invalid", "code": 422,
        "details": {"causes": details}})
}
