//! The permanent lock after too many failures, in the database so that it holds across
//! replicas and restarts.
//!
//! Each attempt is counted before it is checked, in one conditional `UPDATE`: of any number
//! of parallel attempts, only those that find the count below the limit go on, and the one
//! that reaches it locks the account (ending its sessions) whatever its answer, so a burst
//! can never be checked past the limit. A success resets its counter in the transaction
//! that acts on it, only while the account is not locked, and only when no other attempt
//! raced it.

use super::session::{self, Requester, Which};
use crate::audit::server::{record, AuditEvent, Outcome, Severity};
use sqlx::Row as _;

/// Consecutive failures (passwords and codes counted apart) after which an account locks
/// until an admin unlocks it: the attempt that would be the 100th is refused and locks it.
pub const LOCK_AFTER_FAILURES: i64 = 100;

/// Which failures an attempt counts toward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    Password,
    SecondFactor,
}

impl Counter {
    fn reserve_sql(self) -> &'static str {
        match self {
            Counter::Password => {
                "UPDATE users SET failed_login_count = failed_login_count + 1, \
                 locked_at = CASE WHEN failed_login_count + 1 >= $1 THEN $2 ELSE NULL END \
                 WHERE id = $3 AND locked_at IS NULL RETURNING locked_at"
            }
            Counter::SecondFactor => {
                "UPDATE users SET mfa_failed_count = mfa_failed_count + 1, \
                 locked_at = CASE WHEN mfa_failed_count + 1 >= $1 THEN $2 ELSE NULL END \
                 WHERE id = $3 AND locked_at IS NULL RETURNING locked_at"
            }
        }
    }

    fn settle_sql(self) -> &'static str {
        match self {
            Counter::Password => {
                "UPDATE users SET failed_login_count = \
                 CASE WHEN $2 = 1 THEN 0 ELSE failed_login_count END \
                 WHERE id = $1 AND locked_at IS NULL"
            }
            Counter::SecondFactor => {
                "UPDATE users SET mfa_failed_count = \
                 CASE WHEN $2 = 1 THEN 0 ELSE mfa_failed_count END \
                 WHERE id = $1 AND locked_at IS NULL"
            }
        }
    }

    fn lock_reason(self) -> &'static str {
        match self {
            Counter::Password => "too_many_failures",
            Counter::SecondFactor => "too_many_mfa_failures",
        }
    }
}

/// What counting an attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reserved {
    /// Counted; the attempt may be checked.
    Open,
    /// The account is locked (maybe by this very attempt): refuse it, whatever it says.
    Locked,
}

/// Counts an attempt on the account `user_id` before it is checked; locks the account,
/// ends its sessions and records the lock when this attempt reaches the limit.
pub async fn reserve(
    db: &crate::db::Db,
    requester: &Requester,
    user_id: &str,
    email: &str,
    counter: Counter,
    now: i64,
) -> Result<Reserved, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let row = sqlx::query(counter.reserve_sql())
        .bind(LOCK_AFTER_FAILURES)
        .bind(now)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Ok(Reserved::Locked);
    };
    if row.try_get::<Option<i64>, _>("locked_at")?.is_none() {
        tx.commit().await?;
        return Ok(Reserved::Open);
    }
    session::end_all(&mut tx, user_id, Which::All, "account_locked", now).await?;
    let event = AuditEvent {
        event: "authn_login_lock",
        outcome: Outcome::Failure,
        severity: Severity::Warning,
        actor_user_id: Some(user_id),
        actor_email: Some(email),
        reason: Some(counter.lock_reason()),
        target: None,
        project: None,
        changes: None,
    };
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(Reserved::Locked)
}

/// Settles a success inside the transaction that acts on it: false when the account has
/// locked meanwhile, and the success must be refused. The count starts over only when the
/// success was the account's only attempt in flight (`alone`): attempts racing it were
/// counted as they started and still count, so a burst that reaches the limit locks the
/// account even if a right password is among it. The statement writes either way, which
/// also takes SQLite's write lock first thing in the transaction.
pub async fn forgive(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    counter: Counter,
    alone: bool,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(counter.settle_sql())
        .bind(user_id)
        .bind(i64::from(alone))
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}
