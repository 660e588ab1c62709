//! TOTP MFA and backup codes, through the HTTP surface (and the verification function
//! directly for the RFC vectors).

use crate::support::{body_text, cookie_pair, form, set_cookie, Client, EMAIL, ORIGIN, PASSWORD};
use app::auth::{
    server::totp::{self, code_at, verify_digits},
    types::{BackupCodes, CurrentUser, LoginStep, MfaStatus, TotpEnrolment},
};
use axum::http::{header, StatusCode};
use sqlx::Row as _;

fn now_secs() -> u64 {
    u64::try_from(app::db::now_ms() / 1000).expect("positive clock")
}

/// A TOTP code for `secret` `steps` time steps from now.
pub(crate) fn code(secret: &str, steps: i64) -> String {
    let at = now_secs().saturating_add_signed(steps * 30);
    code_at(secret, at).expect("base32 secret")
}

/// A user who has turned MFA on.
pub(crate) struct Enrolled {
    pub(crate) client: Client,
    pub(crate) secret: String,
    pub(crate) backup_codes: Vec<String>,
    pub(crate) cookie: String,
    /// The time (unix seconds) whose code confirmed the enrolment.
    confirmed_at: u64,
}

impl Client {
    async fn signed_in(&self) -> String {
        let response = self.login(EMAIL, PASSWORD, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        cookie_pair(&set_cookie(&response))
    }

    async fn start_enrolment(&self, cookie: &str) -> TotpEnrolment {
        let body = format!("password={}", form(PASSWORD));
        let response = self
            .post("auth/mfa/enrol", &body, Some(ORIGIN), Some(cookie))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        serde_json::from_str(&body_text(response).await).expect("enrolment JSON")
    }

    /// Signs in with the password; returns the cookie of the pending session.
    pub(crate) async fn password_step(&self) -> String {
        let response = self.login(EMAIL, PASSWORD, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = cookie_pair(&set_cookie(&response));
        let step: LoginStep = serde_json::from_str(&body_text(response).await).expect("step");
        assert_eq!(
            step,
            LoginStep::MfaRequired {
                landing: "/login/mfa?next=%2F".to_owned()
            }
        );
        cookie
    }

    async fn verify(&self, cookie: &str, code: &str) -> axum::response::Response {
        self.verify_with_next(cookie, code, None).await
    }

    /// The MFA step, with the `next` the page was opened with if any.
    pub(crate) async fn verify_with_next(
        &self,
        cookie: &str,
        code: &str,
        next: Option<&str>,
    ) -> axum::response::Response {
        let mut body = format!("code={}", form(code));
        if let Some(next) = next {
            body.push_str(&format!("&next={}", form(next)));
        }
        self.post("auth/mfa/verify", &body, Some(ORIGIN), Some(cookie))
            .await
    }

    async fn mfa_status(&self, cookie: &str) -> MfaStatus {
        let response = self
            .post("auth/mfa/status", "", Some(ORIGIN), Some(cookie))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        serde_json::from_str(&body_text(response).await).expect("status JSON")
    }
}

pub(crate) async fn enrolled() -> Enrolled {
    let client = Client::new(false).await;
    let cookie = client.signed_in().await;
    let enrolment = client.start_enrolment(&cookie).await;
    let confirmed_at = now_secs();
    let confirm_code = code_at(&enrolment.secret, confirmed_at).expect("code");
    let body = format!("code={confirm_code}");
    let response = client
        .post("auth/mfa/confirm", &body, Some(ORIGIN), Some(&cookie))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let new_cookie = cookie_pair(&set_cookie(&response));
    let codes: BackupCodes =
        serde_json::from_str(&body_text(response).await).expect("backup codes JSON");
    Enrolled {
        client,
        secret: enrolment.secret,
        backup_codes: codes.codes,
        cookie: new_cookie,
        confirmed_at,
    }
}

#[test]
fn the_rfc_6238_sha1_vectors_pass_through_the_verification_function() {
    let secret = b"12345678901234567890";
    let vectors = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];
    for (time, expected) in vectors {
        assert_eq!(
            verify_digits(secret, expected, time, 8),
            Some(time / 30),
            "8 digits at {time}"
        );
        // Six digits are the last six of the eight.
        assert_eq!(totp::verify(secret, &expected[2..], time), Some(time / 30));
        assert_eq!(verify_digits(secret, "00000000", time, 8), None);
    }
}

#[test]
fn codes_are_valid_one_step_either_way_and_no_further() {
    let secret = totp::new_secret();
    assert_eq!(secret.len(), 20, "160-bit seeds");
    let encoded = totp::secret_base32(&secret);
    let now: u64 = 1_700_000_000 - 1_700_000_000 % 30 + 10;
    let step = now / 30;
    for (offset, valid) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
        let at = now.saturating_add_signed(offset * 30);
        let code = code_at(&encoded, at).expect("code");
        assert_eq!(
            totp::verify(&secret, &code, now).is_some(),
            valid,
            "offset {offset}"
        );
        if valid {
            assert_eq!(totp::verify(&secret, &code, now), Some(at / 30));
        }
    }
    assert_eq!(totp::verify(&secret, "12345", now), None, "too short");
    assert_eq!(totp::verify(&secret, "12a456", now), None, "not digits");
    assert!(step > 0);
}

