//! Sign-in under attack: bounded input, the throttle and the lock under parallel bursts,
//! client addresses behind proxies, the session cap, and re-authentication counted like
//! sign-in.

use crate::support::{
    app_state_with, body_text, cookie_pair, form, set_cookie, Client, EMAIL, ORIGIN, PASSWORD,
};
use app::{
    auth::server::throttle::LoginThrottle,
    context::AppState,
    net::{ForwardedHeader, TrustedProxies},
};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    response::Response,
    Router,
};
use sqlx::Row as _;
use std::{net::SocketAddr, sync::Arc};
use tower::ServiceExt as _;

const WRONG: &str = "wrong horse battery";

/// One request through `router`, as if it arrived over TCP from `peer`.
async fn send(
    router: &Router,
    peer: Option<SocketAddr>,
    endpoint: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut request = Request::post(format!("/api/{endpoint}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, ORIGIN);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::from(body.to_owned())).expect("request");
    if let Some(peer) = peer {
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
    }
    router
        .clone()
        .oneshot(request)
        .await
        .expect("router answers")
}

impl Client {
    /// The application over this client's database and identity services, built once so
    /// that a test sending many requests starts its cluster watchers once.
    fn state(&self) -> AppState {
        app_state_with(self.test.db.clone(), self.auth.clone())
    }

    fn router(&self) -> Router {
        server::http::router(self.state())
    }

    async fn count_and_lock(&self) -> (i64, Option<i64>) {
        let row = sqlx::query("SELECT failed_login_count, locked_at FROM users WHERE email = $1")
            .bind(EMAIL)
            .fetch_one(self.test.db.pool())
            .await
            .expect("user");
        (row.get("failed_login_count"), row.get("locked_at"))
    }

    async fn set_failures(&self, count: i64) {
        sqlx::query("UPDATE users SET failed_login_count = $1")
            .bind(count)
            .execute(self.test.db.pool())
            .await
            .expect("set count");
    }

    async fn audit_rows(&self) -> i64 {
        sqlx::query("SELECT COUNT(*) AS n FROM audit_logs")
            .fetch_one(self.test.db.pool())
            .await
            .expect("count")
            .get("n")
    }
}

fn sign_in_body(email: &str, password: &str) -> String {
    format!("email={}&password={}", form(email), form(password))
}

fn peer(text: &str) -> Option<SocketAddr> {
    Some(SocketAddr::new(text.parse().expect("address"), 40_000))
}

/// VAL-01, AUTH-02: a 255-byte email, a 129-character password (at sign-in, not only when
/// set) and a 20-character code are refused with 400 before the throttle, the database,
/// argon2 or the audit log see them.
#[tokio::test]
async fn oversized_sign_in_input_is_refused_before_any_work() {
    let client = Client::new(false).await;
    let router = client.router();
    let before = (
        client.auth.hasher.verifications(),
        client.audit_rows().await,
    );
    let long_email = format!("{}@example.test", "a".repeat(242));
    assert_eq!(long_email.len(), 255);
    for body in [
        sign_in_body(&long_email, PASSWORD),
        sign_in_body(&"b".repeat(200_000), PASSWORD),
        sign_in_body(EMAIL, &"p".repeat(129)),
        sign_in_body(EMAIL, &"é".repeat(129)),
    ] {
        let response = send(&router, peer("192.0.2.1"), "auth/login", &body, &[]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let error: serde_json::Value =
            serde_json::from_str(&body_text(response).await).expect("JSON");
        assert!(error["TooLong"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("too long")));
    }
    assert_eq!(
        (
            client.auth.hasher.verifications(),
            client.audit_rows().await
        ),
        before,
        "argon2 ran or the audit log was written"
    );
    assert_eq!(client.auth.throttle.held(), (0, 0), "the throttle saw it");

    let cookie = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    let response = client
        .post(
            "auth/mfa/disable",
            &format!("password=x&code={}", "1".repeat(20)),
            Some(ORIGIN),
            Some(&cookie),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let exactly = sign_in_body(EMAIL, &"p".repeat(128));
    let response = send(&router, peer("192.0.2.2"), "auth/login", &exactly, &[]).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "128 is allowed"
    );
}

/// VAL-01: a request body over the limit is refused before it is read whole: 413 when its
/// length is announced, a client error as soon as a streamed one passes the limit; one under
/// it gets as far as the input checks.
#[tokio::test]
async fn request_bodies_beyond_a_mebibyte_are_refused() {
    let client = Client::new(false).await;
    let router = client.router();
    let huge = sign_in_body(EMAIL, &"p".repeat(server::http::MAX_BODY_BYTES));
    let length = huge.len().to_string();
    let announced = [("content-length", length.as_str())];
    let response = send(&router, peer("192.0.2.9"), "auth/login", &huge, &announced).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let chunks =
        futures_util::stream::iter((0..3).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 512 * 1024])));
    let request = Request::post("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, ORIGIN)
        .body(Body::from_stream(chunks))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("answer");
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(client.auth.hasher.verifications(), 0);
    let under = sign_in_body(EMAIL, &"p".repeat(server::http::MAX_BODY_BYTES / 2));
    let response = send(&router, peer("192.0.2.9"), "auth/login", &under, &[]).await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "the password is too long"
    );
}

