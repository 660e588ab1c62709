//! The data model on a real database: a create/read/update/delete round trip per table,
//! and the constraints the application relies on.

use crate::support::{test_db, TestDb};
use sqlx::{error::ErrorKind, Row};

/// Rows other tables point at: two users, a project, a session, a provider, a template.
const FIXTURES: &[&str] = &[
    "INSERT INTO users (id, email, display_name, password_hash, global_role, created_at, updated_at)
     VALUES ('u1', 'admin@example.test', 'Admin', 'hash', 'admin', 1, 1)",
    "INSERT INTO users (id, email, display_name, created_at, updated_at)
     VALUES ('u2', 'user@example.test', 'User', 1, 1)",
    "INSERT INTO projects (id, slug, name, namespace, created_by, created_at, updated_at)
     VALUES ('p1', 'alpha', 'Alpha', 'wukong-alpha', 'u1', 1, 1)",
    "INSERT INTO user_sessions (id, user_id, token_hash, stage, created_at, last_seen_at, expires_at)
     VALUES ('s1', 'u1', 'hash-s1', 'active', 1, 1, 2)",
    "INSERT INTO oidc_providers (id, name, issuer_url, client_id, client_secret_enc, created_at, updated_at)
     VALUES ('op1', 'Corp', 'https://id.example.test', 'wukong', 'sealed', 1, 1)",
    "INSERT INTO quota_templates (id, name, vcpus, memory_mib, disk_gib, vm_count, created_at, updated_at)
     VALUES ('t1', 'fixture small', 4, 8192, 100, 5, 1, 1)",
];

async fn with_fixtures() -> TestDb {
    let test = test_db().await;
    for statement in FIXTURES {
        exec(&test, statement).await;
    }
    test
}

