//! The Redis Cluster store: the same conformance suite as every store, on
//! a private 3-primary cluster, then the cluster's own hard cases — a slot
//! migrating under a held poll (the unsolicited `SUNSUBSCRIBE`), `ASK` and
//! `MOVED` redirections, and a primary failing over to its replica.

use crate::helpers::TestStore;
use crate::redis_cluster_server::RedisCluster;
use crate::store_conformance::{RETENTION, new_session, store_conformance_tests};
use qrlogin::clock::{Clock, Timestamp};
use qrlogin::secret::{ConfirmTokenHash, Secret, SecretHash};
use qrlogin::session::{LoginSession, QrId, RequestInfo, User};
use qrlogin::store::{
    AccountSession, PutMode, RecordKind, RedisClusterSettings, RedisClusterStore, SessionStore,
};
use std::time::Duration;
use tokio::time::Instant;

impl TestStore for RedisClusterStore {
    fn waiting_pollers(&self, id: &QrId) -> usize {
        RedisClusterStore::waiting_pollers(self, id)
    }
}

/// Far below the 60 s resync: a wake-up this fast came through pub/sub.
const PROMPT: Duration = Duration::from_secs(5);

/// A store on `cluster` with keys under `prefix`, re-reading only every
/// minute, so wake-ups in these tests must come through sharded pub/sub.
async fn store_on(cluster: &RedisCluster, prefix: &str) -> RedisClusterStore {
    let settings = RedisClusterSettings {
        key_prefix: prefix.into(),
        resync_every: Duration::from_secs(60),
        ..RedisClusterSettings::new(cluster.urls())
    };
    RedisClusterStore::connect(&settings, RETENTION)
        .await
        .unwrap()
}

/// A store on its own fresh 3-primary cluster, which stops when the test drops it.
async fn fresh_store() -> (RedisClusterStore, RedisCluster) {
    let cluster = RedisCluster::start(3, 0).await;
    let store = store_on(&cluster, "conformance:").await;
    (store, cluster)
}

store_conformance_tests!(fresh_store());

fn session_key(prefix: &str, id: &QrId) -> String {
    format!("{prefix}{{qr:{id}}}")
}

fn wake_channel(prefix: &str, id: &QrId) -> String {
    format!("{prefix}{{qr:{id}}}:wake")
}

fn scanned(s: &LoginSession, now: Timestamp) -> LoginSession {
    let user = User {
        id: "alice".into(),
        name: "Alice".into(),
        avatar: None,
    };
    s.scan(now, &user, ConfirmTokenHash::of(&Secret::generate()))
        .unwrap()
}

/// Holds a wait on `s` in `store` in the background; yields how long it
/// waited once it returns.
fn hold_poll(store: &RedisClusterStore, s: &LoginSession) -> tokio::task::JoinHandle<Instant> {
    let (store, id, v) = (store.clone(), s.id.clone(), s.version);
    tokio::spawn(async move {
        store
            .wait_for_change(&id, v, Instant::now() + Duration::from_secs(40))
            .await
            .unwrap();
        Instant::now()
    })
}

