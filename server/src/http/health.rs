//! Probes for orchestrators: `/healthz` says the process serves, `/readyz` that it can
//! do useful work (its database and the cluster's API server answer, and its watches of the
//! cluster work).

use app::context::AppState;
use axum::{extract::State, http::StatusCode, Json};
use serde::Serialize;
use std::time::Duration;

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
}

#[derive(Serialize)]
pub struct Readiness {
    status: &'static str,
    database: &'static str,
    cluster: &'static str,
    /// Why watches fail (a refused permission names what is missing); empty when they work.
    watches: Vec<String>,
}

pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready when both the database and the cluster's API server answer within 2 s and no watch
/// of the cluster is failing: without them lists and live updates would go stale silently.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let limit = Duration::from_secs(2);
    let (database, cluster) = tokio::join!(
        tokio::time::timeout(limit, state.db.ping()),
        tokio::time::timeout(limit, state.cluster.ping()),
    );
    let database_ok = match database {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: database error");
            false
        }
        Err(_) => {
            tracing::warn!("readiness: database timed out");
            false
        }
    };
    let cluster_ok = match cluster {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::warn!(%error, cluster = %state.cluster.label(), "readiness: cluster error");
            false
        }
        Err(_) => {
            tracing::warn!(cluster = %state.cluster.label(), "readiness: cluster timed out");
            false
        }
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let watches = state.live.watch_failures();
    let ready = database_ok && cluster_ok && watches.is_empty();
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(Readiness {
            status: if ready { "ready" } else { "not ready" },
            database: word(database_ok),
            cluster: word(cluster_ok),
            watches,
        }),
    )
}
