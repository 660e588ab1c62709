//! Providers as admins manage them: the connection and who may sign up through each.

use super::{
    admission::{self, RequiredClaim, SignUpPolicy},
    discover, secret_context,
};
use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::{
        server::{account::invalid, admin::Operator, session::Requester, Auth},
        types::{OidcProviderForm, OidcProviderSummary},
    },
    authz::server::AdminCap,
    db::{now_ms, Db},
    AppError,
};
use sqlx::{any::AnyRow, Row as _};

fn summary(row: &AnyRow) -> Result<OidcProviderSummary, sqlx::Error> {
    let sign_up = SignUpPolicy::from_row(row)?;
    let (required_claim, required_claim_value) = sign_up
        .required_claim
        .map(|claim| (claim.name, claim.value))
        .unwrap_or_default();
    Ok(OidcProviderSummary {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        issuer_url: row.try_get("issuer_url")?,
        client_id: row.try_get("client_id")?,
        scopes: row.try_get("scopes")?,
        is_enabled: row.try_get::<i64, _>("is_enabled")? == 1,
        allow_new_users: sign_up.allow_new_users,
        allowed_email_domains: sign_up.email_domains.join(", "),
        required_claim,
        required_claim_value,
    })
}

/// Every provider, for the admin page.
pub async fn list(db: &Db, _admin: &AdminCap) -> Result<Vec<OidcProviderSummary>, AppError> {
    let rows = sqlx::query(
        "SELECT id, name, issuer_url, client_id, scopes, is_enabled, allow_new_users, \
         allowed_email_domains, required_claim, required_claim_value FROM oidc_providers \
         ORDER BY name",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(summary)
        .collect::<Result<_, sqlx::Error>>()?)
}

/// The sign-up policy the admin asked for, or what is wrong with it.
fn sign_up_policy(input: &OidcProviderForm) -> Result<SignUpPolicy, AppError> {
    let email_domains = admission::parse_domains(&input.allowed_email_domains)
        .map_err(|message| invalid("allowed_email_domains", &message))?;
    let name = input.required_claim.trim();
    let value = input.required_claim_value.trim();
    let required_claim = match (name.is_empty(), value.is_empty()) {
        (true, true) => None,
        (false, false) if !admission::is_claim_name(name) => {
            return Err(invalid(
                "required_claim",
                &format!(
                    "Enter a claim name like groups: at most {} letters, digits and _-.:/",
                    admission::MAX_CLAIM_NAME_CHARS
                ),
            ))
        }
        (false, false) if value.chars().count() > admission::MAX_CLAIM_VALUE_CHARS => {
            return Err(invalid(
                "required_claim_value",
                &format!(
                    "The value is too long: at most {} characters.",
                    admission::MAX_CLAIM_VALUE_CHARS
                ),
            ))
        }
        (false, false) => Some(RequiredClaim {
            name: name.to_owned(),
            value: value.to_owned(),
        }),
        (true, false) => {
            return Err(invalid(
                "required_claim",
                "Name the claim that must hold this value, like groups.",
            ))
        }
        (false, true) => {
            return Err(invalid(
                "required_claim_value",
                "Enter the value the claim must hold, like wukong-users.",
            ))
        }
    };
    Ok(SignUpPolicy {
        allow_new_users: input.allow_new_users.is_some(),
        email_domains,
        required_claim,
    })
}

