//! VM calls to the cluster: create, lifecycle actions through KubeVirt's
//! `subresources.kubevirt.io` API, and delete.
//!
//! Every path is built from checked names (`vms::names`), and actions and deletes take a
//! [`WukongVm`], which only the ownership gate makes (security.md VAL-03, AZ-02).

use super::{body, kubevirt::VirtualMachine, ownership::WukongVm};
use crate::{
    cluster::Cluster,
    vms::{
        names::{DataVolumeName, Namespace},
        new_vm::{NewVm, VmSize},
        types::{DiskDisposal, VmAction},
    },
    AppError,
};
use kube::{
    api::{
        Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
        PostParams, Preconditions,
    },
    core::Request,
};
use serde_json::json;

/// Creates the VM `vm` in `namespace`, of the project `project_id`; a VM of that name that
/// already exists is a conflict, never overwritten.
pub async fn create(
    cluster: &Cluster,
    vm: &NewVm,
    namespace: &Namespace,
    project_id: &str,
) -> Result<VirtualMachine, AppError> {
    let object = body::virtual_machine(vm, namespace, project_id).map_err(AppError::internal)?;
    crate::projects::server::namespace::ensure(cluster, namespace, project_id).await?;
    refuse_a_kept_disk_of_the_same_name(cluster, vm, namespace).await?;
    let vms: Api<VirtualMachine> = Api::namespaced(cluster.client.clone(), namespace.as_str());
    let what = format!("VM \"{}\"", vm.name);
    let created = cluster
        .call_in(
            Some(namespace.as_str()),
            &what,
            vms.create(&PostParams::default(), &object),
        )
        .await?;
    let uid = created.metadata.uid.clone().unwrap_or_default();
    if let Some(secret) = body::cloud_init_secret(vm, project_id, &uid) {
        let secrets: Api<DynamicObject> = Api::namespaced_with(
            cluster.client.clone(),
            namespace.as_str(),
            &ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
        );
        let secret: DynamicObject = serde_json::from_value(secret).map_err(AppError::internal)?;
        let what = format!("the cloud-init Secret of VM \"{}\"", vm.name);
        if let Err(error) = cluster
            .call(&what, secrets.create(&PostParams::default(), &secret))
            .await
        {
            // Nothing half-made: a VM whose user data is missing would boot without it.
            if let Err(cleanup) = vms.delete(vm.name.as_str(), &only_uid(&uid)).await {
                tracing::warn!(vm = %vm.name, %cleanup, "could not remove a VM whose Secret failed");
            }
            return Err(error);
        }
    }
    Ok(created)
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
///
/// virt-api finds the VM (or its instance) by name again and takes no precondition
/// (`StartOptions`, `StopOptions`, `RestartOptions` have none; kubevirt/kubevirt
/// `pkg/virt-api/rest/lifecycle.go`, `fetchVirtualMachine` in
/// `pkg/virt-api/rest/subresource.go`), so the gate's GET just before this call is as
/// close as the check can get: a VM deleted and re-created unlabelled under the same name
/// within that one round trip would still receive the action.
pub async fn act(cluster: &Cluster, vm: &WukongVm, action: VmAction) -> Result<(), AppError> {
    let target = vm.target();
    let (plural, subresource, body) = action_call(action);
    let base = format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/{}/{plural}",
        target.namespace
    );
    let body = serde_json::to_vec(&body).map_err(AppError::internal)?;
    let request = Request::new(base)
        .replace_subresource(
            subresource,
            target.name.as_str(),
            &PostParams::default(),
            body,
        )
        .map_err(AppError::internal)?;
    match cluster
        .call(&target.what(), cluster.client.request_text(request))
        .await
    {
        // Pause and unpause go to the instance, which a stopped VM does not have: virt-api
        // answers 404 for it (`PauseVMIRequestHandler`, `UnpauseVMIRequestHandler` in
        // pkg/virt-api/rest/lifecycle.go), though the VM the user sees exists.
        Err(AppError::NotFound { .. }) if plural == "virtualmachineinstances" => {
            Err(AppError::Conflict {
                message: format!("{} is not running.", target.what()),
            })
        }
        answer => answer.map(|_| ()),
    }
}

