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
