//! Tickets and the checks of the console socket: every refusal happens before Wukong asks
//! the cluster anything, which the simulated cluster's count of console requests shows.

use super::{ask_ticket, open, read_until, running, ticket, Opening};
use crate::tenancy::{Tenancy, Who};
use axum::http::StatusCode;

/// Expires every ticket issued so far (the database is the clock of tickets).
async fn expire_tickets(t: &Tenancy) {
    sqlx::query("UPDATE console_tickets SET expires_at = 0")
        .execute(t.test.db.pool())
        .await
        .expect("expire");
}

#[tokio::test]
async fn refused_tickets_and_sockets_never_reach_the_cluster() {
    let mut t = running().await;
    let asked = t.sim.console_requests();
    let operator = t.cookie(Who::Operator).to_owned();

    // The server fn: viewers may not, non-members learn nothing, a stopped VM is said so.
    let (status, _) = ask_ticket(&t, t.cookie(Who::Viewer), "vnc", false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = ask_ticket(&t, t.cookie(Who::Outsider), "vnc", false).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.contains(&t.alpha.namespace), "{body}");
    // A ticket names its VM by the project it was checked in: Beta's VM is not Alpha's.
    let beta_vm = format!(
        "project={}&vm=beta-vm&kind=vnc&take_over=false",
        t.alpha.slug
    );
    let (status, _) = t.post_as(&operator, "console_ticket", &beta_vm).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Expired.
    let expired = ticket(&t, &operator, "vnc", false).await;
    expire_tickets(&t).await;
    let refused = open(&mut t, Opening::new("vnc", &operator, &expired)).await;
    assert_eq!(refused.err(), Some(StatusCode::UNAUTHORIZED));

    // For another kind of console, which uses it up: used again, it is unknown.
    let vnc = ticket(&t, &operator, "vnc", false).await;
    let refused = open(&mut t, Opening::new("serial", &operator, &vnc)).await;
    assert_eq!(refused.err(), Some(StatusCode::FORBIDDEN));
    let refused = open(&mut t, Opening::new("vnc", &operator, &vnc)).await;
    assert_eq!(refused.err(), Some(StatusCode::UNAUTHORIZED));

    // Another user's session, another session of the same user, no session.
    let stolen = ticket(&t, &operator, "vnc", false).await;
    let admin = t.cookie(Who::Admin).to_owned();
    let refused = open(&mut t, Opening::new("vnc", &admin, &stolen)).await;
    assert_eq!(refused.err(), Some(StatusCode::UNAUTHORIZED));
    let second_session = t.sign_in(Who::Operator.email()).await;
    let other_session = ticket(&t, &operator, "vnc", false).await;
    let refused = open(&mut t, Opening::new("vnc", &second_session, &other_session)).await;
    assert_eq!(refused.err(), Some(StatusCode::UNAUTHORIZED));
    let anonymous = ticket(&t, &operator, "vnc", false).await;
    let opening = Opening {
        cookie: None,
        ..Opening::new("vnc", &operator, &anonymous)
    };
    assert_eq!(
        open(&mut t, opening).await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );

    // No ticket, a made-up one.
    let opening = Opening {
        ticket: None,
        ..Opening::new("vnc", &operator, "")
    };
    assert_eq!(
        open(&mut t, opening).await.err(),
        Some(StatusCode::UNAUTHORIZED)
    );
    let refused = open(&mut t, Opening::new("vnc", &operator, "made-up")).await;
    assert_eq!(refused.err(), Some(StatusCode::UNAUTHORIZED));

    // Missing or foreign Origin: refused before the ticket is looked at.
    let good = ticket(&t, &admin, "serial", false).await;
    for origin in [None, Some("https://evil.example"), Some("null")] {
        let opening = Opening {
            origin,
            ..Opening::new("serial", &admin, &good)
        };
        assert_eq!(
            open(&mut t, opening).await.err(),
            Some(StatusCode::FORBIDDEN),
            "{origin:?}"
        );
    }

    // An operator's ticket, used after they became a viewer.
    let member = t.user_id(Who::Operator.email()).await;
    let demoted = ticket(&t, &operator, "vnc", false).await;
    sqlx::query("UPDATE project_members SET role = 'viewer' WHERE user_id = $1")
        .bind(&member)
        .execute(t.test.db.pool())
        .await
        .expect("demote");
    let refused = open(&mut t, Opening::new("vnc", &operator, &demoted)).await;
    assert_eq!(refused.err(), Some(StatusCode::FORBIDDEN));

    assert_eq!(
        t.sim.console_requests(),
        asked,
        "a refused console reached the cluster"
    );
    // The count is real: the ticket the Origin checks left alone opens the console.
    let mut terminal = open(&mut t, Opening::new("serial", &admin, &good))
        .await
        .expect("the console opens");
    read_until(&mut terminal, |bytes| bytes.ends_with(b"$ ")).await;
    assert_eq!(t.sim.console_requests(), asked + 1);
}

#[tokio::test]
async fn a_stopped_vm_gets_no_ticket() {
    let t = Tenancy::start().await;
    let (status, body) = ask_ticket(&t, t.cookie(Who::Operator), "serial", false).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("The VM is not running."), "{body}");
}

#[tokio::test]
async fn tickets_are_stored_hashed_and_expired_ones_are_purged() {
    let t = running().await;
    let operator = t.cookie(Who::Operator).to_owned();
    let first = ticket(&t, &operator, "vnc", true).await;
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT token_hash, take_over FROM console_tickets")
            .fetch_all(t.test.db.pool())
            .await
            .expect("tickets");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, first);
    assert!(!stored[0].0.contains(&first));
    assert_eq!(stored[0].1, 1, "the take-over flag is kept");
    expire_tickets(&t).await;
    ticket(&t, &operator, "vnc", false).await;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM console_tickets")
        .fetch_one(t.test.db.pool())
        .await
        .expect("count");
    assert_eq!(left, 1, "the expired ticket was purged");
}
