//! Local accounts, sessions and the cross-origin defence, through the HTTP surface.

use crate::support::{
    app_state_with, body_text, cookie_pair, create_user, form, set_cookie, test_auth, test_db,
    Client, EMAIL, ORIGIN, PASSWORD,
};
use app::{
    auth::server::{password::check_new_password, users::ensure_first_admin},
    AppError,
};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use sqlx::Row;
use tower::ServiceExt;

#[tokio::test]
async fn passwords_are_hashed_with_argon2id_at_the_owasp_baseline() {
    let auth = test_auth(false);
    let hash = auth.hasher.hash(PASSWORD.to_owned()).await.expect("hash");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(auth
        .hasher
        .verify(PASSWORD.to_owned(), Some(hash.clone()))
        .await
        .expect("verify"));
    assert!(!auth
        .hasher
        .verify("wrong horse battery".to_owned(), Some(hash))
        .await
        .expect("verify"));
}

#[test]
fn new_passwords_need_length_and_must_not_be_common() {
    let refused = |password: &str| match check_new_password(password, EMAIL) {
        Err(AppError::Invalid { field, .. }) => field == "password",
        _ => false,
    };
    assert!(refused("short pass1"), "11 characters");
    assert!(refused(&"x".repeat(129)), "129 characters");
    assert!(refused("Password1234"), "on the common list, any case");
    assert!(refused("qwertyuiopas"), "keyboard walk");
    assert!(refused(EMAIL), "the email itself");
    assert!(check_new_password("plain words are fine", EMAIL).is_ok());
    assert!(
        check_new_password(&"é".repeat(12), EMAIL).is_ok(),
        "counted in characters"
    );
    assert!(check_new_password(&"y".repeat(128), EMAIL).is_ok());
}

#[tokio::test]
async fn login_sets_a_session_cookie_with_the_required_attributes() {
    for (secure, expected) in [
        (false, "; HttpOnly; SameSite=Lax; Path=/"),
        (true, "; HttpOnly; Secure; SameSite=Lax; Path=/"),
    ] {
        let client = Client::new(secure).await;
        let response = client.login(EMAIL, PASSWORD, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = set_cookie(&response);
        let name = if secure {
            "__Host-wukong_session="
        } else {
            "wukong_session="
        };
        assert!(cookie.starts_with(name), "{cookie}");
        assert!(cookie.ends_with(expected), "{cookie}");
        let token = cookie_pair(&cookie)[name.len()..].to_owned();
        assert_eq!(token.len(), 43, "256-bit token, base64url");
        let user: serde_json::Value =
            serde_json::from_str(&body_text(response).await).expect("JSON");
        assert_eq!(user["SignedIn"]["email"], EMAIL);
    }
}

#[tokio::test]
async fn the_database_keeps_only_a_hash_of_the_token() {
    let client = Client::new(false).await;
    let cookie = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    let token = cookie.split_once('=').expect("pair").1;
    let stored: Vec<String> = sqlx::query("SELECT token_hash FROM user_sessions")
        .fetch_all(client.test.db.pool())
        .await
        .expect("sessions")
        .iter()
        .map(|row| row.get("token_hash"))
        .collect();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);
    assert_eq!(stored[0], app::auth::server::session::token_hash(token));
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let client = Client::new(false).await;
    let cookie = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    assert_eq!(client.me(&cookie).await, StatusCode::OK);

    let response = client
        .post("auth/logout", "", Some(ORIGIN), Some(&cookie))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookie(&response).contains("Max-Age=0"));
    assert_eq!(client.me(&cookie).await, StatusCode::UNAUTHORIZED);
    assert_eq!(client.audit_reasons("authn_logout").await.len(), 1);
}

