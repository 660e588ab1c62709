//! Quotas: reservations that hold under concurrency, on SQLite and PostgreSQL, through the
//! service function and over HTTP; the reconciler; templates and project limits; resize.
//! Over the tenancy fixture's simulated cluster.

mod concurrency;
mod limits;
mod reconcile;

pub use crate::tenancy::small_vm;
use crate::tenancy::{Project, Tenancy, Who};
use app::{
    auth::server::session::{find, Session},
    authz::server::ProjectRow,
    db::now_ms,
    quotas::{
        server::{reconcile::reconcile, usage::project_quota},
        types::{Amounts, LimitsForm, ProjectQuota},
    },
};
use serde_json::json;

fn row(project: &Project) -> ProjectRow {
    ProjectRow {
        id: project.id.clone(),
        slug: project.slug.clone(),
        name: String::new(),
        description: String::new(),
        namespace: project.namespace.clone(),
        is_personal: false,
    }
}

/// The quota and usage of `project` now.
pub async fn quota_of(t: &Tenancy, project: &Project) -> ProjectQuota {
    project_quota(&t.state.db, &row(project))
        .await
        .expect("quota")
}

/// The session `who` signed in with.
pub async fn session(t: &Tenancy, who: Who) -> Session {
    let cookie = t.cookie(who);
    let token = cookie.split_once('=').expect("cookie pair").1;
    find(&t.state.db, &t.state.auth.sessions, token, now_ms())
        .await
        .expect("lookup")
        .expect("live session")
}

/// What [`small_vm`] holds.
pub fn small() -> Amounts {
    Amounts::vm(1, 256, 0)
}

/// Sets `project`'s limits, as a global admin would in the browser.
pub async fn set_limits(t: &Tenancy, project: &Project, limits: &Amounts) {
    let body = json!({"slug": project.slug,
        "choice": {"Custom": LimitsForm::from_amounts(limits)}});
    let (status, answer) = t
        .post(Who::GlobalAdmin, "quotas/project/set", &body.to_string())
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// Counts the fixture's VMs (made without the quota path) and leaves `project` room for
/// exactly `vms` more [`small_vm`]s: every resource is exactly full after them.
pub async fn room_for(t: &Tenancy, project: &Project, vms: i64) -> Amounts {
    reconcile(&t.state, &project.id).await.expect("reconcile");
    let usage = quota_of(t, project).await.usage;
    let mut limits = usage;
    for _ in 0..vms {
        limits = limits.plus(&small(), 1);
    }
    set_limits(t, project, &limits).await;
    usage
}
