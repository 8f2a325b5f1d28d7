//! The Device Authorization Grant (RFC 8628): a TV starts, the phone scans
//! its QR (or the typed code) and confirms, the TV polls for its tokens.

use crate::helpers::*;
use crate::rp::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

on_every_store!(
    the_tv_logs_in_once_the_phone_confirms,
    polling_faster_than_the_interval_slows_the_device_down,
    a_cancel_on_the_phone_is_access_denied,
    device_codes_expire,
    a_device_code_works_once_and_for_its_client_only,
    a_typed_user_code_finds_the_device,
    a_held_token_request_answers_as_soon_as_the_phone_confirms,
    a_logged_in_browser_can_allow_or_deny_a_device,
);

/// A started device authorization.
struct Device {
    body: Value,
    client_id: &'static str,
}

impl Device {
    fn code(&self) -> &str {
        self.body["device_code"].as_str().unwrap()
    }
    fn user_code(&self) -> &str {
        self.body["user_code"].as_str().unwrap()
    }
    fn complete_uri(&self) -> &str {
        self.body["verification_uri_complete"].as_str().unwrap()
    }
    /// `verification_uri_complete` at the test server's address (a Redis
    /// test server's public URL is not where it listens).
    fn page(&self, app: &TestApp) -> String {
        app.url(&format!("/device?user_code={}", self.user_code()))
    }
}

async fn start(app: &TestApp, client_id: &'static str, scope: &str) -> Device {
    let resp = device_authorization(app, client_id, scope).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    Device {
        body: json(resp).await,
        client_id,
    }
}

async fn device_authorization(app: &TestApp, client_id: &str, scope: &str) -> reqwest::Response {
    let form = [("scope", scope)];
    match secret_of(client_id) {
        Some(secret) => {
            app.oauth_post(
                "/oauth/device_authorization",
                &form,
                Some((client_id, secret)),
            )
            .await
        }
        None => {
            let form = [("scope", scope), ("client_id", client_id)];
            app.oauth_post("/oauth/device_authorization", &form, None)
                .await
        }
    }
}

/// The device's token request (`wait` seconds of hold when given).
async fn poll_token(app: &TestApp, device: &Device, wait: Option<&str>) -> reqwest::Response {
    let mut form = vec![("grant_type", DEVICE_GRANT), ("device_code", device.code())];
    if let Some(wait) = wait {
        form.push(("wait", wait));
    }
    match secret_of(device.client_id) {
        Some(secret) => {
            app.oauth_post("/oauth/token", &form, Some((device.client_id, secret)))
                .await
        }
        None => {
            form.push(("client_id", device.client_id));
            app.oauth_post("/oauth/token", &form, None).await
        }
    }
}

/// The phone scans `content`: the scan answer.
async fn phone_scan(app: &TestApp, phone: &str, content: &str) -> Value {
    let resp = app
        .mobile("/api/mobile/scan", phone, json!({ "qr": content }))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    json(resp).await
}