#[tokio::test]
async fn a_new_login_issues_a_new_token_and_ends_the_old_one() {
    let client = Client::new(false).await;
    let first = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    let second = cookie_pair(&set_cookie(
        &client.login(EMAIL, PASSWORD, Some(&first)).await,
    ));
    assert_ne!(first, second);
    assert_eq!(client.me(&first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(client.me(&second).await, StatusCode::OK);
}

#[tokio::test]
async fn idle_and_absolute_timeouts_end_sessions() {
    for expire in [
        "UPDATE user_sessions SET last_seen_at = last_seen_at - 3600001",
        "UPDATE user_sessions SET expires_at = created_at",
    ] {
        let client = Client::new(false).await;
        let cookie = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
        assert_eq!(client.me(&cookie).await, StatusCode::OK);
        sqlx::query(expire)
            .execute(client.test.db.pool())
            .await
            .expect(expire);
        assert_eq!(
            client.me(&cookie).await,
            StatusCode::UNAUTHORIZED,
            "{expire}"
        );
    }
}

#[tokio::test]
async fn unknown_email_wrong_password_and_disabled_account_answer_alike() {
    let client = Client::new(false).await;
    let before = client.auth.hasher.verifications();
    let unknown = client.login("nobody@example.test", PASSWORD, None).await;
    let wrong = client.login(EMAIL, "wrong horse battery", None).await;
    sqlx::query("UPDATE users SET is_disabled = 1")
        .execute(client.test.db.pool())
        .await
        .expect("disable");
    let disabled = client.login(EMAIL, PASSWORD, None).await;
    assert_eq!(
        client.auth.hasher.verifications() - before,
        3,
        "argon2 ran for each, unknown email included"
    );

    let mut bodies = Vec::new();
    for response in [unknown, wrong, disabled] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(header::SET_COOKIE).is_none());
        bodies.push(body_text(response).await);
    }
    assert!(bodies.iter().all(|body| body == &bodies[0]), "{bodies:?}");
    assert_eq!(bodies[0], r#""BadCredentials""#);
    let reasons = client.audit_reasons("authn_login_fail").await;
    for reason in ["unknown_user", "bad_password", "account_disabled"] {
        assert!(
            reasons.iter().any(|details| details.contains(reason)),
            "{reason} not audited: {reasons:?}"
        );
    }
}

#[tokio::test]
async fn state_changing_requests_must_come_from_an_allowed_origin() {
    let client = Client::new(false).await;
    let body = format!("email={}&password={}", form(EMAIL), form(PASSWORD));
    for origin in [Some("https://evil.example"), Some("null"), None] {
        let response = client.post("auth/login", &body, origin, None).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "origin {origin:?}"
        );
        assert!(response.headers().get(header::SET_COOKIE).is_none());
    }
    assert!(
        client.audit_reasons("authn_login_success").await.is_empty(),
        "a refused request ran"
    );

    let response = client.post("auth/login", &body, Some(ORIGIN), None).await;
    assert_eq!(response.status(), StatusCode::OK);

    let via_referer = Request::post("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::REFERER, format!("{ORIGIN}/login?next=%2F"))
        .body(Body::from(body))
        .expect("request");
    let response =
        server::http::router(app_state_with(client.test.db.clone(), client.auth.clone()))
            .oneshot(via_referer)
            .await
            .expect("router answers");
    assert_eq!(response.status(), StatusCode::OK, "Referer fallback");
}

#[tokio::test]
async fn the_first_run_creates_one_admin_who_must_change_the_password() {
    let test = test_db().await;
    let auth = test_auth(false);
    let password = ensure_first_admin(&test.db, &auth.hasher)
        .await
        .expect("first run")
        .expect("a generated password");
    assert!(
        check_new_password(&password, "admin@localhost").is_ok(),
        "generated password breaks the rules"
    );
    assert_eq!(
        ensure_first_admin(&test.db, &auth.hasher)
            .await
            .expect("second run"),
        None
    );

    let row = sqlx::query(
        "SELECT global_role, must_change_password FROM users WHERE email = 'admin@localhost'",
    )
    .fetch_one(test.db.pool())
    .await
    .expect("admin row");
    assert_eq!(row.get::<String, _>("global_role"), "admin");
    assert_eq!(row.get::<i64, _>("must_change_password"), 1);

    let client = Client { test, auth };
    let response = client.login("Admin@Localhost", &password, None).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "email compared case-insensitively"
    );
    let user: serde_json::Value = serde_json::from_str(&body_text(response).await).expect("JSON");
    assert_eq!(user["SignedIn"]["is_admin"], true);
    assert_eq!(user["SignedIn"]["must_change_password"], true);
}