#[tokio::test]
async fn enrolment_shows_a_key_uri_qr_code_and_a_160_bit_secret() {
    let client = Client::new(false).await;
    let cookie = client.signed_in().await;
    let enrolment = client.start_enrolment(&cookie).await;
    assert_eq!(enrolment.secret.len(), 32, "20 bytes in unpadded base32");
    assert!(!enrolment.secret.contains('='));
    let expected_uri = format!(
        "otpauth://totp/Wukong:ada%40example.test?secret={}&issuer=Wukong&algorithm=SHA1&digits=6&period=30",
        enrolment.secret
    );
    assert_eq!(enrolment.otpauth_uri, expected_uri);
    assert!(enrolment.qr_svg.starts_with("<svg"));
    assert!(enrolment.qr_svg.contains("<path d=\"M"));

    // Not active until a valid code is given.
    let response = client
        .post(
            "auth/mfa/confirm",
            "code=000000",
            Some(ORIGIN),
            Some(&cookie),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!client.mfa_status(&cookie).await.enabled);
    let response = client.login(EMAIL, PASSWORD, None).await;
    let step: LoginStep = serde_json::from_str(&body_text(response).await).expect("step");
    assert!(matches!(step, LoginStep::SignedIn(_)), "{step:?}");

    // Enrolling again without the password is refused.
    let response = client
        .post(
            "auth/mfa/enrol",
            "password=wrong+password+here",
            Some(ORIGIN),
            Some(&cookie),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_code_from_oathtool_for_an_issued_secret_is_accepted() {
    let client = Client::new(false).await;
    let cookie = client.signed_in().await;
    let enrolment = client.start_enrolment(&cookie).await;
    let output = std::process::Command::new("oathtool")
        .args(["--totp", "--base32", &enrolment.secret])
        .output()
        .expect("oathtool runs (scripts/test.sh installs Debian's oathtool)");
    assert!(output.status.success());
    let code = String::from_utf8(output.stdout).expect("UTF-8");
    let body = format!("code={}", code.trim());
    let response = client
        .post("auth/mfa/confirm", &body, Some(ORIGIN), Some(&cookie))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        client
            .mfa_status(&cookie_pair(&set_cookie(&response)))
            .await
            .enabled
    );
}

#[tokio::test]
async fn the_seed_is_encrypted_at_rest_and_never_shown_again() {
    let enrolled = enrolled().await;
    let stored: String = sqlx::query("SELECT totp_secret_enc FROM user_mfa_settings")
        .fetch_one(enrolled.client.test.db.pool())
        .await
        .expect("MFA row")
        .get("totp_secret_enc");
    assert!(stored.starts_with("v1:"));
    assert!(!stored.contains(&enrolled.secret));
    let status = enrolled.client.mfa_status(&enrolled.cookie).await;
    assert_eq!(
        status,
        MfaStatus {
            enabled: true,
            backup_codes_left: 10,
            required_for_everyone: false
        }
    );
    let hashes: Vec<String> = sqlx::query("SELECT code_hash FROM mfa_backup_codes")
        .fetch_all(enrolled.client.test.db.pool())
        .await
        .expect("backup codes")
        .iter()
        .map(|row| row.get("code_hash"))
        .collect();
    assert_eq!(hashes.len(), 10);
    for (hash, code) in hashes.iter().zip(&enrolled.backup_codes) {
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains(&code.replace('-', "")));
    }
}