/// LOG-05, VAL-01: what a client sends reaches the audit log cut to a documented length.
#[tokio::test]
async fn audit_fields_that_carry_client_input_are_cut() {
    let client = Client::new(false).await;
    let agent = "A".repeat(10_000);
    let email = format!("{}@example.test", "e".repeat(240));
    let response = send(
        &client.router(),
        peer("192.0.2.3"),
        "auth/login",
        &sign_in_body(&email, WRONG),
        &[("user-agent", &agent)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let row = sqlx::query(
        "SELECT actor_email, user_agent FROM audit_logs WHERE event_type = 'authn_login_fail'",
    )
    .fetch_one(client.test.db.pool())
    .await
    .expect("audit row");
    assert_eq!(row.get::<String, _>("actor_email"), email);
    assert_eq!(
        row.get::<String, _>("user_agent"),
        "A".repeat(app::audit::server::MAX_FIELD_CHARS)
    );
}

/// AUTH-08 and the flood: failures from more distinct addresses and emails than
/// the throttle holds leave it at its capacity (the least recently failed keys go first;
/// the unit tests in `throttle.rs` show addresses cannot push accounts out).
#[tokio::test]
async fn the_throttle_stays_bounded_under_a_flood_of_addresses_and_emails() {
    let mut client = Client::new(false).await;
    client.auth.throttle = Arc::new(LoginThrottle::with_capacity(40));
    let router = client.router();
    for _ in 0..5 {
        let response = send(
            &router,
            None,
            "auth/login",
            &sign_in_body(EMAIL, WRONG),
            &[],
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    for n in 0..200u8 {
        let body = sign_in_body(&format!("nobody{n}@example.test"), WRONG);
        let response = send(
            &router,
            peer(&format!("10.0.7.{n}")),
            "auth/login",
            &body,
            &[],
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(client.auth.throttle.held(), (40, 40));
    assert_eq!(
        client.count_and_lock().await,
        (5, None),
        "the database count, which the lock rests on, is not a cache that floods push out"
    );
}

/// Sends `wrong` parallel wrong passwords and one right one for `EMAIL` to `replicas`
/// instances of the application, each with a throttle of its own.
async fn burst(client: &Client, wrong: usize, replicas: usize) -> Vec<StatusCode> {
    let routers: Vec<_> = (0..replicas)
        .map(|_| {
            let mut state = client.state();
            state.auth.throttle = Arc::default();
            server::http::router(state)
        })
        .collect();
    let mut tasks = Vec::new();
    for n in 0..=wrong {
        let password = if n == wrong / 2 { PASSWORD } else { WRONG };
        let request = Request::post("/api/auth/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::from(sign_in_body(EMAIL, password)))
            .expect("request");
        let router = routers[n % replicas].clone();
        tasks.push(tokio::spawn(async move {
            router.oneshot(request).await.expect("answer").status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    statuses
}

/// AUTH-08, the acceptance: 400 parallel wrong passwords plus one right one against
/// an account with 95 failures end with the count at 100 at most, the account locked, and
/// no session issued after the lock (none left open at all) — on one process and on eight
/// replicas, each with its own in-memory throttle.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_parallel_burst_cannot_check_more_passwords_than_the_lock_allows() {
    for replicas in [1, 8] {
        let client = Client::new(false).await;
        client.set_failures(95).await;
        let before = client.auth.hasher.verifications();
        let statuses = burst(&client, 400, replicas).await;
        assert!(
            statuses
                .iter()
                .all(|status| *status == StatusCode::UNAUTHORIZED
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::OK),
            "{statuses:?}"
        );
        let (count, locked_at) = client.count_and_lock().await;
        assert!(count <= 100, "count {count} (replicas: {replicas})");
        let locked_at = locked_at.expect("the account is locked");
        let sessions: (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN created_at >= $1 THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN ended_at IS NULL THEN 1 ELSE 0 END), 0) FROM user_sessions",
        )
        .bind(locked_at)
        .fetch_one(client.test.db.pool())
        .await
        .expect("sessions");
        assert_eq!(sessions, (0, 0), "sessions after the lock, sessions open");
        if replicas == 1 {
            assert!(
                client.auth.hasher.verifications() - before <= 5,
                "one process checks no more than the five free attempts"
            );
        }
    }
}

/// AUTH-09: a locked account costs the same argon2 work as an unknown email (a dummy hash
/// is verified for both), and both answer the same bytes.
#[tokio::test]
async fn a_locked_account_and_an_unknown_email_answer_alike() {
    let client = Client::new(false).await;
    sqlx::query("UPDATE users SET locked_at = 1")
        .execute(client.test.db.pool())
        .await
        .expect("lock");
    let mut bodies = Vec::new();
    for email in [EMAIL, "nobody@example.test"] {
        let before = client.auth.hasher.verifications();
        let response = client
            .with_fresh_throttle()
            .login(email, PASSWORD, None)
            .await;
        assert_eq!(client.auth.hasher.verifications() - before, 1, "{email}");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        bodies.push(body_text(response).await);
    }
    assert_eq!(bodies[0], bodies[1]);
}

/// AUTH-08: sessions of a locked account are refused, and the lock ends them.
#[tokio::test]
async fn locking_an_account_ends_its_sessions() {
    let client = Client::new(false).await;
    let cookie = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    assert_eq!(client.me(&cookie).await, StatusCode::OK);
    client.set_failures(99).await;
    let response = client.with_fresh_throttle().login(EMAIL, WRONG, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(client.count_and_lock().await.1.is_some());
    assert_eq!(client.me(&cookie).await, StatusCode::UNAUTHORIZED);
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT end_reason FROM user_sessions WHERE ended_at IS NOT NULL")
            .fetch_all(client.test.db.pool())
            .await
            .expect("sessions");
    assert_eq!(reasons, ["account_locked"]);
}

/// VAL-08: forwarding headers count only from trusted proxies, the right-most untrusted hop
/// is the client, and IPv6 clients are throttled per /64.
#[tokio::test]
async fn client_addresses_come_from_trusted_proxies_only() {
    let mut client = Client::new(false).await;
    client.auth.trusted_proxies = TrustedProxies {
        ranges: vec!["10.0.0.0/8".parse().expect("range")],
        header: ForwardedHeader::XForwardedFor,
    };
    let router = client.router();
    let forged = [("x-forwarded-for", "198.51.100.1, 203.0.113.7")];
    let body = sign_in_body("nobody@example.test", WRONG);
    send(&router, peer("192.0.2.50"), "auth/login", &body, &forged).await;
    send(&router, peer("10.1.1.1"), "auth/login", &body, &forged).await;
    let addresses: Vec<String> = sqlx::query_scalar(
        "SELECT ip_address FROM audit_logs WHERE event_type = 'authn_login_fail' ORDER BY occurred_at",
    )
    .fetch_all(client.test.db.pool())
    .await
    .expect("audit");
    assert_eq!(addresses, ["192.0.2.50", "203.0.113.7"]);

    for host in 1..=5 {
        let address = format!("2001:db8:1:2::{host}");
        let body = sign_in_body(&format!("user{host}@example.test"), WRONG);
        let response = send(&router, peer(&address), "auth/login", &body, &[]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let neighbour = send(
        &router,
        peer("2001:db8:1:2:ffff::1"),
        "auth/login",
        &body,
        &[],
    )
    .await;
    assert_eq!(
        neighbour.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "same /64"
    );
    let elsewhere = send(&router, peer("2001:db8:1:3::1"), "auth/login", &body, &[]).await;
    assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED, "another /64");
}

/// SES-10: the sessions a user may hold are capped; signing in once more ends the oldest,
/// and the eviction is audited.
#[tokio::test]
async fn signing_in_beyond_the_session_cap_ends_the_oldest() {
    let mut client = Client::new(false).await;
    client.auth.sessions.max_per_user = 3;
    let mut cookies = Vec::new();
    for _ in 0..4 {
        let response = client.login(EMAIL, PASSWORD, None).await;
        cookies.push(cookie_pair(&set_cookie(&response)));
    }
    assert_eq!(client.me(&cookies[0]).await, StatusCode::UNAUTHORIZED);
    for cookie in &cookies[1..] {
        assert_eq!(client.me(cookie).await, StatusCode::OK);
    }
    let evicted = client.audit_reasons("session_evicted").await;
    assert_eq!(evicted.len(), 1);
    assert!(evicted[0].contains("session_limit"));
}

async fn regenerate_with_a_wrong_password(client: &Client, cookie: &str) -> Response {
    let body = format!("password={}", form(WRONG));
    client
        .post("auth/mfa/backup-codes", &body, Some(ORIGIN), Some(cookie))
        .await
}

/// AUTH-08: re-entering the password (here to regenerate backup codes) shares the sign-in
/// throttle and counts toward the lock.
#[tokio::test]
async fn password_re_entry_counts_like_a_sign_in() {
    let client = Client::new(false).await;
    let cookie = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    client.set_failures(90).await;
    let response = regenerate_with_a_wrong_password(&client, &cookie).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(client.count_and_lock().await.0, 91);
    assert_eq!(client.audit_reasons("authn_reauth_fail").await.len(), 1);
    for _ in 0..4 {
        regenerate_with_a_wrong_password(&client, &cookie).await;
    }
    assert_eq!(
        client.login(EMAIL, PASSWORD, None).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the sign-in throttle counted the re-entries"
    );
    client.set_failures(99).await;
    let fresh = client.with_fresh_throttle();
    regenerate_with_a_wrong_password(&fresh, &cookie).await;
    assert!(fresh.count_and_lock().await.1.is_some(), "the 100th locks");
    assert_eq!(fresh.me(&cookie).await, StatusCode::UNAUTHORIZED);
}

/// SES-03, SES-05: signing out clears what the browser kept for the site.
#[tokio::test]
async fn signing_out_clears_site_data() {
    let client = Client::new(false).await;
    let cookie = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    let response = client
        .post("auth/logout", "", Some(ORIGIN), Some(&cookie))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["clear-site-data"],
        "\"cookies\", \"storage\""
    );
}
