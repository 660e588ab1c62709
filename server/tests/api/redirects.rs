//! Where a sign-in lands: `next` is followed only when a browser's URL parser keeps it on
//! Wukong's origin, the server decides, and an over-long `next` costs nothing.

use crate::{
    mfa::{code, enrolled},
    support::{
        app_state_with, body_text, cookie_pair, form, set_cookie, Client, EMAIL, ORIGIN, PASSWORD,
    },
};
use app::auth::types::{safe_next, LoginStep, SignedIn, MAX_NEXT_BYTES};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    response::Response,
};
use sqlx::Row as _;
use tower::ServiceExt as _;
use url::Url;

/// The targets every redirect test shares, beside `safe_next`'s unit tests.
#[derive(serde::Deserialize)]
struct Targets {
    hostile: Vec<String>,
    accepted: Vec<String>,
}

fn targets() -> Targets {
    serde_json::from_str(include_str!("../../../app/src/auth/redirect_targets.json"))
        .expect("redirect targets")
}

const HOME: &str = "https://wukong.test/";

/// Whether a browser on Wukong that loads `target` stays on Wukong, as the WHATWG URL
/// parser resolves it.
fn stays_home(target: &str) -> bool {
    let home = Url::parse(HOME).expect("home URL");
    home.join(target)
        .is_ok_and(|url| url.origin() == home.origin())
}