/// Waits (bounded) until `store` holds a poll on `id` and its channel is subscribed.
async fn until_subscribed(store: &RedisClusterStore, id: &QrId) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(store.waiting_pollers(id) == 1 && store.subscribed_to(id)) {
        assert!(Instant::now() < deadline, "the poll never subscribed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Subscribers of `channel` on node `node` (`PUBSUB SHARDNUMSUB`).
async fn shard_subscribers(cluster: &RedisCluster, node: usize, channel: &str) -> i64 {
    let reply: Vec<redis::Value> = cluster.nodes[node]
        .cmd(&["PUBSUB", "SHARDNUMSUB", channel])
        .await
        .unwrap();
    match reply.get(1) {
        Some(redis::Value::Int(n)) => *n,
        other => panic!("PUBSUB SHARDNUMSUB: {other:?}"),
    }
}

/// Each session's key and channel share a slot; the store's keys spread
/// over every primary, and every key expires.
#[tokio::test]
async fn a_session_and_its_channel_share_a_slot_and_keys_spread() {
    let cluster = RedisCluster::start(3, 0).await;
    let store = store_on(&cluster, "qrl:").await;
    let now = Clock::system().now();
    let mut slots = std::collections::HashSet::new();
    for _ in 0..30 {
        let s = new_session(QrId::generate(), now, Duration::from_secs(60));
        assert!(store.insert(&s).await.unwrap());
        let key_slot = cluster.slot_of(&session_key("qrl:", &s.id)).await;
        assert_eq!(
            key_slot,
            cluster.slot_of(&wake_channel("qrl:", &s.id)).await
        );
        slots.insert(cluster.owner_of(key_slot).await);
    }
    assert_eq!(slots.len(), 3, "30 sessions all on {slots:?}");
    for node in &cluster.nodes {
        let keys: Vec<String> = node.cmd(&["KEYS", "*"]).await.unwrap();
        for key in keys {
            let ttl: i64 = node.cmd(&["PTTL", &key]).await.unwrap();
            assert!(ttl > 0, "{key} has no expiry");
        }
    }
}

/// The trap: when a held session's slot moves to another primary, the old
/// one unsubscribes us without being asked and later `SPUBLISH`es go to
/// the new one. The store subscribes again there, so a change made on
/// another instance still wakes the poll at once (not at the 60 s re-read).
#[tokio::test]
async fn a_poll_held_across_a_slot_migration_still_wakes_promptly() {
    let cluster = RedisCluster::start(3, 0).await;
    let (a, b) = (
        store_on(&cluster, "qrl:").await,
        store_on(&cluster, "qrl:").await,
    );
    let now = Clock::system().now();
    let s = new_session(QrId::generate(), now, Duration::from_secs(120));
    assert!(b.insert(&s).await.unwrap());
    let (key, channel) = (session_key("qrl:", &s.id), wake_channel("qrl:", &s.id));
    let slot = cluster.slot_of(&key).await;
    let from = cluster.owner_of(slot).await;
    let to = (from + 1) % 3;

    let poll = hold_poll(&a, &s);
    until_subscribed(&a, &s.id).await;
    assert_eq!(shard_subscribers(&cluster, from, &channel).await, 1);

    cluster.migrate_slot(slot, &[&key], from, to).await;
    // Subscribed again, on the slot's new owner.
    let deadline = Instant::now() + Duration::from_secs(10);
    while shard_subscribers(&cluster, to, &channel).await != 1 {
        assert!(
            Instant::now() < deadline,
            "never subscribed again after the slot moved"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!poll.is_finished(), "the migration alone ended the poll");

    let changed = Instant::now();
    assert!(
        b.compare_and_set(s.version, &scanned(&s, now))
            .await
            .unwrap()
    );
    let woke = tokio::time::timeout(PROMPT, poll)
        .await
        .expect("the poll slept through the change")
        .unwrap();
    assert!(woke - changed < PROMPT);
    // The last poll left: the subscription is dropped where it now lives.
    until_no_subscriber(&cluster, to, &channel).await;
    assert_eq!(shard_subscribers(&cluster, from, &channel).await, 0);
}

/// Waits (bounded) until node `node` has no subscriber on `channel`: a
/// released session's subscription is not left behind.
async fn until_no_subscriber(cluster: &RedisCluster, node: usize, channel: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while shard_subscribers(cluster, node, channel).await != 0 {
        assert!(Instant::now() < deadline, "{channel} still subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls given up at every point of their subscribing (a client going
/// away) leave no subscription behind on the session's node.
#[tokio::test]
async fn polls_cancelled_while_subscribing_leave_no_subscription() {
    let cluster = RedisCluster::start(3, 0).await;
    let store = store_on(&cluster, "qrl:").await;
    let now = Clock::system().now();
    let mut sessions = Vec::new();
    for n in 0..30_u64 {
        let s = new_session(QrId::generate(), now, Duration::from_secs(120));
        assert!(store.insert(&s).await.unwrap());
        // Given up after 0..3 ms: before, during or after its SSUBSCRIBE.
        let poll = hold_poll(&store, &s);
        tokio::time::sleep(Duration::from_micros(n * 100)).await;
        poll.abort();
        sessions.push(s);
    }
    for s in &sessions {
        let channel = wake_channel("qrl:", &s.id);
        let owner = cluster.owner_of(cluster.slot_of(&channel).await).await;
        until_no_subscriber(&cluster, owner, &channel).await;
    }
}

/// During a migration a key already moved is answered with `ASK` by its
/// old node, and after it every key of the slot with `MOVED`: reads and
/// scripted writes follow both.
#[tokio::test]
async fn ask_and_moved_redirections_are_followed() {
    let cluster = RedisCluster::start(3, 0).await;
    let store = store_on(&cluster, "qrl:").await;
    let now = Clock::system().now();
    let s = new_session(QrId::generate(), now, Duration::from_secs(120));
    assert!(store.insert(&s).await.unwrap());
    let key = session_key("qrl:", &s.id);
    let slot = cluster.slot_of(&key).await;
    let from = cluster.owner_of(slot).await;
    let to = (from + 1) % 3;

    cluster.begin_migration(slot, from, to).await;
    cluster.migrate_keys(&[&key], from, to).await;
    let asked: redis::RedisResult<redis::Value> =
        cluster.nodes[from].cmd(&["HGET", &key, "v"]).await;
    assert!(
        asked
            .as_ref()
            .is_err_and(|e| e.to_string().to_uppercase().starts_with("ASK")),
        "{asked:?}"
    );
    assert_eq!(store.get(&s.id, now).await.unwrap(), Some(s.clone()));
    let next = scanned(&s, now);
    assert!(store.compare_and_set(s.version, &next).await.unwrap());

    cluster.end_migration(slot, from, to).await;
    let moved: redis::RedisResult<redis::Value> =
        cluster.nodes[from].cmd(&["HGET", &key, "v"]).await;
    assert!(
        moved
            .as_ref()
            .is_err_and(|e| e.to_string().to_uppercase().starts_with("MOVED")),
        "{moved:?}"
    );
    assert_eq!(store.get(&s.id, now).await.unwrap(), Some(next.clone()));
    let cancelled = next.cancel_by_browser(now, &Secret::from_client("conformance-poll-token"));
    assert!(
        store
            .compare_and_set(next.version, &cancelled.unwrap())
            .await
            .unwrap()
    );
    let on_target: i64 = cluster.nodes[to].cmd(&["EXISTS", &key]).await.unwrap();
    assert_eq!(on_target, 1);
}

fn account(now: Timestamp) -> AccountSession {
    AccountSession {
        user: User {
            id: "alice".into(),
            name: "Alice".into(),
            avatar: None,
        },
        created_at: now,
        expires_at: now.plus(Duration::from_secs(3600)),
        id: "login-1".into(),
        browser: RequestInfo {
            ip: "192.0.2.7".into(),
            user_agent: "Firefox".into(),
        },
    }
}

/// Retries `op` until it gives `Some` (a shard failing over answers 503
/// meanwhile), for at most 30 s.
async fn eventually<T, F, Fut>(what: &str, op: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = op().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A primary is killed and its replica promoted: the login, record and
/// session it held are all there afterwards, new ones can be written, and a
/// poll held on a session of that shard still wakes through pub/sub.
#[tokio::test]
async fn nothing_is_lost_when_a_primary_fails_over() {
    let mut cluster = RedisCluster::start(3, 1).await;
    let (a, b) = (
        store_on(&cluster, "qrl:").await,
        store_on(&cluster, "qrl:").await,
    );
    let now = Clock::system().now();
    let login = Secret::generate().hash();
    let login_key = format!("qrl:login:{}", login.to_hex());
    let primary = cluster.owner_of(cluster.slot_of(&login_key).await).await;
    b.put_account(&login, &account(now)).await.unwrap();
    // A session and a record on the same shard.
    let s = loop {
        let s = new_session(QrId::generate(), now, Duration::from_secs(120));
        let slot = cluster.slot_of(&session_key("qrl:", &s.id)).await;
        if cluster.owner_of(slot).await == primary {
            break s;
        }
    };
    assert!(b.insert(&s).await.unwrap());
    let record = loop {
        let k = Secret::generate().hash().to_hex();
        let slot = cluster.slot_of(&format!("qrl:code:{k}")).await;
        if cluster.owner_of(slot).await == primary {
            break k;
        }
    };
    let until = now.plus(Duration::from_secs(600));
    let put = b.put_record(RecordKind::Code, &record, "{}", until, PutMode::Create, now);
    assert!(put.await.unwrap());
    let poll = hold_poll(&a, &s);
    until_subscribed(&a, &s.id).await;
    let replica = cluster.replica_of(primary).await;
    cluster.wait_for_replica_sync(primary, replica).await;

    // A login on another shard, to read while this one fails over.
    let elsewhere = loop {
        let key = Secret::generate().hash();
        let slot = cluster
            .slot_of(&format!("qrl:login:{}", key.to_hex()))
            .await;
        if cluster.owner_of(slot).await != primary {
            break key;
        }
    };
    b.put_account(&elsewhere, &account(now)).await.unwrap();

    cluster.nodes[primary].kill();
    // Meanwhile the other shards keep answering.
    for _ in 0..5 {
        let got = b.get_account(&elsewhere, now).await;
        assert_eq!(got.unwrap(), Some(account(now)), "another shard failed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = eventually("the login after failover", || async {
        b.get_account(&login, now).await.ok()
    })
    .await;
    assert_eq!(got, Some(account(now)));
    // The replica took over (the other nodes learn it within moments).
    let slot = cluster.slot_of(&login_key).await;
    eventually("the replica owning the slot", || async {
        (cluster.owner_of(slot).await == replica).then_some(())
    })
    .await;
    let got = b.get_record(RecordKind::Code, &record, now).await.unwrap();
    assert_eq!(got.as_deref(), Some("{}"));
    let again = Secret::generate().hash();
    eventually("a new login after failover", || async {
        b.put_account(&again, &account(now)).await.ok()
    })
    .await;
    assert!(b.get_account(&again, now).await.unwrap().is_some());

    // The held poll's channel moved with the shard: a confirm still wakes it.
    assert!(!poll.is_finished(), "the failover alone ended the poll");
    let channel = wake_channel("qrl:", &s.id);
    let deadline = Instant::now() + Duration::from_secs(15);
    while shard_subscribers(&cluster, replica, &channel).await != 1 {
        assert!(
            Instant::now() < deadline,
            "never subscribed on the new primary"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let changed = Instant::now();
    assert!(
        b.compare_and_set(s.version, &scanned(&s, now))
            .await
            .unwrap()
    );
    let woke = tokio::time::timeout(PROMPT, poll)
        .await
        .expect("the poll slept through the change")
        .unwrap();
    assert!(woke - changed < PROMPT);
}

/// Until the cluster answers, operations fail fast with `Unavailable`
/// (a 503), never hang; the store starts anyway.
#[tokio::test]
async fn an_unreachable_cluster_answers_unavailable_quickly() {
    let settings = RedisClusterSettings {
        timeout: Duration::from_millis(300),
        ..RedisClusterSettings::new(vec!["redis://127.0.0.1:1".into()])
    };
    let store = RedisClusterStore::start(&settings, RETENTION).unwrap();
    assert!(store.connecting());
    let started = Instant::now();
    let key: SecretHash = Secret::generate().hash();
    assert!(
        store
            .get_account(&key, Clock::system().now())
            .await
            .is_err()
    );
    assert!(store.check_health().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Login `i`: a different user and login id per key, so a reply read for
/// one key is recognisable as another key's.
fn account_of(i: usize, now: Timestamp) -> AccountSession {
    let mut a = account(now);
    a.user.id = format!("user-{i}");
    a.id = format!("login-{i}");
    a
}

/// The trap behind "one user served another's login": when a slot moves
/// away from a node, that node sends an unsolicited `SUNSUBSCRIBE` for
/// the slot's shard channels on the connection that subscribed them. Had
/// that connection also carried reads, the push would be taken as the
/// reply to the oldest read in flight and every later reply on it shifted
/// by one. Reads hammer logins on the node while slots holding subscribed
/// sessions move away from it: every reply must be its own key's.
#[tokio::test]
async fn replies_reach_their_own_requests_while_subscribed_slots_move() {
    let cluster = RedisCluster::start(3, 0).await;
    let store = store_on(&cluster, "qrl:").await;
    let now = Clock::system().now();
    let from = 0;
    let on_from = async |key: &str| cluster.owner_of(cluster.slot_of(key).await).await == from;
    let mut sessions = Vec::new();
    while sessions.len() < 4 {
        let s = new_session(QrId::generate(), now, Duration::from_secs(120));
        if on_from(&session_key("qrl:", &s.id)).await {
            assert!(store.insert(&s).await.unwrap());
            sessions.push(s);
        }
    }
    let mut logins = Vec::new();
    while logins.len() < 8 {
        let key = Secret::generate().hash();
        if on_from(&format!("qrl:login:{}", key.to_hex())).await {
            store
                .put_account(&key, &account_of(logins.len(), now))
                .await
                .unwrap();
            logins.push(key);
        }
    }
    let polls: Vec<_> = sessions.iter().map(|s| hold_poll(&store, s)).collect();
    for s in &sessions {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !store.subscribed_to(&s.id) {
            assert!(Instant::now() < deadline, "the poll never subscribed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    let stop = tokio_util::sync::CancellationToken::new();
    let logins = std::sync::Arc::new(logins);
    let readers: Vec<_> = (0..16)
        .map(|r| {
            let (store, logins, stop) = (store.clone(), logins.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut wrong) = (0_u32, Vec::new());
                let mut i = r;
                while !stop.is_cancelled() {
                    i = (i + 1) % logins.len();
                    match store.get_account(&logins[i], now).await {
                        Ok(Some(got)) if got == account_of(i, now) => ok += 1,
                        // A read failing in time is not what this test is about.
                        Err(_) => {}
                        other => wrong.push(format!("key {i}: {other:?}")),
                    }
                }
                (ok, wrong)
            })
        })
        .collect();
    for (n, s) in sessions.iter().enumerate() {
        let key = session_key("qrl:", &s.id);
        let slot = cluster.slot_of(&key).await;
        cluster.migrate_slot(slot, &[&key], from, 1 + n % 2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    let (mut ok, mut wrong) = (0, Vec::new());
    for reader in readers {
        let (o, w) = reader.await.unwrap();
        ok += o;
        wrong.extend(w);
    }
    assert!(
        wrong.is_empty(),
        "{} replies to the wrong request, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(3)]
    );
    assert!(ok > 100, "only {ok} reads answered");
    for poll in &polls {
        assert!(!poll.is_finished(), "a migration alone ended a poll");
    }
}
