//! The login page in a real browser (headless Chromium, see `chromium`),
//! as a person uses it: what the page shows at each step, read from the
//! page itself; the QR code read from its pixels; the phone played through
//! the phone API as Alice. Every state is screenshot (`target/e2e/login-*.png`,
//! where the README's pictures come from) and checked by axe-core, in light
//! and dark mode.

use crate::chromium::{Chromium, Tab};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// The state the QR box shows (`data-state`).
const STATE: &str = "document.getElementById('qr-box').dataset.state";

/// Text of the element with `id`, as a JavaScript expression.
pub(crate) fn text_of(id: &str) -> String {
    format!("document.getElementById({id:?}).textContent")
}

/// Whether the element with `id` is shown, as a JavaScript expression.
pub(crate) fn shown(id: &str) -> String {
    format!(
        "(e => !!e && !e.hidden && !e.closest('[hidden]') && e.getClientRects().length > 0)\
         (document.getElementById({id:?}))"
    )
}

pub(crate) async fn wait_state(browser: &mut Chromium, tab: &Tab, state: &str) {
    let expression = format!("{STATE} === {state:?}");
    browser
        .wait_for(tab, &expression, &format!("the {state} state"))
        .await;
}

pub(crate) async fn wait_text(browser: &mut Chromium, tab: &Tab, id: &str, expected: &str) {
    let expression = format!("{} === {expected:?}", text_of(id));
    browser
        .wait_for(tab, &expression, &format!("#{id} saying {expected:?}"))
        .await;
}

pub(crate) async fn text(browser: &mut Chromium, tab: &Tab, id: &str) -> String {
    let value = browser.eval(tab, &text_of(id)).await;
    value.as_str().unwrap_or_default().to_owned()
}

pub(crate) async fn is_shown(browser: &mut Chromium, tab: &Tab, id: &str) -> bool {
    browser.eval(tab, &shown(id)).await == Value::Bool(true)
}

async fn click(browser: &mut Chromium, tab: &Tab, selector: &str) {
    let expression = format!("document.querySelector({selector:?}).click()");
    browser.eval(tab, &expression).await;
}

/// Waits for a code waiting for its scan, painted, and returns the link it
/// offers as text ("Can't scan?"), which is also what the phone scans.
pub(crate) async fn waiting_code(browser: &mut Chromium, tab: &Tab) -> Qr {
    wait_state(browser, tab, "pending").await;
    browser
        .wait_for(
            tab,
            "document.getElementById('qr-img').complete && \
             document.getElementById('qr-img').naturalWidth > 0 && \
             document.getElementById('qr-link').textContent",
            "the QR image and its link",
        )
        .await;
    let link = text(browser, tab, "qr-link").await;
    let id = link.rsplit('/').next().unwrap().to_owned();
    Qr {
        id,
        // The page keeps its poll token to itself; the tests act as the phone.
        poll_token: String::new(),
        qr_content: link,
        body: Value::Null,
    }
}

/// Saves `login-{name}.png` and checks axe-core finds nothing serious, in
/// light and in dark mode (`login-{name}-dark.png`).
pub(crate) async fn audit(browser: &mut Chromium, tab: &Tab, name: &str) {
    for dark in [false, true] {
        browser.emulate_dark(tab, dark).await;
        // Pictures of the page at rest: fades and the avatar's pop done.
        browser
            .wait_for(
                tab,
                "document.getAnimations().every(a => a.playState !== 'running' || \
                 a.effect.getTiming().iterations === Infinity)",
                "the page at rest",
            )
            .await;
        let shot = if dark {
            format!("login-{name}-dark")
        } else {
            format!("login-{name}")
        };
        browser.screenshot(tab, &shot).await;
        let violations = browser.axe(tab).await;
        assert!(violations.is_empty(), "{shot}: {violations:#?}");
    }
    browser.emulate_dark(tab, false).await;
}

/// axe-core's landmark and heading rules (moderate, so [`Chromium::axe`]
/// leaves them out) on `tab`, after an [`audit`] injected axe: the ids of
/// the rules broken.
async fn landmark_violations(browser: &mut Chromium, tab: &Tab) -> Value {
    browser
        .eval(
            tab,
            "axe.run(document, {runOnly: ['region', 'landmark-one-main', 'page-has-heading-one']}) \
               .then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))",
        )
        .await
}

