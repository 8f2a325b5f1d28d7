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

/// Long polls and event streams share `limits.max_held_connections`:
/// past it a new one is refused (503 `busy`, with `Retry-After`) rather
/// than left to run the process out of descriptors; a request that need
/// not wait still answers; once one ends there is room again.
#[tokio::test]
async fn held_polls_and_streams_share_one_budget() {
    use qrlogin::login::Held;
    let t = spawn_app_with(|c| c.limits.max_held_connections = Some(2)).await;
    let (polled, streamed, third) = (
        t.create_qr().await,
        t.create_qr().await,
        t.create_qr().await,
    );
    let poll = t.held_poll(&polled, "");
    let mut events = t.events(&streamed, None).await;
    assert_eq!(events.expect_event().await.0, 1);
    t.wait_for_held(Held {
        polls: 1,
        streams: 1,
    })
    .await;

    let busy = |resp: reqwest::Response| async move {
        assert_eq!(resp.headers()["retry-after"], "5");
        expect_error(resp, 503, "busy").await;
    };
    busy(t.status_raw(&third, "").await).await;
    busy(t.events_raw(&third, None).await).await;
    // A poll that answers at once holds nothing, so it is not refused.
    assert_eq!(t.poll(&third, "wait=0").await["code"], 408);
    t.scan_ok(BOB, &third).await;
    assert_eq!(t.poll(&third, "").await["code"], 201);
    // A device's held token request is told to slow down (RFC 8628 §3.5),
    // which keeps it polling, rather than failed.
    let resp = t
        .oauth_post(
            "/oauth/device_authorization",
            &[("client_id", TV), ("scope", "openid")],
            None,
        )
        .await;
    let device = json(resp).await;
    let resp = t
        .oauth_post(
            "/oauth/token",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device["device_code"].as_str().unwrap()),
                ("client_id", TV),
                ("wait", "5"),
            ],
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(resp).await["error"], "slow_down");
    assert_eq!(
        t.held(),
        Held {
            polls: 1,
            streams: 1
        },
        "refusals hold nothing"
    );

    // The held poll ends (the scan answers it): a stream fits again.
    t.scan_ok(ALICE, &polled).await;
    assert_eq!(json(poll.await.unwrap()).await["code"], 201);
    t.wait_for_held(Held {
        polls: 0,
        streams: 1,
    })
    .await;
    let mut more = t.events(&third, None).await;
    assert_eq!(more.expect_event().await.1["state"], "scanned");
    t.wait_for_held(Held {
        polls: 0,
        streams: 2,
    })
    .await;
    // And a closed stream gives its place back.
    drop(events);
    t.wait_for_held(Held {
        polls: 0,
        streams: 1,
    })
    .await;
    assert_eq!(t.poll(&third, "since=scanned&wait=1").await["code"], 201);
}
