//! The one conformance suite every [`SessionStore`] must pass, and the
//! macros that run it for a backend (tower-sessions keeps its suite beside
//! its tests the same way, out of the library).
//!
//! Each check is an async function taking a fresh store built with
//! [`RETENTION`]; [`store_conformance_tests!`] turns them all into
//! `#[tokio::test]`s for a backend, given a future of `(store, guard)` — the
//! guard (e.g. a private Redis server) lives until the test ends:
//!
//! ```ignore
//! store_conformance_tests!(async { (MemoryStore::new(RETENTION, 1000), ()) });
//! ```
//!
//! [`sweep_conformance_tests!`] does the same for the optional [`Sweep`] trait.
//! The checks use explicit timestamps, so they pass on real time and work the
//! same against a networked backend. Panics are the assertion mechanism.

use crate::helpers::TestStore;
use qrlogin::clock::{Clock, Timestamp};
use qrlogin::number_match::MatchNumber;
use qrlogin::secret::{BrowserHash, ConfirmTokenHash, PollTokenHash, Secret, TicketHash};
use qrlogin::session::{CancelReason, LoginSession, QrId, RequestInfo, User};
use qrlogin::store::{
    AccountSession, PutMode, RecordKind, Retention, SessionStore, Sweep, UsedRecord,
};
use std::time::Duration;
use tokio::time::Instant;

/// The retention every store under test must be built with.
pub const RETENTION: Retention = Retention {
    expired_grace: Duration::from_secs(600),
};

const TTL: Duration = Duration::from_secs(300);

/// The suite's "now": the real time when it started, so backends that
/// expire keys by wall clock (Redis `PEXPIREAT`) keep what the checks expect.
fn t0() -> Timestamp {
    static T0: std::sync::LazyLock<Timestamp> = std::sync::LazyLock::new(|| Clock::system().now());
    *T0
}

fn at(secs: u64) -> Timestamp {
    t0().plus(Duration::from_secs(secs))
}

/// The poll token of every session the suite makes.
fn poll_token() -> Secret {
    Secret::from_client("conformance-poll-token")
}

/// A fresh pending session: the one place the store tests build sessions.
pub fn new_session(id: QrId, created_at: Timestamp, ttl: Duration) -> LoginSession {
    let poll = PollTokenHash::of(&poll_token());
    let ticket = TicketHash::of(&Secret::generate());
    let browser = BrowserHash::of(&Secret::generate());
    let request = RequestInfo {
        ip: "203.0.113.7".into(),
        user_agent: "Mozilla/5.0 (conformance)".into(),
    };
    LoginSession::new(id, poll, ticket, browser, request, created_at, ttl)
}

fn session() -> LoginSession {
    new_session(QrId::generate(), t0(), TTL)
}

