//! The user's own sessions: listing them as devices and ending them.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::{
        server::session::{self, Requester, Session, Which},
        types::SessionSummary,
    },
    db::{now_ms, Db},
    AppError,
};
use sqlx::Row as _;

/// "Browser on OS" from a user agent string; a rough reading, enough to recognise a device.
pub fn describe_user_agent(agent: Option<&str>) -> String {
    let Some(agent) = agent.filter(|agent| !agent.trim().is_empty()) else {
        return "Unknown device".to_owned();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(token, _)| agent.contains(token))
    .map_or("Unknown browser", |(_, name)| name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(token, _)| agent.contains(token))
    .map(|(_, name)| *name);
    match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_owned(),
    }
}

/// The user's live sessions, most recently active first.
pub async fn list(db: &Db, current: &Session) -> Result<Vec<SessionSummary>, AppError> {
    let now = now_ms();
    let rows = sqlx::query(
        "SELECT id, ip_address, user_agent, created_at, last_seen_at FROM user_sessions \
         WHERE user_id = $1 AND ended_at IS NULL AND stage = 'active' AND expires_at > $2 \
         ORDER BY last_seen_at DESC, created_at DESC",
    )
    .bind(&current.user.id)
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            Ok(SessionSummary {
                is_current: id == current.id,
                id,
                device: describe_user_agent(
                    row.try_get::<Option<String>, _>("user_agent")?.as_deref(),
                ),
                ip: row.try_get("ip_address")?,
                created_at: row.try_get("created_at")?,
                last_active_at: row.try_get("last_seen_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// Ends one of the user's other sessions (`Some(id)`) or all of them (`None`); the current
/// session stays. A session of another user is `NotFound`, like one that does not exist.
pub async fn end_others(
    db: &Db,
    requester: &Requester,
    current: &Session,
    session_id: Option<&str>,
) -> Result<u64, AppError> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let which = match session_id {
        Some(session_id) => Which::OneOf {
            session_id,
            but: &current.id,
        },
        None => Which::AllBut(&current.id),
    };
    let ended = session::end_all(&mut tx, &current.user.id, which, "ended_by_user", now).await?;
    if session_id.is_some() && ended == 0 {
        return Err(AppError::NotFound {
            what: "That session".to_owned(),
        });
    }
    let event = AuditEvent::by(
        &current.user,
        "session_ended",
        Outcome::Success,
        Severity::Info,
        Some(if session_id.is_some() {
            "one"
        } else {
            "all_others"
        }),
    );
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(ended)
}