async fn exec(test: &TestDb, sql: &str) {
    sqlx::query(sql)
        .execute(test.db.pool())
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

async fn try_exec(test: &TestDb, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(test.db.pool()).await.map(|_| ())
}

async fn count(test: &TestDb, table: &str, predicate: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {predicate}");
    let row = sqlx::query(&sql)
        .fetch_one(test.db.pool())
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    row.get::<i64, _>("n")
}

fn kind(error: &sqlx::Error) -> Option<ErrorKind> {
    error.as_database_error().map(|error| error.kind())
}

/// One table's round trip: `key` selects the inserted row, `updated` holds only after
/// `update` ran.
struct RoundTrip {
    table: &'static str,
    insert: &'static str,
    key: &'static str,
    update: &'static str,
    updated: &'static str,
}

async fn round_trip(case: RoundTrip) {
    let test = with_fixtures().await;
    exec(&test, case.insert).await;
    assert_eq!(
        count(&test, case.table, case.key).await,
        1,
        "{}: inserted row",
        case.table
    );
    let changed = format!("{} AND {}", case.key, case.updated);
    assert_eq!(
        count(&test, case.table, &changed).await,
        0,
        "{}: before update",
        case.table
    );
    exec(&test, case.update).await;
    assert_eq!(
        count(&test, case.table, &changed).await,
        1,
        "{}: after update",
        case.table
    );
    exec(
        &test,
        &format!("DELETE FROM {} WHERE {}", case.table, case.key),
    )
    .await;
    assert_eq!(
        count(&test, case.table, case.key).await,
        0,
        "{}: deleted",
        case.table
    );
}

macro_rules! round_trip {
    ($name:ident: $table:literal, $insert:literal, $key:literal, $update:literal, $updated:literal) => {
        #[tokio::test]
        async fn $name() {
            round_trip(RoundTrip {
                table: $table,
                insert: $insert,
                key: $key,
                update: $update,
                updated: $updated,
            })
            .await;
        }
    };
}

round_trip!(users_round_trip: "users",
    "INSERT INTO users (id, email, display_name, created_at, updated_at) VALUES ('u9', 'nine@example.test', 'Nine', 5, 5)",
    "id = 'u9'",
    "UPDATE users SET display_name = 'Nine B', is_disabled = 1, updated_at = 6 WHERE id = 'u9'",
    "display_name = 'Nine B' AND is_disabled = 1");

round_trip!(projects_round_trip: "projects",
    "INSERT INTO projects (id, slug, name, namespace, created_at, updated_at) VALUES ('p9', 'beta', 'Beta', 'wukong-beta', 5, 5)",
    "id = 'p9'",
    "UPDATE projects SET name = 'Beta Two' WHERE id = 'p9'",
    "name = 'Beta Two'");

round_trip!(project_members_round_trip: "project_members",
    "INSERT INTO project_members (project_id, user_id, role, created_at) VALUES ('p1', 'u2', 'viewer', 5)",
    "project_id = 'p1' AND user_id = 'u2'",
    "UPDATE project_members SET role = 'operator' WHERE project_id = 'p1' AND user_id = 'u2'",
    "role = 'operator'");

round_trip!(quota_templates_round_trip: "quota_templates",
    "INSERT INTO quota_templates (id, name, vcpus, memory_mib, disk_gib, vm_count, created_at, updated_at) VALUES ('t9', 'fixture large', 32, 65536, 1000, 20, 5, 5)",
    "id = 't9'",
    "UPDATE quota_templates SET vcpus = 64 WHERE id = 't9'",
    "vcpus = 64");

round_trip!(resource_quotas_round_trip: "resource_quotas",
    "INSERT INTO resource_quotas (project_id, template_id, vcpus, memory_mib, disk_gib, vm_count, updated_at) VALUES ('p1', 't1', 4, 8192, 100, 5, 5)",
    "project_id = 'p1'",
    "UPDATE resource_quotas SET memory_mib = 16384, template_id = NULL WHERE project_id = 'p1'",
    "memory_mib = 16384 AND template_id IS NULL");

round_trip!(resource_usage_round_trip: "resource_usage",
    "INSERT INTO resource_usage (project_id, updated_at) VALUES ('p1', 5)",
    "project_id = 'p1'",
    "UPDATE resource_usage SET vcpus = vcpus + 2, vm_count = vm_count + 1 WHERE project_id = 'p1'",
    "vcpus = 2 AND vm_count = 1");

round_trip!(vm_reservations_round_trip: "vm_reservations",
    "INSERT INTO vm_reservations (project_id, vm_name, vcpus, memory_mib, disk_gib, created_at) VALUES ('p1', 'vm-a', 2, 2048, 20, 5)",
    "project_id = 'p1' AND vm_name = 'vm-a'",
    "UPDATE vm_reservations SET memory_mib = 4096 WHERE project_id = 'p1' AND vm_name = 'vm-a'",
    "memory_mib = 4096");

round_trip!(user_sessions_round_trip: "user_sessions",
    "INSERT INTO user_sessions (id, user_id, token_hash, stage, ip_address, user_agent, created_at, last_seen_at, expires_at) VALUES ('s9', 'u2', 'hash-s9', 'mfa_pending', '127.0.0.1', 'test', 5, 5, 10)",
    "id = 's9'",
    "UPDATE user_sessions SET stage = 'active', ended_at = 7, end_reason = 'logout' WHERE id = 's9'",
    "stage = 'active' AND ended_at = 7");

round_trip!(user_mfa_settings_round_trip: "user_mfa_settings",
    "INSERT INTO user_mfa_settings (user_id, totp_secret_enc, created_at, updated_at) VALUES ('u2', 'sealed', 5, 5)",
    "user_id = 'u2'",
    "UPDATE user_mfa_settings SET is_enabled = 1, last_used_step = 1234 WHERE user_id = 'u2'",
    "is_enabled = 1 AND last_used_step = 1234");

round_trip!(mfa_backup_codes_round_trip: "mfa_backup_codes",
    "INSERT INTO mfa_backup_codes (id, user_id, code_hash, created_at) VALUES ('b9', 'u2', 'hash', 5)",
    "id = 'b9'",
    "UPDATE mfa_backup_codes SET used_at = 8 WHERE id = 'b9'",
    "used_at = 8");

round_trip!(oidc_providers_round_trip: "oidc_providers",
    "INSERT INTO oidc_providers (id, name, issuer_url, client_id, client_secret_enc, created_at, updated_at) VALUES ('op9', 'Lab', 'https://lab.example.test', 'wk', 'sealed', 5, 5)",
    "id = 'op9'",
    "UPDATE oidc_providers SET is_enabled = 0, scopes = 'openid' WHERE id = 'op9'",
    "is_enabled = 0 AND scopes = 'openid'");

round_trip!(user_oidc_identities_round_trip: "user_oidc_identities",
    "INSERT INTO user_oidc_identities (id, user_id, provider_id, issuer, subject, email, created_at) VALUES ('i9', 'u2', 'op1', 'https://id.example.test', 'sub-2', 'user@example.test', 5)",
    "id = 'i9'",
    "UPDATE user_oidc_identities SET last_login_at = 9 WHERE id = 'i9'",
    "last_login_at = 9");

round_trip!(oidc_login_requests_round_trip: "oidc_login_requests",
    "INSERT INTO oidc_login_requests (state_hash, provider_id, nonce, pkce_verifier, created_at, expires_at) VALUES ('st9', 'op1', 'n', 'v', 5, 10)",
    "state_hash = 'st9'",
    "UPDATE oidc_login_requests SET return_to = '/vms' WHERE state_hash = 'st9'",
    "return_to = '/vms'");

round_trip!(console_tickets_round_trip: "console_tickets",
    "INSERT INTO console_tickets (token_hash, user_id, session_id, project_id, vm_name, console_kind, created_at, expires_at) VALUES ('ct9', 'u1', 's1', 'p1', 'vm-a', 'vnc', 5, 35)",
    "token_hash = 'ct9'",
    "UPDATE console_tickets SET used_at = 6 WHERE token_hash = 'ct9'",
    "used_at = 6");

round_trip!(app_settings_round_trip: "app_settings",
    "INSERT INTO app_settings (key, value, updated_at) VALUES ('mfa_required', 'false', 5)",
    "key = 'mfa_required'",
    "UPDATE app_settings SET value = 'true' WHERE key = 'mfa_required'",
    "value = 'true'");

const AUDIT_ROW: &str = "INSERT INTO audit_logs (id, occurred_at, actor_user_id, ip_address, event_type, outcome, severity, details)
     VALUES ('a1', 5, 'u1', '127.0.0.1', 'authn_login_success', 'success', 'info', '{}')";

#[tokio::test]
async fn audit_logs_are_append_only() {
    let test = with_fixtures().await;
    exec(&test, AUDIT_ROW).await;
    assert_eq!(
        count(&test, "audit_logs", "id = 'a1' AND outcome = 'success'").await,
        1
    );

    for tamper in [
        "UPDATE audit_logs SET outcome = 'failure' WHERE id = 'a1'",
        "DELETE FROM audit_logs WHERE id = 'a1'",
    ] {
        let error = try_exec(&test, tamper).await.expect_err(tamper);
        assert!(
            error.to_string().contains("append-only"),
            "{tamper}: {error}"
        );
    }
    assert_eq!(
        count(&test, "audit_logs", "id = 'a1' AND outcome = 'success'").await,
        1
    );
}

#[tokio::test]
async fn audit_logs_outlive_the_user_they_name() {
    let test = with_fixtures().await;
    exec(&test, AUDIT_ROW).await;
    exec(&test, "DELETE FROM users WHERE id = 'u1'").await;
    assert_eq!(count(&test, "audit_logs", "actor_user_id = 'u1'").await, 1);
}

#[tokio::test]
async fn emails_are_unique() {
    let test = with_fixtures().await;
    let error = try_exec(
        &test,
        "INSERT INTO users (id, email, display_name, created_at, updated_at) VALUES ('u3', 'user@example.test', 'Twin', 1, 1)",
    )
    .await
    .expect_err("duplicate email accepted");
    assert_eq!(kind(&error), Some(ErrorKind::UniqueViolation), "{error}");
}

#[tokio::test]
async fn foreign_keys_are_enforced() {
    let test = with_fixtures().await;
    let error = try_exec(
        &test,
        "INSERT INTO project_members (project_id, user_id, role, created_at) VALUES ('p1', 'nobody', 'viewer', 1)",
    )
    .await
    .expect_err("member without a user accepted");
    assert_eq!(
        kind(&error),
        Some(ErrorKind::ForeignKeyViolation),
        "{error}"
    );
}

#[tokio::test]
async fn deleting_a_user_removes_what_only_they_own() {
    let test = with_fixtures().await;
    exec(&test, "INSERT INTO project_members (project_id, user_id, role, created_at) VALUES ('p1', 'u1', 'owner', 1)").await;
    exec(&test, "DELETE FROM users WHERE id = 'u1'").await;
    assert_eq!(count(&test, "user_sessions", "user_id = 'u1'").await, 0);
    assert_eq!(count(&test, "project_members", "user_id = 'u1'").await, 0);
    assert_eq!(
        count(&test, "projects", "id = 'p1' AND created_by IS NULL").await,
        1
    );
}

#[tokio::test]
async fn values_outside_their_domain_are_refused() {
    let test = with_fixtures().await;
    for statement in [
        "INSERT INTO project_members (project_id, user_id, role, created_at) VALUES ('p1', 'u2', 'superuser', 1)",
        "UPDATE users SET global_role = 'root' WHERE id = 'u2'",
        "UPDATE users SET is_disabled = 2 WHERE id = 'u2'",
    ] {
        let error = try_exec(&test, statement).await.expect_err(statement);
        assert_eq!(kind(&error), Some(ErrorKind::CheckViolation), "{statement}: {error}");
    }
}

#[tokio::test]
async fn usage_cannot_go_negative() {
    let test = with_fixtures().await;
    exec(
        &test,
        "INSERT INTO resource_usage (project_id, updated_at) VALUES ('p1', 1)",
    )
    .await;
    let error = try_exec(
        &test,
        "UPDATE resource_usage SET vcpus = vcpus - 1 WHERE project_id = 'p1'",
    )
    .await
    .expect_err("negative usage accepted");
    assert_eq!(kind(&error), Some(ErrorKind::CheckViolation), "{error}");
}

#[tokio::test]
async fn an_external_identity_belongs_to_one_user() {
    let test = with_fixtures().await;
    let link = |id: &str, user: &str| {
        format!(
            "INSERT INTO user_oidc_identities (id, user_id, issuer, subject, created_at) \
             VALUES ('{id}', '{user}', 'https://id.example.test', 'same-subject', 1)"
        )
    };
    exec(&test, &link("i1", "u1")).await;
    let error = try_exec(&test, &link("i2", "u2"))
        .await
        .expect_err("identity linked twice");
    assert_eq!(kind(&error), Some(ErrorKind::UniqueViolation), "{error}");
}

#[tokio::test]
async fn flags_and_timestamps_read_back_as_integers() {
    let test = with_fixtures().await;
    exec(
        &test,
        "UPDATE users SET must_change_password = 1, locked_at = 1700000000000 WHERE id = 'u1'",
    )
    .await;
    let row = sqlx::query(
        "SELECT must_change_password, is_disabled, failed_login_count, locked_at FROM users WHERE id = $1",
    )
    .bind("u1")
    .fetch_one(test.db.pool())
    .await
    .expect("read user");
    assert_eq!(row.get::<i64, _>("must_change_password"), 1);
    assert_eq!(row.get::<i64, _>("is_disabled"), 0);
    assert_eq!(row.get::<i64, _>("failed_login_count"), 0);
    assert_eq!(
        row.get::<Option<i64>, _>("locked_at"),
        Some(1_700_000_000_000)
    );
}
