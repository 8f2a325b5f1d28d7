//! The Redis store: shared state for several qrlogin instances.
//!
//! - A QR session is a hash `{prefix}qr:{id}` with fields `v` (version) and
//!   `d` (the session as JSON, secrets only as hashes), expiring by itself
//!   (`PEXPIREAT`) when its retention ends. A login is a string
//!   `{prefix}login:{sha256 of the cookie}`, expiring with the login. So
//!   nothing needs sweeping: this store does not implement [`super::Sweep`].
//! - Writes are Lua scripts, so compare-and-set happens atomically on the
//!   server; `redis::Script` re-loads a script Redis lost (`NOSCRIPT`) after a
//!   restart. No WATCH/MULTI, which is unsound on a shared multiplexed connection.
//! - The compare-and-set script also publishes the session id on
//!   `{prefix}changed`. Each instance keeps ONE subscription ([`pubsub`]) and
//!   fans the hint out to its local waiters ([`waiters`]). Pub/sub drops messages while
//!   disconnected, so a waiter re-reads the version after subscribing, after
//!   every resubscription, and every `resync_every` (2 s by default); a
//!   wake-up is only a reason to re-read, never taken as a change by itself.
//! - Every command is bounded by a timeout, so an unreachable Redis turns
//!   into a quick `StoreError::Unavailable` (HTTP 503), never a hang.

mod pubsub;
mod settings;
mod waiters;

pub use settings::RedisSettings;

use super::{AccountSession, Retention, SessionStore, StoreError};
use crate::clock::Timestamp;
use crate::secret::SecretHash;
use crate::session::{LoginSession, QrId};
use pubsub::Supervisor;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use waiters::Waiters;

const INSERT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// ARGV: expected version, new version, JSON, PEXPIREAT ms, channel, id,
/// write nonce. The nonce makes a retried call (its first reply lost with the
/// connection) report the success it had, without letting a *different*
/// writer that computed the identical next state (two racing redemptions of
/// one ticket do) count as a winner too.
const COMPARE_AND_SET: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if v == ARGV[2] and redis.call('HGET', KEYS[1], 'w') == ARGV[7] then return 1 end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3], 'w', ARGV[7])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
";

/// A cheap-to-clone handle on the Redis-backed store.
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

struct Shared {
    conn: ConnectionManager,
    retention: Retention,
    prefix: String,
    channel: String,
    timeout: Duration,
    resync_every: Duration,
    insert: redis::Script,
    compare_and_set: redis::Script,
    waiters: Arc<Waiters>,
    /// Stops the subscriber task when the last handle goes away.
    _stop_subscriber: DropGuard,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to Redis (failing if it cannot be reached within the
    /// timeout) and starts this instance's one pub/sub subscription.
    pub async fn connect(
        settings: &RedisSettings,
        retention: Retention,
    ) -> Result<Self, StoreError> {
        let client = redis::Client::open(settings.url.as_str()).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = tokio::time::timeout(
            settings.timeout,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| StoreError::Unavailable("timed out connecting to redis".into()))?
        .map_err(unavailable)?;

        let channel = format!("{}changed", settings.key_prefix);
        let waiters = Arc::new(Waiters::default());
        let stop = CancellationToken::new();
        let supervisor = Supervisor::new(client, channel.clone(), Arc::clone(&waiters), settings);
        tokio::spawn(supervisor.run(stop.clone()));
        Ok(Self {
            shared: Arc::new(Shared {
                conn,
                retention,
                prefix: settings.key_prefix.clone(),
                channel,
                timeout: settings.timeout,
                resync_every: settings.resync_every,
                insert: redis::Script::new(INSERT),
                compare_and_set: redis::Script::new(COMPARE_AND_SET),
                waiters,
                _stop_subscriber: stop.drop_guard(),
            }),
        })
    }

    fn qr_key(&self, id: &QrId) -> String {
        format!("{}qr:{id}", self.shared.prefix)
    }

    fn login_key(&self, key: &SecretHash) -> String {
        format!("{}login:{}", self.shared.prefix, key.to_hex())
    }

    /// Runs one Redis operation within the timeout. The first command after
    /// a Redis restart fails on the dead connection (and makes the manager
    /// reconnect); it is tried once more so a restart is invisible to users.
    /// Every operation here is safe to repeat: reads and deletes trivially, a
    /// compare-and-set through its write nonce, an insert that did land
    /// reports a taken id (the caller draws a new one; the first copy expires).
    async fn bounded<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let attempts = async {
            match op(self.shared.conn.clone()).await {
                Err(e) if e.is_connection_dropped() || e.is_io_error() => {
                    tracing::debug!(error = %e, "redis connection lost; retrying once");
                    op(self.shared.conn.clone()).await
                }
                other => other,
            }
        };
        tokio::time::timeout(self.shared.timeout, attempts)
            .await
            .map_err(|_| StoreError::Unavailable("redis did not answer in time".into()))?
            .map_err(unavailable)
    }

