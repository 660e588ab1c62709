//! Reserving a VM's or a snapshot's resources against its project's quota. Every change of usage runs in a
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

/// Which reservations: VMs' or snapshots', each kind in its own table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ledger {
    Vms,
    Snapshots,
}

impl Ledger {
    fn table(self) -> &'static str {
        match self {
            Ledger::Vms => "vm_reservations",
            Ledger::Snapshots => "snapshot_reservations",
        }
    }

    fn name_column(self) -> &'static str {
        match self {
            Ledger::Vms => "vm_name",
            Ledger::Snapshots => "snapshot_name",
        }
    }

    /// The amounts a row stores; the count is one per row.
    fn stored(self) -> &'static [Resource] {
        match self {
            Ledger::Vms => &[Resource::Vcpus, Resource::MemoryMib, Resource::DiskGib],
            Ledger::Snapshots => &[Resource::SnapshotGib],
        }
    }

    fn counted(self) -> Resource {
        match self {
            Ledger::Vms => Resource::VmCount,
            Ledger::Snapshots => Resource::SnapshotCount,
        }
    }

    /// What audit records call a reserved object: `vm` or `snapshot`.
    pub fn kind(self) -> &'static str {
        match self {
            Ledger::Vms => "vm",
            Ledger::Snapshots => "snapshot",
        }
    }

    /// What a row holds, as the columns of [`amounts`].
    fn select(self) -> String {
        let column = |resource: Resource| match resource {
            r if self.stored().contains(&r) => r.key().to_owned(),
            r if r == self.counted() => format!("1 AS {}", r.key()),
            r => format!("0 AS {}", r.key()),
        };
        Resource::ALL.map(column).join(", ")
    }

    /// Every reservation of the project `$1`: `name`, the amounts of [`amounts`] and the
    /// flags.
    pub(super) fn select_all(self) -> String {
        format!(
            "SELECT {} AS name, {}, confirmed, deleting, changed_at FROM {} WHERE project_id = $1",
            self.name_column(),
            self.select(),
            self.table()
        )
    }

    /// What one object of this kind holds, from its stored amounts.
    pub fn one(self, stored: &Amounts) -> Amounts {
        let mut amounts = Amounts::default();
        for resource in self.stored() {
            amounts.set(*resource, stored.get(*resource));
        }
        amounts.set(self.counted(), 1);
        amounts
    }
}

/// What the object `name` holds, as reserved.
pub(super) async fn reservation(
    tx: &mut Tx,
    ledger: Ledger,
    project_id: &str,
    name: &str,
) -> Result<Option<Amounts>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {} FROM {} WHERE project_id = $1 AND {} = $2",
        ledger.select(),
        ledger.table(),
        ledger.name_column()
    ))
    .bind(project_id)
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| amounts(&row, "")).transpose()
}

