//! Discovery, so that `kubectl` and other standard clients find the kinds served: the
//! legacy `/api` and `/apis` documents and one resource list per group version, as the
//! API server serves them (`staging/src/k8s.io/apiserver/pkg/endpoints/discovery/`).
//! Clients that ask for aggregated discovery first get these plain documents, which they
//! accept as the older format. `/openapi/v3` lists each group version's PATCH operations
//! with the `fieldValidation` parameter and nothing else: that is what kubectl reads to know
//! the server validates fields itself (kubectl's `apply` and `create` then send
//! `fieldValidation=Strict` instead of validating with schemas of their own;
//! `staging/src/k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go`).

use super::{Resource, Sim};
use serde_json::{json, Value};

/// `/api`: the core group's versions.
pub fn core_versions(address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]})
}

/// `/apis`: every named group, each with its one served version.
pub fn groups(sim: &Sim) -> Value {
    let mut names: Vec<(&str, &str)> = sim
        .resources
        .iter()
        .filter(|resource| !resource.group.is_empty())
        .map(|resource| (resource.group.as_str(), resource.version.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let groups: Vec<Value> = names
        .into_iter()
        .map(|(group, version)| {
            let preferred =
                json!({"groupVersion": format!("{group}/{version}"), "version": version});
            json!({"name": group, "versions": [preferred], "preferredVersion": preferred})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/api/v1` or `/apis/{group}/{version}`: the kinds of that group version, with the verbs
/// this server answers; `None` for any other path.
pub fn resource_list(sim: &Sim, path: &str) -> Option<Value> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version) = match segments.as_slice() {
        ["api", version] => ("", *version),
        ["apis", group, version] => (*group, *version),
        _ => return None,
    };
    let served: Vec<&Resource> = sim
        .resources
        .iter()
        .filter(|resource| resource.group == group && resource.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for resource in served {
        resources.push(json!({
            "name": resource.plural, "singularName": resource.kind.to_lowercase(),
            "namespaced": resource.namespaced, "kind": resource.kind,
            "verbs": ["create", "delete", "get", "list", "patch", "watch"],
            "shortNames": resource.short_names,
        }));
        if resource.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", resource.plural), "singularName": "",
                "namespaced": resource.namespaced, "kind": resource.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1",
        "groupVersion": group_version, "resources": resources}))
}

fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: where each group version's document is.
pub fn openapi_root(sim: &Sim) -> Value {
    let mut paths = serde_json::Map::new();
    for resource in &sim.resources {
        let path = group_version_path(&resource.group, &resource.version);
        let url = format!("/openapi/v3/{path}");
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// `/openapi/v3/{group version}`: the PATCH operation of each kind, tagged with its group,
/// version and kind, taking `fieldValidation`.
pub fn openapi_group_version(sim: &Sim, path: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    for resource in &sim.resources {
        if group_version_path(&resource.group, &resource.version) != path {
            continue;
        }
        let scope = if resource.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let patch = json!({"patch": {
            "x-kubernetes-group-version-kind": {"group": resource.group,
                "version": resource.version, "kind": resource.kind},
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}},
        }});
        paths.insert(
            format!("/{path}/{scope}{}/{{name}}", resource.plural),
            patch,
        );
    }
    (!paths.is_empty()).then(|| {
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.36.0"},
            "paths": paths})
    })
}
