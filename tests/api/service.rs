//! The login operations driven directly, on paused tokio time: hold and
//! expiry deadlines are checked to the millisecond without sleeping.

use qrlogin::clock::Clock;
use qrlogin::config::LoginConfig;
use qrlogin::login::LoginService;
use qrlogin::secret::Secret;
use qrlogin::session::{Proof, PublicState, RequestInfo, User};
use qrlogin::store::{MemoryStore, Retention, Store};
use std::time::Duration;
use tokio::time::Instant;

/// The login service on its own memory store (also returned, for its
/// counters), with the default lifetimes changed by `tweak`.
fn service_with(tweak: impl FnOnce(&mut LoginConfig)) -> (LoginService, MemoryStore) {
    let mut policy = LoginConfig::default();
    tweak(&mut policy);
    let retention = Retention {
        expired_grace: policy.expired_grace,
    };
    let store = MemoryStore::new(retention, 1000);
    let service = LoginService::new(Store::Memory(store.clone()), Clock::manual(), policy);
    (service, store)
}

fn app() -> LoginService {
    service_with(|_| {}).0
}

fn alice() -> User {
    User {
        id: "alice".into(),
        name: "Alice".into(),
        avatar: None,
    }
}

fn browser_request() -> RequestInfo {
    RequestInfo {
        ip: "192.0.2.1".into(),
        user_agent: "test".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_held_poll_ends_exactly_at_the_hold() {
    let app = app();
    let qr = app
        .create_qr(browser_request(), &Secret::generate(), None)
        .await
        .unwrap();
    let started = Instant::now();
    let answer = app
        .poll(
            &qr.id,
            &qr.poll_token,
            PublicState::Pending,
            Duration::from_secs(25),
        )
        .await
        .unwrap();
    assert_eq!(answer.state, PublicState::Pending);
    assert_eq!(started.elapsed(), Duration::from_secs(25));
}

#[tokio::test(start_paused = true)]
async fn a_held_poll_answers_expired_at_the_moment_of_expiry() {
    let app = service_with(|p| p.qr_ttl = Duration::from_secs(30)).0;
    let qr = app
        .create_qr(browser_request(), &Secret::generate(), None)
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(10)).await;
    let started = Instant::now();
    let answer = app
        .poll(
            &qr.id,
            &qr.poll_token,
            PublicState::Pending,
            Duration::from_secs(25),
        )
        .await
        .unwrap();
    assert_eq!(answer.state, PublicState::Expired);
    assert_eq!(started.elapsed(), Duration::from_secs(20));
}

#[tokio::test(start_paused = true)]
async fn a_held_poll_wakes_on_scan_without_time_passing() {
    let app = app();
    let qr = app
        .create_qr(browser_request(), &Secret::generate(), None)
        .await
        .unwrap();
    let poller = {
        let (app, id, token) = (app.clone(), qr.id.clone(), qr.poll_token.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let a = app
                .poll(&id, &token, PublicState::Pending, Duration::from_secs(25))
                .await
                .unwrap();
            (a, started.elapsed())
        })
    };
    tokio::task::yield_now().await;
    let alice = alice();
    app.scan(&alice, &qr.id).await.unwrap();
    let (answer, took) = poller.await.unwrap();
    assert_eq!(answer.state, PublicState::Scanned);
    assert_eq!(answer.user.unwrap().id, "alice");
    assert_eq!(took, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn the_ticket_a_poll_returns_is_the_one_that_redeems() {
    let app = app();
    let qr = app
        .create_qr(browser_request(), &Secret::generate(), None)
        .await
        .unwrap();
    let alice = alice();
    let scan = app.scan(&alice, &qr.id).await.unwrap();
    app.confirm(&alice, &qr.id, &scan.confirm_token, None, None)
        .await
        .unwrap();
    let answer = app
        .poll(&qr.id, &qr.poll_token, PublicState::Scanned, Duration::ZERO)
        .await
        .unwrap();
    let ticket = answer.ticket.unwrap();
    // A poller with another token cannot even read it.
    assert!(
        app.poll(
            &qr.id,
            &Secret::generate(),
            PublicState::Scanned,
            Duration::ZERO
        )
        .await
        .is_err()
    );
    let login = app
        .redeem_ticket(ticket.expose(), Proof::PollToken(&qr.poll_token))
        .await
        .unwrap();
    assert_eq!(login.account.user.id, "alice");
}

#[tokio::test]
async fn memory_stays_flat_under_steady_load() {
    let (app, store) = service_with(|p| p.expired_grace = Duration::from_secs(60));
    for _ in 0..500 {
        app.create_qr(browser_request(), &Secret::generate(), None)
            .await
            .unwrap();
    }
    assert_eq!(store.session_count(), 500);
    app.clock().advance(Duration::from_secs(300 + 60));
    let removed = app.sweep_expired().await.unwrap();
    assert_eq!(removed, 500);
    assert_eq!(store.session_count(), 0);
}
