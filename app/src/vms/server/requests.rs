//! Each VM request end to end: the permission check, the ownership gate, the cluster call,
//! the audit record. Requests name a VM by its project's slug and its name; the project is
//! checked first (404 for anyone who is not a member), so that a caller who may not look
//! causes no cluster call at all.

use super::{
    activity, cluster, detail,
    ownership::{self, live_ready, Read},
};
use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::session::{Requester, Session},
    authz::{
        server::{self as authz, ProjectAccess},
        Action,
    },
    context::AppState,
    quotas::{
        server::{
            reconcile::holding,
            reserve::{self, Ledger, Settle},
        },
        types::Amounts,
    },
    vms::{
        names::{Namespace, VmRef},
        new_vm::{NewVmForm, VmSize},
        types::{DiskDisposal, VmAction, VmDetail, VmPage, VmQuery},
    },
    AppError,
};

pub async fn list(
    state: &AppState,
    session: &Session,
    query: &VmQuery,
) -> Result<VmPage, AppError> {
    let projects = authz::projects(&state.db, &session.user, Action::View).await?;
    live_ready(state).await?;
    let shown: Vec<_> = projects
        .iter()
        .map(ProjectAccess::project)
        .filter(|project| query.project.is_empty() || project.slug == query.project)
        .collect();
    let scopes = projects
        .iter()
        .map(crate::projects::server::scope)
        .collect();
    Ok(state.live.index().page(&shown, query, scopes))
}

/// The project `project` (a slug) checked for `action`, and the VM `name` in it. A
/// malformed name answers 404 like a VM that does not exist.
pub(crate) async fn resolve(
    state: &AppState,
    session: &Session,
    project: &str,
    name: &str,
    action: Action,
) -> Result<(ProjectAccess, VmRef), AppError> {
    let access = authz::project(&state.db, &session.user, project, action).await?;
    let target = VmRef::from_request(&access.project().namespace, name)?;
    Ok((access, target))
}

pub async fn get(
    state: &AppState,
    session: &Session,
    project: &str,
    name: &str,
) -> Result<VmDetail, AppError> {
    let (access, target) = resolve(state, session, project, name, Action::View).await?;
    let vm = ownership::find(state, &access, &target, Read::Store).await?;
    let project = crate::projects::server::scope(&access);
    let mut detail = detail(&state.live, vm.object(), project);
    let disks = &detail.data_volumes;
    let read = async {
        let imports = activity::imports(&state.cluster, &target, disks).await?;
        let events = activity::events(&state.cluster, &target, disks).await?;
        Ok::<_, AppError>((imports, events))
    };
    // The page shows what the store has even when the cluster cannot say more.
    match read.await {
        Ok((imports, events)) => (detail.imports, detail.events) = (imports, events),
        Err(error) => detail.activity_error = Some(error.to_string()),
    }
    Ok(detail)
}

/// Records what was done to the VM `target` of the project `access`, and whether it
/// worked.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    access: &ProjectAccess,
    event: &str,
    target: &str,
    detail: Option<&str>,
    result: &Result<(), AppError>,
) -> Result<(), AppError> {
    let (outcome, severity) = match result {
        Ok(()) => (Outcome::Success, Severity::Info),
        Err(_) => (Outcome::Failure, Severity::Warning),
    };
    let audit_event = AuditEvent::by(&session.user, event, outcome, severity, detail).in_project(
        &access.project().id,
        "vm",
        target,
    );
    let mut conn = state.db.pool().acquire().await?;
    record(&mut conn, requester, &audit_event, crate::db::now_ms()).await?;
    Ok(())
}

/// A refusal by the ownership gate is audited as a failed attempt, like any other.
pub async fn act(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    project: &str,
    name: &str,
    action: VmAction,
) -> Result<(), AppError> {
    let (access, target) = resolve(state, session, project, name, Action::OperateVms).await?;
    let result = match ownership::find(state, &access, &target, Read::Cluster).await {
        Ok(vm) => cluster::act(&state.cluster, &vm, action).await,
        Err(error) => Err(error),
    };
    audit(
        state,
        session,
        requester,
        &access,
        "vm_action",
        target.name.as_str(),
        Some(action.label()),
        &result,
    )
    .await?;
    result
}

