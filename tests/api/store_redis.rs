//! The Redis store against the same conformance suite as the memory store.

use crate::redis_server::RedisServer;
use crate::store_conformance::{RETENTION, store_conformance_tests};
use qrlogin::store::{RedisSettings, RedisStore};
use std::time::Duration;

/// A store on its own fresh Redis, which stops when the test drops it.
async fn fresh_store() -> (RedisStore, RedisServer) {
    let server = RedisServer::start().await;
    let settings = RedisSettings {
        key_prefix: "conformance:".into(),
        // Wake-ups must come from the store's notifications, not the timer.
        resync_every: Duration::from_secs(60),
        ..RedisSettings::new(server.url())
    };
    let store = RedisStore::connect(&settings, RETENTION).await.unwrap();
    (store, server)
}

store_conformance_tests!(fresh_store());
