//! The Kubernetes side of a project: its namespace, labelled as Wukong's and the project's.

use crate::{
    cluster::Cluster,
    vms::{
        names::Namespace,
        server::{
            body::PROJECT_LABEL,
            kubevirt::{VirtualMachine, MANAGED_BY},
        },
    },
    AppError,
};
use k8s_openapi::api::core::v1::Namespace as NamespaceObject;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn labels(project_id: &str) -> serde_json::Value {
    json!({ MANAGED_BY: "wukong", PROJECT_LABEL: project_id })
}

fn what(namespace: &Namespace) -> String {
    format!("Namespace \"{namespace}\"")
}

/// Makes sure the namespace exists and carries the project's labels: creates it when it is
/// missing (a new project, or one from before namespaces were made with the project), and
/// labels it when it is not.
pub async fn ensure(
    cluster: &Cluster,
    namespace: &Namespace,
    project_id: &str,
) -> Result<(), AppError> {
    let namespaces: Api<NamespaceObject> = Api::all(cluster.client.clone());
    let what = what(namespace);
    if let Some(found) = cluster
        .call(&what, namespaces.get_opt(namespace.as_str()))
        .await?
    {
        let has = |key: &str, value: &str| {
            found
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(key))
                .is_some_and(|found| found == value)
        };
        if has(MANAGED_BY, "wukong") && has(PROJECT_LABEL, project_id) {
            return Ok(());
        }
        return label(cluster, namespace, project_id).await;
    }
    let object: NamespaceObject = serde_json::from_value(json!({
        "metadata": {"name": namespace, "labels": labels(project_id)},
    }))
    .map_err(AppError::internal)?;
    let params = PostParams::default();
    let created = namespaces.create(&params, &object);
    match cluster.call(&what, created).await {
        // A conflict means a concurrent request created it in the meantime: what we wanted.
        Ok(_) | Err(AppError::Conflict { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Adds the project's labels to an existing namespace (a merge patch keeps every other
/// label).
async fn label(cluster: &Cluster, namespace: &Namespace, project_id: &str) -> Result<(), AppError> {
    let namespaces: Api<NamespaceObject> = Api::all(cluster.client.clone());
    let patch = json!({"metadata": {"labels": labels(project_id)}});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    let patched = namespaces.patch(namespace.as_str(), &params, &patch);
    cluster.call(&what(namespace), patched).await.map(|_| ())
}

/// Whether the namespace exists.
pub async fn exists(cluster: &Cluster, namespace: &Namespace) -> Result<bool, AppError> {
    let namespaces: Api<NamespaceObject> = Api::all(cluster.client.clone());
    let found = cluster
        .call(&what(namespace), namespaces.get_opt(namespace.as_str()))
        .await?;
    Ok(found.is_some())
}

/// The names of every VM in the namespace, Wukong's or not: what deleting it deletes.
pub async fn vm_names(cluster: &Cluster, namespace: &Namespace) -> Result<Vec<String>, AppError> {
    let vms: Api<VirtualMachine> = Api::namespaced(cluster.client.clone(), namespace.as_str());
    let list = cluster
        .call(&what(namespace), vms.list(&ListParams::default()))
        .await?;
    let mut names: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|vm| vm.metadata.name)
        .collect();
    names.sort();
    Ok(names)
}

/// Adopts every VM of the namespace into the project: labels each as Wukong's and the
/// project's, with a merge patch that leaves its spec alone, so nothing is recreated or
/// restarted. Returns the names of the VMs adopted.
pub async fn adopt_vms(
    cluster: &Cluster,
    namespace: &Namespace,
    project_id: &str,
) -> Result<Vec<String>, AppError> {
    let names = vm_names(cluster, namespace).await?;
    let vms: Api<VirtualMachine> = Api::namespaced(cluster.client.clone(), namespace.as_str());
    let patch = json!({"metadata": {"labels": labels(project_id)}});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    for name in &names {
        let patched = vms.patch(name, &params, &patch);
        cluster.call(&format!("VM \"{name}\""), patched).await?;
    }
    Ok(names)
}

/// Deletes the namespace; Kubernetes deletes everything in it (VMs, their instances and
/// disks). A namespace already gone is what was wanted.
pub async fn delete(cluster: &Cluster, namespace: &Namespace) -> Result<(), AppError> {
    let namespaces: Api<NamespaceObject> = Api::all(cluster.client.clone());
    let params = DeleteParams::foreground();
    let deleted = namespaces.delete(namespace.as_str(), &params);
    match cluster.call(&what(namespace), deleted).await {
        Ok(_) | Err(AppError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}
