//! Resource quotas as the API server and kube-controller-manager enforce them: the
//! ResourceQuota admission plugin refuses a create that would take a namespace's usage
//! beyond a quota's `spec.hard`
//! (`staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go`,
//! `checkRequest`), and the quota controller writes each quota's `status.hard` and
//! `status.used` when what it counts changes (`pkg/controller/resourcequota/
//! resource_quota_controller.go`, `syncResourceQuota`). A quota created or changed gets its
//! status in the same write rather than in a second one from the controller.
//!
//! What an object is charged: one `count/<resource>` for every object; a pod its requests
//! and limits as the pod evaluator counts them (`pkg/quota/v1/evaluator/core/pods.go`,
//! `podComputeUsageHelper`), summed as `PodRequests` sums them
//! (`staging/src/k8s.io/component-helpers/resource/helpers.go`): the containers, the
//! restartable init containers (sidecars) with them, each other init container with the
//! sidecars started before it, and the pod's larger of the two, plus its overhead.
//!
//! Here admission reads the usage from the stored objects under the store's lock, so
//! concurrent creates cannot both take the last room; the written status follows it.

use super::{
    api::{Failure, Target},
    quantity::{self, Format},
    store::{Key, Store},
    writes, Sim,
};
use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Amounts by resource name, each in billionths with the format of its first summand.
type Usage = BTreeMap<String, (i128, Format)>;

fn add(into: &mut Usage, name: &str, amount: (i128, Format)) {
    into.entry(name.to_owned())
        .and_modify(|sum| sum.0 += amount.0)
        .or_insert(amount);
}

fn add_all(into: &mut Usage, other: &Usage) {
    for (name, amount) in other {
        add(into, name, *amount);
    }
}

fn max_into(into: &mut Usage, other: &Usage) {
    for (name, amount) in other {
        match into.get(name) {
            Some(have) if have.0 >= amount.0 => {}
            _ => {
                into.insert(name.clone(), *amount);
            }
        }
    }
}

/// The quantities of a `resources.requests` or `resources.limits` list.
fn list(value: Option<&Value>) -> Usage {
    value
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(name, text)| Some((name.clone(), quantity::parse(text.as_str()?)?)))
        .collect()
}

