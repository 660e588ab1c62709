//! A small OpenID provider for the OIDC tests, on 127.0.0.1 and a free port: discovery,
//! JWKS, a token endpoint that checks the client secret and PKCE and returns an RS256 ID
//! token with the claims each test chooses, and userinfo. "Signing in" at it is
//! [`FakeIdp::authorize`]: it records who signed in and hands back the callback URL.

use axum::{
    extract::{Form, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use openidconnect::{
    core::{
        CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
    },
    url::Url,
    AdditionalClaims, IdToken, IdTokenClaims, JsonWebKeyId, PkceCodeChallenge, PkceCodeVerifier,
    PrivateSigningKey as _,
};
use serde_json::{json, Map, Value};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

pub const CLIENT_ID: &str = "wukong-test";
pub const CLIENT_SECRET: &str = "wukong-test-client-secret";

/// The provider's signing key, made for these tests only (`openssl genrsa -traditional`).
const SIGNING_KEY: &str = "\
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAsnpD8ipypeCPVMlsGZC3fmC6eCw9KPCB7HaBVDrUK81JpJ4R
w/xJPGxo3TR4wgfMWF7NT3+J/a9MWYEucLiEqLXicuEmLgiq38lI1k5MayM3F/0L
0uq3iyNE1X+oLSzcqUur4KsR49ZwzyWOGzYfbsiuAadZILrTe02ngsLAlPE6Rtsm
wl/rsYeP9EL3F0TtIUpaRUfJaI3USlNuAqgFVYfNArEkTytGmtBv/NYLH4hHqvjo
KEK1ntaUgVHIyp92jErfKNUAj55SiuRRLmRbkOTT5erGW0p320w944zxa4XjStyX
huzOxnJhVdbnq2NesxdPbX1iVPlTOZXUFzG0SQIDAQABAoIBAAzDiW8sybby7rEw
t/hClRrWwlMkj8mpHJOLfI+IZwLMa0E4dDsMxHSLqLq0HVQ8AElMG1j9fSH9OsO2
ZTq2uXcCzfNrBmLZqBW5xImd/yFU2wRuSn2On2p2Dt7JYr67U/sQADZgqZZ+kCIC
VK29wsT2mVohLJK2hbgOW0XS1Xi5QpuEOvNYaJ/Gpe/MWaAAkQEw08mYxFyR598K
7PI8aCyJ0WAf8Kl9DbsVuervt2cgE/Frh80TeFEaG1b5YTFxiSUPuiJeP8pX8/Ae
uI0b32F4/nQtjVZ52GvGQCiyZOzmR2egBOyUwJq259Q/Q1Z2Vbt2T7U25kTe23Rv
1IjJmPECgYEA3OLfWOvHeDpQlLvfGIlMmeEwkZCpEf40HOLNEde5rioPIyelhdmF
BxtQBRzANCED1rwcd4jAGTwW9vTF6JzvfaN83fhrs8jInZZn63OvSmGi22R7eD6/
egmG1HhEvzuI6gEnhrF1urx4lHicHTHKeUXnCucc6i5YhLZO5C86LpkCgYEAztmK
+Ss0JhXi7ddVh1/d2PRWYwNPyP3feovTE0ZFE32z//YbN83UVfsDzOdUMPMIz3tA
TTkdqge2uOcWq9PS8DZrt8KYmzoxo3H0V3uObjEE7Cwk9XJxv6zTF1BBbFlkokhT
UAm/d8AuyyRhsldCPl3mMxz5QfyTuI9KriLvsTECgYEAqFCMpsKLrdap3pxGRPki
kMNi8hkMbDSLW1OLtkPvLoLIJB6q55K35pFuaWbeIxrhRPj0rDVdRB1g1m/weu9T
Iya4GKCa2VVvYX3h1C3D7eb2ZT1tRFR0LbcisbavlBT2oHGev+lr7458R46cTzbI
tZ6JjupLQztroj0VYpWGPUkCgYBkxnW/qT3R5E3X5FYmCx2xSnEf8ggX+x+6u46N
UGns8gwVAxkFmgD+FromRPmuk2lSdFDCjrYWFYX/FY7lDeEx6MGYGHVzAuoWIDmT
uX2Nz9H/Ig6riiNC5/c733zQRckSizwTvXwL4pSpocL7OSnr6qFxe4cwj9aET0Nq
DVlLsQKBgGxlkTARXr0DhHHyQJTaq+U+vGLcBUXrtdr1z4FP6OklBVPEVyHFA9ID
OCIE0ZlmsDpnDt8CxkdidjCFJ7CuSppMTYeUXRyWeoLkPtUWDNKr5faq15Ec5hNV
KQCl4rouqZMAL1jn/L8IX4C3i1g55p6C0vYshrZa072C4kau9u7A
-----END RSA PRIVATE KEY-----";

/// Someone with an account at the provider, and what it says about them.
#[derive(Clone, Debug)]
pub struct Person {
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    /// Extra claims in the ID token (such as `groups`).
    pub id_token_claims: Map<String, Value>,
    /// Extra claims only the userinfo endpoint gives.
    pub userinfo_claims: Map<String, Value>,
    /// The `sub` userinfo answers with; the real one when `None`.
    pub userinfo_subject: Option<String>,
}

impl Person {
    pub fn new(subject: &str, email: &str) -> Self {
        Person {
            subject: subject.to_owned(),
            email: email.to_owned(),
            email_verified: true,
            name: format!("Person {subject}"),
            id_token_claims: Map::new(),
            userinfo_claims: Map::new(),
            userinfo_subject: None,
        }
    }

    pub fn with_id_token_claim(mut self, name: &str, value: Value) -> Self {
        self.id_token_claims.insert(name.to_owned(), value);
        self
    }

    pub fn with_userinfo_claim(mut self, name: &str, value: Value) -> Self {
        self.userinfo_claims.insert(name.to_owned(), value);
        self
    }
}

#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
struct Extra(Map<String, Value>);

impl AdditionalClaims for Extra {}

/// A code handed out at the authorization endpoint, to be redeemed once.
struct Grant {
    person: Person,
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

#[derive(Default)]
struct Ledger {
    grants: HashMap<String, Grant>,
    access_tokens: HashMap<String, Person>,
    /// Codes redeemed at the token endpoint.
    redeemed: usize,
}

#[derive(Clone)]
struct Shared {
    issuer: String,
    key: Arc<CoreRsaPrivateSigningKey>,
    ledger: Arc<Mutex<Ledger>>,
}

pub struct FakeIdp {
    pub issuer: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeIdp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake provider");
        let issuer = format!("http://{}", listener.local_addr().expect("address"));
        let key = CoreRsaPrivateSigningKey::from_pem(
            SIGNING_KEY,
            Some(JsonWebKeyId::new("test-key".to_owned())),
        )
        .expect("test key");
        let shared = Shared {
            issuer: issuer.clone(),
            key: Arc::new(key),
            ledger: Arc::default(),
        };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("fake provider");
        });
        FakeIdp {
            issuer,
            shared,
            server,
        }
    }

    /// `person` signs in at the authorization URL Wukong sent the browser to; answers the
    /// URL the provider sends the browser back to.
    pub fn authorize(&self, authorization_url: &str, person: &Person) -> Url {
        let url = Url::parse(authorization_url).expect("authorization URL");
        assert!(
            authorization_url.starts_with(&format!("{}/authorize?", self.issuer)),
            "sent to this provider: {authorization_url}"
        );
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], CLIENT_ID);
        assert_eq!(query["code_challenge_method"], "S256");
        let code = uuid::Uuid::new_v4().simple().to_string();
        let grant = Grant {
            person: person.clone(),
            nonce: query["nonce"].clone(),
            challenge: query["code_challenge"].clone(),
            redirect_uri: query["redirect_uri"].clone(),
        };
        let mut back = Url::parse(&grant.redirect_uri).expect("redirect URI");
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &query["state"])
            .append_pair("iss", &self.issuer);
        self.shared
            .ledger
            .lock()
            .expect("ledger")
            .grants
            .insert(code, grant);
        back
    }

    /// How many codes Wukong has redeemed.
    pub fn redeemed(&self) -> usize {
        self.shared.ledger.lock().expect("ledger").redeemed
    }
}

