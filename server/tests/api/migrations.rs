//! The two migration sets describe one schema.

use crate::support::{postgres_server, sqlite_db, test_db, TestDb};
use app::db::{embedded_migrations, Backend};
use sqlx::Row;
use std::{collections::BTreeSet, path::PathBuf};

/// (version, description) of each file in `app/migrations/<flavour>`, by file name.
fn migration_files(flavour: &str) -> Vec<(i64, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../app/migrations")
        .join(flavour);
    let mut files = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .map(|name| {
            let stem = name
                .strip_suffix(".sql")
                .unwrap_or_else(|| panic!("not SQL: {name}"));
            let (version, description) = stem.split_once('_').expect("VERSION_DESCRIPTION.sql");
            (
                version.parse().expect("numeric version"),
                description.to_owned(),
            )
        })
        .collect::<Vec<_>>();
    files.sort();
    files
}

fn owned(migrations: Vec<(i64, &str)>) -> Vec<(i64, String)> {
    migrations
        .into_iter()
        .map(|(version, description)| (version, description.to_owned()))
        .collect()
}

#[test]
fn both_flavours_have_the_same_versions_and_all_are_embedded() {
    let sqlite = migration_files("sqlite");
    let postgres = migration_files("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
    assert_eq!(owned(embedded_migrations(Backend::Sqlite)), sqlite);
    assert_eq!(owned(embedded_migrations(Backend::Postgres)), postgres);
}

#[tokio::test]
async fn migrating_again_is_a_no_op() {
    let test = test_db().await;
    test.db.migrate().await.expect("second migration run");
    let applied: i64 = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations")
        .fetch_one(test.db.pool())
        .await
        .expect("count migrations")
        .get("n");
    assert_eq!(applied, migration_files("sqlite").len() as i64);
}

/// Tables with their columns and nullability, plus index names, as one comparable set.
async fn schema(test: &TestDb) -> BTreeSet<String> {
    let (columns, indexes) = match test.db.backend() {
        Backend::Sqlite => (
            "SELECT t.name AS tbl, c.name AS col, CASE WHEN c.\"notnull\" = 1 OR c.pk > 0 THEN 'NO' ELSE 'YES' END AS nullable \
             FROM sqlite_master t JOIN pragma_table_info(t.name) c \
             WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%' AND t.name NOT LIKE '_sqlx%'",
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'",
        ),
        Backend::Postgres => (
            "SELECT table_name::text AS tbl, column_name::text AS col, is_nullable::text AS nullable \
             FROM information_schema.columns WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'",
            "SELECT indexname::text AS name FROM pg_indexes \
             WHERE schemaname = current_schema() AND indexname NOT LIKE '%\\_pkey' AND tablename NOT LIKE '\\_sqlx%'",
        ),
    };
    let mut schema = BTreeSet::new();
    for row in sqlx::query(columns)
        .fetch_all(test.db.pool())
        .await
        .expect("columns")
    {
        let (table, column, nullable): (String, String, String) =
            (row.get("tbl"), row.get("col"), row.get("nullable"));
        schema.insert(format!("column {table}.{column} nullable={nullable}"));
    }
    for row in sqlx::query(indexes)
        .fetch_all(test.db.pool())
        .await
        .expect("indexes")
    {
        schema.insert(format!("index {}", row.get::<String, _>("name")));
    }
    schema
}

#[tokio::test]
#[ignore = "needs PostgreSQL: the test command runs it with WUKONG_TEST_POSTGRES set"]
async fn sqlite_and_postgres_end_with_the_same_schema() {
    assert!(
        postgres_server().is_some(),
        "WUKONG_TEST_POSTGRES is not set"
    );
    let sqlite = schema(&sqlite_db().await).await;
    let postgres = schema(&test_db().await).await;
    assert!(sqlite
        .iter()
        .any(|entry| entry.starts_with("column audit_logs.")));
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only in SQLite: {only_sqlite:#?}\nonly in PostgreSQL: {only_postgres:#?}"
    );
}
