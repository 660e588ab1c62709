//! Who may sign up through a provider: the provider must be open to new users, the
//! verified email must be in one of its allowed domains (when it lists any), and the
//! identity must carry its required claim value (when it names one). The policy applies to
//! creating accounts only; identities already linked keep signing in.

use super::{flow::Identity, OidcError, ProviderRow};
use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::session::Requester,
    db::{now_ms, Db},
};
use serde_json::Value;
use sqlx::{any::AnyRow, Row as _};

/// Allowed email domains a provider may list.
pub const MAX_DOMAINS: usize = 50;
/// The longest claim name and claim value an admin may give.
pub const MAX_CLAIM_NAME_CHARS: usize = 64;
pub const MAX_CLAIM_VALUE_CHARS: usize = 256;

/// Why a first sign-in was not allowed to create an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The provider does not let new users sign up.
    Closed,
    /// The email's domain is not one the provider allows.
    EmailDomain,
    /// The identity lacks the required claim value.
    Claim,
}

impl Refusal {
    /// The `?error=` code the login page explains.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Closed => "oidc_signup_closed",
            Refusal::EmailDomain => "oidc_signup_domain",
            Refusal::Claim => "oidc_signup_claim",
        }
    }

    /// The reason recorded in the audit log.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Closed => "new_users_not_allowed",
            Refusal::EmailDomain => "email_domain_not_allowed",
            Refusal::Claim => "required_claim_missing",
        }
    }
}

/// A claim (by name) that must hold a value: a string equal to it, or an array of strings
/// (such as `groups`) containing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiredClaim {
    pub name: String,
    pub value: String,
}

impl RequiredClaim {
    pub fn admit(&self, claim: Option<&Value>) -> Result<(), Refusal> {
        let wanted = |value: &Value| value.as_str() == Some(self.value.as_str());
        let found = match claim {
            Some(Value::Array(values)) => values.iter().any(wanted),
            Some(value) => wanted(value),
            None => false,
        };
        found.then_some(()).ok_or(Refusal::Claim)
    }
}

/// A provider's sign-up policy, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignUpPolicy {
    pub allow_new_users: bool,
    /// Lowercase; empty allows every domain.
    pub email_domains: Vec<String>,
    pub required_claim: Option<RequiredClaim>,
}

impl SignUpPolicy {
    pub(super) fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let name: String = row.try_get("required_claim")?;
        let value: String = row.try_get("required_claim_value")?;
        Ok(SignUpPolicy {
            allow_new_users: row.try_get::<i64, _>("allow_new_users")? == 1,
            email_domains: row
                .try_get::<String, _>("allowed_email_domains")?
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            required_claim: (!name.is_empty()).then_some(RequiredClaim { name, value }),
        })
    }

    /// The checks on the (verified, normalised) email: open to new users, allowed domain.
    pub fn admit_email(&self, email: &str) -> Result<(), Refusal> {
        if !self.allow_new_users {
            return Err(Refusal::Closed);
        }
        let domain = email.rsplit_once('@').map_or("", |(_, domain)| domain);
        if !self.email_domains.is_empty() && !self.email_domains.iter().any(|d| d == domain) {
            return Err(Refusal::EmailDomain);
        }
        Ok(())
    }
}

/// The allowed domains an admin typed (separated by commas or spaces, an `@` in front
/// allowed), lowercased; or the message saying what is wrong.
pub fn parse_domains(text: &str) -> Result<Vec<String>, String> {
    let domains: Vec<String> = text
        .split([',', ' ', '\n', '\t', ';'])
        .map(|domain| domain.trim().trim_start_matches('@').to_lowercase())
        .filter(|domain| !domain.is_empty())
        .collect();
    if domains.len() > MAX_DOMAINS {
        return Err(format!("List at most {MAX_DOMAINS} domains."));
    }
    if let Some(bad) = domains.iter().find(|domain| !is_domain(domain)) {
        return Err(format!(
            "\"{}\" is not a domain name like example.com.",
            bad.chars().take(64).collect::<String>()
        ));
    }
    Ok(domains)
}

fn is_domain(text: &str) -> bool {
    text.len() <= 253
        && text.contains('.')
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A claim name as providers spell them (`groups`, `roles`, `https://example.com/groups`).
pub fn is_claim_name(text: &str) -> bool {
    !text.is_empty()
        && text.chars().count() <= MAX_CLAIM_NAME_CHARS
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c))
}

/// Audits a first sign-in that did not get an account (LOG-01), with its reason.
pub(super) async fn record_refusal(
    db: &Db,
    requester: &Requester,
    provider: &ProviderRow,
    identity: &Identity,
    error: &OidcError,
) -> Result<(), sqlx::Error> {
    let reason = match error {
        OidcError::SignUpRefused(refusal) => refusal.reason(),
        OidcError::EmailTaken => "email_taken",
        OidcError::NoEmail => "no_verified_email",
        _ => "other",
    };
    let event = AuditEvent {
        event: "oidc_signup_refused",
        outcome: Outcome::Failure,
        severity: Severity::Warning,
        actor_user_id: None,
        actor_email: identity.email.as_deref(),
        reason: Some(reason),
        target: Some(("oidc_provider", &provider.id)),
        project: None,
        changes: None,
    };
    let mut conn = db.pool().acquire().await?;
    record(&mut conn, requester, &event, now_ms()).await
}
