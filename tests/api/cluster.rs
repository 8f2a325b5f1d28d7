//! Several instances on one Redis: shared state, cross-instance wake-ups,
//! and surviving faults (Redis down, Redis restarted, pub/sub dropped,
//! an instance restarted).

use crate::helpers::*;
use crate::redis_server::RedisServer;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// Far below the 25 s hold: an answer this fast was woken, not timed out.
const PROMPT: Duration = Duration::from_secs(5);

async fn two_instances(redis: &RedisServer) -> (TestApp, TestApp) {
    let a = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    let b = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    (a, b)
}

/// The status of a plain GET of `path` on instance `t`.
async fn status_of(t: &TestApp, path: &str) -> StatusCode {
    t.client.get(t.url(path)).send().await.unwrap().status()
}

/// Lua scripts Redis has loaded (`INFO memory`).
async fn cached_scripts(redis: &RedisServer) -> u64 {
    let info: String = redis.cmd(&["INFO", "memory"]).await.unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("number_of_cached_scripts:"))
        .expect("INFO memory reports number_of_cached_scripts")
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_poll_on_one_instance_wakes_on_a_scan_and_confirm_on_another() {
    let redis = RedisServer::start().await;
    let (a, b) = two_instances(&redis).await;
    let qr = a.create_qr().await;

    let poll = a.held_poll(&qr, "");
    a.wait_for_pollers(&qr, 1).await;
    let started = Instant::now();
    let confirm = b.scan_ok(ALICE, &qr).await;
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 201);
    assert_eq!(body["user"]["name"], "Alice");
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());

    let poll = a.held_poll(&qr, "since=scanned");
    a.wait_for_pollers(&qr, 1).await;
    let started = Instant::now();
    assert_eq!(
        b.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 200);
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());

    // Exchange on B; the cookie works on A; logout on A is logout on B.
    let ticket = body["ticket"].as_str().unwrap();
    let resp = b.exchange_with(&a.client, &qr, ticket).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let me = a.me(&a.client).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(json(me).await["user"]["id"], "alice");
    let on_b = || {
        reqwest::Client::new()
            .get(b.url("/api/me"))
            .header("cookie", cookie.clone())
            .send()
    };
    assert_eq!(on_b().await.unwrap().status(), StatusCode::OK);
    let resp = a.client.post(a.url("/api/logout")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_error(on_b().await.unwrap(), 401, "unauthorized").await;
}

