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

/// Where to go after signing in: `next` when it is a path on this site, else the dashboard.
/// Refuses absolute and scheme-relative URLs (`//host`, `/\host`), which would send the
/// user to another site.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\") =>
        {
            path
        }
        _ => "/",
    }
}
