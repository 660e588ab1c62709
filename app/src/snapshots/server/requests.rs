//! Each snapshot request end to end: the permission check, the ownership gates of the VM
//! and the snapshot, the quota, the cluster call, the audit record. As for VMs, the project
//! is checked first, so a caller who may not look causes no cluster call at all.

use super::{body, cluster, kinds::VirtualMachineSnapshot, summary};
use crate::{
    auth::server::session::{Requester, Session},
    authz::{
        server::{self as authz, ProjectAccess},
        Action,
    },
    context::AppState,
    db::now_ms,
    quotas::{
        server::{
            reconcile::holding,
            reserve::{self, Ledger, Settle},
        },
        types::Amounts,
    },
    snapshots::types::{CloneSource, SnapshotList, MAX_DESCRIPTION},
    vms::{
        names::{Namespace, SnapshotName, VmName, VmRef},
        server::{
            kubevirt::VirtualMachine,
            ownership::{self, Read},
            requests::{audit, resolve},
        },
        types::vm_href,
    },
    AppError,
};
use kube::api::Api;

fn namespace(access: &ProjectAccess) -> Result<Namespace, AppError> {
    Namespace::parse(&access.project().namespace).map_err(AppError::internal)
}

/// The snapshots, restores and clones of the project, or of its VM `vm` when that is not
/// empty, newest first.
pub async fn list(
    state: &AppState,
    session: &Session,
    project: &str,
    vm: &str,
) -> Result<SnapshotList, AppError> {
    let access = authz::project(&state.db, &session.user, project, Action::View).await?;
    let only = if vm.is_empty() {
        None
    } else {
        Some(VmRef::from_request(&access.project().namespace, vm)?.name)
    };
    let (namespace, id) = (&access.project().namespace, &access.project().id);
    let snapshots: Vec<VirtualMachineSnapshot> =
        cluster::list(&state.cluster, namespace, id).await?;
    let sizes = cluster::content_sizes(&state.cluster, namespace).await?;
    let (restores, clones) = cluster::restores_and_clones(&state.cluster, namespace, id).await?;
    let of_vm = |name: &str| only.as_ref().is_none_or(|only| only.as_str() == name);
    let mut list = SnapshotList {
        snapshots: snapshots
            .iter()
            .map(|snapshot| summary::snapshot(snapshot, &sizes))
            .filter(|snapshot| of_vm(&snapshot.vm))
            .collect(),
        restores: restores
            .iter()
            .map(summary::restore)
            .filter(|restore| of_vm(&restore.vm))
            .collect(),
        clones: Vec::new(),
    };
    // A VM's clones are those of the VM and of its snapshots, and the one that made it.
    list.clones = clones
        .iter()
        .map(summary::clone)
        .filter(|clone| {
            let source_here = match &clone.source {
                CloneSource::Vm(name) => of_vm(name),
                CloneSource::Snapshot(name) => list.snapshots.iter().any(|s| s.name == *name),
            };
            source_here || of_vm(&clone.target)
        })
        .collect();
    list.snapshots
        .sort_by_key(|s| std::cmp::Reverse(s.created_ms));
    list.restores
        .sort_by_key(|r| std::cmp::Reverse(r.created_ms));
    list.clones.sort_by_key(|c| std::cmp::Reverse(c.created_ms));
    Ok(list)
}

/// A snapshot request as the VM's audit log records it: the event, with the snapshot as
/// its detail; recording it answers the request's result.
struct Audited<'a> {
    event: &'a str,
    vm: &'a str,
    snapshot: &'a SnapshotName,
}

impl<'a> Audited<'a> {
    fn new(event: &'a str, vm: &'a str, snapshot: &'a SnapshotName) -> Self {
        Audited {
            event,
            vm,
            snapshot,
        }
    }

    async fn record(
        &self,
        state: &AppState,
        session: &Session,
        requester: &Requester,
        access: &ProjectAccess,
        result: Result<(), AppError>,
    ) -> Result<(), AppError> {
        let detail = format!("snapshot {}", self.snapshot);
        let (event, vm) = (self.event, self.vm);
        audit(
            state,
            session,
            requester,
            access,
            event,
            vm,
            Some(&detail),
            &result,
        )
        .await?;
        result
    }
}

