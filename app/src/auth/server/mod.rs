//! Server side of identity: password hashing, accounts, sessions, sign-in.

pub mod account;
pub mod admin;
pub mod devices;
pub mod first_admin;
pub mod lockout;
pub mod login;
pub mod mfa;
pub mod oidc;
pub mod password;
pub mod revocation;
pub mod secrets;
pub mod session;
pub mod throttle;
pub mod totp;
pub mod users;

use crate::net::TrustedProxies;
use password::PasswordHasher;
use secrets::SecretBox;
use session::{Requester, SessionPolicy};
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
    /// Tells open sockets when their session ends.
    pub revocations: revocation::Revocations,
    /// Seals TOTP seeds and OIDC client secrets in the database.
    pub secrets: SecretBox,
    pub oidc: oidc::OidcSettings,
    /// Reverse proxies whose forwarding header names the client.
    pub trusted_proxies: TrustedProxies,
    /// Holds the first-run admin password until that admin changes it.
    pub first_admin_password: first_admin::PasswordFile,
}

impl Auth {
    /// Who sent a request that arrived from the TCP peer `peer` with `headers`: the client
    /// address as the trusted proxies report it, and the user agent.
    pub fn requester(
        &self,
        peer: Option<std::net::SocketAddr>,
        headers: &http::HeaderMap,
    ) -> Requester {
        let ip = peer.map(|peer| self.trusted_proxies.client_address(peer.ip(), headers));
        let agent = headers
            .get(http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok());
        Requester::new(ip, agent)
    }
}
