//! The `wukong` binary as an operator meets it: flags, start-up failures, serving and
//! stopping on a signal.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

fn wukong() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wukong"));
    for (name, _) in std::env::vars() {
        if name.starts_with("WUKONG_") || name == "KUBECONFIG" || name == "KUBERNETES_SERVICE_HOST"
        {
            command.env_remove(name);
        }
    }
    // No ~/.kube/config of the machine running the tests: without a flag, the simulated cluster.
    command.env("HOME", "/nonexistent-wukong-test-home");
    command
}

/// Runs `wukong` with `args` in a fresh data directory and expects it to refuse to start.
fn refused_start(args: &[&str]) -> (String, Output) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = wukong();
    command.args(["--listen", "127.0.0.1:0", "--log-format", "json"]);
    if !args.contains(&"--data-dir") {
        command.arg("--data-dir").arg(dir.path().join("data"));
    }
    let output = command.args(args).output().expect("run wukong");
    assert_eq!(output.status.code(), Some(1), "exit status for {args:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        stderr.lines().count(),
        1,
        "stderr for {args:?} is not one line:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    (stderr, output)
}

#[test]
fn help_documents_every_flag_and_its_environment_variable() {
    let output = wukong().arg("--help").output().expect("run wukong --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for (flag, variable) in [
        ("--listen", "WUKONG_LISTEN"),
        ("--data-dir", "WUKONG_DATA_DIR"),
        ("--database-url", "WUKONG_DATABASE_URL"),
        ("--kubeconfig", "WUKONG_KUBECONFIG"),
        ("--log-format", "WUKONG_LOG_FORMAT"),
        ("--log", "WUKONG_LOG"),
        ("--site-root", "WUKONG_SITE_ROOT"),
        ("--session-idle-timeout", "WUKONG_SESSION_IDLE_TIMEOUT"),
        (
            "--session-absolute-timeout",
            "WUKONG_SESSION_ABSOLUTE_TIMEOUT",
        ),
        ("--allowed-origin", "WUKONG_ALLOWED_ORIGINS"),
        ("--trusted-proxy", "WUKONG_TRUSTED_PROXIES"),
        ("--forwarded-header", "WUKONG_FORWARDED_HEADER"),
        ("--max-sessions-per-user", "WUKONG_MAX_SESSIONS_PER_USER"),
        ("--max-sockets-per-user", "WUKONG_MAX_SOCKETS_PER_USER"),
    ] {
        assert!(
            help.contains(flag) && help.contains(variable),
            "--help lacks {flag} / {variable}:\n{help}"
        );
    }
}

