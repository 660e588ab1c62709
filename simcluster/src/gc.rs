//! The garbage collector, as kube-controller-manager's deletes dependents after a
//! background deletion of their owner (`pkg/controller/garbagecollector/garbagecollector.go`,
//! `attemptToDeleteItem`): an object whose `ownerReferences` all name objects that no longer
//! exist is deleted; one that still has an owner stays. Dependents with finalizers stay
//! marked for deletion until those are removed, as any delete leaves them.
//!
//! Events expire some time after they were last seen, as the API server's `--event-ttl`
//! (one hour unless set) lets etcd drop them.

use super::{api::Target, store::Key, writes, Sim};
use serde_json::Value;
use std::{collections::HashSet, time::Duration};

/// Deletes every object whose owners are all gone.
pub(super) fn collect(sim: &Sim) {
    let orphans: Vec<Key> = {
        let Ok(store) = sim.store.lock() else {
            return;
        };
        let existing: HashSet<&str> = store
            .keys()
            .filter_map(|key| store.get(key))
            .filter_map(|object| object.pointer("/metadata/uid").and_then(Value::as_str))
            .collect();
        store
            .keys()
            .filter(|key| {
                store.get(key).is_some_and(|object| {
                    let owners = object
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .filter(|owners| !owners.is_empty());
                    owners.is_some_and(|owners| {
                        owners
                            .iter()
                            .filter_map(|owner| owner["uid"].as_str())
                            .all(|uid| !existing.contains(uid))
                    }) && !writes::is_terminating(object)
                })
            })
            .cloned()
            .collect()
    };
    delete_all(sim, orphans);
}

/// Deletes the Events last seen longer than `ttl` ago.
pub(super) fn expire_events(sim: &Sim, ttl: Duration) {
    let Ok(oldest) =
        jiff::Timestamp::now().checked_sub(jiff::SignedDuration::try_from(ttl).unwrap_or_default())
    else {
        return;
    };
    let expired: Vec<Key> = {
        let Ok(store) = sim.store.lock() else {
            return;
        };
        store
            .list("events", None)
            .filter(|(_, event)| {
                event
                    .get("lastTimestamp")
                    .and_then(Value::as_str)
                    .and_then(|time| time.parse::<jiff::Timestamp>().ok())
                    .is_some_and(|time| time < oldest)
            })
            .map(|(key, _)| key.clone())
            .collect()
    };
    delete_all(sim, expired);
}

fn delete_all(sim: &Sim, keys: Vec<Key>) {
    for key in keys {
        let Some(resource) = sim
            .resources
            .iter()
            .find(|resource| resource.id() == key.resource)
        else {
            continue;
        };
        let target = Target {
            resource: resource.clone(),
            namespace: (!key.namespace.is_empty()).then(|| key.namespace.clone()),
            name: Some(key.name.clone()),
            status: false,
        };
        if let Err(failure) = writes::delete(sim, &target, &key.name) {
            tracing::debug!(name = %key.name, message = %failure.message(), "garbage collector: cannot delete");
        }
    }
}
