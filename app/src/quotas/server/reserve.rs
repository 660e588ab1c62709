//! Reserving a VM's resources against its project's quota. Every change of usage runs in a
//! write transaction that first locks the project's usage row (SQLite: `BEGIN IMMEDIATE`
//! holds the database; PostgreSQL: `FOR UPDATE` on `resource_usage`), reads the limits and
//! the usage, checks, and writes the reservation and the new usage before it commits; so
//! of any number of concurrent requests, exactly those that fit succeed.

use super::{amounts, usage};
use crate::{
    authz::server::ProjectRow,
    db::{now_ms, Backend, Db},
    quotas::types::{Amounts, Resource},
    AppError,
};

pub(super) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Opens a write transaction holding `project`'s usage row.
pub(super) async fn lock_usage(db: &Db, project_id: &str) -> Result<Tx, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    // A project made before quotas, or by a path that did not add it, gets its row here.
    sqlx::query(
        "INSERT INTO resource_usage (project_id, updated_at) VALUES ($1, $2) \
         ON CONFLICT (project_id) DO NOTHING",
    )
    .bind(project_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let lock = match db.backend() {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    sqlx::query(&format!(
        "SELECT project_id FROM resource_usage WHERE project_id = $1{lock}"
    ))
    .bind(project_id)
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// Adds `change` (which may be negative) to `project_id`'s usage.
pub(super) async fn add_usage(
    tx: &mut Tx,
    project_id: &str,
    change: &Amounts,
    now: i64,
) -> Result<(), sqlx::Error> {
    let sets: Vec<String> = Resource::ALL
        .into_iter()
        .map(|r| format!("{k} = {k} + {}", change.get(r), k = r.key()))
        .collect();
    sqlx::query(&format!(
        "UPDATE resource_usage SET {}, updated_at = $1 WHERE project_id = $2",
        sets.join(", ")
    ))
    .bind(now)
    .bind(project_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The refusal of `demand` in `project`, read inside the locked transaction `tx`.
async fn refusal(
    tx: &mut Tx,
    project: &ProjectRow,
    demand: &Amounts,
) -> Result<Option<String>, AppError> {
    let quota = usage::read(tx, &project.id).await?;
    Ok(quota.refusal(demand))
}

/// What a VM holds, as reserved.
pub(super) async fn reservation(
    tx: &mut Tx,
    project_id: &str,
    vm_name: &str,
) -> Result<Option<Amounts>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT vcpus, memory_mib, disk_gib, 1 AS vm_count, 0 AS snapshot_count, \
         0 AS snapshot_gib FROM vm_reservations WHERE project_id = $1 AND vm_name = $2",
    )
    .bind(project_id)
    .bind(vm_name)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| amounts(&row, "")).transpose()
}

/// Reserves `demand` (one VM's) for the VM `vm_name` of `project`, or refuses with the
/// resource that has no room. A VM of that name that is reserved already (it exists, or
/// another create of it is under way) is a conflict.
pub async fn reserve(
    db: &Db,
    project: &ProjectRow,
    vm_name: &str,
    demand: &Amounts,
) -> Result<(), AppError> {
    let mut tx = lock_usage(db, &project.id).await?;
    if reservation(&mut tx, &project.id, vm_name).await?.is_some() {
        return Err(AppError::Conflict {
            message: format!("A VM named \"{vm_name}\" already exists in this project."),
        });
    }
    if let Some(message) = refusal(&mut tx, project, demand).await? {
        return Err(AppError::QuotaExceeded { message });
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO vm_reservations (project_id, vm_name, vcpus, memory_mib, disk_gib, \
         created_at, confirmed, deleting, changed_at) VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $6)",
    )
    .bind(&project.id)
    .bind(vm_name)
    .bind(demand.vcpus)
    .bind(demand.memory_mib)
    .bind(demand.disk_gib)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    add_usage(&mut tx, &project.id, demand, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Marks the reservation of a VM the cluster has created.
pub async fn confirm(db: &Db, project_id: &str, vm_name: &str) -> Result<(), AppError> {
    mark(db, "confirmed", project_id, vm_name).await
}

/// Marks the reservation of a VM whose delete the cluster accepted; the reconciler releases
/// it once the VM is gone.
pub async fn deleting(db: &Db, project_id: &str, vm_name: &str) -> Result<(), AppError> {
    mark(db, "deleting", project_id, vm_name).await
}

async fn mark(db: &Db, flag: &str, project_id: &str, vm_name: &str) -> Result<(), AppError> {
    sqlx::query(&format!(
        "UPDATE vm_reservations SET {flag} = 1, changed_at = $1 \
         WHERE project_id = $2 AND vm_name = $3"
    ))
    .bind(now_ms())
    .bind(project_id)
    .bind(vm_name)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Gives back what the VM `vm_name` holds: the compensation of a create the cluster
/// refused, or the end of a deleted VM.
pub async fn release(db: &Db, project_id: &str, vm_name: &str) -> Result<(), AppError> {
    let mut tx = lock_usage(db, project_id).await?;
    release_in(&mut tx, project_id, vm_name, now_ms()).await?;
    tx.commit().await?;
    Ok(())
}

/// [`release`] inside a transaction that holds the usage row; what was released.
pub(super) async fn release_in(
    tx: &mut Tx,
    project_id: &str,
    vm_name: &str,
    now: i64,
) -> Result<Option<Amounts>, sqlx::Error> {
    let Some(held) = reservation(tx, project_id, vm_name).await? else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM vm_reservations WHERE project_id = $1 AND vm_name = $2")
        .bind(project_id)
        .bind(vm_name)
        .execute(&mut **tx)
        .await?;
    add_usage(tx, project_id, &Amounts::default().plus(&held, -1), now).await?;
    Ok(Some(held))
}

/// Sets the VM `vm_name`'s reservation to `size` (one VM's amounts) if the quota has room
/// for the growth; answers what it held before, so that a failed cluster change can be
/// undone with [`resize`] again. A VM the reservations do not know yet is reserved whole.
pub async fn resize(
    db: &Db,
    project: &ProjectRow,
    vm_name: &str,
    size: &Amounts,
) -> Result<Option<Amounts>, AppError> {
    let mut tx = lock_usage(db, &project.id).await?;
    let before = reservation(&mut tx, &project.id, vm_name).await?;
    let growth = size.plus(&before.unwrap_or_default(), -1);
    if let Some(message) = refusal(&mut tx, project, &growth).await? {
        return Err(AppError::QuotaExceeded { message });
    }
    let now = now_ms();
    set_reservation(&mut tx, &project.id, vm_name, size, now).await?;
    add_usage(&mut tx, &project.id, &growth, now).await?;
    tx.commit().await?;
    Ok(before)
}

/// Writes the reservation of `vm_name` as `size`, confirmed.
pub(super) async fn set_reservation(
    tx: &mut Tx,
    project_id: &str,
    vm_name: &str,
    size: &Amounts,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO vm_reservations (project_id, vm_name, vcpus, memory_mib, disk_gib, \
         created_at, confirmed, deleting, changed_at) VALUES ($1, $2, $3, $4, $5, $6, 1, 0, $6) \
         ON CONFLICT (project_id, vm_name) DO UPDATE SET vcpus = $3, memory_mib = $4, \
         disk_gib = $5, confirmed = 1, changed_at = $6",
    )
    .bind(project_id)
    .bind(vm_name)
    .bind(size.vcpus)
    .bind(size.memory_mib)
    .bind(size.disk_gib)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Puts back what [`resize`] changed, when the cluster refused the new size: `before` as
/// it answered (nothing before: the reservation goes).
pub async fn undo_resize(
    db: &Db,
    project_id: &str,
    vm_name: &str,
    size: &Amounts,
    before: Option<Amounts>,
) -> Result<(), AppError> {
    let mut tx = lock_usage(db, project_id).await?;
    let now = now_ms();
    match before {
        Some(before) => {
            set_reservation(&mut tx, project_id, vm_name, &before, now).await?;
            add_usage(&mut tx, project_id, &before.plus(size, -1), now).await?;
        }
        None => {
            release_in(&mut tx, project_id, vm_name, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
