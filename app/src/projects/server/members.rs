//! Project members and their roles. Each change runs in a write transaction that re-reads
//! the roles it depends on, so two owners demoting each other at once cannot leave a
//! project without an owner; each is audited in that transaction with before and after.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::{server::session::Requester, types::CurrentUser},
    authz::{server::ProjectAccess, Action, ProjectRole, Standing},
    db::{now_ms, Db},
    projects::types::MemberSummary,
    AppError,
};
use serde_json::json;
use sqlx::Row as _;

/// Members of the project, owners first, then by email.
pub async fn list(db: &Db, access: &ProjectAccess) -> Result<Vec<MemberSummary>, AppError> {
    access.require(Action::View)?;
    let rows = sqlx::query(
        "SELECT m.user_id, u.email, u.display_name, m.role, m.created_at FROM project_members m \
         JOIN users u ON u.id = m.user_id WHERE m.project_id = $1 ORDER BY u.email",
    )
    .bind(&access.project().id)
    .fetch_all(db.pool())
    .await?;
    let mut members = Vec::with_capacity(rows.len());
    for row in rows {
        let role: String = row.try_get("role")?;
        members.push(MemberSummary {
            user_id: row.try_get("user_id")?,
            email: row.try_get("email")?,
            display_name: row.try_get("display_name")?,
            role: ProjectRole::parse(&role)
                .ok_or_else(|| AppError::internal(format!("unknown project role {role:?}")))?,
            added_ms: row.try_get("created_at")?,
        });
    }
    members.sort_by(|a, b| b.role.cmp(&a.role).then_with(|| a.email.cmp(&b.email)));
    Ok(members)
}

/// The action a change of `from` to `to` needs: anything that makes, unmakes or touches
/// an owner is for owners.
fn needed(from: Option<ProjectRole>, to: Option<ProjectRole>) -> Action {
    if from == Some(ProjectRole::Owner) || to == Some(ProjectRole::Owner) {
        Action::ManageOwners
    } else {
        Action::ManageMembers
    }
}

fn not_a_member() -> AppError {
    AppError::NotFound {
        what: "That member".to_owned(),
    }
}

fn already_a_member() -> AppError {
    AppError::Invalid {
        field: "email".to_owned(),
        message: "This user is already a member; change their role in the list.".to_owned(),
    }
}

fn last_owner() -> AppError {
    AppError::Conflict {
        message: "A project needs at least one owner: make another member owner first.".to_owned(),
    }
}

const ADDED: &str = "project_member_added";

/// One change of one membership: `to` `None` removes it.
struct Change<'a> {
    member_id: &'a str,
    to: Option<ProjectRole>,
    event: &'a str,
}

/// Applies `change` in a write transaction: checks the caller's right for it against the
/// member's role as it is now, refuses to leave the project without an owner, writes it
/// and audits it with before and after.
async fn apply(
    db: &Db,
    access: &ProjectAccess,
    user: &CurrentUser,
    requester: &Requester,
    change: Change<'_>,
    caller_check: bool,
) -> Result<(), AppError> {
    let project = &access.project().id;
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    if !db.lock_row(&mut tx, "projects", project).await? {
        return Err(AppError::NotFound {
            what: "That project".to_owned(),
        });
    }
    let from: Option<String> = sqlx::query_scalar(
        "SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2",
    )
    .bind(project)
    .bind(change.member_id)
    .fetch_optional(&mut *tx)
    .await?;
    let from = from.as_deref().and_then(ProjectRole::parse);
    if from.is_some() && change.event == ADDED {
        return Err(already_a_member());
    }
    if caller_check {
        // The caller's role as it is now, in this transaction: a role read before it may
        // have changed meanwhile (an owner demoted by another at the same moment).
        let caller: Option<String> = sqlx::query_scalar(
            "SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2",
        )
        .bind(project)
        .bind(&user.id)
        .fetch_optional(&mut *tx)
        .await?;
        let standing = Standing {
            role: caller.as_deref().and_then(ProjectRole::parse),
            global_admin: access.standing().global_admin,
        };
        if !standing.may(needed(from, change.to)) {
            return Err(AppError::Forbidden);
        }
    }
    if from == Some(ProjectRole::Owner) && change.to != Some(ProjectRole::Owner) {
        let owners: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM project_members WHERE project_id = $1 AND role = 'owner'",
        )
        .bind(project)
        .fetch_one(&mut *tx)
        .await?;
        if owners <= 1 {
            return Err(last_owner());
        }
    }
    match (from, change.to) {
        (None, Some(role)) => {
            sqlx::query(
                "INSERT INTO project_members (project_id, user_id, role, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(project)
            .bind(change.member_id)
            .bind(role.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        (Some(_), Some(role)) => {
            sqlx::query(
                "UPDATE project_members SET role = $1 WHERE project_id = $2 AND user_id = $3",
            )
            .bind(role.as_str())
            .bind(project)
            .bind(change.member_id)
            .execute(&mut *tx)
            .await?;
        }
        (Some(_), None) => {
            sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
                .bind(project)
                .bind(change.member_id)
                .execute(&mut *tx)
                .await?;
        }
        (None, None) => return Err(not_a_member()),
    }
    let changes = json!({
        "before": from.map(ProjectRole::as_str),
        "after": change.to.map(ProjectRole::as_str),
    });
    let event = AuditEvent::by(user, change.event, Outcome::Success, Severity::Info, None)
        .in_project(project, "user", change.member_id)
        .with_changes(&changes);
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds the user with `email` with `role`.
pub async fn add(
    db: &Db,
    access: &ProjectAccess,
    user: &CurrentUser,
    requester: &Requester,
    email: &str,
    role: ProjectRole,
) -> Result<String, AppError> {
    access.require(needed(None, Some(role)))?;
    let member_id = super::lifecycle::user_by_email(db, "email", email).await?;
    let already: Option<String> = sqlx::query_scalar(
        "SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2",
    )
    .bind(&access.project().id)
    .bind(&member_id)
    .fetch_optional(db.pool())
    .await?;
    if already.is_some() {
        return Err(already_a_member());
    }
    let change = Change {
        member_id: &member_id,
        to: Some(role),
        event: ADDED,
    };
    apply(db, access, user, requester, change, true).await?;
    Ok(member_id)
}

/// Gives the member `member_id` the role `role`.
pub async fn change_role(
    db: &Db,
    access: &ProjectAccess,
    user: &CurrentUser,
    requester: &Requester,
    member_id: &str,
    role: ProjectRole,
) -> Result<(), AppError> {
    access.require(Action::ManageMembers)?;
    let change = Change {
        member_id,
        to: Some(role),
        event: "project_role_changed",
    };
    apply(db, access, user, requester, change, true).await
}

/// Removes the member `member_id`; leaving is removing oneself, which any member may do.
pub async fn remove(
    db: &Db,
    access: &ProjectAccess,
    user: &CurrentUser,
    requester: &Requester,
    member_id: &str,
) -> Result<(), AppError> {
    let leaving = member_id == user.id;
    if !leaving {
        access.require(Action::ManageMembers)?;
    }
    let change = Change {
        member_id,
        to: None,
        event: if leaving {
            "project_member_left"
        } else {
            "project_member_removed"
        },
    };
    apply(db, access, user, requester, change, !leaving).await
}
