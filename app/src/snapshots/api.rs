//! The snapshot server functions: thin wrappers over `server::requests`. As for VMs, a
//! project is named by its slug and objects by their names, as text: a project the caller
//! is not a member of and a malformed name both answer 404.

use super::types::{CloneSource, SnapshotList};
use crate::AppError;
use leptos::{prelude::*, server_fn};

/// The snapshots, restores and clones of the VM `vm` of the project, or of every VM of the
/// project when `vm` is empty; `pushed` marks a fetch after a pushed change, which does not
/// count as the user's activity.
#[server(endpoint = "snapshots/list")]
pub async fn list_snapshots(
    project: String,
    vm: String,
    #[server(default)] pushed: bool,
) -> Result<SnapshotList, AppError> {
    use crate::context::{not_user_activity, require_session, respond, state};
    if pushed {
        not_user_activity();
    }
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::requests::list(&state, &session, &project, &vm)
        .await
        .map_err(respond)
}

/// Takes the snapshot `snapshot` of the VM `name`, running or stopped.
#[server(endpoint = "snapshots/take", input = server_fn::codec::Json)]
pub async fn take_snapshot(
    project: String,
    name: String,
    snapshot: String,
    description: String,
) -> Result<(), AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    let request = super::server::requests::Take {
        vm: &name,
        snapshot: &snapshot,
        description: &description,
    };
    super::server::requests::take(&state, &session, &requester(), &project, request)
        .await
        .map_err(respond)
}

#[server(endpoint = "snapshots/delete", input = server_fn::codec::Json)]
pub async fn delete_snapshot(project: String, snapshot: String) -> Result<(), AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::requests::delete(&state, &session, &requester(), &project, &snapshot)
        .await
        .map_err(respond)
}

/// Restores the VM a snapshot was taken of to it; the VM must be stopped.
#[server(endpoint = "snapshots/restore", input = server_fn::codec::Json)]
pub async fn restore_snapshot(project: String, snapshot: String) -> Result<(), AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::requests::restore(&state, &session, &requester(), &project, &snapshot)
        .await
        .map_err(respond)
}

/// Clones a VM or a snapshot into the new VM `target` of the same project, checked against
/// the project's quota like a create; answers the address of the new VM's page.
#[server(endpoint = "snapshots/clone", input = server_fn::codec::Json)]
pub async fn clone_vm(
    project: String,
    source: CloneSource,
    target: String,
) -> Result<String, AppError> {
    use crate::context::{requester, require_session, respond, state};
    let state = state().map_err(respond)?;
    let session = require_session().map_err(respond)?;
    super::server::requests::clone(&state, &session, &requester(), &project, &source, &target)
        .await
        .map_err(respond)
}
