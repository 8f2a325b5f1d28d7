//! The real binary: fails fast on bad config, serves, stops on SIGTERM.
//! These are plain threads driving a child process, so blocking sleeps are fine.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_config(text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "qrlogin-test-{}",
        qrlogin::session::QrId::generate()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn bad_config_fails_fast_naming_the_key() {
    let path = write_config(&crate::helpers::test_config_text(
        "http://127.0.0.1:1",
        "[login]\npoll_hold = \"10m\"",
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_qrlogin"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("login.poll_hold"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_qrlogin"))
        .args(["--config", "/nonexistent/qrlogin.toml"])
        .output()
        .unwrap();
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
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
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

#[test]
fn the_demo_config_serves_and_sigterm_stops_it() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_qrlogin"))
        .args(["--config", demo, "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "qrlogin=info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut warned = false;
    let addr = loop {
        let line = lines.next().expect("server exited early").unwrap();
        warned |= line.contains("demo [[users]] are configured");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    assert!(warned, "start-up must warn about demo users");
    let health = std::net::TcpStream::connect(&addr).map(|mut s| {
        use std::io::{Read, Write};
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    assert!(health.unwrap().starts_with("HTTP/1.1 200"));

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
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