/// A desktop tab at `path` of `t`, recording its console.
pub(crate) async fn open_page(browser: &mut Chromium, t: &TestApp, path: &str) -> Tab {
    let tab = browser.open("about:blank").await;
    browser.emulate_desktop(&tab).await;
    browser.record_console(&tab).await;
    browser.navigate(&tab, &t.url(path)).await;
    tab
}

/// The code the page shows is the link it offers, read as a camera would,
/// and the waiting page has no serious accessibility violation.
#[tokio::test]
async fn the_qr_code_on_the_page_is_the_phone_link() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/").await;
    let qr = waiting_code(&mut browser, &tab).await;
    let link = browser.read_qr(&tab, "#qr-img").await;
    assert_eq!(link, qr.qr_content);
    assert_eq!(link, format!("{}/l/{}", t.base, qr.id));
    // "Can't scan?" opens on the same link, a real one.
    click(&mut browser, &tab, "#cant-scan summary").await;
    assert!(is_shown(&mut browser, &tab, "qr-link").await);
    let href = browser
        .eval(&tab, "document.getElementById('qr-link').href")
        .await;
    assert_eq!(href, json!(link));
    audit(&mut browser, &tab, "waiting").await;
    // Everything on the page is inside a landmark: the top bar too.
    assert_eq!(landmark_violations(&mut browser, &tab).await, json!([]));
    // And on the phone page, the demo banner.
    let phone = browser.open(&link).await;
    browser.emulate_phone(&phone).await;
    browser
        .wait_for(&phone, &shown("demo-banner"), "the demo banner")
        .await;
    browser.axe(&phone).await;
    assert_eq!(landmark_violations(&mut browser, &phone).await, json!([]));
}

/// The countdown ticks every second on screen, but screen readers are not
/// told every second: it is outside every live region, and the polite one
/// that speaks for it stays quiet between minutes.
#[tokio::test]
async fn the_countdown_is_announced_politely_not_every_second() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/").await;
    waiting_code(&mut browser, &tab).await;
    let live = browser
        .eval(
            &tab,
            "[document.getElementById('countdown').closest('[aria-live]'), \
              document.getElementById('countdown-live').getAttribute('aria-live')]",
        )
        .await;
    assert_eq!(live, json!([null, "polite"]));
    browser
        .eval(
            &tab,
            "window.seen = {visible: 0, spoken: 0}; \
             new MutationObserver(() => seen.visible++).observe(document.getElementById('countdown'), {childList: true, characterData: true, subtree: true}); \
             new MutationObserver(() => seen.spoken++).observe(document.getElementById('countdown-live'), {childList: true, characterData: true, subtree: true});",
        )
        .await;
    browser
        .wait_for(&tab, "seen.visible >= 3", "three ticks of the countdown")
        .await;
    let seen = browser.eval(&tab, "seen.spoken").await;
    assert_eq!(seen, 0, "announced at a tick of the countdown");
    let shown = text(&mut browser, &tab, "countdown").await;
    assert!(shown.starts_with("Code expires in 0"), "{shown}");
}