/// Writes the reservation of `name` as `held`, `confirmed` or not, replacing any.
async fn write_reservation(
    tx: &mut Tx,
    ledger: Ledger,
    project_id: &str,
    name: &str,
    held: &Amounts,
    confirmed: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    let stored = ledger.stored();
    let columns: Vec<&str> = stored.iter().map(|r| r.key()).collect();
    let values: Vec<String> = (0..stored.len()).map(|i| format!("${}", i + 5)).collect();
    let updates: Vec<String> = columns
        .iter()
        .zip(&values)
        .map(|(column, value)| format!("{column} = {value}"))
        .collect();
    let sql = format!(
        "INSERT INTO {table} (project_id, {name_column}, {columns}, created_at, confirmed, \
         deleting, changed_at) VALUES ($1, $2, {values}, $3, $4, 0, $3) \
         ON CONFLICT (project_id, {name_column}) DO UPDATE SET {updates}, confirmed = $4, \
         changed_at = $3",
        table = ledger.table(),
        name_column = ledger.name_column(),
        columns = columns.join(", "),
        values = values.join(", "),
        updates = updates.join(", "),
    );
    let mut query = sqlx::query(&sql)
        .bind(project_id)
        .bind(name)
        .bind(now)
        .bind(i64::from(confirmed));
    for resource in stored {
        query = query.bind(held.get(*resource));
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Reserves `demand` (one object's) for the object `name` of `project`, or refuses with the
/// resource that has no room. An object of that name that is reserved already (it exists,
/// or another create of it is under way) is a conflict.
pub async fn reserve(
    db: &Db,
    ledger: Ledger,
    project: &ProjectRow,
    name: &str,
    demand: &Amounts,
) -> Result<(), AppError> {
    let mut tx = lock_usage(db, &project.id).await?;
    if reservation(&mut tx, ledger, &project.id, name)
        .await?
        .is_some()
    {
        let what = match ledger {
            Ledger::Vms => "A VM",
            Ledger::Snapshots => "A snapshot",
        };
        return Err(AppError::Conflict {
            message: format!("{what} named \"{name}\" already exists in this project."),
        });
    }
    if let Some(message) = refusal(&mut tx, project, demand).await? {
        return Err(AppError::QuotaExceeded { message });
    }
    let now = now_ms();
    write_reservation(&mut tx, ledger, &project.id, name, demand, false, now).await?;
    add_usage(&mut tx, &project.id, demand, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Marks the reservation of an object the cluster has created.
pub async fn confirm(
    db: &Db,
    ledger: Ledger,
    project_id: &str,
    name: &str,
) -> Result<(), AppError> {
    mark(db, ledger, "confirmed", project_id, name).await
}

/// Marks the reservation of an object whose delete the cluster accepted; the reconciler
/// releases it once the object is gone.
pub async fn deleting(
    db: &Db,
    ledger: Ledger,
    project_id: &str,
    name: &str,
) -> Result<(), AppError> {
    mark(db, ledger, "deleting", project_id, name).await
}

async fn mark(
    db: &Db,
    ledger: Ledger,
    flag: &str,
    project_id: &str,
    name: &str,
) -> Result<(), AppError> {
    sqlx::query(&format!(
        "UPDATE {} SET {flag} = 1, changed_at = $1 WHERE project_id = $2 AND {} = $3",
        ledger.table(),
        ledger.name_column()
    ))
    .bind(now_ms())
    .bind(project_id)
    .bind(name)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Gives back what the object `name` holds: the compensation of a create the cluster
/// refused, or the end of a deleted object.
pub async fn release(
    db: &Db,
    ledger: Ledger,
    project_id: &str,
    name: &str,
) -> Result<(), AppError> {
    let mut tx = lock_usage(db, project_id).await?;
    release_in(&mut tx, ledger, project_id, name, now_ms()).await?;
    tx.commit().await?;
    Ok(())
}

/// [`release`] inside a transaction that holds the usage row; what was released.
pub(super) async fn release_in(
    tx: &mut Tx,
    ledger: Ledger,
    project_id: &str,
    name: &str,
    now: i64,
) -> Result<Option<Amounts>, sqlx::Error> {
    let Some(held) = reservation(tx, ledger, project_id, name).await? else {
        return Ok(None);
    };
    sqlx::query(&format!(
        "DELETE FROM {} WHERE project_id = $1 AND {} = $2",
        ledger.table(),
        ledger.name_column()
    ))
    .bind(project_id)
    .bind(name)
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
    let before = reservation(&mut tx, Ledger::Vms, &project.id, vm_name).await?;
    let growth = size.plus(&before.unwrap_or_default(), -1);
    if let Some(message) = refusal(&mut tx, project, &growth).await? {
        return Err(AppError::QuotaExceeded { message });
    }
    let now = now_ms();
    set_reservation(&mut tx, Ledger::Vms, &project.id, vm_name, size, now).await?;
    add_usage(&mut tx, &project.id, &growth, now).await?;
    tx.commit().await?;
    Ok(before)
}

/// Writes the reservation of `name` as `held`, confirmed.
pub(super) async fn set_reservation(
    tx: &mut Tx,
    ledger: Ledger,
    project_id: &str,
    name: &str,
    held: &Amounts,
    now: i64,
) -> Result<(), sqlx::Error> {
    write_reservation(tx, ledger, project_id, name, held, true, now).await
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
            set_reservation(&mut tx, Ledger::Vms, project_id, vm_name, &before, now).await?;
            add_usage(&mut tx, project_id, &before.plus(size, -1), now).await?;
        }
        None => {
            release_in(&mut tx, Ledger::Vms, project_id, vm_name, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// What becomes of a reservation once the cluster accepted what it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// The object exists now: confirmed.
    Confirm,
    /// The object comes later (a clone's target VM): left unconfirmed for the reconciler,
    /// which confirms it when the object appears and releases it if it never does.
    Await,
}

/// Reserves `demand` for `name` in `ledger`, then runs `make`, the cluster call that makes
/// it; the reservation is released when the cluster refused, and settled as `settle` says
/// when it accepted. Should the database fail after the cluster call, the reconciler
/// settles it later.
pub async fn around<T>(
    db: &Db,
    ledger: Ledger,
    project: &ProjectRow,
    name: &str,
    demand: &Amounts,
    settle: Settle,
    make: impl std::future::Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    reserve(db, ledger, project, name, demand).await?;
    let made = make.await;
    let settled = match (&made, settle) {
        (Ok(_), Settle::Confirm) => confirm(db, ledger, &project.id, name).await,
        (Ok(_), Settle::Await) => Ok(()),
        (Err(_), _) => release(db, ledger, &project.id, name).await,
    };
    if let Err(error) = settled {
        tracing::warn!(%error, ?ledger, name, made = made.is_ok(), "could not settle a reservation");
    }
    made
}