/// `PodRequests` (or `PodLimits`, for `field` "limits") of `pod`.
fn pod_resources(pod: &Value, field: &str) -> Usage {
    let containers = |which: &str| {
        pod.pointer(&format!("/spec/{which}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let of = |container: &Value| list(container.pointer(&format!("/resources/{field}")));
    let mut sum = Usage::new();
    for container in containers("containers") {
        add_all(&mut sum, &of(&container));
    }
    let mut sidecars = Usage::new();
    let mut init_peak = Usage::new();
    for container in containers("initContainers") {
        let own = of(&container);
        let need = if container["restartPolicy"] == "Always" {
            add_all(&mut sum, &own);
            add_all(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut need = own;
            add_all(&mut need, &sidecars);
            need
        };
        max_into(&mut init_peak, &need);
    }
    max_into(&mut sum, &init_peak);
    if field == "requests" {
        add_all(&mut sum, &list(pod.pointer("/spec/overhead")));
    }
    sum
}

/// What `object` of `resource` (its id, `pods` or `virtualmachines.kubevirt.io`) charges.
fn usage(resource: &str, object: &Value) -> Usage {
    let one = (1_000_000_000, Format::Decimal);
    let mut usage = Usage::from([(format!("count/{resource}"), one)]);
    let phase = object
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if resource != "pods" {
        return usage;
    }
    if matches!(phase, "Succeeded" | "Failed") {
        return Usage::new();
    }
    add(&mut usage, "pods", one);
    for (field, prefix) in [("requests", "requests."), ("limits", "limits.")] {
        for (name, amount) in pod_resources(object, field) {
            add(&mut usage, &format!("{prefix}{name}"), amount);
            // The unprefixed names are the requests' older spelling.
            if field == "requests"
                && matches!(name.as_str(), "cpu" | "memory" | "ephemeral-storage")
            {
                add(&mut usage, &name, amount);
            }
        }
    }
    usage
}

/// What every object in `namespace` is charged together.
fn used(store: &Store, namespace: &str) -> Usage {
    let mut total = Usage::new();
    let inside: Vec<&Key> = store
        .keys()
        .filter(|key| key.namespace == namespace)
        .collect();
    for key in inside {
        if let Some(object) = store.get(key) {
            add_all(&mut total, &usage(&key.resource, object));
        }
    }
    total
}

fn hard_of(quota: &Value) -> Usage {
    list(quota.pointer("/spec/hard"))
}

/// `prettyPrint`: `name=value` by name, joined by commas.
fn pretty(usage: &Usage) -> String {
    usage
        .iter()
        .map(|(name, (amount, format))| format!("{name}={}", quantity::format(*amount, *format)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Refuses the create of `object` (named `name`) in `target`'s namespace if a quota there
/// has no room for it, with the plugin's 403 and message.
pub(super) fn admit(
    store: &Store,
    target: &Target,
    name: &str,
    object: &Value,
) -> Result<(), Failure> {
    let Some(namespace) = &target.namespace else {
        return Ok(());
    };
    let id = target.resource.id();
    let demand = usage(&id, object);
    let quotas: Vec<(String, Usage)> = store
        .list("resourcequotas", Some(namespace))
        .map(|(key, quota)| (key.name.clone(), hard_of(quota)))
        .collect();
    if quotas
        .iter()
        .all(|(_, hard)| demand.keys().all(|name| !hard.contains_key(name)))
    {
        return Ok(());
    }
    let used = used(store, namespace);
    for (quota, hard) in quotas {
        let exceeded: Vec<&String> = demand
            .iter()
            .filter_map(|(name, asked)| {
                let limit = hard.get(name)?;
                let have = used.get(name).map_or(0, |used| used.0);
                (have + asked.0 > limit.0).then_some(name)
            })
            .collect();
        if exceeded.is_empty() {
            continue;
        }
        let masked = |usage: &Usage| -> Usage {
            exceeded
                .iter()
                .map(|name| {
                    let amount = usage.get(*name).copied().unwrap_or((0, Format::Decimal));
                    ((*name).clone(), amount)
                })
                .collect()
        };
        let mut failure = Failure::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{id} \"{name}\" is forbidden: exceeded quota: {quota}, requested: {}, used: {}, \
                 limited: {}",
                pretty(&masked(&demand)),
                pretty(&masked(&used)),
                pretty(&masked(&hard)),
            ),
        );
        failure.details =
            json!({"name": name, "group": target.resource.group, "kind": target.resource.plural});
        return Err(failure);
    }
    Ok(())
}

/// `quota` (in `namespace`) with the status the quota controller gives it: `status.hard`
/// from the spec and `status.used` of each resource it limits. A quota written through the
/// API gets it in the same write, as if the controller had already synced it.
pub(super) fn with_status(store: &Store, namespace: &str, quota: &mut Value) {
    quota["status"] = status(quota, &used(store, namespace));
}

fn status(quota: &Value, used: &Usage) -> Value {
    let hard = quota.pointer("/spec/hard").cloned().unwrap_or(json!({}));
    let counted: Map<String, Value> = hard_of(quota)
        .into_iter()
        .map(|(name, (_, format))| {
            let (amount, format) = used.get(&name).copied().unwrap_or((0, format));
            (name, Value::String(quantity::format(amount, format)))
        })
        .collect();
    json!({"hard": hard, "used": counted})
}

/// The quota controller's sync of every quota in `namespace` after what it counts changed,
/// written where the status changed.
pub(super) fn recount(sim: &Sim, namespace: &str) {
    let Ok(mut store) = writes::lock(sim) else {
        return;
    };
    let used = used(&store, namespace);
    let quotas: Vec<(Key, Value)> = store
        .list("resourcequotas", Some(namespace))
        .map(|(key, quota)| (key.clone(), quota.clone()))
        .collect();
    for (key, mut quota) in quotas {
        let status = status(&quota, &used);
        if quota.get("status") == Some(&status) {
            continue;
        }
        let version = store.bump();
        quota["status"] = status;
        quota["metadata"]["resourceVersion"] = Value::String(version.to_string());
        if let Err(error) = store.put(key, quota) {
            tracing::warn!(%error, "simulated quota controller: cannot write a quota's status");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::usage;
    use crate::quantity::{self, Format};
    use serde_json::json;

    fn amount(usage: &super::Usage, name: &str) -> String {
        let (nanos, format) = usage.get(name).copied().unwrap_or((0, Format::Decimal));
        quantity::format(nanos, format)
    }

    /// `PodRequests`: containers and sidecars add up; an init container needs its own
    /// requests plus the sidecars started before it; the pod is charged the larger.
    #[test]
    fn a_pod_is_charged_its_containers_sidecars_and_largest_init_need() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "1m", "memory": "1M"}}},
            ],
            "initContainers": [
                {"name": "log", "restartPolicy": "Always",
                    "resources": {"requests": {"cpu": "5m", "memory": "35M"}}},
                {"name": "big", "resources": {"requests": {"cpu": "2", "memory": "10M"}}},
            ],
        }});
        let charged = usage("pods", &pod);
        // CPU: the init container's 2 cores with the 5m sidecar beat 206m.
        assert_eq!(amount(&charged, "requests.cpu"), "2005m");
        assert_eq!(amount(&charged, "cpu"), "2005m");
        // Memory: 1Gi + 1M + 35M beats 10M + 35M; the sum keeps the first's binary format.
        assert_eq!(amount(&charged, "requests.memory"), "1109741824");
        assert_eq!(amount(&charged, "pods"), "1");
        assert_eq!(amount(&charged, "count/pods"), "1");
        let ended = json!({"spec": pod["spec"], "status": {"phase": "Succeeded"}});
        assert!(usage("pods", &ended).is_empty());
        let vm = usage("virtualmachines.kubevirt.io", &json!({}));
        assert_eq!(amount(&vm, "count/virtualmachines.kubevirt.io"), "1");
    }
}
