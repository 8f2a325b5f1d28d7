//! The push channel, `GET /api/qr/{id}/events`: every state change as a
//! Server-Sent Event, resuming, its cookie, who may open it, heartbeats,
//! expiry, shutdown, and across instances. (Through nginx: `nginx.rs`; the
//! budget it shares with long polls: `limits.rs`.)

use crate::helpers::*;
use crate::redis_server::RedisServer;
use crate::sse::{EventStream, Item};
use qrlogin::login::Held;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// Far below any hold or heartbeat: an event this fast was pushed.
const PROMPT: Duration = Duration::from_secs(5);

on_every_store!(
    events_follow_a_login_in_order_and_end_after_the_confirm,
    a_cancel_on_the_phone_ends_the_stream,
    last_event_id_resumes_without_a_duplicate_or_a_gap,
    the_cookie_post_api_qr_sets_opens_the_stream_and_only_that_one,
    a_token_in_the_query_string_is_not_accepted,
    wrong_or_missing_tokens_and_unknown_ids_are_refused,
    a_rescan_by_the_same_user_sends_no_duplicate,
);

fn events_url(t: &TestApp, qr: &Qr) -> String {
    t.url(&format!("/api/qr/{}/events", qr.id))
}

async fn events_follow_a_login_in_order_and_end_after_the_confirm(t: &TestApp) {
    let qr = t.create_qr().await;
    let mut events = t.events(&qr, None).await;
    assert_eq!(events.headers()["x-accel-buffering"], "no");
    // Not `Sse`'s `no-cache`: the confirmed event carries the ticket.
    assert_eq!(events.headers()["cache-control"], "no-store");
    assert_eq!(
        events.expect_event().await,
        (1, json!({"code": 408, "state": "pending"}))
    );
    t.wait_for_pollers(&qr, 1).await;
    assert_eq!(
        t.held(),
        Held {
            polls: 0,
            streams: 1
        }
    );

    let started = Instant::now();
    let confirm = t.scan_ok(ALICE, &qr).await;
    let (id, scanned) = events.expect_event().await;
    assert_eq!(id, 2);
    assert_eq!(scanned["code"], 201);
    assert_eq!(scanned["state"], "scanned");
    assert_eq!(scanned["user"]["name"], "Alice");
    t.wait_for_pollers(&qr, 1).await;
    assert_eq!(
        t.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let (id, confirmed) = events.expect_event().await;
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert_eq!(id, 3);
    assert_eq!(confirmed["code"], 200);
    let ticket = confirmed["ticket"].as_str().unwrap();
    assert_eq!(
        confirmed["redirect"],
        format!("/api/login/complete?ticket={ticket}")
    );
    events.expect_end().await;
    t.wait_for_held(Held::default()).await;

    // The ticket is the long poll's, and it logs the browser in.
    assert_eq!(t.poll(&qr, "wait=0").await["ticket"], ticket);
    assert_eq!(t.exchange(&qr, ticket).await.status(), StatusCode::OK);
}

async fn a_cancel_on_the_phone_ends_the_stream(t: &TestApp) {
    let qr = t.create_qr().await;
    let mut events = t.events(&qr, None).await;
    assert_eq!(events.expect_event().await.0, 1);
    let confirm = t.scan_ok(BOB, &qr).await;
    assert_eq!(events.expect_event().await.0, 2);
    assert_eq!(t.cancel(BOB, &qr, &confirm).await.status(), StatusCode::OK);
    assert_eq!(
        events.expect_event().await,
        (
            3,
            json!({"code": 202, "state": "cancelled", "reason": "phone"})
        )
    );
    events.expect_end().await;
}

async fn last_event_id_resumes_without_a_duplicate_or_a_gap(t: &TestApp) {
    let qr = t.create_qr().await;
    let mut events = t.events(&qr, None).await;
    assert_eq!(events.expect_event().await.0, 1);
    drop(events);
    // The server lets go of a stream whose client left.
    t.wait_for_held(Held::default()).await;

    // Resumed at the current version: nothing is sent until it changes.
    // An id past the current one (1) was never sent: 400, not a stream
    // that sends nothing until the session catches up with it.
    let resp = t.events_raw(&qr, Some(2)).await;
    expect_error(resp, 400, "invalid_request").await;
    let mut resumed = t.events(&qr, Some(1)).await;
    t.wait_for_held(Held {
        polls: 0,
        streams: 1,
    })
    .await;
    t.wait_for_pollers(&qr, 1).await;
    let confirm = t.scan_ok(ALICE, &qr).await;
    let (id, body) = resumed.expect_event().await;
    assert_eq!((id, body["state"].as_str()), (2, Some("scanned")));
    drop(resumed);

    // The confirm lands while the browser is away: resuming after 2 sends
    // exactly it, then the stream ends.
    assert_eq!(
        t.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let mut resumed = t.events(&qr, Some(2)).await;
    let (id, body) = resumed.expect_event().await;
    assert_eq!((id, body["code"].as_u64()), (3, Some(200)));
    assert!(body["ticket"].is_string());
    resumed.expect_end().await;

    // After the last event nothing will follow: 204, which stops an
    // EventSource from reconnecting.
    let resp = t.events_raw(&qr, Some(3)).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.text().await.unwrap().is_empty());
    // From an older id, the current state at once (not the history).
    let mut resumed = t.events(&qr, Some(1)).await;
    assert_eq!(resumed.expect_event().await.0, 3);
    resumed.expect_end().await;

    // An id this stream never sent is refused: not a number, or past the
    // session's last event (3).
    for bad in ["abc", "-1", "1.5", "", "4", "999"] {
        let resp = reqwest::Client::new()
            .get(events_url(t, &qr))
            .bearer_auth(&qr.poll_token)
            .header("last-event-id", bad)
            .send()
            .await
            .unwrap();
        expect_error(resp, 400, "invalid_request").await;
    }
}

/// The `Set-Cookie` header named `name` of `resp`.
fn set_cookie(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

async fn the_cookie_post_api_qr_sets_opens_the_stream_and_only_that_one(t: &TestApp) {
    let resp = t.client.post(t.url("/api/qr")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cookie = set_cookie(&resp, "qrl_poll");
    let body = json(resp).await;
    let (id, token) = (
        body["id"].as_str().unwrap(),
        body["poll_token"].as_str().unwrap(),
    );
    let attributes: Vec<&str> = cookie.split("; ").collect();
    assert_eq!(attributes[0], format!("qrl_poll={token}"));
    for expected in [
        "HttpOnly",
        "SameSite=Strict",
        &format!("Path=/api/qr/{id}/events"),
        // The code's life (5 min) and the ticket window (60 s).
        "Max-Age=360",
    ] {
        assert!(attributes.contains(&expected), "{expected} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain-http public_url: {cookie}"
    );

    // The browser's EventSource sends it, and nothing else: no header.
    let first = Qr {
        id: id.to_owned(),
        poll_token: token.to_owned(),
        qr_content: body["qr_content"].as_str().unwrap().to_owned(),
        body: body.clone(),
    };
    let open = |qr: &Qr| t.client.get(events_url(t, qr)).send();
    let mut events = EventStream::new(open(&first).await.unwrap());
    assert_eq!(events.expect_event().await.1["state"], "pending");

    // A second code in the same browser (another tab) has a cookie of its
    // own; neither replaces the other.
    let second = t.create_qr().await;
    t.scan_ok(ALICE, &second).await;
    let mut events = EventStream::new(open(&second).await.unwrap());
    assert_eq!(events.expect_event().await.1["state"], "scanned");
    let mut events = EventStream::new(open(&first).await.unwrap());
    assert_eq!(events.expect_event().await.1["state"], "pending");

    // No other request carries it (Path), and no other endpoint takes it.
    let resp = t
        .client
        .get(t.url(&format!("/api/qr/{id}/status?wait=0")))
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "unauthorized").await;
    let resp = reqwest::Client::new()
        .get(t.url(&format!("/api/qr/{id}/status?wait=0")))
        .header("cookie", format!("qrl_poll={token}"))
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_events_cookie_is_secure_on_https() {
    let t = spawn_app_at("https://login.example.test").await;
    let resp = t.client.post(t.url("/api/qr")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cookie = set_cookie(&resp, "qrl_poll");
    assert!(cookie.split("; ").any(|a| a == "Secure"), "{cookie}");
}

async fn a_token_in_the_query_string_is_not_accepted(t: &TestApp) {
    let qr = t.create_qr().await;
    for name in ["poll_token", "access_token", "token", "authorization"] {
        let resp = reqwest::Client::new()
            .get(events_url(t, &qr))
            .query(&[(name, &qr.poll_token)])
            .send()
            .await
            .unwrap();
        expect_error(resp, 401, "unauthorized").await;
    }
}

async fn wrong_or_missing_tokens_and_unknown_ids_are_refused(t: &TestApp) {
    let qr = t.create_qr().await;
    let get = |url: String| reqwest::Client::new().get(url);
    let resp = get(events_url(t, &qr)).send().await.unwrap();
    expect_error(resp, 401, "unauthorized").await;
    let resp = get(events_url(t, &qr))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "unauthorized").await;
    let resp = get(events_url(t, &qr))
        .header("cookie", "qrl_poll=not-the-token")
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "unauthorized").await;
    // Another session's token opens only that session.
    let other = t.create_qr().await;
    let resp = get(events_url(t, &qr))
        .bearer_auth(&other.poll_token)
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "unauthorized").await;

    let never_issued = qrlogin::session::QrId::generate();
    for id in [never_issued.as_str(), "not-an-id"] {
        let resp = get(t.url(&format!("/api/qr/{id}/events")))
            .bearer_auth(&qr.poll_token)
            .send()
            .await
            .unwrap();
        expect_error(resp, 404, "not_found").await;
    }
    assert_eq!(t.held(), Held::default(), "refusals hold nothing");
}

/// The stream, like the long poll, tells of a change of state: a second
/// scan by the same user (the phone scanned again) moves the version but
/// sends nothing; the next event is the confirm.
async fn a_rescan_by_the_same_user_sends_no_duplicate(t: &TestApp) {
    let qr = t.create_qr().await;
    let mut events = t.events(&qr, None).await;
    assert_eq!(events.expect_event().await.0, 1);
    t.wait_for_pollers(&qr, 1).await;
    t.scan_ok(ALICE, &qr).await;
    assert_eq!(events.expect_event().await.1["state"], "scanned");
    t.wait_for_pollers(&qr, 1).await;
    let confirm = t.scan_ok(ALICE, &qr).await;
    assert_eq!(
        t.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let (id, body) = events.expect_event().await;
    assert_eq!((id, body["state"].as_str()), (4, Some("confirmed")));
    events.expect_end().await;
}

/// What a stream learns is reported as a held long poll's answer is: the
/// wake-up of a stream that waited for a scan is timed, an expiry a stream
/// tells its client is counted (once), a resumed stream with nothing to
/// send counts nothing.
#[tokio::test]
async fn streams_report_their_wake_ups_and_the_expiries_they_tell() {
    use crate::observe::sample;
    let t = spawn_app().await;
    let woke = |text: &str| sample(text, "qrlogin_poll_wake_up_seconds_count");
    let expired = |text: &str| sample(text, "qrlogin_qr_expired_total{kind=\"browser\"}");

    let qr = t.create_qr().await;
    let mut events = t.events(&qr, None).await;
    assert_eq!(events.expect_event().await.0, 1);
    t.wait_for_pollers(&qr, 1).await;
    assert_eq!(
        woke(&t.metrics().await),
        Some(0.0),
        "the first event waited for nothing"
    );
    t.scan_ok(ALICE, &qr).await;
    assert_eq!(events.expect_event().await.0, 2);
    let text = t.metrics().await;
    assert_eq!(woke(&text), Some(1.0), "{text}");
    drop(events);
    t.wait_for_held(Held::default()).await;

    let late = t.create_qr().await;
    t.clock().advance(Duration::from_secs(301));
    let mut events = t.events(&late, None).await;
    assert_eq!(
        events.expect_event().await,
        (2, json!({"code": 400, "state": "expired"}))
    );
    events.expect_end().await;
    let text = t.metrics().await;
    assert_eq!(expired(&text), Some(1.0), "{text}");
    assert_eq!(woke(&text), Some(1.0), "it did not wait: {text}");
    // The client has the expiry: nothing to tell, nothing counted.
    let resp = t.events_raw(&late, Some(2)).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(expired(&t.metrics().await), Some(1.0));
}

/// A stream that waits until the code runs out: its wake-up at the expiry
/// is timed, and the expiry counted once. Paused time: no real waiting.
#[tokio::test(start_paused = true)]
async fn a_stream_woken_by_the_expiry_reports_it() {
    use crate::observe::sample;
    let t = spawn_app_with(|c| {
        c.login.qr_ttl = Duration::from_secs(40);
        c.login.poll_hold = Duration::from_secs(10);
    })
    .await;
    let qr = t.create_qr().await;
    let mut events = t.events(&qr, None).await;
    assert_eq!(events.expect_event().await.0, 1);
    assert_eq!(events.expect_event().await.1["state"], "expired");
    events.expect_end().await;
    let text = t.metrics().await;
    for (series, value) in [
        ("qrlogin_qr_expired_total{kind=\"browser\"}", 1.0),
        ("qrlogin_poll_wake_up_seconds_count", 1.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
}

/// Heartbeat comments come every 15 s while nothing changes, and the
/// stream ends with the expiry. Paused time: no real waiting.
#[tokio::test(start_paused = true)]
async fn heartbeats_every_15_s_then_the_expiry_ends_the_stream() {
    let t = spawn_app_with(|c| {
        c.login.qr_ttl = Duration::from_secs(40);
        c.login.poll_hold = Duration::from_secs(10);
    })
    .await;
    let qr = t.create_qr().await;
    let mut events = t.events(&qr, None).await;
    let opened = tokio::time::Instant::now();
    assert_eq!(events.expect_event().await.0, 1);
    let mut seen = Vec::new();
    while let Some(item) = events.next_item().await {
        let at = opened.elapsed().as_secs();
        match item {
            Item::Comment(text) => seen.push((at, format!("comment {text:?}"))),
            Item::Event(e) => seen.push((at, format!("{} {}", e.version(), e.json()))),
        }
    }
    assert_eq!(
        seen,
        [
            (15, "comment \"\"".to_owned()),
            (30, "comment \"\"".to_owned()),
            (40, r#"2 {"code":400,"state":"expired"}"#.to_owned()),
        ]
    );
}

/// At shutdown a stream ends at once (the browser reconnects elsewhere),
/// as a held poll answers.
#[tokio::test]
async fn shutdown_ends_streams_and_answers_held_polls_at_once() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let mut events = t.events(&qr, None).await;
    assert_eq!(events.expect_event().await.0, 1);
    let poll = t.held_poll(&qr, "");
    t.wait_for_held(Held {
        polls: 1,
        streams: 1,
    })
    .await;
    let started = Instant::now();
    t.shutdown().await.unwrap();
    events.expect_end().await;
    assert_eq!(json(poll.await.unwrap()).await["code"], 408);
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
}

/// Two instances on one Redis: the phone's scan and confirm land on B,
/// the stream held on A has them at once (pub/sub, not the 60 s resync);
/// a stream A ends at shutdown resumes on B.
#[tokio::test]
async fn streams_follow_changes_made_on_another_instance_and_resume_there() {
    let redis = RedisServer::start().await;
    let a = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    let b = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;

    let qr = a.create_qr().await;
    let mut events = a.events(&qr, None).await;
    assert_eq!(events.expect_event().await.0, 1);
    a.wait_for_pollers(&qr, 1).await;
    let started = Instant::now();
    let confirm = b.scan_ok(ALICE, &qr).await;
    assert_eq!(events.expect_event().await.0, 2);
    a.wait_for_pollers(&qr, 1).await;
    assert_eq!(
        b.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let (id, body) = events.expect_event().await;
    assert_eq!((id, body["code"].as_u64()), (3, Some(200)));
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    events.expect_end().await;

    let qr = b.create_qr().await;
    let mut events = a.events(&qr, None).await;
    assert_eq!(events.expect_event().await.0, 1);
    a.shutdown().await.unwrap();
    events.expect_end().await;
    b.scan_ok(BOB, &qr).await;
    let mut resumed = b.events(&qr, Some(1)).await;
    let (id, body) = resumed.expect_event().await;
    assert_eq!((id, body["state"].as_str()), (2, Some("scanned")));
}