/// What a take request names, as typed.
pub struct Take<'a> {
    pub vm: &'a str,
    pub snapshot: &'a str,
    pub description: &'a str,
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Takes a snapshot of a running VM (online) or a stopped one. Its count and its disks'
/// size are reserved against the project's quota before the cluster is asked, and given
/// back when the cluster refuses.
pub async fn take(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    project: &str,
    request: Take<'_>,
) -> Result<(), AppError> {
    let (access, target) = resolve(state, session, project, request.vm, Action::ManageVms).await?;
    let name = SnapshotName::parse(request.snapshot.trim())
        .map_err(|problem| invalid("snapshot", problem.to_string()))?;
    let description = request.description.trim();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(AppError::too_long(
            "description",
            "The description",
            MAX_DESCRIPTION,
        ));
    }
    let result = async {
        let vm = ownership::find(state, &access, &target, Read::Cluster).await?;
        // A snapshot holds a copy of the VM's persistent disks: its DataVolumes' requests.
        let demand = Amounts {
            snapshot_count: 1,
            snapshot_gib: holding(vm.object()).disk_gib,
            ..Amounts::default()
        };
        let project = access.project();
        let object = body::snapshot(
            &name,
            &target.name,
            description,
            &target.namespace,
            &project.id,
        )
        .map_err(AppError::internal)?;
        let what = format!("Snapshot \"{name}\"");
        let make = cluster::create(&state.cluster, &target.namespace, &what, &object);
        reserve::around(
            &state.db,
            Ledger::Snapshots,
            project,
            name.as_str(),
            &demand,
            Settle::Confirm,
            make,
        )
        .await
        .map(|_| ())
    }
    .await;
    Audited::new("snapshot_taken", target.name.as_str(), &name)
        .record(state, session, requester, &access, result)
        .await
}

/// The project `project` (a slug) checked for managing its snapshots, and its snapshot
/// `snapshot` as the cluster holds it, if it is Wukong's.
async fn managed(
    state: &AppState,
    session: &Session,
    project: &str,
    snapshot: &str,
) -> Result<(ProjectAccess, SnapshotName, VirtualMachineSnapshot), AppError> {
    let access = authz::project(&state.db, &session.user, project, Action::ManageVms).await?;
    let (name, found) = cluster::find(&state.cluster, access.project(), snapshot).await?;
    Ok((access, name, found))
}

/// Deletes a snapshot; its quota is given back once the cluster no longer has it, which the
/// reconciler sees.
pub async fn delete(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    project: &str,
    snapshot: &str,
) -> Result<(), AppError> {
    let (access, name, found) = managed(state, session, project, snapshot).await?;
    let project = access.project();
    let result = cluster::delete(&state.cluster, &project.namespace, &found).await;
    if result.is_ok() {
        if let Err(error) =
            reserve::deleting(&state.db, Ledger::Snapshots, &project.id, name.as_str()).await
        {
            tracing::warn!(%error, snapshot = %name, "could not mark the snapshot's reservation as deleting");
        }
    }
    Audited::new("snapshot_deleted", &found.spec.source.name, &name)
        .record(state, session, requester, &access, result)
        .await
}

/// Why `snapshot` cannot be restored or cloned from yet, if it cannot.
fn not_ready(name: &SnapshotName, snapshot: &VirtualMachineSnapshot) -> Option<AppError> {
    let status = snapshot.status.as_ref();
    if status.and_then(|status| status.ready_to_use) == Some(true) {
        return None;
    }
    let phase = status
        .and_then(|status| status.phase.as_deref())
        .unwrap_or("Unknown");
    let message = if phase == "Failed" {
        let why = summary::snapshot(snapshot, &Default::default())
            .error
            .map(|error| format!(": {error}"))
            .unwrap_or_default();
        format!("Snapshot \"{name}\" failed and cannot be used{why}.")
    } else {
        format!("Snapshot \"{name}\" is not ready yet (it is {phase}). Wait until it is ready.")
    };
    Some(AppError::Conflict { message })
}

