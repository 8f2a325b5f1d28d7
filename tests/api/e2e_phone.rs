//! The phone page `/l/{id}` in a real browser at a phone's size, touch and
//! user agent (`Chromium::emulate_phone`), as a person uses it: pick a demo
//! account, read who asks (device, IP, time), Confirm or Cancel; a code
//! that is unknown, expired or taken explained before anything else; and,
//! with no demo accounts, the way to the app. Every state is screenshot
//! (`target/e2e/phone-*.png`) and checked by axe-core in light and dark.

use crate::chromium::{Chromium, Tab};
use crate::helpers::*;
use crate::site_login_page::qr_id_on_page;
use std::time::Duration;

/// A phone tab at `url`: emulated before the page loads, so the server
/// and the page see a phone from the first request.
pub(crate) async fn open_phone(browser: &mut Chromium, url: &str) -> Tab {
    let tab = browser.open("about:blank").await;
    browser.emulate_phone(&tab).await;
    browser.navigate(&tab, url).await;
    tab
}

/// Waits for the screen `name` (`screen-{name}`) to be the one shown.
pub(crate) async fn wait_screen(browser: &mut Chromium, tab: &Tab, name: &str) {
    let expression = format!(
        "document.readyState === 'complete' && !document.getElementById('screen-{name}').hidden"
    );
    browser
        .wait_for(tab, &expression, &format!("the {name} screen"))
        .await;
}

pub(crate) async fn text(browser: &mut Chromium, tab: &Tab, id: &str) -> String {
    let value = browser
        .eval(tab, &format!("document.getElementById({id:?}).textContent"))
        .await;
    value.as_str().unwrap().to_owned()
}

/// Screenshot `name` and no serious or critical axe violation, in light
/// and in dark mode (the dark screenshot is `{name}-dark`).
pub(crate) async fn check_state(browser: &mut Chromium, tab: &Tab, name: &str) {
    for dark in [false, true] {
        browser.emulate_dark(tab, dark).await;
        let shot = if dark {
            format!("{name}-dark")
        } else {
            name.to_owned()
        };
        browser.screenshot(tab, &shot).await;
        let violations = browser.axe(tab).await;
        assert!(violations.is_empty(), "{shot}: {violations:#?}");
    }
    browser.emulate_dark(tab, false).await;
}

/// The login page on a desktop tab, and the phone page of its code.
async fn login_and_phone(t: &TestApp, browser: &mut Chromium) -> (Tab, Tab) {
    let login = browser.open(&t.url("/")).await;
    browser.emulate_desktop(&login).await;
    let id = qr_id_on_page(browser, &login).await;
    let phone = open_phone(browser, &t.url(&format!("/l/{id}"))).await;
    (login, phone)
}

pub(crate) async fn pick_alice(browser: &mut Chromium, phone: &Tab) {
    wait_screen(browser, phone, "accounts").await;
    browser.click(phone, "#accounts button").await;
    wait_screen(browser, phone, "confirm").await;
}

