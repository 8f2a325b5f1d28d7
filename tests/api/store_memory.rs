//! The memory store against the shared store conformance suite.

use crate::store_conformance::{
    RETENTION, new_session, store_conformance_tests, sweep_conformance_tests,
};
use qrlogin::clock::Timestamp;
use qrlogin::session::QrId;
use qrlogin::store::{MemoryStore, SessionStore, StoreError, Sweep};
use std::time::Duration;

store_conformance_tests!(async { (MemoryStore::new(RETENTION, 10_000), ()) });
sweep_conformance_tests!(async { (MemoryStore::new(RETENTION, 10_000), ()) });

#[tokio::test]
async fn the_memory_store_refuses_past_its_capacity() {
    let store = MemoryStore::new(RETENTION, 1);
    let s = || {
        new_session(
            QrId::generate(),
            Timestamp::from_millis(0),
            Duration::from_secs(60),
        )
    };
    assert!(store.insert(&s()).await.unwrap());
    assert!(matches!(store.insert(&s()).await, Err(StoreError::Full)));
}

/// An index is dropped with its last member, whether removed or swept, so
/// owners who come and go leave nothing behind.
#[tokio::test]
async fn the_memory_store_drops_empty_indexes() {
    let store = MemoryStore::new(RETENTION, 10);
    let at = Timestamp::from_millis;
    store.index_add("alice", "m", at(1_000)).await.unwrap();
    store.index_add("bob", "m", at(1_000)).await.unwrap();
    store.index_add("bob", "n", at(5_000)).await.unwrap();
    assert_eq!(store.index_count(), 2);
    assert!(store.index_remove("alice", "m").await.unwrap());
    assert_eq!(store.index_count(), 1);
    assert_eq!(store.sweep_expired(at(1_000)).await.unwrap(), 1);
    assert_eq!(store.index_count(), 1);
    assert_eq!(store.sweep_expired(at(5_000)).await.unwrap(), 1);
    assert_eq!(store.index_count(), 0);
}
