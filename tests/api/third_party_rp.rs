//! A certified third-party relying party against the provider: Node's
//! `openid-client` 6 (certified by the OpenID Foundation) runs
//! `tests/rp/flow.mjs`, which does discovery, the code flow with PKCE, nonce
//! and state, userinfo, a refresh and a revocation, and refuses whatever
//! the standard does not allow. The test plays the browser and the phone.
//! The npm package is installed on first use (`npm ci`, under a lock: the
//! tests run as parallel processes); Node itself must be on the machine.

use crate::helpers::*;
use crate::rp::{Decision, params};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// The shop's second redirect URI: openid-client sends the callback URL
/// without its query as `redirect_uri`, so [`SHOP_REDIRECT`] (`?v=1`) would
/// not match.
const SHOP_PLAIN_REDIRECT: &str = "https://shop.example/cb2";

#[tokio::test]
async fn openid_client_logs_in_with_client_secret_basic() {
    // The shop's secret has reserved characters: Basic credentials are
    // form-encoded first (RFC 6749 2.3.1).
    let out = full_flow(SHOP, Some(SHOP_SECRET), "basic").await;
    assert_eq!(out["introspection"]["active"], true, "{out}");
    assert_eq!(out["introspection"]["sub"], "alice", "{out}");
}

#[tokio::test]
async fn openid_client_logs_in_with_client_secret_post() {
    full_flow(SHOP, Some(SHOP_SECRET), "post").await;
}

#[tokio::test]
async fn openid_client_logs_in_as_a_public_client() {
    full_flow(SPA, None, "none").await;
}

#[tokio::test]
async fn openid_client_sees_access_denied_when_the_phone_cancels() {
    let rp_dir = install_openid_client().await;
    let t = spawn_app().await;
    let mut rp = NodeRp::spawn(&rp_dir, &t.issuer, SPA, None, "none").await;
    let url = rp.authorization_url().await;
    let callback = t
        .authorize_url_as(&browser(), &url, ALICE, Decision::Cancel)
        .await;
    assert!(
        callback.starts_with(&format!("{SPA_REDIRECT}?")),
        "{callback}"
    );
    let p = params(&callback);
    assert_eq!(p["error"], "access_denied");
    assert_eq!(p["iss"], t.issuer);
    let (ok, stdout, stderr) = rp.finish(&callback).await;
    assert!(!ok, "openid-client accepted a cancelled login: {stdout}");
    assert!(stderr.contains("access_denied"), "{stderr}");
}

/// The whole flow for client `client_id`; returns openid-client's report
/// after asserting what every flow must show.
async fn full_flow(client_id: &str, secret: Option<&str>, auth: &str) -> Value {
    let rp_dir = install_openid_client().await;
    let t = spawn_app().await;
    let redirect_uri = redirect_uri_of(client_id);
    let mut rp = NodeRp::spawn(&rp_dir, &t.issuer, client_id, secret, auth).await;
    let url = rp.authorization_url().await;
    assert_eq!(params(&url)["code_challenge_method"], "S256", "{url}");

    let callback = t
        .authorize_url_as(&browser(), &url, ALICE, Decision::Confirm)
        .await;
    assert!(
        callback.starts_with(&format!("{redirect_uri}?")),
        "{callback}"
    );
    let (ok, stdout, stderr) = rp.finish(&callback).await;
    assert!(
        ok,
        "openid-client refused the provider:\n{stderr}\n{stdout}"
    );
    let out: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no JSON report from flow.mjs: {stdout}\n{stderr}"));

    for (check, passed) in out["checks"].as_object().unwrap() {
        assert_eq!(passed, &Value::Bool(true), "check {check} failed: {out}");
    }
    let claims = &out["claims"];
    assert_eq!(claims["iss"], t.issuer.as_str(), "{out}");
    assert_eq!(claims["sub"], "alice", "{out}");
    let aud = &claims["aud"];
    assert!(
        aud == client_id
            || aud
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == client_id)),
        "aud {aud} is not {client_id}"
    );
    assert!(claims["auth_time"].as_i64().is_some(), "{out}");
    assert_eq!(out["userinfo"]["sub"], "alice", "{out}");
    assert_eq!(out["userinfo"]["name"], "Alice", "{out}");
    assert!(out["userinfo"]["picture"].as_str().is_some(), "{out}");
    assert_eq!(
        out["token_type"].as_str().map(str::to_lowercase).as_deref(),
        Some("bearer")
    );
    out
}

/// Where openid-client has the browser sent back to, per client.
fn redirect_uri_of(client_id: &str) -> &'static str {
    match client_id {
        SHOP => SHOP_PLAIN_REDIRECT,
        SPA => SPA_REDIRECT,
        other => panic!("no redirect URI for {other}"),
    }
}

