//! Two instances sharing one Redis Cluster (`store.backend =
//! "redis-cluster"`), built from the typed config as the binary builds
//! them: cross-instance wake-ups, shared logins, one winner among racing
//! redemptions, and a quick 503 while the cluster is away.

use crate::helpers::*;
use crate::redis_cluster_server::RedisCluster;
use qrlogin::config::{Backend, Config, RedactedString};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// Far below the 60 s resync: an answer this fast was woken by pub/sub.
const PROMPT: Duration = Duration::from_secs(5);

/// The config of an instance on `cluster` (seeded with every node).
fn cluster_config(cluster: &RedisCluster) -> Config {
    let mut config = redis_config("redis://unused", "qrl:");
    config.store.backend = Backend::RedisCluster;
    config.store.redis_url = None;
    config.store.redis_cluster_nodes = cluster
        .urls()
        .into_iter()
        .map(RedactedString::from)
        .collect();
    config
}

async fn two_instances(cluster: &RedisCluster) -> (TestApp, TestApp) {
    let a = spawn_redis_app_from(cluster_config(cluster), None).await;
    let b = spawn_redis_app_from(cluster_config(cluster), None).await;
    (a, b)
}

#[tokio::test]
async fn a_poll_on_one_instance_wakes_on_a_scan_and_confirm_on_another() {
    let cluster = RedisCluster::start(3, 0).await;
    let (a, b) = two_instances(&cluster).await;
    let qr = a.create_qr().await;

    let poll = a.held_poll(&qr, "");
    a.wait_for_pollers(&qr, 1).await;
    let started = Instant::now();
    let confirm = b.scan_ok(ALICE, &qr).await;
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 201);
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

    // The login lives in the cluster: made on B, known on A, ended on A for B too.
    let ticket = body["ticket"].as_str().unwrap();
    let resp = b.exchange_with(&a.client, &qr, ticket).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert_eq!(a.me(&a.client).await.status(), StatusCode::OK);
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
    let ready = a.client.get(a.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn twenty_exchanges_spread_over_both_instances_log_in_once() {
    let cluster = RedisCluster::start(3, 0).await;
    let (a, b) = two_instances(&cluster).await;
    let (qr, ticket) = a.confirmed_qr(BOB).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let base = if i % 2 == 0 { &a.base } else { &b.base }.clone();
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
async fn a_cluster_that_is_down_means_quick_503s() {
    let mut cluster = RedisCluster::start(3, 0).await;
    let (a, _b) = two_instances(&cluster).await;
    let qr = a.create_qr().await;
    for node in &mut cluster.nodes {
        node.kill();
    }
    let started = Instant::now();
    let resp = a.client.post(a.url("/api/qr")).send().await.unwrap();
    expect_error(resp, 503, "store_unavailable").await;
    expect_error(a.status_raw(&qr, "wait=0").await, 503, "store_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "503s must be quick: {:?}",
        started.elapsed()
    );
    let ready = a.client.get(a.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// README's cluster `[store]` is valid as written; with only its addresses
/// changed to this test's cluster (one seed node: the others are
/// discovered), an instance on it works.
#[tokio::test]
async fn the_readme_cluster_config_works_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("### Redis Cluster").unwrap()..];
    let block = section.split("```toml\n").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    let mut config = Config::parse(&test_config_text("http://qrlogin.test", block)).unwrap();
    assert_eq!(config.store.backend, Backend::RedisCluster);
    assert_eq!(config.store.redis_cluster_nodes.len(), 3);

    let cluster = RedisCluster::start(3, 0).await;
    config.store.redis_cluster_nodes = vec![RedactedString::from(cluster.urls()[0].clone())];
    let app = spawn_redis_app_from(config, None).await;
    let (qr, ticket) = app.confirmed_qr(ALICE).await;
    let resp = app.exchange_with(&app.client, &qr, &ticket).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.me(&app.client).await.status(), StatusCode::OK);
}
