//! Headless Chromium (Debian's `chromium`) driven over the DevTools
//! protocol through a pipe (`--remote-debugging-pipe`: JSON messages ending
//! in a NUL byte, read on fd 3 and written on fd 4), so the browser tests
//! need no WebSocket client and no fixed port. Each browser has a profile
//! of its own and is closed when dropped.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;

const CHROMIUM: &str = "/usr/bin/chromium";
/// How long one protocol call, or one [`Chromium::wait_for`], may take.
const PATIENCE: Duration = Duration::from_secs(20);

pub struct Chromium {
    child: Child,
    to_browser: ChildStdin,
    from_browser: mpsc::UnboundedReceiver<Value>,
    next_id: u64,
    profile: PathBuf,
}

/// A tab, by its protocol session.
#[derive(Clone, Debug)]
pub struct Tab(String);

impl Chromium {
    /// Starts a browser; fails (never skips) when Chromium is not installed.
    pub fn start() -> Self {
        assert!(
            Path::new(CHROMIUM).exists(),
            "the browser tests need Chromium at {CHROMIUM}: `apt-get install chromium` \
             (scripts/test installs it when run as root)"
        );
        let profile = crate::startup::temp_dir();
        // The shell moves our pipes to the descriptors Chromium talks on;
        // Debian's wrapper script `exec`s the browser, so the child we kill
        // is the browser itself.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-sync",
                "--disable-component-update",
                // navigator.language, which the pages follow.
                "--lang=en-US",
                "--accept-lang=en-US",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMIUM}: {e}"));
        let to_browser = child.stdin.take().unwrap();
        let from = BufReader::new(child.stdout.take().unwrap());
        let (tx, from_browser) = mpsc::unbounded_channel();
        // A plain thread: the pipe is blocking, and it ends with the browser.
        std::thread::spawn(move || {
            for message in from.split(0) {
                let Ok(message) = message else { return };
                if let Ok(value) = serde_json::from_slice(&message)
                    && tx.send(value).is_err()
                {
                    return;
                }
            }
        });
        Self {
            child,
            to_browser,
            from_browser,
            next_id: 0,
            profile,
        }
    }

    /// One protocol call (to the browser, or to `tab`); its `result`.
    async fn call(&mut self, tab: Option<&Tab>, method: &str, params: Value) -> Value {
        self.try_call(tab, method, params)
            .await
            .unwrap_or_else(|error| panic!("{method}: {error}"))
    }

    /// [`Self::call`], with the protocol's error as `Err`.
    async fn try_call(
        &mut self,
        tab: Option<&Tab>,
        method: &str,
        params: Value,
    ) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(Tab(session)) = tab {
            message["sessionId"] = session.as_str().into();
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .and_then(|()| self.to_browser.flush())
            .unwrap_or_else(|e| panic!("{method}: Chromium is gone: {e}"));
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let answer = tokio::time::timeout_at(deadline, self.from_browser.recv())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer from Chromium in {PATIENCE:?}"))
                .unwrap_or_else(|| panic!("{method}: Chromium exited"));
            // Anything else is an event or an older answer: not ours.
            if answer["id"] == id {
                return match answer.get("error") {
                    Some(error) => Err(error.clone()),
                    None => Ok(answer["result"].clone()),
                };
            }
        }
    }

    /// A new tab at `url`.
    pub async fn open(&mut self, url: &str) -> Tab {
        let created = self
            .call(None, "Target.createTarget", json!({ "url": url }))
            .await;
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": created["targetId"], "flatten": true }),
            )
            .await;
        Tab(attached["sessionId"].as_str().unwrap().to_owned())
    }

    pub async fn navigate(&mut self, tab: &Tab, url: &str) {
        let result = self
            .call(Some(tab), "Page.navigate", json!({ "url": url }))
            .await;
        assert!(result.get("errorText").is_none(), "{url}: {result}");
    }

    /// The value of a JavaScript expression in `tab` (promises awaited).
    pub async fn eval(&mut self, tab: &Tab, expression: &str) -> Value {
        self.try_eval(tab, expression)
            .await
            .unwrap_or_else(|error| panic!("{expression}: {error}"))
    }

    async fn try_eval(&mut self, tab: &Tab, expression: &str) -> Result<Value, Value> {
        let params = json!({
            "expression": expression,
            "returnByValue": true,
            "awaitPromise": true,
        });
        let result = self.try_call(Some(tab), "Runtime.evaluate", params).await?;
        match result.get("exceptionDetails") {
            Some(exception) => Err(exception.clone()),
            None => Ok(result["result"]["value"].clone()),
        }
    }

    /// Waits until `expression` is truthy in `tab`, and returns its value;
    /// on timeout fails with `what` and the page's address and text.
    pub async fn wait_for(&mut self, tab: &Tab, expression: &str, what: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            // A throw, or a navigation in flight (it destroys the context
            // the evaluation runs in), counts as "not yet".
            let value = self.try_eval(tab, expression).await.unwrap_or(Value::Null);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return value;
            }
            if tokio::time::Instant::now() > deadline {
                let page = match self
                    .try_eval(tab, "location.href + '\\n' + document.body.innerText")
                    .await
                {
                    Ok(Value::String(text)) => text,
                    other => format!("{other:?}"),
                };
                panic!("waited {PATIENCE:?} for {what} ({expression}); the page:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
