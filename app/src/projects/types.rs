use crate::authz::{Action, ProjectRole, Standing};
use serde::{Deserialize, Serialize};

/// A project the signed-in user is a member of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSummary {
    pub id: String,
    /// The URL name, `/projects/{slug}`.
    pub slug: String,
    pub name: String,
    pub description: String,
    /// A user's own default project, made with their account.
    pub is_personal: bool,
    /// Where the user stands in it.
    pub standing: Standing,
}

impl ProjectSummary {
    pub fn may(&self, action: Action) -> bool {
        self.standing.may(action)
    }

    /// The user's role as shown: their membership, or "Global admin" for an admin who is not
    /// a member.
    pub fn role_label(&self) -> &'static str {
        match self.standing.role {
            Some(role) => role.label(),
            None => "Global admin",
        }
    }
}

/// A project as the VM pages need it: where its VMs live and what the user may do there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectScope {
    pub slug: String,
    pub name: String,
    pub namespace: String,
    pub standing: Standing,
}

impl ProjectScope {
    pub fn may(&self, action: Action) -> bool {
        self.standing.may(action)
    }
}

/// A member of a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSummary {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: ProjectRole,
    /// Unix milliseconds.
    pub added_ms: i64,
}

/// A project's name and description, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectForm {
    pub name: String,
    pub description: String,
}

/// A new project, as typed: `owner_email` names the first owner (admins only; empty for
/// the creator).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProjectForm {
    pub project: ProjectForm,
    pub owner_email: String,
}

/// What deleting a project deletes, shown before the user confirms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDeletion {
    pub name: String,
    pub namespace: String,
    /// Every VM in the namespace, with its disks.
    pub vms: Vec<String>,
}

/// Who may create projects, for the projects page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectCreation {
    /// The signed-in user may create a project now.
    pub allowed: bool,
    /// The signed-in user is a global admin: names owners, adopts namespaces, changes the
    /// setting.
    pub as_admin: bool,
    /// The admin setting: users who are not admins may create projects.
    pub users_may_create: bool,
}

/// A project's card on the dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectCard {
    pub project: ProjectSummary,
    pub members: u64,
    /// How many of its VMs are in each status, most first; `None` while the cluster has not
    /// been listed yet (unreachable since the start).
    pub vms_by_status: Option<Vec<(crate::vms::types::VmStatus, u64)>>,
}
