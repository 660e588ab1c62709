//! Each VM request end to end: the permission check, the ownership gate, the cluster call,
//! the audit record. Requests naming one VM take a parsed [`VmRef`]; the permission check
//! comes first so that a caller who may not look causes no cluster call at all.

use super::{
    cluster, detail,
    ownership::{self, live_ready, Read},
    page,
};
use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::session::{Requester, Session},
    authz::{require, Permission},
    context::AppState,
    vms::{
        names::VmRef,
        new_vm::NewVmForm,
        types::{DiskDisposal, VmAction, VmDetail, VmPage, VmQuery},
    },
    AppError,
};
use sqlx::Row as _;

pub async fn list(
    state: &AppState,
    session: &Session,
    query: &VmQuery,
) -> Result<VmPage, AppError> {
    require(&session.user, Permission::ViewVms, None, None)?;
    live_ready(state).await?;
    Ok(page(state.live.summaries(), query))
}

fn require_for(session: &Session, permission: Permission, target: &VmRef) -> Result<(), AppError> {
    require(
        &session.user,
        permission,
        Some(target.namespace.as_str()),
        Some(&target.what()),
    )
}

pub async fn get(
    state: &AppState,
    session: &Session,
    target: &VmRef,
) -> Result<VmDetail, AppError> {
    require_for(session, Permission::ViewVms, target)?;
    let vm = ownership::find(state, target, Read::Store).await?;
    Ok(detail(&state.live, vm.object()))
}

/// Records what was done to the VM `namespace/name`, and whether it worked.
async fn audit(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    event: &str,
    target: &str,
    detail: Option<&str>,
    result: &Result<(), AppError>,
) -> Result<(), AppError> {
    let (outcome, severity) = match result {
        Ok(()) => (Outcome::Success, Severity::Info),
        Err(_) => (Outcome::Failure, Severity::Warning),
    };
    let mut audit_event = AuditEvent::by(&session.user, event, outcome, severity, detail);
    audit_event.target = Some(("vm", target));
    let mut conn = state.db.pool().acquire().await?;
    record(&mut conn, requester, &audit_event, crate::db::now_ms()).await?;
    Ok(())
}

/// A refusal by the ownership gate is audited as a failed attempt, like any other.
pub async fn act(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    target: &VmRef,
    action: VmAction,
) -> Result<(), AppError> {
    require_for(session, Permission::OperateVms, target)?;
    let result = match ownership::find(state, target, Read::Cluster).await {
        Ok(vm) => cluster::act(&state.cluster, &vm, action).await,
        Err(error) => Err(error),
    };
    audit(
        state,
        session,
        requester,
        "vm_action",
        &target.to_string(),
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
    target: &VmRef,
    disks: DiskDisposal,
) -> Result<(), AppError> {
    require_for(session, Permission::ManageVms, target)?;
    let result = match ownership::find(state, target, Read::Cluster).await {
        Ok(vm) => cluster::delete(&state.cluster, &vm, disks).await,
        Err(error) => Err(error),
    };
    let detail = match disks {
        DiskDisposal::Delete => "disks_deleted",
        DiskDisposal::Keep => "disks_kept",
    };
    audit(
        state,
        session,
        requester,
        "vm_deleted",
        &target.to_string(),
        Some(detail),
        &result,
    )
    .await?;
    result
}

/// A namespace a VM may be created in: one of a project's.
#[derive(Clone, Debug)]
pub struct ProjectNamespace {
    pub project_id: String,
    pub project_name: String,
    pub namespace: String,
}

/// The projects whose namespaces `session` may create VMs in.
pub async fn namespaces(
    state: &AppState,
    session: &Session,
) -> Result<Vec<ProjectNamespace>, AppError> {
    require(&session.user, Permission::ViewVms, None, None)?;
    let rows = sqlx::query("SELECT id, name, namespace FROM projects ORDER BY name, namespace")
        .fetch_all(state.db.pool())
        .await?;
    let mut choices = Vec::with_capacity(rows.len());
    for row in rows {
        let namespace: String = row.try_get("namespace")?;
        if crate::authz::allows(&session.user, Permission::ManageVms, Some(&namespace)) {
            choices.push(ProjectNamespace {
                project_id: row.try_get("id")?,
                project_name: row.try_get("name")?,
                namespace,
            });
        }
    }
    Ok(choices)
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
    require(&session.user, Permission::ManageVms, None, None)?;
    let vm = form
        .parse()
        .map_err(|errors| match errors.into_iter().next() {
            Some(error) => field_error(error.field, error.message),
            None => field_error("", "The form is incomplete."),
        })?;
    let project = namespaces(state, session)
        .await?
        .into_iter()
        .find(|choice| choice.namespace == vm.namespace.as_str())
        .ok_or_else(|| field_error("namespace", "Choose one of the listed projects."))?;
    let result = cluster::create(&state.cluster, &vm, &project.project_id)
        .await
        .map(|_| ());
    let target = format!("{}/{}", vm.namespace, vm.name);
    audit(
        state,
        session,
        requester,
        "vm_created",
        &target,
        None,
        &result,
    )
    .await?;
    result.map_err(|error| match error {
        AppError::Conflict { message } => field_error("name", message),
        other => other,
    })?;
    Ok(crate::vms::types::vm_href(
        vm.namespace.as_str(),
        vm.name.as_str(),
    ))
}