/// `tests/rp/flow.mjs` running, its stdout read line by line.
struct NodeRp {
    child: tokio::process::Child,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    stderr: tokio::task::JoinHandle<String>,
}

/// How long flow.mjs may take for one step.
const STEP: Duration = Duration::from_secs(30);

impl NodeRp {
    async fn spawn(
        rp_dir: &Path,
        issuer: &str,
        client_id: &str,
        secret: Option<&str>,
        auth: &str,
    ) -> Self {
        let mut command = Command::new("node");
        command
            .arg(rp_dir.join("flow.mjs"))
            .args(["--issuer", issuer, "--client-id", client_id])
            .args(["--redirect-uri", redirect_uri_of(client_id), "--auth", auth])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(secret) = secret {
            command.args(["--client-secret", secret]);
        }
        let mut child = command
            .spawn()
            .expect("node runs (checked by install_openid_client)");
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take().unwrap();
        // Drained as it comes, so the child never blocks on a full pipe.
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// The first line flow.mjs prints: the authorization URL it built.
    async fn authorization_url(&mut self) -> String {
        let line = tokio::time::timeout(STEP, self.stdout.next_line()).await;
        match line {
            Ok(Ok(Some(line))) => {
                let value: Value = serde_json::from_str(&line).unwrap();
                value["authorization_url"].as_str().unwrap().to_owned()
            }
            _ => {
                let _ = self.child.start_kill();
                let stderr = (&mut self.stderr).await.unwrap_or_default();
                panic!("flow.mjs printed no authorization URL:\n{stderr}");
            }
        }
    }

    /// Hands flow.mjs the callback URL and waits for it to finish: whether
    /// it succeeded, its stdout and its stderr.
    async fn finish(mut self, callback: &str) -> (bool, String, String) {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin
            .write_all(format!("{callback}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let mut stdout = String::new();
        let read = async {
            while let Some(line) = self.stdout.next_line().await.unwrap() {
                stdout.push_str(&line);
                stdout.push('\n');
            }
            self.child.wait().await.unwrap()
        };
        let status = tokio::time::timeout(STEP, read)
            .await
            .unwrap_or_else(|_| panic!("flow.mjs did not finish within {STEP:?}"));
        let stderr = self.stderr.await.unwrap();
        (status.success(), stdout, stderr)
    }
}

/// The version of package-lock.json an install was made from, kept in
/// `node_modules` once `npm ci` has finished: tells a complete install of
/// the current lock from a stale or interrupted one.
const MARKER: &str = "node_modules/.qrlogin-installed";

/// `tests/rp`, with `openid-client` installed from the committed lock. Runs
/// `npm ci` at most once at a time across the parallel test processes
/// (mkdir is atomic: the one that creates the lock directory installs).
async fn install_openid_client() -> PathBuf {
    let rp_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rp");
    match Command::new("node").arg("--version").output().await {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "the third-party RP tests need Node.js (20 or newer) and npm on PATH \
             (openid-client is a Node library): install them, e.g. apt-get install nodejs npm"
        ),
    }
    let wanted = sha256_hex(&std::fs::read_to_string(rp_dir.join("package-lock.json")).unwrap());
    let installed = || std::fs::read_to_string(rp_dir.join(MARKER)).is_ok_and(|m| m == wanted);
    if installed() {
        return rp_dir;
    }

    let lock = Path::new(env!("CARGO_TARGET_TMPDIR")).join("npm-ci-tests-rp.lock");
    let started = Instant::now();
    loop {
        match std::fs::create_dir_all(lock.parent().unwrap())
            .and_then(|()| std::fs::create_dir(&lock))
        {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if installed() {
                    return rp_dir;
                }
                // A lock older than any install is one a killed run left.
                let stale = std::fs::metadata(&lock)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(300));
                if stale {
                    let _ = std::fs::remove_dir(&lock);
                }
                assert!(
                    started.elapsed() < Duration::from_secs(300),
                    "waited 5 minutes for another test's npm ci ({})",
                    lock.display()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot create {}: {e}", lock.display()),
        }
    }
    struct Unlock<'a>(&'a Path);
    impl Drop for Unlock<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(self.0);
        }
    }
    let _unlock = Unlock(&lock);
    if !installed() {
        let out = Command::new("npm")
            // Quiet, and from the cache when it has the packages: a warm
            // cache needs no network.
            .args(["ci", "--prefer-offline", "--no-audit", "--no-fund"])
            .args(["--no-update-notifier", "--loglevel=error", "--prefix"])
            .arg(&rp_dir)
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run npm (needed to install openid-client): {e}"));
        assert!(
            out.status.success(),
            "npm ci --prefix tests/rp failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(rp_dir.join(MARKER), &wanted).unwrap();
    }
    rp_dir
}
