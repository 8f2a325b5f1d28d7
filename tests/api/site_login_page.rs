//! A site's login in a real browser (headless Chromium, see `chromium`):
//! the login page names the site (in English and Chinese) even in a browser
//! logged in here, the phone page names it after the demo account scans,
//! lists the account's logins and ends one, and the browser lands back at
//! the site with a code, or with `access_denied` when the phone declines.

use crate::chromium::{Chromium, Tab};
use crate::helpers::*;
use crate::rp::{Authorize, params};
use reqwest::StatusCode;
use serde_json::json;

/// The test server, with a redirect URI of "shop" on the server itself, so
/// the browser's last stop is an address it can load (an unknown path).
async fn spawn_site_app() -> (TestApp, String) {
    let t = spawn_app_with(|c| {
        let callback = format!("{}/shop/cb", c.public_base());
        let shop = c.clients.iter_mut().find(|c| c.client_id == SHOP).unwrap();
        shop.redirect_uris.push(callback);
    })
    .await;
    let callback = t.url("/shop/cb");
    (t, callback)
}

/// The id of the code the login page in `tab` shows.
pub(crate) async fn qr_id_on_page(browser: &mut Chromium, tab: &Tab) -> String {
    let src = browser
        .wait_for(
            tab,
            "document.getElementById('qr-img').getAttribute('src')",
            "the QR image",
        )
        .await;
    let src = src.as_str().unwrap();
    src.split("/api/qr/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

/// The text of the element with `id` once it is `expected`.
async fn wait_text(browser: &mut Chromium, tab: &Tab, id: &str, expected: &str) {
    let expression = format!("document.getElementById({id:?}).textContent === {expected:?}");
    browser.wait_for(tab, &expression, expected).await;
}

async fn click(browser: &mut Chromium, tab: &Tab, selector: &str) {
    let expression = format!("document.querySelector({selector:?}).click()");
    browser.eval(tab, &expression).await;
}

/// On the phone page in `phone`: pick Alice and wait for the confirm screen.
async fn scan_as_alice(browser: &mut Chromium, phone: &Tab) {
    browser
        .wait_for(
            phone,
            "!document.getElementById('screen-accounts').hidden",
            "the demo accounts",
        )
        .await;
    click(browser, phone, "#accounts button").await;
    browser
        .wait_for(
            phone,
            "!document.getElementById('screen-confirm').hidden",
            "the confirm screen",
        )
        .await;
}

/// The titles of the phone's list of logins, once loaded.
const SESSION_TITLES: &str = "document.getElementById('sessions-refresh').disabled ? null : \
     Array.from(document.querySelectorAll('#sessions-list .session-title'), h => h.textContent).join('|') || 'none'";

#[tokio::test(flavor = "multi_thread")]
async fn a_sites_login_names_the_site_and_ends_at_the_site_with_a_code() {
    let (t, callback) = spawn_site_app().await;
    let mut browser = Chromium::start();

    // First a login to qrlogin itself, so the browser has a session here.
    let tab = browser.open(&t.url("/")).await;
    let id = qr_id_on_page(&mut browser, &tab).await;
    let scan = t
        .mobile("/api/mobile/scan", ALICE, json!({ "qr": id }))
        .await;
    let confirm_token = json(scan).await["confirm_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({ "qr_id": id, "confirm_token": confirm_token });
    let confirmed = t.mobile("/api/mobile/confirm", ALICE, body).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    browser
        .wait_for(
            &tab,
            "!document.getElementById('continue-btn').hidden",
            "“Continue as”",
        )
        .await;
    click(&mut browser, &tab, "#continue-btn").await;
    browser
        .wait_for(
            &tab,
            "!document.getElementById('view-me').hidden",
            "the logged-in view",
        )
        .await;

    // The site's login: its name, never the logged-in view.
    let request = Authorize {
        redirect_uri: callback.clone(),
        ..Authorize::shop()
    };
    let authorize = t.url(&format!("/oauth/authorize?{}", request.query()));
    browser.navigate(&tab, &authorize).await;
    wait_text(&mut browser, &tab, "qr-title", "Log in to Example Shop").await;
    let id = qr_id_on_page(&mut browser, &tab).await;
    let seen = browser
        .eval(
            &tab,
            "[document.getElementById('view-me').hidden, document.getElementById('view-qr').hidden, document.title]",
        )
        .await;
    assert_eq!(
        seen,
        json!([true, false, "Log in to Example Shop · qrlogin"])
    );
    click(&mut browser, &tab, "[data-lang-choice=zh]").await;
    wait_text(&mut browser, &tab, "qr-title", "登录 Example Shop").await;
    click(&mut browser, &tab, "[data-lang-choice=en]").await;
    wait_text(&mut browser, &tab, "qr-title", "Log in to Example Shop").await;

    // The phone: the site's name above the browser's facts, and Alice's
    // login to qrlogin in the list below.
    let phone = browser.open(&t.url(&format!("/l/{id}"))).await;
    scan_as_alice(&mut browser, &phone).await;
    wait_text(
        &mut browser,
        &phone,
        "confirm-title",
        "Log in to Example Shop?",
    )
    .await;
    let titles = browser
        .wait_for(&phone, SESSION_TITLES, "the list of logins")
        .await;
    assert_eq!(titles, "qrlogin", "Alice's browser login");
    click(&mut browser, &phone, "#btn-confirm").await;
    wait_text(
        &mut browser,
        &phone,
        "done-title",
        "Confirmed — finish logging in to Example Shop on the computer",
    )
    .await;

    // Continue on the computer: back at the site with a code.
    browser
        .wait_for(
            &tab,
            "!document.getElementById('continue-btn').hidden",
            "“Continue as”",
        )
        .await;
    click(&mut browser, &tab, "#continue-btn").await;
    let expression = format!("location.href.startsWith({callback:?}) && location.href");
    let landed = browser
        .wait_for(&tab, &expression, "the site's redirect URI")
        .await;
    let landed = params(landed.as_str().unwrap());
    assert_eq!(landed.get("state"), request.state.as_ref());
    let resp = t.redeem_code(&request, &landed["code"]).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // The site's grant is listed now; "Log out" ends it and says so.
    click(&mut browser, &phone, "#sessions-refresh").await;
    let expression = format!("(({SESSION_TITLES}) || '').includes('Example Shop')");
    browser
        .wait_for(&phone, &expression, "the site's grant")
        .await;
    let button = "[...document.querySelectorAll('#sessions-list .session')]\
         .find(s => s.querySelector('h3').textContent === 'Example Shop').querySelector('button')";
    let label = browser
        .eval(&phone, &format!("{button}.getAttribute('aria-label')"))
        .await;
    assert_eq!(label, "Log out of Example Shop");
    browser.eval(&phone, &format!("{button}.click()")).await;
    // (The site's login logged this browser in here too: two "qrlogin".)
    let expression = format!("({SESSION_TITLES}) === 'qrlogin|qrlogin'");
    browser
        .wait_for(&phone, &expression, "the grant gone")
        .await;
    wait_text(
        &mut browser,
        &phone,
        "announce",
        "Logged out of Example Shop",
    )
    .await;
    let focused = browser
        .eval(
            &phone,
            "document.activeElement.classList.contains('session-logout')",
        )
        .await;
    assert_eq!(focused, true, "the focus stays in the list");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_site_login_declined_on_the_phone_goes_back_with_access_denied() {
    let (t, callback) = spawn_site_app().await;
    let mut browser = Chromium::start();
    let request = Authorize {
        redirect_uri: callback.clone(),
        ..Authorize::shop()
    };
    let tab = browser
        .open(&t.url(&format!("/oauth/authorize?{}", request.query())))
        .await;
    wait_text(&mut browser, &tab, "qr-title", "Log in to Example Shop").await;
    let id = qr_id_on_page(&mut browser, &tab).await;

    let phone = browser.open(&t.url(&format!("/l/{id}"))).await;
    scan_as_alice(&mut browser, &phone).await;
    click(&mut browser, &phone, "#btn-cancel").await;
    wait_text(&mut browser, &phone, "done-title", "Cancelled").await;

    // A short word on the page, then the site hears access_denied.
    wait_text(
        &mut browser,
        &tab,
        "status-sub",
        "Taking you back to Example Shop…",
    )
    .await;
    let offered = browser
        .eval(&tab, "document.getElementById('new-code').hidden")
        .await;
    assert_eq!(offered, true, "no new code on a page about to leave");
    let expression = format!("location.href.startsWith({callback:?}) && location.href");
    let landed = browser
        .wait_for(&tab, &expression, "the site's redirect URI")
        .await;
    let landed = params(landed.as_str().unwrap());
    assert_eq!(landed["error"], "access_denied");
    assert_eq!(landed.get("state"), request.state.as_ref());
    assert!(!landed.contains_key("code"));
}