/// `text` with each `%XX` escape decoded once, as a careless proxy or router might.
fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escape = bytes
            .get(at + 1..at + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .filter(|hex| hex.bytes().all(|digit| digit.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[at], escape) {
            (b'%', Some(byte)) => {
                out.push(byte);
                at += 3;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What `safe_next` lets through stays on Wukong as it is, and decoded once or twice more.
fn assert_followed_target_stays_home(target: &str) {
    let followed = safe_next(Some(target));
    let once = decoded(followed);
    for form in [followed, &once, &decoded(&once)] {
        assert!(
            stays_home(form),
            "{target:?} is followed as {form:?}, which leaves {HOME}"
        );
    }
}

/// CSRF-05: the URL parser a browser uses is the oracle. Accepted targets resolve on
/// Wukong's origin (also when decoded again), hostile ones are replaced by a path that
/// does, and the hostile list does leave the origin when followed unchecked.
#[test]
fn every_followed_target_resolves_on_wukong_in_a_browser() {
    let targets = targets();
    for target in &targets.accepted {
        assert_eq!(safe_next(Some(target)), target);
        assert_followed_target_stays_home(target);
    }
    for target in &targets.hostile {
        assert_followed_target_stays_home(target);
    }
    let escaping = |target: &str| {
        let once = decoded(target);
        !stays_home(target) || !stays_home(&once) || !stays_home(&decoded(&once))
    };
    for target in [
        "/\t/evil.example/",
        "//evil.example",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/%252F%252Fevil.example",
        "/%09/evil.example",
        "javascript:alert(1)",
    ] {
        assert!(escaping(target), "{target:?} should leave {HOME} unchecked");
    }
    let leaving = targets
        .hostile
        .iter()
        .filter(|target| escaping(target))
        .count();
    assert!(
        leaving >= 20,
        "only {leaving} hostile targets leave unchecked"
    );
}

/// A deterministic stream of numbers (SplitMix64), so a failure replays.
struct Numbers(u64);

impl Numbers {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^= mixed >> 31;
        usize::try_from(mixed % u64::try_from(bound).expect("bound")).expect("index")
    }
}

/// A target built from pieces that matter to URL parsers, and random characters.
fn generated_target(numbers: &mut Numbers) -> String {
    const PIECES: &[&str] = &[
        "/",
        "//",
        "\\",
        "%",
        "%2F",
        "%2f",
        "%5C",
        "%5c",
        "%09",
        "%0a",
        "%0D",
        "%00",
        "%20",
        "%25",
        "%252F",
        "%2e",
        "%2E",
        ".",
        "..",
        "?",
        "#",
        ":",
        "@",
        "\t",
        "\n",
        "\r",
        " ",
        "\u{0}",
        "\u{7f}",
        "a",
        "vms",
        "evil.example",
        "http:",
        "https:",
        "javascript:",
        "\u{ff0f}",
        "\u{2bc}",
        "\u{3000}",
        "%E3%80%80",
        "~",
        "&",
        "=",
        ";",
        "%3F",
        "%23",
        "%3A",
    ];
    let mut target = String::new();
    if numbers.below(4) != 0 {
        target.push('/');
    }
    for _ in 0..=numbers.below(10) {
        match numbers.below(3) {
            0 => {
                let byte = u8::try_from(numbers.below(0x80)).expect("ASCII");
                target.push(char::from(byte));
            }
            _ => target.push_str(PIECES[numbers.below(PIECES.len())]),
        }
    }
    target
}

/// CSRF-05: whatever `safe_next` accepts among thousands of generated targets stays on
/// Wukong in a browser, and both answers occur often enough to mean something.
#[test]
fn generated_targets_that_are_accepted_stay_on_wukong() {
    let mut numbers = Numbers(0x5741_4B45);
    let mut accepted = 0;
    let total = 5_000;
    for _ in 0..total {
        let target = generated_target(&mut numbers);
        if safe_next(Some(&target)) == target {
            accepted += 1;
        }
        assert_followed_target_stays_home(&target);
    }
    assert!(
        (total / 20..total - total / 20).contains(&accepted),
        "{accepted} of {total} accepted"
    );
}

async fn sign_in(client: &Client, password: &str, next: &str) -> Response {
    let body = format!(
        "email={}&password={}&next={}",
        form(EMAIL),
        form(password),
        form(next)
    );
    client.post("auth/login", &body, Some(ORIGIN), None).await
}

async fn step(response: Response) -> LoginStep {
    assert_eq!(response.status(), StatusCode::OK);
    serde_json::from_str(&body_text(response).await).expect("login step")
}

async fn landing(response: Response) -> String {
    match step(response).await {
        LoginStep::SignedIn(SignedIn { landing, .. }) => landing,
        other => panic!("not signed in: {other:?}"),
    }
}

/// Where the MFA step's answer sends the browser.
async fn landing_after_code(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let signed_in: SignedIn = serde_json::from_str(&body_text(response).await).expect("signed in");
    signed_in.landing
}

/// CSRF-05: the server answers where a sign-in lands; the page only follows it.
#[tokio::test]
async fn sign_in_lands_on_the_local_page_asked_for_and_on_the_dashboard_otherwise() {
    let client = Client::new(false).await;
    let targets = targets();
    for target in &targets.hostile {
        let response = sign_in(&client, PASSWORD, target).await;
        assert_eq!(landing(response).await, "/", "{target:?}");
    }
    for target in &targets.accepted {
        let response = sign_in(&client, PASSWORD, target).await;
        assert_eq!(&landing(response).await, target);
    }
    let response = client.login(EMAIL, PASSWORD, None).await;
    assert_eq!(landing(response).await, "/", "without next");

    sqlx::query("UPDATE users SET must_change_password = 1")
        .execute(client.test.db.pool())
        .await
        .expect("flag the password");
    let response = sign_in(&client, PASSWORD, "/vms").await;
    assert_eq!(landing(response).await, "/account/password");
}

/// Signs in with the password and `next`, checks where the MFA step is, and completes it
/// with `code`; answers where the code lands.
async fn sign_in_with_mfa(client: &Client, next: &str, mfa_step: &str, code: &str) -> String {
    let response = sign_in(client, PASSWORD, next).await;
    let cookie = cookie_pair(&set_cookie(&response));
    assert_eq!(
        step(response).await,
        LoginStep::MfaRequired {
            landing: mfa_step.to_owned()
        }
    );
    let response = client.verify_with_next(&cookie, code, Some(next)).await;
    landing_after_code(response).await
}

/// CSRF-05: the MFA step carries the page asked for, and the code lands there only when
/// it is local.
#[tokio::test]
async fn the_mfa_step_lands_on_the_local_page_asked_for_and_on_the_dashboard_otherwise() {
    let enrolled = enrolled().await;
    let client = &enrolled.client;
    let local = "/vms?name=a%20b";
    let totp = code(&enrolled.secret, 1);
    let landing = sign_in_with_mfa(
        client,
        local,
        "/login/mfa?next=%2Fvms%3Fname%3Da%2520b",
        &totp,
    )
    .await;
    assert_eq!(landing, local);
    let hostile = "/\t/evil.example/";
    let backup = &enrolled.backup_codes[0];
    let landing = sign_in_with_mfa(client, hostile, "/login/mfa?next=%2F", backup).await;
    assert_eq!(landing, "/");
}

/// How many rows `table` has.
async fn rows(client: &Client, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(client.test.db.pool())
        .await
        .expect("count")
        .get("n")
}

fn too_long_next() -> String {
    format!("/{}", "a".repeat(MAX_NEXT_BYTES))
}

async fn assert_refused_as_too_long(response: Response) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let error: serde_json::Value =
        serde_json::from_str(&body_text(response).await).expect("error JSON");
    assert_eq!(error["TooLong"]["field"], "next", "{error}");
}

/// VAL-01, CSRF-05: a `next` longer than 2 KiB is refused with 400 before the throttle,
/// the database, argon2 or the audit log see the sign-in.
#[tokio::test]
async fn sign_in_with_a_next_longer_than_two_kib_is_refused_before_any_work() {
    let client = Client::new(false).await;
    let long = too_long_next();
    for _ in 0..10 {
        assert_refused_as_too_long(sign_in(&client, "wrong password", &long).await).await;
    }
    assert_refused_as_too_long(sign_in(&client, PASSWORD, &long).await).await;
    assert_eq!(rows(&client, "audit_logs").await, 0, "nothing audited");
    assert_eq!(rows(&client, "user_sessions").await, 0, "no session");
    let failures: i64 = sqlx::query("SELECT failed_login_count FROM users")
        .fetch_one(client.test.db.pool())
        .await
        .expect("user")
        .get("failed_login_count");
    assert_eq!(failures, 0, "nothing counted against the account");
    // Ten counted failures would have the throttle answer 429 now.
    let response = sign_in(&client, PASSWORD, "/vms").await;
    assert_eq!(landing(response).await, "/vms");

    client.test.db.pool().close().await;
    assert_refused_as_too_long(sign_in(&client, PASSWORD, &long).await).await;
}

/// VAL-01, CSRF-05: the MFA step refuses an over-long `next` before it looks at the code,
/// which stays unused.
#[tokio::test]
async fn the_mfa_step_with_a_next_longer_than_two_kib_is_refused_and_the_code_stays_unused() {
    let enrolled = enrolled().await;
    let client = &enrolled.client;
    let pending = client.password_step().await;
    let backup = &enrolled.backup_codes[0];
    let used = "SELECT COUNT(*) AS n FROM mfa_backup_codes WHERE used_at IS NOT NULL";
    let count_used = || async {
        sqlx::query(used)
            .fetch_one(client.test.db.pool())
            .await
            .expect("count")
            .get::<i64, _>("n")
    };
    let response = client
        .verify_with_next(&pending, backup, Some(&too_long_next()))
        .await;
    assert_refused_as_too_long(response).await;
    assert_eq!(count_used().await, 0);
    let response = client.verify_with_next(&pending, backup, None).await;
    assert_eq!(landing_after_code(response).await, "/");
    assert_eq!(count_used().await, 1);
}

async fn get_without_session(client: &Client, target: &str) -> Response {
    let request = Request::get(target).body(Body::empty()).expect("request");
    server::http::router(app_state_with(client.test.db.clone(), client.auth.clone()))
        .oneshot(request)
        .await
        .expect("router answers")
}

async fn page_without_session(client: &Client, target: &str) -> String {
    let response = get_without_session(client, target).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{target}");
    response.headers()[header::LOCATION]
        .to_str()
        .expect("ASCII location")
        .to_owned()
}

/// CSRF-05, VAL-01: the sign-in page is sent the page asked for only when sign-in would
/// follow it, so a long address does not end in a refused sign-in.
#[tokio::test]
async fn pages_send_to_sign_in_with_next_only_when_sign_in_would_follow_it() {
    let client = Client::new(false).await;
    assert_eq!(
        page_without_session(&client, "/vms?name=a%20b").await,
        "/login?next=%2Fvms%3Fname%3Da%2520b"
    );
    let long = format!("/vms?name={}", "a".repeat(MAX_NEXT_BYTES));
    assert_eq!(page_without_session(&client, &long).await, "/login");
    assert_eq!(
        page_without_session(&client, "/vms/%2F%2Fevil").await,
        "/login"
    );
}

/// The `next` a sign-in page sends back with its form.
async fn next_field(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let html = body_text(response).await;
    let field = r#"<input type="hidden" name="next" value=""#;
    let start = html.find(field).map(|at| at + field.len());
    let value = start.and_then(|start| Some(&html[start..start + html[start..].find('"')?]));
    value.expect("a hidden next field").to_owned()
}

/// CSRF-05: the sign-in and MFA pages send back the page asked for decoded exactly once, so
/// an escape in it stays an escape (leptos_router's query map would decode it twice).
#[tokio::test]
async fn sign_in_pages_send_back_next_decoded_exactly_once() {
    let enrolled = enrolled().await;
    let client = &enrolled.client;
    let asked = "?next=%2Fvms%3Fname%3Da%2520b%26path%3D%252F%252Fx";
    let sent = "/vms?name=a%20b&amp;path=%2F%2Fx";
    let response = get_without_session(client, &format!("/login{asked}")).await;
    assert_eq!(next_field(response).await, sent);
    let pending = client.password_step().await;
    let response = client.get(&format!("/login/mfa{asked}"), &pending).await;
    assert_eq!(next_field(response).await, sent);
}
