//! Storage of QR login sessions, browser login sessions and OAuth records
//! (authorization codes, tokens, grants) with per-user indexes, behind one trait.
//!
//! Every backend passes the same conformance suite (in the integration
//! tests, `tests/api/store_conformance.rs`). Transitions are
//! compare-and-set on the session's `version`, so two racing requests can
//! never both win, and waiting for a change is the store's job too, so the
//! long-poll handler never knows whether a wake-up came from a local notifier
//! or from another instance.

mod any;
pub mod memory;
pub mod redis;

use crate::clock::Timestamp;
use crate::secret::SecretHash;
use crate::session::{LoginSession, QrId, RequestInfo, User};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

pub use any::Store;
pub use memory::MemoryStore;
pub use redis::{
    RedisClusterSettings, RedisClusterStore, RedisSettings, RedisStore, RedisTarget,
    SentinelSettings,
};

/// A store could not do what was asked. Never caused by client input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service cannot be reached or answered garbage.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store holds as many live sessions as it is allowed to.
    #[error("store is full")]
    Full,
}

/// A browser's logged-in session: what the `qrl_session` cookie stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSession {
    pub user: User,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Public id, for the phone's list of logins (the cookie's hash never leaves the store).
    #[serde(default)]
    pub id: String,
    /// The browser that logged in.
    #[serde(default)]
    pub browser: RequestInfo,
}

/// How long stores keep what they hold.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// An expired QR session is still readable (answering "expired") this
    /// long after its `expires_at`, then it is gone (404).
    pub expired_grace: Duration,
}

impl Retention {
    /// When a QR session may be forgotten.
    pub fn forget_at(&self, s: &LoginSession) -> Timestamp {
        s.expires_at.plus(self.expired_grace)
    }
}

/// What an OAuth record is; each kind is its own key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Code,
    AccessToken,
    RefreshToken,
    Grant,
    DeviceCode,
    /// A device's user code (RFC 8628 `user_code`) → its QR session.
    UserCode,
}

impl RecordKind {
    /// Every kind, in declaration order (so `kind as usize` indexes it),
    /// for stores that keep one map per kind.
    pub const ALL: [RecordKind; 6] = [
        Self::Code,
        Self::AccessToken,
        Self::RefreshToken,
        Self::Grant,
        Self::DeviceCode,
        Self::UserCode,
    ];

    /// The kind's name in storage keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::AccessToken => "access",
            Self::RefreshToken => "refresh",
            Self::Grant => "grant",
            Self::DeviceCode => "device",
            Self::UserCode => "usercode",
        }
    }
}

/// How `put_record` treats a record already under the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutMode {
    /// Only if no live record is there (`Ok(false)` otherwise). An expired
    /// one is overwritten, "used" mark included.
    Create,
    /// Only if a live record is there (`Ok(false)` otherwise): a revoked or
    /// expired record is never brought back by a late writer. Keeps its "used" mark.
    Replace,
}

/// A record taken by `use_record`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsedRecord {
    pub json: String,
    /// true for exactly one caller, ever, per record
    pub first_use: bool,
}

/// The storage a qrlogin server needs. Implementations are cheap to clone
/// handles onto shared state.
pub trait SessionStore: Clone + Send + Sync + 'static {
    /// Stores a new session. `Ok(false)` if the id is already taken.
    fn insert(
        &self,
        session: &LoginSession,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The session with this id, unless it is unknown or past its retention.
    fn get(
        &self,
        id: &QrId,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<LoginSession>, StoreError>> + Send;

    /// Replaces the stored session with `next` if and only if the stored
    /// version is still `expected_version`; wakes its waiters when it does.
    /// `Ok(false)` means another writer got there first (or it is gone).
    fn compare_and_set(
        &self,
        expected_version: u64,
        next: &LoginSession,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Returns once the session's version differs from `seen_version`, the
    /// session is gone, or `deadline` passes — whichever is first. Callers
    /// re-read the session afterwards; a spurious early return is allowed.
    fn wait_for_change(
        &self,
        id: &QrId,
        seen_version: u64,
        deadline: Instant,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a browser login session under the hash of its cookie.
    fn put_account(
        &self,
        key: &SecretHash,
        account: &AccountSession,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The login session for this cookie hash, unless unknown or expired.
    fn get_account(
        &self,
        key: &SecretHash,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<AccountSession>, StoreError>> + Send;

    /// Revokes a login session. `Ok(true)` if it existed.
    fn delete_account(
        &self,
        key: &SecretHash,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores an OAuth record (opaque JSON) under `key` in `kind`'s key
    /// space until `expires_at`, as `mode` allows; `Ok(false)` when it does
    /// not. Whether a record "is there" is judged at `now`: a record with
    /// `now >= expires_at` counts as gone even if not yet purged.
    fn put_record(
        &self,
        kind: RecordKind,
        key: &str,
        json: &str,
        expires_at: Timestamp,
        mode: PutMode,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The record's JSON, unless it is unknown or expired (`now >= expires_at`).
    fn get_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Reads the record and marks it used, atomically: of all calls on one
    /// record, concurrent or not, on any instance, exactly one gets
    /// `first_use: true` (one-time codes, refresh-token reuse detection).
    /// `None` when unknown or expired.
    fn use_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<UsedRecord>, StoreError>> + Send;

    /// Revokes a record. `Ok(true)` if it existed (expired or not).
    fn delete_record(
        &self,
        kind: RecordKind,
        key: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Adds `member` to `owner`'s index (a user's logins and grants, as the
    /// phone lists them) until `expires_at`; re-adding a member sets its new
    /// expiry.
    fn index_add(
        &self,
        owner: &str,
        member: &str,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `owner`'s live members (`expires_at > now`), soonest expiry first,
    /// members expiring at the same millisecond in byte order of the member.
    fn index_members(
        &self,
        owner: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Removes `member` from `owner`'s index. `Ok(true)` if it was there.
    fn index_remove(
        &self,
        owner: &str,
        member: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether the backend answers, for `/readyz`.
    fn check_health(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Removing what has expired, for stores whose backend does not do it by
/// itself (tower-sessions' `ExpiredDeletion`). Optional: Redis expires its
/// keys on its own and does not implement it; the in-memory store does, and
/// needs it run periodically to keep memory flat.
pub trait Sweep: SessionStore {
    /// Removes every QR session past its retention, every expired login
    /// session, OAuth record and index member at `now` (an index left empty
    /// goes with its last member). Returns how many sessions, logins, records
    /// and index members were removed.
    fn sweep_expired(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}