/// Waits (bounded) until `n` waiters are registered on `id`, so that a write
/// made next lands while they wait, not before they started.
async fn until_waiting<S: TestStore>(store: &S, id: &QrId, n: usize) {
    for _ in 0..1000 {
        if store.waiting_pollers(id) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("expected {n} waiters, found {}", store.waiting_pollers(id));
}

fn alice() -> User {
    User {
        id: "alice".into(),
        name: "Alice 爱丽丝".into(),
        avatar: Some("/static/avatars/alice.svg".into()),
    }
}

fn scanned(s: &LoginSession) -> LoginSession {
    s.scan(at(1), &alice(), ConfirmTokenHash::of(&Secret::generate()))
        .unwrap()
}

pub async fn insert_then_get_round_trips<S: SessionStore>(store: S) {
    let s = session();
    assert!(store.insert(&s).await.unwrap());
    assert_eq!(store.get(&s.id, at(1)).await.unwrap(), Some(s.clone()));
    // A scanned session (nested user data, non-ASCII) round-trips too.
    let next = scanned(&s);
    assert!(store.compare_and_set(s.version, &next).await.unwrap());
    assert_eq!(store.get(&s.id, at(2)).await.unwrap(), Some(next));
}

/// What number matching and the relay checks keep in a session — the
/// page's number, the browser's IP, a wrong pick's cancel reason — comes
/// back as written, on every backend (one instance writes, another reads).
pub async fn relay_facts_round_trip<S: SessionStore>(store: S) {
    let number = MatchNumber::new(42);
    let s = session().with_number(number);
    assert!(store.insert(&s).await.unwrap());
    let got = store.get(&s.id, at(1)).await.unwrap().unwrap();
    assert_eq!(
        (got.match_number, got.request.ip.as_str()),
        (number, "203.0.113.7")
    );
    let confirm = Secret::generate();
    let scanned = s
        .scan(at(1), &alice(), ConfirmTokenHash::of(&confirm))
        .unwrap();
    assert!(store.compare_and_set(s.version, &scanned).await.unwrap());
    let refused = scanned
        .confirm(at(2), "alice", &confirm, MatchNumber::new(43), TTL, at(2))
        .unwrap();
    assert!(
        store
            .compare_and_set(scanned.version, &refused)
            .await
            .unwrap()
    );
    let got = store.get(&s.id, at(3)).await.unwrap().unwrap();
    assert_eq!(got.cancel_reason(), Some(CancelReason::WrongNumber));
    assert_eq!(got, refused);
}

pub async fn unknown_id_is_none<S: SessionStore>(store: S) {
    assert_eq!(store.get(&QrId::generate(), at(0)).await.unwrap(), None);
}

pub async fn insert_never_overwrites<S: SessionStore>(store: S) {
    let s = session();
    assert!(store.insert(&s).await.unwrap());
    let mut other = session();
    other.id = s.id.clone();
    assert!(!store.insert(&other).await.unwrap());
    assert_eq!(store.get(&s.id, at(1)).await.unwrap(), Some(s));
}

pub async fn compare_and_set_needs_the_current_version<S: SessionStore>(store: S) {
    let s = session();
    store.insert(&s).await.unwrap();
    let next = scanned(&s);
    assert!(store.compare_and_set(s.version, &next).await.unwrap());
    // Stale writer: based on the old version.
    let stale = s.cancel_by_browser(at(2), &poll_token()).unwrap();
    assert!(!store.compare_and_set(s.version, &stale).await.unwrap());
    assert_eq!(store.get(&s.id, at(3)).await.unwrap(), Some(next));
}

pub async fn compare_and_set_on_a_missing_session_fails<S: SessionStore>(store: S) {
    let s = session();
    let next = scanned(&s);
    assert!(!store.compare_and_set(s.version, &next).await.unwrap());
    assert_eq!(store.get(&s.id, at(1)).await.unwrap(), None);
}

pub async fn racing_writers_exactly_one_wins<S: SessionStore>(store: S) {
    let s = session();
    store.insert(&s).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let store = store.clone();
        let (s, next) = (s.clone(), scanned(&s));
        tasks.push(tokio::spawn(async move {
            store.compare_and_set(s.version, &next).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}

/// Racing writers that computed the very same next state (as two
/// redemptions of one ticket do) still have exactly one winner.
pub async fn identical_racing_writes_have_one_winner<S: SessionStore>(store: S) {
    let s = session();
    store.insert(&s).await.unwrap();
    let next = s.cancel_by_browser(at(1), &poll_token()).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (store, version, next) = (store.clone(), s.version, next.clone());
        tasks.push(tokio::spawn(async move {
            store.compare_and_set(version, &next).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}

pub async fn sessions_vanish_after_the_grace_period<S: SessionStore>(store: S) {
    let s = session();
    store.insert(&s).await.unwrap();
    let expired = at(TTL.as_secs() + 1);
    // Expired but within grace: still readable, so pollers learn "expired".
    assert!(store.get(&s.id, expired).await.unwrap().is_some());
    let forgotten = RETENTION.forget_at(&s);
    assert_eq!(store.get(&s.id, forgotten).await.unwrap(), None);
}

pub async fn wait_returns_at_once_when_already_changed<S: SessionStore>(store: S) {
    let s = session();
    store.insert(&s).await.unwrap();
    let next = scanned(&s);
    store.compare_and_set(s.version, &next).await.unwrap();
    let started = Instant::now();
    store
        .wait_for_change(&s.id, s.version, Instant::now() + Duration::from_secs(20))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

pub async fn wait_returns_at_once_for_unknown_sessions<S: SessionStore>(store: S) {
    let started = Instant::now();
    store
        .wait_for_change(
            &QrId::generate(),
            1,
            Instant::now() + Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

pub async fn wait_times_out_at_the_deadline<S: SessionStore>(store: S) {
    let s = session();
    store.insert(&s).await.unwrap();
    let hold = Duration::from_millis(300);
    let started = Instant::now();
    store
        .wait_for_change(&s.id, s.version, Instant::now() + hold)
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took >= hold, "returned after {took:?}, before the deadline");
    assert!(took < hold + Duration::from_secs(5), "overslept: {took:?}");
}

/// Ten waiters on one session all wake on one change, long before their deadline.
pub async fn a_change_wakes_every_waiter<S: TestStore>(store: S) {
    let s = session();
    store.insert(&s).await.unwrap();
    let hold = Duration::from_secs(30);
    let mut waiters = Vec::new();
    for _ in 0..10 {
        let (store, id, v) = (store.clone(), s.id.clone(), s.version);
        waiters.push(tokio::spawn(async move {
            store
                .wait_for_change(&id, v, Instant::now() + hold)
                .await
                .unwrap();
        }));
    }
    // All of them are waiting when the change lands (a change made before
    // a wait starts is wait_returns_at_once_when_already_changed).
    until_waiting(&store, &s.id, 10).await;
    let started = Instant::now();
    assert!(
        store
            .compare_and_set(s.version, &scanned(&s))
            .await
            .unwrap()
    );
    for w in waiters {
        tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .expect("a waiter slept through the change")
            .unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

pub async fn failed_compare_and_set_wakes_nobody<S: TestStore>(store: S) {
    let s = session();
    store.insert(&s).await.unwrap();
    let next = scanned(&s);
    store.compare_and_set(s.version, &next).await.unwrap();
    // Waiting on the current version: a stale write must not end the wait.
    let hold = Duration::from_secs(1);
    let waiter = {
        let (store, id, v) = (store.clone(), s.id.clone(), next.version);
        tokio::spawn(async move {
            let started = Instant::now();
            store.wait_for_change(&id, v, started + hold).await.unwrap();
            started.elapsed()
        })
    };
    until_waiting(&store, &s.id, 1).await;
    assert!(
        !store
            .compare_and_set(
                s.version,
                &s.cancel_by_browser(at(2), &poll_token()).unwrap()
            )
            .await
            .unwrap()
    );
    let waited = waiter.await.unwrap();
    assert!(
        waited >= hold,
        "woken after {waited:?} by a write that did not happen"
    );
}

pub async fn accounts_put_get_delete<S: SessionStore>(store: S) {
    let key = Secret::generate().hash();
    let account = AccountSession {
        user: alice(),
        created_at: at(0),
        expires_at: at(3600),
        id: "login-1".into(),
        browser: qrlogin::session::RequestInfo {
            ip: "192.0.2.7".into(),
            user_agent: "Firefox".into(),
        },
    };
    assert_eq!(store.get_account(&key, at(1)).await.unwrap(), None);
    store.put_account(&key, &account).await.unwrap();
    assert_eq!(store.get_account(&key, at(1)).await.unwrap(), Some(account));
    assert_eq!(
        store
            .get_account(&Secret::generate().hash(), at(1))
            .await
            .unwrap(),
        None
    );
    assert!(store.delete_account(&key).await.unwrap());
    assert!(!store.delete_account(&key).await.unwrap());
    assert_eq!(store.get_account(&key, at(2)).await.unwrap(), None);
}

pub async fn accounts_expire<S: SessionStore>(store: S) {
    let key = Secret::generate().hash();
    let account = AccountSession {
        user: alice(),
        created_at: at(0),
        expires_at: at(60),
        id: "login-1".into(),
        browser: qrlogin::session::RequestInfo {
            ip: "192.0.2.7".into(),
            user_agent: "Firefox".into(),
        },
    };
    store.put_account(&key, &account).await.unwrap();
    assert!(store.get_account(&key, at(59)).await.unwrap().is_some());
    assert_eq!(store.get_account(&key, at(60)).await.unwrap(), None);
}

pub async fn health_check_passes<S: SessionStore>(store: S) {
    store.check_health().await.unwrap();
}

const CODE: RecordKind = RecordKind::Code;

/// Stores a record under `key` in `kind` until `until`, as `mode` allows, at time `now`.
async fn put<S: SessionStore>(
    store: &S,
    kind: RecordKind,
    key: &str,
    json: &str,
    until: Timestamp,
    mode: PutMode,
    now: Timestamp,
) -> bool {
    store
        .put_record(kind, key, json, until, mode, now)
        .await
        .unwrap()
}

fn used(json: &str, first_use: bool) -> Option<UsedRecord> {
    Some(UsedRecord {
        json: json.into(),
        first_use,
    })
}

pub async fn records_create_never_overwrites<S: SessionStore>(store: S) {
    let (one, two) = (r#"{"n":1}"#, r#"{"n":2}"#);
    assert_eq!(store.get_record(CODE, "k", at(0)).await.unwrap(), None);
    assert!(put(&store, CODE, "k", one, at(600), PutMode::Create, at(0)).await);
    assert!(!put(&store, CODE, "k", two, at(900), PutMode::Create, at(1)).await);
    assert_eq!(
        store.get_record(CODE, "k", at(2)).await.unwrap().as_deref(),
        Some(one)
    );
    // The loser did not move the expiry either.
    assert_eq!(store.get_record(CODE, "k", at(600)).await.unwrap(), None);
}

pub async fn records_replace_needs_a_live_record_and_keeps_its_use<S: SessionStore>(store: S) {
    let (one, two) = (r#"{"n":1}"#, r#"{"n":2}"#);
    assert!(!put(&store, CODE, "k", one, at(600), PutMode::Replace, at(0)).await);
    assert_eq!(store.get_record(CODE, "k", at(1)).await.unwrap(), None);

    assert!(put(&store, CODE, "k", one, at(600), PutMode::Create, at(0)).await);
    assert_eq!(
        store.use_record(CODE, "k", at(1)).await.unwrap(),
        used(one, true)
    );
    assert!(put(&store, CODE, "k", two, at(900), PutMode::Replace, at(2)).await);
    assert_eq!(
        store
            .get_record(CODE, "k", at(700))
            .await
            .unwrap()
            .as_deref(),
        Some(two)
    );
    // Replacing does not make a used record usable again.
    assert_eq!(
        store.use_record(CODE, "k", at(3)).await.unwrap(),
        used(two, false)
    );
}

/// A late writer (say, a refresh finishing after the grant was revoked or
/// ran out) never brings a record back.
pub async fn records_are_never_resurrected<S: SessionStore>(store: S) {
    let (one, two) = (r#"{"n":1}"#, r#"{"n":2}"#);
    assert!(
        put(
            &store,
            CODE,
            "deleted",
            one,
            at(600),
            PutMode::Create,
            at(0)
        )
        .await
    );
    assert!(store.delete_record(CODE, "deleted").await.unwrap());
    assert!(
        !put(
            &store,
            CODE,
            "deleted",
            two,
            at(600),
            PutMode::Replace,
            at(1)
        )
        .await
    );
    assert_eq!(
        store.get_record(CODE, "deleted", at(2)).await.unwrap(),
        None
    );

    assert!(put(&store, CODE, "expired", one, at(60), PutMode::Create, at(0)).await);
    assert!(
        !put(
            &store,
            CODE,
            "expired",
            two,
            at(600),
            PutMode::Replace,
            at(60)
        )
        .await
    );
    assert_eq!(
        store.get_record(CODE, "expired", at(61)).await.unwrap(),
        None
    );
    assert_eq!(
        store.use_record(CODE, "expired", at(61)).await.unwrap(),
        None
    );
}

pub async fn records_expire<S: SessionStore>(store: S) {
    let (one, two) = (r#"{"n":1}"#, r#"{"n":2}"#);
    assert!(put(&store, CODE, "k", one, at(60), PutMode::Create, at(0)).await);
    assert_eq!(
        store.use_record(CODE, "k", at(59)).await.unwrap(),
        used(one, true)
    );
    assert_eq!(
        store
            .get_record(CODE, "k", at(59))
            .await
            .unwrap()
            .as_deref(),
        Some(one)
    );
    assert_eq!(store.get_record(CODE, "k", at(60)).await.unwrap(), None);
    assert_eq!(store.use_record(CODE, "k", at(60)).await.unwrap(), None);
    // Expired counts as gone even before it is purged: the key can be
    // created afresh, with no use mark inherited.
    assert!(put(&store, CODE, "k", two, at(600), PutMode::Create, at(60)).await);
    assert_eq!(
        store.use_record(CODE, "k", at(61)).await.unwrap(),
        used(two, true)
    );
}

pub async fn record_kinds_are_separate_key_spaces<S: SessionStore>(store: S) {
    for kind in RecordKind::ALL {
        assert!(
            put(
                &store,
                kind,
                "k",
                kind.as_str(),
                at(600),
                PutMode::Create,
                at(0)
            )
            .await
        );
    }
    for kind in RecordKind::ALL {
        let got = store.get_record(kind, "k", at(1)).await.unwrap();
        assert_eq!(got.as_deref(), Some(kind.as_str()));
        // Each kind's record is used for the first time here.
        let taken = store.use_record(kind, "k", at(1)).await.unwrap();
        assert_eq!(taken, used(kind.as_str(), true));
    }
    assert!(store.delete_record(RecordKind::Grant, "k").await.unwrap());
    for kind in RecordKind::ALL {
        let got = store.get_record(kind, "k", at(2)).await.unwrap();
        assert_eq!(got.is_some(), kind != RecordKind::Grant, "{kind:?}");
    }
    let mut names: Vec<_> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), RecordKind::ALL.len());
}

pub async fn a_record_is_used_first_once<S: SessionStore>(store: S) {
    let json = r#"{"client":"app","scope":"openid 名前"}"#;
    assert_eq!(store.use_record(CODE, "k", at(0)).await.unwrap(), None);
    assert!(put(&store, CODE, "k", json, at(600), PutMode::Create, at(0)).await);
    assert_eq!(
        store.use_record(CODE, "k", at(1)).await.unwrap(),
        used(json, true)
    );
    assert_eq!(
        store.use_record(CODE, "k", at(2)).await.unwrap(),
        used(json, false)
    );
    // Using it does not consume it: the caller decides what reuse means.
    assert_eq!(
        store.get_record(CODE, "k", at(3)).await.unwrap().as_deref(),
        Some(json)
    );
}

pub async fn racing_uses_have_one_first_use<S: SessionStore>(store: S) {
    let json = r#"{"n":1}"#;
    assert!(put(&store, CODE, "k", json, at(600), PutMode::Create, at(0)).await);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.use_record(CODE, "k", at(1)).await.unwrap().unwrap()
        }));
    }
    let mut firsts = 0;
    for t in tasks {
        let taken = t.await.unwrap();
        assert_eq!(taken.json, json);
        firsts += usize::from(taken.first_use);
    }
    assert_eq!(firsts, 1);
}

pub async fn records_delete<S: SessionStore>(store: S) {
    assert!(!store.delete_record(CODE, "k").await.unwrap());
    assert!(put(&store, CODE, "k", "{}", at(600), PutMode::Create, at(0)).await);
    assert!(store.delete_record(CODE, "k").await.unwrap());
    assert!(!store.delete_record(CODE, "k").await.unwrap());
    assert_eq!(store.get_record(CODE, "k", at(1)).await.unwrap(), None);
    assert_eq!(store.use_record(CODE, "k", at(1)).await.unwrap(), None);
}

async fn members<S: SessionStore>(store: &S, owner: &str, now: Timestamp) -> Vec<String> {
    store.index_members(owner, now).await.unwrap()
}

pub async fn index_add_list_remove<S: SessionStore>(store: S) {
    assert!(members(&store, "alice", at(0)).await.is_empty());
    store.index_add("alice", "login:1", at(100)).await.unwrap();
    store
        .index_add("alice", "grant:app", at(200))
        .await
        .unwrap();
    assert_eq!(
        members(&store, "alice", at(1)).await,
        ["login:1", "grant:app"]
    );
    assert!(store.index_remove("alice", "login:1").await.unwrap());
    assert!(!store.index_remove("alice", "login:1").await.unwrap());
    assert!(!store.index_remove("nobody", "login:1").await.unwrap());
    assert_eq!(members(&store, "alice", at(2)).await, ["grant:app"]);
    assert!(store.index_remove("alice", "grant:app").await.unwrap());
    assert!(members(&store, "alice", at(3)).await.is_empty());
}

pub async fn index_re_add_sets_the_new_expiry<S: SessionStore>(store: S) {
    store.index_add("alice", "m", at(100)).await.unwrap();
    store.index_add("alice", "m", at(300)).await.unwrap();
    assert_eq!(members(&store, "alice", at(200)).await, ["m"]);
    // Shortening works too: the later expiry is not kept.
    store.index_add("alice", "m", at(50)).await.unwrap();
    assert_eq!(members(&store, "alice", at(49)).await, ["m"]);
    assert!(members(&store, "alice", at(50)).await.is_empty());
}

pub async fn index_lists_only_live_members<S: SessionStore>(store: S) {
    store.index_add("alice", "old", at(10)).await.unwrap();
    store.index_add("alice", "new", at(100)).await.unwrap();
    assert_eq!(members(&store, "alice", at(9)).await, ["old", "new"]);
    assert_eq!(members(&store, "alice", at(10)).await, ["new"]);
    assert!(members(&store, "alice", at(100)).await.is_empty());
}

/// Owners are free text: spaces, colons, slashes, non-ASCII, prefixes of
/// one another, even what looks like a key of another kind.
pub async fn index_owners_are_separate<S: SessionStore>(store: S) {
    let owners = [
        "alice",
        "a b:c/ü",
        "a b:c",
        "a b",
        "user:alice",
        "code:k",
        "",
    ];
    for owner in owners {
        store.index_add(owner, owner, at(100)).await.unwrap();
    }
    for owner in owners {
        assert_eq!(members(&store, owner, at(1)).await, [owner], "{owner:?}");
    }
    assert!(store.index_remove("a b:c/ü", "a b:c/ü").await.unwrap());
    assert!(members(&store, "a b:c/ü", at(1)).await.is_empty());
    assert_eq!(members(&store, "a b:c", at(1)).await, ["a b:c"]);
}

/// The documented order: soonest expiry first, equal expiries in byte order
/// of the member; the order of adding does not matter.
pub async fn index_lists_in_expiry_order<S: SessionStore>(store: S) {
    for (member, until) in [("c", 100), ("a", 200), ("b", 100), ("a0", 100), ("é", 100)] {
        store.index_add("alice", member, at(until)).await.unwrap();
    }
    assert_eq!(
        members(&store, "alice", at(1)).await,
        ["a0", "b", "c", "é", "a"]
    );
    store.index_add("alice", "b", at(300)).await.unwrap();
    assert_eq!(
        members(&store, "alice", at(1)).await,
        ["a0", "c", "é", "a", "b"]
    );
}

/// For stores that implement [`Sweep`]: expired records and index members
/// are removed (not only hidden: reads use an earlier `now`) and counted.
pub async fn sweep_removes_expired_records_and_members<S: Sweep>(store: S) {
    for (key, until) in [("live", at(3600)), ("dead", at(60))] {
        assert!(
            put(
                &store,
                RecordKind::AccessToken,
                key,
                "{}",
                until,
                PutMode::Create,
                at(0)
            )
            .await
        );
    }
    store.index_add("alice", "live", at(3600)).await.unwrap();
    store.index_add("alice", "dead", at(60)).await.unwrap();
    store.index_add("bob", "dead", at(60)).await.unwrap();
    assert_eq!(store.sweep_expired(at(10)).await.unwrap(), 0);
    assert_eq!(store.sweep_expired(at(60)).await.unwrap(), 3);
    assert_eq!(store.sweep_expired(at(61)).await.unwrap(), 0);
    let kind = RecordKind::AccessToken;
    assert_eq!(store.get_record(kind, "dead", at(10)).await.unwrap(), None);
    assert!(
        store
            .get_record(kind, "live", at(60))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(members(&store, "alice", at(10)).await, ["live"]);
    assert!(members(&store, "bob", at(10)).await.is_empty());
}

/// For stores that implement [`Sweep`]: a sweep removes exactly what is past
/// its retention, and really removes it (a read with an earlier `now`
/// would still see an entry that was only hidden).
pub async fn sweep_removes_only_what_has_expired<S: Sweep>(store: S) {
    let live = session();
    store.insert(&live).await.unwrap();
    let (long, short) = (Secret::generate().hash(), Secret::generate().hash());
    for (key, until) in [(&long, at(3600)), (&short, at(60))] {
        let account = AccountSession {
            user: alice(),
            created_at: at(0),
            expires_at: until,
            id: "login-1".into(),
            browser: qrlogin::session::RequestInfo {
                ip: "192.0.2.7".into(),
                user_agent: "Firefox".into(),
            },
        };
        store.put_account(key, &account).await.unwrap();
    }
    assert_eq!(store.sweep_expired(at(10)).await.unwrap(), 0);
    assert_eq!(store.sweep_expired(at(60)).await.unwrap(), 1);
    assert_eq!(store.get_account(&short, at(10)).await.unwrap(), None);
    assert!(store.get_account(&long, at(60)).await.unwrap().is_some());
    // Expired but within its grace period: kept, so pollers learn "expired".
    assert_eq!(store.sweep_expired(at(TTL.as_secs() + 1)).await.unwrap(), 0);
    let forgotten = RETENTION.forget_at(&live);
    assert_eq!(store.sweep_expired(forgotten).await.unwrap(), 1);
    assert_eq!(store.get(&live.id, at(10)).await.unwrap(), None);
}

/// Expands to one `#[tokio::test]` per conformance check, each on a fresh
/// store from `$make`: an expression evaluating to a future of
/// `(store, guard)`, where the guard is dropped when the test ends.
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance::store_conformance_tests!(@each $make;
            insert_then_get_round_trips,
            relay_facts_round_trip,
            unknown_id_is_none,
            insert_never_overwrites,
            compare_and_set_needs_the_current_version,
            compare_and_set_on_a_missing_session_fails,
            racing_writers_exactly_one_wins,
            identical_racing_writes_have_one_winner,
            sessions_vanish_after_the_grace_period,
            wait_returns_at_once_when_already_changed,
            wait_returns_at_once_for_unknown_sessions,
            wait_times_out_at_the_deadline,
            a_change_wakes_every_waiter,
            failed_compare_and_set_wakes_nobody,
            accounts_put_get_delete,
            accounts_expire,
            records_create_never_overwrites,
            records_replace_needs_a_live_record_and_keeps_its_use,
            records_are_never_resurrected,
            records_expire,
            record_kinds_are_separate_key_spaces,
            a_record_is_used_first_once,
            racing_uses_have_one_first_use,
            records_delete,
            index_add_list_remove,
            index_re_add_sets_the_new_expiry,
            index_lists_only_live_members,
            index_owners_are_separate,
            index_lists_in_expiry_order,
            health_check_passes,
        );
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (store, _guard) = $make.await;
                $crate::store_conformance::$check(store).await;
            }
        )*
    };
}

/// Like [`store_conformance_tests!`], for the checks of the optional [`Sweep`] trait.
macro_rules! sweep_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance::store_conformance_tests!(@each $make;
            sweep_removes_only_what_has_expired,
            sweep_removes_expired_records_and_members,
        );
    };
}

pub(crate) use {store_conformance_tests, sweep_conformance_tests};
