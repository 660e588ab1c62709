//! Refusals by the API server's admission plugins, which come as 403 Forbidden like a
//! missing permission but mean something the user can act on. They are told apart by the
//! Status `details.causes` and, where the API server gives no cause, by its message.

use crate::AppError;
use kube::core::Status;
use std::collections::BTreeMap;

/// The refusal in `status` about `what`, if an admission plugin made it; a quota's is told
/// in Wukong's words, as in `project` (a namespace or slug; "this project" when unknown).
pub fn from_admission(status: &Status, what: &str, project: Option<&str>) -> Option<AppError> {
    if terminating_namespace(status) {
        return Some(AppError::Invalid {
            field: String::new(),
            message: format!(
                "{what} cannot be created: its namespace is being deleted. Wait until it is \
                 gone, or ask an administrator why it is stuck."
            ),
        });
    }
    // Until the quota controller has counted a new or changed quota, its admission refuses
    // whatever the quota limits (`checkRequest`, `hasUsageStats`): a matter of moments.
    if status.message.contains("status unknown for quota: ") {
        return Some(AppError::Conflict {
            message: format!(
                "The cluster is still counting the project's quota, so {what} was not created. \
                 Try again in a moment."
            ),
        });
    }
    let project = project.map_or_else(|| "this project".to_owned(), |p| format!("project {p}"));
    quota_refusal(&status.message, &project).map(|message| AppError::QuotaExceeded { message })
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

/// The ResourceQuota plugin's refusal in the shape of Wukong's own
/// (`quotas::types::ProjectQuota::refusal`): "memory: 2383 MiB requested, 0 of 2383 MiB free
/// in project ml-lab", one part per resource over its limit, joined by "; ". The plugin gives
/// no cause, only the message `exceeded quota: NAME, requested: R, used: U, limited: L`, each
/// list `resource=value` joined by commas and sorted
/// (`staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go`,
/// `checkRequest` and `prettyPrint`). Resources Wukong limits are told in its units (the
/// cluster's amounts include each launcher pod's overhead); others by their Kubernetes names.
/// `in` names the project ("project ml-lab"). Also for the same text in a VMI's
/// `FailedCreate` condition, which is how a refused launcher pod shows.
pub fn quota_refusal(message: &str, r#in: &str) -> Option<String> {
    let (_, rest) = message.split_once("exceeded quota: ")?;
    let (_, rest) = rest.split_once(", requested: ")?;
    let (requested, rest) = rest.split_once(", used: ")?;
    let (used, limited) = rest.split_once(", limited: ")?;
    let list = |text: &str| -> BTreeMap<String, i128> {
        text.split(',')
            .filter_map(|pair| pair.split_once('='))
            .filter_map(|(name, value)| Some((name.trim().to_owned(), nanos(value.trim())?)))
            .collect()
    };
    let (used, limited) = (list(used), list(limited));
    let parts: Vec<String> = list(requested)
        .into_iter()
        .map(|(name, asked)| {
            let used = used.get(&name).copied().unwrap_or(0);
            let limit = limited.get(&name).copied().unwrap_or(0);
            let (label, unit, suffix) = match name.as_str() {
                "requests.cpu" | "cpu" => ("vCPUs", NANO, ""),
                "requests.memory" | "memory" => ("memory", NANO << 20, " MiB"),
                "requests.storage" => ("disk", NANO << 30, " GiB"),
                "count/virtualmachines.kubevirt.io" => ("VMs", NANO, ""),
                other => (other, NANO, ""),
            };
            format!(
                "{label}: {}{suffix} requested, {} of {}{suffix} free in {}",
                amount(asked, unit, true),
                amount((limit - used).max(0), unit, false),
                amount(limit, unit, false),
                r#in,
            )
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

const NANO: i128 = 1_000_000_000;

/// `value` (in billionths) in `unit`s, with at most two decimals, rounded up or down.
fn amount(value: i128, unit: i128, up: bool) -> String {
    let hundredths = if up {
        (value * 100 + unit - 1).div_euclid(unit)
    } else {
        (value * 100).div_euclid(unit)
    };
    let (whole, fraction) = (hundredths / 100, hundredths % 100);
    match fraction {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// A Kubernetes quantity (`2383Mi`, `206m`, `1.5`, `1e3`) in billionths of its unit, rounded
/// up (`staging/src/k8s.io/apimachinery/pkg/api/resource/quantity.go` for the suffixes).
fn nanos(quantity: &str) -> Option<i128> {
    let split = quantity
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{whole}{fraction}");
    let mantissa: i128 = digits.parse().ok()?;
    let places = u32::try_from(fraction.len())
        .ok()
        .filter(|places| *places <= 18)?;
    let (numerator, denominator): (i128, i128) = match suffix {
        "n" => (1, 1),
        "u" => (1_000, 1),
        "m" => (1_000_000, 1),
        "" => (NANO, 1),
        "k" => (NANO * 1_000, 1),
        "M" => (NANO * 1_000_000, 1),
        "G" => (NANO * 1_000_000_000, 1),
        "T" => (NANO * 1_000_000_000_000, 1),
        "P" => (NANO * 1_000_000_000_000_000, 1),
        "E" => (NANO * 1_000_000_000_000_000_000, 1),
        "Ki" => (NANO << 10, 1),
        "Mi" => (NANO << 20, 1),
        "Gi" => (NANO << 30, 1),
        "Ti" => (NANO << 40, 1),
        "Pi" => (NANO << 50, 1),
        "Ei" => (NANO << 60, 1),
        exponent => {
            let power: i32 = exponent.strip_prefix(['e', 'E'])?.parse().ok()?;
            let scale = 10i128.checked_pow(power.unsigned_abs())?;
            if power >= 0 {
                (NANO.checked_mul(scale)?, 1)
            } else {
                (NANO, scale)
            }
        }
    };
    let denominator = denominator.checked_mul(10i128.pow(places))?;
    let scaled = mantissa.checked_mul(numerator)?;
    Some((scaled + denominator - 1).div_euclid(denominator))
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
    use super::{
        from_admission, from_kubevirt, missing_permission, nanos, quota_refusal, webhook_reason,
        NANO,
    };
    use crate::AppError;
    use kube::core::Status;

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
    fn quota_refusals_read_like_wukongs_own() {
        let message = "virtualmachines.kubevirt.io \"b\" is forbidden: exceeded quota: \
                       wukong-quota, requested: count/virtualmachines.kubevirt.io=1, used: \
                       count/virtualmachines.kubevirt.io=3, limited: \
                       count/virtualmachines.kubevirt.io=3";
        assert_eq!(
            quota_refusal(message, "project wukong-ml-lab").as_deref(),
            Some("VMs: 1 requested, 0 of 3 free in project wukong-ml-lab")
        );
        let pod = "pods \"virt-launcher-b-x2bcd\" is forbidden: exceeded quota: wukong-quota, \
                   requested: requests.cpu=206m,requests.memory=2498056448, used: \
                   requests.cpu=1,requests.memory=14Gi, limited: requests.cpu=1200m,requests.memory=16Gi";
        assert_eq!(
            quota_refusal(pod, "project ml-lab").as_deref(),
            Some(
                "vCPUs: 0.21 requested, 0.2 of 1.2 free in project ml-lab; memory: 2382.34 MiB \
                 requested, 2048 of 16384 MiB free in project ml-lab"
            )
        );
        let other = "exceeded quota: q, requested: limits.memory=2Gi,requests.storage=10837Mi, \
                     used: limits.memory=15Gi,requests.storage=0, limited: \
                     limits.memory=16Gi,requests.storage=10Gi";
        assert_eq!(
            quota_refusal(other, "this project").as_deref(),
            Some(
                "limits.memory: 2147483648 requested, 1073741824 of 17179869184 free in this \
                 project; disk: 10.59 GiB requested, 10 of 10 GiB free in this project"
            )
        );
        assert_eq!(
            quota_refusal("User \"x\" cannot create resource", "p"),
            None
        );
    }

    #[test]
    fn a_quota_not_yet_counted_asks_to_try_again() {
        let status = Status::failure(
            "virtualmachines.kubevirt.io \"b\" is forbidden: status unknown for quota: \
             wukong-quota, resources: count/virtualmachines.kubevirt.io",
            "Forbidden",
        )
        .with_code(403);
        assert_eq!(
            from_admission(&status, "VM \"b\"", Some("team-a")),
            Some(AppError::Conflict {
                message: "The cluster is still counting the project's quota, so VM \"b\" was \
                          not created. Try again in a moment."
                    .to_owned()
            })
        );
        let exceeded = Status::failure(
            "exceeded quota: q, requested: count/virtualmachines.kubevirt.io=1, used: \
             count/virtualmachines.kubevirt.io=2, limited: count/virtualmachines.kubevirt.io=2",
            "Forbidden",
        );
        assert_eq!(
            from_admission(&exceeded, "VM \"b\"", None),
            Some(AppError::QuotaExceeded {
                message: "VMs: 1 requested, 0 of 2 free in this project".to_owned()
            })
        );
    }

    #[test]
    fn quantities_are_read_in_billionths() {
        assert_eq!(nanos("206m"), Some(206_000_000));
        assert_eq!(nanos("1.5"), Some(1_500_000_000));
        assert_eq!(nanos("2Mi"), Some((2 * NANO) << 20));
        assert_eq!(nanos("1e3"), Some(1_000 * NANO));
        assert_eq!(nanos("700.0000000000001m"), Some(700_000_001));
        assert_eq!(nanos("lots"), None);
    }
}
