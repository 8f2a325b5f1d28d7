//! Abuse limits: per-IP rate limits and the live-session cap.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn qr_creation_is_rate_limited_per_ip() {
    let t = spawn_app_with(|c| c.limits.qr_per_minute_per_ip = 3).await;
    for _ in 0..3 {
        t.create_qr().await;
    }
    let resp = t.client.post(t.url("/api/qr")).send().await.unwrap();
    assert!(
        resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    expect_error(resp, 429, "rate_limited").await;
}

#[tokio::test]
async fn phone_calls_are_rate_limited_per_ip() {
    let t = spawn_app_with(|c| c.limits.mobile_per_minute_per_ip = 2).await;
    let qr = t.create_qr().await;
    for _ in 0..2 {
        let resp = t
            .mobile("/api/mobile/scan", "wrong-token", json!({ "qr": qr.id }))
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // Token guessing stops here, before verification.
    let resp = t
        .mobile("/api/mobile/scan", ALICE, json!({ "qr": qr.id }))
        .await;
    expect_error(resp, 429, "rate_limited").await;
}

#[tokio::test]
async fn the_live_session_cap_answers_503_not_a_crash() {
    let t = spawn_app_with(|c| c.limits.max_live_sessions = 2).await;
    t.create_qr().await;
    t.create_qr().await;
    let resp = t.client.post(t.url("/api/qr")).send().await.unwrap();
    expect_error(resp, 503, "over_capacity").await;
}
