//! `GET /audit/export`: the audit log of a scope, filtered as on its page, as CSV or JSON
//! lines. The scope is checked as for `audit/list`; the rows are read and sent a page at a
//! time, so an export of a million rows never sits in memory.

use app::{
    audit::{
        server::query::{self, ReadableScope},
        types::{AuditCursor, AuditEntry, AuditFilter, AuditScope},
    },
    auth::server::session::Session,
    context::AppState,
    AppError,
};
use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use serde::Deserialize;

/// Rows read per database round trip.
const CHUNK: usize = 500;

/// The query string: the scope (no project: everything; a project; a project and a VM),
/// the format, and the page's filters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExportQuery {
    project: String,
    vm: String,
    format: String,
    actor: String,
    event: String,
    outcome: String,
    severity: String,
    from_ms: Option<i64>,
    until_ms: Option<i64>,
    target: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

fn refuse(error: AppError) -> Response {
    (error.status(), Json(error)).into_response()
}

pub async fn export(
    State(state): State<AppState>,
    session: Option<Extension<Session>>,
    Query(query): Query<ExportQuery>,
) -> Response {
    let Some(Extension(session)) = session else {
        return refuse(AppError::Unauthorized);
    };
    if !session.may_use_app() {
        return refuse(AppError::Forbidden);
    }
    let format = match query.format.as_str() {
        "" | "csv" => Format::Csv,
        "jsonl" => Format::JsonLines,
        _ => {
            return refuse(AppError::Invalid {
                field: "format".to_owned(),
                message: "Choose csv or jsonl.".to_owned(),
            })
        }
    };
    let scope = match (query.project.is_empty(), query.vm.is_empty()) {
        (true, _) => AuditScope::Everything,
        (false, true) => AuditScope::Project {
            slug: query.project.clone(),
        },
        (false, false) => AuditScope::Vm {
            project: query.project.clone(),
            name: query.vm.clone(),
        },
    };
    let readable = match query::readable(&state.db, &session.user, &scope).await {
        Ok(readable) => readable,
        Err(error) => return refuse(error),
    };
    let filter = AuditFilter {
        actor: query.actor,
        event: query.event,
        outcome: query.outcome,
        severity: query.severity,
        from_ms: query.from_ms,
        until_ms: query.until_ms,
        target: query.target,
    };
    // The first page is read before answering, so a bad filter is a status, not a cut file.
    let first = match query::page(&state.db, &readable, &filter, None, CHUNK).await {
        Ok(page) => page,
        Err(error) => return refuse(error),
    };
    let mut head = match format {
        Format::Csv => CSV_HEADER.to_owned(),
        Format::JsonLines => String::new(),
    };
    head.push_str(&lines(format, &first.entries));
    let rest = Rest {
        state,
        readable,
        filter,
        format,
        next: first.next,
    };
    let first = futures_util::stream::once(async move { Ok(Bytes::from(head)) });
    // Fused: the compression layer reads once more after the end, which `unfold` forbids.
    let body =
        futures_util::StreamExt::fuse(futures_util::StreamExt::chain(first, later_pages(rest)));
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::JsonLines => ("application/x-ndjson", "jsonl"),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"wukong-audit.{extension}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// What is left to send after the first page.
struct Rest {
    state: AppState,
    readable: ReadableScope,
    filter: AuditFilter,
    format: Format,
    next: Option<AuditCursor>,
}

/// The pages after the first, read as the client takes them.
fn later_pages(rest: Rest) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(rest, |mut rest| async move {
        let after = rest.next.take()?;
        match query::page(
            &rest.state.db,
            &rest.readable,
            &rest.filter,
            Some(&after),
            CHUNK,
        )
        .await
        {
            Ok(page) => {
                rest.next = page.next;
                let chunk = Bytes::from(lines(rest.format, &page.entries));
                Some((Ok(chunk), rest))
            }
            // The answer has begun: all that is left is to cut it, which the client sees as
            // an incomplete download.
            Err(error) => {
                tracing::warn!(%error, "the audit export stopped");
                Some((Err(std::io::Error::other("audit export failed")), rest))
            }
        }
    })
}

const CSV_HEADER: &str = "time_ms,actor,ip,event,target_type,target,outcome,severity,details\r\n";

fn lines(format: Format, entries: &[AuditEntry]) -> String {
    let mut text = String::new();
    for entry in entries {
        match format {
            Format::JsonLines => {
                if let Ok(line) = serde_json::to_string(entry) {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
            Format::Csv => {
                let fields = [
                    entry.occurred_ms.to_string(),
                    entry.actor.clone().unwrap_or_default(),
                    entry.ip.clone().unwrap_or_default(),
                    entry.event.clone(),
                    entry.target_type.clone().unwrap_or_default(),
                    entry.target.clone().unwrap_or_default(),
                    entry.outcome.clone(),
                    entry.severity.clone(),
                    entry.details.clone(),
                ];
                let cells: Vec<String> = fields.iter().map(|field| csv_cell(field)).collect();
                text.push_str(&cells.join(","));
                text.push_str("\r\n");
            }
        }
    }
    text
}

/// One CSV cell: quoted when it must be, and kept from being read as a formula by a
/// spreadsheet (OWASP's CSV injection advice: a leading `=`, `+`, `-`, `@`, tab or carriage
/// return gets a `'`).
fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}