async fn phone_decides(app: &TestApp, phone: &str, scan: &Value, path: &str) {
    let body = json!({ "qr_id": scan["qr_id"], "confirm_token": scan["confirm_token"] });
    let resp = app.mobile(path, phone, body).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Lets the device's next poll come after its interval.
fn wait_interval(app: &TestApp) {
    app.clock().advance(Duration::from_secs(5));
}

async fn the_tv_logs_in_once_the_phone_confirms(app: &TestApp) {
    let device = start(app, TV, "openid profile offline_access").await;
    let b = &device.body;
    let user_code = device.user_code();
    assert_eq!(user_code.len(), 9, "{b}");
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .bytes()
            .filter(|&c| c != b'-')
            .all(|c| b"BCDFGHJKLMNPQRSTVWXZ".contains(&c))
    );
    assert!(device.code().len() >= 43, "≥ 256 bits: {b}");
    let verification_uri = format!("{}/device", app.issuer);
    assert_eq!(b["verification_uri"], verification_uri.as_str());
    assert_eq!(
        device.complete_uri(),
        format!("{verification_uri}?user_code={user_code}")
    );
    assert_eq!(b["expires_in"], 600);
    assert_eq!(b["interval"], 5);

    let pending = poll_token(app, &device, None).await;
    expect_oauth_error(pending, 400, "authorization_pending").await;

    // The phone scans the device's QR: it is told who asks, and the code.
    let scan = phone_scan(app, ALICE, device.complete_uri()).await;
    let asking = &scan["request"];
    assert_eq!(asking["client"]["name"], "Living Room TV");
    assert_eq!(asking["user_code"], user_code);
    assert_eq!(asking["ip"], "127.0.0.1");
    assert_eq!(asking["scope"], "openid profile offline_access");

    // Scanned is still pending to the device.
    wait_interval(app);
    let pending = poll_token(app, &device, None).await;
    expect_oauth_error(pending, 400, "authorization_pending").await;

    phone_decides(app, ALICE, &scan, "/api/mobile/confirm").await;
    wait_interval(app);
    let resp = poll_token(app, &device, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let tokens = json(resp).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile offline_access");
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], "alice");
    assert_eq!(id["aud"], TV);
    assert_eq!(id["iss"], app.issuer);
    assert_eq!(id["name"], "Alice");
    assert!(id.get("nonce").is_none());

    let info = app.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info.status(), StatusCode::OK);
    assert_eq!(json(info).await["sub"], "alice");
    let refreshed = app
        .oauth_post(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", TV),
            ],
            None,
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);

    // The phone lists the TV among alice's logins.
    let list = reqwest::Client::new()
        .get(app.url("/api/mobile/sessions"))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    let list = json(list).await;
    let sessions = list["sessions"].as_array().unwrap();
    assert!(
        sessions
            .iter()
            .any(|s| s["kind"] == "client" && s["client"]["id"] == TV),
        "{list}"
    );
}

async fn polling_faster_than_the_interval_slows_the_device_down(app: &TestApp) {
    let device = start(app, TV, "openid").await;
    let poll = || poll_token(app, &device, None);
    expect_oauth_error(poll().await, 400, "authorization_pending").await;
    // At once again: slow down, and the interval becomes 10 s (a second of
    // grace for imprecise timers), counted from each request.
    expect_oauth_error(poll().await, 400, "slow_down").await;
    app.clock().advance(Duration::from_secs(8));
    expect_oauth_error(poll().await, 400, "slow_down").await;
    // Now 15 s.
    app.clock().advance(Duration::from_secs(14));
    expect_oauth_error(poll().await, 400, "authorization_pending").await;
    app.clock().advance(Duration::from_secs(13));
    expect_oauth_error(poll().await, 400, "slow_down").await;
}

async fn a_cancel_on_the_phone_is_access_denied(app: &TestApp) {
    let device = start(app, TV, "openid").await;
    let scan = phone_scan(app, BOB, device.complete_uri()).await;
    phone_decides(app, BOB, &scan, "/api/mobile/cancel").await;
    expect_oauth_error(poll_token(app, &device, None).await, 400, "access_denied").await;
    wait_interval(app);
    expect_oauth_error(poll_token(app, &device, None).await, 400, "access_denied").await;
}

async fn device_codes_expire(app: &TestApp) {
    // Never scanned: expired after `expires_in`.
    let device = start(app, TV, "openid").await;
    app.clock().advance(Duration::from_secs(598));
    expect_oauth_error(
        poll_token(app, &device, None).await,
        400,
        "authorization_pending",
    )
    .await;
    app.clock().advance(Duration::from_secs(5));
    expect_oauth_error(poll_token(app, &device, None).await, 400, "expired_token").await;
    // A late phone finds nothing to scan.
    let resp = app
        .mobile(
            "/api/mobile/scan",
            ALICE,
            json!({ "qr": device.complete_uri() }),
        )
        .await;
    expect_error(resp, 404, "not_found").await;

    // Confirmed: a device polling at its own pace still gets its tokens
    // later in its life...
    let device = start(app, TV, "openid").await;
    let scan = phone_scan(app, ALICE, device.complete_uri()).await;
    phone_decides(app, ALICE, &scan, "/api/mobile/confirm").await;
    app.clock().advance(Duration::from_secs(300));
    assert_eq!(
        poll_token(app, &device, None).await.status(),
        StatusCode::OK
    );
    // ...and, confirmed near the end, for the ticket window (60 s) past it.
    for (after, answer) in [(59, 200), (60, 400)] {
        let device = start(app, TV, "openid").await;
        app.clock().advance(Duration::from_secs(595));
        let scan = phone_scan(app, ALICE, device.complete_uri()).await;
        phone_decides(app, ALICE, &scan, "/api/mobile/confirm").await;
        app.clock().advance(Duration::from_secs(after));
        let resp = poll_token(app, &device, None).await;
        if answer == 200 {
            assert_eq!(resp.status(), StatusCode::OK, "{after} s after");
        } else {
            expect_oauth_error(resp, 400, "expired_token").await;
        }
    }
}

