//! The HTTP surface, driven in process through the router.

use crate::support::{
    app_state, body_text, signed_in_cookie, test_db, CapturedLog, TestDb, ORIGIN,
};
use app::db::Backend;
use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
    response::Response,
};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};
use tower::ServiceExt;

async fn send(test: &TestDb, request: Request<Body>) -> Response {
    server::http::router(app_state(test.db.clone()))
        .oneshot(request)
        .await
        .expect("router answers")
}

async fn get(test: &TestDb, path: &str) -> Response {
    send(
        test,
        Request::get(path).body(Body::empty()).expect("request"),
    )
    .await
}

/// A GET as a signed-in user.
async fn get_page(test: &TestDb, path: &str) -> Response {
    let cookie = signed_in_cookie(&test.db).await;
    let request = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    send(test, request).await
}

fn header_of<'r>(response: &'r Response, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ASCII header")
}

fn server_info_request(cookie: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/api/system/info")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, ORIGIN)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request")
}

#[tokio::test]
async fn healthz_answers_ok() {
    let test = test_db().await;
    let response = get(&test, "/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn readyz_follows_the_database_and_the_cluster() {
    use crate::support::{app_state_on, simulated, test_auth};
    let test = test_db().await;
    let sim = server::simcluster::SimCluster::start(None)
        .await
        .expect("simulated cluster");
    let state = app_state_on(test.db.clone(), test_auth(false), simulated(&sim));
    assert!(state.live.ready(std::time::Duration::from_secs(10)).await);
    let response = crate::support::get_from(state, "/readyz").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_text(response).await,
        r#"{"status":"ready","database":"ok","cluster":"ok","watches":[]}"#
    );

    drop(sim);
    let response = get(&test, "/readyz").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = body_text(response).await;
    assert!(
        body.starts_with(r#"{"status":"not ready","database":"ok","cluster":"unavailable""#),
        "{body}"
    );

    test.db.close().await;
    let response = get(&test, "/readyz").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body_text(response)
        .await
        .contains(r#""database":"unavailable""#));
}

#[tokio::test]
async fn pages_render_on_the_server_with_navigation_for_the_users_role_and_hydration_scripts() {
    let test = test_db().await;
    let response = get_page(&test, "/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header_of(&response, "content-type").starts_with("text/html"));
    let html = body_text(response).await;
    for label in ["Dashboard", "Virtual machines", "Projects", "Audit log"] {
        assert!(
            html.contains(&format!(">{label}<")),
            "navigation lacks {label}"
        );
    }
    assert!(
        !html.contains(">Admin<"),
        "a user who is not an admin sees Admin"
    );
    assert!(
        html.contains(r#"import("/pkg/wukong.js")"#),
        "no hydration script"
    );
    assert!(html.contains(r#"href="/pkg/wukong.css""#), "no stylesheet");
    let cookie = signed_in_cookie(&test.db).await;
    sqlx::query("UPDATE users SET global_role = 'admin'")
        .execute(test.db.pool())
        .await
        .expect("promote");
    let request = Request::get("/")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    let html = body_text(send(&test, request).await).await;
    assert!(
        html.contains(">Admin<"),
        "an admin's navigation lacks Admin"
    );
}

/// Building a router generates leptos's route list by rendering the app once, and leptos
/// suppresses resource loads for that through a flag shared by the whole process: a page
/// whose resources first polled while another thread built a router waited forever (the
/// suite hung here). Routers are built on other threads all through these renders; each
/// build used to hold that flag for about a tenth of its time.
#[tokio::test]
async fn pages_render_while_other_routers_are_built() {
    const BUILDERS: usize = 2;
    const RENDERS: usize = 50;
    let test = test_db().await;
    let cookie = signed_in_cookie(&test.db).await;
    let state = app_state(test.db.clone());
    let router = server::http::router(state.clone());
    let building = Arc::new(AtomicBool::new(true));
    let builders: Vec<_> = (0..BUILDERS)
        .map(|_| {
            let state = state.clone();
            let building = Arc::clone(&building);
            std::thread::spawn(move || {
                let mut built = 0_usize;
                while building.load(Ordering::Relaxed) {
                    drop(server::http::router(state.clone()));
                    built += 1;
                }
                built
            })
        })
        .collect();
    let mut pages = Vec::with_capacity(RENDERS);
    for _ in 0..RENDERS {
        let request = Request::get("/")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request");
        let page = async {
            let response = router
                .clone()
                .oneshot(request)
                .await
                .expect("router answers");
            body_text(response).await
        };
        // A bound on a hang, not a measure of speed: a render takes well under a second.
        match tokio::time::timeout(Duration::from_secs(20), page).await {
            Ok(html) => pages.push(html),
            Err(_) => break,
        }
    }
    // The builders stop before any assertion, whatever the outcome.
    building.store(false, Ordering::Relaxed);
    for builder in builders {
        let built = builder.join().expect("router builder");
        assert!(built > 0, "a builder built no router during the renders");
    }
    assert_eq!(pages.len(), RENDERS, "a render never finished");
    for html in pages {
        assert!(
            html.contains(r#"data-testid="database""#),
            "the dashboard rendered without its system facts: {html}"
        );
    }
}

/// The nonce in a page's policy, checked against every script tag of the page.
fn nonce_of(policy: &str, html: &str) -> String {
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {policy}"))
        .to_owned();
    assert!(nonce.len() >= 22, "nonce shorter than 128 bits: {nonce}");
    let tags: Vec<&str> = html
        .split("<script")
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap_or_default())
        .collect();
    assert!(!tags.is_empty(), "page has no scripts");
    for tag in tags {
        assert!(
            tag.contains(&format!("nonce=\"{nonce}\"")),
            "script without the nonce: <script{tag}>"
        );
    }
    nonce
}

#[tokio::test]
async fn pages_carry_a_fresh_nonce_based_policy() {
    let test = test_db().await;
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let response = get_page(&test, "/").await;
        let policy = header_of(&response, "content-security-policy").to_owned();
        for directive in [
            "'wasm-unsafe-eval'",
            "'strict-dynamic'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(
                policy.contains(directive),
                "policy lacks {directive}: {policy}"
            );
        }
        assert!(
            !policy.contains("'unsafe-inline'") && !policy.contains("'unsafe-eval'"),
            "{policy}"
        );
        let nonce = nonce_of(&policy, &body_text(response).await);
        // The serial console's terminal adds <style> elements, given the page's nonce.
        assert!(
            policy.contains(&format!("style-src 'self' 'nonce-{nonce}';")),
            "{policy}"
        );
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "nonce reused across responses");
}

#[tokio::test]
async fn unknown_paths_get_the_not_found_page() {
    let test = test_db().await;
    let response = get_page(&test, "/no/such/page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(body_text(response).await.contains("Page not found"));
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let test = test_db().await;
    let cookie = signed_in_cookie(&test.db).await;
    let responses = [
        ("page", get_page(&test, "/").await),
        ("not found", get_page(&test, "/no/such/page").await),
        ("redirect to sign-in", get(&test, "/vms").await),
        ("probe", get(&test, "/healthz").await),
        ("static file", get(&test, "/favicon.svg").await),
        ("server fn", send(&test, server_info_request(&cookie)).await),
        (
            "wrong method",
            send(
                &test,
                Request::delete("/healthz")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await,
        ),
    ];
    for (kind, response) in &responses {
        let expect = |name: &str, value: &str| {
            assert_eq!(header_of(response, name), value, "{kind}: {name}");
        };
        expect("x-content-type-options", "nosniff");
        expect("referrer-policy", "same-origin");
        expect("x-frame-options", "DENY");
        expect("cross-origin-opener-policy", "same-origin");
        let policy = header_of(response, "content-security-policy");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{kind}: {policy}"
        );
        assert!(header_of(response, "strict-transport-security").contains("max-age=63072000"));
    }
}

#[tokio::test]
async fn static_files_are_served_with_their_type_and_revalidated() {
    let test = test_db().await;
    let response = get(&test, "/favicon.svg").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of(&response, "content-type"), "image/svg+xml");
    assert_eq!(header_of(&response, "cache-control"), "no-cache");
}

/// A site whose bundle was built with brotli and gzip copies beside each file.
fn built_site() -> tempfile::TempDir {
    let site = tempfile::tempdir().expect("site directory");
    let pkg = site.path().join("pkg");
    std::fs::create_dir(&pkg).expect("pkg directory");
    for (file, content) in [
        ("wukong.js", "export default async function init() {}"),
        ("wukong.wasm", "\0asm wasm bytes"),
        ("wukong.css", "body { margin: 0 }"),
        ("chunk_1.wasm", "\0asm a page's own code"),
        (
            "__wasm_split.____.js",
            "import { initSync } from \"./wukong.js\";",
        ),
        ("snippets/app-1/console.js", "export class Console {}"),
    ] {
        std::fs::create_dir_all(pkg.join(file).parent().expect("folder")).expect("folders");
        std::fs::write(pkg.join(file), content).expect("bundle file");
        std::fs::write(pkg.join(format!("{file}.br")), format!("br:{content}")).expect("br");
        std::fs::write(pkg.join(format!("{file}.gz")), format!("gz:{content}")).expect("gz");
    }
    site
}

/// Pages name the bundle under a hash of the build's content; there each file goes out as
/// the build's brotli copy, else its gzip copy, else as it is, with the type of the file
/// and kept by browsers for a year. The plain names still answer, revalidated.
#[tokio::test]
async fn the_bundle_goes_out_precompressed_under_hashed_names_that_browsers_keep() {
    let test = test_db().await;
    let site = built_site();
    let mut state = app_state(test.db.clone());
    state.bundle = std::sync::Arc::new(app::assets::Bundle::load(
        site.path(),
        "pkg",
        "wukong",
        true,
    ));
    state.leptos_options = leptos::config::LeptosOptions::builder()
        .output_name("wukong")
        .site_root(site.path().to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build();
    let router = server::http::router(state);
    let send = |path: &str, accepted: &str| {
        let request = Request::get(path)
            .header(header::COOKIE, "")
            .header(header::ACCEPT_ENCODING, accepted)
            .body(Body::empty())
            .expect("request");
        router.clone().oneshot(request)
    };

    let html = body_text(send("/login", "identity").await.expect("page")).await;
    let address = |extension: &str| {
        html.match_indices("/pkg/")
            .map(|(at, _)| &html[at..])
            .map(|rest| &rest[..rest.find('"').expect("closing quote")])
            .find(|url| {
                let hash = &url["/pkg/".len()..url.len().min("/pkg/".len() + 16)];
                hash.len() == 16
                    && hash.bytes().all(|byte| byte.is_ascii_hexdigit())
                    && url.ends_with(&format!("/wukong{extension}"))
                    && url.len() == "/pkg/".len() + 17 + "wukong".len() + extension.len()
            })
            .unwrap_or_else(|| panic!("no hashed {extension} in {html}"))
            .to_owned()
    };
    let (js, wasm, css) = (address(".js"), address(".wasm"), address(".css"));
    // The glue and the split loader fetch page chunks by paths relative to their own.
    let chunk = js.replace("/wukong.js", "/chunk_1.wasm");
    let loader = js.replace("/wukong.js", "/__wasm_split.____.js");
    // The JavaScript the Rust code imports, in folders of its own.
    let snippet = js.replace("/wukong.js", "/snippets/app-1/console.js");
    assert!(
        html.contains(&format!(r#"<link rel="modulepreload" href="{loader}">"#)),
        "the split loader is not preloaded: {html}"
    );
    assert!(
        !html.contains("/pkg/wukong.js\""),
        "the page names the unhashed script"
    );

    for (url, content, kind) in [
        (
            &js,
            "export default async function init() {}",
            "text/javascript",
        ),
        (&wasm, "\0asm wasm bytes", "application/wasm"),
        (&css, "body { margin: 0 }", "text/css"),
        (&chunk, "\0asm a page's own code", "application/wasm"),
        (
            &loader,
            "import { initSync } from \"./wukong.js\";",
            "text/javascript",
        ),
        (&snippet, "export class Console {}", "text/javascript"),
    ] {
        let brotli = send(url, "gzip, deflate, br").await.expect("answer");
        assert_eq!(brotli.status(), StatusCode::OK, "{url}");
        assert_eq!(header_of(&brotli, "content-encoding"), "br");
        assert!(
            header_of(&brotli, "content-type").starts_with(kind),
            "{url}"
        );
        assert!(header_of(&brotli, "vary")
            .to_lowercase()
            .contains("accept-encoding"));
        assert_eq!(
            header_of(&brotli, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(body_text(brotli).await, format!("br:{content}"));

        let gzip = send(url, "gzip").await.expect("answer");
        assert_eq!(header_of(&gzip, "content-encoding"), "gzip");
        assert_eq!(body_text(gzip).await, format!("gz:{content}"));

        let identity = send(url, "identity").await.expect("answer");
        assert!(identity.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(body_text(identity).await, content);
    }

    let plain = send("/pkg/wukong.js", "identity").await.expect("answer");
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(header_of(&plain, "cache-control"), "no-cache");
    let stale = send("/pkg/0123456789abcdef/wukong.js", "br")
        .await
        .expect("answer");
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
}

/// Pages and server-fn answers go out compressed to clients that accept it: brotli when
/// offered, else gzip, else as they are; the gzip body reads back as the whole page.
#[tokio::test]
async fn pages_and_server_fn_answers_are_compressed_when_accepted() {
    use std::io::Read as _;
    let test = test_db().await;
    let cookie = signed_in_cookie(&test.db).await;
    let page = |accepted: &str| {
        Request::get("/")
            .header(header::COOKIE, &cookie)
            .header(header::ACCEPT_ENCODING, accepted)
            .body(Body::empty())
            .expect("request")
    };
    let brotli = send(&test, page("gzip, deflate, br")).await;
    assert_eq!(header_of(&brotli, "content-encoding"), "br");
    assert!(header_of(&brotli, "vary").contains("accept-encoding"));
    let identity = send(&test, page("identity")).await;
    assert!(identity.headers().get(header::CONTENT_ENCODING).is_none());
    assert!(body_text(identity).await.contains("</html>"));

    let gzip = send(&test, page("gzip")).await;
    assert_eq!(header_of(&gzip, "content-encoding"), "gzip");
    let compressed = crate::support::body_bytes(gzip).await;
    let mut page_text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut page_text)
        .expect("a gzip stream");
    assert!(page_text.starts_with("<!DOCTYPE html>"), "{page_text}");
    assert!(page_text.contains("</html>"));
    assert!(
        compressed.len() * 2 < page_text.len(),
        "{} bytes compressed to {}",
        page_text.len(),
        compressed.len()
    );

    let mut info = server_info_request(&cookie);
    info.headers_mut()
        .insert(header::ACCEPT_ENCODING, "br".parse().expect("header"));
    let answer = send(&test, info).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(header_of(&answer, "content-encoding"), "br");
}

#[tokio::test]
async fn server_fns_answer_json_that_is_never_cached() {
    let test = test_db().await;
    let anonymous = send(&test, server_info_request("")).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let cookie = signed_in_cookie(&test.db).await;
    let response = send(&test, server_info_request(&cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of(&response, "cache-control"), "no-store");
    let info: serde_json::Value = serde_json::from_str(&body_text(response).await).expect("JSON");
    let expected = match test.db.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    assert_eq!(info["database"], expected);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn the_login_page_is_a_form_outside_the_chrome() {
    let test = test_db().await;
    let response = get(&test, "/login").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = body_text(response).await;
    assert!(html.contains(r#"type="email""#) && html.contains(r#"type="password""#));
    assert!(
        html.contains("<form") && html.contains(r#"method="post""#),
        "{html}"
    );
    assert!(
        !html.contains("primary-nav"),
        "login page shows the navigation"
    );
}

#[tokio::test]
async fn internal_failures_reach_the_browser_only_as_a_reference() {
    let test = test_db().await;
    test.db.close().await;

    let login = Request::post("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, ORIGIN)
        .body(Body::from("email=a%40example.test&password=whatever+it+is"))
        .expect("request");
    let log = CapturedLog::default();
    let capture = log.start();
    let response = send(&test, login).await;
    drop(capture);
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let error: serde_json::Value = serde_json::from_str(&body_text(response).await).expect("JSON");
    let reference = error["Internal"]["id"]
        .as_str()
        .expect("an Internal error with an id");
    assert_eq!(
        error.as_object().map(|fields| fields.len()),
        Some(1),
        "{error}"
    );
    assert_eq!(
        error["Internal"].as_object().map(|fields| fields.len()),
        Some(1),
        "{error}"
    );
    assert!(!reference.is_empty());
    let logged = log.text();
    assert!(
        logged
            .lines()
            .any(|line| line.contains(reference) && line.contains("PoolClosed")),
        "the cause is not logged under reference {reference}:\n{logged}"
    );
}

#[tokio::test]
async fn pages_without_a_session_send_the_browser_to_sign_in() {
    let test = test_db().await;
    let response = get(&test, "/vms?status=running").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header_of(&response, "location"),
        "/login?next=%2Fvms%3Fstatus%3Drunning"
    );
    for public in ["/login", "/favicon.svg", "/healthz"] {
        assert_eq!(
            get(&test, public).await.status(),
            StatusCode::OK,
            "{public}"
        );
    }
    let ended = format!("{}=not-a-live-token", "wukong_session");
    let request = Request::get("/")
        .header(header::COOKIE, ended)
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&test, request).await.status(), StatusCode::SEE_OTHER);
}

#[test]
fn times_show_the_same_utc_text_everywhere() {
    use app::components::format_utc;
    assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
    assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00 UTC");
    assert_eq!(format_utc(1_795_329_240_000), "2026-11-22 06:34 UTC");
    assert_eq!(format_utc(-60_000), "1969-12-31 23:59 UTC");
}
