//! Trading the one-time ticket for a login.

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn fifty_parallel_exchanges_of_one_ticket_log_in_once() {
    let t = spawn_app().await;
    let (qr, ticket) = t.confirmed_qr(ALICE).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (client, url, token, ticket) = (
            browser(),
            t.url("/api/login/exchange"),
            qr.poll_token.clone(),
            ticket.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({ "ticket": ticket }))
                .send()
                .await
                .unwrap()
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for task in tasks {
        let resp = task.await.unwrap();
        match resp.status() {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_REQUEST => {
                expect_error(resp, 400, "invalid_ticket").await;
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, refused), (1, 49));
    // Losers of the race left no login behind.
    assert_eq!(t.store().account_count(), Some(1));
}

#[tokio::test]
async fn a_ticket_works_once() {
    let t = spawn_app().await;
    let (qr, ticket) = t.confirmed_qr(ALICE).await;
    assert_eq!(t.exchange(&qr, &ticket).await.status(), StatusCode::OK);
    expect_error(t.exchange(&qr, &ticket).await, 400, "invalid_ticket").await;
}

#[tokio::test]
async fn a_ticket_dies_after_ticket_ttl_but_the_login_waits_for_a_fresh_one() {
    let t = spawn_app().await;
    let (qr, ticket) = t.confirmed_qr(ALICE).await;
    t.clock().advance(Duration::from_secs(61));
    expect_error(t.exchange(&qr, &ticket).await, 400, "invalid_ticket").await;
    // The person at the computer still has the rest of the code's life.
    let body = t.poll(&qr, "wait=0&since=pending").await;
    assert_eq!(body["state"], "confirmed", "{body}");
    assert!(body["expires_in"].as_u64().unwrap() > 200, "{body}");
    let fresh = new_ticket(&t, &qr).await;
    assert_eq!(fresh["expires_in"], 60, "{fresh}");
    let fresh_ticket = fresh["ticket"].as_str().unwrap();
    assert_ne!(fresh_ticket, ticket);
    assert_eq!(
        fresh["redirect"],
        format!("/api/login/complete?ticket={fresh_ticket}")
    );
    assert_eq!(t.exchange(&qr, fresh_ticket).await.status(), StatusCode::OK);
    // Single use, and no more tickets once it is used.
    expect_error(t.exchange(&qr, fresh_ticket).await, 400, "invalid_ticket").await;
    expect_error(new_ticket_raw(&t, &qr).await, 409, "already_finished").await;
}

#[tokio::test]
async fn a_fresh_ticket_kills_the_old_and_needs_the_poll_token_and_a_confirm() {
    let t = spawn_app().await;
    let pending = t.create_qr().await;
    expect_error(new_ticket_raw(&t, &pending).await, 409, "not_confirmed").await;
    let (qr, first) = t.confirmed_qr(ALICE).await;
    let mut stranger = qr.clone();
    stranger.poll_token = pending.poll_token.clone();
    expect_error(new_ticket_raw(&t, &stranger).await, 401, "unauthorized").await;
    let fresh = new_ticket(&t, &qr).await;
    expect_error(t.exchange(&qr, &first).await, 400, "invalid_ticket").await;
    // The poll now hands out the fresh ticket.
    let body = t.poll(&qr, "wait=0&since=pending").await;
    assert_eq!(body["ticket"], fresh["ticket"], "{body}");
    // Past the code's life, the login is gone.
    t.clock().advance(Duration::from_secs(301));
    expect_error(new_ticket_raw(&t, &qr).await, 410, "expired").await;
}

async fn new_ticket_raw(t: &TestApp, qr: &Qr) -> reqwest::Response {
    t.client
        .post(t.url(&format!("/api/qr/{}/ticket", qr.id)))
        .bearer_auth(&qr.poll_token)
        .send()
        .await
        .unwrap()
}

async fn new_ticket(t: &TestApp, qr: &Qr) -> serde_json::Value {
    let resp = new_ticket_raw(t, qr).await;
    assert_eq!(resp.status(), StatusCode::OK);
    json(resp).await
}

#[tokio::test]
async fn exchange_needs_the_sessions_poll_token() {
    let t = spawn_app().await;
    let (qr, ticket) = t.confirmed_qr(ALICE).await;
    let resp = t
        .client
        .post(t.url("/api/login/exchange"))
        .json(&serde_json::json!({ "ticket": ticket }))
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "unauthorized").await;
    let other = t.create_qr().await;
    let mut wrong = qr.clone();
    wrong.poll_token = other.poll_token;
    expect_error(t.exchange(&wrong, &ticket).await, 401, "unauthorized").await;
    // The refusals did not burn the ticket.
    assert_eq!(t.exchange(&qr, &ticket).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn forged_or_early_tickets_are_refused() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let forged = format!("{}.{}", qr.id, "A".repeat(43));
    for ticket in [forged.as_str(), "", "nonsense", &qr.poll_token, &qr.id] {
        expect_error(t.exchange(&qr, ticket).await, 400, "invalid_ticket").await;
    }
    // Scanned but not confirmed: the real ticket does not work yet either.
    let confirm = t.scan_ok(ALICE, &qr).await;
    let (other, other_ticket) = t.confirmed_qr(BOB).await;
    expect_error(t.exchange(&qr, &other_ticket).await, 401, "unauthorized").await;
    assert_eq!(
        t.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let ticket = t.poll(&qr, "wait=0&since=scanned").await["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(t.exchange(&qr, &ticket).await.status(), StatusCode::OK);
    assert_eq!(
        t.exchange(&other, &other_ticket).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_poller_gets_the_same_ticket() {
    let t = spawn_app().await;
    let (qr, ticket) = t.confirmed_qr(ALICE).await;
    let again = t.poll(&qr, "wait=0&since=pending").await;
    assert_eq!(again["ticket"], ticket.as_str());
}

#[tokio::test]
async fn login_sessions_expire_after_session_ttl() {
    let t = spawn_app_with(|c| c.login.session_ttl = Duration::from_secs(3600)).await;
    let (qr, ticket) = t.confirmed_qr(ALICE).await;
    assert_eq!(t.exchange(&qr, &ticket).await.status(), StatusCode::OK);
    assert_eq!(t.me(&t.client).await.status(), StatusCode::OK);
    t.clock().advance(Duration::from_secs(3601));
    expect_error(t.me(&t.client).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn logout_without_a_session_is_harmless() {
    let t = spawn_app().await;
    let resp = t.client.post(t.url("/api/logout")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}
