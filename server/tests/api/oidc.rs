//! OIDC: what the callback refuses and how providers are administered. The whole flow
//! against a real provider (npm oidc-provider) is in end2end/tests/oidc.spec.ts.

use crate::support::{body_text, cookie_pair, set_cookie, Client, EMAIL, ORIGIN, PASSWORD};
use app::{auth::server::session::token_hash, db::now_ms};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    response::Response,
};
use sqlx::Row as _;
use tower::ServiceExt as _;

impl Client {
    async fn browse(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        server::http::router(crate::support::app_state_with(
            self.test.db.clone(),
            self.auth.clone(),
        ))
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("router answers")
    }

    async fn admin_cookie(&self) -> String {
        sqlx::query("UPDATE users SET global_role = 'admin'")
            .execute(self.test.db.pool())
            .await
            .expect("promote");
        cookie_pair(&set_cookie(&self.login(EMAIL, PASSWORD, None).await))
    }

    /// A disabled provider and a pending authorization request for it with `state`.
    async fn pending_request(&self, state: &str, expires_at: i64) {
        sqlx::query(
            "INSERT INTO oidc_providers (id, name, issuer_url, client_id, client_secret_enc, \
             is_enabled, created_at, updated_at) VALUES ('p1', 'Off', 'http://127.0.0.1:9', 'c', 'v1:x', 0, 1, 1) \
             ON CONFLICT (id) DO NOTHING",
        )
        .execute(self.test.db.pool())
        .await
        .expect("provider");
        sqlx::query(
            "INSERT INTO oidc_login_requests (state_hash, provider_id, nonce, pkce_verifier, return_to, \
             created_at, expires_at) VALUES ($1, 'p1', 'n', $2, '/', 1, $3)",
        )
        .bind(token_hash(state))
        .bind(
            self.auth
                .secrets
                .seal(b"pkce-verifier", &token_hash(state))
                .expect("seal"),
        )
        .bind(expires_at)
        .execute(self.test.db.pool())
        .await
        .expect("request");
    }
}

fn location(response: &Response) -> &str {
    response.headers()[header::LOCATION]
        .to_str()
        .expect("ASCII")
}

#[tokio::test]
async fn a_callback_needs_the_state_of_this_browser_once_and_in_time() {
    let client = Client::new(false).await;
    let state = "s".repeat(43);
    client.pending_request(&state, now_ms() + 60_000).await;
    let url = format!("/auth/oidc/callback?code=c&state={state}");

    let no_cookie = client.browse(&url, None).await;
    assert_eq!(no_cookie.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&no_cookie), "/login?error=oidc_state");
    let other_browser = client
        .browse(&url, Some("wukong_oidc_state=someone-else"))
        .await;
    assert_eq!(location(&other_browser), "/login?error=oidc_state");

    let cookie = format!("wukong_oidc_state={state}");
    let first = client.browse(&url, Some(&cookie)).await;
    assert_eq!(
        location(&first),
        "/login?error=oidc_unavailable",
        "state accepted, then the disabled provider stops the flow"
    );
    let cleared = first.headers()[header::SET_COOKIE].to_str().expect("ASCII");
    assert_eq!(
        cleared,
        "wukong_oidc_state=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"
    );
    let replay = client.browse(&url, Some(&cookie)).await;
    assert_eq!(location(&replay), "/login?error=oidc_state", "single use");

    let late = "l".repeat(43);
    client.pending_request(&late, now_ms() - 1).await;
    let expired = client
        .browse(
            &format!("/auth/oidc/callback?code=c&state={late}"),
            Some(&format!("wukong_oidc_state={late}")),
        )
        .await;
    assert_eq!(location(&expired), "/login?error=oidc_state");
}

#[tokio::test]
async fn starting_with_an_unknown_provider_explains_itself() {
    let client = Client::new(false).await;
    let response = client.browse("/auth/oidc/nope/start?next=%2F", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?error=oidc_unavailable");
    let link = client.browse("/auth/oidc/nope/link", None).await;
    assert_eq!(
        location(&link),
        "/login?next=%2Faccount",
        "linking needs a session"
    );
}

#[tokio::test]
async fn only_admins_manage_providers_and_secrets_stay_sealed() {
    let client = Client::new(false).await;
    let user = cookie_pair(&set_cookie(&client.login(EMAIL, PASSWORD, None).await));
    let form = "name=Corp&issuer_url=http%3A%2F%2F127.0.0.1%3A9&client_id=wukong&client_secret=top-secret-value&scopes=email";
    for (endpoint, body) in [("admin/oidc", ""), ("admin/oidc/save", form)] {
        let response = client.post(endpoint, body, Some(ORIGIN), Some(&user)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{endpoint}");
    }
    let admin = client.admin_cookie().await;

    let enabled = format!("{form}&is_enabled=on");
    let unreachable = client
        .post("admin/oidc/save", &enabled, Some(ORIGIN), Some(&admin))
        .await;
    assert_eq!(unreachable.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body_text(unreachable).await.contains("discovery document"));

    // Saved disabled, no discovery is needed yet.
    let saved = client
        .post("admin/oidc/save", form, Some(ORIGIN), Some(&admin))
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let summary: app::auth::types::OidcProviderSummary =
        serde_json::from_str(&body_text(saved).await).expect("summary");
    assert_eq!(summary.scopes, "openid email");
    assert!(!summary.is_enabled);
    let stored: String = sqlx::query("SELECT client_secret_enc FROM oidc_providers")
        .fetch_one(client.test.db.pool())
        .await
        .expect("row")
        .get("client_secret_enc");
    assert!(stored.starts_with("v1:") && !stored.contains("top-secret-value"));
    let listed = client
        .post("admin/oidc", "", Some(ORIGIN), Some(&admin))
        .await;
    let text = body_text(listed).await;
    assert!(text.contains("\"redirect_uri\":\"http://wukong.test/auth/oidc/callback\""));
    assert!(!text.contains("top-secret-value") && !text.contains("v1:"));

    // Editing with an empty secret keeps the stored one.
    let edit = format!(
        "id={}&name=Corp+SSO&issuer_url=http%3A%2F%2F127.0.0.1%3A9&client_id=wukong&client_secret=&scopes=",
        summary.id
    );
    let edited = client
        .post("admin/oidc/save", &edit, Some(ORIGIN), Some(&admin))
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    let after: String = sqlx::query("SELECT client_secret_enc FROM oidc_providers")
        .fetch_one(client.test.db.pool())
        .await
        .expect("row")
        .get("client_secret_enc");
    assert_eq!(after, stored);
    assert_eq!(client.audit_reasons("oidc_provider_changed").await.len(), 2);
    let buttons = client
        .post("auth/oidc/providers", "", Some(ORIGIN), None)
        .await;
    assert_eq!(
        body_text(buttons).await,
        "[]",
        "disabled providers get no button"
    );
}
