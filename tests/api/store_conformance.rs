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
use qrlogin::secret::{BrowserHash, ConfirmTokenHash, PollTokenHash, Secret, TicketHash};
use qrlogin::session::{LoginSession, QrId, RequestInfo, User};
use qrlogin::store::{AccountSession, Retention, SessionStore, Sweep};
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
    };
    store.put_account(&key, &account).await.unwrap();
    assert!(store.get_account(&key, at(59)).await.unwrap().is_some());
    assert_eq!(store.get_account(&key, at(60)).await.unwrap(), None);
}

pub async fn health_check_passes<S: SessionStore>(store: S) {
    store.check_health().await.unwrap();
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
        );
    };
}

pub(crate) use {store_conformance_tests, sweep_conformance_tests};