async fn discovery(State(shared): State<Shared>) -> Json<Value> {
    let issuer = &shared.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(shared): State<Shared>) -> Json<CoreJsonWebKeySet> {
    Json(CoreJsonWebKeySet::new(vec![shared
        .key
        .as_verification_key()]))
}

#[derive(serde::Deserialize)]
struct TokenRequest {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
}

fn refuse(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

/// The client authenticates with HTTP Basic (`client_secret_basic`, openidconnect's default).
fn client_authenticated(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == expected.as_bytes())
}

async fn token(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Form(request): Form<TokenRequest>,
) -> Response {
    if !client_authenticated(&headers) {
        return refuse("invalid_client");
    }
    let grant = {
        let mut ledger = shared.ledger.lock().expect("ledger");
        ledger.redeemed += 1;
        ledger.grants.remove(&request.code)
    };
    let Some(grant) = grant else {
        return refuse("invalid_grant");
    };
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(request.code_verifier));
    if request.grant_type != "authorization_code"
        || request.redirect_uri != grant.redirect_uri
        || challenge.as_str() != grant.challenge
    {
        return refuse("invalid_grant");
    }
    let person = grant.person;
    let now = app::db::now_ms() / 1_000;
    let mut claims = json!({
        "iss": shared.issuer,
        "aud": [CLIENT_ID],
        "exp": now + 300,
        "iat": now,
        "nonce": grant.nonce,
        "sub": person.subject,
        "email": person.email,
        "email_verified": person.email_verified,
        "name": person.name,
    });
    if let Value::Object(fields) = &mut claims {
        fields.extend(person.id_token_claims.clone());
    }
    let claims: IdTokenClaims<Extra, CoreGenderClaim> =
        serde_json::from_value(claims).expect("ID token claims");
    let id_token = IdToken::<
        Extra,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >::new(
        claims,
        shared.key.as_ref(),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .expect("sign the ID token");
    let access_token = uuid::Uuid::new_v4().simple().to_string();
    shared
        .ledger
        .lock()
        .expect("ledger")
        .access_tokens
        .insert(access_token.clone(), person);
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}

async fn userinfo(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let person = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| {
            let ledger = shared.ledger.lock().expect("ledger");
            ledger.access_tokens.get(token).cloned()
        });
    let Some(person) = person else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let mut claims = person.userinfo_claims.clone();
    claims.insert(
        "sub".to_owned(),
        Value::String(person.userinfo_subject.unwrap_or(person.subject)),
    );
    Json(Value::Object(claims)).into_response()
}
