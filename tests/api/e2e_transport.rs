//! How the login page follows its code, in a real browser (static/watch.js,
//! static/tabs.js): over Server-Sent Events, over the long poll when
//! `EventSource` is missing or its streams fail, with one connection for
//! all tabs of a login, through the shipped nginx, and across a server
//! restart. What the server holds (`TestApp::held`) shows which way the
//! page took; what the page shows, that it worked.

use crate::chromium::{Chromium, Tab};
use crate::e2e_login::{
    audit, is_shown, open_page, shown, text, wait_state, wait_text, waiting_code,
};
use crate::helpers::*;
use crate::nginx_server::Nginx;
use crate::observe::sample;
use qrlogin::login::Held;
use qrlogin::startup::bind;
use reqwest::StatusCode;
use std::time::Duration;

const NOTHING: Held = Held {
    polls: 0,
    streams: 0,
};
const ONE_STREAM: Held = Held {
    polls: 0,
    streams: 1,
};
const ONE_POLL: Held = Held {
    polls: 1,
    streams: 0,
};

/// Scans and confirms `qr` as Alice, checking the page (`tab`) shows each
/// step, and ends at "Continue as Alice".
async fn scan_and_confirm(t: &TestApp, browser: &mut Chromium, tab: &Tab, qr: &Qr) {
    let confirm_token = t.scan_ok(ALICE, qr).await;
    wait_state(browser, tab, "scanned").await;
    assert_eq!(
        t.confirm(ALICE, qr, &confirm_token).await.status(),
        StatusCode::OK
    );
    wait_text(browser, tab, "continue-btn", "Continue as Alice").await;
}

/// How many codes the server made for browsers so far.
async fn codes_created(t: &TestApp) -> f64 {
    sample(
        &t.metrics().await,
        "qrlogin_qr_created_total{kind=\"browser\"}",
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn the_page_follows_its_code_over_one_event_stream() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/").await;
    let qr = waiting_code(&mut browser, &tab).await;
    t.wait_for_held(ONE_STREAM).await;

    scan_and_confirm(&t, &mut browser, &tab, &qr).await;
    // The stream ended with the settled state, and nothing came back for
    // it: the page does not reconnect to a finished code.
    t.wait_for_held(NOTHING).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(t.held(), NOTHING);
    let errors = browser.console_errors(&tab).await;
    assert!(errors.is_empty(), "{errors:#?}");
}

/// A browser without `EventSource` long-polls, and sees the same login.
#[tokio::test]
async fn without_event_source_the_page_long_polls() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = browser.open("about:blank").await;
    browser.emulate_desktop(&tab).await;
    browser
        .add_script_on_new_document(&tab, "delete window.EventSource;")
        .await;
    browser.navigate(&tab, &t.url("/")).await;
    let qr = waiting_code(&mut browser, &tab).await;
    t.wait_for_held(ONE_POLL).await;

    scan_and_confirm(&t, &mut browser, &tab, &qr).await;
    t.wait_for_held(NOTHING).await;
}

/// Streams that cannot be opened (here: blocked, as a proxy refusing
/// `text/event-stream` would) are given up after two tries for the long
/// poll; the page never shows the connection as lost, since it is not.
#[tokio::test]
async fn when_streams_fail_the_page_falls_back_to_the_long_poll() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = browser.open("about:blank").await;
    browser.emulate_desktop(&tab).await;
    browser.block_urls(&tab, &["*/events"]).await;
    browser.navigate(&tab, &t.url("/")).await;
    let qr = waiting_code(&mut browser, &tab).await;
    t.wait_for_held(ONE_POLL).await;
    assert!(!is_shown(&mut browser, &tab, "reconnecting").await);

    scan_and_confirm(&t, &mut browser, &tab, &qr).await;
}