async fn a_device_code_works_once_and_for_its_client_only(app: &TestApp) {
    // The kiosk is not registered for refresh_token: offline_access is not granted.
    let device = start(app, KIOSK, "openid offline_access").await;
    let scan = phone_scan(app, ALICE, device.complete_uri()).await;
    assert_eq!(scan["request"]["scope"], "openid");
    phone_decides(app, ALICE, &scan, "/api/mobile/confirm").await;

    // Another device client with this code: invalid_grant, and the code survives.
    let stolen = Device {
        body: device.body.clone(),
        client_id: TV,
    };
    expect_oauth_error(poll_token(app, &stolen, None).await, 400, "invalid_grant").await;
    // A client not registered for the device grant, and a wrong secret.
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device.code()),
        ("client_id", SPA),
    ];
    let resp = app.oauth_post("/oauth/token", &form, None).await;
    expect_oauth_error(resp, 400, "unauthorized_client").await;
    let form = [("grant_type", DEVICE_GRANT), ("device_code", device.code())];
    let resp = app
        .oauth_post("/oauth/token", &form, Some((KIOSK, "wrong")))
        .await;
    expect_oauth_error(resp, 401, "invalid_client").await;

    let resp = poll_token(app, &device, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens = json(resp).await;
    assert_eq!(tokens["scope"], "openid");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    wait_interval(app);
    expect_oauth_error(poll_token(app, &device, None).await, 400, "invalid_grant").await;

    // A made-up device code; the device grant's own checks.
    let fake = Device {
        body: json!({ "device_code": "made-up" }),
        client_id: TV,
    };
    expect_oauth_error(poll_token(app, &fake, None).await, 400, "invalid_grant").await;
    let form = [("grant_type", DEVICE_GRANT), ("client_id", TV)];
    let resp = app.oauth_post("/oauth/token", &form, None).await;
    expect_oauth_error(resp, 400, "invalid_request").await;
    let wait = poll_token(app, &fake, Some("soon")).await;
    expect_oauth_error(wait, 400, "invalid_request").await;

    // Starting needs a device client and openid.
    expect_oauth_error(
        device_authorization(app, SPA, "openid").await,
        400,
        "unauthorized_client",
    )
    .await;
    expect_oauth_error(
        device_authorization(app, TV, "profile").await,
        400,
        "invalid_scope",
    )
    .await;
    expect_oauth_error(
        device_authorization(app, "nobody", "openid").await,
        401,
        "invalid_client",
    )
    .await;
}

async fn a_typed_user_code_finds_the_device(app: &TestApp) {
    let device = start(app, TV, "openid").await;
    // As a person types it: lower case, without the dash.
    let typed = device.user_code().replace('-', "").to_lowercase();
    let scan = phone_scan(app, ALICE, &typed).await;
    assert_eq!(scan["request"]["client"]["id"], TV);
    phone_decides(app, ALICE, &scan, "/api/mobile/confirm").await;
    assert_eq!(
        poll_token(app, &device, None).await.status(),
        StatusCode::OK
    );

    // A code that names nothing.
    let resp = app
        .mobile("/api/mobile/scan", ALICE, json!({ "qr": "BBBB-BBBB" }))
        .await;
    expect_error(resp, 404, "not_found").await;
}

async fn a_held_token_request_answers_as_soon_as_the_phone_confirms(app: &TestApp) {
    let device = start(app, TV, "openid").await;
    let scan = phone_scan(app, ALICE, device.complete_uri()).await;
    let held = {
        let (url, code) = (app.url("/oauth/token"), device.code().to_owned());
        tokio::spawn(async move {
            let form = [
                ("grant_type", DEVICE_GRANT),
                ("device_code", code.as_str()),
                ("client_id", TV),
                ("wait", "20"),
            ];
            let started = Instant::now();
            let resp = reqwest::Client::new()
                .post(url)
                .form(&form)
                .send()
                .await
                .unwrap();
            (resp, started.elapsed())
        })
    };
    let qr = Qr {
        id: scan["qr_id"].as_str().unwrap().to_owned(),
        poll_token: String::new(),
        qr_content: String::new(),
        body: Value::Null,
    };
    app.wait_for_pollers(&qr, 1).await;
    phone_decides(app, ALICE, &scan, "/api/mobile/confirm").await;
    let (resp, took) = held.await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        claims(json(resp).await["id_token"].as_str().unwrap())["sub"],
        "alice"
    );
    assert!(
        took < Duration::from_secs(15),
        "held for the whole wait: {took:?}"
    );
}

