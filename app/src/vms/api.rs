//! The VM server functions: thin wrappers over `server::requests`. A VM is named by its
//! project's slug and its name, as text: a project the caller is not a member of and a
//! malformed name both answer 404; the create form reports its fields with 422.

use super::{
    new_vm::NewVmForm,
    types::{DiskDisposal, VmAction, VmDetail, VmPage, VmQuery},
};
use crate::AppError;
use leptos::{prelude::*, server_fn};
use serde::{Deserialize, Serialize};

/// A project offered by the create form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectChoice {
    pub slug: String,
    pub name: String,
    /// What live events name the project's VMs by: the form's remaining room is fetched
    /// again when one of them changes.
    pub namespace: String,
}

/// One page of the VMs the user may see. `pushed` marks a fetch the page makes on its own
/// after a pushed change, which does not count as the user's activity.
#[server(endpoint = "vms/list", input = server_fn::codec::Json)]
pub async fn list_vms(query: VmQuery, #[server(default)] pushed: bool) -> Result<VmPage, AppError> {
    use crate::context::{not_user_activity, require_session, respond, state};
    if pushed {
        not_user_activity();
    }
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::requests::list(&state, &session, &query)
        .await
        .map_err(respond)
}

/// One VM's page; `pushed` as for [`list_vms`].
#[server(endpoint = "vms/get")]
pub async fn get_vm(
    project: String,
    name: String,
    #[server(default)] pushed: bool,
) -> Result<VmDetail, AppError> {
    use crate::context::{not_user_activity, require_session, respond, state};
    if pushed {
        not_user_activity();
    }
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::requests::get(&state, &session, &project, &name)
        .await
        .map_err(respond)
}

#[server(endpoint = "vms/action", input = server_fn::codec::Json)]
pub async fn run_vm_action(
    project: String,
    name: String,
    action: VmAction,
) -> Result<(), AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::requests::act(&state, &session, &requester(), &project, &name, action)
        .await
        .map_err(respond)
}

#[server(endpoint = "vms/delete", input = server_fn::codec::Json)]
pub async fn delete_vm(project: String, name: String, disks: DiskDisposal) -> Result<(), AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::requests::delete(&state, &session, &requester(), &project, &name, disks)
        .await
        .map_err(respond)
}

/// The projects the signed-in user may create VMs in.
#[server(endpoint = "vms/projects")]
pub async fn vm_projects() -> Result<Vec<ProjectChoice>, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let choices = super::server::requests::projects_for_create(&state, &session)
        .await
        .map_err(respond)?;
    Ok(choices
        .iter()
        .map(|access| ProjectChoice {
            slug: access.project().slug.clone(),
            name: access.project().name.clone(),
            namespace: access.project().namespace.clone(),
        })
        .collect())
}

/// Creates a VM; answers the address of its page.
#[server(endpoint = "vms/create", input = server_fn::codec::Json)]
pub async fn create_vm(form: NewVmForm) -> Result<String, AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::requests::create(&state, &session, &requester(), &form)
        .await
        .map_err(respond)
}

/// Changes the vCPUs and memory of a stopped VM, checked against its project's quota like a
/// create. Both numbers are text, so that a bad one becomes a field error.
#[server(endpoint = "vms/resize", input = server_fn::codec::Json)]
pub async fn resize_vm(
    project: String,
    name: String,
    cpus: String,
    memory_mib: String,
) -> Result<(), AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let size = super::new_vm::VmSize::parse(&cpus, &memory_mib).map_err(respond)?;
    super::server::requests::resize(&state, &session, &requester(), &project, &name, size)
        .await
        .map_err(respond)
}