/// Seven tabs of one login — one more than a browser's connections to a
/// host — share one code and one held connection, all learn of the scan
/// at once, survive the closing of the tab that held the connection, and
/// one "Continue" logs them all in.
#[tokio::test]
async fn seven_tabs_share_one_code_and_one_connection() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let mut tabs = Vec::new();
    for _ in 0..7 {
        tabs.push(open_page(&mut browser, &t, "/").await);
    }
    let qr = waiting_code(&mut browser, &tabs[0]).await;
    for tab in &tabs[1..] {
        assert_eq!(waiting_code(&mut browser, tab).await.id, qr.id);
    }
    t.wait_for_held(ONE_STREAM).await;
    assert_eq!(codes_created(&t).await, 1.0);

    // Each tab notes when it showed the scan, on the browser's clock.
    for tab in &tabs {
        browser
            .eval(
                tab,
                "new MutationObserver(() => { if (document.getElementById('qr-box').dataset.state === 'scanned') window.scannedAt ??= Date.now(); }) \
                   .observe(document.getElementById('qr-box'), {attributes: true})",
            )
            .await;
    }
    let before = browser.eval(&tabs[0], "Date.now()").await.as_f64().unwrap();
    let confirm_token = t.scan_ok(ALICE, &qr).await;
    let mut slowest: f64 = 0.0;
    for tab in &tabs {
        let at = browser
            .wait_for(tab, "window.scannedAt", "the scan shown")
            .await;
        slowest = slowest.max(at.as_f64().unwrap() - before);
    }
    assert!(
        slowest < 1000.0,
        "the last of seven tabs showed the scan {slowest} ms after it"
    );

    // The tab holding the connection goes; another takes over the same code.
    let leader = tabs.remove(0);
    browser.close_tab(&leader).await;
    assert_eq!(
        t.confirm(ALICE, &qr, &confirm_token).await.status(),
        StatusCode::OK
    );
    for tab in &tabs {
        wait_text(&mut browser, tab, "continue-btn", "Continue as Alice").await;
    }
    // The next leader goes too, with the login waiting for "Continue": the
    // others keep offering it (no new code replaces it).
    let leader = tabs.remove(0);
    browser.close_tab(&leader).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for tab in &tabs {
        wait_text(&mut browser, tab, "continue-btn", "Continue as Alice").await;
    }
    assert_eq!(codes_created(&t).await, 1.0, "a tab made a code of its own");

    // "Continue" in the last tab logs in every tab.
    browser.click(&tabs[4], "#continue-btn").await;
    for tab in &tabs {
        browser
            .wait_for(tab, &shown("view-me"), "the logged-in view")
            .await;
        wait_text(&mut browser, tab, "me-name", "Alice").await;
    }
    // And "Log out" in one logs out all, with one new code for them.
    browser.click(&tabs[2], "#logout").await;
    let next = waiting_code(&mut browser, &tabs[2]).await;
    for tab in &tabs {
        assert_eq!(waiting_code(&mut browser, tab).await.id, next.id);
    }
    t.wait_for_held(ONE_STREAM).await;
    assert_eq!(codes_created(&t).await, 2.0);
}

/// A tab that shows someone logged in leads the login's tabs; when that
/// login ended without it noticing (here: logged out by another request),
/// a new tab still gets a code — from the old tab, which notices.
#[tokio::test]
async fn a_new_tab_is_not_stuck_behind_a_stale_logged_in_tab() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let first = open_page(&mut browser, &t, "/").await;
    let qr = waiting_code(&mut browser, &first).await;
    scan_and_confirm(&t, &mut browser, &first, &qr).await;
    browser.click(&first, "#continue-btn").await;
    browser
        .wait_for(&first, &shown("view-me"), "the logged-in view")
        .await;
    // Logged out behind the page's back: it still shows Alice.
    let status = browser
        .eval(
            &first,
            "fetch('/api/logout', {method: 'POST'}).then(r => r.status)",
        )
        .await;
    assert_eq!(status, 204);

    let second = open_page(&mut browser, &t, "/").await;
    let code = waiting_code(&mut browser, &second).await;
    assert_ne!(code.id, qr.id);
    assert_eq!(waiting_code(&mut browser, &first).await.id, code.id);
}

