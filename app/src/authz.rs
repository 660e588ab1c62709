//! Who may do what: every permission decision goes through [`allows`], so that project roles
//! can replace the rule here without touching a caller.
//!
//! What may be acted on is a separate question, asked for every caller, admins included:
//! `vms::server::ownership` lets requests reach only Wukong's own VMs.

use crate::{auth::types::CurrentUser, AppError};

/// What a request wants to do with the VMs of a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// See VMs and their status.
    ViewVms,
    /// Start, stop, restart, pause.
    OperateVms,
    /// Create and delete.
    ManageVms,
}

/// Whether `user` may do `permission` in `namespace` (`None`: in every namespace at once,
/// as the VM list asks).
pub fn allows(user: &CurrentUser, permission: Permission, namespace: Option<&str>) -> bool {
    // Until projects carry member roles, virtual machines are for global admins only,
    // whatever the permission and wherever the namespace.
    let _ = (permission, namespace);
    user.is_admin
}

/// `allows`, as an error: `NotFound` naming `what` when the request names one object, so
/// that nobody learns what exists where they may not look; `Forbidden` otherwise.
pub fn require(
    user: &CurrentUser,
    permission: Permission,
    namespace: Option<&str>,
    what: Option<&str>,
) -> Result<(), AppError> {
    if allows(user, permission, namespace) {
        return Ok(());
    }
    Err(match what {
        Some(what) => AppError::NotFound {
            what: what.to_owned(),
        },
        None => AppError::Forbidden,
    })
}
