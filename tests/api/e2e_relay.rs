//! Against relayed codes in a real browser: number matching from the login
//! page's number to the phone's three choices (a wrong pick refused on both
//! screens, the right one logging in), and the phone's warning when the
//! browser asking is elsewhere. Screenshots `target/e2e/relay-*.png`,
//! axe-core in light and dark.

use crate::chromium::{Chromium, Tab};
use crate::e2e_phone::{check_state, open_phone, pick_alice, text, wait_screen};
use crate::helpers::*;
use crate::site_login_page::qr_id_on_page;
use qrlogin::config::Config;

fn number_matching(config: &mut Config) {
    config.login.number_matching = true;
}

/// The login page's code id and the number it shows.
async fn page_code_and_number(browser: &mut Chromium, login: &Tab) -> (String, u64) {
    let id = qr_id_on_page(browser, login).await;
    let number = browser
        .wait_for(
            login,
            "!document.getElementById('match-number').hidden && \
             Number(document.getElementById('match-number-value').textContent)",
            "the number on the login page",
        )
        .await;
    (id, number.as_u64().unwrap())
}

/// The numbers the phone offers, in the order shown.
async fn offered(browser: &mut Chromium, phone: &Tab) -> Vec<u64> {
    let numbers = browser
        .eval(
            phone,
            "Array.from(document.querySelectorAll('#number-choices button'), b => Number(b.textContent))",
        )
        .await;
    numbers
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect()
}

