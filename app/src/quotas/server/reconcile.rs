//! Usage recomputed from the cluster's objects. Reservations follow what Wukong asked the
//! cluster for; the reconciler makes them follow what the cluster holds: a VM or snapshot
//! deleted or resized behind Wukong's back, one made before quotas or by hand with Wukong's
//! labels, a create whose process died before it could confirm or release, a clone whose
//! target VM never came. It runs for a project shortly after a watch event about one of its
//! VMs or snapshots, and for every project every few minutes; each correction is audited.

use super::{
    amounts, limits_json,
    reserve::{add_usage, lock_usage, release_in, set_reservation, Ledger, Tx},
};
use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::server::session::Requester,
    cluster::Cluster,
    context::AppState,
    db::now_ms,
    quotas::types::Amounts,
    vms::server::{
        body::PROJECT_LABEL,
        kubevirt::{VirtualMachine, MANAGED_BY_WUKONG},
    },
    AppError,
};
use kube::api::{Api, ListParams};
use serde_json::json;
use sqlx::Row as _;
use std::{
    collections::{BTreeMap, HashSet},
    time::Duration,
};
use tokio::sync::broadcast::error::RecvError;

/// Every project is reconciled this often, whatever the watches say.
pub const FULL_PASS_EVERY: Duration = Duration::from_secs(180);
/// A project with watch events waits this long, so that a burst costs one pass.
const SETTLE: Duration = Duration::from_secs(2);
/// A reservation never confirmed nor released (its process ended between the reservation
/// and the cluster's answer) is released after this long without its VM.
const ABANDONED_AFTER_MS: i64 = 120_000;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// What `vm` holds against the quota: vCPUs, guest memory in MiB and its DataVolumes in
/// GiB, each rounded up.
pub fn holding(vm: &VirtualMachine) -> Amounts {
    let up = |bytes: u64, unit: u64| i64::try_from(bytes.div_ceil(unit)).unwrap_or(i64::MAX);
    Amounts::vm(
        i64::from(vm.cpus()),
        up(vm.memory_bytes(), MIB),
        up(vm.disk_bytes(), GIB),
    )
}

