//! The embedded store: sessions in sharded concurrent maps, waiters woken by
//! one `watch` channel per session (not per poller).
//!
//! Map guards are never held across `.await`: every method takes what it
//! needs from the map and lets go before waiting. OAuth records live in one
//! map per [`RecordKind`], so a lookup borrows the caller's `&str` key;
//! marking a record used happens under its map entry's lock.

use super::{
    AccountSession, PutMode, RecordKind, Retention, SessionStore, StoreError, Sweep, UsedRecord,
};
use crate::clock::Timestamp;
use crate::secret::SecretHash;
use crate::session::{LoginSession, QrId};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;
use std::collections::HashMap;
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
    /// One map per kind, in [`RecordKind::ALL`] order.
    records: [DashMap<String, Record>; RecordKind::ALL.len()],
    /// Owner → member → the member's expiry.
    indexes: DashMap<String, HashMap<String, Timestamp>>,
    retention: Retention,
    max_sessions: usize,
}

#[derive(Debug)]
struct Record {
    json: String,
    expires_at: Timestamp,
    used: bool,
}

impl Record {
    fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
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
                records: Default::default(),
                indexes: DashMap::new(),
                retention,
                max_sessions,
            }),
        }
    }

    fn records(&self, kind: RecordKind) -> &DashMap<String, Record> {
        // `RecordKind::ALL` lists the kinds in declaration order.
        &self.shared.records[kind as usize]
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

    /// Owners with an index currently held, empty or not.
    #[cfg(feature = "test-util")]
    pub fn index_count(&self) -> usize {
        self.shared.indexes.len()
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

    async fn put_record(
        &self,
        kind: RecordKind,
        key: &str,
        json: &str,
        expires_at: Timestamp,
        mode: PutMode,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let fresh = || Record {
            json: json.to_owned(),
            expires_at,
            used: false,
        };
        let records = self.records(kind);
        match mode {
            PutMode::Create => match records.entry(key.to_owned()) {
                MapEntry::Occupied(e) if e.get().is_live(now) => Ok(false),
                MapEntry::Occupied(mut e) => {
                    e.insert(fresh());
                    Ok(true)
                }
                MapEntry::Vacant(slot) => {
                    slot.insert(fresh());
                    Ok(true)
                }
            },
            PutMode::Replace => match records.get_mut(key) {
                Some(mut r) if r.is_live(now) => {
                    json.clone_into(&mut r.json);
                    r.expires_at = expires_at;
                    Ok(true)
                }
                _ => Ok(false),
            },
        }
    }

    async fn get_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .records(kind)
            .get(key)
            .filter(|r| r.is_live(now))
            .map(|r| r.json.clone()))
    }

    async fn use_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<UsedRecord>, StoreError> {
        // The entry's write lock makes read-and-mark one step.
        let Some(mut r) = self.records(kind).get_mut(key) else {
            return Ok(None);
        };
        if !r.is_live(now) {
            return Ok(None);
        }
        let first_use = !r.used;
        r.used = true;
        Ok(Some(UsedRecord {
            json: r.json.clone(),
            first_use,
        }))
    }

    async fn delete_record(&self, kind: RecordKind, key: &str) -> Result<bool, StoreError> {
        Ok(self.records(kind).remove(key).is_some())
    }

    async fn index_add(
        &self,
        owner: &str,
        member: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.shared
            .indexes
            .entry(owner.to_owned())
            .or_default()
            .insert(member.to_owned(), expires_at);
        Ok(())
    }

    async fn index_members(&self, owner: &str, now: Timestamp) -> Result<Vec<String>, StoreError> {
        let mut live: Vec<(Timestamp, String)> = match self.shared.indexes.get(owner) {
            Some(index) => index
                .iter()
                .filter(|(_, at)| now < **at)
                .map(|(m, at)| (*at, m.clone()))
                .collect(),
            None => return Ok(Vec::new()),
        };
        // The order Redis's sorted set gives: by expiry, then by bytes.
        live.sort_unstable();
        Ok(live.into_iter().map(|(_, m)| m).collect())
    }

    async fn index_remove(&self, owner: &str, member: &str) -> Result<bool, StoreError> {
        let removed = match self.shared.indexes.get_mut(owner) {
            Some(mut index) => index.remove(member).is_some(),
            None => false,
        };
        // The guard above is gone: remove_if takes the shard lock itself, and
        // re-checks under it, so a racing index_add is never lost.
        self.shared
            .indexes
            .remove_if(owner, |_, index| index.is_empty());
        Ok(removed)
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
        let mut removed =
            before.saturating_sub(self.shared.sessions.len() + self.shared.accounts.len());
        for records in &self.shared.records {
            records.retain(|_, r| {
                let live = r.is_live(now);
                removed += usize::from(!live);
                live
            });
        }
        self.shared.indexes.retain(|_, index| {
            let before = index.len();
            index.retain(|_, at| now < *at);
            removed += before - index.len();
            !index.is_empty()
        });
        Ok(removed)
    }
}
