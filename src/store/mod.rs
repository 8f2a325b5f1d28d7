//! Storage of QR login sessions and browser login sessions, behind one trait.
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
use crate::session::{LoginSession, QrId, User};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

pub use any::Store;
pub use memory::MemoryStore;
pub use redis::{RedisSettings, RedisStore};

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

    /// Whether the backend answers, for `/readyz`.
    fn check_health(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Removing what has expired, for stores whose backend does not do it by
/// itself (tower-sessions' `ExpiredDeletion`). Optional: Redis expires its
/// keys on its own and does not implement it; the in-memory store does, and
/// needs it run periodically to keep memory flat.
pub trait Sweep: SessionStore {
    /// Removes every QR session past its retention and every expired login
    /// session at `now`. Returns how many entries were removed.
    fn sweep_expired(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}
