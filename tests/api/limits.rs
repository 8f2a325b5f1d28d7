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

/// One client with one poll token cannot take the budget from everyone
/// else: the long polls and streams of one QR code together stop at
/// `MAX_HELD_PER_QR` (429 `too_many_pollers`, with `Retry-After`), while
/// other codes still get theirs, and answers that hold nothing still come.
#[tokio::test]
async fn one_code_holds_at_most_its_share_of_the_budget() {
    use qrlogin::login::{Held, MAX_HELD_PER_QR};
    let t = spawn_app_with(|c| c.limits.max_held_connections = Some(50)).await;
    let greedy = t.create_qr().await;
    let (n_polls, n_streams) = (MAX_HELD_PER_QR / 2, MAX_HELD_PER_QR - MAX_HELD_PER_QR / 2);
    // A client (connection) per poll, as separate tabs would have.
    let polls: Vec<_> = (0..n_polls)
        .map(|_| t.held_poll_with(&browser(), &greedy, ""))
        .collect();
    let mut streams = Vec::new();
    for _ in 0..n_streams {
        let mut events = t.events(&greedy, None).await;
        assert_eq!(events.expect_event().await.0, 1);
        streams.push(events);
    }
    t.wait_for_held(Held {
        polls: n_polls,
        streams: n_streams,
    })
    .await;

    let too_many = |resp: reqwest::Response| async move {
        assert_eq!(resp.headers()["retry-after"], "5");
        expect_error(resp, 429, "too_many_pollers").await;
    };
    too_many(t.status_raw(&greedy, "").await).await;
    too_many(t.events_raw(&greedy, None).await).await;
    // An answer at once holds nothing; another code holds its own.
    assert_eq!(t.poll(&greedy, "wait=0").await["code"], 408);
    let other = t.create_qr().await;
    let theirs = t.held_poll(&other, "");
    t.wait_for_held(Held {
        polls: n_polls + 1,
        streams: n_streams,
    })
    .await;

    // The scan answers the held polls: the code has room again.
    t.scan_ok(ALICE, &greedy).await;
    for poll in polls {
        assert_eq!(json(poll.await.unwrap()).await["code"], 201);
    }
    t.wait_for_held(Held {
        polls: 1,
        streams: n_streams,
    })
    .await;
    let mut more = t.events(&greedy, None).await;
    assert_eq!(more.expect_event().await.1["state"], "scanned");
    t.wait_for_held(Held {
        polls: 1,
        streams: n_streams + 1,
    })
    .await;
    drop((streams, more));
    t.scan_ok(BOB, &other).await;
    assert_eq!(json(theirs.await.unwrap()).await["code"], 201);
    t.wait_for_held(Held::default()).await;
}

/// The share one code may hold is a constant: the OpenAPI document and
/// the README name its value.
#[test]
fn the_documents_give_the_share_one_code_may_hold() {
    use qrlogin::login::MAX_HELD_PER_QR;
    let share = format!("as one session may ({MAX_HELD_PER_QR})");
    for path in ["/api/qr/{id}/status", "/api/qr/{id}/events"] {
        let doc = &crate::contract::document()["paths"][path]["get"]["responses"]["429"];
        let text = doc["description"].as_str().unwrap_or_default();
        assert!(text.contains(&share), "{path}: {doc}");
    }
    let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(readme).unwrap();
    let row = format!("| this code already holds {MAX_HELD_PER_QR} polls and event streams");
    assert!(readme.contains(&row), "README: {row}");
}

