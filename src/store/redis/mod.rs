//! The Redis store: shared state for several qrlogin instances.
//!
//! - A QR session is a hash `{prefix}qr:{id}` with fields `v` (version) and
//!   `d` (the session as JSON, secrets only as hashes), expiring by itself
//!   (`PEXPIREAT`) when its retention ends. A login is a string
//!   `{prefix}login:{sha256 of the cookie}`, expiring with the login. So
//!   nothing needs sweeping: this store does not implement [`super::Sweep`].
//! - An OAuth record is a hash `{prefix}{kind}:{key}` with fields `d` (JSON),
//!   `e` (expires_at, ms), `u` (the use nonce of its first user, absent while
//!   unused) and `w` (the nonce of its last write), expiring at `e`. Reads
//!   also compare `e` with the caller's `now`, which may run ahead of Redis's
//!   clock (tests inject one).
//! - A user's index is a sorted set `{prefix}user:{owner}` of members scored
//!   by their expiry; adding prunes members Redis's clock says are past and
//!   moves the key's own expiry to its latest member's.
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
//! - The first connection is made in the background ([`connect`]), retried
//!   with backoff until Redis answers; until then every command fails at once
//!   with `Unavailable`, and the subscription starts only after it.
//! - With Redis Sentinel ([`sentinel`]) the store follows the primary the
//!   sentinels name: a command that finds the primary gone or read-only
//!   makes it ask them again, and the command connection and the
//!   subscription move to the new primary. While none is known every
//!   command fails at once with `Unavailable`; held polls keep waiting.

mod backoff;
mod connect;
mod pubsub;
mod sentinel;
mod settings;
mod waiters;

pub use settings::{RedisSettings, RedisTarget, SentinelSettings};

use super::{AccountSession, PutMode, RecordKind, Retention, SessionStore, StoreError, UsedRecord};
use crate::clock::Timestamp;
use crate::observe::StoreMetrics;
use crate::secret::SecretHash;
use crate::session::{LoginSession, QrId};
use pubsub::Supervisor;
use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
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

/// KEYS: the record. ARGV: mode (`create`|`replace`), JSON, expires_at ms,
/// now ms, write nonce. A record is there if `e > now`. A retried call whose
/// first try landed finds its own nonce in `w` and reports that success
/// (Create would otherwise call its own record a collision). Create starts
/// from an empty hash, so an expired record's use mark does not carry over;
/// Replace keeps `u`.
const PUT_RECORD: &str = r"
local e = redis.call('HGET', KEYS[1], 'e')
local live = e and tonumber(e) > tonumber(ARGV[4])
if live and redis.call('HGET', KEYS[1], 'w') == ARGV[5] then return 1 end
if ARGV[1] == 'create' then
  if live then return 0 end
  redis.call('DEL', KEYS[1])
elseif not live then
  return 0
end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'e', ARGV[3], 'w', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// KEYS: the record. ARGV: now ms, use nonce. Returns nil or {JSON, first
/// use (1|0)}. `u` holds the nonce of the first user: a retried call whose
/// first try marked the record finds its own nonce there and is still the
/// first user; every other call sees a different nonce and is a reuse.
const USE_RECORD: &str = r"
local r = redis.call('HMGET', KEYS[1], 'd', 'e', 'u')
if not r[1] or not r[2] or tonumber(r[2]) <= tonumber(ARGV[1]) then return nil end
if not r[3] then
  redis.call('HSET', KEYS[1], 'u', ARGV[2])
  return {r[1], 1}
end
if r[3] == ARGV[2] then return {r[1], 1} end
return {r[1], 0}
";

/// KEYS: the index. ARGV: expires_at ms, member. Repeating it changes
/// nothing. Members past by Redis's clock go; the key lives as long as its
/// latest member (the score is re-formatted: Redis may print it as `1e+12`).
const INDEX_ADD: &str = r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', tonumber(last[2])))
end
return 1
";

/// A cheap-to-clone handle on the Redis-backed store.
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

