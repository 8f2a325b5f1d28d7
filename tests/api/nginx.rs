//! The shipped `deploy/nginx.conf` in front of two instances on one Redis.
//! The test runs that very file, with only ports and paths swapped.

use crate::helpers::*;
use crate::nginx_server::Nginx;
use crate::redis_server::RedisServer;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// The shipped file in front of instances listening on `upstreams`.
async fn start_nginx(upstreams: [u16; 2]) -> Nginx {
    let swaps = [
        (
            "server 127.0.0.1:8081",
            format!("server 127.0.0.1:{}", upstreams[0]),
        ),
        (
            "server 127.0.0.1:8082",
            format!("server 127.0.0.1:{}", upstreams[1]),
        ),
    ];
    Nginx::start("nginx.conf", &swaps).await
}

/// Waits (bounded) until one poll of `id` is held on either instance.
async fn wait_for_one_poller(a: &TestApp, b: &TestApp, id: &str) {
    let id = qrlogin::session::QrId::parse(id).unwrap();
    for _ in 0..500 {
        if a.store().waiting_pollers(&id) + b.store().waiting_pollers(&id) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the poll was never held");
}

/// A browser on 127.0.0.2, so nginx (on 127.0.0.1, the trusted proxy) and
/// the client have different addresses.
fn remote_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_whole_flow_through_nginx_with_a_held_poll() {
    let redis = RedisServer::start().await;
    let a = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    let b = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    let nginx = start_nginx([a.addr.port(), b.addr.port()]).await;
    let browser = remote_browser();

    // The client tries to spoof its address; nginx appends the real one.
    let resp = browser
        .post(nginx.url("/api/qr"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-real-ip", "6.6.6.6")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let qr = json(resp).await;
    let (id, token) = (
        qr["id"].as_str().unwrap().to_owned(),
        qr["poll_token"].as_str().unwrap().to_owned(),
    );
    let status_url = nginx.url(&format!("/api/qr/{id}/status"));

    let poll = {
        let (browser, url, token) = (browser.clone(), status_url.clone(), token.clone());
        tokio::spawn(async move { browser.get(url).bearer_auth(token).send().await.unwrap() })
    };
    wait_for_one_poller(&a, &b, &id).await;
    let phone = reqwest::Client::new();
    let resp = phone
        .post(nginx.url("/api/mobile/scan"))
        .bearer_auth(ALICE)
        .json(&serde_json::json!({ "qr": qr["qr_content"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let scan = json(resp).await;
    assert_eq!(
        scan["request"]["ip"], "127.0.0.2",
        "the phone must see the real client, not the spoofed header"
    );
    let started = Instant::now();
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 201);

    let poll = {
        let (browser, url, token) = (
            browser.clone(),
            format!("{status_url}?since=scanned"),
            token.clone(),
        );
        tokio::spawn(async move { browser.get(url).bearer_auth(token).send().await.unwrap() })
    };
    wait_for_one_poller(&a, &b, &id).await;
    let resp = phone
        .post(nginx.url("/api/mobile/confirm"))
        .bearer_auth(ALICE)
        .json(&serde_json::json!({ "qr_id": id, "confirm_token": scan["confirm_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "wake-ups through nginx must be prompt"
    );

    let redirect = body["redirect"].as_str().unwrap();
    let resp = browser
        .get(nginx.url(&format!("{redirect}&next=/")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    for _ in 0..4 {
        // Whichever instance answers knows the login.
        let me = browser.get(nginx.url("/api/me")).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::OK);
    }

    // The metrics never leave through nginx: its own 404, not qrlogin's JSON.
    let resp = browser.get(nginx.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let from_nginx = resp.text().await.unwrap();
    assert!(from_nginx.contains("nginx"), "{from_nginx}");

    // nginx names each request itself: qrlogin keeps X-Request-Id from its
    // trusted proxy, so an id the client chose must never get that far.
    let resp = browser
        .get(nginx.url("/healthz"))
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32, "not nginx's $request_id: {id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
}

/// Proves `proxy_read_timeout` in the shipped config: a poll held longer
/// than nginx's default 60 s read timeout is answered, not cut with a 504.
#[tokio::test]
async fn a_poll_held_past_nginxs_default_timeout_is_not_cut() {
    let redis = RedisServer::start().await;
    let hold = |c: &mut qrlogin::config::Config| c.login.poll_hold = Duration::from_secs(65);
    let a = spawn_redis_app(&redis.url(), "qrl:", hold, None).await;
    let b = spawn_redis_app(&redis.url(), "qrl:", hold, None).await;
    let nginx = start_nginx([a.addr.port(), b.addr.port()]).await;
    let browser = remote_browser();
    let qr = json(browser.post(nginx.url("/api/qr")).send().await.unwrap()).await;
    let started = Instant::now();
    let resp = browser
        .get(nginx.url(&format!(
            "/api/qr/{}/status?wait=65",
            qr["id"].as_str().unwrap()
        )))
        .bearer_auth(qr["poll_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["code"], 408);
    assert!(
        started.elapsed() >= Duration::from_secs(65),
        "answered early: {:?}",
        started.elapsed()
    );
}

/// The login page's event stream through the shipped file: each event
/// reaches the browser the moment qrlogin sends it, on a stream that
/// nginx keeps open and unbuffered, authorised by the cookie alone (what
/// `EventSource` sends).
#[tokio::test]
async fn events_arrive_through_nginx_at_once() {
    let redis = RedisServer::start().await;
    let a = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    let b = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    let nginx = start_nginx([a.addr.port(), b.addr.port()]).await;
    let browser = remote_browser();
    let qr = json(browser.post(nginx.url("/api/qr")).send().await.unwrap()).await;
    let id = qr["id"].as_str().unwrap();
    let resp = browser
        .get(nginx.url(&format!("/api/qr/{id}/events")))
        // As a browser asks: a proxy that compressed the stream would
        // hold events back in its compressor.
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    let mut events = crate::sse::EventStream::new(resp);
    assert_eq!(events.expect_event().await.0, 1);
    wait_for_one_poller(&a, &b, id).await;
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(nginx.url("/api/mobile/scan"))
        .bearer_auth(ALICE)
        .json(&serde_json::json!({ "qr": qr["qr_content"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (version, body) = events.expect_event().await;
    assert_eq!((version, body["code"].as_u64()), (2, Some(201)));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the event took {:?} through nginx",
        started.elapsed()
    );
}
