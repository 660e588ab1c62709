//! Each VM request end to end: the permission check, the cluster call, the audit record.

use super::{body, cluster, detail, page};
use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::session::{Requester, Session},
    authz::{require, Permission},
    context::AppState,
    vms::{
        new_vm::NewVmForm,
        types::{DiskDisposal, VmAction, VmDetail, VmPage, VmQuery},
    },
    AppError,
};
use sqlx::Row as _;
use std::time::Duration;

/// How long a request waits for the first full list after startup.
const READY_WAIT: Duration = Duration::from_secs(10);

fn what(name: &str) -> String {
    format!("VM \"{name}\"")
}

async fn ready(state: &AppState) -> Result<(), AppError> {
    if state.live.ready(READY_WAIT).await {
        Ok(())
    } else {
        Err(AppError::ClusterUnavailable)
    }
}

pub async fn list(
    state: &AppState,
    session: &Session,
    query: &VmQuery,
) -> Result<VmPage, AppError> {
    require(&session.user, Permission::ViewVms, None, None)?;
    ready(state).await?;
    Ok(page(state.live.summaries(), query))
}

pub async fn get(
    state: &AppState,
    session: &Session,
    namespace: &str,
    name: &str,
) -> Result<VmDetail, AppError> {
    require(
        &session.user,
        Permission::ViewVms,
        Some(namespace),
        Some(&what(name)),
    )?;
    ready(state).await?;
    let vm = state
        .live
        .vm(namespace, name)
        .ok_or_else(|| AppError::NotFound { what: what(name) })?;
    Ok(detail(&state.live, &vm))
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

pub async fn act(
    state: &AppState,
    session: &Session,
    requester: &Requester,
    namespace: &str,
    name: &str,
    action: VmAction,
) -> Result<(), AppError> {
    require(
        &session.user,
        Permission::OperateVms,
        Some(namespace),
        Some(&what(name)),
    )?;
    let result = cluster::act(&state.cluster, namespace, name, action).await;
    let target = format!("{namespace}/{name}");
    audit(
        state,
        session,
        requester,
        "vm_action",
        &target,
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
    namespace: &str,
    name: &str,
    disks: DiskDisposal,
) -> Result<(), AppError> {
    require(
        &session.user,
        Permission::ManageVms,
        Some(namespace),
        Some(&what(name)),
    )?;
    let result = cluster::delete(&state.cluster, namespace, name, disks).await;
    let detail = match disks {
        DiskDisposal::Delete => "disks_deleted",
        DiskDisposal::Keep => "disks_kept",
    };
    let target = format!("{namespace}/{name}");
    audit(
        state,
        session,
        requester,
        "vm_deleted",
        &target,
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
        .find(|choice| choice.namespace == vm.namespace)
        .ok_or_else(|| field_error("namespace", "Choose one of the listed projects."))?;
    let object = body::virtual_machine(&vm, &project.project_id).map_err(AppError::internal)?;
    let result = cluster::create(&state.cluster, &object).await.map(|_| ());
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
    Ok(crate::vms::types::vm_href(&vm.namespace, &vm.name))
}
