//! The one gate to a VM: Wukong reads and acts only on its own VMs, whoever asks.
//!
//! A VM is Wukong's when its namespace is its project's (table `projects`), and the VM carries
//! `app.kubernetes.io/managed-by=wukong` and `wukong.io/project=<that project's id>`. Anything
//! else in the cluster (a VM made with kubectl in a project namespace, a Wukong-labelled VM
//! in a namespace no project owns, one labelled for another project) answers 404 like a VM
//! that does not exist, and no write is sent for it (security.md AZ-02). This is not a
//! permission: `authz` decides who may act, this decides what may be acted on, for admins
//! too.

use super::{
    body::PROJECT_LABEL,
    kubevirt::{VirtualMachine, MANAGED_BY},
};
use crate::{
    authz::server::ProjectAccess, cluster::Cluster, context::AppState, vms::names::VmRef, AppError,
};
use kube::api::Api;
use std::{sync::Arc, time::Duration};

/// How long a request waits for the live stores' first full list after startup.
const READY_WAIT: Duration = Duration::from_secs(10);

/// Waits until the live stores hold a full list.
pub async fn live_ready(state: &AppState) -> Result<(), AppError> {
    if state.live.ready(READY_WAIT).await {
        Ok(())
    } else {
        Err(AppError::ClusterUnavailable)
    }
}

/// A VM the gate found to be Wukong's. Only [`claim`] makes one, so a cluster call that
/// takes it cannot be pointed at anything else.
#[derive(Clone, Debug)]
pub struct WukongVm {
    target: VmRef,
    vm: Arc<VirtualMachine>,
}

impl WukongVm {
    pub fn target(&self) -> &VmRef {
        &self.target
    }

    pub fn object(&self) -> &VirtualMachine {
        &self.vm
    }

    /// The UID of the object checked, which a delete sends as its precondition.
    pub fn uid(&self) -> Option<&str> {
        self.vm.metadata.uid.as_deref()
    }
}

/// `vm`, read as `target`, if it is Wukong's VM of the project `project_id`.
pub fn claim(target: &VmRef, project_id: &str, vm: Arc<VirtualMachine>) -> Option<WukongVm> {
    let metadata = &vm.metadata;
    let label = |key: &str| metadata.labels.as_ref()?.get(key).map(String::as_str);
    let is_target = metadata.namespace.as_deref() == Some(target.namespace.as_str())
        && metadata.name.as_deref() == Some(target.name.as_str());
    let ours = label(MANAGED_BY) == Some("wukong") && label(PROJECT_LABEL) == Some(project_id);
    (is_target && ours).then(|| WukongVm {
        target: target.clone(),
        vm,
    })
}

/// Where the gate reads the VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// The live store, for the VM page: it is read again on every change the socket reports,
    /// and the store answers without a cluster call. The watch that fills it selects
    /// Wukong's label, and the store follows relabels within a watch event.
    Store,
    /// A GET from the cluster, for writes: the check must be on the object as the cluster
    /// holds it now, not as the watch last saw it, and a delete needs its UID.
    Cluster,
}

/// The VM `target` of the cluster, if it is Wukong's VM of the project `project_id`.
pub async fn from_cluster(
    cluster: &Cluster,
    target: &VmRef,
    project_id: &str,
) -> Result<WukongVm, AppError> {
    let vms: Api<VirtualMachine> =
        Api::namespaced(cluster.client.clone(), target.namespace.as_str());
    let found = cluster
        .call(&target.what(), vms.get_opt(target.name.as_str()))
        .await?;
    found
        .and_then(|vm| claim(target, project_id, Arc::new(vm)))
        .ok_or_else(|| not_found(target))
}

fn not_found(target: &VmRef) -> AppError {
    AppError::NotFound {
        what: target.what(),
    }
}

/// The VM `target` of the project `access` was checked for, if it is Wukong's VM of that
/// project; `NotFound` otherwise, before any cluster call when the target is not in the
/// project's namespace.
pub async fn find(
    state: &AppState,
    access: &ProjectAccess,
    target: &VmRef,
    read: Read,
) -> Result<WukongVm, AppError> {
    let project = access.project();
    if target.namespace.as_str() != project.namespace {
        return Err(not_found(target));
    }
    match read {
        Read::Cluster => from_cluster(&state.cluster, target, &project.id).await,
        Read::Store => {
            live_ready(state).await?;
            state
                .live
                .vm(target.namespace.as_str(), target.name.as_str())
                .and_then(|vm| claim(target, &project.id, vm))
                .ok_or_else(|| not_found(target))
        }
    }
}