/// Gives the stopped VM `vm` `size` vCPUs (as cores of one socket, the shape Wukong creates)
/// and memory. The patch carries the resourceVersion the gate read, so a VM changed in
/// between (started, say) is a conflict instead of a resize of something unchecked.
pub async fn resize(cluster: &Cluster, vm: &WukongVm, size: VmSize) -> Result<(), AppError> {
    let target = vm.target();
    let memory = format!("{}Mi", size.memory_mib);
    let patch = json!({
        "metadata": {"resourceVersion": vm.object().metadata.resource_version},
        "spec": {"template": {"spec": {"domain": {
            "cpu": {"sockets": 1, "cores": size.cpus, "threads": 1},
            "memory": {"guest": memory},
            "resources": {"requests": {"memory": memory}},
        }}}},
    });
    let vms: Api<VirtualMachine> =
        Api::namespaced(cluster.client.clone(), target.namespace.as_str());
    match cluster
        .call(
            &target.what(),
            vms.patch(
                target.name.as_str(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            ),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(AppError::Conflict { .. }) => Err(AppError::Conflict {
            message: format!(
                "{} changed while it was being resized. Nothing was changed; check that it is \
                 still stopped and try again.",
                target.what()
            ),
        }),
        Err(error) => Err(error),
    }
}

/// A disk kept from an earlier VM of the same name has the name the new VM's
/// `dataVolumeTemplates` would give its own: the new VM would meet the old disk instead of a
/// fresh import of its image. Wukong never lets that happen silently: the create is refused
/// and says what to do.
async fn refuse_a_kept_disk_of_the_same_name(
    cluster: &Cluster,
    vm: &NewVm,
    namespace: &Namespace,
) -> Result<(), AppError> {
    if !matches!(vm.image, crate::vms::new_vm::ImageSource::Url(_)) {
        return Ok(());
    }
    let disk = body::root_data_volume_name(vm.name.as_str());
    let what = format!("Disk \"{disk}\"");
    if cluster
        .call(&what, data_volumes(cluster, namespace).get_opt(&disk))
        .await?
        .is_some()
    {
        return Err(AppError::Conflict {
            message: format!(
                "A disk named \"{disk}\" is still in this project, kept when an earlier VM \
                 \"{}\" was deleted. Choose another name, or delete that disk first.",
                vm.name
            ),
        });
    }
    Ok(())
}

/// A background delete of the object with this UID only: one re-created under the same
/// name meanwhile has another UID, and the API server refuses with 409 instead.
pub(crate) fn only_uid(uid: &str) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::background()
    }
}

pub(super) fn data_volumes(cluster: &Cluster, namespace: &Namespace) -> Api<DynamicObject> {
    let kind = GroupVersionKind::gvk("cdi.kubevirt.io", "v1beta1", "DataVolume");
    let resource = ApiResource::from_gvk_with_plural(&kind, "datavolumes");
    Api::namespaced_with(cluster.client.clone(), namespace.as_str(), &resource)
}

/// Releases a DataVolume from the VM, so that deleting the VM leaves it in place.
async fn keep_data_volume(
    cluster: &Cluster,
    namespace: &Namespace,
    name: &DataVolumeName,
    vm_uid: &str,
) -> Result<(), AppError> {
    let volumes = data_volumes(cluster, namespace);
    let what = format!("Disk \"{name}\"");
    let name = name.as_str();
    // CDI writes the status of a disk being imported every few seconds, which moves its
    // resourceVersion: read again and retry a few times before calling it a conflict.
    let mut attempts = 0;
    loop {
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
        match cluster.call(&what, patched).await {
            Err(AppError::Conflict { .. }) if attempts < KEEP_ATTEMPTS => attempts += 1,
            answer => return answer.map(|_| ()),
        }
    }
}

/// How often releasing a disk is tried again after a concurrent change.
const KEEP_ATTEMPTS: u32 = 5;

/// Deletes the VM. Its DataVolumes are owned by it and go with it, unless `disks` says to
/// keep them, in which case they are released first.
///
/// The delete carries the UID of the VM the gate checked as a precondition: a VM deleted
/// and re-created under the same name in between (by anyone, labelled or not) has another
/// UID, and the API server refuses with 409 Conflict instead of deleting it (Kubernetes
/// `staging/src/k8s.io/apiserver/pkg/storage/interfaces.go` `Preconditions.Check`, turned
/// into a Conflict by `InterpretDeleteError` in `.../storage/errors/storage.go`)
/// (security.md REL-09).
pub async fn delete(cluster: &Cluster, vm: &WukongVm, disks: DiskDisposal) -> Result<(), AppError> {
    let target = vm.target();
    let what = target.what();
    let uid = vm.uid().ok_or_else(|| {
        AppError::internal(format!("{target} came from the cluster without a UID"))
    })?;
    if disks == DiskDisposal::Keep {
        for volume in vm.object().data_volume_names() {
            // The API server refuses malformed object names, so a DataVolume by such a name
            // cannot exist: there is nothing to keep.
            match DataVolumeName::parse(&volume) {
                Ok(volume) => keep_data_volume(cluster, &target.namespace, &volume, uid).await?,
                Err(problem) => {
                    tracing::warn!(vm = %target, %volume, %problem, "skipping a malformed DataVolume name")
                }
            }
        }
    }
    let vms: Api<VirtualMachine> =
        Api::namespaced(cluster.client.clone(), target.namespace.as_str());
    match cluster
        .call(&what, vms.delete(target.name.as_str(), &only_uid(uid)))
        .await
    {
        Ok(_) => Ok(()),
        // Only the UID precondition makes this delete a conflict.
        Err(AppError::Conflict { .. }) => Err(AppError::Conflict {
            message: format!(
                "{what} was replaced by a new VM of the same name while it was being deleted. \
                 Nothing was deleted; reload the page to see the new VM."
            ),
        }),
        Err(error) => Err(error),
    }
}
