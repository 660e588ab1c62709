//! Sign-in under load, against a real Wukong on loopback (SQLite in a temp dir):
//!
//! 1. login latency (p50/p99) at 20 logins/s;
//! 2. p99 of a cheap authenticated call (`auth/me`) at 50/s;
//! 3. the same while 500 bad logins/s hammer the sign-in endpoint.
//!
//! Run with `cargo bench -p server --bench auth`. It prints figures; it asserts nothing.

use app::auth::server::{
    admin::{self, Operator, UserRequest},
    session::Requester,
};
use clap::Parser as _;
use server::{
    config::Settings,
    startup::{hasher, open_database, Application},
};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

#[allow(dead_code, reason = "each benchmark uses part of the shared helpers")]
mod common;

use common::{percentile, post};

const EMAIL: &str = "bench@example.test";
const PASSWORD: &str = "benchmark passphrase";
const PHASE: Duration = Duration::from_secs(10);

fn login_body(email: &str, password: &str) -> String {
    format!(
        "email={}&password={}",
        email.replace('@', "%40"),
        password.replace(' ', "+")
    )
}

/// Fires `call` `rate` times a second for `duration`; returns the latencies and statuses.
async fn at_rate<F, Fut>(rate: u32, duration: Duration, call: F) -> (Vec<Duration>, Vec<u16>)
where
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = u16> + Send + 'static,
{
    let total = rate * u32::try_from(duration.as_secs()).unwrap_or(1);
    let interval = Duration::from_secs(1) / rate;
    let start = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    for n in 0..total {
        tokio::time::sleep_until(start + interval * n).await;
        let future = call(n);
        tasks.spawn(async move {
            let began = Instant::now();
            let status = future.await;
            (began.elapsed(), status)
        });
    }
    let mut latencies = Vec::new();
    let mut statuses = Vec::new();
    while let Some(Ok((latency, status))) = tasks.join_next().await {
        latencies.push(latency);
        statuses.push(status);
    }
    latencies.sort();
    (latencies, statuses)
}

fn report(label: &str, latencies: &[Duration], statuses: &[u16]) {
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses {
        *counts.entry(*status).or_insert(0) += 1;
    }
    println!(
        "{label}: n={} p50={:.1} ms p99={:.1} ms statuses={counts:?}",
        latencies.len(),
        percentile(latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(latencies, 0.99).as_secs_f64() * 1000.0,
    );
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_string_lossy().into_owned();
    let settings = Settings::parse_from([
        "wukong",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir,
        "--log",
        "error",
    ]);
    let db = open_database(&settings).await.expect("database");
    let request = UserRequest {
        email: EMAIL.to_owned(),
        display_name: String::new(),
        password: Some(PASSWORD.to_owned()),
        is_admin: false,
    };
    admin::create_user(
        &db,
        &hasher().expect("hasher"),
        &Requester::default(),
        Operator::Cli,
        request,
    )
    .await
    .expect("bench user");
    db.close().await;
    let application = Application::build(&settings).await.expect("start");
    let address = application.address();
    tokio::spawn(application.run_until(std::future::pending()));
    println!(
        "Wukong on {address}, {} cores",
        std::thread::available_parallelism().map_or(1, usize::from)
    );

    let good = login_body(EMAIL, PASSWORD);
    let (latencies, statuses) = at_rate(20, PHASE, |_| {
        let body = good.clone();
        async move { post(address, "/api/auth/login", &body, None).await.0 }
    })
    .await;
    report("login at 20/s", &latencies, &statuses);

    let (_, head) = post(address, "/api/auth/login", &good, None).await;
    let cookie = head
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|value| value.split(';').next())
        .expect("session cookie")
        .to_owned();
    let me = |_| {
        let cookie = cookie.clone();
        async move { post(address, "/api/auth/me", "", Some(&cookie)).await.0 }
    };
    let (latencies, statuses) = at_rate(50, PHASE, me).await;
    report("auth/me at 50/s, quiet", &latencies, &statuses);

    let flood = tokio::spawn(at_rate(500, PHASE, move |n| {
        let body = login_body(
            &format!("attacker{}@example.test", n % 50),
            "wrong password guess",
        );
        async move { post(address, "/api/auth/login", &body, None).await.0 }
    }));
    let (latencies, statuses) = at_rate(50, PHASE, me).await;
    report(
        "auth/me at 50/s, during 500 bad logins/s",
        &latencies,
        &statuses,
    );
    let (flood_latencies, flood_statuses) = flood.await.expect("flood");
    report("bad logins at 500/s", &flood_latencies, &flood_statuses);
}
