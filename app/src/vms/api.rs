//! The VM server functions: thin wrappers over `server::requests`. Names arrive as text and
//! are parsed here, after the session check: a malformed one answers 404 (see
//! `VmRef::from_request`); the create form reports its fields with 422.

use super::{
    new_vm::NewVmForm,
    types::{DiskDisposal, VmAction, VmDetail, VmPage, VmQuery},
};
use crate::AppError;
use leptos::{prelude::*, server_fn};
use serde::{Deserialize, Serialize};

/// A project namespace offered by the create form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceChoice {
    pub namespace: String,
    pub project_name: String,
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
    namespace: String,
    name: String,
    #[server(default)] pushed: bool,
) -> Result<VmDetail, AppError> {
    use crate::context::{not_user_activity, require_session, respond, state};
    if pushed {
        not_user_activity();
    }
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let target = super::names::VmRef::from_request(&namespace, &name).map_err(respond)?;
    super::server::requests::get(&state, &session, &target)
        .await
        .map_err(respond)
}

#[server(endpoint = "vms/action", input = server_fn::codec::Json)]
pub async fn run_vm_action(
    namespace: String,
    name: String,
    action: VmAction,
) -> Result<(), AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let target = super::names::VmRef::from_request(&namespace, &name).map_err(respond)?;
    super::server::requests::act(&state, &session, &requester(), &target, action)
        .await
        .map_err(respond)
}

#[server(endpoint = "vms/delete", input = server_fn::codec::Json)]
pub async fn delete_vm(
    namespace: String,
    name: String,
    disks: DiskDisposal,
) -> Result<(), AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let target = super::names::VmRef::from_request(&namespace, &name).map_err(respond)?;
    super::server::requests::delete(&state, &session, &requester(), &target, disks)
        .await
        .map_err(respond)
}

/// Where the signed-in user may create VMs.
#[server(endpoint = "vms/namespaces")]
pub async fn vm_namespaces() -> Result<Vec<NamespaceChoice>, AppError> {
    use crate::context::{require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let choices = super::server::requests::namespaces(&state, &session)
        .await
        .map_err(respond)?;
    Ok(choices
        .into_iter()
        .map(|choice| NamespaceChoice {
            namespace: choice.namespace,
            project_name: choice.project_name,
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