pub async fn delete(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    project: &str,
    name: &str,
    disks: DiskDisposal,
) -> Result<(), AppError> {
    let (access, target) = resolve(state, session, project, name, Action::ManageVms).await?;
    let result = match ownership::find(state, &access, &target, Read::Cluster).await {
        Ok(vm) => cluster::delete(&state.cluster, &vm, disks).await,
        Err(error) => Err(error),
    };
    if result.is_ok() {
        // The quota is given back when the VM is gone, which the reconciler sees.
        let project_id = &access.project().id;
        let name = target.name.as_str();
        if let Err(error) = reserve::deleting(&state.db, Ledger::Vms, project_id, name).await {
            tracing::warn!(%error, vm = %target, "could not mark the VM's reservation as deleting");
        }
    }
    let detail = match disks {
        DiskDisposal::Delete => "disks_deleted",
        DiskDisposal::Keep => "disks_kept",
    };
    audit(
        state,
        session,
        requester,
        &access,
        "vm_deleted",
        target.name.as_str(),
        Some(detail),
        &result,
    )
    .await?;
    result
}

/// The projects `session` may create VMs in.
pub async fn projects_for_create(
    state: &AppState,
    session: &Session,
) -> Result<Vec<ProjectAccess>, AppError> {
    authz::projects(&state.db, &session.user, Action::ManageVms).await
}

fn field_error(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Creates a VM from the form; returns the address of its page.
pub async fn create(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    form: &NewVmForm,
) -> Result<String, AppError> {
    let vm = form
        .parse()
        .map_err(|errors| match errors.into_iter().next() {
            Some(error) => field_error(error.field, error.message),
            None => field_error("", "The form is incomplete."),
        })?;
    // Not a member: 404, as for a project that does not exist; a viewer: 403.
    let access = authz::project(&state.db, &session.user, &vm.project, Action::ManageVms).await?;
    let namespace = Namespace::parse(&access.project().namespace).map_err(AppError::internal)?;
    let project = access.project();
    let demand = Amounts::vm(
        i64::from(vm.cpus),
        i64::try_from(vm.memory_mib).map_err(AppError::internal)?,
        i64::from(vm.disk_gib),
    );
    let make = cluster::create(&state.cluster, &vm, &namespace, &project.id);
    let result = reserve::around(
        &state.db,
        Ledger::Vms,
        project,
        vm.name.as_str(),
        &demand,
        Settle::Confirm,
        make,
    )
    .await
    .map(|_| ());
    audit(
        state,
        session,
        requester,
        &access,
        "vm_created",
        vm.name.as_str(),
        None,
        &result,
    )
    .await?;
    result.map_err(|error| match error {
        AppError::Conflict { message } => field_error("name", message),
        other => other,
    })?;
    Ok(crate::vms::types::vm_href(
        &access.project().slug,
        vm.name.as_str(),
    ))
}

/// Gives a stopped VM new vCPUs and memory: the quota is checked and the growth reserved
/// first, as for a create, and given back if the cluster refuses the change.
pub async fn resize(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    project: &str,
    name: &str,
    size: VmSize,
) -> Result<(), AppError> {
    let (access, target) = resolve(state, session, project, name, Action::ManageVms).await?;
    let result = async {
        let vm = ownership::find(state, &access, &target, Read::Cluster).await?;
        if vm.object().printable_status() != Some("Stopped") {
            return Err(AppError::Conflict {
                message: format!("{} must be stopped to change its size.", target.what()),
            });
        }
        let mut wanted = holding(vm.object());
        wanted.vcpus = i64::from(size.cpus);
        wanted.memory_mib = i64::try_from(size.memory_mib).map_err(AppError::internal)?;
        let project_id = &access.project().id;
        let before = reserve::resize(&state.db, access.project(), name, &wanted).await?;
        let resized = cluster::resize(&state.cluster, &vm, size).await;
        if resized.is_err() {
            reserve::undo_resize(&state.db, project_id, name, &wanted, before).await?;
        }
        resized
    }
    .await;
    let detail = format!("{} vCPUs, {} MiB", size.cpus, size.memory_mib);
    audit(
        state,
        session,
        requester,
        &access,
        "vm_resized",
        target.name.as_str(),
        Some(&detail),
        &result,
    )
    .await?;
    result
}
