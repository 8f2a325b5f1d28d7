//! The data operations every Redis deployment shares — one Redis or a
//! Redis Cluster: the Lua scripts, each call bounded by the timeout, and
//! the decoding. Generic over where commands go ([`Connections`]); what
//! differs between deployments is only that, the key names ([`KeyLayout`])
//! and where a change is published ([`Wake`]). Waiting for a change is each
//! store's own.

use super::keys::KeyLayout;
use crate::clock::Timestamp;
use crate::secret::SecretHash;
use crate::session::{LoginSession, QrId};
use crate::store::{AccountSession, PutMode, RecordKind, Retention, StoreError, UsedRecord};
use redis::AsyncCommands as _;
use redis::aio::ConnectionLike;
use std::time::Duration;
use tokio::sync::watch;

const INSERT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// ARGV: expected version, new version, JSON, PEXPIREAT ms, channel, id,
/// write nonce, publish command (`PUBLISH` on one Redis, `SPUBLISH` on a
/// cluster, where the channel shares the session's hash tag). The nonce
/// makes a retried call (its first reply lost with the connection) report
/// the success it had, without letting a *different* writer that computed
/// the identical next state (two racing redemptions of one ticket do) count
/// as a winner too.
const COMPARE_AND_SET: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if v == ARGV[2] and redis.call('HGET', KEYS[1], 'w') == ARGV[7] then return 1 end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3], 'w', ARGV[7])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call(ARGV[8], ARGV[5], ARGV[6])
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

/// Where a successful compare-and-set announces the change.
#[derive(Clone, Debug)]
pub(super) enum Wake {
    /// `PUBLISH` of the session id on one channel every instance subscribes to.
    Shared(String),
    /// `SPUBLISH` of the session id on the session's own sharded channel
    /// ([`KeyLayout::wake_channel`]), which only instances holding polls on
    /// it subscribe to.
    PerSession,
}

/// Where a store's commands go.
pub(super) trait Connections: Send + Sync + 'static {
    /// A `ConnectionManager`, or a cluster connection.
    type Conn: ConnectionLike + Clone + Send + Sync + 'static;

    /// The connection to use now, or why there is none.
    fn current(&self) -> Result<Self::Conn, StoreError>;

    /// A command failed with `error` (`None`: no answer in time). A
    /// deployment that can look for a server that moved does so here.
    fn failed(&self, _error: Option<&redis::RedisError>) {}
}

/// The connection made in the background: `None` until Redis first answered.
impl<C> Connections for watch::Receiver<Option<C>>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    type Conn = C;

    fn current(&self) -> Result<C, StoreError> {
        // Cloned out of the channel: no borrow of it is held across an await.
        let conn = self.borrow().clone();
        conn.ok_or_else(|| StoreError::Unavailable("not connected to redis yet".into()))
    }
}

/// The operations on one deployment, over the connections `L` gives.
pub(super) struct Commands<L> {
    conn: L,
    pub(super) keys: KeyLayout,
    wake: Wake,
    retention: Retention,
    timeout: Duration,
    insert: redis::Script,
    compare_and_set: redis::Script,
    put_record: redis::Script,
    use_record: redis::Script,
    index_add: redis::Script,
}

impl<L: Connections> Commands<L> {
    pub(super) fn new(
        conn: L,
        keys: KeyLayout,
        wake: Wake,
        retention: Retention,
        timeout: Duration,
    ) -> Self {
        Self {
            conn,
            keys,
            wake,
            retention,
            timeout,
            insert: redis::Script::new(INSERT),
            compare_and_set: redis::Script::new(COMPARE_AND_SET),
            put_record: redis::Script::new(PUT_RECORD),
            use_record: redis::Script::new(USE_RECORD),
            index_add: redis::Script::new(INDEX_ADD),
        }
    }

    /// Runs one Redis operation within the timeout. The first command after
    /// a Redis restart fails on the dead connection (and makes the manager
    /// reconnect); it is tried once more so a restart is invisible to users.
    /// Every operation here is safe to repeat: reads and deletes trivially, a
    /// compare-and-set, a record write or a record use through its nonce, an
    /// index add by being idempotent, and an insert that did land reports a
    /// taken id (the caller draws a new one; the first copy expires). A
    /// repeated delete reports `false` for what its first try removed.
    async fn bounded<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn(L::Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.conn.current()?;
        let attempts = async {
            match op(conn.clone()).await {
                Err(e) if e.is_connection_dropped() || e.is_io_error() => {
                    tracing::debug!(error = %e, "redis connection lost; retrying once");
                    op(conn).await
                }
                other => other,
            }
        };
        let Ok(result) = tokio::time::timeout(self.timeout, attempts).await else {
            self.conn.failed(None);
            return Err(StoreError::Unavailable(
                "redis did not answer in time".into(),
            ));
        };
        result.map_err(|e| {
            self.conn.failed(Some(&e));
            unavailable(e)
        })
    }

