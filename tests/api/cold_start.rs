//! Starting while Redis is down: instances serve at once (alive, not ready,
//! a quick 503 `store_unavailable` for what needs the store, pages load),
//! and once Redis comes up everything works without a restart — scripts
//! loaded, each instance's subscription made, polls woken across instances.

use crate::helpers::*;
use crate::redis_server::RedisServer;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Far below the 25 s hold: an answer this fast was woken, not timed out.
const PROMPT: Duration = Duration::from_secs(5);

/// `/readyz`'s status and body.
async fn readiness(t: &TestApp) -> (StatusCode, Value) {
    let resp = t.client.get(t.url("/readyz")).send().await.unwrap();
    (resp.status(), json(resp).await)
}

/// Waits (bounded) until `/readyz` answers 200.
async fn wait_until_ready(t: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = readiness(t).await;
        if status == StatusCode::OK {
            assert_eq!(body["store"], "ok", "{body}");
            return;
        }
        assert!(Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) until `n` connections subscribe to the change channel.
async fn wait_for_subscribers(redis: &RedisServer, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, subscribers): (String, i64) = redis
            .cmd(&["PUBSUB", "NUMSUB", "qrl:changed"])
            .await
            .unwrap();
        if subscribers == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{subscribers} subscribers, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn instances_started_before_redis_serve_then_work_when_it_comes_up() {
    // A port with nothing on it, where Redis will come up later.
    let mut redis = RedisServer::start().await;
    redis.kill();
    let cold = || {
        let listener = qrlogin::startup::bind("127.0.0.1:0".parse().unwrap(), 64).unwrap();
        spawn_server_cold(redis_config(&redis.url(), "qrl:"), listener)
    };
    let (a, b) = (cold().await, cold().await);

    // Alive, not ready, and saying why.
    let resp = a.client.get(a.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = readiness(&a).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["store"], "connecting", "{body}");
    // What needs the store fails at once (redis_timeout is 1 s here).
    let started = Instant::now();
    let resp = a.client.post(a.url("/api/qr")).send().await.unwrap();
    expect_error(resp, 503, "store_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    // The login page still loads (it shows "reconnecting" and retries).
    let resp = a.client.get(a.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    redis.start_again().await;
    wait_until_ready(&a).await;
    wait_until_ready(&b).await;
    // Both subscriptions come up by themselves.
    wait_for_subscribers(&redis, 2).await;

    // A whole login; the poll held on A is woken by B's scan and confirm,
    // which only the pub/sub subscription can carry in time (the resync
    // interval is 60 s, the hold 25 s).
    let qr = a.create_qr().await;
    let poll = a.held_poll(&qr, "");
    a.wait_for_pollers(&qr, 1).await;
    let started = Instant::now();
    let confirm = b.scan_ok(ALICE, &qr).await;
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 201, "{body}");
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());

    let poll = a.held_poll(&qr, "since=scanned");
    a.wait_for_pollers(&qr, 1).await;
    let started = Instant::now();
    let resp = b.confirm(ALICE, &qr, &confirm).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 200, "{body}");
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    let ticket = body["ticket"].as_str().unwrap();
    assert_eq!(a.exchange(&qr, ticket).await.status(), StatusCode::OK);
    let me = a.me(&a.client).await;
    assert_eq!(json(me).await["user"]["id"], "alice");

    // Lost after it was reached, Redis is "unavailable", not "connecting".
    redis.kill();
    let (status, body) = readiness(&a).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["store"], "unavailable", "{body}");
}