/// The Redis node commands go to: the only one, or the primary the
/// sentinels named.
pub(super) struct Primary {
    /// For the subscription's own connection.
    client: redis::Client,
    conn: ConnectionManager,
    /// `host:port`, for the log (no credentials).
    addr: String,
}

impl Primary {
    fn new(client: redis::Client, conn: ConnectionManager) -> Arc<Self> {
        let addr = client.get_connection_info().addr().to_string();
        Arc::new(Self { client, conn, addr })
    }
}

/// Whether there is a primary to send commands to.
#[derive(Clone)]
pub(super) enum Link {
    /// Redis has not answered since start-up.
    Connecting,
    Up(Arc<Primary>),
    /// The primary was lost and the sentinels name no other yet (a
    /// failover under way).
    Down,
}

struct Shared {
    /// The command connection, replaced when the sentinels name a new primary.
    link: watch::Receiver<Link>,
    /// Told when a command found the primary unreachable or read-only, so
    /// the sentinels are asked again at once (nobody listens without them).
    suspect: Arc<Notify>,
    retention: Retention,
    prefix: String,
    channel: String,
    timeout: Duration,
    resync_every: Duration,
    insert: redis::Script,
    compare_and_set: redis::Script,
    put_record: redis::Script,
    use_record: redis::Script,
    index_add: redis::Script,
    waiters: Arc<Waiters>,
    /// Set once metrics are attached; shared with the subscriber task.
    metrics: Arc<OnceLock<StoreMetrics>>,
    /// Stops the connecting and subscribing task when the last handle goes away.
    _stop_background: DropGuard,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on the Redis `settings.target` names, connecting in the
    /// background: it never waits for Redis, and fails only on a URL (or
    /// sentinel addresses) the redis crate refuses. Until the first connection succeeds every
    /// operation answers `StoreError::Unavailable` at once and
    /// [`Self::connecting`] is true; then this instance's one pub/sub
    /// subscription starts. Must be called within a Tokio runtime.
    pub fn start(settings: &RedisSettings, retention: Retention) -> Result<Self, StoreError> {
        let channel = format!("{}changed", settings.key_prefix);
        let waiters = Arc::new(Waiters::default());
        let stop = CancellationToken::new();
        let metrics = Arc::new(OnceLock::new());
        let suspect = Arc::new(Notify::new());
        let (link_tx, link) = watch::channel(Link::Connecting);
        let supervisor = Supervisor::new(
            link.clone(),
            Arc::clone(&suspect),
            channel.clone(),
            Arc::clone(&waiters),
            Arc::clone(&metrics),
            settings,
        );
        match &settings.target {
            RedisTarget::Url(url) => {
                let client = redis::Client::open(url.as_str()).map_err(unavailable)?;
                let (settings, stop) = (settings.clone(), stop.clone());
                tokio::spawn(async move {
                    let Some(conn) = connect::first_connection(&client, &settings, &stop).await
                    else {
                        return;
                    };
                    link_tx.send_replace(Link::Up(Primary::new(client, conn)));
                    supervisor.run(stop).await;
                });
            }
            RedisTarget::Sentinel(sentinel_settings) => {
                let follower = sentinel::Follower::new(
                    sentinel_settings,
                    settings,
                    link_tx,
                    Arc::clone(&suspect),
                    Arc::clone(&metrics),
                )
                .map_err(unavailable)?;
                let stop = stop.clone();
                tokio::spawn(async move {
                    tokio::join!(follower.run(stop.clone()), supervisor.run(stop.clone()));
                });
            }
        }
        Ok(Self {
            shared: Arc::new(Shared {
                link,
                suspect,
                retention,
                prefix: settings.key_prefix.clone(),
                channel,
                timeout: settings.timeout,
                resync_every: settings.resync_every,
                insert: redis::Script::new(INSERT),
                compare_and_set: redis::Script::new(COMPARE_AND_SET),
                put_record: redis::Script::new(PUT_RECORD),
                use_record: redis::Script::new(USE_RECORD),
                index_add: redis::Script::new(INDEX_ADD),
                waiters,
                metrics,
                _stop_background: stop.drop_guard(),
            }),
        })
    }