#[tokio::test]
async fn fifty_exchanges_spread_over_both_instances_log_in_once() {
    let redis = RedisServer::start().await;
    let (a, b) = two_instances(&redis).await;
    let (qr, ticket) = a.confirmed_qr(BOB).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let (token, ticket) = (qr.poll_token.clone(), ticket.clone());
        tasks.push(tokio::spawn(async move {
            browser()
                .post(format!("{base}/api/login/exchange"))
                .bearer_auth(token)
                .json(&serde_json::json!({ "ticket": ticket }))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_REQUEST => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn redis_down_means_quick_503s_and_recovery_when_it_returns() {
    let mut redis = RedisServer::start().await;
    let (a, _b) = two_instances(&redis).await;
    let qr = a.create_qr().await;
    redis.kill();

    let started = Instant::now();
    let resp = a.client.post(a.url("/api/qr")).send().await.unwrap();
    expect_error(resp, 503, "store_unavailable").await;
    expect_error(a.status_raw(&qr, "wait=0").await, 503, "store_unavailable").await;
    expect_error(a.scan(ALICE, &qr).await, 503, "store_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "503s must be quick: {:?}",
        started.elapsed()
    );
    assert_eq!(
        status_of(&a, "/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(status_of(&a, "/healthz").await, StatusCode::OK);

    redis.start_again().await;
    // Reconnection is automatic; a fresh login goes through.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = a.client.post(a.url("/api/qr")).send().await.unwrap();
        if resp.status() == StatusCode::CREATED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "did not recover: {}",
            resp.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status_of(&a, "/readyz").await, StatusCode::OK);
    let (qr, ticket) = a.confirmed_qr(ALICE).await;
    assert_eq!(a.exchange(&qr, &ticket).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_held_poll_survives_redis_going_away_and_coming_back() {
    let mut redis = RedisServer::start().await;
    let a = spawn_redis_app(
        &redis.url(),
        "qrl:",
        |c| c.login.poll_hold = Duration::from_secs(3),
        None,
    )
    .await;
    let qr = a.create_qr().await;
    let started = Instant::now();
    let poll = a.held_poll(&qr, "");
    a.wait_for_pollers(&qr, 1).await;
    redis.kill();
    // The poll keeps holding (no burst of early 503s); at the end of its
    // hold the store is still down, so it answers 503 — not a hang.
    let resp = tokio::time::timeout(Duration::from_secs(15), poll)
        .await
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "answered early: {:?}",
        started.elapsed()
    );
    expect_error(resp, 503, "store_unavailable").await;
    // Redis comes back during the next hold: that poll answers normally.
    let poll = a.held_poll(&qr, "");
    redis.start_again().await;
    let resp = tokio::time::timeout(Duration::from_secs(15), poll)
        .await
        .unwrap()
        .unwrap();
    // The restarted Redis kept nothing (no persistence): the code is gone.
    assert!(
        resp.status() == StatusCode::NOT_FOUND || resp.status() == StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        resp.status()
    );
}

#[tokio::test]
async fn a_redis_restart_that_lost_the_scripts_does_not_stop_a_login() {
    let mut redis = RedisServer::start().await;
    let (a, b) = two_instances(&redis).await;
    let qr = a.create_qr().await;
    let confirm = a.scan_ok(ALICE, &qr).await;
    assert!(cached_scripts(&redis).await > 0);
    redis.restart(true).await;
    // Data survived, scripts did not.
    assert_eq!(cached_scripts(&redis).await, 0);
    // The first request after the restart already works: the dead
    // connection is retried once and the script re-loaded.
    let status = b.confirm(ALICE, &qr, &confirm).await.status();
    assert_eq!(status, StatusCode::OK, "a Redis restart must be invisible");
    let body = a.poll(&qr, "wait=5&since=scanned").await;
    assert_eq!(body["code"], 200);
    let ticket = body["ticket"].as_str().unwrap();
    assert_eq!(a.exchange(&qr, ticket).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_dropped_subscription_does_not_lose_the_wake_up() {
    let redis = RedisServer::start().await;
    let (a, b) = two_instances(&redis).await;
    let qr = a.create_qr().await;
    let confirm = a.scan_ok(ALICE, &qr).await;
    let poll = a.held_poll(&qr, "since=scanned");
    a.wait_for_pollers(&qr, 1).await;
    // Cut every pub/sub connection, then confirm at once: the publish falls
    // into the gap while A resubscribes.
    let killed: i64 = redis
        .cmd(&["CLIENT", "KILL", "TYPE", "pubsub"])
        .await
        .unwrap();
    assert!(killed >= 1);
    let started = Instant::now();
    assert_eq!(
        b.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 200);
    assert!(
        started.elapsed() < PROMPT,
        "answered only after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn restarting_an_instance_loses_no_pending_login() {
    let redis = RedisServer::start().await;
    let (a, b) = two_instances(&redis).await;
    let a_addr = a.addr;
    let qr = a.create_qr().await;
    let poll = a.held_poll(&qr, "");
    a.wait_for_pollers(&qr, 1).await;
    let browser = a.client.clone();

    // A stops (deploy): its held poll is answered, not cut.
    a.shutdown().await.unwrap();
    let resp = poll.await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["code"], 408);

    // The phone reaches B; the browser's next poll lands on B.
    let confirm = b.scan_ok(ALICE, &qr).await;
    assert_eq!(
        b.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let body = b.poll(&qr, "wait=0").await;
    assert_eq!(body["code"], 200);
    let resp = b
        .exchange_with(&browser, &qr, body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    // A comes back on the same address and knows the login.
    let listener = qrlogin::startup::bind(a_addr, 1024).unwrap();
    let a2 = spawn_redis_app(&redis.url(), "qrl:", |_| {}, Some(listener)).await;
    let me = a2.me(&browser).await;
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_redis_dump_holds_no_usable_secret() {
    let redis = RedisServer::start().await;
    let (a, _b) = two_instances(&redis).await;
    let qr = a.create_qr().await;
    let confirm = a.scan_ok(ALICE, &qr).await;
    assert_eq!(
        a.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let ticket = a.poll(&qr, "wait=0&since=scanned").await["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = a.exchange(&qr, &ticket).await;
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = cookie
        .split(';')
        .next()
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .to_owned();

    let keys: Vec<String> = redis.cmd(&["KEYS", "*"]).await.unwrap();
    assert!(keys.len() >= 2, "{keys:?}");
    let mut dump = keys.join("\n");
    for key in &keys {
        let kind: String = redis.cmd(&["TYPE", key]).await.unwrap();
        if kind == "hash" {
            let fields: Vec<String> = redis.cmd(&["HGETALL", key]).await.unwrap();
            dump.push_str(&fields.join("\n"));
        } else {
            let value: String = redis.cmd(&["GET", key]).await.unwrap();
            dump.push_str(&value);
        }
        // Everything expires by itself.
        let ttl: i64 = redis.cmd(&["PTTL", key]).await.unwrap();
        assert!(ttl > 0, "{key} has no TTL");
    }
    for secret in [&qr.poll_token, &confirm, &ticket, &cookie] {
        assert!(
            !dump.contains(secret.as_str()),
            "a secret is stored in the clear"
        );
    }
}

/// The subscription's heartbeat (a PING every 10 s, to notice half-open
/// connections) is answered in subscribed mode: the same connection is
/// still there after two heartbeats, not torn down and resubscribed.
#[tokio::test]
async fn the_subscription_heartbeat_keeps_a_healthy_connection() {
    let redis = RedisServer::start().await;
    let _a = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    tokio::time::sleep(Duration::from_secs(21)).await;
    let clients: String = redis
        .cmd(&["CLIENT", "LIST", "TYPE", "pubsub"])
        .await
        .unwrap();
    let ages: Vec<u64> = clients
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("age=")))
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(ages.len(), 1, "one subscription per instance: {clients}");
    assert!(ages[0] >= 20, "the subscription was re-made: {clients}");
}