#[tokio::test]
async fn sign_in_completes_only_after_the_code_with_a_new_token_each_step() {
    let enrolled = enrolled().await;
    let client = &enrolled.client;
    let pending = client.password_step().await;
    assert_eq!(client.me(&pending).await, StatusCode::UNAUTHORIZED);
    let page = client.get("/", &pending).await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[header::LOCATION], "/login/mfa?next=%2F");
    assert_eq!(
        client
            .post("auth/mfa/status", "", Some(ORIGIN), Some(&pending))
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "a pending session grants nothing but the MFA step"
    );

    let response = client.verify(&pending, &code(&enrolled.secret, 1)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let set = set_cookie(&response);
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"));
    let active = cookie_pair(&set);
    assert_ne!(active, pending);
    let user: CurrentUser = serde_json::from_str(&body_text(response).await).expect("user");
    assert_eq!(user.email, EMAIL);
    assert_eq!(client.me(&active).await, StatusCode::OK);
    assert_eq!(client.me(&pending).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        client
            .verify(&pending, &code(&enrolled.secret, 1))
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "the pending token is spent"
    );
    // Signing in elsewhere leaves the enrolling browser's session alone.
    assert_eq!(client.me(&enrolled.cookie).await, StatusCode::OK);
}

#[tokio::test]
async fn a_code_is_accepted_once_and_never_an_older_one_after_it() {
    let enrolled = enrolled().await;
    let client = &enrolled.client;
    // Steps counted from the one that confirmed the enrolment, whenever the clock ticks over.
    let step_code =
        |steps: u64| code_at(&enrolled.secret, enrolled.confirmed_at + steps * 30).expect("code");
    // Confirming the enrolment used the current step.
    let pending = client.password_step().await;
    let response = client.verify(&pending, &step_code(0)).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        client.verify(&pending, &step_code(1)).await.status(),
        StatusCode::OK
    );
    let pending = client.password_step().await;
    assert_eq!(
        client.verify(&pending, &step_code(1)).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the same code a second time"
    );
    assert_eq!(
        client.verify(&pending, &step_code(0)).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "an older step after a newer one"
    );
    let failures = client.audit_reasons("authn_mfa_fail").await;
    assert_eq!(failures.len(), 3);
    assert!(failures
        .iter()
        .all(|details| details.contains("code_reused")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_submissions_of_one_code_yield_one_success() {
    let enrolled = enrolled().await;
    let client = std::sync::Arc::new(enrolled.client);
    let mut pending = Vec::new();
    for _ in 0..20 {
        pending.push(client.password_step().await);
    }
    let code = code(&enrolled.secret, 1);
    let tasks: Vec<_> = pending
        .into_iter()
        .map(|cookie| {
            let client = client.clone();
            let code = code.clone();
            tokio::spawn(async move { client.verify(&cookie, &code).await.status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    let successes = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(successes, 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK
        || *s == StatusCode::UNPROCESSABLE_ENTITY
        || *s == StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn a_backup_code_works_once() {
    let enrolled = enrolled().await;
    let client = &enrolled.client;
    let backup = enrolled.backup_codes[3].clone();
    let pending = client.password_step().await;
    // Case and separators do not matter.
    let typed = backup.replace('-', " ").to_lowercase();
    assert_eq!(
        client.verify(&pending, &typed).await.status(),
        StatusCode::OK
    );
    let pending = client.password_step().await;
    assert_eq!(
        client.verify(&pending, &backup).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(client.audit_reasons("mfa_backup_code_used").await.len(), 1);
    let fresh = client.verify(&pending, &enrolled.backup_codes[4]).await;
    assert_eq!(fresh.status(), StatusCode::OK);
    let cookie = cookie_pair(&set_cookie(&fresh));
    assert_eq!(client.mfa_status(&cookie).await.backup_codes_left, 8);
}

#[tokio::test]
async fn regenerating_backup_codes_needs_the_password_and_voids_the_old_set() {
    let enrolled = enrolled().await;
    let client = &enrolled.client;
    let wrong = client
        .post(
            "auth/mfa/backup-codes",
            "password=not+the+password",
            Some(ORIGIN),
            Some(&enrolled.cookie),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = format!("password={}", form(PASSWORD));
    let response = client
        .post(
            "auth/mfa/backup-codes",
            &body,
            Some(ORIGIN),
            Some(&enrolled.cookie),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let new: BackupCodes = serde_json::from_str(&body_text(response).await).expect("codes");
    assert_eq!(new.codes.len(), 10);
    let pending = client.password_step().await;
    assert_eq!(
        client
            .verify(&pending, &enrolled.backup_codes[0])
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "old set"
    );
    assert_eq!(
        client.verify(&pending, &new.codes[0]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn turning_mfa_off_needs_the_password_and_a_code() {
    let enrolled = enrolled().await;
    let client = &enrolled.client;
    let cookie = &enrolled.cookie;
    let without_code = format!("password={}&code=", form(PASSWORD));
    let response = client
        .post(
            "auth/mfa/disable",
            &without_code,
            Some(ORIGIN),
            Some(cookie),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let wrong_password = format!("password=nope+nope+nope&code={}", code(&enrolled.secret, 1));
    let response = client
        .post(
            "auth/mfa/disable",
            &wrong_password,
            Some(ORIGIN),
            Some(cookie),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(client.mfa_status(cookie).await.enabled);

    let right = format!(
        "password={}&code={}",
        form(PASSWORD),
        code(&enrolled.secret, 1)
    );
    let response = client
        .post("auth/mfa/disable", &right, Some(ORIGIN), Some(cookie))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!client.mfa_status(cookie).await.enabled);
    assert_eq!(client.audit_reasons("mfa_disabled").await.len(), 1);
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM mfa_backup_codes")
        .fetch_one(client.test.db.pool())
        .await
        .expect("count")
        .get("n");
    assert_eq!(count, 0);
    let response = client.login(EMAIL, PASSWORD, None).await;
    let step: LoginStep = serde_json::from_str(&body_text(response).await).expect("step");
    assert!(matches!(step, LoginStep::SignedIn(_)), "{step:?}");
}

#[tokio::test]
async fn the_sixth_wrong_code_is_throttled_and_the_hundredth_locks_the_account() {
    let enrolled = enrolled().await;
    let client = &enrolled.client;
    let pending = client.password_step().await;
    for _ in 0..5 {
        assert_eq!(
            client.verify(&pending, "000000").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let throttled = client.verify(&pending, &code(&enrolled.secret, 1)).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key(header::RETRY_AFTER));

    // The delay lives in memory; the lock at 100 is in the database and outlives restarts.
    for _ in 5..100 {
        assert_eq!(
            client
                .with_fresh_throttle()
                .verify(&pending, "000000")
                .await
                .status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let fresh = client.with_fresh_throttle();
    assert_eq!(
        fresh
            .verify(&pending, &code(&enrolled.secret, 1))
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "the lock ended the pending session: even the right code gets nowhere"
    );
    assert_eq!(fresh.audit_reasons("authn_login_lock").await.len(), 1);
}

#[tokio::test]
async fn mfa_required_for_everyone_sends_users_to_enrolment_first() {
    let client = Client::new(false).await;
    let cookie = client.signed_in().await;
    let refused = client
        .post(
            "auth/mfa/policy",
            "required=true",
            Some(ORIGIN),
            Some(&cookie),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "admins only");
    sqlx::query("UPDATE users SET global_role = 'admin'")
        .execute(client.test.db.pool())
        .await
        .expect("promote");
    let response = client
        .post(
            "auth/mfa/policy",
            "required=true",
            Some(ORIGIN),
            Some(&cookie),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let page = client.get("/", &cookie).await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[header::LOCATION], "/account/mfa");
    assert_eq!(
        client.get("/account/mfa", &cookie).await.status(),
        StatusCode::OK
    );
    let response = client
        .post(
            "auth/mfa/policy",
            "required=false",
            Some(ORIGIN),
            Some(&cookie),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "nothing else works yet"
    );

    let enrolment = client.start_enrolment(&cookie).await;
    let body = format!("code={}", code(&enrolment.secret, 0));
    let response = client
        .post("auth/mfa/confirm", &body, Some(ORIGIN), Some(&cookie))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = cookie_pair(&set_cookie(&response));
    assert_eq!(client.get("/", &cookie).await.status(), StatusCode::OK);
    assert_eq!(client.audit_reasons("mfa_policy_changed").await.len(), 1);
}

/// Endpoints a session that still owes its second factor (or no session) may call.
const OPEN_ENDPOINTS: [&str; 4] = [
    "/api/auth/login",
    "/api/auth/logout",
    "/api/auth/mfa/verify",
    "/api/auth/oidc/providers",
];

/// A value for every argument any server function takes (unknown fields are ignored), so
/// each call reaches its authorization check rather than failing to decode.
/// The same for server functions that take JSON.
const EVERY_JSON_ARGUMENT: &str = r#"{"query": {"name": "", "status": null, "sort": "Name", "descending": false, "page": 0},
    "project": "x", "name": "x", "action": "Start", "disks": "Keep", "scope": "Everything",
    "cpus": "1", "memory_mib": "128", "slug": "x", "id": "", "choice": {"Template": "x"},
    "snapshot": "x", "description": "", "source": {"Vm": "x"}, "target": "x",
    "form": {"name": "x", "project": "x", "cpus": "1", "memory_mib": "128", "image": "cirros",
        "image_url": "", "disk_gib": "", "ssh_key": "", "user_data": "", "run_strategy": "Halted",
        "description": "", "is_default": false, "limits": {"vcpus": "1", "memory_mib": "1",
        "disk_gib": "1", "vm_count": "1", "snapshot_count": "1", "snapshot_gib": "1"}}}"#;

const EVERY_ARGUMENT: &str = "password=x&code=123456&session_id=x&user_id=x&action=Unlock\
    &search=&page=0&email=a%40example.test&display_name=&is_admin=on&id=&name=n\
    &issuer_url=http%3A%2F%2F127.0.0.1%3A9&client_id=c&client_secret=s&scopes=&is_enabled=on\
    &slug=x&required=true&current_password=x&new_password=x&confirm_password=x&namespace=x\
    &provider_id=x&identity_id=x&allowed=true&description=&owner_email=&confirm_name=x&role=viewer&project=x\
    &vm=x&kind=vnc&take_over=false";

#[tokio::test]
async fn a_pending_session_and_no_session_reach_no_other_server_function() {
    let enrolled = enrolled().await;
    let client = &enrolled.client;
    let pending = client.password_step().await;
    let paths: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .filter(|path| !OPEN_ENDPOINTS.contains(path))
        .collect();
    assert!(
        paths.len() >= 15,
        "the registry lists the server functions: {paths:?}"
    );
    for path in paths {
        let endpoint = path.trim_start_matches("/api/");
        for cookie in [Some(pending.as_str()), None] {
            let json = (endpoint.starts_with("vms/") && endpoint != "vms/get")
                || (endpoint.starts_with("snapshots/") && endpoint != "snapshots/list")
                || ["quotas/project/set", "quotas/templates/save"].contains(&endpoint);
            let status = if json || endpoint == "audit/list" {
                client
                    .post_json(endpoint, EVERY_JSON_ARGUMENT, cookie)
                    .await
            } else {
                client
                    .post(endpoint, EVERY_ARGUMENT, Some(ORIGIN), cookie)
                    .await
            }
            .status();
            assert!(
                status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
                "{path} with {cookie:?} answered {status}"
            );
        }
    }
    // Arguments that do not decode are the client's fault: 400, not 500.
    let undecodable = client
        .post(
            "auth/sessions/end",
            "",
            Some(ORIGIN),
            Some(&enrolled.cookie),
        )
        .await;
    assert_eq!(undecodable.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(undecodable).await.starts_with("{\"ServerFn\""));
    // The pending session is still good for its one purpose.
    assert_eq!(
        client
            .verify(&pending, &code(&enrolled.secret, 1))
            .await
            .status(),
        StatusCode::OK
    );
}
