//! The audit log in the browser's hands: scopes checked like everything else, filters,
//! keyset paging, and the streamed export.

use super::{json, Tenancy, Who};
use crate::support::form;
use axum::http::{header, StatusCode};
use serde_json::{json as value, Value};

/// Writes `count` entries for `project_id`, one a second from `start`: every third a
/// failure, events alternating `vm_action` and `vm_created`, targets `vm-<n>`.
async fn seed(t: &Tenancy, project_id: &str, count: i64, start: i64) {
    for n in 0..count {
        sqlx::query(
            "INSERT INTO audit_logs (id, occurred_at, actor_email, event_type, target_type, \
             target_id, project_id, outcome, severity, details) \
             VALUES ($1, $2, $3, $4, 'vm', $5, $6, $7, 'info', '{}')",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(start + n * 1000)
        .bind(if n % 2 == 0 {
            "owner@example.test"
        } else {
            "operator@example.test"
        })
        .bind(if n % 2 == 0 {
            "vm_action"
        } else {
            "vm_created"
        })
        .bind(format!("vm-{n}"))
        .bind(project_id)
        .bind(if n % 3 == 0 { "failure" } else { "success" })
        .execute(t.test.db.pool())
        .await
        .expect("seed");
    }
}

async fn list(t: &Tenancy, who: Who, body: Value) -> (StatusCode, Value) {
    let (status, text) = t.post(who, "audit/list", &body.to_string()).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Every page of `scope` with `filter`, following the cursor; the entries' targets.
async fn all_pages(t: &Tenancy, who: Who, scope: Value, filter: Value) -> Vec<String> {
    let mut targets = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = value!({"scope": scope, "filter": filter, "after": after});
        let (status, page) = list(t, who, body).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let entries = page["entries"].as_array().expect("entries");
        assert!(entries.len() <= 50);
        let mut times = Vec::new();
        for entry in entries {
            targets.push(entry["target"].as_str().unwrap_or_default().to_owned());
            times.push(entry["occurred_ms"].as_i64().expect("time"));
        }
        assert!(
            times.windows(2).all(|pair| pair[0] >= pair[1]),
            "newest first"
        );
        after = page["next"].clone();
        if after.is_null() {
            return targets;
        }
    }
}

const START: i64 = 1_700_000_000_000;

/// A project's log pages by keyset through all its entries, newest first, each once, and
/// none of another project's; filters narrow it by event, outcome, actor, time and target.
#[tokio::test]
async fn a_projects_log_is_filtered_and_paged_by_keyset() {
    let t = Tenancy::start().await;
    seed(&t, &t.alpha.id, 120, START).await;
    seed(&t, &t.beta.id, 30, START).await;
    let scope = value!({"Project": {"slug": t.alpha.slug}});
    let every = all_pages(&t, Who::Viewer, scope.clone(), value!({})).await;
    let expected: Vec<String> = (0..120).rev().map(|n| format!("vm-{n}")).collect();
    let seeded: Vec<&String> = every
        .iter()
        .filter(|target| target.starts_with("vm-"))
        .collect();
    assert_eq!(seeded, expected.iter().collect::<Vec<_>>());
    let count = |filter: Value| {
        let scope = scope.clone();
        let t = &t;
        async move { all_pages(t, Who::Viewer, scope, filter).await.len() }
    };
    assert_eq!(count(value!({"event": "vm_created"})).await, 60);
    assert_eq!(count(value!({"outcome": "failure"})).await, 40);
    assert_eq!(count(value!({"actor": "OPERATOR@example.test"})).await, 60);
    assert_eq!(
        count(value!({"from_ms": START + 10_000, "until_ms": START + 20_000})).await,
        10
    );
    assert_eq!(
        count(value!({"target": "VM-11"})).await,
        11,
        "vm-11 and vm-110…119"
    );
    assert_eq!(
        count(value!({"target": "%"})).await,
        0,
        "wildcards are text"
    );
    let (status, _) = list(
        &t,
        Who::Viewer,
        value!({"scope": scope, "filter": {"target": "x".repeat(257)}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// The whole log is for global admins (403 for others); a project's and a VM's are for the
/// project's members (404 for anyone else, as for a project that does not exist).
#[tokio::test]
async fn who_reads_which_log() {
    let t = Tenancy::start().await;
    let scopes = [
        ("Everything", value!("Everything")),
        ("project", value!({"Project": {"slug": t.alpha.slug}})),
        (
            "VM",
            value!({"Vm": {"project": t.alpha.slug, "name": super::VM}}),
        ),
    ];
    for (label, scope) in scopes {
        for who in Who::ALL {
            let (status, _) = list(&t, who, value!({"scope": scope})).await;
            let expected = match (label, who) {
                (_, Who::GlobalAdmin) => StatusCode::OK,
                ("Everything", _) => StatusCode::FORBIDDEN,
                (_, Who::Outsider) => StatusCode::NOT_FOUND,
                _ => StatusCode::OK,
            };
            assert_eq!(status, expected, "{label} by {who:?}");
        }
    }
}

async fn export(t: &Tenancy, who: Who, query: &str) -> (StatusCode, Option<String>, String) {
    let (status, headers, body) = t.get(who, &format!("/audit/export?{query}")).await;
    let disposition = headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (status, disposition, body)
}

/// Compressed for a client that accepts it, the export is still the whole log (the
/// compressor reads the stream once more after its end, which the stream must allow).
#[tokio::test]
async fn a_compressed_export_is_the_whole_log() {
    use axum::body::Body;
    use std::io::Read as _;
    use tower::ServiceExt as _;
    let t = Tenancy::start().await;
    seed(&t, &t.alpha.id, 1_200, START).await;
    let query = format!("project={}&format=jsonl", form(&t.alpha.slug));
    let (status, _, plain) = export(&t, Who::Viewer, &query).await;
    assert_eq!(status, StatusCode::OK);
    let request = axum::http::Request::get(format!("/audit/export?{query}"))
        .header(header::COOKIE, t.cookie(Who::Viewer))
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .expect("request");
    let response = server::http::router(t.state.clone())
        .oneshot(request)
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let compressed = crate::support::body_bytes(response).await;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .expect("a gzip stream");
    assert_eq!(plain.lines().count(), 1_200, "more rows than one read");
    assert_eq!(text, plain);
}

/// The export is the filtered log of the scope, as CSV (cells safe from spreadsheet
/// formulas) or JSON lines, over more rows than one read; outsiders get 404.
#[tokio::test]
async fn the_export_streams_the_filtered_log() {
    let t = Tenancy::start().await;
    seed(&t, &t.alpha.id, 1_200, START).await;
    sqlx::query(
        "INSERT INTO audit_logs (id, occurred_at, actor_email, event_type, target_type, \
         target_id, project_id, outcome, severity, details) \
         VALUES ('formula', 1, '=cmd|x', 'vm_action', 'vm', 'a,\"b\"', $1, 'success', 'info', '{}')",
    )
    .bind(&t.alpha.id)
    .execute(t.test.db.pool())
    .await
    .expect("row");
    let slug = form(&t.alpha.slug);
    let (status, disposition, csv) = export(
        &t,
        Who::Viewer,
        &format!("project={slug}&format=csv&event=vm_action"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert_eq!(
        disposition.as_deref(),
        Some("attachment; filename=\"wukong-audit.csv\"")
    );
    let lines: Vec<&str> = csv.split("\r\n").filter(|line| !line.is_empty()).collect();
    assert_eq!(
        lines[0],
        "time_ms,actor,ip,event,target_type,target,outcome,severity,details"
    );
    assert_eq!(
        lines.len(),
        1 + 600 + 1,
        "the header, the seeded actions, the formula row"
    );
    assert!(lines[1..].iter().all(|line| line.contains(",vm_action,")));
    assert_eq!(
        lines.last().copied(),
        Some("1,'=cmd|x,,vm_action,vm,\"a,\"\"b\"\"\",success,info,{}")
    );
    let (status, _, jsonl) = export(
        &t,
        Who::Viewer,
        &format!("project={slug}&format=jsonl&outcome=failure"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let entries: Vec<Value> = jsonl.lines().map(json).collect();
    assert_eq!(entries.len(), 400);
    assert!(entries.iter().all(|entry| entry["outcome"] == "failure"));
    let (status, _, body) = export(&t, Who::Outsider, &format!("project={slug}&format=csv")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains("vm-"), "{body}");
    let (status, _, _) = export(&t, Who::Viewer, "format=csv").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the whole log is for global admins"
    );
}
