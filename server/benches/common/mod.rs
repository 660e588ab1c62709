//! What the benchmarks share: plain HTTP/1.1 calls and percentiles.

use server::simcluster::{SimCluster, SimOptions};
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

/// Signs `email` in; the session cookie (`name=value`).
pub async fn sign_in(address: SocketAddr, email: &str, password: &str) -> String {
    let body = format!(
        "email={}&password={}",
        email.replace('@', "%40"),
        password.replace(' ', "+")
    );
    let (status, head) = post(address, "/api/auth/login", &body, None).await;
    assert_eq!(status, 200, "{head}");
    head.lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|value| value.split(';').next())
        .expect("session cookie")
        .to_owned()
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

/// Starts a simulated cluster with its default options, for benchmarks that seed it.
pub async fn start_sim() -> SimCluster {
    SimCluster::start_with(None, SimOptions::default())
        .await
        .expect("simulated cluster")
}

/// Starts `wukong` on `sim` with its data in `data_dir` (where the accounts already are)
/// and the `extra` arguments; its address and the child process.
pub fn start_wukong_on(sim: &SimCluster, data_dir: &Path, extra: &[&str]) -> (SocketAddr, Child) {
    let kubeconfig = data_dir.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let data = data_dir.to_string_lossy();
    let kubeconfig = kubeconfig.to_string_lossy();
    let mut args = vec![
        "--log",
        "warn,wukong=info,server=info",
        "--data-dir",
        &data,
        "--kubeconfig",
        &kubeconfig,
    ];
    args.extend_from_slice(extra);
    start_wukong(&args, data_dir)
}

/// The CPU time process `pid` has used so far (user and system), from `/proc`.
pub fn cpu_time(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The fields after the command name, which is in parentheses and may hold spaces.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let user: u64 = fields.get(11)?.parse().ok()?;
            let system: u64 = fields.get(12)?.parse().ok()?;
            Some(user + system)
        })
        .unwrap_or(0);
    // Linux reports these in clock ticks of 1/100 s (USER_HZ) on every architecture it runs.
    Duration::from_millis(ticks * 10)
}

/// One keep-alive HTTP/1.1 connection that sends a request and reads the whole answer.
pub struct Connection {
    stream: tokio::io::BufReader<TcpStream>,
}

impl Connection {
    pub async fn open(address: SocketAddr) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream: tokio::io::BufReader::new(stream),
        })
    }

    /// Sends `request` (a complete request with keep-alive) and returns the status and the
    /// number of body bytes, read in full.
    pub async fn exchange(&mut self, request: &[u8]) -> std::io::Result<(u16, usize)> {
        use tokio::io::AsyncBufReadExt as _;
        self.stream.get_mut().write_all(request).await?;
        let mut status = 0;
        let mut length = None;
        let mut chunked = false;
        let mut line = String::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let header = line.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(code) = header.strip_prefix("http/1.1 ") {
                status = code.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            } else if let Some(value) = header.strip_prefix("content-length:") {
                length = value.trim().parse().ok();
            } else if header == "transfer-encoding: chunked" {
                chunked = true;
            }
        }
        let mut body = 0;
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| std::io::Error::other("bad chunk size"))?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                body += size;
                if size == 0 {
                    break;
                }
            }
        } else if let Some(length) = length {
            let mut content = vec![0; length];
            self.stream.read_exact(&mut content).await?;
            body = length;
        }
        Ok((status, body))
    }
}

/// A request for `Connection::exchange`.
pub fn request(address: SocketAddr, head: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "{head} HTTP/1.1\r\nHost: {address}\r\nOrigin: http://{address}\r\n{headers}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What a load run measured.
pub struct Load {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    /// Sorted.
    pub latencies: Vec<Duration>,
    /// CPU time the server used during the run.
    pub server_cpu: Duration,
}

impl Load {
    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{} requests ({} failed) in {:.1} s = {:.0}/s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
             server CPU {:.0}% of one core ({:.0} requests per server CPU-second)",
            self.requests,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.requests as f64 / self.elapsed.as_secs_f64(),
            ms(percentile(&self.latencies, 0.5)),
            ms(percentile(&self.latencies, 0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            100.0 * self.server_cpu.as_secs_f64() / self.elapsed.as_secs_f64(),
            self.requests as f64 / self.server_cpu.as_secs_f64().max(0.001),
        )
    }
}

/// Sends `request` over `connections` keep-alive connections for `duration`. With a `rate`
/// (requests per second over all connections) each connection sends on a fixed schedule
/// and a latency counts from when its request was due, so a stalled server cannot hide
/// the requests it delayed; without one, each connection sends again as soon as it has
/// its answer.
pub async fn load(
    server: u32,
    address: SocketAddr,
    request: Vec<u8>,
    connections: usize,
    duration: Duration,
    rate: Option<f64>,
) -> Load {
    let request = std::sync::Arc::new(request);
    let cpu_before = cpu_time(server);
    let began = tokio::time::Instant::now();
    let deadline = began + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..connections {
        let request = request.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let Ok(mut connection) = Connection::open(address).await else {
                return (latencies, 1);
            };
            let every = rate.map(|rate| Duration::from_secs_f64(connections as f64 / rate));
            let mut due = began
                + every.map_or(Duration::ZERO, |every| {
                    every * index as u32 / connections as u32
                });
            while due < deadline {
                if every.is_some() {
                    tokio::time::sleep_until(due).await;
                }
                let sent = tokio::time::Instant::now();
                let start = if every.is_some() { due } else { sent };
                match connection.exchange(&request).await {
                    Ok((200, _)) => latencies.push(start.elapsed()),
                    _ => {
                        errors += 1;
                        match Connection::open(address).await {
                            Ok(fresh) => connection = fresh,
                            Err(_) => break,
                        }
                    }
                }
                due = match every {
                    Some(every) => due + every,
                    None => tokio::time::Instant::now(),
                };
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    while let Some(Ok((mut some, failed))) = tasks.join_next().await {
        latencies.append(&mut some);
        errors += failed;
    }
    let elapsed = began.elapsed();
    latencies.sort();
    Load {
        requests: latencies.len(),
        errors,
        elapsed,
        latencies,
        server_cpu: cpu_time(server).saturating_sub(cpu_before),
    }
}
