//! Console tickets: 32 random bytes, handed to the browser once and stored only as their
//! SHA-256 (as session tokens are), bound to the user, the session, the project, the VM and
//! the kind, valid for [`TICKET_TTL_MS`] and for one use.

use super::is_running;
use crate::{
    auth::server::session::{new_token, token_hash, Session},
    authz::{server as authz, Action},
    console::types::{ConsoleKind, ConsoleTicket},
    context::AppState,
    db::{now_ms, Db},
    vms::{
        names::VmRef,
        server::ownership::{self, Read},
    },
    AppError,
};
use sqlx::Row as _;

/// How long a ticket may wait to be used: long enough for a page to open its socket.
pub const TICKET_TTL_MS: i64 = 30_000;

/// A new ticket for the `kind` console of VM `vm` of the project `project` (a slug), if
/// `session`'s user may use it and the VM runs. Expired tickets are purged on the way.
pub async fn issue(
    state: &AppState,
    session: &Session,
    project: &str,
    vm: &str,
    kind: ConsoleKind,
    take_over: bool,
) -> Result<ConsoleTicket, AppError> {
    let access = authz::project(&state.db, &session.user, project, Action::UseConsole).await?;
    let target = VmRef::from_request(&access.project().namespace, vm)?;
    ownership::find(state, &access, &target, Read::Store).await?;
    if !is_running(&state.live, &target) {
        return Err(AppError::Conflict {
            message: "The VM is not running.".to_owned(),
        });
    }
    let (ticket, hash) = new_token();
    let now = now_ms();
    let pool = state.db.pool();
    sqlx::query("DELETE FROM console_tickets WHERE expires_at <= $1")
        .bind(now)
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO console_tickets (token_hash, user_id, session_id, project_id, vm_name, \
         console_kind, created_at, expires_at, take_over) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(hash)
    .bind(&session.user.id)
    .bind(&session.id)
    .bind(&access.project().id)
    .bind(target.name.as_str())
    .bind(kind.as_str())
    .bind(now)
    .bind(now + TICKET_TTL_MS)
    .bind(i64::from(take_over))
    .execute(pool)
    .await?;
    Ok(ConsoleTicket {
        ticket,
        path: kind.path(),
    })
}

/// What a used ticket was issued for.
#[derive(Clone, Debug)]
pub struct Redeemed {
    pub user_id: String,
    pub session_id: String,
    pub project_id: String,
    pub vm_name: String,
    pub kind: ConsoleKind,
    pub take_over: bool,
}

/// Uses `ticket`: it is deleted in the same statement that reads it, so two uses cannot
/// both succeed. `None` for a ticket unknown, used or expired.
pub async fn redeem(db: &Db, ticket: &str, now: i64) -> Result<Option<Redeemed>, AppError> {
    let row = sqlx::query(
        "DELETE FROM console_tickets WHERE token_hash = $1 RETURNING user_id, session_id, \
         project_id, vm_name, console_kind, expires_at, take_over",
    )
    .bind(token_hash(ticket))
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.try_get::<i64, _>("expires_at")? <= now {
        return Ok(None);
    }
    let kind: String = row.try_get("console_kind")?;
    let kind = ConsoleKind::parse(&kind)
        .ok_or_else(|| AppError::internal(format!("unknown console kind {kind:?}")))?;
    Ok(Some(Redeemed {
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        project_id: row.try_get("project_id")?,
        vm_name: row.try_get("vm_name")?,
        kind,
        take_over: row.try_get::<i64, _>("take_over")? == 1,
    }))
}
