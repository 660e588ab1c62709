//! Account administration, shared by the admin pages and the `wukong user` commands.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::{
        server::{
            account::invalid,
            mfa,
            password::{check_new_password, PasswordHasher},
            session::{self, new_token, Requester, Which},
            users::{insert, normalize_email, NewUser},
        },
        types::{UserPage, UserSummary},
    },
    authz::server::AdminCap,
    db::{now_ms, Db},
    AppError,
};
use sqlx::{any::AnyRow, Row as _};

/// Who performs an operation: a signed-in admin (proved by the capability only
/// `authz::server::require_admin` makes), or the operator at the command line.
#[derive(Clone, Copy, Debug)]
pub enum Operator<'a> {
    Admin(&'a AdminCap),
    Cli,
}

impl<'a> Operator<'a> {
    fn event(self, name: &'a str, severity: Severity, target: &'a str) -> AuditEvent<'a> {
        let (actor_user_id, actor_email, reason) = match self {
            Operator::Admin(admin) => (
                Some(admin.user().id.as_str()),
                Some(admin.user().email.as_str()),
                None,
            ),
            Operator::Cli => (None, None, Some("command_line")),
        };
        AuditEvent {
            event: name,
            outcome: Outcome::Success,
            severity,
            actor_user_id,
            actor_email,
            reason,
            target: None,
            project: None,
            changes: None,
        }
        .on_user(target)
    }
}

/// A new account as asked for.
pub struct UserRequest {
    pub email: String,
    pub display_name: String,
    /// `None` generates a password the user must change at first sign-in.
    pub password: Option<String>,
    pub is_admin: bool,
}

/// Users per page in the admin list.
pub const PAGE_SIZE: u32 = 25;

fn check_email(email: &str) -> Result<String, AppError> {
    let email = normalize_email(email);
    let shaped = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if shaped {
        Ok(email)
    } else {
        Err(invalid(
            "email",
            "Enter an email address like name@example.com.",
        ))
    }
}

/// Creates a local account; returns it and the generated password, if one was generated.
pub async fn create_user(
    db: &Db,
    hasher: &PasswordHasher,
    requester: &Requester,
    operator: Operator<'_>,
    request: UserRequest,
) -> Result<(UserSummary, Option<String>), AppError> {
    let email = check_email(&request.email)?;
    let display_name = match request.display_name.trim() {
        "" => email.split('@').next().unwrap_or_default().to_owned(),
        name if name.chars().count() > 100 => {
            return Err(invalid("display_name", "Use at most 100 characters."))
        }
        name => name.to_owned(),
    };
    if let Some(password) = &request.password {
        check_new_password(password, &email).map_err(|error| match error {
            AppError::Invalid { message, .. } => invalid("password", &message),
            other => other,
        })?;
    }
    if user_id_by_email(db, &email).await?.is_some() {
        return Err(invalid(
            "email",
            "An account with this email already exists.",
        ));
    }
    let generated = request.password.is_none().then(|| new_token().0);
    let password = request.password.or_else(|| generated.clone());
    let hash = hasher.hash(password.unwrap_or_default()).await?;
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let new = NewUser {
        email: &email,
        display_name: &display_name,
        password_hash: Some(&hash),
        is_admin: request.is_admin,
        must_change_password: generated.is_some(),
    };
    let id = insert(&mut tx, &new, now).await.map_err(|error| {
        if is_unique_violation(&error) {
            invalid("email", "An account with this email already exists.")
        } else {
            error.into()
        }
    })?;
    let owner_name = if display_name.is_empty() {
        email.split('@').next().unwrap_or_default()
    } else {
        display_name.as_str()
    };
    crate::projects::server::create_personal(&mut tx, &id, &email, owner_name, now).await?;
    let event = operator.event("user_created", Severity::Info, &id);
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    let user = find_user(db, &id)
        .await?
        .ok_or_else(|| AppError::internal("new user not found"))?;
    Ok((user, generated))
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub async fn user_id_by_email(db: &Db, email: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(normalize_email(email))
        .fetch_optional(db.pool())
        .await?
        .map(|row| row.try_get("id"))
        .transpose()
}

const SUMMARY_COLUMNS: &str = "u.id, u.email, u.display_name, u.global_role, u.is_disabled, \
     u.locked_at, u.created_at, COALESCE(m.is_enabled, 0) AS mfa_enabled, \
     (SELECT MAX(s.last_seen_at) FROM user_sessions s WHERE s.user_id = u.id) AS last_active_at";

fn summary(row: &AnyRow) -> Result<UserSummary, sqlx::Error> {
    Ok(UserSummary {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        is_admin: row.try_get::<String, _>("global_role")? == "admin",
        is_disabled: row.try_get::<i64, _>("is_disabled")? == 1,
        is_locked: row.try_get::<Option<i64>, _>("locked_at")?.is_some(),
        mfa_enabled: row.try_get::<i64, _>("mfa_enabled")? == 1,
        created_at: row.try_get("created_at")?,
        last_active_at: row.try_get("last_active_at")?,
    })
}

pub async fn find_user(db: &Db, id: &str) -> Result<Option<UserSummary>, sqlx::Error> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM users u LEFT JOIN user_mfa_settings m ON m.user_id = u.id \
         WHERE u.id = $1"
    );
    sqlx::query(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(summary)
        .transpose()
}