/// A tab opened after the code was refused (a rate limit, which is not
/// retried by itself) shows why, rather than waiting for a code forever.
#[tokio::test]
async fn a_tab_opened_after_a_refused_code_says_why() {
    let t = spawn_app_with(|c| c.limits.qr_per_minute_per_ip = 1).await;
    let mut browser = Chromium::start();
    let first = open_page(&mut browser, &t, "/").await;
    waiting_code(&mut browser, &first).await;
    browser.click(&first, "#refresh-code").await;
    wait_state(&mut browser, &first, "error").await;
    let why = text(&mut browser, &first, "status-sub").await;
    assert!(!why.is_empty());

    let second = open_page(&mut browser, &t, "/").await;
    wait_state(&mut browser, &second, "error").await;
    assert_eq!(text(&mut browser, &second, "status-sub").await, why);
}

/// Through the shipped `deploy/nginx.conf`: the page's stream is not
/// buffered (else no first event would arrive and the page would fall back
/// to the long poll after four seconds), and a scan arrives at once.
#[tokio::test]
async fn behind_the_shipped_nginx_the_page_streams() {
    let listener = bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = format!("server 127.0.0.1:{port}");
    let nginx = Nginx::start(
        "nginx.conf",
        &[
            ("server 127.0.0.1:8081", upstream.clone()),
            ("server 127.0.0.1:8082", upstream),
        ],
    )
    .await;
    let mut config = test_config(&nginx.url(""));
    config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let t = spawn_server(config, listener).await;

    let mut browser = Chromium::start();
    let tab = browser.open("about:blank").await;
    browser.emulate_desktop(&tab).await;
    browser.navigate(&tab, &nginx.url("/")).await;
    let qr = waiting_code(&mut browser, &tab).await;
    t.wait_for_held(ONE_STREAM).await;
    // Past the page's wait for a first event: still the stream.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(t.held(), ONE_STREAM, "{}", nginx.error_log());

    scan_and_confirm(&t, &mut browser, &tab, &qr).await;
    browser.click(&tab, "#continue-btn").await;
    browser
        .wait_for(&tab, &shown("view-me"), "the logged-in view")
        .await;
}

/// The server restarts (memory store: its codes are gone) while a scanned
/// code waits: the page dims the code and says the connection is lost,
/// then, once the server is back, shows a new code and says the scan was
/// lost — never a dead code that looks alive.
#[tokio::test]
async fn a_server_restart_mid_wait_is_survived() {
    let listener = bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let t = spawn_server(test_config(&base), listener).await;
    let mut browser = Chromium::start();
    let tab = open_page(&mut browser, &t, "/").await;
    let qr = waiting_code(&mut browser, &tab).await;
    t.scan_ok(ALICE, &qr).await;
    wait_state(&mut browser, &tab, "scanned").await;

    t.shutdown().await.unwrap();
    browser
        .wait_for(
            &tab,
            "document.getElementById('view-qr').classList.contains('offline')",
            "the code dimmed",
        )
        .await;
    assert!(is_shown(&mut browser, &tab, "reconnecting").await);
    audit(&mut browser, &tab, "offline").await;

    let listener = bind(addr, 1024).unwrap();
    let _t = spawn_server(test_config(&base), listener).await;
    browser
        .wait_for(
            &tab,
            &format!(
                "document.getElementById('qr-link').textContent !== {:?} && \
                 document.getElementById('qr-box').dataset.state === 'pending'",
                qr.qr_content
            ),
            "a new code",
        )
        .await;
    let next = waiting_code(&mut browser, &tab).await;
    assert_ne!(next.id, qr.id);
    assert_eq!(
        text(&mut browser, &tab, "login-notice").await,
        "Your scan was lost while the connection was down: please scan the new code."
    );
    assert!(is_shown(&mut browser, &tab, "login-notice").await);
    assert!(!is_shown(&mut browser, &tab, "reconnecting").await);
    let dimmed = browser
        .eval(
            &tab,
            "document.getElementById('view-qr').classList.contains('offline')",
        )
        .await;
    assert_eq!(dimmed, false);
}
