//! Several instances on one Redis: shared state, cross-instance wake-ups,
//! and surviving faults (Redis down, Redis restarted, Redis frozen, pub/sub
//! dropped, an instance restarted).

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

/// One pub/sub connection as `CLIENT LIST` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PubSubClient {
    id: u64,
    /// The last command it ran.
    cmd: String,
}

/// The pub/sub connections Redis holds.
async fn pubsub_clients(redis: &RedisServer) -> Vec<PubSubClient> {
    let list: String = redis
        .cmd(&["CLIENT", "LIST", "TYPE", "pubsub"])
        .await
        .unwrap();
    let field = |line: &str, name: &str| {
        line.split(' ')
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    list.lines()
        .map(|l| PubSubClient {
            id: field(l, "id").parse().unwrap(),
            cmd: field(l, "cmd"),
        })
        .collect()
}

/// Waits (bounded) until Redis holds pub/sub connections that satisfy `ok`.
async fn wait_for_pubsub(
    redis: &RedisServer,
    what: &str,
    ok: impl Fn(&[PubSubClient]) -> bool,
) -> Vec<PubSubClient> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let clients = pubsub_clients(redis).await;
        if ok(&clients) {
            return clients;
        }
        assert!(Instant::now() < deadline, "{what}: {clients:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// PINGs Redis has run, on any connection (`INFO commandstats`).
async fn ping_calls(redis: &RedisServer) -> u64 {
    let info: String = redis.cmd(&["INFO", "commandstats"]).await.unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_ping:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

/// An instance whose subscription is pinged every `heartbeat`.
async fn instance_with_heartbeat(redis: &RedisServer, heartbeat: Duration) -> TestApp {
    let mut config = redis_config(&redis.url(), "qrl:");
    config.store.redis_heartbeat = heartbeat;
    spawn_redis_app_from(config, None).await
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

    // The outage is in the metrics: failed store operations by name, the
    // 503s by route, and round trips timed once Redis was back.
    let text = a.metrics().await;
    let value = |series: &str| crate::observe::sample(&text, series).unwrap_or(0.0);
    assert!(
        value("qrlogin_store_errors_total{op=\"insert\"}") >= 1.0,
        "{text}"
    );
    assert!(
        value("qrlogin_store_errors_total{op=\"get\"}") >= 1.0,
        "{text}"
    );
    assert!(
        value("qrlogin_refusals_total{route=\"/api/qr\",reason=\"store_unavailable\"}") >= 1.0,
        "{text}"
    );
    assert!(
        value("qrlogin_store_round_trip_seconds_count{op=\"compare_and_set\"}") >= 1.0,
        "{text}"
    );
}

#[tokio::test]
async fn a_held_poll_survives_redis_going_away_and_coming_back() {
    let mut redis = RedisServer::start().await;
    let a = spawn_redis_app(
        &redis.url(),
        "qrl:",
        |c| c.login.poll_hold = Duration::from_secs(20),
        None,
    )
    .await;
    let qr = a.create_qr().await;
    let started = Instant::now();
    let short = a.held_poll(&qr, "wait=3");
    let long = a.held_poll(&qr, "");
    a.wait_for_pollers(&qr, 2).await;
    redis.kill();
    // The short poll keeps holding (no burst of early 503s); at the end of
    // its hold the store is still down, so it answers 503 — not a hang.
    let resp = tokio::time::timeout(Duration::from_secs(15), short)
        .await
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "answered early: {:?}",
        started.elapsed()
    );
    expect_error(resp, 503, "store_unavailable").await;
    assert!(
        !long.is_finished(),
        "the long poll gave up during the outage"
    );

    // Redis comes back, empty (no persistence). The resubscription makes the
    // held poll re-read at once — not at the end of its 20 s hold, and the
    // 60 s resync never comes — and it answers the real state: the code is gone.
    redis.start_again().await;
    let back = Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(30), long)
        .await
        .unwrap()
        .unwrap();
    assert!(
        back.elapsed() < Duration::from_secs(10),
        "the held poll noticed the recovery only after {:?}",
        back.elapsed()
    );
    expect_error(resp, 404, "not_found").await;
    // And a new login goes through.
    let (qr, ticket) = a.confirmed_qr(ALICE).await;
    assert_eq!(a.exchange(&qr, &ticket).await.status(), StatusCode::OK);
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
    // Both instances wait 2 s before resubscribing, so the confirm below
    // is published while nobody is subscribed: that message is lost.
    let config = || {
        let mut config = redis_config(&redis.url(), "qrl:");
        config.store.redis_resubscribe_min_delay = Duration::from_secs(2);
        config
    };
    let a = spawn_redis_app_from(config(), None).await;
    let b = spawn_redis_app_from(config(), None).await;
    wait_for_pubsub(&redis, "both instances subscribe", |c| c.len() == 2).await;
    let qr = a.create_qr().await;
    let confirm = a.scan_ok(ALICE, &qr).await;
    let poll = a.held_poll(&qr, "since=scanned");
    a.wait_for_pollers(&qr, 1).await;
    let killed: i64 = redis
        .cmd(&["CLIENT", "KILL", "TYPE", "pubsub"])
        .await
        .unwrap();
    assert_eq!(killed, 2);
    let started = Instant::now();
    assert_eq!(
        b.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let (_, subscribers): (String, i64) = redis
        .cmd(&["PUBSUB", "NUMSUB", "qrl:changed"])
        .await
        .unwrap();
    assert_eq!(subscribers, 0, "the confirm must fall into the gap");
    // Only A's re-read after resubscribing can answer the poll (the resync
    // is 60 s, the hold 25 s).
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 200);
    assert!(
        started.elapsed() < PROMPT,
        "answered only after {:?}",
        started.elapsed()
    );
    // The metrics show both: the resubscription, and a wake-up that took
    // about as long as the gap (from B's confirm to A's answer).
    let text = a.metrics().await;
    let value = |series: &str| crate::observe::sample(&text, series);
    assert_eq!(
        value("qrlogin_redis_resubscriptions_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value("qrlogin_poll_wake_up_seconds_count"),
        Some(1.0),
        "{text}"
    );
    let took = value("qrlogin_poll_wake_up_seconds_sum").unwrap();
    assert!((1.0..10.0).contains(&took), "wake-up of {took} s:\n{text}");
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
    // A site's login too: its code (used and unused), access and refresh tokens.
    let request = crate::rp::Authorize::shop();
    let tokens = a.tokens_for(&request, ALICE).await;
    let unused_code = a.code_for(&request, BOB).await;
    let oauth_secrets = [
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
        unused_code,
    ];

    let keys: Vec<String> = redis.cmd(&["KEYS", "*"]).await.unwrap();
    assert!(keys.len() >= 2, "{keys:?}");
    let mut dump = keys.join("\n");
    for key in &keys {
        let kind: String = redis.cmd(&["TYPE", key]).await.unwrap();
        let values: Vec<String> = match kind.as_str() {
            "hash" => redis.cmd(&["HGETALL", key]).await.unwrap(),
            "zset" => redis.cmd(&["ZRANGE", key, "0", "-1"]).await.unwrap(),
            _ => vec![redis.cmd(&["GET", key]).await.unwrap()],
        };
        dump.push_str(&values.join("\n"));
        // Everything expires by itself.
        let ttl: i64 = redis.cmd(&["PTTL", key]).await.unwrap();
        assert!(ttl > 0, "{key} has no TTL");
    }
    for secret in [&qr.poll_token, &confirm, &ticket, &cookie]
        .into_iter()
        .chain(&oauth_secrets)
    {
        assert!(
            !dump.contains(secret.as_str()),
            "a secret is stored in the clear"
        );
    }
}

/// The heartbeat really pings the subscription, and a subscription that
/// answers is kept, not torn down and re-made at every beat.
#[tokio::test]
async fn the_subscription_heartbeat_pings_a_healthy_connection_and_keeps_it() {
    let redis = RedisServer::start().await;
    let _a = instance_with_heartbeat(&redis, Duration::from_millis(200)).await;
    let before = wait_for_pubsub(&redis, "the instance subscribes", |c| c.len() == 1).await;
    let pings = ping_calls(&redis).await;
    // Real time on a real server: seven beats.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent = ping_calls(&redis).await - pings;
    assert!(sent >= 4, "{sent} pings in 1.5 s at one per 200 ms");
    let after = pubsub_clients(&redis).await;
    assert_eq!(after.len(), 1, "one subscription per instance: {after:?}");
    assert_eq!(
        after[0].id, before[0].id,
        "a healthy subscription was re-made"
    );
    assert_eq!(after[0].cmd, "ping", "the pings went to the subscription");
}

/// A subscription that stops answering (here: Redis frozen with SIGSTOP,
/// so its socket stays open and silent, as after a partition) is noticed
/// by the heartbeat and replaced, and wake-ups flow through the new one.
#[tokio::test]
async fn a_subscription_that_stops_answering_pings_is_replaced() {
    let redis = RedisServer::start().await;
    let a = instance_with_heartbeat(&redis, Duration::from_millis(300)).await;
    let old = wait_for_pubsub(&redis, "A subscribes", |c| c.len() == 1).await[0].clone();
    // B (heartbeat 10 s, which does not beat during this test) publishes the change.
    let b = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    wait_for_pubsub(&redis, "B subscribes", |c| c.len() == 2).await;
    let qr = a.create_qr().await;
    let poll = a.held_poll(&qr, "");
    a.wait_for_pollers(&qr, 1).await;

    redis.freeze();
    // Real time on a real process: a beat (300 ms) plus its ping's timeout
    // (redis_timeout, 1 s), with room to spare.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    redis.thaw();
    // Thawed, the old connection would work again; A must have replaced it anyway.
    wait_for_pubsub(&redis, "A re-made its subscription", |c| {
        c.len() == 2 && c.iter().all(|c| c.id != old.id)
    })
    .await;

    let started = Instant::now();
    b.scan_ok(ALICE, &qr).await;
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 201);
    assert!(
        started.elapsed() < PROMPT,
        "answered only after {:?}",
        started.elapsed()
    );
}
