//! Probes for orchestrators: `/healthz` says the process serves, `/readyz` that it can
//! do useful work (its database answers).

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
}

pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let ping = tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await;
    match ping {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(Readiness {
                status: "ready",
                database: "ok",
            }),
        ),
        failure => {
            match failure {
                Ok(Err(error)) => tracing::warn!(%error, "readiness: database error"),
                _ => tracing::warn!("readiness: database timed out"),
            }
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Readiness {
                    status: "not ready",
                    database: "unavailable",
                }),
            )
        }
    }
}
