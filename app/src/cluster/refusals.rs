//! Refusals by the API server's admission plugins, which come as 403 Forbidden like a
//! missing permission but mean something the user can act on. They are told apart by the
//! Status `details.causes` and, where the API server gives no cause, by its message.

use crate::AppError;
use kube::core::Status;
use std::collections::BTreeMap;

/// The refusal in `status` about `what`, if an admission plugin made it.
pub fn from_admission(status: &Status, what: &str) -> Option<AppError> {
    let refused = |message: String| AppError::Invalid {
        field: String::new(),
        message,
    };
    if terminating_namespace(status) {
        return Some(refused(format!(
            "{what} cannot be created: its namespace is being deleted. Wait until it is gone, or \
             ask an administrator why it is stuck."
        )));
    }
    exceeded_quota(&status.message).map(|usage| {
        refused(format!(
            "The cluster's quota refused {what}: {usage}. Delete something in the project or ask \
             an administrator for more room."
        ))
    })
}

/// virt-api's refusal of a lifecycle action, as a sentence that says what to do instead:
/// its texts are those of KubeVirt's `pkg/virt-api/rest/lifecycle.go` (the handlers of
/// start, stop, restart, pause and unpause, and `getChangeRequestJson`), wrapped by
/// `errors.NewConflict` as `Operation cannot be fulfilled on virtualmachine.kubevirt.io
/// "NAME": TEXT`. `None` for any other message.
pub fn from_kubevirt(message: &str, what: &str) -> Option<AppError> {
    let text = message
        .split_once("\": ")
        .map_or(message, |(_, text)| text)
        .trim();
    let conflict = |sentence: &str| {
        Some(AppError::Conflict {
            message: format!("{what} {sentence}"),
        })
    };
    match text {
        "VM is already running" => conflict("is already running."),
        "VM is not running" | "VMI is not running" | "VM is not running: Halted" => {
            conflict("is not running.")
        }
        "VMI is already paused" => conflict("is already paused."),
        "VMI is not paused" => conflict("is not paused."),
        "Always does not support manual start requests"
        | "Once does not support manual start requests" => {
            conflict("starts by itself: its run strategy keeps it running. Stop it to turn it off.")
        }
        "RunStategy Halted does not support manual restart requests" => {
            conflict("is not running (its run strategy keeps it stopped): start it instead.")
        }
        "Halted only supports manual stop requests with a shorter graceperiod" => {
            conflict("is already stopping. Use Force stop to turn it off now.")
        }
        "RerunOnFailure does not support starting VM from failed state" => {
            conflict("failed, and its run strategy restarts it by itself. Wait, or stop it first.")
        }
        text if text.ends_with("stop/start already underway") => {
            conflict("is already starting or stopping. Wait until it has finished.")
        }
        _ => None,
    }
}

/// The reason an admission webhook gave, without the API server's wrapping `admission
/// webhook "NAME" denied the request: ` (kube-apiserver
/// `staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/errors/statuserror.go`,
/// `ToStatusErr`): KubeVirt's validators (`virtualmachine-validator.kubevirt.io`,
/// `pkg/virt-api/webhooks/validating-webhook/admitters/`) say there what is wrong.
pub fn webhook_reason(message: &str) -> &str {
    message
        .strip_prefix("admission webhook \"")
        .and_then(|rest| rest.split_once("\" denied the request: "))
        .map_or(message, |(_, reason)| reason)
}

/// The NamespaceLifecycle plugin adds the cause `NamespaceTerminating`
/// (kube-apiserver `staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go`).
fn terminating_namespace(status: &Status) -> bool {
    status.details.as_ref().is_some_and(|details| {
        details
            .causes
            .iter()
            .any(|cause| cause.reason == "NamespaceTerminating")
    })
}