    async fn version(&self, id: &QrId) -> Result<Option<u64>, StoreError> {
        let key = self.qr_key(id);
        self.bounded(|mut conn| {
            let key = key.clone();
            async move { conn.hget::<_, _, Option<u64>>(key, "v").await }
        })
        .await
    }

    /// Long polls currently waiting on session `id` in this instance.
    #[cfg(feature = "test-util")]
    pub fn waiting_pollers(&self, id: &QrId) -> usize {
        self.shared.waiters.count(id)
    }
}

/// A fresh 64-bit value identifying one compare-and-set call.
fn write_nonce() -> String {
    let mut raw = [0u8; 8];
    crate::secret::os_random(&mut raw);
    format!("{:016x}", u64::from_be_bytes(raw))
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Unavailable(format!("corrupt record in redis: {e}"))
}

impl SessionStore for RedisStore {
    async fn insert(&self, session: &LoginSession) -> Result<bool, StoreError> {
        let json = serde_json::to_string(session).map_err(corrupt)?;
        let mut call = self.shared.insert.key(self.qr_key(&session.id));
        call.arg(session.version)
            .arg(json)
            .arg(self.shared.retention.forget_at(session).as_millis());
        let call = &call;
        let inserted: i64 = self
            .bounded(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(inserted == 1)
    }

    async fn get(&self, id: &QrId, now: Timestamp) -> Result<Option<LoginSession>, StoreError> {
        let key = &self.qr_key(id);
        let json: Option<String> = self
            .bounded(|mut conn| async move { conn.hget(key, "d").await })
            .await?;
        let Some(json) = json else { return Ok(None) };
        let session: LoginSession = serde_json::from_str(&json).map_err(corrupt)?;
        Ok(Some(session).filter(|s| now < self.shared.retention.forget_at(s)))
    }

    async fn compare_and_set(
        &self,
        expected_version: u64,
        next: &LoginSession,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(next).map_err(corrupt)?;
        let mut call = self.shared.compare_and_set.key(self.qr_key(&next.id));
        call.arg(expected_version)
            .arg(next.version)
            .arg(json)
            .arg(self.shared.retention.forget_at(next).as_millis())
            .arg(&self.shared.channel)
            .arg(next.id.as_str())
            .arg(write_nonce());
        let call = &call;
        let swapped: i64 = self
            .bounded(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        if swapped == 1 {
            // Local waiters need not wait for the round trip through pub/sub.
            self.shared.waiters.notify(&next.id);
        }
        Ok(swapped == 1)
    }

    async fn wait_for_change(
        &self,
        id: &QrId,
        seen_version: u64,
        deadline: Instant,
    ) -> Result<(), StoreError> {
        // Subscribe first, then read: a change published in between still
        // wakes us. Every wake-up (a hint for this id, a resubscription, the
        // resync timer) only leads to a re-read; we return when the version
        // really moved, the session is gone, or the deadline passed.
        let mut waiter = self.shared.waiters.subscribe(id);
        loop {
            match tokio::time::timeout_at(deadline, self.version(id)).await {
                Err(_) => return Ok(()),
                Ok(Ok(Some(v))) if v == seen_version => {}
                Ok(Ok(_)) => return Ok(()),
                // Redis is away: keep holding; the caller's next read reports it.
                Ok(Err(e)) => tracing::debug!(error = %e, "resync read failed while waiting"),
            }
            let resync_at = deadline.min(Instant::now() + self.shared.resync_every);
            let _ = tokio::time::timeout_at(resync_at, waiter.changed()).await;
            if Instant::now() >= deadline {
                return Ok(());
            }
        }
    }

    async fn put_account(
        &self,
        key: &SecretHash,
        account: &AccountSession,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(account).map_err(corrupt)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.login_key(key))
            .arg(json)
            .arg("PXAT")
            .arg(account.expires_at.as_millis().max(1));
        let cmd = &cmd;
        self.bounded(|mut conn| async move { cmd.query_async::<()>(&mut conn).await })
            .await
    }

    async fn get_account(
        &self,
        key: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<AccountSession>, StoreError> {
        let key = &self.login_key(key);
        let json: Option<String> = self
            .bounded(|mut conn| async move { conn.get(key).await })
            .await?;
        let Some(json) = json else { return Ok(None) };
        let account: AccountSession = serde_json::from_str(&json).map_err(corrupt)?;
        Ok(Some(account).filter(|a| now < a.expires_at))
    }

    async fn delete_account(&self, key: &SecretHash) -> Result<bool, StoreError> {
        let key = &self.login_key(key);
        let removed: i64 = self
            .bounded(|mut conn| async move { conn.del(key).await })
            .await?;
        Ok(removed > 0)
    }

    async fn check_health(&self) -> Result<(), StoreError> {
        self.bounded(
            |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await },
        )
        .await
        .map(drop)
    }
}
