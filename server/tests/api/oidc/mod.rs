//! OIDC: what the callback refuses and how providers are administered, and (in the
//! submodules) the whole flow against a fake provider: linking, who may sign up, and the
//! bounds on starting. The browser flow against a real provider (npm oidc-provider) is in
//! end2end/tests/oidc.spec.ts.

mod fake_idp;
mod limits;
mod linking;
mod signup;

use crate::support::{
    body_text, cookie_pair, create_user, form, set_cookie, Client, EMAIL, ORIGIN, PASSWORD,
};
use app::{
    auth::{
        server::session::token_hash,
        types::{OidcProviderSummary, SignInMethods},
    },
    db::now_ms,
};
use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{header, Request, StatusCode},
    response::Response,
};
use fake_idp::{FakeIdp, Person, CLIENT_ID, CLIENT_SECRET};
use sqlx::Row as _;
use std::net::{IpAddr, SocketAddr};
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

/// The `name=value` of the cookie `name` that `response` sets, if it sets one.
fn cookie_set(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(cookie_pair)
        .find(|pair| pair.starts_with(&format!("{name}=")))
}

/// Wukong (with the user `EMAIL`/`PASSWORD`) and a provider at a fake identity provider,
/// set up by an admin through the admin page's server fn.
struct Federation {
    client: Client,
    idp: FakeIdp,
    provider_id: String,
    admin: String,
}

/// How the provider lets new users in, as the admin form sends it.
const OPEN: &str = "allow_new_users=on";
const CLOSED: &str = "";

impl Federation {
    async fn new(sign_up: &str) -> Self {
        Self::around(Client::new(false).await, sign_up).await
    }

    /// Adds an admin and a provider named "Corp" to `client`'s Wukong.
    async fn around(client: Client, sign_up: &str) -> Self {
        let idp = FakeIdp::start().await;
        create_user(&client.test.db, &client.auth, ADMIN_EMAIL, PASSWORD).await;
        sqlx::query("UPDATE users SET global_role = 'admin' WHERE email = $1")
            .bind(ADMIN_EMAIL)
            .execute(client.test.db.pool())
            .await
            .expect("promote");
        let admin = cookie_pair(&set_cookie(
            &client.login(ADMIN_EMAIL, PASSWORD, None).await,
        ));
        let mut federation = Federation {
            client,
            idp,
            provider_id: String::new(),
            admin,
        };
        federation.provider_id = federation.add_provider("Corp", sign_up).await;
        federation
    }

    /// Saves a provider at the fake identity provider (`id=…` in `fields` edits one);
    /// answers the server fn's response.
    async fn save_provider(&self, name: &str, fields: &str) -> Response {
        let body = format!(
            "name={name}&issuer_url={}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}\
             &scopes=&is_enabled=on&{fields}",
            form(&self.idp.issuer)
        );
        self.client
            .post("admin/oidc/save", &body, Some(ORIGIN), Some(&self.admin))
            .await
    }

    async fn add_provider(&self, name: &str, sign_up: &str) -> String {
        let response = self.save_provider(name, sign_up).await;
        assert_eq!(response.status(), StatusCode::OK);
        let summary: OidcProviderSummary =
            serde_json::from_str(&body_text(response).await).expect("summary");
        summary.id
    }

    /// Changes who may sign up through the provider.
    async fn set_sign_up(&self, sign_up: &str) {
        let fields = format!("id={}&{sign_up}", self.provider_id);
        let response = self.save_provider("Corp", &fields).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// A page or route, from a browser at `peer` with `cookies`.
    async fn get(&self, path: &str, cookies: &[&str], peer: Option<IpAddr>) -> Response {
        let mut request = Request::get(path);
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies.join("; "));
        }
        let mut request = request.body(Body::empty()).expect("request");
        if let Some(ip) = peer {
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
        }
        server::http::router(crate::support::app_state_with(
            self.client.test.db.clone(),
            self.client.auth.clone(),
        ))
        .oneshot(request)
        .await
        .expect("router answers")
    }

    /// Starts a sign-in through `provider_id` from `peer`: the response.
    async fn start_from(&self, provider_id: &str, peer: Option<IpAddr>) -> Response {
        self.get(
            &format!("/auth/oidc/{provider_id}/start?next=%2F"),
            &[],
            peer,
        )
        .await
    }

    /// Brings the browser back from the provider, where `person` signed in at `to` (the
    /// authorization URL), with the state cookie and maybe a session.
    async fn come_back(
        &self,
        to: &str,
        person: &Person,
        state_cookie: &str,
        session: Option<&str>,
    ) -> Response {
        let back = self.idp.authorize(to, person);
        assert_eq!(back.origin().ascii_serialization(), ORIGIN);
        let path = format!("{}?{}", back.path(), back.query().unwrap_or_default());
        let mut cookies = vec![state_cookie];
        cookies.extend(session);
        self.get(&path, &cookies, None).await
    }

    /// `person` signs in through `provider_id` in a browser without a session.
    async fn sign_in_through(&self, provider_id: &str, person: &Person) -> Response {
        let started = self.start_from(provider_id, None).await;
        assert_eq!(started.status(), StatusCode::SEE_OTHER);
        let state = cookie_set(&started, "wukong_oidc_state").expect("state cookie");
        self.come_back(location(&started), person, &state, None)
            .await
    }

    async fn sign_in(&self, person: &Person) -> Response {
        self.sign_in_through(&self.provider_id, person).await
    }

    /// `person` signs in for a session; answers its cookie.
    async fn session_of(&self, person: &Person) -> String {
        let response = self.sign_in(person).await;
        cookie_set(&response, "wukong_session")
            .unwrap_or_else(|| panic!("signed in, not sent to {}", location(&response)))
    }

    /// Asks to link `provider_id` with the form fields `reauth` (password, code).
    async fn start_link(&self, session: &str, provider_id: &str, reauth: &str) -> Response {
        let body = format!("provider_id={provider_id}&{reauth}");
        self.client
            .post("auth/oidc/link", &body, Some(ORIGIN), Some(session))
            .await
    }

    /// Links `provider_id` to the account of `session` as `person`; answers the callback.
    async fn link(
        &self,
        session: &str,
        provider_id: &str,
        reauth: &str,
        person: &Person,
    ) -> Response {
        let started = self.start_link(session, provider_id, reauth).await;
        assert_eq!(started.status(), StatusCode::OK);
        let state = cookie_set(&started, "wukong_oidc_state").expect("state cookie");
        let url: String = serde_json::from_str(&body_text(started).await).expect("URL");
        self.come_back(&url, person, &state, Some(session)).await
    }

    async fn sign_in_methods(&self, session: &str) -> SignInMethods {
        let response = self
            .client
            .post("auth/oidc/identities", "", Some(ORIGIN), Some(session))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        serde_json::from_str(&body_text(response).await).expect("sign-in methods")
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query(sql)
            .fetch_one(self.client.test.db.pool())
            .await
            .expect("count")
            .get::<i64, _>(0)
    }
}

const ADMIN_EMAIL: &str = "admin@example.test";

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
