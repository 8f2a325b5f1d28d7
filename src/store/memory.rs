//! The embedded store: sessions in sharded concurrent maps, waiters woken by
//! one `watch` channel per session (not per poller).
//!
//! Map guards are never held across `.await`: every method takes what it
//! needs from the map and lets go before waiting.

use super::{AccountSession, Retention, SessionStore, StoreError, Sweep};
use crate::clock::Timestamp;
use crate::secret::SecretHash;
use crate::session::{LoginSession, QrId};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// A cheap-to-clone handle on the shared in-memory state.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    sessions: DashMap<QrId, Entry>,
    accounts: DashMap<SecretHash, AccountSession>,
    retention: Retention,
    max_sessions: usize,
}

#[derive(Debug)]
struct Entry {
    session: LoginSession,
    /// Carries the session's version; every poller of the session subscribes to it.
    changed: watch::Sender<u64>,
}

impl MemoryStore {
    /// An empty store holding at most `max_sessions` QR sessions.
    pub fn new(retention: Retention, max_sessions: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                sessions: DashMap::new(),
                accounts: DashMap::new(),
                retention,
                max_sessions,
            }),
        }
    }

    /// QR sessions currently held, expired or not.
    #[cfg(feature = "test-util")]
    pub fn session_count(&self) -> usize {
        self.shared.sessions.len()
    }

    /// Long polls currently waiting on session `id`.
    #[cfg(feature = "test-util")]
    pub fn waiting_pollers(&self, id: &QrId) -> usize {
        self.shared
            .sessions
            .get(id)
            .map_or(0, |e| e.changed.receiver_count())
    }

    /// Login sessions currently held.
    #[cfg(feature = "test-util")]
    pub fn account_count(&self) -> usize {
        self.shared.accounts.len()
    }
}

impl SessionStore for MemoryStore {
    async fn insert(&self, session: &LoginSession) -> Result<bool, StoreError> {
        if self.shared.sessions.len() >= self.shared.max_sessions {
            return Err(StoreError::Full);
        }
        match self.shared.sessions.entry(session.id.clone()) {
            MapEntry::Occupied(_) => Ok(false),
            MapEntry::Vacant(slot) => {
                slot.insert(Entry {
                    changed: watch::Sender::new(session.version),
                    session: session.clone(),
                });
                Ok(true)
            }
        }
    }

    async fn get(&self, id: &QrId, now: Timestamp) -> Result<Option<LoginSession>, StoreError> {
        let retention = self.shared.retention;
        Ok(self
            .shared
            .sessions
            .get(id)
            .map(|e| e.session.clone())
            .filter(|s| now < retention.forget_at(s)))
    }

    async fn compare_and_set(
        &self,
        expected_version: u64,
        next: &LoginSession,
    ) -> Result<bool, StoreError> {
        let Some(mut entry) = self.shared.sessions.get_mut(&next.id) else {
            return Ok(false);
        };
        if entry.session.version != expected_version {
            return Ok(false);
        }
        entry.session = next.clone();
        // send_replace stores the value even when nobody is subscribed.
        entry.changed.send_replace(next.version);
        Ok(true)
    }

    async fn wait_for_change(
        &self,
        id: &QrId,
        seen_version: u64,
        deadline: Instant,
    ) -> Result<(), StoreError> {
        // Subscribe before comparing, so a change landing in between still
        // wakes us; the map guard is dropped at the end of this statement.
        let Some(mut rx) = self.shared.sessions.get(id).map(|e| e.changed.subscribe()) else {
            return Ok(());
        };
        if *rx.borrow_and_update() != seen_version {
            return Ok(());
        }
        // Err from changed() means the entry was purged: also a change.
        let _ = tokio::time::timeout_at(deadline, rx.changed()).await;
        Ok(())
    }

    async fn put_account(
        &self,
        key: &SecretHash,
        account: &AccountSession,
    ) -> Result<(), StoreError> {
        self.shared.accounts.insert(*key, account.clone());
        Ok(())
    }

    async fn get_account(
        &self,
        key: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<AccountSession>, StoreError> {
        Ok(self
            .shared
            .accounts
            .get(key)
            .map(|a| a.clone())
            .filter(|a| now < a.expires_at))
    }

    async fn delete_account(&self, key: &SecretHash) -> Result<bool, StoreError> {
        Ok(self.shared.accounts.remove(key).is_some())
    }

    async fn check_health(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl Sweep for MemoryStore {
    async fn sweep_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        let retention = self.shared.retention;
        let before = self.shared.sessions.len() + self.shared.accounts.len();
        // retain locks one shard at a time and runs no callback into the map.
        self.shared
            .sessions
            .retain(|_, e| now < retention.forget_at(&e.session));
        self.shared.accounts.retain(|_, a| now < a.expires_at);
        Ok(before.saturating_sub(self.shared.sessions.len() + self.shared.accounts.len()))
    }
}
