use crate::url::hex_digit;
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

/// What a correct password leads to. The server decides where the browser goes next
/// (`landing`); the page only follows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginStep {
    /// Signed in.
    SignedIn(SignedIn),
    /// The account has MFA: a code is owed before the sign-in is complete. `landing` is the
    /// MFA step, carrying the page asked for.
    MfaRequired { landing: String },
}

/// A completed sign-in and the page to load now: an owed password change or MFA set-up,
/// else the page asked for (as [`safe_next`] lets it through).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    /// Flattened, so the user's fields stay at the top of the answer.
    #[serde(flatten)]
    pub user: CurrentUser,
    pub landing: String,
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

/// The longest `next`/`return_to` Wukong accepts, in bytes: sign-in refuses a longer one
/// with 400 before doing any work, and [`safe_next`] never lets one through.
pub const MAX_NEXT_BYTES: usize = 2048;

/// Where to go after signing in: `next` when it is a path on this site, else the dashboard
/// (CSRF-05).
///
/// An allow-list, judged by what a browser's URL parser (WHATWG) makes of the text, and of
/// the text decoded again by whatever passes it on (leptos_router 0.8's query map does:
/// see [`crate::url::query_value`]). `next` is kept only when
/// - it is at most [`MAX_NEXT_BYTES`] long and all printable ASCII (`!` to `~`) but the
///   backslash: a browser strips tabs and newlines anywhere (`/\t/evil` is `//evil` to
///   it), trims controls and spaces, maps non-ASCII, and reads `\` as `/`;
/// - it starts with exactly one `/`: no scheme (`https:`, `javascript:`, `data:`), no
///   `//host`;
/// - every `%` starts a two-hex-digit escape;
/// - its path (up to the first `?` or `#`) has no `.` or `..` segment, and escapes only
///   bytes that are themselves allowed and inert: not `/`, `\`, `%`, `.`, controls, space
///   or non-ASCII. Decoding the path again, however often, so yields a path that passes the
///   same rules and starts the same way (`/%2F%2Fevil`, `/%252F%252Fevil`, `/%09/evil`,
///   `/%2e%2e//evil` are refused);
/// - the query and fragment may escape anything: they come after the path's start, so
///   nothing they decode to can change the host (`/vms?name=a%20b` is kept).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(target) if is_local_path(target.as_bytes()) => target,
        _ => "/",
    }
}

fn is_local_path(target: &[u8]) -> bool {
    let path_end = target
        .iter()
        .position(|byte| matches!(byte, b'?' | b'#'))
        .unwrap_or(target.len());
    let (path, query_and_fragment) = target.split_at(path_end);
    target.len() <= MAX_NEXT_BYTES
        && target.iter().all(|&byte| is_plain(byte))
        && path.first() == Some(&b'/')
        && path.get(1) != Some(&b'/')
        && escapes_decode_to(path, |byte| {
            is_plain(byte) && !matches!(byte, b'/' | b'%' | b'.')
        })
        && escapes_decode_to(query_and_fragment, |_| true)
        && !path
            .split(|&byte| byte == b'/')
            .any(|segment| segment == b"." || segment == b"..")
}

/// Printable ASCII but the backslash.
fn is_plain(byte: u8) -> bool {
    matches!(byte, b'!'..=b'~') && byte != b'\\'
}

/// Whether every `%` in `text` starts a two-hex-digit escape of a byte `allowed` accepts.
fn escapes_decode_to(text: &[u8], allowed: impl Fn(u8) -> bool) -> bool {
    text.iter()
        .enumerate()
        .filter(|(_, &byte)| byte == b'%')
        .all(|(at, _)| match text.get(at + 1..at + 3) {
            Some(&[high, low]) => hex_digit(high)
                .zip(hex_digit(low))
                .is_some_and(|(high, low)| allowed(high * 16 + low)),
            _ => false,
        })
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

#[cfg(test)]
mod tests {
    use super::{safe_next, MAX_NEXT_BYTES};

    /// The targets every redirect test shares (this one, the server's URL-parser oracle and
    /// the browser test): `hostile` leave Wukong's origin in a browser, or do once decoded
    /// again, or are no plain path; `accepted` are local paths as sign-in redirects carry them.
    #[derive(serde::Deserialize)]
    struct Targets {
        hostile: Vec<String>,
        accepted: Vec<String>,
    }

    fn targets() -> Targets {
        serde_json::from_str(include_str!("redirect_targets.json")).expect("redirect targets")
    }

    /// CSRF-05: each hostile target lands on the dashboard instead.
    #[test]
    fn hostile_targets_land_on_the_dashboard() {
        let hostile = targets().hostile;
        assert!(hostile.len() >= 20, "{} hostile targets", hostile.len());
        for target in &hostile {
            assert_eq!(safe_next(Some(target)), "/", "{target:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    /// CSRF-05.
    #[test]
    fn local_paths_are_kept() {
        for target in &targets().accepted {
            assert_eq!(safe_next(Some(target)), target, "{target:?}");
        }
    }

    /// CSRF-05: a longer target is refused even when it is a plain local path.
    #[test]
    fn targets_longer_than_the_limit_land_on_the_dashboard() {
        let longest = format!("/{}", "a".repeat(MAX_NEXT_BYTES - 1));
        assert_eq!(safe_next(Some(&longest)), longest);
        let longer = format!("{longest}a");
        assert_eq!(safe_next(Some(&longer)), "/");
    }
}
