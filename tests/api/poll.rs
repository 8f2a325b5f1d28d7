//! The long poll: holding, waking, `wait`, `since`, tokens, expiry.

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// Far below the 25 s hold: an answer this fast was woken, not timed out.
const PROMPT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_held_poll_is_woken_by_scan_and_again_by_confirm() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;

    let started = Instant::now();
    let poll = t.held_poll(&qr, "");
    t.wait_for_pollers(&qr, 1).await;
    let confirm = t.scan_ok(ALICE, &qr).await;
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 201);
    assert_eq!(body["user"]["name"], "Alice");
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());

    let started = Instant::now();
    let poll = t.held_poll(&qr, "since=scanned");
    t.wait_for_pollers(&qr, 1).await;
    assert_eq!(
        t.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let body = json(poll.await.unwrap()).await;
    assert_eq!(body["code"], 200);
    assert!(body["ticket"].is_string());
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_held_poll_answers_408_when_the_hold_ends() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let started = Instant::now();
    let body = t.poll(&qr, "wait=1").await;
    assert_eq!(body, serde_json::json!({"code": 408, "state": "pending"}));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "answered before the hold: {took:?}"
    );
}

#[tokio::test]
async fn wait_zero_is_a_short_poll_and_wait_is_capped_at_poll_hold() {
    let t = spawn_app_with(|c| c.login.poll_hold = Duration::from_secs(1)).await;
    let qr = t.create_qr().await;
    let started = Instant::now();
    assert_eq!(t.poll(&qr, "wait=0").await["code"], 408);
    assert!(started.elapsed() < PROMPT);
    // wait=3600 is held for poll_hold (1 s), not an hour.
    let started = Instant::now();
    assert_eq!(t.poll(&qr, "wait=3600").await["code"], 408);
    assert!(started.elapsed() < PROMPT);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn since_answers_at_once_when_the_state_already_differs() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let started = Instant::now();
    // The browser thinks it is scanned; it is pending: answer now.
    assert_eq!(t.poll(&qr, "since=scanned").await["code"], 408);
    t.scan_ok(BOB, &qr).await;
    // Default since=pending, and it is scanned: answer now.
    assert_eq!(t.poll(&qr, "").await["code"], 201);
    assert!(started.elapsed() < PROMPT);
}

#[tokio::test]
async fn ten_pollers_of_one_session_all_wake() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let mut polls = Vec::new();
    for _ in 0..10 {
        // A client (connection) per poller, as separate tabs would have.
        polls.push(t.held_poll_with(&browser(), &qr, ""));
    }
    t.wait_for_pollers(&qr, 10).await;
    let started = Instant::now();
    t.scan_ok(ALICE, &qr).await;
    for p in polls {
        assert_eq!(json(p.await.unwrap()).await["code"], 201);
    }
    assert!(started.elapsed() < PROMPT);
    t.wait_for_pollers(&qr, 0).await;
}

#[tokio::test]
async fn a_poller_that_disconnects_leaves_nothing_behind() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client
        .get(t.url(&format!("/api/qr/{}/status", qr.id)))
        .bearer_auth(&qr.poll_token)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    drop(client);
    // The server noticed the closed connection and dropped the waiter.
    t.wait_for_pollers(&qr, 0).await;
}

#[tokio::test]
async fn the_poll_token_is_required_and_not_in_the_qr() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    // Whoever sees the QR has its content (and so the id): not enough.
    assert!(!qr.qr_content.contains(&qr.poll_token));
    assert_ne!(qr.poll_token, qr.id);
    assert!(
        qr.poll_token.len() >= 22 && qr.id.len() >= 22,
        "≥ 128 bits each"
    );
    let url = t.url(&format!("/api/qr/{}/status?wait=0", qr.id));
    let resp = t.client.get(&url).send().await.unwrap();
    expect_error(resp, 401, "unauthorized").await;
    for wrong in [
        qr.id.as_str(),
        qr.qr_content.as_str(),
        "x",
        &qr.poll_token[1..],
    ] {
        let resp = t.client.get(&url).bearer_auth(wrong).send().await.unwrap();
        expect_error(resp, 401, "unauthorized").await;
    }
    // Another session's token does not open this one.
    let other = t.create_qr().await;
    let resp = t
        .client
        .get(&url)
        .bearer_auth(&other.poll_token)
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "unauthorized").await;
}

#[tokio::test]
async fn ids_and_tokens_are_distinct_every_time() {
    let t = spawn_app().await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let qr = t.create_qr().await;
        assert!(seen.insert(qr.id));
        assert!(seen.insert(qr.poll_token));
    }
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let mut ghost = qr.clone();
    ghost.id = "AAAAAAAAAAAAAAAAAAAAAA".into();
    expect_error(t.status_raw(&ghost, "wait=0").await, 404, "not_found").await;
}

#[tokio::test]
async fn expired_sessions_answer_400_then_404() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    t.clock().advance(Duration::from_secs(301));
    let body = t.poll(&qr, "wait=0").await;
    assert_eq!(body, serde_json::json!({"code": 400, "state": "expired"}));
    // A held poll of an expired session answers at once, too.
    let started = Instant::now();
    assert_eq!(t.poll(&qr, "").await["code"], 400);
    assert!(started.elapsed() < PROMPT);
    // After the grace period (default 10 min) the code is forgotten.
    t.clock().advance(Duration::from_secs(600));
    expect_error(t.status_raw(&qr, "wait=0").await, 404, "not_found").await;
}

#[tokio::test]
async fn shutdown_answers_held_polls_instead_of_hanging() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let poll = t.held_poll_with(&browser(), &qr, "");
    t.wait_for_pollers(&qr, 1).await;
    let started = Instant::now();
    let stopped = tokio::spawn(t.shutdown());
    let resp = poll.await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["code"], 408);
    tokio::time::timeout(PROMPT, stopped)
        .await
        .expect("server did not stop")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < PROMPT);
}

/// A request the browser pipelines behind a held poll on the same
/// connection is kept while the poll is held and answered after it, in
/// order. hyper (patched, `vendor/hyper/QRLOGIN-PATCH.md`) watches a held
/// connection with a small read instead of a whole read buffer; the second
/// request is longer than that read, so part of it waits in the socket.
#[tokio::test]
async fn a_request_pipelined_behind_a_held_poll_is_answered_after_it() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let mut stream = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    let request = |query: &str, extra: &str| {
        format!(
            "GET /api/qr/{}/status?{query} HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {}\r\n{extra}\r\n",
            qr.id, qr.poll_token
        )
    };
    stream.write_all(request("", "").as_bytes()).await.unwrap();
    t.wait_for_pollers(&qr, 1).await;
    let padding = "p".repeat(300);
    let second = request(
        "wait=0",
        &format!("X-Padding: {padding}\r\nConnection: close\r\n"),
    );
    stream.write_all(second.as_bytes()).await.unwrap();
    // Give the server the chance to read part of it while the poll is held.
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.scan_ok(ALICE, &qr).await;
    let mut answers = Vec::new();
    tokio::time::timeout(PROMPT, stream.read_to_end(&mut answers))
        .await
        .expect("both answers, then the close")
        .unwrap();
    let answers = String::from_utf8(answers).unwrap();
    let bodies: Vec<&str> = answers
        .split("HTTP/1.1 ")
        .filter(|a| !a.is_empty())
        .map(|a| a.split_once("\r\n\r\n").expect("a head and a body").1)
        .collect();
    assert_eq!(bodies.len(), 2, "{answers}");
    for body in bodies {
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], 201, "{answers}");
        assert_eq!(body["user"]["name"], "Alice");
    }
}