/// Width and height of the element `selector` selects.
async fn size(browser: &mut Chromium, tab: &Tab, selector: &str) -> (u64, u64) {
    let r = browser
        .eval(
            tab,
            &format!(
                "(r => [Math.round(r.width), Math.round(r.height)])(document.querySelector({selector:?}).getBoundingClientRect())"
            ),
        )
        .await;
    (r[0].as_u64().unwrap(), r[1].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_number_is_refused_on_both_screens_and_the_right_one_logs_in() {
    let t = spawn_app_with(number_matching).await;
    let mut browser = Chromium::start();
    let login = browser.open(&t.url("/")).await;
    browser.emulate_desktop(&login).await;
    let (id, number) = page_code_and_number(&mut browser, &login).await;
    assert!((10..=99).contains(&number), "{number}");
    // Another tab of the login shows the same code, so the same number.
    let other_tab = browser.open(&t.url("/")).await;
    assert_eq!(
        page_code_and_number(&mut browser, &other_tab).await,
        (id.clone(), number)
    );

    let phone = open_phone(&mut browser, &t.url(&format!("/l/{id}"))).await;
    pick_alice(&mut browser, &phone).await;
    // Three numbers instead of Confirm; Cancel no smaller than a choice.
    let choices = offered(&mut browser, &phone).await;
    assert_eq!(choices.len(), 3, "{choices:?}");
    assert!(choices.contains(&number), "{choices:?} lacks {number}");
    let hidden = browser
        .eval(&phone, "document.getElementById('btn-confirm').hidden")
        .await;
    assert_eq!(hidden, true, "Confirm gives way to the numbers");
    let (cancel_w, cancel_h) = size(&mut browser, &phone, "#btn-cancel").await;
    let (choice_w, choice_h) = size(&mut browser, &phone, "#number-choices button").await;
    assert!(
        cancel_w >= choice_w && cancel_h >= choice_h,
        "Cancel ({cancel_w}x{cancel_h}) is no smaller than a choice ({choice_w}x{choice_h})"
    );
    check_state(&mut browser, &phone, "relay-choices").await;

    let wrong = choices.iter().position(|n| *n != number).unwrap();
    browser
        .click(
            &phone,
            &format!("#number-choices button:nth-child({})", wrong + 1),
        )
        .await;
    wait_screen(&mut browser, &phone, "done").await;
    assert_eq!(
        text(&mut browser, &phone, "done-title").await,
        "Login refused"
    );
    check_state(&mut browser, &phone, "relay-refused").await;
    browser
        .wait_for(
            &login,
            "document.getElementById('status-title').textContent.startsWith('Login refused')",
            "the login page told of the refusal",
        )
        .await;
    let number_shown = browser
        .eval(
            &login,
            "getComputedStyle(document.getElementById('match-number')).display",
        )
        .await;
    assert_eq!(number_shown, "none", "no number beside a refused code");
    browser.screenshot(&login, "relay-login-refused").await;

    // A new code, a new number; the right pick logs in.
    browser.click(&login, "#new-code").await;
    let fresh = format!(
        "(src => !!src && !src.includes({id:?}))(document.getElementById('qr-img').getAttribute('src'))"
    );
    browser.wait_for(&login, &fresh, "a new code").await;
    let (id2, number2) = page_code_and_number(&mut browser, &login).await;
    assert_ne!(id2, id);
    browser.screenshot(&login, "relay-login-number").await;
    let violations = browser.axe(&login).await;
    assert!(violations.is_empty(), "{violations:#?}");
    let phone = open_phone(&mut browser, &t.url(&format!("/l/{id2}"))).await;
    pick_alice(&mut browser, &phone).await;
    let choices = offered(&mut browser, &phone).await;
    let right = choices.iter().position(|n| *n == number2).unwrap();
    browser
        .click(
            &phone,
            &format!("#number-choices button:nth-child({})", right + 1),
        )
        .await;
    wait_screen(&mut browser, &phone, "done").await;
    assert_eq!(
        text(&mut browser, &phone, "done-title").await,
        "Confirmed — finish on the computer"
    );
    browser
        .wait_for(
            &login,
            "!document.getElementById('continue').hidden",
            "“Continue as Alice”",
        )
        .await;
}

/// A code created from elsewhere (another network, a known place) and
/// opened on this phone: the warning comes first and Cancel moves above
/// Confirm. The QR is created over the API from a far address (the server
/// trusts this machine's proxy headers); the phone page, with none, is at
/// 127.0.0.1.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_from_elsewhere_is_flagged_and_cancel_comes_first() {
    let t = spawn_app_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.geoip.path = Some(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/geoip/GeoIP2-City-Test.mmdb"),
        );
    })
    .await;
    for (lang, suffix, warning, place) in [
        (
            "en-US",
            "",
            "This request comes from a different network than your phone",
            "London, United Kingdom",
        ),
        (
            "zh-CN",
            "-zh",
            "该请求来自与你手机不同的网络",
            "London, United Kingdom",
        ),
    ] {
        let resp = t
            .client
            .post(t.url("/api/qr"))
            .header("x-forwarded-for", "81.2.69.142")
            .send()
            .await
            .unwrap();
        let id = json(resp).await["id"].as_str().unwrap().to_owned();
        let mut browser = Chromium::start_in(lang);
        let phone = open_phone(&mut browser, &t.url(&format!("/l/{id}"))).await;
        pick_alice(&mut browser, &phone).await;
        let shown = browser
            .eval(&phone, "!document.getElementById('relay-warning').hidden")
            .await;
        assert_eq!(shown, true);
        assert_eq!(
            text(&mut browser, &phone, "relay-warning-title").await,
            warning
        );
        assert_eq!(text(&mut browser, &phone, "req-location").await, place);
        let order = browser
            .eval(
                &phone,
                "document.getElementById('btn-cancel').getBoundingClientRect().top < \
                 document.getElementById('btn-confirm').getBoundingClientRect().top",
            )
            .await;
        assert_eq!(order, true, "Cancel comes first");
        assert_eq!(
            size(&mut browser, &phone, "#btn-cancel").await,
            size(&mut browser, &phone, "#btn-confirm").await
        );
        check_state(&mut browser, &phone, &format!("relay-elsewhere{suffix}")).await;
    }
}
