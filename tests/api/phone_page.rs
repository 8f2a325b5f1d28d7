//! `/l/{id}` as the server answers it: a live code's page as usual (and
//! the code untouched), an unknown or expired one marked for the page to
//! explain first, with a 404 / 410, and `/l/` without a code a page, not
//! the API's JSON.

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::Duration;

async fn page(t: &TestApp, path: &str) -> (StatusCode, String, String) {
    let resp = reqwest::Client::new()
        .get(t.url(path))
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    (status, content_type, resp.text().await.unwrap())
}

#[tokio::test]
async fn a_live_code_gets_the_page_and_stays_untouched() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let (status, _, body) = page(&t, &format!("/l/{}", qr.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("<body class=\"page-phone\" data-title-key=\"phone.doc_title\">"),
        "{body}"
    );
    assert_eq!(t.poll(&qr, "wait=0").await["state"], "pending");
    t.scan_ok(ALICE, &qr).await;
    // Scanned (by this phone, maybe): still the page, no verdict.
    let (status, _, body) = page(&t, &format!("/l/{}", qr.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("data-code="), "{body}");
}

#[tokio::test]
async fn unknown_expired_and_finished_codes_are_marked() {
    let t = spawn_app_with(|c| c.login.qr_ttl = Duration::from_secs(60)).await;
    let unknown = format!("/l/{}", qrlogin::session::QrId::generate());
    for path in [unknown.as_str(), "/l/not-even-an-id"] {
        let (status, content_type, body) = page(&t, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(content_type, "text/html; charset=utf-8");
        assert!(body.contains("data-code=\"not_found\""), "{path}: {body}");
        assert!(body.contains("<html lang=\"zh-CN\">"), "still painted");
    }
    let (qr, _ticket) = t.confirmed_qr(ALICE).await;
    let (status, _, body) = page(&t, &format!("/l/{}", qr.id)).await;
    // Gone, as an expired code is: it can never be used again.
    assert_eq!(status, StatusCode::GONE);
    assert!(body.contains("data-code=\"already_finished\""), "{body}");

    let waiting = t.create_qr().await;
    t.clock().advance(Duration::from_secs(61));
    let (status, _, body) = page(&t, &format!("/l/{}", waiting.id)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(body.contains("data-code=\"expired\""), "{body}");
}

/// Looking codes up costs the phone API budget of the client IP, like a
/// scan: past it the page is served unchecked (no verdict to learn from).
#[tokio::test]
async fn looking_codes_up_spends_the_phone_budget() {
    let t = spawn_app_with(|c| c.limits.mobile_per_minute_per_ip = 2).await;
    let unknown = format!("/l/{}", qrlogin::session::QrId::generate());
    for _ in 0..2 {
        assert_eq!(page(&t, &unknown).await.0, StatusCode::NOT_FOUND);
    }
    let (status, _, body) = page(&t, &unknown).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("data-code="), "{body}");
    let scan = t
        .mobile("/api/mobile/scan", ALICE, serde_json::json!({ "qr": "x" }))
        .await;
    expect_error(scan, 429, "rate_limited").await;
}

#[tokio::test]
async fn a_phone_link_without_a_code_is_a_page_saying_how_to_get_one() {
    let t = spawn_app().await;
    for path in ["/l/", "/l"] {
        let (status, content_type, body) = page(&t, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(content_type, "text/html; charset=utf-8", "{path}");
        assert!(
            body.contains("<h1>此链接中没有登录码</h1>"),
            "{path}: {body}"
        );
        assert!(body.contains("扫描页面上的二维码"), "{body}");
    }
    let resp = t.client.get(t.url("/l/")).send().await.unwrap();
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<h1>No login code in this link</h1>")
    );
}