/// The whole login as a person sees it: waiting → scanned (avatar, name, a
/// way out) → confirmed ("Continue as Alice", with the time left) → logged
/// in (the user from the server; the cookie out of JavaScript's reach) →
/// logged out, with a new code. No console error on the way.
#[tokio::test]
async fn a_whole_login_from_waiting_to_logged_out() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/").await;
    let qr = waiting_code(&mut browser, &tab).await;
    assert_eq!(
        text(&mut browser, &tab, "status-title").await,
        "Waiting for scan"
    );

    let confirm_token = t.scan_ok(ALICE, &qr).await;
    wait_state(&mut browser, &tab, "scanned").await;
    wait_text(
        &mut browser,
        &tab,
        "status-title",
        "Scanned — confirm on your phone",
    )
    .await;
    assert_eq!(
        text(&mut browser, &tab, "status-sub").await,
        "Hi Alice, tap “Confirm” in the app to log in"
    );
    let avatar = browser
        .eval(
            &tab,
            "(i => [i.getAttribute('src'), i.alt, !i.hidden])(document.getElementById('ov-avatar-img'))",
        )
        .await;
    assert_eq!(avatar, json!(["/static/avatars/alice.svg", "Alice", true]));
    assert!(is_shown(&mut browser, &tab, "not-me").await);
    assert!(!is_shown(&mut browser, &tab, "continue-btn").await);
    audit(&mut browser, &tab, "scanned").await;

    assert_eq!(
        t.confirm(ALICE, &qr, &confirm_token).await.status(),
        StatusCode::OK
    );
    wait_text(&mut browser, &tab, "continue-btn", "Continue as Alice").await;
    assert_eq!(
        text(&mut browser, &tab, "status-sub").await,
        "Log in on this computer as Alice?"
    );
    let focused = browser.eval(&tab, "document.activeElement.id").await;
    assert_eq!(focused, "continue-btn");
    let left = text(&mut browser, &tab, "countdown").await;
    assert!(left.starts_with("You can continue for 0"), "{left}");
    audit(&mut browser, &tab, "confirmed").await;

    // The language switch, mid-flow, and back.
    click(&mut browser, &tab, "[data-lang-choice=zh]").await;
    wait_text(&mut browser, &tab, "continue-btn", "以 Alice 的身份继续").await;
    click(&mut browser, &tab, "[data-lang-choice=en]").await;
    wait_text(&mut browser, &tab, "continue-btn", "Continue as Alice").await;

    click(&mut browser, &tab, "#continue-btn").await;
    browser
        .wait_for(&tab, &shown("view-me"), "the logged-in view")
        .await;
    wait_text(&mut browser, &tab, "me-name", "Alice").await;
    assert_eq!(text(&mut browser, &tab, "me-id").await, "Account ID: alice");
    let welcome = browser
        .eval(&tab, "document.querySelector('.me-welcome').textContent")
        .await;
    assert_eq!(welcome, "You’re logged in");
    let cookies = browser.eval(&tab, "document.cookie").await;
    assert!(
        !cookies.as_str().unwrap().contains("qrl_session"),
        "{cookies}"
    );
    let me = browser
        .eval(
            &tab,
            "fetch('/api/me').then(r => r.json()).then(b => b.user.id)",
        )
        .await;
    assert_eq!(me, "alice");
    audit(&mut browser, &tab, "logged-in").await;

    click(&mut browser, &tab, "#logout").await;
    let next = waiting_code(&mut browser, &tab).await;
    assert_ne!(next.id, qr.id);
    assert!(!is_shown(&mut browser, &tab, "view-me").await);
    let errors = browser.console_errors(&tab).await;
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The same login in Chinese, the language coming from the browser.
#[tokio::test]
async fn the_login_in_chinese_from_the_browsers_language() {
    let t = spawn_app().await;
    let mut browser = Chromium::start_in("zh-CN");
    let tab = open_page(&mut browser, &t, "/").await;
    let qr = waiting_code(&mut browser, &tab).await;
    wait_text(&mut browser, &tab, "status-title", "等待扫码").await;
    assert_eq!(text(&mut browser, &tab, "qr-title").await, "扫码登录");
    let lang = browser.eval(&tab, "document.documentElement.lang").await;
    assert_eq!(lang, "zh-CN");
    audit(&mut browser, &tab, "waiting-zh").await;

    let confirm_token = t.scan_ok(ALICE, &qr).await;
    wait_text(
        &mut browser,
        &tab,
        "status-title",
        "扫描成功，请在手机上确认",
    )
    .await;
    assert_eq!(
        text(&mut browser, &tab, "not-me").await,
        "不是你？换一个二维码"
    );
    audit(&mut browser, &tab, "scanned-zh").await;

    t.confirm(ALICE, &qr, &confirm_token).await;
    wait_text(&mut browser, &tab, "continue-btn", "以 Alice 的身份继续").await;
    let left = text(&mut browser, &tab, "countdown").await;
    assert!(left.starts_with("请在 0"), "{left}");
    audit(&mut browser, &tab, "confirmed-zh").await;

    // The switch takes the page to English.
    click(&mut browser, &tab, "[data-lang-choice=en]").await;
    wait_text(&mut browser, &tab, "continue-btn", "Continue as Alice").await;
    assert_eq!(text(&mut browser, &tab, "qr-title").await, "Scan to log in");
}

