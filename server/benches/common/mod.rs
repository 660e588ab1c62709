//! What the benchmarks share: plain HTTP/1.1 calls and percentiles.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// One HTTP/1.1 request on a fresh connection; returns the status and the whole response.
pub async fn send(
    address: SocketAddr,
    head: &str,
    content_type: &str,
    body: &str,
    cookie: Option<&str>,
) -> (u16, String) {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let headers = format!("Content-Type: {content_type}\r\n{cookie}");
    exchange(address, head, &headers, body).await
}

/// One HTTP/1.1 request with `headers` (each line ending in CRLF) on a fresh connection.
pub async fn exchange(address: SocketAddr, head: &str, headers: &str, body: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(address).await else {
        return (0, String::new());
    };
    let request = format!(
        "{head} HTTP/1.1\r\nHost: {address}\r\nOrigin: http://{address}\r\n{headers}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A form POST to `path`.
pub async fn post(
    address: SocketAddr,
    path: &str,
    body: &str,
    cookie: Option<&str>,
) -> (u16, String) {
    let head = format!("POST {path}");
    send(
        address,
        &head,
        "application/x-www-form-urlencoded",
        body,
        cookie,
    )
    .await
}

/// The `p` quantile (0–1) of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The resident memory of process `pid`, in KiB (0 when it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.trim().trim_end_matches(" kB").parse().ok())
        })
        .unwrap_or(0)
}

/// The `wukong` binary cargo built for the benchmarks.
pub const WUKONG: &str = env!("CARGO_BIN_EXE_wukong");

/// Creates an account with `password` in the database of `data_dir` (`wukong user create`).
pub fn create_user(data_dir: &Path, email: &str, password: &str, admin: bool) {
    let mut command = Command::new(WUKONG);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(["user", "create", email, "--password-stdin"]);
    if admin {
        command.arg("--admin");
    }
    let mut create = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("wukong user create");
    if let Some(stdin) = create.stdin.as_mut() {
        writeln!(stdin, "{password}").expect("password");
    }
    assert!(create.wait().expect("user create").success());
}

/// Starts `wukong` with `args` (JSON logs on a free loopback port are added); returns the
/// address it listens on and the process. Its log keeps being drained so it never blocks.
pub fn start_wukong(args: &[&str], home: &Path) -> (SocketAddr, Child) {
    let mut child = Command::new(WUKONG)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .spawn()
        .expect("wukong");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines.next().expect("wukong exited").expect("log line");
        let record: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(address) = record.get("address").and_then(|a| a.as_str()) {
            break address.parse().expect("address");
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (address, child)
}
