//! Open consoles: the screen and the terminal come through Wukong, one viewer at a time,
//! and each way a console ends reaches the browser as its close code, and the audit log.

use super::{closing, open_as, read_until, running, Socket};
use crate::tenancy::{Tenancy, Who, VM};
use app::console::types::{
    CLOSE_IN_USE, CLOSE_ROLE_LOST, CLOSE_SESSION_ENDED, CLOSE_TAKEN_OVER, CLOSE_TOO_BIG,
    CLOSE_VM_NOT_RUNNING, MAX_BROWSER_MESSAGE,
};
use axum::http::StatusCode;
use futures_util::SinkExt as _;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const RFB_GREETING: &[u8] = b"RFB 003.008\n";

/// The audit records of `event` on Alpha's VM, once there are `count` of them: their
/// actors and details.
async fn audited(t: &Tenancy, event: &str, count: usize) -> Vec<(String, Value)> {
    for _ in 0..1000 {
        let rows: Vec<(Option<String>, String)> = sqlx::query_as(
            "SELECT actor_email, details FROM audit_logs WHERE event_type = $1 \
             AND target_type = 'vm' AND target_id = $2 AND project_id = $3 ORDER BY occurred_at",
        )
        .bind(event)
        .bind(VM)
        .bind(&t.alpha.id)
        .fetch_all(t.test.db.pool())
        .await
        .expect("audit rows");
        if rows.len() >= count {
            return rows
                .into_iter()
                .map(|(actor, details)| {
                    (
                        actor.unwrap_or_default(),
                        serde_json::from_str(&details).expect("JSON details"),
                    )
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no {count} {event} records");
}

/// Alpha's VM's screen, opened as `who`, once it has greeted.
async fn screen_as(t: &mut Tenancy, who: Who, take_over: bool) -> Socket {
    let mut screen = open_as(t, who, "vnc", take_over).await;
    let greeting = read_until(&mut screen, |bytes| bytes.len() >= RFB_GREETING.len()).await;
    assert_eq!(&greeting[..RFB_GREETING.len()], RFB_GREETING);
    screen
}

/// Alpha's VM's serial console, opened as `who`, once it shows its prompt.
async fn terminal_as(t: &mut Tenancy, who: Who) -> Socket {
    let mut terminal = open_as(t, who, "serial", false).await;
    read_until(&mut terminal, |bytes| bytes.ends_with(b"$ ")).await;
    terminal
}

async fn send(socket: &mut Socket, bytes: &[u8]) {
    socket
        .send(Message::Binary(bytes.to_vec().into()))
        .await
        .expect("send");
}

#[tokio::test]
async fn the_vnc_screen_greets_through_wukong_and_its_closing_is_audited() {
    let mut t = running().await;
    let mut screen = screen_as(&mut t, Who::Operator, false).await;
    send(&mut screen, RFB_GREETING).await;
    screen.close(None).await.expect("close");
    let opened = audited(&t, "console_opened", 1).await;
    assert_eq!(opened[0].0, Who::Operator.email());
    assert_eq!(opened[0].1["reason"], "vnc");
    let closed = audited(&t, "console_closed", 1).await;
    let changes = &closed[0].1["changes"];
    assert_eq!(closed[0].1["reason"], "closed");
    assert_eq!(changes["end"], "closed");
    assert!(changes["duration_ms"].is_u64(), "{changes}");
    assert_eq!(changes["bytes_to_vm"], RFB_GREETING.len());
    assert!(
        changes["bytes_from_vm"].as_u64() >= Some(RFB_GREETING.len() as u64),
        "{changes}"
    );
}

#[tokio::test]
async fn the_serial_console_echoes_what_is_typed() {
    let mut t = running().await;
    let mut terminal = terminal_as(&mut t, Who::Operator).await;
    send(&mut terminal, b"hello wukong").await;
    let echo = read_until(&mut terminal, |bytes| {
        String::from_utf8_lossy(bytes).contains("hello wukong")
    })
    .await;
    assert!(String::from_utf8_lossy(&echo).contains("hello wukong"));
}

#[tokio::test]
async fn a_second_viewer_is_told_who_is_connected_and_a_take_over_tells_the_first() {
    let mut t = running().await;
    let mut first = screen_as(&mut t, Who::Operator, false).await;
    let mut second = open_as(&mut t, Who::Admin, "vnc", false).await;
    let refused = closing(&mut second).await;
    assert_eq!(u16::from(refused.code), CLOSE_IN_USE);
    assert_eq!(refused.reason.as_str(), Who::Operator.email());
    // The other kind of console of the same VM is free.
    let _serial = terminal_as(&mut t, Who::Admin).await;

    let _taker = screen_as(&mut t, Who::Admin, true).await;
    let displaced = closing(&mut first).await;
    assert_eq!(u16::from(displaced.code), CLOSE_TAKEN_OVER);
    assert_eq!(displaced.reason.as_str(), Who::Admin.email());
    let taken = audited(&t, "console_taken_over", 1).await;
    assert_eq!(taken[0].0, Who::Admin.email());
    assert_eq!(taken[0].1["reason"], Who::Operator.email());
    let closed = audited(&t, "console_closed", 1).await;
    assert_eq!(closed[0].1["changes"]["end"], "taken_over");
}

#[tokio::test]
async fn signing_out_closes_the_console() {
    let mut t = running().await;
    let mut terminal = terminal_as(&mut t, Who::Operator).await;
    let (status, body) = t.post(Who::Operator, "auth/logout", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        u16::from(closing(&mut terminal).await.code),
        CLOSE_SESSION_ENDED
    );
    let closed = audited(&t, "console_closed", 1).await;
    assert_eq!(closed[0].1["changes"]["end"], "signed_out");
}

#[tokio::test]
async fn losing_the_role_closes_the_console() {
    let mut t = running().await;
    let mut screen = screen_as(&mut t, Who::Operator, false).await;
    let operator = t.user_id(Who::Operator.email()).await;
    let body = format!("slug={}&user_id={operator}&role=viewer", t.alpha.slug);
    let (status, answer) = t.post(Who::Admin, "projects/members/role", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(u16::from(closing(&mut screen).await.code), CLOSE_ROLE_LOST);
}

#[tokio::test]
async fn stopping_the_vm_closes_the_console() {
    let mut t = running().await;
    let mut terminal = terminal_as(&mut t, Who::Operator).await;
    let stop = json!({"project": t.alpha.slug, "name": VM, "action": "Stop"});
    let (status, answer) = t.post(Who::Owner, "vms/action", &stop.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        u16::from(closing(&mut terminal).await.code),
        CLOSE_VM_NOT_RUNNING
    );
}

#[tokio::test]
async fn a_browser_message_over_the_limit_closes_the_console() {
    let mut t = running().await;
    let mut terminal = terminal_as(&mut t, Who::Operator).await;
    // The limit itself passes.
    send(&mut terminal, &vec![b'x'; MAX_BROWSER_MESSAGE]).await;
    send(&mut terminal, &vec![b'x'; MAX_BROWSER_MESSAGE + 1]).await;
    assert_eq!(u16::from(closing(&mut terminal).await.code), CLOSE_TOO_BIG);
    let closed = audited(&t, "console_closed", 1).await;
    assert_eq!(closed[0].1["changes"]["end"], "message_too_big");
    assert_eq!(
        closed[0].1["changes"]["bytes_to_vm"], MAX_BROWSER_MESSAGE,
        "the message at the limit reached the VM"
    );
}
