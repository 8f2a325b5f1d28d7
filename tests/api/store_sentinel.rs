//! The Redis store reached through Redis Sentinel (a password on the data
//! node and on the sentinel, a non-zero database), against the same
//! conformance suite as every store.

use crate::sentinel_deployment::{DB, SentinelDeployment};
use crate::store_conformance::{RETENTION, new_session, store_conformance_tests};
use qrlogin::clock::Clock;
use qrlogin::session::QrId;
use qrlogin::store::{RedisSettings, RedisStore, SessionStore, StoreError};
use std::time::{Duration, Instant};

/// A store found through its own fresh sentinel, which stops (with its
/// primary) when the test drops it.
async fn fresh_store() -> (RedisStore, SentinelDeployment) {
    fresh_store_with(|_| {}).await
}

/// [`fresh_store`] with its settings changed by `tweak` first.
async fn fresh_store_with(
    tweak: impl FnOnce(&mut RedisSettings),
) -> (RedisStore, SentinelDeployment) {
    let deployment = SentinelDeployment::start_small().await;
    let mut settings = RedisSettings {
        key_prefix: "conformance:".into(),
        // Wake-ups must come from the store's notifications, not the timer.
        resync_every: Duration::from_secs(60),
        ..RedisSettings::sentinel(deployment.settings())
    };
    tweak(&mut settings);
    let store = RedisStore::connect(&settings, RETENTION).await.unwrap();
    (store, deployment)
}

store_conformance_tests!(fresh_store());

/// The data node's password and database apply to the primary the
/// sentinel names: the session lands in database `DB`, not 0.
#[tokio::test]
async fn the_store_writes_to_the_configured_database_of_the_primary() {
    let (store, deployment) = fresh_store().await;
    let now = Clock::system().now();
    let id = QrId::generate();
    store
        .insert(&new_session(id.clone(), now, Duration::from_secs(60)))
        .await
        .unwrap();
    let primary = &deployment.data[0];
    let key = format!("conformance:qr:{id}");
    let in_db = |db: i64| {
        let url = format!("{}/{db}", primary.url());
        let key = key.clone();
        async move {
            let client = redis::Client::open(url).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            redis::cmd("EXISTS")
                .arg(key)
                .query_async::<i64>(&mut conn)
                .await
                .unwrap()
        }
    };
    assert_eq!(in_db(DB).await, 1);
    assert_eq!(in_db(0).await, 0);
}

