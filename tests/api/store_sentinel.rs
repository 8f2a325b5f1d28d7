//! The Redis store reached through Redis Sentinel (a password on the data
//! node and on the sentinel, a non-zero database), against the same
//! conformance suite as every store.

use crate::sentinel_deployment::{DB, SentinelDeployment};
use crate::store_conformance::{RETENTION, new_session, store_conformance_tests};
use qrlogin::clock::Clock;
use qrlogin::session::QrId;
use qrlogin::store::{RedisSettings, RedisStore, SessionStore};
use std::time::Duration;

/// A store found through its own fresh sentinel, which stops (with its
/// primary) when the test drops it.
async fn fresh_store() -> (RedisStore, SentinelDeployment) {
    let deployment = SentinelDeployment::start_small().await;
    let settings = RedisSettings {
        key_prefix: "conformance:".into(),
        // Wake-ups must come from the store's notifications, not the timer.
        resync_every: Duration::from_secs(60),
        ..RedisSettings::sentinel(deployment.settings())
    };
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
