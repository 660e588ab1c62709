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
    /// Set when MFA is required for everyone and this user has not set it up: nothing else
    /// works until they do.
    pub mfa_enrolment_required: bool,
}

/// What a correct password leads to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginStep {
    /// Signed in.
    SignedIn(CurrentUser),
    /// The account has MFA: a code is owed before the sign-in is complete.
    MfaRequired,
}

/// The signed-in user's second factor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaStatus {
    pub enabled: bool,
    /// Unused backup codes.
    pub backup_codes_left: u32,
    /// The admin setting "MFA required for everyone".
    pub required_for_everyone: bool,
}

/// What an authenticator app needs to start producing codes, shown once during set-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpEnrolment {
    /// Base32, for typing into the app.
    pub secret: String,
    /// The `otpauth://` Key URI.
    pub otpauth_uri: String,
    /// The Key URI as a QR code, an SVG document rendered by the server.
    pub qr_svg: String,
}

/// Single-use backup codes, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCodes {
    pub codes: Vec<String>,
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

/// A user as admins see them in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub is_disabled: bool,
    /// Locked after too many failed attempts, until an admin unlocks it.
    pub is_locked: bool,
    pub mfa_enabled: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the latest activity of any session, if there ever was one.
    pub last_active_at: Option<i64>,
}

/// One page of the admin user list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPage {
    pub users: Vec<UserSummary>,
    /// Users matching the search, on all pages.
    pub total: u64,
    /// Zero-based.
    pub page: u32,
    pub page_size: u32,
}

/// A user just created, with the generated first password when there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedUser {
    pub user: UserSummary,
    pub password: Option<String>,
}

/// One of the signed-in user's sessions, as the account page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub id: String,
    /// Browser and operating system read from the user agent, e.g. "Firefox on Linux".
    pub device: String,
    pub ip: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub last_active_at: i64,
    /// The session this request came with.
    pub is_current: bool,
}
