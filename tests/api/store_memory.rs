//! The memory store against the shared store conformance suite.

use qrlogin::store::MemoryStore;
use qrlogin::store::conformance::RETENTION;

qrlogin::store_conformance_tests!(async { (MemoryStore::new(RETENTION, 10_000), ()) });
qrlogin::sweep_conformance_tests!(async { (MemoryStore::new(RETENTION, 10_000), ()) });

#[tokio::test]
async fn the_memory_store_refuses_past_its_capacity() {
    use qrlogin::store::{SessionStore, StoreError};
    let store = MemoryStore::new(RETENTION, 1);
    let s = |id| {
        qrlogin::session::LoginSession::new(
            id,
            qrlogin::secret::Secret::generate().hash(),
            qrlogin::secret::Secret::generate().hash(),
            qrlogin::secret::Secret::generate().hash(),
            qrlogin::session::RequestInfo {
                ip: String::new(),
                user_agent: String::new(),
            },
            qrlogin::clock::Timestamp::from_millis(0),
            std::time::Duration::from_secs(60),
        )
    };
    assert!(
        store
            .insert(&s(qrlogin::session::QrId::generate()))
            .await
            .unwrap()
    );
    assert!(matches!(
        store.insert(&s(qrlogin::session::QrId::generate())).await,
        Err(StoreError::Full)
    ));
}