/// Cancelled on the phone: the page says so and offers a new code, which
/// works.
#[tokio::test]
async fn a_cancel_on_the_phone_is_shown_with_a_new_code() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/").await;
    let qr = waiting_code(&mut browser, &tab).await;
    let confirm_token = t.scan_ok(ALICE, &qr).await;
    wait_state(&mut browser, &tab, "scanned").await;
    assert_eq!(
        t.cancel(ALICE, &qr, &confirm_token).await.status(),
        StatusCode::OK
    );
    wait_state(&mut browser, &tab, "cancelled").await;
    assert_eq!(
        text(&mut browser, &tab, "status-title").await,
        "Login cancelled on the phone"
    );
    assert!(is_shown(&mut browser, &tab, "new-code").await);
    audit(&mut browser, &tab, "cancelled").await;
    click(&mut browser, &tab, "#new-code").await;
    let next = waiting_code(&mut browser, &tab).await;
    assert_ne!(next.id, qr.id);
}

/// An expired code stays on screen, dimmed under a refresh overlay, and a
/// new code replaces it by itself, without a reload.
#[tokio::test]
async fn an_expired_code_is_dimmed_then_replaced_by_itself() {
    let t = spawn_app_with(|c| {
        c.login.qr_ttl = Duration::from_secs(3);
        c.login.poll_hold = Duration::from_secs(2);
    })
    .await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/").await;
    let first = waiting_code(&mut browser, &tab).await;
    browser.eval(&tab, "window.notReloaded = true").await;
    wait_state(&mut browser, &tab, "expired").await;
    // Still there, dimmed (once its 0.25 s fade has run).
    browser
        .wait_for(
            &tab,
            "(i => !i.hidden && Number(getComputedStyle(i).opacity) < 0.5)\
             (document.getElementById('qr-img'))",
            "the expired code, dimmed",
        )
        .await;
    assert!(is_shown(&mut browser, &tab, "new-code").await);
    assert_eq!(
        text(&mut browser, &tab, "status-title").await,
        "QR code expired"
    );
    browser.screenshot(&tab, "login-expired").await;
    let violations = browser.axe(&tab).await;
    assert!(violations.is_empty(), "{violations:#?}");
    let next = waiting_code(&mut browser, &tab).await;
    assert_ne!(next.id, first.id);
    assert_eq!(browser.eval(&tab, "window.notReloaded").await, true);
}

/// Audit finding 2: "Continue as Alice?" outlives the ticket. The person
/// at the computer reads for longer than `ticket_ttl`; the click still logs
/// them in (with a fresh ticket), and the first ticket no longer works.
#[tokio::test]
async fn continue_works_after_the_first_ticket_ran_out() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/").await;
    let qr = waiting_code(&mut browser, &tab).await;
    let confirm_token = t.scan_ok(ALICE, &qr).await;
    t.confirm(ALICE, &qr, &confirm_token).await;
    wait_text(&mut browser, &tab, "continue-btn", "Continue as Alice").await;
    // The page shows how long the login waits: the rest of the code's life.
    let left = text(&mut browser, &tab, "countdown").await;
    assert!(
        left.starts_with("You can continue for 04:")
            || left.starts_with("You can continue for 05:"),
        "{left}"
    );
    // Two minutes of reading pass on the server.
    t.clock().advance(Duration::from_secs(120));
    click(&mut browser, &tab, "#continue-btn").await;
    browser
        .wait_for(&tab, &shown("view-me"), "the logged-in view")
        .await;
    wait_text(&mut browser, &tab, "me-name", "Alice").await;
}

/// When the login's wait is over by the time of the click, the page says
/// the login could not be finished, in words, and offers a new code.
#[tokio::test]
async fn continue_after_the_login_expired_says_so() {
    let t = spawn_app().await;
    let mut browser = Chromium::start_in("zh-CN");
    let tab = open_page(&mut browser, &t, "/").await;
    let qr = waiting_code(&mut browser, &tab).await;
    let confirm_token = t.scan_ok(ALICE, &qr).await;
    t.confirm(ALICE, &qr, &confirm_token).await;
    wait_text(&mut browser, &tab, "continue-btn", "以 Alice 的身份继续").await;
    t.clock().advance(Duration::from_secs(301));
    click(&mut browser, &tab, "#continue-btn").await;
    wait_text(&mut browser, &tab, "status-title", "登录未能完成").await;
    assert_eq!(text(&mut browser, &tab, "status-sub").await, "二维码已过期");
    assert!(is_shown(&mut browser, &tab, "new-code").await);
    assert!(!is_shown(&mut browser, &tab, "view-me").await);
}

