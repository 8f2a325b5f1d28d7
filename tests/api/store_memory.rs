//! The memory store against the shared store conformance suite.

use crate::store_conformance::{
    RETENTION, new_session, store_conformance_tests, sweep_conformance_tests,
};
use qrlogin::clock::Timestamp;
use qrlogin::session::QrId;
use qrlogin::store::{MemoryStore, SessionStore, StoreError};
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
