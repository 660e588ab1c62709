//! Quota-checked creates per second: eight clients at once reserve VMs (the check, the
//! reservation and the usage update in one write transaction) and confirm them, as the
//! create path does around its cluster call, which is left out so that the figure is the
//! quota's own cost. Once with the eight clients in one project (every reservation waits
//! for the project's usage row) and once in eight projects; on SQLite, and on PostgreSQL
//! when `WUKONG_BENCH_POSTGRES` names a new, empty database. Asserts nothing.
//!
//! Run with `cargo bench -p server --bench quotas`.

use app::{
    authz::server::ProjectRow,
    db::Db,
    quotas::{
        server::reserve::{confirm, reserve, Ledger},
        types::Amounts,
    },
};
use std::time::Instant;

const CLIENTS: usize = 8;
const CREATES_PER_CLIENT: usize = 250;

fn project(index: usize) -> ProjectRow {
    ProjectRow {
        id: format!("00000000-0000-4000-9000-{index:012}"),
        slug: format!("bench-{index}"),
        name: format!("Bench {index}"),
        description: String::new(),
        namespace: format!("wukong-bench-{index}"),
        is_personal: false,
    }
}

/// Projects with room for every create of the run.
async fn seed(db: &Db) {
    for index in 0..CLIENTS {
        let p = project(index);
        sqlx::query(
            "INSERT INTO projects (id, slug, name, description, namespace, is_personal, \
             created_at, updated_at) VALUES ($1, $2, $3, '', $4, 0, 0, 0)",
        )
        .bind(&p.id)
        .bind(&p.slug)
        .bind(&p.name)
        .bind(&p.namespace)
        .execute(db.pool())
        .await
        .expect("project");
        sqlx::query(
            "INSERT INTO resource_quotas (project_id, vcpus, memory_mib, disk_gib, vm_count, \
             snapshot_count, snapshot_gib, updated_at) VALUES ($1, 1000000, 1000000000, 0, \
             1000000, 0, 0, 0)",
        )
        .bind(&p.id)
        .execute(db.pool())
        .await
        .expect("quota");
    }
}

async fn run(label: &str, db: &Db, spread: bool) {
    let began = Instant::now();
    let clients = (0..CLIENTS).map(|client| {
        let db = db.clone();
        let p = project(if spread { client } else { 0 });
        let round = if spread { "spread" } else { "shared" };
        tokio::spawn(async move {
            for n in 0..CREATES_PER_CLIENT {
                let name = format!("{round}-{client}-{n}");
                reserve(&db, Ledger::Vms, &p, &name, &Amounts::vm(1, 256, 0))
                    .await
                    .expect("room");
                confirm(&db, Ledger::Vms, &p.id, &name)
                    .await
                    .expect("confirm");
            }
        })
    });
    for client in futures_util::future::join_all(clients).await {
        client.expect("client");
    }
    let seconds = began.elapsed().as_secs_f64();
    let creates = CLIENTS * CREATES_PER_CLIENT;
    let where_ = if spread {
        "eight projects"
    } else {
        "one project"
    };
    println!(
        "{label}: {creates} quota-checked creates by {CLIENTS} clients in {where_}: {:.0} creates/s",
        creates as f64 / seconds
    );
}

async fn measure(label: &str, db: &Db) {
    seed(db).await;
    run(label, db, false).await;
    run(label, db, true).await;
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("quotas.db").display()
    );
    let db = Db::connect(&url).await.expect("SQLite");
    db.migrate().await.expect("migrate");
    measure("SQLite", &db).await;
    if let Ok(url) = std::env::var("WUKONG_BENCH_POSTGRES") {
        let db = Db::connect(&url).await.expect("PostgreSQL");
        db.migrate().await.expect("migrate");
        measure("PostgreSQL", &db).await;
    }
}