/// Restores the VM a snapshot was taken of to that snapshot. The snapshot must be ready and
/// the VM stopped: both are checked here, not only on the page and by KubeVirt.
pub async fn restore(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    project: &str,
    snapshot: &str,
) -> Result<(), AppError> {
    let (access, name, found) = managed(state, session, project, snapshot).await?;
    let vm_name = found.spec.source.name.clone();
    let result = async {
        if let Some(refusal) = not_ready(&name, &found) {
            return Err(refusal);
        }
        let target = VmRef::from_request(&access.project().namespace, &vm_name)?;
        let vm = ownership::find(state, &access, &target, Read::Cluster).await?;
        if vm.object().printable_status() != Some("Stopped") {
            return Err(AppError::Conflict {
                message: format!(
                    "{} must be stopped before it is restored. Stop it first.",
                    target.what()
                ),
            });
        }
        let restore_name = format!("{name}-restore-{}", now_ms());
        let object = body::restore(
            &restore_name,
            &target.name,
            &name,
            &target.namespace,
            &access.project().id,
        )
        .map_err(AppError::internal)?;
        let what = format!("The restore of {}", target.what());
        cluster::create(&state.cluster, &target.namespace, &what, &object)
            .await
            .map(|_| ())
    }
    .await;
    Audited::new("snapshot_restored", &vm_name, &name)
        .record(state, session, requester, &access, result)
        .await
}

/// What a clone of `source` holds: the VM's, as it is now or as the snapshot kept it.
async fn clone_demand(
    state: &AppState,
    access: &ProjectAccess,
    source: &CloneSource,
) -> Result<Amounts, AppError> {
    let namespace = &access.project().namespace;
    match source {
        CloneSource::Vm(vm) => {
            let target = VmRef::from_request(namespace, vm)?;
            let vm = ownership::find(state, access, &target, Read::Cluster).await?;
            Ok(holding(vm.object()))
        }
        CloneSource::Snapshot(snapshot) => {
            let (name, found) = cluster::find(&state.cluster, access.project(), snapshot).await?;
            if let Some(refusal) = not_ready(&name, &found) {
                return Err(refusal);
            }
            let content = cluster::content(&state.cluster, namespace, &found).await?;
            let copy: Option<VirtualMachine> =
                content.and_then(|content| content.spec.source?.virtual_machine);
            copy.as_ref().map(holding).ok_or_else(|| {
                AppError::internal(format!("snapshot {name} is ready without the VM it copied"))
            })
        }
    }
}

/// Clones a VM or a snapshot into the new VM `target` of the same project. The new VM is
/// reserved against the VM quota as a create is (the same path), and stays unconfirmed until
/// KubeVirt has made it: the reconciler confirms it then, or releases it if the clone fails.
pub async fn clone(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    project: &str,
    source: &CloneSource,
    target: &str,
) -> Result<String, AppError> {
    let access = authz::project(&state.db, &session.user, project, Action::ManageVms).await?;
    let target =
        VmName::parse(target.trim()).map_err(|problem| invalid("target", problem.to_string()))?;
    let result = async {
        let demand = clone_demand(state, &access, source).await?;
        let namespace = namespace(&access)?;
        // KubeVirt would accept the clone and fail it only once it met the VM.
        let vms: Api<VirtualMachine> =
            Api::namespaced(state.cluster.client.clone(), namespace.as_str());
        let what = format!("VM \"{target}\"");
        if state
            .cluster
            .call(&what, vms.get_opt(target.as_str()))
            .await?
            .is_some()
        {
            return Err(AppError::Conflict {
                message: format!("{what} already exists. Choose another name."),
            });
        }
        let project = access.project();
        let clone_name = format!("{target}-clone-{}", now_ms());
        let object = body::clone(&clone_name, source, &target, &namespace, &project.id)
            .map_err(AppError::internal)?;
        let what = format!("The clone of {}", source.what());
        let make = cluster::create(&state.cluster, &namespace, &what, &object);
        reserve::around(
            &state.db,
            Ledger::Vms,
            project,
            target.as_str(),
            &demand,
            Settle::Await,
            make,
        )
        .await
        .map(|_| ())
    }
    .await;
    let detail = format!("from {}", source.what());
    audit(
        state,
        session,
        requester,
        &access,
        "vm_cloned",
        target.as_str(),
        Some(&detail),
        &result,
    )
    .await?;
    result?;
    Ok(vm_href(&access.project().slug, target.as_str()))
}
