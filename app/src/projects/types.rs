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
    /// The user's role in it: owner, admin, operator or viewer.
    pub role: String,
}