/// The ResourceQuota plugin gives no cause, only the message
/// `exceeded quota: NAME, requested: R, used: U, limited: L`, each list `resource=value`
/// joined by commas and sorted (`staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go`,
/// `prettyPrint`). Returns, per requested resource, "R requested, U of L used".
fn exceeded_quota(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("exceeded quota: ")?;
    let (_, rest) = rest.split_once(", requested: ")?;
    let (requested, rest) = rest.split_once(", used: ")?;
    let (used, limited) = rest.split_once(", limited: ")?;
    let list = |text: &str| -> BTreeMap<String, String> {
        text.split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect()
    };
    let (used, limited) = (list(used), list(limited));
    let parts: Vec<String> = list(requested)
        .into_iter()
        .map(|(name, amount)| {
            let of = |values: &BTreeMap<String, String>| {
                values.get(&name).cloned().unwrap_or_else(|| "?".to_owned())
            };
            format!(
                "{name}: {amount} requested, {} of {} used",
                of(&used),
                of(&limited)
            )
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// What the RBAC authorizer's refusal says is missing: `User "…" cannot VERB resource "R"
/// in API group "G" in the namespace "N"` (or `at the cluster scope`), from kube-apiserver's
/// `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go`,
/// `forbiddenMessage`. The account's name is left out: users need not see it.
pub fn missing_permission(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("\" cannot ")?;
    let (verb, rest) = rest.split_once(" resource \"")?;
    let (resource, rest) = rest.split_once("\" in API group \"")?;
    let (group, scope) = rest.split_once('"')?;
    let group = if group.is_empty() { "core" } else { group };
    let scope = match scope.trim().strip_prefix("in the namespace \"") {
        Some(namespace) => format!("in namespace {}", namespace.trim_end_matches('"')),
        None => "across the cluster".to_owned(),
    };
    Some(format!("{verb} \"{resource}\" ({group}) {scope}"))
}

#[cfg(test)]
mod tests {
    use super::{exceeded_quota, from_kubevirt, missing_permission, webhook_reason};
    use crate::AppError;

    /// KubeVirt's texts as virt-api sends them (pkg/virt-api/rest/lifecycle.go, v1.9.0):
    /// each becomes what the user can do instead; another conflict is left alone.
    #[test]
    fn virt_api_refusals_say_what_to_do_instead() {
        let wrapped = |text: &str| {
            format!("Operation cannot be fulfilled on virtualmachine.kubevirt.io \"web-1\": {text}")
        };
        let cases = [
            (wrapped("Always does not support manual start requests"), "VM \"web-1\" starts by itself: its run strategy keeps it running. Stop it to turn it off."),
            (wrapped("RunStategy Halted does not support manual restart requests"), "VM \"web-1\" is not running (its run strategy keeps it stopped): start it instead."),
            (wrapped("Halted only supports manual stop requests with a shorter graceperiod"), "VM \"web-1\" is already stopping. Use Force stop to turn it off now."),
            (wrapped("VM is not running: Halted"), "VM \"web-1\" is not running."),
            ("Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"web-1\": VMI is not paused".to_owned(), "VM \"web-1\" is not paused."),
            ("Internal error occurred: unable to complete request: stop/start already underway".to_owned(), "VM \"web-1\" is already starting or stopping. Wait until it has finished."),
        ];
        for (message, expected) in cases {
            assert_eq!(
                from_kubevirt(&message, "VM \"web-1\""),
                Some(AppError::Conflict {
                    message: expected.to_owned()
                }),
                "{message}"
            );
        }
        assert_eq!(
            from_kubevirt(&wrapped("the object has been modified"), "VM \"web-1\""),
            None
        );
    }

    /// The API server's wrapping of a webhook's denial (`ToStatusErr` in kube-apiserver's
    /// `admission/plugin/webhook/errors/statuserror.go`) is dropped; KubeVirt's reason stays.
    #[test]
    fn webhook_denials_keep_kubevirts_reason() {
        let denied =
            "admission webhook \"virtualmachine-validator.kubevirt.io\" denied the request: \
                      spec.template.spec.domain.devices.disks[0].Name 'rootdisk' not found.";
        assert_eq!(
            webhook_reason(denied),
            "spec.template.spec.domain.devices.disks[0].Name 'rootdisk' not found."
        );
        assert_eq!(webhook_reason("name: Invalid value"), "name: Invalid value");
    }

    #[test]
    fn rbac_refusals_name_the_missing_permission() {
        let namespaced = "virtualmachines.subresources.kubevirt.io \"web-1\" is forbidden: User \
                          \"system:serviceaccount:wukong:wukong\" cannot update resource \
                          \"virtualmachines/start\" in API group \"subresources.kubevirt.io\" in \
                          the namespace \"team-a\"";
        assert_eq!(
            missing_permission(namespaced).as_deref(),
            Some("update \"virtualmachines/start\" (subresources.kubevirt.io) in namespace team-a")
        );
        let cluster = "namespaces is forbidden: User \"u\" cannot list resource \"namespaces\" in \
                       API group \"\" at the cluster scope";
        assert_eq!(
            missing_permission(cluster).as_deref(),
            Some("list \"namespaces\" (core) across the cluster")
        );
        assert_eq!(missing_permission("mock Forbidden"), None);
    }

    #[test]
    fn quota_messages_name_each_resource_with_its_usage_and_limit() {
        let message = "virtualmachines.kubevirt.io \"b\" is forbidden: exceeded quota: q, \
                       requested: limits.memory=2Gi,requests.cpu=2, used: limits.memory=15Gi,requests.cpu=1, \
                       limited: limits.memory=16Gi,requests.cpu=2";
        assert_eq!(
            exceeded_quota(message).as_deref(),
            Some("limits.memory: 2Gi requested, 15Gi of 16Gi used; requests.cpu: 2 requested, 1 of 2 used")
        );
        assert_eq!(exceeded_quota("User \"x\" cannot create resource"), None);
    }
}
