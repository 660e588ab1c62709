//! The admin users surface: only admins reach it, and each action does what it says.

use crate::support::{
    body_text, cookie_pair, create_user, set_cookie, Client, EMAIL, ORIGIN, PASSWORD,
};
use app::auth::types::{CreatedUser, UserPage, UserSummary};
use axum::http::StatusCode;
use sqlx::Row as _;

/// A client whose user (`EMAIL`) is an admin, with their session cookie.
async fn admin() -> (Client, String) {
    let client = Client::new(false).await;
    sqlx::query("UPDATE users SET global_role = 'admin'")
        .execute(client.test.db.pool())
        .await
        .expect("promote");
    let cookie = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    (client, cookie)
}

async fn call<T: serde::de::DeserializeOwned>(
    client: &Client,
    cookie: &str,
    endpoint: &str,
    body: &str,
) -> Result<T, StatusCode> {
    let response = client
        .post(endpoint, body, Some(ORIGIN), Some(cookie))
        .await;
    let status = response.status();
    let text = body_text(response).await;
    if status == StatusCode::OK {
        Ok(serde_json::from_str(&text).expect("JSON answer"))
    } else {
        Err(status)
    }
}

async fn update(
    client: &Client,
    cookie: &str,
    user_id: &str,
    action: &str,
) -> Result<UserSummary, StatusCode> {
    let body = format!("user_id={user_id}&action={action}");
    call(client, cookie, "admin/users/update", &body).await
}

#[tokio::test]
async fn only_admins_reach_user_administration() {
    let client = Client::new(false).await;
    let cookie = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    let id: String = sqlx::query("SELECT id FROM users")
        .fetch_one(client.test.db.pool())
        .await
        .expect("user")
        .get("id");
    for (endpoint, body) in [
        ("admin/users", "search=&page=0".to_owned()),
        (
            "admin/users/create",
            "email=new%40example.test&display_name=".to_owned(),
        ),
        (
            "admin/users/update",
            format!("user_id={id}&action=MakeAdmin"),
        ),
        ("admin/users/update", format!("user_id={id}&action=Unlock")),
    ] {
        let response = client
            .post(endpoint, &body, Some(ORIGIN), Some(&cookie))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{endpoint} {body}"
        );
        let response = client.post(endpoint, &body, Some(ORIGIN), None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{endpoint} signed out"
        );
    }
    let role: String = sqlx::query("SELECT global_role FROM users")
        .fetch_one(client.test.db.pool())
        .await
        .expect("user")
        .get("global_role");
    assert_eq!(role, "user");
}

#[tokio::test]
async fn admins_search_and_page_through_users() {
    let (client, cookie) = admin().await;
    for n in 0..30 {
        create_user(
            &client.test.db,
            &client.auth,
            &format!("user{n:02}@example.test"),
            PASSWORD,
        )
        .await;
    }
    let first: UserPage = call(&client, &cookie, "admin/users", "search=&page=0")
        .await
        .expect("page 0");
    assert_eq!(first.total, 31);
    assert_eq!(first.users.len(), 25);
    assert_eq!(first.users[0].email, "ada@example.test");
    let second: UserPage = call(&client, &cookie, "admin/users", "search=&page=1")
        .await
        .expect("page 1");
    assert_eq!(second.users.len(), 6);
    assert_eq!(second.users[5].email, "user29@example.test");
    let found: UserPage = call(&client, &cookie, "admin/users", "search=USER1&page=0")
        .await
        .expect("search");
    assert_eq!(found.total, 10);
    let literal: UserPage = call(&client, &cookie, "admin/users", "search=%25&page=0")
        .await
        .expect("search %");
    assert_eq!(literal.total, 0, "% is matched literally");
}

#[tokio::test]
async fn a_created_user_signs_in_with_the_generated_password_and_must_change_it() {
    let (client, cookie) = admin().await;
    let created: CreatedUser = call(
        &client,
        &cookie,
        "admin/users/create",
        "email=Bob%40Example.test&display_name=Bob",
    )
    .await
    .expect("create");
    assert_eq!(created.user.email, "bob@example.test");
    assert!(!created.user.is_admin);
    let password = created.password.expect("generated password");
    let response = client.login("bob@example.test", &password, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_text(response)
        .await
        .contains("\"must_change_password\":true"));

    let again = client
        .post(
            "admin/users/create",
            "email=bob%40example.test&display_name=",
            Some(ORIGIN),
            Some(&cookie),
        )
        .await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body_text(again).await.contains("already exists"));
    let bad = client
        .post(
            "admin/users/create",
            "email=not-an-email&display_name=",
            Some(ORIGIN),
            Some(&cookie),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(client.audit_reasons("user_created").await.len(), 1);
}

