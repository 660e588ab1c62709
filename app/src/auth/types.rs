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

/// A sign-in provider as the login page offers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProviderButton {
    pub id: String,
    pub name: String,
}

/// A sign-in provider as admins manage it; the client secret never leaves the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProviderSummary {
    pub id: String,
    pub name: String,
    pub issuer_url: String,
    pub client_id: String,
    pub scopes: String,
    pub is_enabled: bool,
    /// Whether a first sign-in may create an account.
    pub allow_new_users: bool,
    /// Domains new users' emails must be in, comma separated; empty allows any.
    pub allowed_email_domains: String,
    /// A claim (such as `groups`) that must hold `required_claim_value` for a new user;
    /// empty requires none.
    pub required_claim: String,
    pub required_claim_value: String,
}

/// A provider as the admin form sends it: checkboxes arrive as `on` or not at all, and the
/// sign-up fields may be left out (no limit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProviderForm {
    pub id: Option<String>,
    pub name: String,
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: String,
    pub is_enabled: Option<String>,
    pub allow_new_users: Option<String>,
    #[serde(default)]
    pub allowed_email_domains: String,
    #[serde(default)]
    pub required_claim: String,
    #[serde(default)]
    pub required_claim_value: String,
}

/// An external identity linked to the signed-in user's account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedIdentity {
    pub id: String,
    /// `None` once the provider has been removed.
    pub provider_id: Option<String>,
    pub provider_name: Option<String>,
    pub issuer: String,
    pub email: Option<String>,
    /// Unix milliseconds.
    pub linked_at: i64,
}

/// The ways the signed-in user can sign in, as the account page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInMethods {
    pub has_password: bool,
    pub identities: Vec<LinkedIdentity>,
}

/// Why an OIDC sign-in or link did not complete; the login page (or account page) shows
/// the message for the code it gets back in `?error=`.
pub fn oidc_error_message(code: &str) -> &'static str {
    match code {
        "oidc_state" => "The sign-in took too long or was started in another browser. Please try again.",
        "oidc_denied" => "The identity provider did not sign you in.",
        "oidc_unavailable" => "The identity provider could not be reached. Try again later or use another way to sign in.",
        "oidc_email_taken" => "An account with this email already exists. Sign in to it and link the provider on your account page.",
        "oidc_no_email" => "The identity provider did not share a verified email address.",
        "oidc_refused" => "This account cannot sign in. Ask an administrator.",
        "oidc_linked_elsewhere" => "That identity is already linked to another account.",
        "oidc_link_session" => "That link was started by another account or has signed out. Sign in to the account you want to link and start again from its account page.",
        "oidc_busy" => "Too many sign-ins through identity providers were started from here. Wait a minute and try again.",
        "oidc_signup_closed" => "This identity provider does not create new Wukong accounts. Ask an administrator for an account.",
        "oidc_signup_domain" => "New accounts through this identity provider are limited to certain email domains, and yours is not one of them.",
        "oidc_signup_claim" => "Your identity provider account is not in a group allowed to use Wukong. Ask an administrator.",
        _ => "The sign-in with the identity provider failed. Please try again.",
    }
}

/// The admin view of sign-in providers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProviders {
    pub providers: Vec<OidcProviderSummary>,
    /// The redirect URI to register with every provider.
    pub redirect_uri: String,
}
