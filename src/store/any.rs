//! The store the server runs on, chosen from the config at start-up: one
//! enum over the backends, so nothing above the store is generic over it.

use super::StoreError;
use super::{
    AccountSession, MemoryStore, PutMode, RecordKind, RedisClusterSettings, RedisClusterStore,
    RedisSettings, RedisStore, RedisTarget, Retention, SessionStore, Sweep, UsedRecord,
};
use crate::clock::Timestamp;
use crate::config::{Backend, Config, ConfigError};
use crate::secret::SecretHash;
use crate::session::{LoginSession, QrId};
use tokio::time::Instant;

/// One of the backends. A cheap-to-clone handle, like each of them.
#[derive(Clone, Debug)]
pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
    RedisCluster(RedisClusterStore),
}

/// Calls the same async method on whichever backend this is. The Redis
/// futures (one Redis or a cluster) are boxed: an enum's future is as large
/// as its largest arm, and every held long poll keeps one alive, so unboxed
/// the memory store's polls would each carry the Redis waiter's much larger
/// state (measured: +0.8 KB per held poll). One allocation per Redis round
/// trip costs nothing.
/// Redis operations are timed and their failures counted by name
/// ([`RedisStore::observed`]) once metrics are attached.
macro_rules! delegate {
    ($self:ident, $op:literal, $store:ident => $call:expr) => {
        match $self {
            Store::Memory($store) => $call.await,
            Store::Redis($store) => $store.observed($op, Box::pin($call)).await,
            Store::RedisCluster($store) => $store.observed($op, Box::pin($call)).await,
        }
    };
}

impl Store {
    /// Reports round trips, failures and resubscriptions to `metrics`
    /// (Redis; the memory store has no round trips to time).
    pub fn instrument(&self, metrics: crate::observe::StoreMetrics) {
        match self {
            Store::Memory(_) => {}
            Store::Redis(s) => s.instrument(metrics),
            Store::RedisCluster(s) => s.instrument(metrics),
        }
    }

    /// Whether this backend keeps expired entries until they are swept
    /// ([`Sweep`]); Redis expires its keys by itself.
    pub fn needs_sweeping(&self) -> bool {
        matches!(self, Store::Memory(_))
    }

    /// Sweeps expired entries where the backend needs it ([`Sweep`]);
    /// nothing to do for a backend that expires them itself.
    pub async fn sweep_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        match self {
            Store::Memory(s) => s.sweep_expired(now).await,
            Store::Redis(_) | Store::RedisCluster(_) => Ok(0),
        }
    }

    /// The store `config.store` asks for. Never waits for Redis: the Redis
    /// store connects in the background ([`RedisStore::start`]), so an
    /// instance starts while Redis is down. Fails only on a `store.*` value
    /// `Config::validate` would have refused.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let retention = Retention {
            expired_grace: config.login.expired_grace,
        };
        match config.store.backend {
            Backend::Memory => Ok(Self::Memory(MemoryStore::new(
                retention,
                config.limits.max_live_sessions,
            ))),
            Backend::Redis => {
                // `Config::validate` already checked the URL or the sentinels.
                let settings = RedisSettings::from_config(&config.store)?;
                RedisStore::start(&settings, retention)
                    .map(Self::Redis)
                    .map_err(|e| match settings.target {
                        RedisTarget::Url(_) => {
                            ConfigError::new("store.redis_url", format!("is not a Redis URL: {e}"))
                        }
                        RedisTarget::Sentinel(_) => ConfigError::new(
                            "store.redis_sentinels",
                            format!("are refused by the redis client: {e}"),
                        ),
                    })
            }
            Backend::RedisCluster => {
                let settings = RedisClusterSettings::from_config(&config.store)?;
                RedisClusterStore::start(&settings, retention)
                    .map(Self::RedisCluster)
                    .map_err(|e| ConfigError::new("store.redis_cluster_nodes", e))
            }
        }
    }

    /// Whether the backend has not been reached yet since start-up (Redis
    /// down when the instance started); the memory store never is.
    pub fn connecting(&self) -> bool {
        match self {
            Store::Memory(_) => false,
            Store::Redis(s) => s.connecting(),
            Store::RedisCluster(s) => s.connecting(),
        }
    }
}

