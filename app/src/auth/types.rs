use serde::{Deserialize, Serialize};

/// The signed-in user, as the browser sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    /// Set for accounts with a generated password: nothing else works until it is changed.
    pub must_change_password: bool,
}
