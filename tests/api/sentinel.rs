//! Instances on Redis Sentinel: the store finds the primary through the
//! sentinels, answers 503 at once while none is known, and follows a
//! failover — a login started before the primary dies completes after it.

use crate::helpers::*;
use crate::sentinel_deployment::{
    DB, MASTER_NAME, REDIS_PASSWORD, SENTINEL_PASSWORD, SentinelDeployment,
};
use qrlogin::config::{Config, RedactedString};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// The config of an instance whose store is the primary `deployment`'s
/// sentinels name as `master_name`, keys under `qrl:`.
fn sentinel_config(deployment: &SentinelDeployment, master_name: &str) -> Config {
    let mut config = redis_config("redis://unused", "qrl:");
    let store = &mut config.store;
    store.redis_url = None;
    store.redis_sentinels = deployment.sentinel_addrs();
    store.redis_master_name = Some(master_name.to_owned());
    store.redis_password = Some(RedactedString::from(REDIS_PASSWORD.to_owned()));
    store.redis_db = Some(DB);
    store.redis_sentinel_password = Some(RedactedString::from(SENTINEL_PASSWORD.to_owned()));
    config
}

/// Repeats `request` until it answers something other than 503 (a phone
/// app or a browser page retrying through an outage), for at most `within`.
async fn retried_through_503s<F, Fut>(within: Duration, request: F) -> reqwest::Response
where
    F: Fn() -> Fut,
    Fut: Future<Output = reqwest::Response>,
{
    let deadline = Instant::now() + within;
    loop {
        let resp = request().await;
        if resp.status() != StatusCode::SERVICE_UNAVAILABLE {
            return resp;
        }
        assert!(Instant::now() < deadline, "still 503 after {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_login_completes_after_the_primary_is_killed_and_the_sentinels_fail_over() {
    let mut deployment = SentinelDeployment::start().await;
    let mut config = sentinel_config(&deployment, MASTER_NAME);
    // Longer than any failover here: the held poll must survive it.
    config.login.poll_hold = Duration::from_secs(60);
    let a = spawn_redis_app_from(config.clone(), None).await;
    let b = spawn_redis_app_from(config, None).await;

    // The browser on A holds a poll; the phone scans on B.
    let qr = a.create_qr().await;
    let poll = a.held_poll(&qr, "");
    a.wait_for_pollers(&qr, 1).await;
    let confirm_token = b.scan_ok(ALICE, &qr).await;
    assert_eq!(json(poll.await.unwrap()).await["code"], 201);
    let poll = a.held_poll(&qr, "since=scanned");
    a.wait_for_pollers(&qr, 1).await;

    // The scan must be on the replica before the crash, or async
    // replication may lose it (as README says).
    deployment.wait_until_replicas_caught_up().await;
    let old = deployment.reported_primary_port().await.unwrap();
    deployment.data_node(old).kill();

    // In the gap: a quick 503, never a hang.
    let started = Instant::now();
    expect_error(
        b.confirm(ALICE, &qr, &confirm_token).await,
        503,
        "store_unavailable",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "503 took {:?}",
        started.elapsed()
    );

    let new = deployment
        .wait_for_failover(old, Duration::from_secs(30))
        .await;
    assert_ne!(new, old);

    // The phone retries its confirm until the store has the new primary.
    let confirmed = retried_through_503s(Duration::from_secs(20), || {
        b.confirm(ALICE, &qr, &confirm_token)
    })
    .await;
    assert_eq!(confirmed.status(), StatusCode::OK);

    // The poll held since before the crash survived it and sees the confirm.
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 200, "{body}");
    let ticket = body["ticket"].as_str().unwrap();
    assert_eq!(a.exchange(&qr, ticket).await.status(), StatusCode::OK);
    let me = a.me(&a.client).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(json(me).await["user"]["id"], "alice");

    // Both instances moved to the new primary, and say so.
    for instance in [&a, &b] {
        let text = instance.metrics().await;
        let switches = crate::observe::sample(&text, "qrlogin_redis_primary_switches_total");
        assert!(switches >= Some(1.0), "{text}");
    }
    assert!(
        deployment
            .data_node(old)
            .cmd::<String>(&["PING"])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn while_the_sentinels_name_no_primary_requests_answer_503_at_once() {
    let deployment = SentinelDeployment::start_small().await;
    // A name the sentinel does not monitor (yet): it knows no primary.
    let mut config = sentinel_config(&deployment, "not-yet");
    // Far above the bound below: the 503 must not come from a timeout.
    config.store.redis_timeout = Duration::from_secs(10);
    config.store.redis_resubscribe_max_delay = Duration::from_millis(200);
    let listener = qrlogin::startup::bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
    let app = spawn_server_cold(config, listener).await;

    for _ in 0..3 {
        let started = Instant::now();
        let resp = app.client.post(app.url("/api/qr")).send().await.unwrap();
        expect_error(resp, 503, "store_unavailable").await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "503 took {:?}",
            started.elapsed()
        );
    }
    assert!(app.store().connecting());

    // Once the sentinel monitors the primary under that name, the store
    // finds it by itself.
    let sentinel = &deployment.sentinels[0];
    let primary_port = deployment.data[0].port.to_string();
    let monitor = [
        "SENTINEL",
        "MONITOR",
        "not-yet",
        "127.0.0.1",
        &primary_port,
        "1",
    ];
    sentinel.cmd::<()>(&monitor).await.unwrap();
    let auth = ["SENTINEL", "SET", "not-yet", "auth-pass", REDIS_PASSWORD];
    sentinel.cmd::<()>(&auth).await.unwrap();
    let created = retried_through_503s(Duration::from_secs(10), || async {
        app.client.post(app.url("/api/qr")).send().await.unwrap()
    })
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(!app.store().connecting());
}

/// README's Sentinel config is valid as written, and means what it says.
#[test]
fn the_readme_sentinel_config_works_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split_once("<!-- sentinel-config -->\n```toml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("README's Sentinel config block")
        .0;
    let config = Config::parse(&test_config_text("http://qrlogin.test", block)).unwrap();
    let settings = qrlogin::store::RedisSettings::from_config(&config.store).unwrap();
    let qrlogin::store::RedisTarget::Sentinel(s) = settings.target else {
        panic!("not a sentinel target");
    };
    assert_eq!(s.sentinels.len(), 3);
    assert_eq!(s.master_name, "qrlogin");
    assert!(s.password.is_some());
    let shown = config.to_redacted_toml().unwrap();
    assert!(!shown.contains("change-me"), "{shown}");
}

/// A failover the sentinels are told to make (`SENTINEL FAILOVER`) leaves
/// the old primary alive as a read-only replica: connections to it would
/// still work, for reads, so the store must notice (`READONLY`, or the
/// connections the sentinels close) and move its writes to the new primary.
#[tokio::test]
async fn a_forced_failover_moves_the_store_off_the_demoted_primary() {
    let mut deployment = SentinelDeployment::start().await;
    let mut config = sentinel_config(&deployment, MASTER_NAME);
    // No periodic check of the sentinels during the test: the store must
    // notice by itself.
    config.store.redis_heartbeat = Duration::from_secs(600);
    let a = spawn_redis_app_from(config, None).await;
    let qr = a.create_qr().await;
    deployment.wait_until_replicas_caught_up().await;
    let old = deployment.reported_primary_port().await.unwrap();

    let failover = ["SENTINEL", "FAILOVER", MASTER_NAME];
    deployment.sentinels[0].cmd::<()>(&failover).await.unwrap();
    let new = deployment
        .wait_for_failover(old, Duration::from_secs(30))
        .await;
    // Only once the old primary refuses writes does a 201 below prove the
    // store writes to the new one.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let role: Vec<redis::Value> = deployment.data_node(old).cmd(&["ROLE"]).await.unwrap();
        if role.first() == Some(&redis::Value::BulkString(b"slave".to_vec())) {
            break;
        }
        assert!(Instant::now() < deadline, "{old} still {role:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let created = retried_through_503s(Duration::from_secs(20), || async {
        a.client.post(a.url("/api/qr")).send().await.unwrap()
    })
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    // The session from before the failover is still there.
    assert_eq!(a.poll(&qr, "wait=0").await["code"], 408);
    let text = a.metrics().await;
    let switches = crate::observe::sample(&text, "qrlogin_redis_primary_switches_total");
    assert_eq!(switches, Some(1.0), "{text}");
    let keys: i64 = deployment.data_node(new).cmd(&["DBSIZE"]).await.unwrap();
    assert_eq!(keys, 0, "database 0 of the new primary is untouched");
}

/// The sentinels lose the primary while this instance still reaches it
/// (and it still says it is the primary): writes there would be lost once
/// it is demoted, so the store stops at once, answering 503 fast (no
/// command waits for a timeout while no primary is known), and comes back
/// when the sentinels vouch for a primary again.
#[tokio::test]
async fn when_the_sentinels_flag_a_still_reachable_primary_down_requests_answer_503_at_once() {
    let deployment = SentinelDeployment::start_small().await;
    let mut config = sentinel_config(&deployment, MASTER_NAME);
    // Far above the bounds below: the 503 must not come from a timeout.
    config.store.redis_timeout = Duration::from_secs(10);
    config.store.redis_heartbeat = Duration::from_millis(200);
    config.store.redis_resubscribe_max_delay = Duration::from_millis(200);
    // QR codes are created here until the store stops: not a client to limit.
    config.limits.qr_per_minute_per_ip = 100_000;
    let app = spawn_redis_app_from(config, None).await;
    let create = || async { app.client.post(app.url("/api/qr")).send().await.unwrap() };
    assert_eq!(create().await.status(), StatusCode::CREATED);

    // The sentinel can no longer log in to the primary: to it, the primary
    // stops answering and is soon (1 s) flagged down. The store still can.
    let sentinel = &deployment.sentinels[0];
    let wrong = ["SENTINEL", "SET", MASTER_NAME, "auth-pass", "wrong"];
    sentinel.cmd::<()>(&wrong).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = create().await;
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert!(
            Instant::now() < deadline,
            "still writing to a primary the sentinel calls down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let role: Vec<redis::Value> = deployment.data[0].cmd(&["ROLE"]).await.unwrap();
    assert_eq!(
        role.first(),
        Some(&redis::Value::BulkString(b"master".to_vec()))
    );
    for _ in 0..3 {
        let started = Instant::now();
        expect_error(create().await, 503, "store_unavailable").await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "503 took {:?}",
            started.elapsed()
        );
    }

    let right = ["SENTINEL", "SET", MASTER_NAME, "auth-pass", REDIS_PASSWORD];
    sentinel.cmd::<()>(&right).await.unwrap();
    let created = retried_through_503s(Duration::from_secs(20), create).await;
    assert_eq!(created.status(), StatusCode::CREATED);
}