/// Counters only tests read (`test-util` feature).
#[cfg(feature = "test-util")]
impl Store {
    /// Long polls this instance holds on session `id`.
    pub fn waiting_pollers(&self, id: &QrId) -> usize {
        match self {
            Store::Memory(s) => s.waiting_pollers(id),
            Store::Redis(s) => s.waiting_pollers(id),
            Store::RedisCluster(s) => s.waiting_pollers(id),
        }
    }

    /// Returns once the backend has first been reached (at once for memory).
    pub async fn connected(&self) {
        match self {
            Store::Memory(_) => {}
            Store::Redis(s) => s.connected().await,
            Store::RedisCluster(s) => s.connected().await,
        }
    }

    /// Browser logins held (memory store only; Redis keeps them remotely).
    pub fn account_count(&self) -> Option<usize> {
        match self {
            Store::Memory(s) => Some(s.account_count()),
            Store::Redis(_) | Store::RedisCluster(_) => None,
        }
    }
}

impl SessionStore for Store {
    async fn insert(&self, session: &LoginSession) -> Result<bool, StoreError> {
        delegate!(self, "insert", s => s.insert(session))
    }

    async fn get(&self, id: &QrId, now: Timestamp) -> Result<Option<LoginSession>, StoreError> {
        delegate!(self, "get", s => s.get(id, now))
    }

    async fn compare_and_set(
        &self,
        expected_version: u64,
        next: &LoginSession,
    ) -> Result<bool, StoreError> {
        delegate!(self, "compare_and_set", s => s.compare_and_set(expected_version, next))
    }

    async fn wait_for_change(
        &self,
        id: &QrId,
        seen_version: u64,
        deadline: Instant,
    ) -> Result<(), StoreError> {
        delegate!(self, "wait_for_change", s => s.wait_for_change(id, seen_version, deadline))
    }

    async fn put_account(
        &self,
        key: &SecretHash,
        account: &AccountSession,
    ) -> Result<(), StoreError> {
        delegate!(self, "put_account", s => s.put_account(key, account))
    }

    async fn get_account(
        &self,
        key: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<AccountSession>, StoreError> {
        delegate!(self, "get_account", s => s.get_account(key, now))
    }

    async fn delete_account(&self, key: &SecretHash) -> Result<bool, StoreError> {
        delegate!(self, "delete_account", s => s.delete_account(key))
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
        delegate!(self, "put_record", s => s.put_record(kind, key, json, expires_at, mode, now))
    }

    async fn get_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        delegate!(self, "get_record", s => s.get_record(kind, key, now))
    }

    async fn use_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<UsedRecord>, StoreError> {
        delegate!(self, "use_record", s => s.use_record(kind, key, now))
    }

    async fn delete_record(&self, kind: RecordKind, key: &str) -> Result<bool, StoreError> {
        delegate!(self, "delete_record", s => s.delete_record(kind, key))
    }

    async fn index_add(
        &self,
        owner: &str,
        member: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        delegate!(self, "index_add", s => s.index_add(owner, member, expires_at))
    }

    async fn index_members(&self, owner: &str, now: Timestamp) -> Result<Vec<String>, StoreError> {
        delegate!(self, "index_members", s => s.index_members(owner, now))
    }

    async fn index_remove(&self, owner: &str, member: &str) -> Result<bool, StoreError> {
        delegate!(self, "index_remove", s => s.index_remove(owner, member))
    }

    async fn check_health(&self) -> Result<(), StoreError> {
        delegate!(self, "check_health", s => s.check_health())
    }
}
