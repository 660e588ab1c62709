//! Sign-in under attack, against a real `wukong` process on loopback (release build, SQLite
//! in a temp dir, the simulated cluster), which trusts 127.0.0.1 as its proxy so each attack
//! request can claim its own client address in `X-Forwarded-For`:
//!
//! 1. a legitimate user's sign-in latency (p50/p99, 4 sign-ins a second), quiet;
//! 2. the same during a flood of 2,000 sign-ins from 2,000 distinct addresses, each with a
//!    200 KB "email";
//! 3. the same during 400 parallel wrong passwords for one account (from 400 addresses);
//!
//! with the server's resident memory before, at its peak during, and after each flood, and
//! the attacked account's failure count and lock at the end.
//!
//! Run with `cargo bench -p server --bench attack`. It prints figures; it asserts nothing.

#[allow(dead_code, reason = "each benchmark uses part of the shared helpers")]
mod common;

use common::{create_user, exchange, percentile, rss_kib, start_wukong};
use std::{
    net::SocketAddr,
    process::Child,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tokio::task::JoinSet;

const USER: &str = "bench@example.test";
const VICTIM: &str = "victim@example.test";
const PASSWORD: &str = "benchmark passphrase";
const FLOOD: u32 = 2_000;
const BIG_EMAIL_BYTES: usize = 200 * 1024;
const PARALLEL_WRONG: u32 = 400;

fn start(data_dir: &std::path::Path) -> (SocketAddr, Child) {
    for email in [USER, VICTIM] {
        create_user(data_dir, email, PASSWORD, false);
    }
    let data = data_dir.to_string_lossy();
    start_wukong(
        &[
            "--log",
            "error,server=info",
            "--data-dir",
            &data,
            "--trusted-proxy",
            "127.0.0.1/32",
        ],
        data_dir,
    )
}

fn form(value: &str) -> String {
    value.replace('@', "%40").replace(' ', "+")
}

/// A sign-in claiming to come from `client` (through the trusted proxy on loopback).
async fn sign_in(address: SocketAddr, email: &str, password: &str, client: &str) -> u16 {
    let headers =
        format!("Content-Type: application/x-www-form-urlencoded\r\nX-Forwarded-For: {client}\r\n");
    let body = format!("email={}&password={}", form(email), form(password));
    exchange(address, "POST /api/auth/login", &headers, &body)
        .await
        .0
}

/// The legitimate user signs in four times a second until `stop`; their latencies.
async fn legitimate(address: SocketAddr, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let began = Instant::now();
        let status = sign_in(address, USER, PASSWORD, "198.51.100.200").await;
        if status == 200 {
            latencies.push(began.elapsed());
        } else {
            println!("  legitimate sign-in answered {status}");
        }
    }
    latencies.sort();
    latencies
}

/// Samples the server's resident memory every 50 ms until `stop`; the peak, in KiB.
async fn peak_rss(pid: u32, stop: Arc<AtomicBool>) -> u64 {
    let peak = AtomicU64::new(rss_kib(pid));
    while !stop.load(Ordering::Relaxed) {
        peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    peak.load(Ordering::Relaxed)
}

fn report(label: &str, latencies: &[Duration]) {
    println!(
        "{label}: legitimate sign-in n={} p50={:.1} ms p99={:.1} ms",
        latencies.len(),
        percentile(latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(latencies, 0.99).as_secs_f64() * 1000.0,
    );
}

/// Runs `attack` while the legitimate user signs in and memory is sampled.
async fn during<F>(label: &str, address: SocketAddr, pid: u32, attack: F)
where
    F: std::future::Future<Output = Vec<u16>>,
{
    let before = rss_kib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let user = tokio::spawn(legitimate(address, stop.clone()));
    let memory = tokio::spawn(peak_rss(pid, stop.clone()));
    let began = Instant::now();
    let statuses = attack.await;
    let took = began.elapsed();
    stop.store(true, Ordering::Relaxed);
    let latencies = user.await.expect("legitimate user");
    let peak = memory.await.expect("memory");
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses {
        *counts.entry(status).or_insert(0u32) += 1;
    }
    report(label, &latencies);
    println!(
        "  attack took {:.1} s, answers {counts:?}; server RSS {} MiB before, {} MiB peak, {} MiB after",
        took.as_secs_f64(),
        before / 1024,
        peak / 1024,
        rss_kib(pid) / 1024
    );
}

/// Sends `count` requests made by `request`, `parallel` at a time.
async fn flood<F, Fut>(count: u32, parallel: usize, request: F) -> Vec<u16>
where
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = u16> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    let mut statuses = Vec::new();
    for n in 0..count {
        if tasks.len() >= parallel {
            if let Some(Ok(status)) = tasks.join_next().await {
                statuses.push(status);
            }
        }
        tasks.spawn(request(n));
    }
    while let Some(Ok(status)) = tasks.join_next().await {
        statuses.push(status);
    }
    statuses
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (address, mut child) = start(dir.path());
    let pid = child.id();
    println!(
        "wukong (pid {pid}) on {address}, {} cores",
        std::thread::available_parallelism().map_or(1, usize::from)
    );

    let stop = Arc::new(AtomicBool::new(false));
    let user = tokio::spawn(legitimate(address, stop.clone()));
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.store(true, Ordering::Relaxed);
    report("quiet", &user.await.expect("legitimate user"));
    println!("  server RSS {} MiB", rss_kib(pid) / 1024);

    let email = Arc::new(format!("{}@example.test", "x".repeat(BIG_EMAIL_BYTES)));
    during(
        "2,000 distinct-address sign-ins with 200 KB emails",
        address,
        pid,
        flood(FLOOD, 200, |n| {
            let email = email.clone();
            let [_, _, high, low] = n.to_be_bytes();
            let client = format!("203.0.{high}.{low}");
            async move { sign_in(address, &email, "whatever", &client).await }
        }),
    )
    .await;

    during(
        "400 parallel wrong passwords for one account",
        address,
        pid,
        flood(PARALLEL_WRONG, PARALLEL_WRONG as usize, |n| {
            let [_, _, high, low] = n.to_be_bytes();
            let client = format!("192.0.{high}.{low}");
            async move { sign_in(address, VICTIM, "wrong password guess", &client).await }
        }),
    )
    .await;

    let database = dir.path().join("wukong.db");
    let url = format!("sqlite://{}", database.display());
    let db = app::db::Db::connect(&url).await.expect("database");
    let (count, locked): (i64, Option<i64>) =
        sqlx::query_as("SELECT failed_login_count, locked_at FROM users WHERE email = $1")
            .bind(VICTIM)
            .fetch_one(db.pool())
            .await
            .expect("victim");
    println!(
        "the attacked account: {count} failures, {}",
        if locked.is_some() {
            "locked"
        } else {
            "not locked"
        }
    );
    db.close().await;
    let _ = child.kill();
    let _ = child.wait();
}
