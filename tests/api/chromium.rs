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
    /// Console and exception events seen so far (see [`Chromium::console_errors`]).
    console: Vec<Value>,
}

/// A tab, by its protocol session.
#[derive(Clone, Debug)]
pub struct Tab(String);

impl Chromium {
    /// Starts a browser in English; fails (never skips) when Chromium is
    /// not installed.
    pub fn start() -> Self {
        Self::start_in("en-US")
    }

    /// Starts a browser whose language (`navigator.language` and
    /// `Accept-Language`) is `lang`, e.g. `zh-CN`.
    pub fn start_in(lang: &str) -> Self {
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
                "--remote-debugging-pipe",
            ])
            // navigator.language and Accept-Language, which the pages follow.
            .arg(format!("--lang={lang}"))
            .arg(format!("--accept-lang={lang}"))
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
            console: Vec::new(),
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
            // Anything else is an event or an older answer: not ours, but
            // what the console says is kept for `console_errors`.
            if CONSOLE_EVENTS.contains(&answer["method"].as_str().unwrap_or_default()) {
                self.console.push(answer);
                continue;
            }
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

/// Where the browser tests save what they saw: `target/e2e`.
pub fn artefacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A phone, as the phone page is tested at: viewport, touch and a mobile
/// user agent (Chrome on Android).
pub const PHONE_UA: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                            (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";

impl Chromium {
    /// Makes `tab` a phone (393×852 CSS pixels at 2.75×, touch, [`PHONE_UA`]);
    /// takes effect for the next navigation's requests and at once for layout.
    pub async fn emulate_phone(&mut self, tab: &Tab) {
        let metrics = json!({
            "width": 393, "height": 852, "deviceScaleFactor": 2.75, "mobile": true,
        });
        self.call(Some(tab), "Emulation.setDeviceMetricsOverride", metrics)
            .await;
        self.call(
            Some(tab),
            "Emulation.setTouchEmulationEnabled",
            json!({ "enabled": true, "maxTouchPoints": 5 }),
        )
        .await;
        self.call(
            Some(tab),
            "Emulation.setUserAgentOverride",
            json!({ "userAgent": PHONE_UA, "platform": "Android" }),
        )
        .await;
    }

    /// Sizes `tab` as a desktop window (1280×900 CSS pixels).
    pub async fn emulate_desktop(&mut self, tab: &Tab) {
        let metrics = json!({
            "width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false,
        });
        self.call(Some(tab), "Emulation.setDeviceMetricsOverride", metrics)
            .await;
    }

    /// Dark or light `prefers-color-scheme` for `tab`.
    pub async fn emulate_dark(&mut self, tab: &Tab, dark: bool) {
        let scheme = if dark { "dark" } else { "light" };
        self.call(
            Some(tab),
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        )
        .await;
    }

    /// A PNG of what `tab` shows, saved as `target/e2e/{name}.png` (a test
    /// artefact; the README's screenshots are copied from these).
    pub async fn screenshot(&mut self, tab: &Tab, name: &str) -> Vec<u8> {
        let shot = self
            .call(
                Some(tab),
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": false }),
            )
            .await;
        let png = base64_decode(shot["data"].as_str().unwrap());
        std::fs::write(artefacts_dir().join(format!("{name}.png")), &png).unwrap();
        png
    }

    /// The text a QR code shown by the element `selector` encodes, read
    /// from pixels the browser rendered (a screenshot of that element at
    /// twice its size), as a phone's camera would.
    pub async fn read_qr(&mut self, tab: &Tab, selector: &str) -> String {
        let rect = self
            .eval(
                tab,
                &format!(
                    "(() => {{ const r = document.querySelector({selector:?}).getBoundingClientRect(); \
                     return {{x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}}; }})()"
                ),
            )
            .await;
        // A quiet zone around the code, as the page draws it.
        let pad = 16.0;
        let clip = json!({
            "x": rect["x"].as_f64().unwrap() - pad,
            "y": rect["y"].as_f64().unwrap() - pad,
            "width": rect["width"].as_f64().unwrap() + 2.0 * pad,
            "height": rect["height"].as_f64().unwrap() + 2.0 * pad,
            "scale": 2,
        });
        let shot = self
            .call(
                Some(tab),
                "Page.captureScreenshot",
                json!({ "format": "png", "clip": clip, "captureBeyondViewport": true }),
            )
            .await;
        let png = base64_decode(shot["data"].as_str().unwrap());
        let image = image::load_from_memory(&png).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(image);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in {selector}");
        grids[0].decode().unwrap().1
    }

    /// axe-core's serious and critical violations on `tab` as it is now
    /// (axe-core from the committed npm lock in `tests/rp`, injected into the
    /// page): each as "rule: help (targets)". Empty when the page passes.
    pub async fn axe(&mut self, tab: &Tab) -> Vec<String> {
        let source = crate::node::axe_core_source().await;
        self.eval(tab, &source).await;
        let result = self
            .eval(
                tab,
                "axe.run(document, { resultTypes: ['violations'] }).then(r => r.violations \
                   .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                   .map(v => `${v.id} (${v.impact}): ${v.help} — ` + \
                        v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary).join(' | ')))",
            )
            .await;
        serde_json::from_value(result).unwrap()
    }
}

/// Additions for the phone page and first-paint tests.
impl Chromium {
    /// Makes `tab` fail every request whose URL matches one of `patterns`
    /// (`*` wildcards), from the next request on: e.g. the scripts, to see
    /// a page as the server sent it.
    pub async fn block_urls(&mut self, tab: &Tab, patterns: &[&str]) {
        self.call(Some(tab), "Network.enable", json!({})).await;
        self.call(
            Some(tab),
            "Network.setBlockedURLs",
            json!({ "urls": patterns }),
        )
        .await;
    }

    /// Clicks the element `selector` as a finger or mouse would: scrolled
    /// into view, then a real press and release at its centre (so a
    /// disabled or covered button does not get the click).
    pub async fn click(&mut self, tab: &Tab, selector: &str) {
        let at = self
            .wait_for(
                tab,
                &format!(
                    "(() => {{ const e = document.querySelector({selector:?}); \
                     if (!e || !e.getClientRects().length) return null; \
                     e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
                     return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()"
                ),
                &format!("{selector} on screen"),
            )
            .await;
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                Some(tab),
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": at["x"], "y": at["y"], "button": "left", "clickCount": 1 }),
            )
            .await;
        }
    }
}