/// Pick Alice, see who asks, Confirm: the phone says to finish on the
/// computer (not that the computer is logged in), and the computer asks
/// "Continue as Alice". `lang` is the browser's; `titles` what the page
/// must say in it: accounts, confirm, done.
async fn confirm_in(lang: &str, suffix: &str, titles: [&str; 3]) {
    let t = spawn_app().await;
    let mut browser = Chromium::start_in(lang);
    let (login, phone) = login_and_phone(&t, &mut browser).await;

    wait_screen(&mut browser, &phone, "accounts").await;
    let picker = text(&mut browser, &phone, "screen-accounts").await;
    assert!(picker.contains(titles[0]), "{picker}");
    check_state(&mut browser, &phone, &format!("phone-accounts{suffix}")).await;

    pick_alice(&mut browser, &phone).await;
    assert_eq!(text(&mut browser, &phone, "confirm-title").await, titles[1]);
    // Who asks: the desktop browser that opened the login page.
    assert_eq!(text(&mut browser, &phone, "req-ip").await, "127.0.0.1");
    // The server's reading of the User-Agent (HeadlessChrome is Chrome).
    let device = text(&mut browser, &phone, "req-device").await;
    assert_eq!(device, "Chrome on Linux");
    let time = text(&mut browser, &phone, "req-time").await;
    assert!(
        time.contains(" · ") && time.chars().any(|c| c.is_ascii_digit()),
        "{time}"
    );
    // Cancel is as big as Confirm.
    let sizes = browser
        .eval(
            &phone,
            "['btn-confirm', 'btn-cancel'].map(id => { const r = document.getElementById(id) \
             .getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; })",
        )
        .await;
    assert_eq!(sizes[0], sizes[1], "Confirm and Cancel: {sizes}");
    check_state(&mut browser, &phone, &format!("phone-confirm{suffix}")).await;

    browser.click(&phone, "#btn-confirm").await;
    wait_screen(&mut browser, &phone, "done").await;
    assert_eq!(text(&mut browser, &phone, "done-title").await, titles[2]);
    check_state(&mut browser, &phone, &format!("phone-confirmed{suffix}")).await;
    browser
        .wait_for(
            &login,
            "!document.getElementById('continue').hidden",
            "“Continue as Alice”",
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confirming_on_the_phone_says_to_finish_on_the_computer() {
    confirm_in(
        "en-US",
        "",
        [
            "Choose a demo account",
            "Log in on this computer?",
            "Confirmed — finish on the computer",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confirming_on_the_phone_in_chinese() {
    confirm_in(
        "zh-CN",
        "-zh",
        [
            "选择演示账号",
            "在这台电脑上登录？",
            "已确认，请在电脑上完成登录",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_on_the_phone_tells_both_sides() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let (login, phone) = login_and_phone(&t, &mut browser).await;
    pick_alice(&mut browser, &phone).await;
    browser.click(&phone, "#btn-cancel").await;
    wait_screen(&mut browser, &phone, "done").await;
    assert_eq!(text(&mut browser, &phone, "done-title").await, "Cancelled");
    check_state(&mut browser, &phone, "phone-cancelled").await;
    browser
        .wait_for(
            &login,
            "document.getElementById('status-title').textContent === 'Login cancelled on the phone'",
            "the login page told",
        )
        .await;
}

/// The error screen is the first screen shown: the account picker never
/// appears (a flag set by the first paint's script would show it).
async fn explained_first(browser: &mut Chromium, tab: &Tab) {
    wait_screen(browser, tab, "error").await;
    let picker = browser
        .eval(tab, "document.getElementById('screen-accounts').hidden && document.getElementById('accounts').children.length")
        .await;
    assert_eq!(picker, 0, "the account picker was filled");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_code_is_explained_first_in_both_languages() {
    let t = spawn_app().await;
    let unknown = format!("/l/{}", qrlogin::session::QrId::generate());
    for (lang, suffix, title) in [
        ("en-US", "", "Login code not found"),
        ("zh-CN", "-zh", "找不到该登录码"),
    ] {
        let mut browser = Chromium::start_in(lang);
        let phone = open_phone(&mut browser, &t.url(&unknown)).await;
        explained_first(&mut browser, &phone).await;
        assert_eq!(text(&mut browser, &phone, "fatal-title").await, title);
        let h1 = browser
            .eval(&phone, "document.querySelector('h1:not([hidden] *)').id")
            .await;
        assert_eq!(h1, "fatal-title", "the error screen has the page's h1");
        check_state(&mut browser, &phone, &format!("phone-unknown{suffix}")).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_code_is_explained_first() {
    let t = spawn_app_with(|c| c.login.qr_ttl = Duration::from_secs(60)).await;
    let qr = t.create_qr().await;
    // Past its life, within `expired_grace` (while it is told as expired).
    t.clock().advance(Duration::from_secs(61));
    for (lang, suffix, title, detail) in [
        (
            "en-US",
            "",
            "The QR code has expired",
            "Refresh the code on the computer and scan it again.",
        ),
        (
            "zh-CN",
            "-zh",
            "二维码已过期",
            "请在电脑上刷新二维码后重新扫描。",
        ),
    ] {
        let mut browser = Chromium::start_in(lang);
        let phone = open_phone(&mut browser, &t.url(&format!("/l/{}", qr.id))).await;
        explained_first(&mut browser, &phone).await;
        assert_eq!(text(&mut browser, &phone, "fatal-title").await, title);
        assert_eq!(text(&mut browser, &phone, "fatal-detail").await, detail);
        check_state(&mut browser, &phone, &format!("phone-expired{suffix}")).await;
    }
}

/// Finding 7: the phone's messages come from the API's error code, in the
/// page's language (this one was raw English in the Chinese page).
#[tokio::test(flavor = "multi_thread")]
async fn a_code_another_account_scanned_is_explained_in_chinese() {
    let t = spawn_app().await;
    let mut browser = Chromium::start_in("zh-CN");
    let (_login, phone) = login_and_phone(&t, &mut browser).await;
    wait_screen(&mut browser, &phone, "accounts").await;
    let id = browser
        .eval(&phone, "location.pathname.split('/').pop()")
        .await;
    let scan = t
        .mobile("/api/mobile/scan", BOB, serde_json::json!({ "qr": id }))
        .await;
    assert_eq!(scan.status(), reqwest::StatusCode::OK);
    browser.click(&phone, "#accounts button").await;
    wait_screen(&mut browser, &phone, "error").await;
    assert_eq!(
        text(&mut browser, &phone, "fatal-title").await,
        "该二维码已被其他账号扫描"
    );
    assert_eq!(
        text(&mut browser, &phone, "fatal-action").await,
        "选择其他账号"
    );
    check_state(&mut browser, &phone, "phone-claimed-zh").await;
}

/// Finding 15: in production (no demo accounts) the page opened in a
/// plain browser leads to the app, or to where to get it.
#[tokio::test(flavor = "multi_thread")]
async fn without_demo_accounts_the_page_offers_the_app() {
    let t = spawn_app_with(|c| {
        c.users.clear();
        c.pages.app_link = Some("qrlogin-app://scan?url={url}".into());
        c.pages.app_store_url = Some("https://apps.example/qrlogin".parse().unwrap());
    })
    .await;
    let qr = t.create_qr().await;
    let mut browser = Chromium::start();
    let phone = open_phone(&mut browser, &t.url(&format!("/l/{}", qr.id))).await;
    wait_screen(&mut browser, &phone, "noapp").await;
    let links = browser
        .eval(
            &phone,
            "['open-app', 'get-app'].map(id => { const a = document.getElementById(id); \
             return [a.hidden, a.textContent, a.getAttribute('href')]; })",
        )
        .await;
    let phone_link = format!("{}/l/{}", t.base, qr.id);
    let encoded: String = url::form_urlencoded::byte_serialize(phone_link.as_bytes()).collect();
    assert_eq!(
        links,
        serde_json::json!([
            [
                false,
                "Open in the qrlogin app",
                format!("qrlogin-app://scan?url={encoded}")
            ],
            [false, "Get the qrlogin app", "https://apps.example/qrlogin"],
        ])
    );
    // Opening the page scanned nothing.
    assert_eq!(t.poll(&qr, "wait=0").await["state"], "pending");
    check_state(&mut browser, &phone, "phone-noapp").await;
}
