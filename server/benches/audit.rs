//! The audit page at a million rows: the `audit/list` query (as the page and its server
//! function run it) over 1,000,000 entries in 100 projects, filtered by one project and a
//! time range, on SQLite, and on PostgreSQL when `WUKONG_BENCH_POSTGRES` names a new, empty
//! database (`postgres://user@host:port/name`; the audit log refuses to be emptied). Prints p50/p99 of the first page and of
//! a page deep in the log; asserts nothing.
//!
//! Run with `cargo bench -p server --bench audit`.

#[allow(dead_code, reason = "each benchmark uses part of the shared helpers")]
mod common;

use app::{
    audit::{
        server::query,
        types::{AuditFilter, AuditScope, AUDIT_PAGE_SIZE},
    },
    auth::types::CurrentUser,
    db::Db,
};
use common::percentile;
use std::time::{Duration, Instant};

const ROWS: usize = 1_000_000;
const PROJECTS: usize = 100;
/// Rows per INSERT statement.
const BATCH: usize = 500;
const START_MS: i64 = 1_700_000_000_000;

fn project_id(index: usize) -> String {
    format!("00000000-0000-0000-0000-{index:012}")
}

/// A million entries, one a second, spread over the projects in turn.
async fn seed(db: &Db) {
    let began = Instant::now();
    let mut tx = db.pool().begin().await.expect("transaction");
    for first in (0..ROWS).step_by(BATCH) {
        let mut sql = String::from(
            "INSERT INTO audit_logs (id, occurred_at, actor_email, event_type, target_type, \
             target_id, project_id, outcome, severity, details) VALUES ",
        );
        for n in first..first + BATCH {
            if n > first {
                sql.push(',');
            }
            sql.push_str(&format!(
                "('{:032x}', {}, 'user{}@example.test', 'vm_action', 'vm', 'vm-{}', '{}', \
                 'success', 'info', '{{}}')",
                n,
                START_MS + i64::try_from(n).expect("row") * 1000,
                n % 37,
                n % 1000,
                project_id(n % PROJECTS)
            ));
        }
        sqlx::query(&sql).execute(&mut *tx).await.expect("insert");
    }
    tx.commit().await.expect("commit");
    println!(
        "seeded {ROWS} audit rows in {:.1} s",
        began.elapsed().as_secs_f64()
    );
}

async fn measure(label: &str, db: &Db) {
    // The scope as `readable` makes it for a member: one project, checked once.
    let admin = CurrentUser {
        id: "bench".to_owned(),
        email: "bench@example.test".to_owned(),
        display_name: "Bench".to_owned(),
        is_admin: true,
        must_change_password: false,
        mfa_enrolment_required: false,
    };
    sqlx::query(
        "INSERT INTO projects (id, slug, name, description, namespace, is_personal, created_at, \
         updated_at) VALUES ($1, 'p42', 'P42', '', 'wukong-p42', 0, 0, 0)",
    )
    .bind(project_id(42))
    .execute(db.pool())
    .await
    .expect("project");
    let scope = query::readable(
        db,
        &admin,
        &AuditScope::Project {
            slug: "p42".to_owned(),
        },
    )
    .await
    .expect("scope");
    let week = 7 * 86_400_000;
    let filter = AuditFilter {
        from_ms: Some(START_MS + 200_000_000),
        until_ms: Some(START_MS + 200_000_000 + week),
        ..AuditFilter::default()
    };
    let mut first_page = Vec::new();
    let mut deep_page = Vec::new();
    for _ in 0..200 {
        let began = Instant::now();
        let page = query::page(db, &scope, &filter, None, AUDIT_PAGE_SIZE)
            .await
            .expect("page");
        first_page.push(began.elapsed());
        assert_eq!(page.entries.len(), AUDIT_PAGE_SIZE);
        let mut after = page.next;
        for _ in 0..20 {
            let next = query::page(db, &scope, &filter, after.as_ref(), AUDIT_PAGE_SIZE)
                .await
                .expect("page");
            after = next.next;
        }
        let began = Instant::now();
        query::page(db, &scope, &filter, after.as_ref(), AUDIT_PAGE_SIZE)
            .await
            .expect("page");
        deep_page.push(began.elapsed());
    }
    for (what, mut times) in [("first page", first_page), ("22nd page", deep_page)] {
        times.sort();
        let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
        println!(
            "{label}: audit page of one project and one week, {what}, {ROWS} rows: p50={:.2} ms p99={:.2} ms",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
        );
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("audit.db").display()
    );
    let db = Db::connect(&url).await.expect("SQLite");
    db.migrate().await.expect("migrate");
    seed(&db).await;
    measure("SQLite", &db).await;
    if let Ok(url) = std::env::var("WUKONG_BENCH_POSTGRES") {
        let db = Db::connect(&url).await.expect("PostgreSQL");
        db.migrate().await.expect("migrate");
        seed(&db).await;
        sqlx::query("ANALYZE audit_logs")
            .execute(db.pool())
            .await
            .expect("analyze");
        measure("PostgreSQL", &db).await;
    }
}