    /// The stored version of session `id`, if it is there.
    pub(super) async fn version(&self, id: &QrId) -> Result<Option<u64>, StoreError> {
        let key = &self.keys.qr(id);
        self.bounded(|mut conn| async move { conn.hget::<_, _, Option<u64>>(key, "v").await })
            .await
    }

    pub(super) async fn insert(&self, session: &LoginSession) -> Result<bool, StoreError> {
        let json = serde_json::to_string(session).map_err(corrupt)?;
        let mut call = self.insert.key(self.keys.qr(&session.id));
        call.arg(session.version)
            .arg(json)
            .arg(self.retention.forget_at(session).as_millis());
        let call = &call;
        let inserted: i64 = self
            .bounded(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(inserted == 1)
    }

    pub(super) async fn get(
        &self,
        id: &QrId,
        now: Timestamp,
    ) -> Result<Option<LoginSession>, StoreError> {
        let key = &self.keys.qr(id);
        let json: Option<String> = self
            .bounded(|mut conn| async move { conn.hget(key, "d").await })
            .await?;
        let Some(json) = json else { return Ok(None) };
        let session: LoginSession = serde_json::from_str(&json).map_err(corrupt)?;
        Ok(Some(session).filter(|s| now < self.retention.forget_at(s)))
    }

    /// Writes `next` if the stored version is `expected_version`, and
    /// publishes the change where [`Wake`] says.
    pub(super) async fn compare_and_set(
        &self,
        expected_version: u64,
        next: &LoginSession,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(next).map_err(corrupt)?;
        let (publish, channel) = match &self.wake {
            Wake::Shared(channel) => ("PUBLISH", channel.clone()),
            Wake::PerSession => ("SPUBLISH", self.keys.wake_channel(&next.id)),
        };
        let mut call = self.compare_and_set.key(self.keys.qr(&next.id));
        call.arg(expected_version)
            .arg(next.version)
            .arg(json)
            .arg(self.retention.forget_at(next).as_millis())
            .arg(channel)
            .arg(next.id.as_str())
            .arg(write_nonce())
            .arg(publish);
        let call = &call;
        let swapped: i64 = self
            .bounded(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(swapped == 1)
    }

    pub(super) async fn put_account(
        &self,
        key: &SecretHash,
        account: &AccountSession,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(account).map_err(corrupt)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.keys.login(key))
            .arg(json)
            .arg("PXAT")
            .arg(account.expires_at.as_millis().max(1));
        let cmd = &cmd;
        self.bounded(|mut conn| async move { cmd.query_async::<()>(&mut conn).await })
            .await
    }

    pub(super) async fn get_account(
        &self,
        key: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<AccountSession>, StoreError> {
        let key = &self.keys.login(key);
        let json: Option<String> = self
            .bounded(|mut conn| async move { conn.get(key).await })
            .await?;
        let Some(json) = json else { return Ok(None) };
        let account: AccountSession = serde_json::from_str(&json).map_err(corrupt)?;
        Ok(Some(account).filter(|a| now < a.expires_at))
    }

    pub(super) async fn delete_account(&self, key: &SecretHash) -> Result<bool, StoreError> {
        let key = &self.keys.login(key);
        let removed: i64 = self
            .bounded(|mut conn| async move { conn.del(key).await })
            .await?;
        Ok(removed > 0)
    }

    pub(super) async fn put_record(
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
        let mut call = self.put_record.key(self.keys.record(kind, key));
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

    pub(super) async fn get_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.keys.record(kind, key)).arg("d").arg("e");
        let cmd = &cmd;
        let (json, expires_at): (Option<String>, Option<i64>) = self
            .bounded(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await?;
        Ok(json.filter(|_| expires_at.is_some_and(|e| now.as_millis() < e)))
    }

    /// `use_record` as the call carrying `nonce`: calls with the same nonce
    /// are one call retried.
    pub(super) async fn use_record_as(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
        nonce: &str,
    ) -> Result<Option<UsedRecord>, StoreError> {
        let mut call = self.use_record.key(self.keys.record(kind, key));
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

    pub(super) async fn use_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<UsedRecord>, StoreError> {
        self.use_record_as(kind, key, now, &write_nonce()).await
    }

    pub(super) async fn delete_record(
        &self,
        kind: RecordKind,
        key: &str,
    ) -> Result<bool, StoreError> {
        let key = &self.keys.record(kind, key);
        let removed: i64 = self
            .bounded(|mut conn| async move { conn.del(key).await })
            .await?;
        Ok(removed > 0)
    }

    pub(super) async fn index_add(
        &self,
        owner: &str,
        member: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut call = self.index_add.key(self.keys.index(owner));
        call.arg(expires_at.as_millis().max(1)).arg(member);
        let call = &call;
        self.bounded(|mut conn| async move { call.invoke_async::<()>(&mut conn).await })
            .await
    }

    pub(super) async fn index_members(
        &self,
        owner: &str,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        // Sorted-set order: by score (expiry), equal scores by member bytes.
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(self.keys.index(owner))
            .arg(format!("({}", now.as_millis()))
            .arg("+inf");
        let cmd = &cmd;
        self.bounded(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    pub(super) async fn index_remove(&self, owner: &str, member: &str) -> Result<bool, StoreError> {
        let key = &self.keys.index(owner);
        let removed: i64 = self
            .bounded(|mut conn| async move { conn.zrem(key, member).await })
            .await?;
        Ok(removed > 0)
    }

    pub(super) async fn check_health(&self) -> Result<(), StoreError> {
        self.bounded(
            |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await },
        )
        .await
        .map(drop)
    }
}

/// A fresh 64-bit value identifying one call: a compare-and-set, a record
/// write or a record use.
fn write_nonce() -> String {
    let mut raw = [0u8; 8];
    crate::secret::os_random(&mut raw);
    format!("{:016x}", u64::from_be_bytes(raw))
}

pub(super) fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Unavailable(format!("corrupt record in redis: {e}"))
}

/// The `SessionStore` methods both Redis stores answer the same way, by
/// their [`Commands`]: logins, OAuth records and user indexes, which are
/// single self-contained keys on one Redis and on a cluster alike. Expands
/// inside `impl SessionStore for …` of a type with `shared.commands`.
macro_rules! delegate_to_commands {
    () => {
        async fn put_account(
            &self,
            key: &SecretHash,
            account: &AccountSession,
        ) -> Result<(), StoreError> {
            self.shared.commands.put_account(key, account).await
        }

        async fn get_account(
            &self,
            key: &SecretHash,
            now: Timestamp,
        ) -> Result<Option<AccountSession>, StoreError> {
            self.shared.commands.get_account(key, now).await
        }

        async fn delete_account(&self, key: &SecretHash) -> Result<bool, StoreError> {
            self.shared.commands.delete_account(key).await
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
            let commands = &self.shared.commands;
            commands
                .put_record(kind, key, json, expires_at, mode, now)
                .await
        }

        async fn get_record(
            &self,
            kind: RecordKind,
            key: &str,
            now: Timestamp,
        ) -> Result<Option<String>, StoreError> {
            self.shared.commands.get_record(kind, key, now).await
        }

        async fn use_record(
            &self,
            kind: RecordKind,
            key: &str,
            now: Timestamp,
        ) -> Result<Option<UsedRecord>, StoreError> {
            self.shared.commands.use_record(kind, key, now).await
        }

        async fn delete_record(&self, kind: RecordKind, key: &str) -> Result<bool, StoreError> {
            self.shared.commands.delete_record(kind, key).await
        }

        async fn index_add(
            &self,
            owner: &str,
            member: &str,
            expires_at: Timestamp,
        ) -> Result<(), StoreError> {
            self.shared
                .commands
                .index_add(owner, member, expires_at)
                .await
        }

        async fn index_members(
            &self,
            owner: &str,
            now: Timestamp,
        ) -> Result<Vec<String>, StoreError> {
            self.shared.commands.index_members(owner, now).await
        }

        async fn index_remove(&self, owner: &str, member: &str) -> Result<bool, StoreError> {
            self.shared.commands.index_remove(owner, member).await
        }
    };
}
pub(super) use delegate_to_commands;
