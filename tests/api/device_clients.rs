//! Device clients (RFC 8628) against the provider, the test playing the
//! phone: the example CLI (`examples/device-cli`) run in-process, whose
//! terminal QR code is read back and scanned; and Node's `openid-client` 6
//! (a certified third-party library) logging a TV in through
//! `tests/rp/device.mjs`.

use crate::helpers::*;
use crate::node::{NodeScript, STEP, install_openid_client};
use device_cli::openidconnect::OAuth2TokenResponse;
use device_cli::{Colours, LoggedIn, Settings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the CLI paints its QR code: black on white, whatever the theme.
const BLACK_ON_WHITE: &str = "\x1b[38;5;16;48;5;231m";
const RESET: &str = "\x1b[0m";
/// The last line the CLI prints before it waits for the phone.
const WAITING: &str = "Waiting for you to confirm on the phone";

/// What the CLI printed so far, shared with the test as it comes.
struct Screen(watch::Sender<Vec<u8>>);

impl Write for Screen {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send_modify(|screen| screen.extend_from_slice(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The CLI's library running against a test server.
struct Cli {
    screen: watch::Receiver<Vec<u8>>,
    run: JoinHandle<Result<LoggedIn, device_cli::Error>>,
}

fn settings(issuer: &str, client_id: &str, scopes: &[&str], wait: bool) -> Settings {
    Settings {
        issuer: issuer.to_owned(),
        client_id: client_id.into(),
        client_secret: None,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        wait,
        colours: Colours::BlackOnWhite,
    }
}

impl Cli {
    fn start(settings: Settings) -> Self {
        let (tx, screen) = watch::channel(Vec::new());
        let run = tokio::spawn(async move { device_cli::run(&settings, &mut Screen(tx)).await });
        Self { screen, run }
    }

    fn text(&self) -> String {
        String::from_utf8(self.screen.borrow().clone()).unwrap()
    }

    /// Everything printed up to the wait for the phone.
    async fn instructions(&mut self) -> String {
        let waiting = self
            .screen
            .wait_for(|s| String::from_utf8_lossy(s).contains(WAITING));
        let printed = tokio::time::timeout(STEP, async { waiting.await.map(drop) }).await;
        match printed {
            Ok(Ok(_)) => self.text(),
            Ok(Err(_)) => {
                // The run ended (and dropped its screen) before waiting.
                let text = self.text();
                let result = (&mut self.run).await.unwrap();
                panic!("the CLI stopped before waiting: {result:?}\n{text}");
            }
            Err(_) => panic!("the CLI printed no instructions:\n{}", self.text()),
        }
    }

    /// The run's result and everything it printed.
    async fn finish(self) -> (Result<LoggedIn, device_cli::Error>, String) {
        let result = tokio::time::timeout(STEP, self.run)
            .await
            .expect("the CLI finished")
            .unwrap();
        let text = String::from_utf8(self.screen.borrow().clone()).unwrap();
        (result, text)
    }
}

/// The QR code the CLI printed, read back as a camera would: every
/// black-on-white line is two rows of modules (`▀` top dark, `▄` bottom
/// dark, `█` both, space neither), drawn into an image and decoded by rqrr.
fn scan_terminal(text: &str) -> String {
    let mut modules: Vec<Vec<bool>> = Vec::new();
    for line in text.lines() {
        let Some(blocks) = line.strip_prefix(BLACK_ON_WHITE) else {
            continue;
        };
        let blocks = blocks
            .strip_suffix(RESET)
            .unwrap_or_else(|| panic!("colours not reset at the end of {line:?}"));
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for c in blocks.chars() {
            let (t, b) = match c {
                ' ' => (false, false),
                '▀' => (true, false),
                '▄' => (false, true),
                '█' => (true, true),
                other => panic!("{other:?} is not a half block, in {line:?}"),
            };
            top.push(t);
            bottom.push(b);
        }
        modules.extend([top, bottom]);
    }
    assert!(
        modules.len() > 21,
        "no black-on-white QR code printed:\n{text}"
    );
    let width = modules[0].len();
    assert!(modules.iter().all(|row| row.len() == width), "ragged QR");
    // A quiet zone of at least 4 light modules on every side (ISO 18004);
    // the last line's lower half, beyond the code, is light too.
    let light = |row: &Vec<bool>| !row.iter().any(|&m| m);
    assert!(modules[..4].iter().all(light), "no quiet zone above");
    assert!(
        modules[modules.len() - 4..].iter().all(light),
        "no quiet zone below"
    );
    for row in &modules {
        assert!(!row[..4].iter().any(|&m| m) && !row[width - 4..].iter().any(|&m| m));
    }

    const SCALE: usize = 4;
    let image = image::GrayImage::from_fn(
        u32::try_from(width * SCALE).unwrap(),
        u32::try_from(modules.len() * SCALE).unwrap(),
        |x, y| {
            let dark = modules[y as usize / SCALE][x as usize / SCALE];
            image::Luma([if dark { 0 } else { 255 }])
        },
    );
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "the printed QR code does not scan");
    grids[0].decode().unwrap().1
}

/// The user code in the CLI's "enter the code WDJB-MJHT" line.
fn printed_user_code(text: &str) -> String {
    let code = text
        .split("enter the code ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no user code printed:\n{text}"));
    code.to_owned()
}

/// The phone scans `content` as Alice; returns the scan's answer.
async fn phone_scans(t: &TestApp, content: &str) -> Value {
    let resp = t
        .mobile("/api/mobile/scan", ALICE, json!({ "qr": content }))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    json(resp).await
}

/// The phone confirms (or cancels) what it scanned.
async fn phone_decides(t: &TestApp, scan: &Value, confirm: bool) {
    let path = if confirm {
        "/api/mobile/confirm"
    } else {
        "/api/mobile/cancel"
    };
    let body = json!({ "qr_id": scan["qr_id"], "confirm_token": scan["confirm_token"] });
    let resp = t.mobile(path, ALICE, body).await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
}

/// Waits until the server holds a token request of the device session the
/// phone scanned.
async fn until_held(t: &TestApp, scan: &Value) {
    let session = Qr {
        id: scan["qr_id"].as_str().unwrap().to_owned(),
        poll_token: String::new(),
        qr_content: String::new(),
        body: scan.clone(),
    };
    t.wait_for_pollers(&session, 1).await;
}

#[tokio::test]
async fn device_cli_prints_a_scannable_qr_and_logs_in_the_moment_the_phone_confirms() {
    let t = spawn_app().await;
    let mut cli = Cli::start(settings(&t.issuer, TV, &["openid", "profile"], true));
    let printed = cli.instructions().await;

    let code = printed_user_code(&printed);
    let scanned = scan_terminal(&printed);
    assert_eq!(
        scanned,
        format!("{}/device?user_code={code}", t.issuer),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("open {}/device ", t.issuer)),
        "{printed}"
    );

    let scan = phone_scans(&t, &scanned).await;
    assert_eq!(scan["request"]["client"]["id"], TV, "{scan}");
    assert_eq!(scan["request"]["user_code"], code.as_str(), "{scan}");
    // The CLI asked with `wait`: its token request is held on the session,
    // so the confirm reaches it at once, not an `interval` (5 s) later.
    until_held(&t, &scan).await;
    phone_decides(&t, &scan, true).await;
    let confirmed = Instant::now();
    let (result, text) = cli.finish().await;
    let took = confirmed.elapsed();
    let login = result.unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(took < Duration::from_secs(2), "{took:?} after the confirm");

    assert_eq!(login.claims.subject().as_str(), "alice");
    assert!(login.tokens.refresh_token().is_none(), "no offline_access");
    let claims: Value = text
        .split_once("its claims:\n")
        .and_then(|(_, json)| serde_json::from_str(json.trim()).ok())
        .unwrap_or_else(|| panic!("no claims JSON printed:\n{text}"));
    assert_eq!(claims["sub"], "alice", "{claims}");
    assert_eq!(claims["iss"], t.issuer.as_str(), "{claims}");
    let aud = &claims["aud"];
    assert!(aud == TV || *aud == json!([TV]), "aud {aud}");
    assert_eq!(claims["name"], "Alice", "{claims}");
    assert!(claims["exp"].as_i64().is_some(), "{claims}");
}

#[tokio::test]
async fn device_cli_reports_a_cancel_on_the_phone_as_declined() {
    let t = spawn_app().await;
    let mut cli = Cli::start(settings(&t.issuer, TV, &["openid"], true));
    let printed = cli.instructions().await;
    // The person types the code rather than scanning it.
    let scan = phone_scans(&t, &printed_user_code(&printed)).await;
    until_held(&t, &scan).await;
    phone_decides(&t, &scan, false).await;
    let (result, text) = cli.finish().await;
    let e = result.expect_err(&text);
    assert!(matches!(e, device_cli::Error::Declined), "{e:?}");
    assert_eq!(e.to_string(), "declined on the phone");
    assert_eq!(e.exit_code(), 1);
    assert!(!text.contains("its claims"), "{text}");
}

#[tokio::test]
async fn device_cli_without_wait_polls_at_the_interval() {
    let t = spawn_app_with(|c| c.oidc.device_poll_interval = Duration::from_secs(1)).await;
    let mut cli = Cli::start(settings(&t.issuer, TV, &["openid", "profile"], false));
    let printed = cli.instructions().await;
    let scan = phone_scans(&t, &scan_terminal(&printed)).await;
    phone_decides(&t, &scan, true).await;
    let (result, text) = cli.finish().await;
    let login = result.unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(login.claims.subject().as_str(), "alice");
}

#[tokio::test]
async fn device_cli_reports_an_expired_code() {
    let t = spawn_app_with(|c| c.oidc.device_poll_interval = Duration::from_secs(1)).await;
    let mut cli = Cli::start(settings(&t.issuer, TV, &["openid"], false));
    cli.instructions().await;
    t.clock().advance(Duration::from_secs(601));
    let (result, text) = cli.finish().await;
    let e = result.expect_err(&text);
    assert!(matches!(e, device_cli::Error::Expired), "{e:?}");
    assert_eq!(e.to_string(), "the code expired; run again");
    assert_eq!(e.exit_code(), 1);
}

#[tokio::test]
async fn device_cli_refuses_a_client_without_the_device_grant_as_a_config_error() {
    let t = spawn_app().await;
    // The single-page app is registered for the code flow only.
    let (result, text) = Cli::start(settings(&t.issuer, SPA, &["openid"], true))
        .finish()
        .await;
    let e = result.expect_err(&text);
    assert!(matches!(e, device_cli::Error::Client(_)), "{e:?}");
    assert!(e.to_string().contains("unauthorized_client"), "{e}");
    assert_eq!(e.exit_code(), 2);
}

#[tokio::test]
async fn device_cli_logs_a_confidential_kiosk_in_with_its_secret() {
    let t = spawn_app().await;
    let mut kiosk = settings(&t.issuer, KIOSK, &["openid"], true);
    kiosk.client_secret = Some(KIOSK_SECRET.into());
    let mut cli = Cli::start(kiosk);
    let printed = cli.instructions().await;
    let scan = phone_scans(&t, &scan_terminal(&printed)).await;
    assert_eq!(scan["request"]["client"]["id"], KIOSK, "{scan}");
    phone_decides(&t, &scan, true).await;
    let (result, text) = cli.finish().await;
    let login = result.unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(login.claims.subject().as_str(), "alice");
    assert_eq!(login.claims.audiences()[0].as_str(), KIOSK);
}

#[tokio::test]
async fn device_cli_with_a_wrong_secret_is_a_config_error() {
    let t = spawn_app().await;
    let mut kiosk = settings(&t.issuer, KIOSK, &["openid"], true);
    kiosk.client_secret = Some("not-the-kiosk-secret".into());
    let (result, text) = Cli::start(kiosk).finish().await;
    let e = result.expect_err(&text);
    assert!(e.to_string().contains("invalid_client"), "{e}");
    assert_eq!(e.exit_code(), 2);
}

#[tokio::test]
async fn device_cli_says_when_the_provider_cannot_be_reached() {
    // A port nothing listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (result, _) = Cli::start(settings(&issuer, TV, &["openid"], true))
        .finish()
        .await;
    let e = result.unwrap_err();
    assert!(matches!(e, device_cli::Error::Unreachable { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("cannot reach the provider at {issuer}")),
        "{e}"
    );
    assert_eq!(e.exit_code(), 3);
}

/// `tests/rp/device.mjs` as a TV app: client `tv`, `scope`, and `wait`
/// sent as an additional parameter when given.
async fn node_tv(t: &TestApp, scope: &str, wait: Option<&str>) -> NodeScript {
    let rp_dir = install_openid_client().await;
    let mut args = vec!["--issuer", &t.issuer, "--client-id", TV, "--scope", scope];
    if let Some(wait) = wait {
        args.extend(["--wait", wait]);
    }
    NodeScript::spawn(&rp_dir, "device.mjs", args)
}

/// A server whose devices poll every second: openid-client waits the
/// interval before its first request too.
async fn quick_polling_app() -> TestApp {
    spawn_app_with(|c| c.oidc.device_poll_interval = Duration::from_secs(1)).await
}

#[tokio::test]
async fn openid_client_logs_a_device_in_and_refreshes() {
    let t = quick_polling_app().await;
    let mut tv = node_tv(&t, "openid profile offline_access", None).await;
    let device = tv.json_line().await;
    let code = device["user_code"].as_str().unwrap();
    assert_eq!(
        device["verification_uri_complete"],
        format!("{}/device?user_code={code}", t.issuer),
        "{device}"
    );
    assert_eq!(device["verification_uri"], format!("{}/device", t.issuer));
    assert_eq!(device["interval"], 1, "{device}");

    let scan = phone_scans(&t, device["verification_uri_complete"].as_str().unwrap()).await;
    assert_eq!(scan["request"]["client"]["id"], TV, "{scan}");
    phone_decides(&t, &scan, true).await;

    let (ok, stdout, stderr) = tv.finish().await;
    assert!(
        ok,
        "openid-client refused the provider:\n{stderr}\n{stdout}"
    );
    let out: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no JSON report from device.mjs: {stdout}\n{stderr}"));
    assert_eq!(
        out["discovery"]["device_authorization_endpoint"],
        format!("{}/oauth/device_authorization", t.issuer)
    );
    // openid-client validated the id_token (signature against the JWKS,
    // iss, aud, azp, exp, iat) before handing out its claims.
    let claims = &out["claims"];
    assert_eq!(claims["sub"], "alice", "{out}");
    assert_eq!(claims["iss"], t.issuer.as_str(), "{out}");
    let aud = &claims["aud"];
    assert!(aud == TV || *aud == json!([TV]), "aud {aud}");
    assert_eq!(claims["name"], "Alice", "{out}");
    assert_eq!(out["token_type"], "bearer", "{out}");
    let scope = out["scope"].as_str().unwrap_or_default();
    assert!(scope.split(' ').any(|s| s == "offline_access"), "{out}");
    assert_eq!(out["has_refresh_token"], true, "{out}");

    let refreshed = &out["refreshed"];
    assert_eq!(refreshed["new_refresh_token"], true, "{out}");
    assert_eq!(refreshed["new_access_token"], true, "{out}");
    if !refreshed["claims"].is_null() {
        assert_eq!(refreshed["claims"]["sub"], "alice", "{out}");
    }
}

#[tokio::test]
async fn openid_client_device_flow_sees_access_denied_when_the_phone_cancels() {
    let t = quick_polling_app().await;
    let mut tv = node_tv(&t, "openid", None).await;
    let device = tv.json_line().await;
    let scan = phone_scans(&t, device["user_code"].as_str().unwrap()).await;
    phone_decides(&t, &scan, false).await;
    let (ok, stdout, stderr) = tv.finish().await;
    assert!(!ok, "openid-client logged in after a cancel: {stdout}");
    assert!(stderr.contains("access_denied"), "{stderr}");
}

#[tokio::test]
async fn openid_client_can_send_the_wait_extension() {
    let t = quick_polling_app().await;
    let mut tv = node_tv(&t, "openid", Some("25")).await;
    let device = tv.json_line().await;
    let scan = phone_scans(&t, device["verification_uri_complete"].as_str().unwrap()).await;
    // Its poll, with `wait=25` as an additional parameter, is held.
    until_held(&t, &scan).await;
    phone_decides(&t, &scan, true).await;
    let (ok, stdout, stderr) = tv.finish().await;
    assert!(
        ok,
        "openid-client refused the provider:\n{stderr}\n{stdout}"
    );
    let out: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(out["claims"]["sub"], "alice", "{out}");
    assert_eq!(out["has_refresh_token"], false, "{out}");
}