#[tokio::test]
async fn disabling_ends_sessions_and_admins_cannot_lock_themselves_out() {
    let (client, cookie) = admin().await;
    let bob = create_user(&client.test.db, &client.auth, "bob@example.test", PASSWORD).await;
    let bob_cookie = cookie_pair(&set_cookie(
        &client.login("bob@example.test", PASSWORD, None).await,
    ));
    assert_eq!(client.me(&bob_cookie).await, StatusCode::OK);
    let disabled = update(&client, &cookie, &bob, "Disable")
        .await
        .expect("disable");
    assert!(disabled.is_disabled);
    assert_eq!(client.me(&bob_cookie).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        client
            .login("bob@example.test", PASSWORD, None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let enabled = update(&client, &cookie, &bob, "Enable")
        .await
        .expect("enable");
    assert!(!enabled.is_disabled);
    assert_eq!(
        client
            .login("bob@example.test", PASSWORD, None)
            .await
            .status(),
        StatusCode::OK
    );

    let own: String = sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(EMAIL)
        .fetch_one(client.test.db.pool())
        .await
        .expect("admin")
        .get("id");
    assert_eq!(
        update(&client, &cookie, &own, "Disable").await.unwrap_err(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        update(&client, &cookie, &own, "MakeUser")
            .await
            .unwrap_err(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        update(&client, &cookie, "no-such-user", "Unlock")
            .await
            .unwrap_err(),
        StatusCode::NOT_FOUND
    );
    let events = client.audit_reasons("user_disabled").await;
    assert_eq!(events.len(), 1);
}

#[tokio::test]
async fn admins_unlock_reset_mfa_and_change_roles() {
    let (client, cookie) = admin().await;
    let bob = create_user(&client.test.db, &client.auth, "bob@example.test", PASSWORD).await;
    sqlx::query("UPDATE users SET locked_at = 1, failed_login_count = 100 WHERE id = $1")
        .bind(&bob)
        .execute(client.test.db.pool())
        .await
        .expect("lock");
    assert_eq!(
        client
            .login("bob@example.test", PASSWORD, None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let unlocked = update(&client, &cookie, &bob, "Unlock")
        .await
        .expect("unlock");
    assert!(!unlocked.is_locked);
    assert_eq!(
        client
            .login("bob@example.test", PASSWORD, None)
            .await
            .status(),
        StatusCode::OK
    );

    sqlx::query(
        "INSERT INTO user_mfa_settings (user_id, totp_secret_enc, is_enabled, created_at, updated_at) \
         VALUES ($1, 'v1:sealed', 1, 1, 1)",
    )
    .bind(&bob)
    .execute(client.test.db.pool())
    .await
    .expect("MFA row");
    let bob_cookie = cookie_pair(&set_cookie(
        &client.login("bob@example.test", PASSWORD, None).await,
    ));
    let reset = update(&client, &cookie, &bob, "ResetMfa")
        .await
        .expect("reset MFA");
    assert!(!reset.mfa_enabled);
    assert_eq!(
        client.me(&bob_cookie).await,
        StatusCode::UNAUTHORIZED,
        "pending session ended"
    );
    let response = client.login("bob@example.test", PASSWORD, None).await;
    assert!(
        body_text(response).await.contains("SignedIn"),
        "no second factor any more"
    );

    let promoted = update(&client, &cookie, &bob, "MakeAdmin")
        .await
        .expect("make admin");
    assert!(promoted.is_admin);
    let bob_cookie = cookie_pair(&set_cookie(
        &client.login("bob@example.test", PASSWORD, None).await,
    ));
    let page: UserPage = call(&client, &bob_cookie, "admin/users", "search=&page=0")
        .await
        .expect("bob is admin");
    assert_eq!(page.total, 2);
    let demoted = update(&client, &cookie, &bob, "MakeUser")
        .await
        .expect("make user");
    assert!(!demoted.is_admin);
    assert_eq!(
        client.me(&bob_cookie).await,
        StatusCode::UNAUTHORIZED,
        "role change ends sessions"
    );
    for event in ["user_unlocked", "mfa_reset"] {
        assert_eq!(client.audit_reasons(event).await.len(), 1, "{event}");
    }
    assert_eq!(
        client.audit_reasons("user_role_changed").await,
        [r#"{"reason":"admin"}"#, r#"{"reason":"user"}"#]
    );
}