    /// [`Self::start`], then waits for the first connection: fails if Redis
    /// does not answer within `settings.timeout`.
    pub async fn connect(
        settings: &RedisSettings,
        retention: Retention,
    ) -> Result<Self, StoreError> {
        let store = Self::start(settings, retention)?;
        match tokio::time::timeout(settings.timeout, store.connected()).await {
            Ok(()) => Ok(store),
            Err(_) => Err(StoreError::Unavailable(
                "timed out connecting to redis".into(),
            )),
        }
    }

    /// Returns once Redis has first answered (at once if it already has).
    pub async fn connected(&self) {
        let mut link = self.shared.link.clone();
        if link
            .wait_for(|l| !matches!(l, Link::Connecting))
            .await
            .is_err()
        {
            // The background task ended without connecting: it does so only
            // when the store is dropped, which cannot happen while `self` lives.
            std::future::pending::<()>().await;
        }
    }

    /// Whether Redis has not answered yet since this store was started
    /// (`/readyz` says "connecting" rather than "unavailable").
    pub fn connecting(&self) -> bool {
        matches!(*self.shared.link.borrow(), Link::Connecting)
    }

    /// Reports to `metrics` from now on (the first call wins).
    pub fn instrument(&self, metrics: StoreMetrics) {
        let _ = self.shared.metrics.set(metrics);
    }

    /// Runs one store operation, timing it as `op` (a round trip, unless it
    /// is a wait for a change) and counting its failure.
    pub(super) async fn observed<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let Some(metrics) = self.shared.metrics.get() else {
            return call.await;
        };
        let started = std::time::Instant::now();
        let result = call.await;
        let round_trip = (op != "wait_for_change").then(|| started.elapsed());
        metrics.op_done(op, round_trip, result.is_ok());
        result
    }

    fn qr_key(&self, id: &QrId) -> String {
        format!("{}qr:{id}", self.shared.prefix)
    }

    fn login_key(&self, key: &SecretHash) -> String {
        format!("{}login:{}", self.shared.prefix, key.to_hex())
    }

    fn record_key(&self, kind: RecordKind, key: &str) -> String {
        format!("{}{}:{key}", self.shared.prefix, kind.as_str())
    }

    /// Any owner string makes a distinct key: everything after the fixed
    /// `user:` is the owner, colons and all.
    fn index_key(&self, owner: &str) -> String {
        format!("{}user:{owner}", self.shared.prefix)
    }

    /// Runs one Redis operation within the timeout. The first command after
    /// a Redis restart fails on the dead connection (and makes the manager
    /// reconnect); it is tried once more so a restart is invisible to users.
    /// Every operation here is safe to repeat: reads and deletes trivially, a
    /// compare-and-set, a record write or a record use through its nonce, an
    /// index add by being idempotent, and an insert that did land reports a
    /// taken id (the caller draws a new one; the first copy expires). A
    /// repeated delete reports `false` for what its first try removed.
    /// A failure that says the primary may have moved (connection lost or
    /// refused, no answer in time, `READONLY`, `MASTERDOWN`) makes the
    /// sentinels be asked again, if there are any.
    async fn bounded<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        // Cloned out of the channel: no borrow of it is held across an await.
        let link = self.shared.link.borrow().clone();
        let conn = match link {
            Link::Up(primary) => primary.conn.clone(),
            Link::Connecting => {
                return Err(StoreError::Unavailable("not connected to redis yet".into()));
            }
            Link::Down => {
                return Err(StoreError::Unavailable(
                    "no redis primary: the sentinels have not named a new one yet".into(),
                ));
            }
        };
        let attempts = async {
            match op(conn.clone()).await {
                Err(e) if e.is_connection_dropped() || e.is_io_error() => {
                    tracing::debug!(error = %e, "redis connection lost; retrying once");
                    op(conn).await
                }
                other => other,
            }
        };
        let Ok(result) = tokio::time::timeout(self.shared.timeout, attempts).await else {
            self.shared.suspect.notify_one();
            return Err(StoreError::Unavailable(
                "redis did not answer in time".into(),
            ));
        };
        result.map_err(|e| {
            if sentinel::primary_may_have_moved(&e) {
                self.shared.suspect.notify_one();
            }
            unavailable(e)
        })
    }

    async fn version(&self, id: &QrId) -> Result<Option<u64>, StoreError> {
        let key = self.qr_key(id);
        self.bounded(|mut conn| {
            let key = key.clone();
            async move { conn.hget::<_, _, Option<u64>>(key, "v").await }
        })
        .await
    }

    /// `use_record` as the call carrying `nonce`: calls with the same nonce
    /// are one call retried.
    async fn use_record_as(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
        nonce: &str,
    ) -> Result<Option<UsedRecord>, StoreError> {
        let mut call = self.shared.use_record.key(self.record_key(kind, key));
        call.arg(now.as_millis()).arg(nonce);
        let call = &call;
        let used: Option<(String, i64)> = self
            .bounded(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(used.map(|(json, first)| UsedRecord {
            json,
            first_use: first == 1,
        }))
    }

    /// Long polls currently waiting on session `id` in this instance.
    #[cfg(feature = "test-util")]
    pub fn waiting_pollers(&self, id: &QrId) -> usize {
        self.shared.waiters.count(id)
    }

    /// `use_record` with a chosen nonce, so a test can replay one call as
    /// [`Self::bounded`] does when the first reply was lost.
    #[cfg(feature = "test-util")]
    pub async fn use_record_with_nonce(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
        nonce: &str,
    ) -> Result<Option<UsedRecord>, StoreError> {
        self.use_record_as(kind, key, now, nonce).await
    }
}

