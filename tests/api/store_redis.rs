//! The Redis store against the same conformance suite as the memory store.

use crate::redis_server::RedisServer;
use crate::store_conformance::{RETENTION, new_session, store_conformance_tests};
use qrlogin::clock::{Clock, Timestamp};
use qrlogin::secret::Secret;
use qrlogin::session::{QrId, User};
use qrlogin::store::{
    AccountSession, PutMode, RecordKind, RedisSettings, RedisStore, SessionStore, UsedRecord,
};
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

/// Whatever the store writes, Redis forgets by itself: every key has a TTL.
#[tokio::test]
async fn every_key_the_redis_store_writes_expires() {
    let (store, server) = fresh_store().await;
    let now = Clock::system().now();
    let later = |secs| now.plus(Duration::from_secs(secs));

    store
        .insert(&new_session(QrId::generate(), now, Duration::from_secs(60)))
        .await
        .unwrap();
    let account = AccountSession {
        user: User {
            id: "alice".into(),
            name: "Alice".into(),
            avatar: None,
        },
        created_at: now,
        expires_at: later(3600),
        id: "login-1".into(),
        browser: qrlogin::session::RequestInfo {
            ip: "192.0.2.7".into(),
            user_agent: "Firefox".into(),
        },
    };
    store
        .put_account(&Secret::generate().hash(), &account)
        .await
        .unwrap();
    for kind in RecordKind::ALL {
        let put = |mode| store.put_record(kind, "k", "{}", later(600), mode, now);
        assert!(put(PutMode::Create).await.unwrap());
        assert!(put(PutMode::Replace).await.unwrap());
        assert!(store.use_record(kind, "k", now).await.unwrap().is_some());
    }
    for owner in ["alice", "a b:c/ü"] {
        store.index_add(owner, "m", later(100)).await.unwrap();
        store.index_add(owner, "n", later(200)).await.unwrap();
        store.index_add(owner, "m", later(300)).await.unwrap();
        assert!(store.index_remove(owner, "n").await.unwrap());
    }

    let keys: Vec<String> = server.cmd(&["KEYS", "*"]).await.unwrap();
    // One QR session, one login, a record of each kind, two indexes.
    assert_eq!(keys.len(), 4 + RecordKind::ALL.len(), "{keys:?}");
    for key in &keys {
        let ttl: i64 = server.cmd(&["PTTL", key]).await.unwrap();
        assert!(ttl > 0, "{key} has no expiry (PTTL {ttl})");
    }
}

/// An index key lives exactly as long as its latest member, and adding
/// prunes members that are already past.
#[tokio::test]
async fn a_redis_index_expires_with_its_latest_member() {
    let (store, server) = fresh_store().await;
    let now = Clock::system().now();
    let later = |secs| now.plus(Duration::from_secs(secs));
    let key = "conformance:user:a b:c/ü";
    let ttl_secs = || async {
        let ms: i64 = server.cmd(&["PTTL", key]).await.unwrap();
        (ms + 500) / 1000
    };

    store.index_add("a b:c/ü", "m", later(100)).await.unwrap();
    store.index_add("a b:c/ü", "n", later(300)).await.unwrap();
    assert_eq!(ttl_secs().await, 300);
    store.index_add("a b:c/ü", "n", later(50)).await.unwrap();
    assert_eq!(ttl_secs().await, 100);

    let past = Timestamp::from_millis(now.as_millis() - 1_000);
    store.index_add("a b:c/ü", "gone", past).await.unwrap();
    let held: i64 = server.cmd(&["ZCARD", key]).await.unwrap();
    assert_eq!(held, 2);
}

/// `bounded` repeats a call whose reply was lost. A repeated use (same
/// nonce) is still the first use; anyone else is a reuse.
#[tokio::test]
async fn a_retried_use_stays_the_first_use() {
    let (store, _server) = fresh_store().await;
    let now = Clock::system().now();
    let code = RecordKind::Code;
    let put = store.put_record(
        code,
        "k",
        "{}",
        now.plus(Duration::from_secs(600)),
        PutMode::Create,
        now,
    );
    assert!(put.await.unwrap());
    let first = Some(UsedRecord {
        json: "{}".into(),
        first_use: true,
    });
    let reuse = Some(UsedRecord {
        json: "{}".into(),
        first_use: false,
    });
    let as_caller = |nonce| store.use_record_with_nonce(code, "k", now, nonce);
    assert_eq!(as_caller("caller-1").await.unwrap(), first);
    assert_eq!(as_caller("caller-1").await.unwrap(), first);
    assert_eq!(store.use_record(code, "k", now).await.unwrap(), reuse);
    assert_eq!(as_caller("caller-2").await.unwrap(), reuse);
    assert_eq!(as_caller("caller-1").await.unwrap(), first);
}
