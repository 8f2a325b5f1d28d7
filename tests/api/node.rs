//! Node scripts in `tests/rp` that drive `openid-client` (a certified
//! third-party library) against a test server: installing the npm packages
//! from the committed lock once across the parallel test processes, and
//! running a script while reading its stdout line by line.

use crate::helpers::sha256_hex;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// How long a script may take for one step.
pub const STEP: Duration = Duration::from_secs(30);

/// A `tests/rp` script running, its stdout read line by line, its stderr
/// drained as it comes (so the child never blocks on a full pipe).
pub struct NodeScript {
    name: String,
    child: tokio::process::Child,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    stderr: tokio::task::JoinHandle<String>,
}

impl NodeScript {
    /// Starts `node <rp_dir>/<script> <args…>`.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(
        rp_dir: &Path,
        script: &str,
        args: impl IntoIterator<Item = S>,
    ) -> Self {
        let mut child = Command::new("node")
            .arg(rp_dir.join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (checked by install_openid_client)");
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        Self {
            name: script.to_owned(),
            child,
            stdout,
            stderr,
        }
    }

    /// The script's next stdout line, parsed as JSON; fails the test with
    /// the script's stderr if it prints none within [`STEP`].
    pub async fn json_line(&mut self) -> Value {
        let line = tokio::time::timeout(STEP, self.stdout.next_line()).await;
        match line {
            Ok(Ok(Some(line))) => serde_json::from_str(&line).unwrap_or_else(|_| {
                panic!("{} printed a line that is not JSON: {line}", self.name)
            }),
            _ => {
                let _ = self.child.start_kill();
                let stderr = (&mut self.stderr).await.unwrap_or_default();
                panic!("{} printed no line:\n{stderr}", self.name);
            }
        }
    }

    /// Writes `input` to the script's stdin and closes it.
    pub async fn send(&mut self, input: &str) {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
    }

    /// Waits (at most [`STEP`]) for the script to end: whether it
    /// succeeded, the rest of its stdout and its stderr.
    pub async fn finish(mut self) -> (bool, String, String) {
        drop(self.child.stdin.take());
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
            .unwrap_or_else(|_| panic!("{} did not finish within {STEP:?}", self.name));
        let stderr = self.stderr.await.unwrap();
        (status.success(), stdout, stderr)
    }
}

/// The version of package-lock.json an install was made from, kept in
/// `node_modules` once `npm ci` has finished: tells a complete install of
/// the current lock from a stale or interrupted one.
const MARKER: &str = "node_modules/.qrlogin-installed";

/// axe-core's browser bundle (`axe.min.js`), installed by
/// [`install_openid_client`] with the other packages of `tests/rp`.
pub async fn axe_core_source() -> String {
    let dir = install_openid_client().await;
    let path = dir.join("node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `tests/rp`, with its packages (`openid-client`, `axe-core`) installed
/// from the committed lock. Runs
/// `npm ci` at most once at a time across the parallel test processes
/// (mkdir is atomic: the one that creates the lock directory installs).
pub async fn install_openid_client() -> PathBuf {
    let rp_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rp");
    match Command::new("node").arg("--version").output().await {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "the third-party client tests need Node.js (20 or newer) and npm on PATH \
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