/// A browser logged in to qrlogin as `phone`'s user.
async fn logged_in_browser(app: &TestApp, phone: &str) -> reqwest::Client {
    let browser = browser();
    let (qr, ticket) = app.confirmed_qr(phone).await;
    let resp = app.exchange_with(&browser, &qr, &ticket).await;
    assert_eq!(resp.status(), StatusCode::OK);
    browser
}

async fn a_logged_in_browser_can_allow_or_deny_a_device(app: &TestApp) {
    // Alice logged in to qrlogin in this browser a day ago.
    let alice = logged_in_browser(app, ALICE).await;
    let me = json(app.me(&alice).await).await;
    let logged_in_at = me["expires_at"].as_i64().unwrap() - 7 * 24 * 3600;
    app.clock().advance(Duration::from_secs(24 * 3600));
    let device = start(app, TV, "openid").await;
    let user_code = device.user_code().to_owned();

    // Not logged in: told to scan with the app, or to log in and come back.
    let page = browser().get(device.page(app)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("scan the QR code"), "{html}");
    let back = format!("/?rd=%2Fdevice%3Fuser_code%3D{user_code}");
    assert!(html.contains(&back), "{html}");
    // Logged in, that link leads straight back to the device's page.
    let resp = alice.get(app.url(&back)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = location(&resp);
    assert!(
        to.ends_with(&format!("/device?user_code={user_code}")),
        "{to}"
    );

    // Linked from another site: not a ready-made Allow page (relayed codes).
    let page = alice
        .get(device.page(app))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("type the code"), "{html}");
    assert!(!html.contains("Living Room TV"), "{html}");

    let page = alice.get(device.page(app)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Living Room TV"), "{html}");
    assert!(html.contains(&user_code), "{html}");
    assert!(html.contains("127.0.0.1"), "{html}");

    let decide = |browser: &reqwest::Client, decision: &str, origin: &str| {
        browser
            .post(app.url("/device"))
            .header("origin", origin)
            .form(&[("user_code", user_code.as_str()), ("decision", decision)])
            .send()
    };
    // From another site: refused, and the device is still waiting.
    let forged = decide(&alice, "allow", "https://evil.example")
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    expect_oauth_error(
        poll_token(app, &device, None).await,
        400,
        "authorization_pending",
    )
    .await;

    let allowed = decide(&alice, "allow", &app.issuer).await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert!(
        allowed
            .text()
            .await
            .unwrap()
            .contains("signing in as Alice")
    );
    wait_interval(app);
    let resp = poll_token(app, &device, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = claims(json(resp).await["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], "alice");
    // Nobody authenticated just now: the login is the browser's, a day old.
    assert_eq!(id["auth_time"], logged_in_at);

    // Deny: the next device hears access_denied; deciding twice is refused.
    let device = start(app, TV, "openid").await;
    let user_code = device.user_code().to_owned();
    let deny = |decision: &'static str| {
        alice
            .post(app.url("/device"))
            .header("origin", app.issuer.as_str())
            .form(&[("user_code", user_code.as_str()), ("decision", decision)])
            .send()
    };
    assert_eq!(deny("deny").await.unwrap().status(), StatusCode::OK);
    expect_oauth_error(poll_token(app, &device, None).await, 400, "access_denied").await;
    assert_eq!(deny("allow").await.unwrap().status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn discovery_lists_the_device_endpoint_and_grant() {
    let app = spawn_app().await;
    let meta = json(
        reqwest::get(app.url("/.well-known/openid-configuration"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        meta["device_authorization_endpoint"],
        app.url("/oauth/device_authorization")
    );
    let grants = meta["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(DEVICE_GRANT)), "{meta}");
}

#[tokio::test]
async fn the_device_qr_shows_the_verification_uri() {
    let app = spawn_app().await;
    let device = start(&app, TV, "openid").await;
    let png = reqwest::get(device.body["qr_png"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(png.status(), StatusCode::OK);
    let bytes = png.bytes().await.unwrap();
    let image = image::load_from_memory(&bytes).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, device.complete_uri());
    let svg = reqwest::get(device.body["qr_svg"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(svg.status(), StatusCode::OK);
}

#[tokio::test]
async fn user_code_guesses_are_rate_limited() {
    let app = spawn_app_with(|c| c.limits.user_code_per_minute_per_ip = 3).await;
    let device = start(&app, TV, "openid").await;
    for guess in ["BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD"] {
        let resp = app
            .mobile("/api/mobile/scan", ALICE, json!({ "qr": guess }))
            .await;
        expect_error(resp, 404, "not_found").await;
    }
    // Out of guesses: even the right code waits, on the phone and the page.
    let resp = app
        .mobile(
            "/api/mobile/scan",
            ALICE,
            json!({ "qr": device.user_code() }),
        )
        .await;
    assert!(resp.headers().contains_key("retry-after"));
    expect_error(resp, 429, "rate_limited").await;
    let page = browser().get(device.page(&app)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the page itself still shows");
    let page = logged_in_browser(&app, ALICE)
        .await
        .get(device.complete_uri())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    // A login QR is not a user code: it does not spend from that budget.
    let qr = app.create_qr().await;
    assert_eq!(app.scan(ALICE, &qr).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_device_session_never_logs_a_browser_in() {
    let app = spawn_app().await;
    let device = start(&app, TV, "openid").await;
    let scan = phone_scan(&app, ALICE, device.complete_uri()).await;
    phone_decides(&app, ALICE, &scan, "/api/mobile/confirm").await;
    // Whoever holds the device code could compute the session's ticket; it
    // is still refused, and the device's login stays the device's.
    let id = qrlogin::session::QrId::parse(scan["qr_id"].as_str().unwrap()).unwrap();
    let code = qrlogin::secret::Secret::from_client(device.code());
    let ticket = qrlogin::secret::login_ticket(&code, &id);
    let resp = reqwest::Client::new()
        .post(app.url("/api/login/exchange"))
        .bearer_auth(device.code())
        .json(&json!({ "ticket": ticket.expose() }))
        .send()
        .await
        .unwrap();
    expect_error(resp, 400, "invalid_ticket").await;
    // The browser API does not see device sessions: the device code cannot
    // read who scanned before they consented, nor withdraw the session.
    let qr = Qr {
        id: id.to_string(),
        poll_token: device.code().to_owned(),
        qr_content: String::new(),
        body: Value::Null,
    };
    expect_error(app.status_raw(&qr, "wait=0").await, 404, "not_found").await;
    expect_error(app.events_raw(&qr, None).await, 404, "not_found").await;
    let resp = app
        .client
        .delete(app.url(&format!("/api/qr/{id}")))
        .bearer_auth(device.code())
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "unauthorized").await;
    assert_eq!(
        poll_token(&app, &device, None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_device_page_speaks_the_browser_s_language() {
    let app = spawn_app().await;
    let device = start(&app, TV, "openid offline_access").await;
    let get = |client: reqwest::Client, accept: &'static str| {
        let url = device.page(&app);
        async move {
            let resp = client
                .get(url)
                .header("accept-language", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.text().await.unwrap()
        }
    };
    let html = get(browser(), "zh-CN,zh;q=0.9,en;q=0.8").await;
    assert!(html.contains("<html lang=\"zh-CN\">"), "{html}");
    assert!(html.contains("在设备上登录"), "{html}");
    let html = get(browser(), "en-US,en;q=0.9").await;
    assert!(html.contains("<html lang=\"en\">"), "{html}");

    // The confirmation too, with the user's name and the code filled in.
    let alice = logged_in_browser(&app, ALICE).await;
    let html = get(alice, "zh-CN").await;
    assert!(
        html.contains("以 Alice 的身份登录 <strong>Living Room TV</strong>"),
        "{html}"
    );
    assert!(html.contains(device.user_code()), "{html}");
    assert!(html.contains("它会保持登录"), "{html}");
    assert!(html.contains(">允许</button>"), "{html}");
}