/// Adds or updates a provider after checking that its discovery document can be read and
/// names the same issuer; an empty secret on an existing provider keeps the stored one.
pub async fn save(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    operator: Operator<'_>,
    input: OidcProviderForm,
) -> Result<OidcProviderSummary, AppError> {
    let is_enabled = input.is_enabled.is_some();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(invalid(
            "name",
            "Give the provider a name of 1 to 60 characters.",
        ));
    }
    let issuer_url = input.issuer_url.trim().trim_end_matches('/').to_owned();
    let url_ok = issuer_url.starts_with("https://") || issuer_url.starts_with("http://");
    if !url_ok || issuer_url.contains(['?', '#', ' ']) {
        return Err(invalid(
            "issuer_url",
            "Enter the issuer URL, like https://login.example.com/realms/main.",
        ));
    }
    if input.client_id.trim().is_empty() {
        return Err(invalid(
            "client_id",
            "Enter the client id the provider issued.",
        ));
    }
    let sign_up = sign_up_policy(&input)?;
    let scopes = match input.scopes.split_whitespace().collect::<Vec<_>>() {
        scopes if scopes.is_empty() => "openid email profile".to_owned(),
        scopes if scopes.contains(&"openid") => scopes.join(" "),
        scopes => format!("openid {}", scopes.join(" ")),
    };
    if is_enabled {
        let metadata = discover(&auth.oidc, &issuer_url).await.map_err(|error| {
            invalid(
                "issuer_url",
                &format!("Wukong could not read this provider's discovery document ({error})."),
            )
        })?;
        if metadata.issuer().as_str().trim_end_matches('/') != issuer_url {
            return Err(invalid(
                "issuer_url",
                &format!(
                    "The provider calls itself {}; use exactly that URL.",
                    metadata.issuer().as_str()
                ),
            ));
        }
    }
    let id = input
        .id
        .clone()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let is_new = input.id.as_deref().is_none_or(str::is_empty);
    let secret = input.client_secret.trim();
    if is_new && secret.is_empty() {
        return Err(invalid(
            "client_secret",
            "Enter the client secret the provider issued.",
        ));
    }
    let sealed = if secret.is_empty() {
        None
    } else {
        Some(
            auth.secrets
                .seal(secret.as_bytes(), &secret_context(&id))
                .map_err(AppError::internal)?,
        )
    };
    let (required_claim, required_claim_value) = sign_up
        .required_claim
        .clone()
        .map(|claim| (claim.name, claim.value))
        .unwrap_or_default();
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let query = if is_new {
        sqlx::query(
            "INSERT INTO oidc_providers (name, issuer_url, client_id, client_secret_enc, scopes, \
             is_enabled, allow_new_users, allowed_email_domains, required_claim, \
             required_claim_value, created_at, updated_at, id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
        )
    } else {
        sqlx::query(
            "UPDATE oidc_providers SET name = $1, issuer_url = $2, client_id = $3, \
             client_secret_enc = COALESCE($4, client_secret_enc), scopes = $5, is_enabled = $6, \
             allow_new_users = $7, allowed_email_domains = $8, required_claim = $9, \
             required_claim_value = $10, updated_at = $11 WHERE id = $12",
        )
    };
    let written = query
        .bind(name)
        .bind(&issuer_url)
        .bind(input.client_id.trim())
        .bind(sealed)
        .bind(&scopes)
        .bind(i64::from(is_enabled))
        .bind(i64::from(sign_up.allow_new_users))
        .bind(sign_up.email_domains.join(" "))
        .bind(&required_claim)
        .bind(&required_claim_value)
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await;
    match written {
        Ok(done) if done.rows_affected() == 1 => {}
        Ok(_) => {
            return Err(AppError::NotFound {
                what: "That provider".to_owned(),
            })
        }
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(invalid("name", "Another provider already has this name."))
        }
        Err(error) => return Err(error.into()),
    }
    let (actor_user_id, actor_email) = match operator {
        Operator::Admin(admin) => (
            Some(admin.user().id.as_str()),
            Some(admin.user().email.as_str()),
        ),
        Operator::Cli => (None, None),
    };
    let event = AuditEvent {
        event: "oidc_provider_changed",
        outcome: Outcome::Success,
        severity: Severity::Warning,
        actor_user_id,
        actor_email,
        reason: Some(if is_new {
            "added"
        } else if is_enabled {
            "updated"
        } else {
            "disabled"
        }),
        target: Some(("oidc_provider", &id)),
        project: None,
        changes: None,
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(OidcProviderSummary {
        id,
        name: name.to_owned(),
        issuer_url,
        client_id: input.client_id.trim().to_owned(),
        scopes,
        is_enabled,
        allow_new_users: sign_up.allow_new_users,
        allowed_email_domains: sign_up.email_domains.join(", "),
        required_claim,
        required_claim_value,
    })
}
