//! Abuse at the connection level, on real sockets: stalled and trickled
//! request bodies are cut off, and open connections are capped per address
//! and overall, refused with a fast JSON answer.

use crate::helpers::{TestApp, spawn_app_with};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_millis(400);
/// Far above any delay a busy machine adds, far below "forever".
const PATIENCE: Duration = Duration::from_secs(10);

async fn short_body_timeouts() -> TestApp {
    spawn_app_with(|c| {
        c.server.body_read_timeout = TIMEOUT;
        c.server.body_min_rate = 1000;
    })
    .await
}

/// The head of a JSON POST announcing `len` body bytes.
fn post_head(path: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n"
    )
}

/// Everything the server sends until it closes; fails if it does not
/// close within [`PATIENCE`].
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut buf))
        .await
        .expect("the server kept the connection open");
    // A reset after the answer is a close too.
    drop(read);
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_its_connection_closed() {
    let t = short_body_timeouts().await;
    for sent in ["", "{"] {
        let mut stream = TcpStream::connect(t.addr).await.unwrap();
        let started = Instant::now();
        let request = format!("{}{sent}", post_head("/api/qr", 16_000));
        stream.write_all(request.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut stream).await;
        let took = started.elapsed();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"error\":\"body_timeout\""), "{answer}");
        assert!(took >= TIMEOUT - Duration::from_millis(50), "{took:?}");
    }
}

/// A byte every 200 ms never stalls for the timeout, but averages 5 bytes a
/// second against the 1000 required: cut off soon after the grace.
#[tokio::test]
async fn a_trickled_body_is_cut_off_on_its_average_rate() {
    let t = short_body_timeouts().await;
    let mut stream = TcpStream::connect(t.addr).await.unwrap();
    stream
        .write_all(post_head("/api/qr", 16_000).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = async {
        loop {
            tokio::time::sleep(TIMEOUT / 2).await;
            if stream.write_all(b" ").await.is_err() {
                break;
            }
            if started.elapsed() > PATIENCE {
                panic!("the trickle was never cut off");
            }
        }
    };
    trickle.await;
    let answer = read_until_closed(&mut stream).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // One grace and a few bytes' worth of rate, not the trickle's whole
    // 16,000 bytes (800 s at this pace).
    assert!(started.elapsed() < PATIENCE, "{:?}", started.elapsed());
}

/// A body that keeps a fair pace is read whole and answered normally.
#[tokio::test]
async fn a_body_at_a_fair_pace_is_served() {
    let t = short_body_timeouts().await;
    let mut stream = TcpStream::connect(t.addr).await.unwrap();
    let body = br#"{"authorize": 12345678}"#;
    stream
        .write_all(post_head("/api/qr", body.len()).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(TIMEOUT / 4).await;
    stream.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(TIMEOUT / 4).await;
    stream.write_all(&body[10..]).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    // Read whole, then refused for what it says.
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

/// Opens `n` connections and makes sure the server accepted each (a
/// request answered on it).
async fn open_served(t: &TestApp, n: usize) -> Vec<TcpStream> {
    let mut open = Vec::new();
    for _ in 0..n {
        let mut stream = TcpStream::connect(t.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        open.push(stream);
    }
    open
}

/// A connection over a cap gets its JSON answer at once, then EOF.
async fn expect_refused(t: &TestApp, status: u16, code: &str) {
    let mut stream = TcpStream::connect(t.addr).await.unwrap();
    let _ = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut stream).await;
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status}")),
        "{answer}"
    );
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("retry-after: "), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

/// Waits until a new connection is served again (the server notices a
/// closed connection when it reads its EOF).
async fn served_again(t: &TestApp) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut stream = TcpStream::connect(t.addr).await.unwrap();
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let answer = read_until_closed(&mut stream).await;
        if answer.starts_with("HTTP/1.1 200") {
            return;
        }
        assert!(Instant::now() < deadline, "still refused: {answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let t = spawn_app_with(|c| c.server.max_connections_per_ip = 3).await;
    let mut held = open_served(&t, 3).await;
    expect_refused(&t, 429, "too_many_connections").await;
    held.pop();
    served_again(&t).await;
}

#[tokio::test]
async fn past_the_overall_cap_connections_are_shed_with_503() {
    let t = spawn_app_with(|c| c.server.max_connections = Some(2)).await;
    let mut held = open_served(&t, 2).await;
    expect_refused(&t, 503, "busy").await;
    held.pop();
    served_again(&t).await;
}

/// Behind nginx every connection comes from nginx: a trusted proxy is not
/// capped per address (it would throttle every user at once).
#[tokio::test]
async fn a_trusted_proxy_is_not_capped_per_address() {
    let t = spawn_app_with(|c| {
        c.server.max_connections_per_ip = 2;
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let held = open_served(&t, 5).await;
    assert_eq!(held.len(), 5);
}
