//! The login page in a real browser (headless Chromium, see `chromium`),
//! as a person uses it: what the page shows at each step, read from the
//! page itself; the QR code read from its pixels.

use crate::chromium::Chromium;
use crate::helpers::*;

/// The code the page shows is the link it offers, read as a camera would,
/// and the waiting page has no serious accessibility violation.
#[tokio::test]
async fn the_qr_code_on_the_page_is_the_phone_link() {
    let t = spawn_app().await;
    let mut browser = Chromium::start();
    let tab = browser.open(&t.url("/")).await;
    browser.emulate_desktop(&tab).await;
    browser
        .wait_for(
            &tab,
            "document.getElementById('qr-box').dataset.state === 'pending'",
            "a code waiting for its scan",
        )
        .await;
    // The image has loaded and been painted.
    browser
        .wait_for(
            &tab,
            "document.getElementById('qr-img').complete && document.getElementById('qr-img').naturalWidth > 0",
            "the QR image",
        )
        .await;
    let link = browser.read_qr(&tab, "#qr-img").await;
    assert!(link.starts_with(&format!("{}/l/", t.base)), "{link}");
    browser.screenshot(&tab, "login-waiting").await;
    let violations = browser.axe(&tab).await;
    assert!(violations.is_empty(), "{violations:#?}");
}