/// A stream of a settled session sends one event and ends without waiting,
/// so it takes no place: with the budget full, the reconnect that brings
/// the ticket still gets it.
#[tokio::test]
async fn a_settled_session_streams_its_event_under_a_full_budget() {
    use qrlogin::login::Held;
    let t = spawn_app_with(|c| c.limits.max_held_connections = Some(1)).await;
    let (confirmed, _) = t.confirmed_qr(ALICE).await;
    let waiting = t.create_qr().await;
    let poll = t.held_poll(&waiting, "");
    t.wait_for_held(Held {
        polls: 1,
        streams: 0,
    })
    .await;
    // Full: a stream that would wait is refused…
    let other = t.create_qr().await;
    expect_error(t.events_raw(&other, None).await, 503, "busy").await;
    // …the one with the ticket is not, fresh or resumed.
    for last in [None, Some(2)] {
        let mut events = t.events(&confirmed, last).await;
        let (id, body) = events.expect_event().await;
        assert_eq!((id, body["code"].as_u64()), (3, Some(200)));
        assert!(body["ticket"].is_string());
        events.expect_end().await;
    }
    t.scan_ok(BOB, &waiting).await;
    assert_eq!(json(poll.await.unwrap()).await["code"], 201);
}

/// Tickets cannot be guessed fast: exchange, complete and new tickets
/// spend from one per-IP budget.
#[tokio::test]
async fn ticket_redemption_is_rate_limited_per_ip() {
    let t = spawn_app_with(|c| c.limits.redeem_per_minute_per_ip = 2).await;
    let (qr, _) = t.confirmed_qr(ALICE).await;
    for _ in 0..2 {
        let resp = t.exchange(&qr, "a-wrong-ticket").await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    for resp in [
        t.exchange(&qr, "a-wrong-ticket").await,
        t.client
            .get(t.url("/api/login/complete?ticket=x"))
            .send()
            .await
            .unwrap(),
    ] {
        assert!(resp.headers().contains_key("retry-after"));
        expect_error(resp, 429, "rate_limited").await;
    }
}

/// Lookups of unknown ids (or with wrong tokens) spend a budget; once it
/// is spent every lookup from that address is refused, a right one too.
/// Pages polling their own session spend nothing.
#[tokio::test]
async fn guessing_qr_ids_is_rate_limited_and_own_polls_are_free() {
    let t = spawn_app_with(|c| c.limits.lookup_misses_per_minute_per_ip = 2).await;
    let qr = t.create_qr().await;
    for _ in 0..5 {
        assert_eq!(t.status_raw(&qr, "wait=0").await.status(), StatusCode::OK);
    }
    let unknown = Qr {
        id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        ..qr.clone()
    };
    // Two misses spend the budget; the third finds it spent and blocks.
    for _ in 0..3 {
        let resp = t.status_raw(&unknown, "wait=0").await;
        assert!(
            matches!(resp.status().as_u16(), 400 | 404),
            "{}",
            resp.status()
        );
    }
    let resp = t.status_raw(&unknown, "wait=0").await;
    expect_error(resp, 429, "rate_limited").await;
    let resp = t.status_raw(&qr, "wait=0").await;
    assert!(resp.headers().contains_key("retry-after"));
    expect_error(resp, 429, "rate_limited").await;
    expect_error(t.events_raw(&qr, None).await, 429, "rate_limited").await;
}

/// The OAuth back channel (token, introspection, revocation) has a per-IP
/// budget, refused in OAuth's error shape.
#[tokio::test]
async fn the_token_endpoint_is_rate_limited_per_ip() {
    let t = spawn_app_with(|c| c.limits.token_per_minute_per_ip = 2).await;
    let token = |path: &'static str| {
        t.client
            .post(t.url(path))
            .form(&[("grant_type", "authorization_code"), ("code", "guess")])
            .basic_auth(SHOP, Some(SHOP_SECRET))
            .send()
    };
    for _ in 0..2 {
        let status = token("/oauth/token").await.unwrap().status();
        assert!(status.is_client_error() && status != 429, "{status}");
    }
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let resp = token(path).await.unwrap();
        assert_eq!(resp.status(), 429, "{path}");
        assert!(resp.headers().contains_key("retry-after"));
        let body = json(resp).await;
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    }
}