fn base64_decode(data: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap()
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The protocol events [`Chromium::console_errors`] reads.
const CONSOLE_EVENTS: [&str; 3] = [
    "Log.entryAdded",
    "Runtime.consoleAPICalled",
    "Runtime.exceptionThrown",
];

impl Chromium {
    /// Starts recording what `tab`'s console says (the browser's own
    /// messages, such as a failed request's, and the page's `console.*`
    /// calls and uncaught exceptions), for [`Self::console_errors`].
    pub async fn record_console(&mut self, tab: &Tab) {
        self.call(Some(tab), "Log.enable", json!({})).await;
        self.call(Some(tab), "Runtime.enable", json!({})).await;
    }

    /// The errors `tab`'s console showed since [`Self::record_console`],
    /// each as one line of text.
    pub async fn console_errors(&mut self, tab: &Tab) -> Vec<String> {
        // A round trip, so every event the browser sent before it is in.
        self.eval(tab, "0").await;
        self.console
            .iter()
            .filter(|e| e["sessionId"] == tab.0.as_str())
            .filter_map(|e| {
                let p = &e["params"];
                match e["method"].as_str()? {
                    "Log.entryAdded" if p["entry"]["level"] == "error" => Some(format!(
                        "{}: {} ({})",
                        p["entry"]["source"], p["entry"]["text"], p["entry"]["url"]
                    )),
                    "Runtime.consoleAPICalled" if p["type"] == "error" => {
                        Some(format!("console.error: {}", p["args"]))
                    }
                    "Runtime.exceptionThrown" => Some(format!(
                        "exception: {}",
                        p["exceptionDetails"]["exception"]["description"]
                    )),
                    _ => None,
                }
            })
            .collect()
    }
}

/// Additions for the transport tests (e2e_transport).
impl Chromium {
    /// Runs `source` in `tab` before any of the page's own scripts, on
    /// every later navigation: e.g. to take away `EventSource`.
    pub async fn add_script_on_new_document(&mut self, tab: &Tab, source: &str) {
        self.call(Some(tab), "Page.enable", json!({})).await;
        self.call(
            Some(tab),
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": source }),
        )
        .await;
    }

    /// Closes `tab` as a person closing it would (its page's locks are
    /// released, its connections dropped).
    pub async fn close_tab(&mut self, tab: &Tab) {
        let targets = self.call(None, "Target.getTargets", json!({})).await;
        // The session knows its target only through the browser's list.
        let info = self
            .call(Some(tab), "Target.getTargetInfo", json!({}))
            .await;
        let id = info["targetInfo"]["targetId"].clone();
        assert!(
            targets["targetInfos"]
                .as_array()
                .is_some_and(|all| all.iter().any(|t| t["targetId"] == id)),
            "{tab:?} is not open"
        );
        self.call(None, "Target.closeTarget", json!({ "targetId": id }))
            .await;
    }
}