/// Audit finding 5: a wrong account scanned; the computer gets out of it,
/// and the phone can no longer confirm that code.
#[tokio::test]
async fn not_you_in_the_scanned_state_cancels_the_code() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/").await;
    let qr = waiting_code(&mut browser, &tab).await;
    let confirm_token = t.scan_ok(BOB, &qr).await;
    wait_text(
        &mut browser,
        &tab,
        "status-sub",
        "Hi Bob, tap “Confirm” in the app to log in",
    )
    .await;
    click(&mut browser, &tab, "#not-me").await;
    let next = waiting_code(&mut browser, &tab).await;
    assert_ne!(next.id, qr.id);
    expect_error(
        t.confirm(BOB, &qr, &confirm_token).await,
        409,
        "already_finished",
    )
    .await;
}

/// A refused ticket sends the browser back with a notice, which goes away
/// with the next successful scan (audit finding 8).
#[tokio::test]
async fn a_refused_ticket_is_explained_until_the_next_scan() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let forged = format!(
        "/api/login/complete?ticket={}.{}",
        "A".repeat(22),
        "B".repeat(43)
    );
    let tab = open_page(&mut browser, &t, &forged).await;
    let qr = waiting_code(&mut browser, &tab).await;
    wait_text(
        &mut browser,
        &tab,
        "login-notice",
        "That login link expired or was already used. Please scan again.",
    )
    .await;
    assert!(is_shown(&mut browser, &tab, "login-notice").await);
    let url = browser
        .eval(&tab, "location.pathname + location.search")
        .await;
    assert_eq!(url, "/", "the notice's query is gone from the address");
    audit(&mut browser, &tab, "refused-ticket").await;
    t.scan_ok(ALICE, &qr).await;
    wait_state(&mut browser, &tab, "scanned").await;
    assert!(!is_shown(&mut browser, &tab, "login-notice").await);
}

/// Audit finding 7: a rate limit is said as such, in the page's language,
/// not as a lost connection.
#[tokio::test]
async fn a_rate_limit_is_not_a_lost_connection() {
    let t = spawn_app_with(|c| c.limits.qr_per_minute_per_ip = 1).await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/").await;
    waiting_code(&mut browser, &tab).await;
    click(&mut browser, &tab, "#refresh-code").await;
    wait_state(&mut browser, &tab, "error").await;
    wait_text(
        &mut browser,
        &tab,
        "status-sub",
        "Too many attempts. Wait a moment and try again.",
    )
    .await;
    assert!(!is_shown(&mut browser, &tab, "reconnecting").await);
    assert_eq!(text(&mut browser, &tab, "new-code").await, "Try again");
    click(&mut browser, &tab, "[data-lang-choice=zh]").await;
    wait_text(
        &mut browser,
        &tab,
        "status-sub",
        "操作过于频繁，请稍后再试。",
    )
    .await;
    assert!(!is_shown(&mut browser, &tab, "reconnecting").await);
    audit(&mut browser, &tab, "rate-limited-zh").await;
}

/// Audit finding 9: `?next=` in the login page's own address is where the
/// browser lands once logged in; a foreign one is refused before any scan.
#[tokio::test]
async fn next_in_the_pages_address_is_where_the_login_lands() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/?next=%2Freports%3Fq%3D1").await;
    let qr = waiting_code(&mut browser, &tab).await;
    let confirm_token = t.scan_ok(ALICE, &qr).await;
    t.confirm(ALICE, &qr, &confirm_token).await;
    wait_text(&mut browser, &tab, "continue-btn", "Continue as Alice").await;
    click(&mut browser, &tab, "#continue-btn").await;
    browser
        .wait_for(
            &tab,
            "location.pathname + location.search === '/reports?q=1'",
            "the page named by next",
        )
        .await;

    browser
        .navigate(&tab, &t.url("/?next=https%3A%2F%2Fevil.example%2F"))
        .await;
    browser
        .wait_for(
            &tab,
            "document.querySelector('h1') && document.querySelector('h1').textContent === 'Return address not allowed'",
            "the refusal page",
        )
        .await;
}

