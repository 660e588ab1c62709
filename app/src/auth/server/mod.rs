//! Server side of identity: password hashing, accounts, sessions, sign-in.

pub mod account;
pub mod admin;
pub mod devices;
pub mod login;
pub mod mfa;
pub mod oidc;
pub mod password;
pub mod secrets;
pub mod session;
pub mod throttle;
pub mod totp;
pub mod users;

use password::PasswordHasher;
use secrets::SecretBox;
use session::SessionPolicy;
use std::sync::Arc;
use throttle::LoginThrottle;

/// Identity services shared by every request.
#[derive(Clone)]
pub struct Auth {
    pub hasher: PasswordHasher,
    pub sessions: SessionPolicy,
    /// Origins (`scheme://host[:port]`) whose pages may send state-changing requests.
    pub allowed_origins: Vec<String>,
    pub throttle: Arc<LoginThrottle>,
    /// Seals TOTP seeds and OIDC client secrets in the database.
    pub secrets: SecretBox,
    pub oidc: oidc::OidcSettings,
}
