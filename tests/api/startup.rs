//! Starting up: the real binary fails fast on bad config, serves, stops on
//! SIGTERM (plain threads driving a child process, so blocking sleeps are
//! fine there); and the header-read timeout of a running server.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A new, empty directory of this test's own.
pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "qrlogin-test-{}",
        qrlogin::session::QrId::generate()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` as `config.toml` into a new, otherwise empty temp directory.
pub fn write_config(text: &str) -> PathBuf {
    let path = temp_dir().join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The real binary serving on 127.0.0.1:0; killed when dropped.
pub struct Binary {
    pub child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// Its log up to the "listening" line.
    pub startup_log: Vec<String>,
    /// Its log lines after that, as it writes them.
    pub log: Receiver<String>,
}

impl Binary {
    /// The next log line containing `text`, waiting at most `within`.
    pub fn wait_for_log(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {text:?} within {within:?}: {e}"),
            }
        }
    }

    /// Starts it with the config file at `config`, from the config's
    /// directory, so nothing in this repository's checkout can help it.
    pub fn start(config: &Path) -> Self {
        Self::start_with(config, &[])
    }

    /// Like [`Binary::start`], with these environment variables too.
    pub fn start_with(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_qrlogin"))
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(config.parent().unwrap())
            .env("RUST_LOG", "qrlogin=info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut startup_log = Vec::new();
        let addr = loop {
            let line = lines.next().expect("server exited early").unwrap();
            let addr = listening_addr(&line);
            startup_log.push(line);
            if let Some(addr) = addr {
                break addr;
            }
        };
        // Keep draining its log, so it never blocks on a full pipe.
        let (tx, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            addr,
            startup_log,
            log,
        }
    }

    /// The first log line from now on that `wanted` accepts, waiting up to
    /// 10 s for it.
    pub fn log_line(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .expect("no such log line within 10 s");
            if wanted(&line) {
                return line;
            }
        }
    }
}

/// The address of the "listening" line, in either log format.
fn listening_addr(line: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(line) {
        return json["fields"]["addr"].as_str().map(str::to_owned);
    }
    line.split("addr=")
        .nth(1)
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the binary with the config file at `path` until it exits.
fn run_with_config(path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_qrlogin"))
        .arg("--config")
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn bad_config_fails_fast_naming_the_key() {
    let path = write_config(&crate::helpers::test_config_text(
        "http://127.0.0.1:1",
        "[login]\npoll_hold = \"10m\"",
    ));
    let out = run_with_config(&path);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("login.poll_hold"), "{stderr}");

    let out = run_with_config(Path::new("/nonexistent/qrlogin.toml"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

/// Runs the binary on `config` and returns its exit code and stderr.
fn run_on(config: &str) -> (Option<i32>, String) {
    let path = write_config(config);
    let out = Command::new(env!("CARGO_BIN_EXE_qrlogin"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Key files are read while the app is built, not while the TOML is
/// parsed; a bad one is still a config error (exit 2) naming its key.
#[test]
fn an_unusable_rs256_key_file_fails_fast_naming_the_key() {
    let good = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rs256_public.pem"
    );
    let base = crate::helpers::test_config_text("http://127.0.0.1:1", "");
    let not_a_key = write_config("this is not a PEM key");
    for replacement in [
        "/nonexistent/key.pem".to_owned(),
        not_a_key.display().to_string(),
    ] {
        let (code, stderr) = run_on(&base.replace(good, &replacement));
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.contains("mobile_auth.jwt_rs256_public_key"),
            "{stderr}"
        );
    }
}

/// `qrlogin hash-secret` needs no config: run it where there is none.
fn hash_secret_output() -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qrlogin"))
        .arg("hash-secret")
        .current_dir(temp_dir())
        .env_remove("QRLOGIN_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn hash_secret_prints_a_fresh_secret_and_the_line_with_its_hash() {
    use sha2::Digest as _;
    let (stdout, hint) = hash_secret_output();
    let lines: Vec<&str> = stdout.lines().collect();
    let [secret, config_line] = lines[..] else {
        panic!("expected two lines: {stdout}")
    };
    assert_eq!(
        secret.len(),
        43,
        "256 bits, URL-safe base64 without padding"
    );
    assert!(
        secret
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        "{secret}"
    );
    // The second line is TOML to paste; its value is the secret's SHA-256.
    let parsed: toml::Table = toml::from_str(config_line).unwrap();
    let hash = parsed["client_secret_sha256"].as_str().unwrap();
    let expected: String = sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hash, expected);
    assert!(hint.contains("[[clients]]"), "{hint}");

    let (again, _) = hash_secret_output();
    assert_ne!(again.lines().next(), Some(secret));
}

#[test]
fn the_demo_config_serves_and_sigterm_stops_it() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let mut server = Binary::start(&demo);
    let warned = server
        .startup_log
        .iter()
        .any(|line| line.contains("demo [[users]] are configured"));
    assert!(warned, "start-up must warn about demo users");
    let health = std::net::TcpStream::connect(&server.addr).map(|mut s| {
        use std::io::{Read, Write};
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    assert!(health.unwrap().starts_with("HTTP/1.1 200"));

    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_missing_static_dir_fails_fast_naming_the_key() {
    let text = crate::helpers::test_config_text("http://127.0.0.1:1", "").replacen(
        "[server]\n",
        "[server]\nstatic_dir = \"branding\"\n",
        1,
    );
    let path = write_config(&text);
    let out = run_with_config(&path);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.static_dir"), "{stderr}");
    // Resolved against the config file's directory, and named in full.
    let expected = path.parent().unwrap().join("branding");
    assert!(stderr.contains(&*expected.to_string_lossy()), "{stderr}");

    // A directory without one of the pages is refused too.
    std::fs::create_dir(&expected).unwrap();
    std::fs::write(expected.join("index.html"), "<!doctype html>").unwrap();
    let err = qrlogin::config::Config::load(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("server.static_dir") && err.contains("phone.html"),
        "{err}"
    );
    std::fs::write(expected.join("phone.html"), "<!doctype html>").unwrap();
    let config = qrlogin::config::Config::load(&path).unwrap();
    assert_eq!(config.server.static_dir, Some(expected));
}

/// A client that never finishes its headers (slowloris) is cut off after
/// the header-read timeout instead of holding a connection forever.
#[tokio::test]
async fn clients_trickling_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const TIMEOUT: Duration = Duration::from_millis(500);
    let t = crate::helpers::spawn_app_with(|c| c.server.header_read_timeout = TIMEOUT).await;
    let mut stream = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        TIMEOUT + Duration::from_secs(10),
        stream.read_to_end(&mut buf),
    )
    .await
    .expect("the server kept a header-trickling connection open");
    // Closed (EOF) or reset: either way the server let go.
    drop(read);
    assert!(started.elapsed() >= TIMEOUT - Duration::from_millis(100));
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
}

/// A config built in code gets the file-system checks a loaded one gets.
#[tokio::test]
async fn a_typed_config_with_an_empty_static_dir_is_refused_at_build() {
    let mut config = crate::helpers::test_config("http://127.0.0.1:1");
    config.server.static_dir = Some(temp_dir());
    let listener = qrlogin::startup::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let err = qrlogin::Application::build_on(config, listener, qrlogin::clock::Clock::manual())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("server.static_dir"), "{err}");
}

/// The config of the binary on the Redis at `url`.
fn redis_config_text(url: &str) -> String {
    crate::helpers::test_config_text(
        "http://127.0.0.1:1",
        &format!("[store]\nbackend = \"redis\"\nredis_url = \"{url}\"\n"),
    )
}

/// A Redis URL that does not parse stays a config error, found at start-up.
#[test]
fn a_malformed_redis_url_fails_fast_naming_the_key() {
    let (code, stderr) = run_on(&redis_config_text("redis://127.0.0.1:notaport"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("store.redis_url"), "{stderr}");
}

/// The real binary, started while Redis is down, keeps running: alive, not
/// ready, logging its retries (attempt, next pause), and ready once Redis is up.
#[tokio::test]
async fn the_binary_started_while_redis_is_down_waits_for_it() {
    let mut redis = crate::redis_server::RedisServer::start().await;
    redis.kill();
    let mut server = Binary::start(&write_config(&redis_config_text(&redis.url())));
    let within = Duration::from_secs(10);
    // Its stderr is not a terminal, so it logs JSON lines.
    let fields = |line: String| -> serde_json::Value {
        let json: serde_json::Value = serde_json::from_str(&line).expect(&line);
        json["fields"].clone()
    };
    let first = fields(server.wait_for_log("cannot connect to redis", within));
    assert_eq!(first["attempt"], 1, "{first}");
    let second = fields(server.wait_for_log("cannot connect to redis", within));
    assert!(
        second["attempt"] == 2 && second["retry_in"].is_string(),
        "{second}"
    );
    let get = |path: &str| reqwest::get(format!("http://{}{path}", server.addr));
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 503);
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the binary exited while Redis was down"
    );

    redis.start_again().await;
    server.wait_for_log("connected to redis", within);
    server.wait_for_log("subscribed to session changes", within);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
}

/// A Redis that answers but refuses the credentials is the operator's to
/// fix: the binary keeps serving (and retrying) but says so at error level,
/// naming the key and never the password.
#[tokio::test]
async fn a_redis_refusing_the_password_is_logged_as_an_error() {
    let redis = crate::redis_server::RedisServer::start().await;
    let _: () = redis
        .cmd(&["CONFIG", "SET", "requirepass", "the-right-one"])
        .await
        .unwrap();
    let url = redis.url().replace("redis://", "redis://:wrong-password@");
    let server = Binary::start(&write_config(&redis_config_text(&url)));
    let line = server.wait_for_log("redis refused the connection", Duration::from_secs(10));
    let json: serde_json::Value = serde_json::from_str(&line).expect(&line);
    assert_eq!(json["level"], "ERROR", "{line}");
    assert!(line.contains("store.redis_url"), "{line}");
    assert!(!line.contains("wrong-password"), "{line}");
    let healthz = reqwest::get(format!("http://{}/healthz", server.addr))
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
}

/// The test config with `lines` added to its `[server]` table and `extra` tables.
fn config_with_server(lines: &str, extra: &str) -> PathBuf {
    let text = crate::helpers::test_config_text("http://127.0.0.1:1", extra).replacen(
        "[server]\n",
        &format!("[server]\n{lines}\n"),
        1,
    );
    write_config(&text)
}

/// Sends SIGTERM to the binary.
fn terminate(server: &Binary) {
    let pid = server.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
}

/// Waits (bounded by `limit`) for the binary to exit: its status and how
/// long after `since` it exited.
async fn exit_of(server: &mut Binary, since: Instant, limit: Duration) -> (ExitStatus, Duration) {
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return (status, since.elapsed());
        }
        assert!(since.elapsed() < limit, "still running after {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Opens a connection and sends the head of a phone scan whose body
/// (`body_len` bytes) is still to come, with `Expect: 100-continue`; returns
/// once the server asks for the body: the request is in its handler.
async fn request_in_flight(addr: &str, body_len: usize) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/mobile/scan HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {body_len}\r\n\
         Expect: 100-continue\r\n\r\n",
        crate::helpers::ALICE
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("the server never asked for the body");
        assert_eq!(
            read.unwrap(),
            1,
            "closed: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.push(byte[0]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 100 Continue"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    stream
}

/// Graceful shutdown of the real binary, end to end: on SIGTERM it stops
/// accepting, answers a held long poll at once (code 408) and ends an open
/// event stream cleanly (so browsers go to another instance), lets a
/// request in flight finish with its normal answer, and exits 0 well
/// within `server.shutdown_timeout`.
#[tokio::test]
async fn sigterm_answers_held_polls_ends_streams_and_finishes_requests_in_flight() {
    use crate::helpers::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
    let config = config_with_server("shutdown_timeout = \"3s\"", "");
    let mut server = Binary::start(&config);
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let create = || async {
        let resp = client.post(format!("{base}/api/qr")).send().await.unwrap();
        assert_eq!(resp.status(), 201);
        json(resp).await
    };
    let (qr, other) = (create().await, create().await);
    let (id, token) = (
        qr["id"].as_str().unwrap(),
        qr["poll_token"].as_str().unwrap(),
    );

    let resp = client
        .get(format!("{base}/api/qr/{id}/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let mut events = crate::sse::EventStream::new(resp);
    assert_eq!(events.expect_event().await.0, 1);
    let poll = tokio::spawn(
        reqwest::Client::new()
            .get(format!("{base}/api/qr/{id}/status"))
            .bearer_auth(token)
            .send(),
    );
    // The server's gauges tell when the stream and the poll are both held
    // (a probe that competed for the last place in a budget of two raced
    // the poll, and could win every round).
    let metrics = format!("{base}/metrics");
    let mut held = false;
    for _ in 0..500 {
        let resp = client.get(&metrics).send().await.unwrap();
        let text = resp.text().await.unwrap();
        let gauge = |name| crate::observe::sample(&text, name);
        if gauge("qrlogin_held_polls") == Some(1.0) && gauge("qrlogin_held_streams") == Some(1.0) {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(held, "the long poll was never held");
    let scan = format!(r#"{{"qr": "{}"}}"#, other["qr_content"].as_str().unwrap());
    let mut in_flight = request_in_flight(&server.addr, scan.len()).await;

    terminate(&server);
    let stopped_at = Instant::now();
    let resp = poll.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["code"], 408);
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "the held poll answered after {:?}",
        stopped_at.elapsed()
    );
    events.expect_end().await;
    // The poll answered, so the server stopped listening before it did.
    let refused = tokio::net::TcpStream::connect(&server.addr).await;
    assert!(refused.is_err(), "a new connection was accepted");

    in_flight.write_all(scan.as_bytes()).await.unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("\"confirm_token\""), "{answer}");

    let (status, took) = exit_of(&mut server, stopped_at, SHUTDOWN_TIMEOUT * 2).await;
    assert!(status.success(), "{status}");
    assert!(took < SHUTDOWN_TIMEOUT, "exited after {took:?}");
}

/// A client that keeps a request open (its body never comes) delays the
/// exit by `server.shutdown_timeout` at most.
#[tokio::test]
async fn sigterm_exits_within_the_shutdown_timeout_despite_a_stuck_request() {
    const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);
    let config = config_with_server("shutdown_timeout = \"1s\"", "");
    let mut server = Binary::start(&config);
    let _stuck = request_in_flight(&server.addr, 100).await;
    terminate(&server);
    let stopped_at = Instant::now();
    let (status, took) = exit_of(&mut server, stopped_at, Duration::from_secs(10)).await;
    assert!(status.success(), "{status}");
    // It gave the request its time, then stopped regardless.
    assert!(took >= SHUTDOWN_TIMEOUT, "exited after {took:?}");
    assert!(
        took < SHUTDOWN_TIMEOUT + Duration::from_secs(1),
        "exited after {took:?}"
    );
}

/// An audit log whose writer is stuck (its file is a pipe nobody reads, as
/// a hung disk or a stalled log collector would be) holds up the exit by
/// `qrlogin::startup::SHUTDOWN_MARGIN` past `server.shutdown_timeout` at
/// most, and the log says how many lines it leaves unwritten.
#[tokio::test]
async fn a_stuck_audit_writer_does_not_hold_up_the_exit() {
    const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);
    let margin = qrlogin::startup::SHUTDOWN_MARGIN;
    let pipe = temp_dir().join("audit.pipe");
    let made = Command::new("mkfifo").arg(&pipe).status().unwrap();
    assert!(made.success(), "mkfifo: {made}");
    // Opens the pipe (which lets the server's open go through) and never
    // reads it: once the pipe's buffer is full, the writer blocks.
    let reader = pipe.clone();
    std::thread::spawn(move || {
        let _open = std::fs::File::open(&reader).unwrap();
        loop {
            std::thread::park();
        }
    });
    let config = config_with_server(
        "shutdown_timeout = \"1s\"",
        &format!(
            "[limits]\nqr_per_minute_per_ip = 100000\n[audit]\npath = \"{}\"\n",
            pipe.display()
        ),
    );
    let mut server = Binary::start(&config);
    // Each qr_created line carries the user agent (up to 256 bytes): 400
    // of them are several times the pipe's 64 KiB and the writer's buffer.
    let client = reqwest::Client::builder()
        .user_agent("x".repeat(256))
        .build()
        .unwrap();
    for _ in 0..400 {
        let resp = client
            .post(format!("http://{}/api/qr", server.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }

    terminate(&server);
    let stopped_at = Instant::now();
    let (status, took) = exit_of(&mut server, stopped_at, Duration::from_secs(10)).await;
    assert!(status.success(), "{status}");
    assert!(
        took < SHUTDOWN_TIMEOUT + margin + Duration::from_secs(1),
        "exited after {took:?}"
    );
    let warning = server.wait_for_log("the audit log's writer is stuck", Duration::from_secs(5));
    let warning: serde_json::Value = serde_json::from_str(&warning).unwrap();
    let queued = warning["fields"]["queued"].as_u64();
    assert!(queued.is_some_and(|n| n > 0), "{warning}");
}