/// A primary turned into a replica under the store (as the sentinels do
/// to an old primary that comes back) refuses writes with `READONLY`: the
/// store asks the sentinel again rather than keep writing there, finds no
/// primary (the sentinel still names the node, but `ROLE` says replica),
/// answers at once that there is none, and finds it again once it is one.
#[tokio::test]
async fn a_primary_turned_read_only_makes_the_store_ask_the_sentinel_again() {
    // No periodic check of the sentinel within the test: only the
    // refused write may send the store there.
    let (store, deployment) = fresh_store_with(|s| s.heartbeat = Duration::from_secs(600)).await;
    let now = Clock::system().now();
    let session = |id| new_session(id, now, Duration::from_secs(60));
    let id = QrId::generate();
    store.insert(&session(id.clone())).await.unwrap();

    let primary = &deployment.data[0];
    primary
        .cmd::<()>(&["REPLICAOF", "127.0.0.1", "1"])
        .await
        .unwrap();
    let refused = store.insert(&session(QrId::generate())).await.unwrap_err();
    assert!(refused.to_string().contains("ReadOnly"), "{refused}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.get(&id, now).await {
            Err(StoreError::Unavailable(why)) if why.contains("no redis primary") => break,
            other => assert!(Instant::now() < deadline, "still {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    primary
        .cmd::<()>(&["REPLICAOF", "NO", "ONE"])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = store.insert(&session(QrId::generate())).await {
        assert!(Instant::now() < deadline, "no primary again: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.get(&id, now).await.unwrap().is_some());
}

/// A sentinel that accepts connections and never answers (a host dropping
/// packets, a frozen process), listed first, with a timeout shorter than
/// the redis crate's own sentinel timeouts: the others are asked at the
/// same time, so the store still finds the primary.
#[tokio::test]
async fn a_silent_sentinel_listed_first_does_not_hide_the_primary() {
    let deployment = SentinelDeployment::start_small().await;
    // Never accepted: the kernel completes the handshake, nobody answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut sentinels = deployment.settings();
    let silent_port = silent.local_addr().unwrap().port();
    sentinels
        .sentinels
        .insert(0, ("127.0.0.1".to_owned(), silent_port));
    let settings = RedisSettings {
        timeout: Duration::from_millis(700),
        ..RedisSettings::sentinel(sentinels)
    };
    let store = RedisStore::start(&settings, RETENTION).unwrap();
    let now = Clock::system().now();
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Err(e) = store
        .insert(&new_session(QrId::generate(), now, Duration::from_secs(60)))
        .await
    {
        assert!(Instant::now() < deadline, "no primary found: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(silent);
}

/// How many commands `sentinel` has processed since it started (a
/// sentinel's INFO has no per-command counts).
async fn commands_processed(sentinel: &crate::sentinel_deployment::Node) -> u64 {
    let info: String = sentinel.cmd(&["INFO", "stats"]).await.unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// An overloaded primary (here: paused for writes) makes commands time
/// out; it is still the primary, so that must not send the store to the
/// sentinels (each check a connection to every sentinel) over and over, nor
/// make it resubscribe. (Before the fix every timeout did, one check per
/// 50 ms.)
#[tokio::test]
async fn commands_that_time_out_do_not_make_the_store_ask_the_sentinels() {
    // No periodic check of the sentinel within the test.
    let (store, deployment) = fresh_store_with(|s| {
        s.heartbeat = Duration::from_secs(600);
        s.timeout = Duration::from_millis(200);
    })
    .await;
    let primary = &deployment.data[0];
    let subscriber = || async {
        let list: String = primary
            .cmd(&["CLIENT", "LIST", "TYPE", "pubsub"])
            .await
            .unwrap();
        list.split_whitespace()
            .find_map(|f| f.strip_prefix("id="))
            .map(str::to_owned)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let subscribed = loop {
        if let Some(id) = subscriber().await {
            break id;
        }
        assert!(Instant::now() < deadline, "never subscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let sentinel = &deployment.sentinels[0];
    let before = commands_processed(sentinel).await;

    primary
        .cmd::<()>(&["CLIENT", "PAUSE", "3000", "WRITE"])
        .await
        .unwrap();
    let now = Clock::system().now();
    let writers = (0..4).map(|_| async {
        let mut timed_out = 0;
        let until = Instant::now() + Duration::from_millis(2500);
        while Instant::now() < until {
            let session = new_session(QrId::generate(), now, Duration::from_secs(60));
            if store.insert(&session).await.is_err() {
                timed_out += 1;
            }
        }
        timed_out
    });
    let timed_out: u32 = futures_util::future::join_all(writers)
        .await
        .into_iter()
        .sum();
    assert!(timed_out >= 8, "only {timed_out} writes timed out");

    // Less the first INFO; a check (a fresh connection's AUTH and
    // CLIENT SETINFO, then SENTINEL MASTER) is at most 4 commands.
    let commands = commands_processed(sentinel).await - before - 1;
    assert!(commands <= 4, "the sentinel processed {commands} commands");
    primary.cmd::<()>(&["CLIENT", "UNPAUSE"]).await.unwrap();
    assert_eq!(subscriber().await, Some(subscribed));
}

/// A primary demoted under the store still answers `PING`; readiness
/// (`/readyz`) must not call it healthy, since it refuses every write.
#[tokio::test]
async fn readiness_fails_on_a_primary_demoted_under_the_store() {
    let (store, deployment) = fresh_store_with(|s| s.heartbeat = Duration::from_secs(600)).await;
    store.check_health().await.unwrap();
    deployment.data[0]
        .cmd::<()>(&["REPLICAOF", "127.0.0.1", "1"])
        .await
        .unwrap();
    let unhealthy = store.check_health().await.unwrap_err();
    assert!(
        matches!(unhealthy, StoreError::Unavailable(_)),
        "{unhealthy}"
    );
}