/// One page of users whose email or name contains `search`, by email.
pub async fn list_users(
    db: &Db,
    _admin: &AdminCap,
    search: &str,
    page: u32,
) -> Result<UserPage, AppError> {
    let pattern = format!(
        "%{}%",
        search
            .trim()
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let filter =
        "(LOWER(u.email) LIKE $1 ESCAPE '\\' OR LOWER(u.display_name) LIKE $1 ESCAPE '\\')";
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM users u WHERE {filter}"))
        .bind(&pattern)
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM users u LEFT JOIN user_mfa_settings m ON m.user_id = u.id \
         WHERE {filter} ORDER BY u.email LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query(&sql)
        .bind(&pattern)
        .bind(i64::from(PAGE_SIZE))
        .bind(i64::from(page) * i64::from(PAGE_SIZE))
        .fetch_all(db.pool())
        .await?;
    let users = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
    Ok(UserPage {
        users,
        total: u64::try_from(total).unwrap_or_default(),
        page,
        page_size: PAGE_SIZE,
    })
}

async fn end_sessions(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    session::end_all(tx, user_id, Which::All, reason, now)
        .await
        .map(|_| ())
}

/// Fails with `NotFound` unless `user_id` exists.
async fn existing(db: &Db, user_id: &str) -> Result<UserSummary, AppError> {
    find_user(db, user_id).await?.ok_or(AppError::NotFound {
        what: "That user".to_owned(),
    })
}

/// Refuses changes that would leave no enabled admin, or an admin acting on themself in a
/// way that locks them out.
async fn guard_last_admin(
    db: &Db,
    operator: Operator<'_>,
    target: &UserSummary,
    field: &str,
) -> Result<(), AppError> {
    if let Operator::Admin(admin) = operator {
        if admin.user().id == target.id {
            return Err(invalid(field, "You cannot do this to your own account."));
        }
    }
    if !target.is_admin || target.is_disabled {
        return Ok(());
    }
    let admins: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM users WHERE global_role = 'admin' AND is_disabled = 0",
    )
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    if admins <= 1 {
        return Err(invalid(
            field,
            "This is the last admin; make someone else admin first.",
        ));
    }
    Ok(())
}

/// Disables (ending every session) or re-enables an account.
pub async fn set_disabled(
    db: &Db,
    requester: &Requester,
    operator: Operator<'_>,
    user_id: &str,
    disabled: bool,
) -> Result<UserSummary, AppError> {
    let target = existing(db, user_id).await?;
    if disabled {
        guard_last_admin(db, operator, &target, "disabled").await?;
    }
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE users SET is_disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(disabled))
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if disabled {
        end_sessions(&mut tx, user_id, "user_disabled", now).await?;
    }
    let name = if disabled {
        "user_disabled"
    } else {
        "user_enabled"
    };
    record(
        &mut tx,
        requester,
        &operator.event(name, Severity::Warning, user_id),
        now,
    )
    .await?;
    tx.commit().await?;
    existing(db, user_id).await
}

/// Lifts the lock that too many failed sign-ins put on an account.
pub async fn unlock(
    db: &Db,
    requester: &Requester,
    operator: Operator<'_>,
    user_id: &str,
) -> Result<UserSummary, AppError> {
    existing(db, user_id).await?;
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "UPDATE users SET locked_at = NULL, failed_login_count = 0, mfa_failed_count = 0, \
         updated_at = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    record(
        &mut tx,
        requester,
        &operator.event("user_unlocked", Severity::Warning, user_id),
        now,
    )
    .await?;
    tx.commit().await?;
    existing(db, user_id).await
}

/// Removes a user's second factor (a lost phone), ending their sessions.
pub async fn reset_mfa(
    db: &Db,
    requester: &Requester,
    operator: Operator<'_>,
    user_id: &str,
) -> Result<UserSummary, AppError> {
    existing(db, user_id).await?;
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    mfa::remove_factor(&mut tx, user_id).await?;
    end_sessions(&mut tx, user_id, "mfa_reset", now).await?;
    record(
        &mut tx,
        requester,
        &operator.event("mfa_reset", Severity::Warning, user_id),
        now,
    )
    .await?;
    tx.commit().await?;
    existing(db, user_id).await
}

/// Gives a user a new random password they must change at next sign-in, unlocking the
/// account and ending its sessions. Returns the password.
pub async fn reset_password(
    db: &Db,
    hasher: &PasswordHasher,
    requester: &Requester,
    operator: Operator<'_>,
    user_id: &str,
) -> Result<String, AppError> {
    existing(db, user_id).await?;
    let password = new_token().0;
    let hash = hasher.hash(password.clone()).await?;
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "UPDATE users SET password_hash = $1, must_change_password = 1, locked_at = NULL, \
         failed_login_count = 0, updated_at = $2 WHERE id = $3",
    )
    .bind(hash)
    .bind(now)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    end_sessions(&mut tx, user_id, "password_reset", now).await?;
    record(
        &mut tx,
        requester,
        &operator.event("password_reset", Severity::Warning, user_id),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(password)
}

/// Makes a user an admin or a plain user; their sessions end so the change holds at once.
pub async fn set_role(
    db: &Db,
    requester: &Requester,
    operator: Operator<'_>,
    user_id: &str,
    is_admin: bool,
) -> Result<UserSummary, AppError> {
    let target = existing(db, user_id).await?;
    if !is_admin {
        guard_last_admin(db, operator, &target, "role").await?;
    }
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE users SET global_role = $1, updated_at = $2 WHERE id = $3")
        .bind(if is_admin { "admin" } else { "user" })
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    end_sessions(&mut tx, user_id, "role_changed", now).await?;
    let event = operator
        .event("user_role_changed", Severity::Warning, user_id)
        .with_reason(if is_admin { "admin" } else { "user" });
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    existing(db, user_id).await
}