#[test]
fn an_unsupported_database_url_is_one_clear_error() {
    let (stderr, _) = refused_start(&["--database-url", "mysql://root:hunter2@localhost/wukong"]);
    assert!(stderr.contains("unsupported database URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");
}

#[test]
fn an_unreachable_database_is_one_clear_error() {
    let (stderr, _) = refused_start(&[
        "--database-url",
        "postgres://wukong:hunter2@127.0.0.1:1/wukong",
    ]);
    assert!(
        stderr.contains("cannot open database postgres://wukong:***@127.0.0.1:1/wukong"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");
}

#[test]
fn an_unusable_data_directory_is_one_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write file");
    let data_dir = file.join("data");
    let (stderr, _) = refused_start(&["--data-dir", data_dir.to_str().expect("UTF-8 path")]);
    assert!(stderr.contains("cannot use data directory"), "{stderr}");
}

#[test]
fn a_missing_kubeconfig_is_one_clear_error() {
    let (stderr, _) = refused_start(&["--kubeconfig", "/nonexistent/kubeconfig"]);
    assert!(
        stderr.contains("kubeconfig /nonexistent/kubeconfig cannot be read"),
        "{stderr}"
    );
}

/// A running `wukong` that is killed when the test ends, whatever happens.
struct Running {
    child: Child,
    address: SocketAddr,
    log: mpsc::Receiver<String>,
    /// The lines logged before the server said where it listens.
    early_log: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Log lines written so far (all of them once the process has exited).
    fn log_lines(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }
}

fn start(data_dir: &std::path::Path) -> Running {
    start_with(data_dir, &[])
}

fn start_with(data_dir: &std::path::Path, args: &[&str]) -> Running {
    let mut child = wukong()
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wukong");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, log) = mpsc::channel();
    // Drain stdout for the whole run so a full pipe can never block the server.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    // From here on the guard kills and reaps the child, even if the test panics.
    let mut running = Running {
        child,
        address: SocketAddr::from(([127, 0, 0, 1], 0)),
        log,
        early_log: Vec::new(),
    };
    while let Ok(line) = running.log.recv_timeout(Duration::from_secs(60)) {
        let record: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        if let Some(bound) = record.get("address").and_then(|value| value.as_str()) {
            running.address = bound.parse().expect("socket address");
            return running;
        }
        running.early_log.push(line);
    }
    panic!(
        "wukong never said where it listens: {:#?}",
        running.early_log
    );
}

fn http_get(address: SocketAddr, path: &str) -> String {
    http(address, &format!("GET {path}"), &[], "")
}

/// One HTTP/1.1 exchange on a fresh connection: `request_line` is `METHOD PATH`.
fn http(address: SocketAddr, request_line: &str, headers: &[&str], body: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = format!("{request_line} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    write!(stream, "{head}Content-Length: {}\r\n\r\n{body}", body.len()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn serves_from_a_sqlite_file_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let mut running = start(&data_dir);

    let health = http_get(running.address, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let ready = http_get(running.address, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.contains(r#""cluster":"ok""#), "{ready}");
    assert!(
        running
            .early_log
            .iter()
            .any(|line| line.contains("no kubeconfig found: using the simulated cluster")),
        "{:#?}",
        running.early_log
    );
    assert!(
        data_dir.join("wukong.db").is_file(),
        "no SQLite file in the data directory"
    );

    let pid = running.child.id().to_string();
    let signalled = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(signalled.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = running.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "wukong did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let mut stderr = String::new();
    if let Some(mut pipe) = running.child.stderr.take() {
        pipe.read_to_string(&mut stderr).expect("stderr");
    }
    assert!(stderr.is_empty(), "stderr after a clean stop: {stderr}");
    let log = running.log_lines();
    assert!(
        log.iter().any(|line| line.contains("SIGTERM received")),
        "{log:#?}"
    );
    assert!(
        log.last().is_some_and(|line| line.contains("stopped")),
        "{log:#?}"
    );
}

/// Runs `wukong --data-dir DIR user ARGS…` with `stdin`; returns stdout, or the one-line
/// error when it fails.
fn user_command(dir: &std::path::Path, args: &[&str], stdin: &str) -> Result<String, String> {
    let mut child = wukong()
        .arg("--data-dir")
        .arg(dir)
        .arg("user")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wukong user");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        Err(stderr)
    }
}

#[tokio::test]
async fn user_commands_manage_accounts_in_the_configured_database() {
    use sqlx::Row as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let created = user_command(
        &data,
        &["create", "Ops@Example.test", "--admin", "--password-stdin"],
        "a long enough passphrase\n",
    )
    .expect("create");
    assert_eq!(created.trim(), "created ops@example.test (admin)");
    let generated = user_command(&data, &["create", "dev@example.test"], "").expect("create");
    assert!(generated.contains("password (must be changed at first sign-in): "));
    let duplicate = user_command(&data, &["create", "dev@example.test"], "").unwrap_err();
    assert!(duplicate.contains("already exists"), "{duplicate}");
    let weak = user_command(
        &data,
        &["create", "x@example.test", "--password-stdin"],
        "short\n",
    )
    .unwrap_err();
    assert!(weak.contains("at least 12"), "{weak}");
    let unknown = user_command(&data, &["disable", "nobody@example.test"], "").unwrap_err();
    assert_eq!(
        unknown.trim(),
        "wukong: error: no account with email nobody@example.test"
    );

    let reset = user_command(&data, &["reset-password", "dev@example.test"], "").expect("reset");
    assert!(reset.contains("password (must be changed at next sign-in): "));
    user_command(&data, &["reset-mfa", "dev@example.test"], "").expect("reset MFA");
    user_command(&data, &["disable", "dev@example.test"], "").expect("disable");
    user_command(&data, &["unlock", "dev@example.test"], "").expect("unlock");

    let url = format!("sqlite://{}", data.join("wukong.db").display());
    let db = app::db::Db::connect(&url).await.expect("open database");
    let dev = sqlx::query(
        "SELECT is_disabled, must_change_password FROM users WHERE email = 'dev@example.test'",
    )
    .fetch_one(db.pool())
    .await
    .expect("dev");
    assert_eq!(dev.get::<i64, _>("is_disabled"), 1);
    assert_eq!(dev.get::<i64, _>("must_change_password"), 1);
    let events: Vec<String> =
        sqlx::query("SELECT event_type FROM audit_logs WHERE details LIKE '%command_line%' ORDER BY occurred_at")
            .fetch_all(db.pool())
            .await
            .expect("audit")
            .iter()
            .map(|row| row.get("event_type"))
            .collect();
    assert_eq!(
        events,
        [
            "user_created",
            "user_created",
            "password_reset",
            "mfa_reset",
            "user_disabled",
            "user_unlocked"
        ]
    );
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubeconfig_points_wukong_at_that_cluster() {
    let sim = server::simcluster::SimCluster::start(None)
        .await
        .expect("a cluster to point at");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n\
             users:\n- name: tester\n  user:\n    token: not-a-real-token\ncontexts:\n\
             - name: test\n  context:\n    cluster: test\n    user: tester\ncurrent-context: test\n",
            sim.url()
        ),
    )
    .expect("write kubeconfig");
    let path = kubeconfig.to_string_lossy().into_owned();
    let data_dir = dir.path().join("data");
    let running =
        tokio::task::spawn_blocking(move || start_with(&data_dir, &["--kubeconfig", &path]))
            .await
            .expect("started");
    assert!(
        running
            .early_log
            .iter()
            .any(|line| line.contains("cluster configured") && line.contains("kubeconfig")),
        "{:#?}",
        running.early_log
    );
    let address = running.address;
    let ready = tokio::task::spawn_blocking(move || http_get(address, "/readyz"))
        .await
        .expect("readyz");
    assert!(ready.contains(r#""cluster":"ok""#), "{ready}");
    drop(sim);
    let unready = tokio::task::spawn_blocking(move || http_get(address, "/readyz"))
        .await
        .expect("readyz");
    assert!(unready.starts_with("HTTP/1.1 503"), "{unready}");
    assert!(unready.contains(r#""cluster":"unavailable""#), "{unready}");
    drop(running);
}

/// SES-03, AUTH-12: behind a TLS proxy (an https public URL) the session cookie is `Secure`
/// with the `__Host-` prefix, even though Wukong itself listens on plain http on loopback.
#[test]
fn behind_a_tls_proxy_cookies_are_secure_even_on_loopback() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    user_command(
        &data_dir,
        &["create", "proxy@example.test", "--password-stdin"],
        "a long enough passphrase\n",
    )
    .expect("create");
    let running = start_with(&data_dir, &["--public-url", "https://wukong.example"]);
    let response = http(
        running.address,
        "POST /api/auth/login",
        &[
            "Origin: https://wukong.example",
            "Content-Type: application/x-www-form-urlencoded",
        ],
        "email=proxy%40example.test&password=a+long+enough+passphrase",
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let cookie = response
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie: {response}"));
    assert!(cookie.starts_with("__Host-wukong_session="), "{cookie}");
    assert!(cookie.contains("; Secure;"), "{cookie}");
}

/// An address range that does not parse is refused as a usage error that names it.
#[test]
fn a_malformed_trusted_proxy_is_refused_as_a_usage_error() {
    let output = wukong()
        .args(["--listen", "127.0.0.1:0", "--trusted-proxy", "10.0.0.1/8"])
        .output()
        .expect("run wukong");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"10.0.0.1/8\" is not an address range"),
        "{stderr}"
    );
}
