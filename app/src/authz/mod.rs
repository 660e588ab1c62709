//! Who may do what. The permission matrix below is the one place that says which project
//! role may do which action; the server decides every request with it (`server`), and the
//! pages use the same table only to leave out what the server would refuse anyway.

use serde::{Deserialize, Serialize};
use std::fmt;

#[cfg(feature = "ssr")]
pub mod server;

/// A member's role in a project, from least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    Viewer,
    Operator,
    Admin,
    Owner,
}

impl ProjectRole {
    pub const ALL: [ProjectRole; 4] = [
        ProjectRole::Viewer,
        ProjectRole::Operator,
        ProjectRole::Admin,
        ProjectRole::Owner,
    ];

    /// The name stored in `project_members.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectRole::Viewer => "viewer",
            ProjectRole::Operator => "operator",
            ProjectRole::Admin => "admin",
            ProjectRole::Owner => "owner",
        }
    }

    pub fn parse(text: &str) -> Option<ProjectRole> {
        ProjectRole::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
    }

    /// The role as people read it.
    pub fn label(self) -> &'static str {
        match self {
            ProjectRole::Viewer => "Viewer",
            ProjectRole::Operator => "Operator",
            ProjectRole::Admin => "Admin",
            ProjectRole::Owner => "Owner",
        }
    }
}

impl fmt::Display for ProjectRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Something a request does inside a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// See the project, its VMs, snapshots, quota, usage and audit log.
    View,
    /// Start, stop, restart, pause and unpause VMs.
    OperateVms,
    /// Open a VM's console.
    UseConsole,
    /// Create and delete VMs and snapshots, restore snapshots.
    ManageVms,
    /// Add, remove and change the role of members who are not owners.
    ManageMembers,
    /// Rename the project and change its description.
    EditProject,
    /// Make, demote and remove owners.
    ManageOwners,
    /// Delete the project with everything in it.
    DeleteProject,
}

/// The least role that may do each action (`design.md`, Tenancy and authorization). Global
/// admins may do everything everywhere.
pub const MATRIX: [(Action, ProjectRole); 8] = [
    (Action::View, ProjectRole::Viewer),
    (Action::OperateVms, ProjectRole::Operator),
    (Action::UseConsole, ProjectRole::Operator),
    (Action::ManageVms, ProjectRole::Operator),
    (Action::ManageMembers, ProjectRole::Admin),
    (Action::EditProject, ProjectRole::Admin),
    (Action::ManageOwners, ProjectRole::Owner),
    (Action::DeleteProject, ProjectRole::Owner),
];

/// Where a user stands in one project: a member with a role, or a global admin who is not
/// a member (and may still do everything).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub role: Option<ProjectRole>,
    pub global_admin: bool,
}

impl Standing {
    /// Whether this standing allows `action`, by [`MATRIX`].
    pub fn may(self, action: Action) -> bool {
        if self.global_admin {
            return true;
        }
        let Some(role) = self.role else {
            return false;
        };
        MATRIX
            .iter()
            .find(|(listed, _)| *listed == action)
            .is_some_and(|(_, least)| role >= *least)
    }
}