#[tokio::test]
async fn a_forced_password_change_comes_before_anything_else() {
    let test = test_db().await;
    let auth = test_auth(false);
    let password = ensure_first_admin(&test.db, &auth.hasher)
        .await
        .expect("first run")
        .expect("password");
    let client = Client { test, auth };
    let elsewhere = cookie_pair(&set_cookie(
        &client.login("admin@localhost", &password, None).await,
    ));
    let cookie = cookie_pair(&set_cookie(
        &client.login("admin@localhost", &password, None).await,
    ));

    let page = client.get("/", &cookie).await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[header::LOCATION], "/account/password");
    let change_page = client.get("/account/password", &cookie).await;
    let status = change_page.status();
    assert_eq!(status, StatusCode::OK, "{}", body_text(change_page).await);
    let app = client
        .post("system/info", "", Some(ORIGIN), Some(&cookie))
        .await;
    assert_eq!(app.status(), StatusCode::FORBIDDEN);

    let change = |current: &str, new: &str, confirm: &str| {
        format!(
            "current_password={}&new_password={}&confirm_password={}",
            form(current),
            form(new),
            form(confirm)
        )
    };
    let new = "a brand new passphrase";
    for (body, field) in [
        (change("not the password", new, new), "current_password"),
        (
            change(&password, "password1234", "password1234"),
            "new_password",
        ),
        (change(&password, &password, &password), "new_password"),
        (
            change(&password, new, "something else entirely"),
            "confirm_password",
        ),
    ] {
        let response = client
            .post("auth/password", &body, Some(ORIGIN), Some(&cookie))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}"
        );
        let error: serde_json::Value =
            serde_json::from_str(&body_text(response).await).expect("JSON");
        assert_eq!(error["Invalid"]["field"], field, "{error}");
    }

    let response = client
        .post(
            "auth/password",
            &change(&password, new, new),
            Some(ORIGIN),
            Some(&cookie),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(client.get("/", &cookie).await.status(), StatusCode::OK);
    assert_eq!(
        client
            .post("system/info", "", Some(ORIGIN), Some(&cookie))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        client.me(&elsewhere).await,
        StatusCode::UNAUTHORIZED,
        "other sessions end"
    );
    assert_eq!(
        client
            .login("admin@localhost", &password, None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        client.login("admin@localhost", new, None).await.status(),
        StatusCode::OK
    );
    assert_eq!(client.audit_reasons("authn_password_change").await.len(), 1);
    assert_eq!(client.audit_reasons("authn_reauth_fail").await.len(), 1);
}

#[tokio::test]
async fn the_sixth_wrong_password_within_a_minute_is_refused_before_argon2() {
    let client = Client::new(false).await;
    for attempt in 1..=5 {
        let response = client.login(EMAIL, "wrong horse battery", None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let before = client.auth.hasher.verifications();
    for password in ["wrong horse battery", PASSWORD] {
        let response = client.login(EMAIL, password, None).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = response.headers()[header::RETRY_AFTER]
            .to_str()
            .expect("ASCII")
            .parse()
            .expect("seconds");
        assert!(
            (1..=900).contains(&retry_after),
            "Retry-After {retry_after}"
        );
        assert!(response.headers().get(header::SET_COOKIE).is_none());
    }
    assert_eq!(
        client.auth.hasher.verifications(),
        before,
        "argon2 ran for a throttled attempt"
    );
}

#[tokio::test]
async fn one_address_guessing_across_accounts_is_throttled_too() {
    let client = Client::new(false).await;
    let from = |email: &str| {
        let body = format!("email={}&password=wrong+horse+battery", form(email));
        let mut request = Request::post("/api/auth/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::from(body))
            .expect("request");
        let peer = std::net::SocketAddr::from(([192, 0, 2, 7], 40_000));
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        request
    };
    for attempt in 1..=5 {
        let email = format!("user{attempt}@example.test");
        let response =
            server::http::router(app_state_with(client.test.db.clone(), client.auth.clone()))
                .oneshot(from(&email))
                .await
                .expect("router answers");
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let response =
        server::http::router(app_state_with(client.test.db.clone(), client.auth.clone()))
            .oneshot(from("someone-else@example.test"))
            .await
            .expect("router answers");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let rows =
        sqlx::query("SELECT ip_address FROM audit_logs WHERE event_type = 'authn_login_fail'")
            .fetch_all(client.test.db.pool())
            .await
            .expect("audit");
    assert!(rows
        .iter()
        .all(|row| row.get::<Option<String>, _>("ip_address").as_deref() == Some("192.0.2.7")));
}

#[tokio::test]
async fn the_hundredth_failure_locks_the_account() {
    let client = Client::new(false).await;
    sqlx::query("UPDATE users SET failed_login_count = 99")
        .execute(client.test.db.pool())
        .await
        .expect("set count");
    let response = client.login(EMAIL, "wrong horse battery", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(client.audit_reasons("authn_login_lock").await.len(), 1);

    // A fresh throttle (another replica, or after a restart) still meets the lock.
    let client = Client {
        test: client.test,
        auth: test_auth(false),
    };
    let response = client.login(EMAIL, PASSWORD, None).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "the right password opens a locked account"
    );
    assert_eq!(body_text(response).await, r#""BadCredentials""#);
    let reasons = client.audit_reasons("authn_login_fail").await;
    assert!(
        reasons
            .last()
            .is_some_and(|details| details.contains("account_locked")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_successful_sign_in_resets_the_failure_count() {
    let client = Client::new(false).await;
    for _ in 0..3 {
        client.login(EMAIL, "wrong horse battery", None).await;
    }
    assert_eq!(
        client.login(EMAIL, PASSWORD, None).await.status(),
        StatusCode::OK
    );
    let count: i64 = sqlx::query("SELECT failed_login_count FROM users")
        .fetch_one(client.test.db.pool())
        .await
        .expect("count")
        .get("failed_login_count");
    assert_eq!(count, 0);
    for attempt in 1..=5 {
        let response = client.login(EMAIL, "wrong horse battery", None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt} after the reset"
        );
    }
}

#[test]
fn user_agents_read_as_browser_and_system() {
    use app::auth::server::devices::describe_user_agent;
    let cases = [
        (Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"), "Firefox on Linux"),
        (Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"), "Edge on Windows"),
        (Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"), "Safari on macOS"),
        (Some("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"), "Chrome on Android"),
        (Some("curl/8.5.0"), "curl"),
        (Some(""), "Unknown device"),
        (None, "Unknown device"),
    ];
    for (agent, expected) in cases {
        assert_eq!(describe_user_agent(agent), expected, "{agent:?}");
    }
}

#[tokio::test]
async fn users_list_and_end_their_own_sessions_only() {
    use app::auth::types::SessionSummary;
    let client = Client::new(false).await;
    let first = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    let second = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    let third = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    let list = |cookie: String| {
        let client = &client;
        async move {
            let response = client
                .post("auth/sessions", "", Some(ORIGIN), Some(&cookie))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
            let sessions: Vec<SessionSummary> =
                serde_json::from_str(&body_text(response).await).expect("sessions JSON");
            sessions
        }
    };
    let sessions = list(first.clone()).await;
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s.is_current).count(), 1);

    // Someone else cannot end them, and learns nothing about them.
    create_user(&client.test.db, &client.auth, "eve@example.test", PASSWORD).await;
    let eve = cookie_pair(&set_cookie(
        &client.login("eve@example.test", PASSWORD, None).await,
    ));
    let other_id = &sessions.iter().find(|s| !s.is_current).expect("other").id;
    let body = format!("session_id={other_id}");
    let response = client
        .post("auth/sessions/end", &body, Some(ORIGIN), Some(&eve))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(list(first.clone()).await.len(), 3);

    let response = client
        .post("auth/sessions/end", &body, Some(ORIGIN), Some(&first))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut ended = 0;
    for cookie in [&second, &third] {
        if client.me(cookie).await == StatusCode::UNAUTHORIZED {
            ended += 1;
        }
    }
    assert_eq!(ended, 1);

    let response = client
        .post("auth/sessions/end-others", "", Some(ORIGIN), Some(&first))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(client.me(&second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(client.me(&third).await, StatusCode::UNAUTHORIZED);
    assert_eq!(client.me(&first).await, StatusCode::OK);
    assert_eq!(client.audit_reasons("session_ended").await.len(), 2);
}

/// The first-run admin password file, on either database: kept while the admin must still
/// change the password, removed by the change itself, and by the start-up check when the
/// change happened where this process could not act (AUTH-10). Another user's change leaves
/// it alone.
#[tokio::test]
async fn the_first_admin_password_file_goes_when_that_admin_changes_the_password() {
    use app::auth::server::{first_admin::PasswordFile, Auth};
    let test = test_db().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("initial-admin-password");
    let file = PasswordFile::at(path.clone());
    let password = ensure_first_admin(&test.db, &test_auth(false).hasher)
        .await
        .expect("first run")
        .expect("password");
    std::fs::write(&path, &password).expect("write the file");
    file.remove_if_stale(&test.db).await.expect("check");
    assert!(path.exists(), "the admin must still change it");

    let auth = Auth {
        first_admin_password: file.clone(),
        ..test_auth(false)
    };
    create_user(&test.db, &auth, EMAIL, PASSWORD).await;
    let client = Client { test, auth };
    let change = |current: &str, new: &str| {
        format!(
            "current_password={}&new_password={}&confirm_password={}",
            form(current),
            form(new),
            form(new)
        )
    };
    let cookie = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    let other = client
        .post(
            "auth/password",
            &change(PASSWORD, "another user's passphrase"),
            Some(ORIGIN),
            Some(&cookie),
        )
        .await;
    assert_eq!(other.status(), StatusCode::OK);
    assert!(path.exists(), "another user's change");

    let cookie = cookie_pair(&set_cookie(
        &client.login("admin@localhost", &password, None).await,
    ));
    let changed = client
        .post(
            "auth/password",
            &change(&password, "the admin's own passphrase"),
            Some(ORIGIN),
            Some(&cookie),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(!path.exists(), "removed by the change");

    std::fs::write(&path, &password).expect("a file left behind");
    file.remove_if_stale(&client.test.db).await.expect("check");
    assert!(!path.exists(), "removed at start-up once changed");
}