/// Audit finding 15: opened on a phone, which cannot scan its own screen,
/// the page opens the code in the app (the configured deep link); on a
/// computer it does not, but both link to another way of logging in, and
/// a waiting code can be refreshed by hand.
#[tokio::test]
async fn on_a_phone_the_page_opens_the_app_and_both_offer_another_login() {
    let t = spawn_app_with(|c| {
        c.pages.other_login_url = Some("https://sso.example/login".parse().unwrap());
        c.pages.app_link = Some("qrlogin://scan?url={url}".to_owned());
    })
    .await;
    let mut browser = Chromium::start();
    let phone = browser.open("about:blank").await;
    browser.emulate_phone(&phone).await;
    browser.navigate(&phone, &t.url("/")).await;
    let qr = waiting_code(&mut browser, &phone).await;
    assert!(is_shown(&mut browser, &phone, "open-app").await);
    let encoded = qr.qr_content.replace(':', "%3A").replace('/', "%2F");
    let links = browser
        .eval(
            &phone,
            "[document.getElementById('open-app').href, document.getElementById('other-login-link').href]",
        )
        .await;
    assert_eq!(
        links,
        json!([
            format!("qrlogin://scan?url={encoded}"),
            "https://sso.example/login"
        ])
    );
    assert_eq!(
        text(&mut browser, &phone, "status-sub").await,
        "On this phone? Open the code in the app instead of scanning it."
    );
    assert!(is_shown(&mut browser, &phone, "other-login").await);
    audit(&mut browser, &phone, "on-phone").await;

    let desktop = open_page(&mut browser, &t, "/").await;
    let first = waiting_code(&mut browser, &desktop).await;
    assert!(!is_shown(&mut browser, &desktop, "open-app").await);
    assert!(is_shown(&mut browser, &desktop, "other-login").await);
    assert_eq!(
        text(&mut browser, &desktop, "other-login-link").await,
        "Log in another way"
    );
    click(&mut browser, &desktop, "#refresh-code").await;
    browser
        .wait_for(
            &desktop,
            &format!("{STATE} === 'pending' && !document.getElementById('qr-link').textContent.endsWith({:?})", first.id),
            "a new code",
        )
        .await;
    // The code it replaced cannot be scanned any more.
    expect_error(t.scan(ALICE, &first).await, 409, "already_finished").await;
}

/// Audit finding 3: the README's "With curl as the phone" walk, run as
/// written by bash against a login page open in Chromium — only the
/// address (the test server's) and the pasted link differ — moves that
/// page to "Continue as Alice?".
#[tokio::test]
async fn the_readmes_curl_walk_works_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("<!-- try-it-with-curl")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("the README's curl walk, after its try-it-with-curl marker");
    let placeholder = "LINK='http://127.0.0.1:8080/l/…'";
    assert!(block.contains(placeholder), "{block}");

    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/").await;
    let qr = waiting_code(&mut browser, &tab).await;
    // What the walk says to copy: the link under "Can't scan the code?".
    click(&mut browser, &tab, "#cant-scan summary").await;
    assert!(is_shown(&mut browser, &tab, "qr-link").await);
    let script = block
        .replace(placeholder, &format!("LINK='{}'", qr.qr_content))
        .replace("http://127.0.0.1:8080", &t.base);
    let run = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .await
        .expect("bash");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{script}\n{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.contains("\"user_agent\""), "{out}");
    assert!(
        out.trim_end().ends_with(r#"{"state":"confirmed"}"#),
        "{out}"
    );
    wait_text(&mut browser, &tab, "continue-btn", "Continue as Alice").await;
}

/// The README's pictures are files, each one `scripts/update-screenshots`
/// copies from what this suite saved.
#[test]
fn the_readmes_screenshots_come_from_the_suite() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let script = std::fs::read_to_string(format!("{root}/scripts/update-screenshots")).unwrap();
    let shown: Vec<&str> = readme
        .split("](docs/screenshots/")
        .skip(1)
        .map(|rest| rest.split(".png)").next().unwrap())
        .collect();
    assert!(shown.len() >= 4, "{shown:?}");
    for name in shown {
        assert!(
            std::path::Path::new(&format!("{root}/docs/screenshots/{name}.png")).is_file(),
            "{name}"
        );
        assert!(
            script.lines().any(|l| l.trim() == name),
            "{name} is not one scripts/update-screenshots copies"
        );
    }
}
