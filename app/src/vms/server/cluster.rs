//! VM calls to the cluster: create, lifecycle actions through KubeVirt's
//! `subresources.kubevirt.io` API, and delete.

use super::kubevirt::{VirtualMachine, MANAGED_BY};
use crate::{
    cluster::Cluster,
    vms::types::{DiskDisposal, VmAction},
    AppError,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    api::{
        Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
        PostParams,
    },
    core::Request,
};
use serde_json::json;

fn what(name: &str) -> String {
    format!("VM \"{name}\"")
}

/// Creates the namespace when it does not exist yet (a project's namespace is made on first
/// use), labelled as Wukong's.
async fn ensure_namespace(cluster: &Cluster, namespace: &str) -> Result<(), AppError> {
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let what = format!("Namespace \"{namespace}\"");
    if cluster
        .call(&what, namespaces.get_opt(namespace))
        .await?
        .is_some()
    {
        return Ok(());
    }
    let object: Namespace = serde_json::from_value(json!({
        "metadata": {"name": namespace, "labels": {MANAGED_BY: "wukong"}},
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

/// Creates `vm`; a VM of that name that already exists is a conflict, never overwritten.
pub async fn create(cluster: &Cluster, vm: &VirtualMachine) -> Result<VirtualMachine, AppError> {
    let namespace = vm.metadata.namespace.as_deref().unwrap_or_default();
    let name = vm.metadata.name.as_deref().unwrap_or_default();
    ensure_namespace(cluster, namespace).await?;
    let vms: Api<VirtualMachine> = Api::namespaced(cluster.client.clone(), namespace);
    cluster
        .call(&what(name), vms.create(&PostParams::default(), vm))
        .await
}

/// The subresource call for `action`: path under the namespace, subresource and body.
/// `StopOptions` names its field `gracePeriod`, `RestartOptions` `gracePeriodSeconds`.
pub fn action_call(action: VmAction) -> (&'static str, &'static str, serde_json::Value) {
    match action {
        VmAction::Start => ("virtualmachines", "start", json!({})),
        VmAction::Stop => ("virtualmachines", "stop", json!({})),
        VmAction::ForceStop => ("virtualmachines", "stop", json!({"gracePeriod": 0})),
        VmAction::Restart => ("virtualmachines", "restart", json!({})),
        VmAction::Pause => ("virtualmachineinstances", "pause", json!({})),
        VmAction::Unpause => ("virtualmachineinstances", "unpause", json!({})),
    }
}

/// Runs `action` on the VM. KubeVirt answers 202 or 200 with an empty body, so the answer
/// is read as text; refusals come back as `Status` objects.
pub async fn act(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    action: VmAction,
) -> Result<(), AppError> {
    let (plural, subresource, body) = action_call(action);
    let base = format!("/apis/subresources.kubevirt.io/v1/namespaces/{namespace}/{plural}");
    let body = serde_json::to_vec(&body).map_err(AppError::internal)?;
    let request = Request::new(base)
        .replace_subresource(subresource, name, &PostParams::default(), body)
        .map_err(AppError::internal)?;
    cluster
        .call(&what(name), cluster.client.request_text(request))
        .await
        .map(|_| ())
}

fn data_volumes(cluster: &Cluster, namespace: &str) -> Api<DynamicObject> {
    let kind = GroupVersionKind::gvk("cdi.kubevirt.io", "v1beta1", "DataVolume");
    let resource = ApiResource::from_gvk_with_plural(&kind, "datavolumes");
    Api::namespaced_with(cluster.client.clone(), namespace, &resource)
}

/// Releases a DataVolume from the VM, so that deleting the VM leaves it in place.
async fn keep_data_volume(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    vm_uid: &str,
) -> Result<(), AppError> {
    let volumes = data_volumes(cluster, namespace);
    let what = format!("Disk \"{name}\"");
    let Some(volume) = cluster.call(&what, volumes.get_opt(name)).await? else {
        return Ok(());
    };
    let owners: Vec<_> = volume
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .filter(|owner| owner.uid != vm_uid)
        .collect();
    // The resourceVersion makes a concurrent change a conflict rather than a lost update.
    let patch = json!({"metadata": {
        "ownerReferences": owners,
        "resourceVersion": volume.metadata.resource_version,
    }});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    let patched = volumes.patch(name, &params, &patch);
    cluster.call(&what, patched).await.map(|_| ())
}

/// Deletes the VM. Its DataVolumes are owned by it and go with it, unless `disks` says to
/// keep them, in which case they are released first.
pub async fn delete(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    disks: DiskDisposal,
) -> Result<(), AppError> {
    let vms: Api<VirtualMachine> = Api::namespaced(cluster.client.clone(), namespace);
    let vm = cluster.call(&what(name), vms.get(name)).await?;
    if disks == DiskDisposal::Keep {
        let uid = vm.metadata.uid.clone().unwrap_or_default();
        for volume in vm.data_volume_names() {
            keep_data_volume(cluster, namespace, &volume, &uid).await?;
        }
    }
    cluster
        .call(&what(name), vms.delete(name, &DeleteParams::background()))
        .await
        .map(|_| ())
}
