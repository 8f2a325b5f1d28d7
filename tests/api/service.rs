//! The login operations driven directly, on paused tokio time: hold and
//! expiry deadlines are checked to the millisecond without sleeping.

use crate::helpers::test_config_text;
use qrlogin::App;
use qrlogin::clock::Clock;
use qrlogin::config::Config;
use qrlogin::secret::Secret;
use qrlogin::session::{PublicState, RequestInfo};
use qrlogin::store::{MemoryStore, Retention, Sweep};
use std::time::Duration;
use tokio::time::Instant;

fn app(extra: &str) -> App<MemoryStore> {
    let config = Config::parse(&test_config_text("http://127.0.0.1:1", extra)).unwrap();
    let store = MemoryStore::new(
        Retention {
            expired_grace: config.login.expired_grace,
        },
        1000,
    );
    App::new(config, store, Clock::manual()).unwrap()
}

fn browser_request() -> RequestInfo {
    RequestInfo {
        ip: "192.0.2.1".into(),
        user_agent: "test".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_held_poll_ends_exactly_at_the_hold() {
    let app = app("");
    let qr = app
        .create_qr(browser_request(), &Secret::generate())
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
    let app = app("[login]\nqr_ttl = \"30s\"");
    let qr = app
        .create_qr(browser_request(), &Secret::generate())
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
    let app = app("");
    let qr = app
        .create_qr(browser_request(), &Secret::generate())
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
    let alice = app.verifier.verify("demo-alice", app.clock.now()).unwrap();
    app.scan(&alice, &qr.id).await.unwrap();
    let (answer, took) = poller.await.unwrap();
    assert_eq!(answer.state, PublicState::Scanned);
    assert_eq!(answer.user.unwrap().id, "alice");
    assert_eq!(took, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn the_ticket_a_poll_returns_is_the_one_that_redeems() {
    let app = app("");
    let qr = app
        .create_qr(browser_request(), &Secret::generate())
        .await
        .unwrap();
    let alice = app.verifier.verify("demo-alice", app.clock.now()).unwrap();
    let scan = app.scan(&alice, &qr.id).await.unwrap();
    app.confirm(&alice, &qr.id, &scan.confirm_token)
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
        .redeem_ticket(
            ticket.expose(),
            qrlogin::login::Proof::PollToken(&qr.poll_token),
        )
        .await
        .unwrap();
    assert_eq!(login.account.user.id, "alice");
}

#[tokio::test]
async fn memory_stays_flat_under_steady_load() {
    let app = app("[login]\nexpired_grace = \"1m\"");
    for _ in 0..500 {
        app.create_qr(browser_request(), &Secret::generate())
            .await
            .unwrap();
    }
    assert_eq!(app.store.session_count(), 500);
    app.clock.advance(Duration::from_secs(300 + 60));
    let removed = app.store.sweep_expired(app.clock.now()).await.unwrap();
    assert_eq!(removed, 500);
    assert_eq!(app.store.session_count(), 0);
}