/// A fresh 64-bit value identifying one call: a compare-and-set, a record
/// write or a record use.
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

    async fn put_record(
        &self,
        kind: RecordKind,
        key: &str,
        json: &str,
        expires_at: Timestamp,
        mode: PutMode,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mode = match mode {
            PutMode::Create => "create",
            PutMode::Replace => "replace",
        };
        let mut call = self.shared.put_record.key(self.record_key(kind, key));
        call.arg(mode)
            .arg(json)
            // PEXPIREAT refuses what is not a positive time.
            .arg(expires_at.as_millis().max(1))
            .arg(now.as_millis())
            .arg(write_nonce());
        let call = &call;
        let put: i64 = self
            .bounded(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(put == 1)
    }

    async fn get_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.record_key(kind, key)).arg("d").arg("e");
        let cmd = &cmd;
        let (json, expires_at): (Option<String>, Option<i64>) = self
            .bounded(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await?;
        Ok(json.filter(|_| expires_at.is_some_and(|e| now.as_millis() < e)))
    }

    async fn use_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<UsedRecord>, StoreError> {
        self.use_record_as(kind, key, now, &write_nonce()).await
    }

    async fn delete_record(&self, kind: RecordKind, key: &str) -> Result<bool, StoreError> {
        let key = &self.record_key(kind, key);
        let removed: i64 = self
            .bounded(|mut conn| async move { conn.del(key).await })
            .await?;
        Ok(removed > 0)
    }

    async fn index_add(
        &self,
        owner: &str,
        member: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut call = self.shared.index_add.key(self.index_key(owner));
        call.arg(expires_at.as_millis().max(1)).arg(member);
        let call = &call;
        self.bounded(|mut conn| async move { call.invoke_async::<()>(&mut conn).await })
            .await
    }

    async fn index_members(&self, owner: &str, now: Timestamp) -> Result<Vec<String>, StoreError> {
        // Sorted-set order: by score (expiry), equal scores by member bytes.
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(self.index_key(owner))
            .arg(format!("({}", now.as_millis()))
            .arg("+inf");
        let cmd = &cmd;
        self.bounded(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    async fn index_remove(&self, owner: &str, member: &str) -> Result<bool, StoreError> {
        let key = &self.index_key(owner);
        let removed: i64 = self
            .bounded(|mut conn| async move { conn.zrem(key, member).await })
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