/// Runs until the process ends: a pass over every project at start and every
/// [`FULL_PASS_EVERY`], and one for each project a VM event names, [`SETTLE`] later.
pub async fn keep_reconciling(state: AppState) {
    let mut events = state.live.subscribe();
    let mut full = tokio::time::interval(FULL_PASS_EVERY);
    let mut settle = tokio::time::interval(SETTLE);
    let mut named: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            _ = full.tick() => {
                named.clear();
                if let Err(error) = reconcile_all(&state).await {
                    tracing::warn!(%error, "could not reconcile the projects' usage");
                }
            }
            _ = settle.tick() => {
                for project_id in named.drain() {
                    if let Err(error) = reconcile(&state, &project_id).await {
                        tracing::warn!(%error, project = %project_id, "could not reconcile usage");
                    }
                }
            }
            event = events.recv() => match event {
                Ok(published) => {
                    if let Some(scope) = &published.vm {
                        if !scope.project_id.is_empty() {
                            named.insert(scope.project_id.clone());
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => full.reset_immediately(),
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// Reconciles every project and writes its quota's mirror.
pub async fn reconcile_all(state: &AppState) -> Result<(), AppError> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM projects")
        .fetch_all(state.db.pool())
        .await?;
    for id in ids {
        if let Err(error) = reconcile(state, &id).await {
            tracing::warn!(%error, project = %id, "could not reconcile the project's usage");
        }
        // Also the mirror of a namespace made since, or changed behind Wukong's back.
        if let Err(error) = super::limits::mirror(state, &id).await {
            tracing::warn!(%error, project = %id, "could not mirror the project's quota");
        }
    }
    Ok(())
}

/// The project's VMs as the cluster has them: Wukong's, labelled for this project.
async fn cluster_vms(
    cluster: &Cluster,
    namespace: &str,
    project_id: &str,
) -> Result<BTreeMap<String, Option<Amounts>>, AppError> {
    let vms: Api<VirtualMachine> = Api::namespaced(cluster.client.clone(), namespace);
    let selector = format!("{MANAGED_BY_WUKONG},{PROJECT_LABEL}={project_id}");
    let what = format!("the VMs of namespace {namespace}");
    let list = cluster
        .call(&what, vms.list(&ListParams::default().labels(&selector)))
        .await?;
    Ok(list
        .items
        .iter()
        .filter_map(|vm| Some((vm.metadata.name.clone()?, Some(holding(vm)))))
        .collect())
}

/// A reservation as stored.
struct Held {
    amounts: Amounts,
    confirmed: bool,
    deleting: bool,
    changed_at: i64,
}

async fn reservations(
    tx: &mut Tx,
    ledger: Ledger,
    project_id: &str,
) -> Result<BTreeMap<String, Held>, AppError> {
    let rows = sqlx::query(&ledger.select_all())
        .bind(project_id)
        .fetch_all(&mut **tx)
        .await?;
    let mut held = BTreeMap::new();
    for row in rows {
        let flag = |name: &str| row.try_get::<i64, _>(name).map(|value| value == 1);
        held.insert(
            row.try_get("name")?,
            Held {
                amounts: amounts(&row, "")?,
                confirmed: flag("confirmed")?,
                deleting: flag("deleting")?,
                changed_at: row.try_get("changed_at")?,
            },
        );
    }
    Ok(held)
}

/// Records one correction of the project's usage, by Wukong itself.
async fn audit(
    tx: &mut Tx,
    ledger: Ledger,
    project_id: &str,
    name: &str,
    reason: &str,
    (before, after): (Option<&Amounts>, Option<&Amounts>),
    now: i64,
) -> Result<(), AppError> {
    let changes = json!({
        "before": before.map(limits_json),
        "after": after.map(limits_json),
    });
    let event = AuditEvent::system("quota_usage_corrected", Outcome::Success, Severity::Warning)
        .in_project(project_id, ledger.kind(), name)
        .with_reason(reason)
        .with_changes(&changes);
    record(tx, &Requester::default(), &event, now).await?;
    Ok(())
}

/// Makes the reservations of `project_id` match its VMs and snapshots in the cluster; how
/// many it corrected.
pub async fn reconcile(state: &AppState, project_id: &str) -> Result<usize, AppError> {
    let Some(namespace) = super::namespace_of(&state.db, project_id).await? else {
        return Ok(0);
    };
    // Only rows last changed before this moment are judged: the lists below are read after
    // it, so they have every object whose create was confirmed by then.
    let looked_at = now_ms();
    let vms = cluster_vms(&state.cluster, &namespace, project_id).await?;
    let snapshots =
        crate::snapshots::server::cluster::held(&state.cluster, &namespace, project_id).await?;
    let mut tx = lock_usage(&state.db, project_id).await?;
    let now = now_ms();
    let mut corrected = 0;
    for (ledger, in_cluster) in [(Ledger::Vms, &vms), (Ledger::Snapshots, &snapshots)] {
        let held = reservations(&mut tx, ledger, project_id).await?;
        let judged = Judged {
            ledger,
            project_id,
            looked_at,
            now,
        };
        corrected += judged.settle(&mut tx, in_cluster, &held).await?;
    }
    sqlx::query("UPDATE resource_usage SET reconciled_at = $1 WHERE project_id = $2")
        .bind(now)
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(corrected)
}

/// One kind of reservation of one project, judged against the cluster's list read at
/// `looked_at`.
struct Judged<'a> {
    ledger: Ledger,
    project_id: &'a str,
    looked_at: i64,
    now: i64,
}

impl Judged<'_> {
    /// Corrects the reservations `held` to the objects `in_cluster` (`None`: the object
    /// exists, its size is not known yet); how many it corrected.
    async fn settle(
        &self,
        tx: &mut Tx,
        in_cluster: &BTreeMap<String, Option<Amounts>>,
        held: &BTreeMap<String, Held>,
    ) -> Result<usize, AppError> {
        let (ledger, project_id, looked_at, now) =
            (self.ledger, self.project_id, self.looked_at, self.now);
        let kind = ledger.kind();
        let mut corrected = 0;
        for (name, holds) in in_cluster {
            let reserved = held.get(name);
            let holds = match (holds, reserved) {
                (Some(holds), _) => *holds,
                (None, Some(reserved)) => reserved.amounts,
                (None, None) => ledger.one(&Amounts::default()),
            };
            let reason = match reserved {
                None => Some(format!("{kind}_not_reserved")),
                Some(h) if h.changed_at >= looked_at => None,
                Some(h) if h.amounts != holds => Some(format!("{kind}_size_differs")),
                Some(h) if !h.confirmed => {
                    set_reservation(tx, ledger, project_id, name, &holds, now).await?;
                    None
                }
                Some(_) => None,
            };
            if let Some(reason) = reason {
                let before = reserved.map(|h| h.amounts);
                set_reservation(tx, ledger, project_id, name, &holds, now).await?;
                let change = holds.plus(&before.unwrap_or_default(), -1);
                add_usage(tx, project_id, &change, now).await?;
                let record = (before.as_ref(), Some(&holds));
                audit(tx, ledger, project_id, name, &reason, record, now).await?;
                corrected += 1;
            }
        }
        for (name, h) in held {
            let in_flight = !h.confirmed && h.changed_at > looked_at - ABANDONED_AFTER_MS;
            if in_cluster.contains_key(name) || h.changed_at >= looked_at || in_flight {
                continue;
            }
            release_in(tx, ledger, project_id, name, now).await?;
            // A delete Wukong made was audited when it was asked for.
            if !h.deleting {
                let reason = if h.confirmed {
                    format!("{kind}_gone")
                } else {
                    "create_abandoned".to_owned()
                };
                let record = (Some(&h.amounts), None);
                audit(tx, ledger, project_id, name, &reason, record, now).await?;
                corrected += 1;
            }
        }
        Ok(corrected)
    }
}
