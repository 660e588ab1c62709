//! What the benchmarks share: plain HTTP/1.1 calls and percentiles.

use std::{net::SocketAddr, time::Duration};
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
