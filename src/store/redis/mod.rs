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
//! - The operations themselves ([`commands`]: the scripts, the timeout, the
//!   decoding) and the key names ([`keys`]) are shared with the Redis Cluster
//!   store ([`cluster`]), which differs in where a session lives (a hash tag
//!   per session) and how a change is announced (sharded pub/sub per session).

mod backoff;
mod cluster;
mod commands;
mod connect;
mod keys;
mod pubsub;
mod sentinel;
mod settings;
mod waiters;

pub use cluster::{RedisClusterSettings, RedisClusterStore};
pub use settings::{RedisSettings, RedisTarget, SentinelSettings};

use super::{AccountSession, PutMode, RecordKind, Retention, SessionStore, StoreError, UsedRecord};
use crate::clock::Timestamp;
use crate::observe::StoreMetrics;
use crate::secret::SecretHash;
use crate::session::{LoginSession, QrId};
use commands::{Commands, Connections, Wake, unavailable};
use keys::KeyLayout;
use pubsub::Supervisor;
use redis::aio::ConnectionManager;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use waiters::Waiters;

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

/// Commands go to the primary the [`Link`] names; a failure that hints it
/// moved tells the sentinels' follower to look again.
struct PrimaryLink {
    link: watch::Receiver<Link>,
    /// Nobody listens without sentinels.
    suspect: Arc<Notify>,
}

impl Connections for PrimaryLink {
    type Conn = ConnectionManager;

    fn current(&self) -> Result<ConnectionManager, StoreError> {
        // Cloned out of the channel: no borrow of it is held across an await.
        let link = self.link.borrow().clone();
        match link {
            Link::Up(primary) => Ok(primary.conn.clone()),
            Link::Connecting => Err(StoreError::Unavailable("not connected to redis yet".into())),
            Link::Down => Err(StoreError::Unavailable(
                "no redis primary: the sentinels have not named a new one yet".into(),
            )),
        }
    }

    /// A failure that says the primary may have moved (connection lost or
    /// refused, `READONLY`, `MASTERDOWN`) makes the sentinels be asked
    /// again, if there are any. No answer in time does not: an overloaded
    /// primary is still the primary, and asking about it on every slow
    /// command only adds load.
    fn failed(&self, error: Option<&redis::RedisError>) {
        if error.is_some_and(sentinel::primary_may_have_moved) {
            self.suspect.notify_one();
        }
    }
}

struct Shared {
    /// The command connection, replaced when the sentinels name a new primary.
    link: watch::Receiver<Link>,
    commands: Commands<PrimaryLink>,
    /// With sentinels, the bound on readiness's `ROLE`: a primary demoted
    /// under the store still answers `PING`, but refuses every write.
    role_check: Option<Duration>,
    /// Told when readiness finds the node is no longer the primary.
    suspect: Arc<Notify>,
    resync_every: Duration,
    waiters: Arc<Waiters>,
    /// Set once metrics are attached; shared with the subscriber task.
    metrics: Arc<OnceLock<StoreMetrics>>,
    /// Stops the connecting and subscribing task when the last handle goes away.
    _stop_background: DropGuard,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.shared.commands.keys.prefix())
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
        let primary = PrimaryLink {
            link: link.clone(),
            suspect: Arc::clone(&suspect),
        };
        let keys = KeyLayout::single(&settings.key_prefix);
        let wake = Wake::Shared(channel);
        Ok(Self {
            shared: Arc::new(Shared {
                link,
                commands: Commands::new(primary, keys, wake, retention, settings.timeout),
                role_check: matches!(settings.target, RedisTarget::Sentinel(_))
                    .then_some(settings.timeout),
                suspect,
                resync_every: settings.resync_every,
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
        observed(self.shared.metrics.get(), op, call).await
    }

    /// Long polls currently waiting on session `id` in this instance.
    #[cfg(feature = "test-util")]
    pub fn waiting_pollers(&self, id: &QrId) -> usize {
        self.shared.waiters.count(id)
    }

    /// `use_record` with a chosen nonce, so a test can replay one call as
    /// a lost reply makes the store do.
    #[cfg(feature = "test-util")]
    pub async fn use_record_with_nonce(
        &self,
        kind: RecordKind,
        key: &str,
        now: Timestamp,
        nonce: &str,
    ) -> Result<Option<UsedRecord>, StoreError> {
        self.shared
            .commands
            .use_record_as(kind, key, now, nonce)
            .await
    }
}

/// Returns once `conn` holds a connection (at once if it already does).
async fn connected<C>(conn: &watch::Receiver<Option<C>>) {
    let mut conn = conn.clone();
    if conn.wait_for(Option::is_some).await.is_err() {
        // The background task ended without connecting: it does so only
        // when the store is dropped, which cannot happen while `self` lives.
        std::future::pending::<()>().await;
    }
}

/// Runs one store operation, timing it as `op` on `metrics` (a round trip,
/// unless it is a wait for a change) and counting its failure.
async fn observed<T>(
    metrics: Option<&StoreMetrics>,
    op: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let Some(metrics) = metrics else {
        return call.await;
    };
    let started = std::time::Instant::now();
    let result = call.await;
    let round_trip = (op != "wait_for_change").then(|| started.elapsed());
    metrics.op_done(op, round_trip, result.is_ok());
    result
}

impl SessionStore for RedisStore {
    async fn insert(&self, session: &LoginSession) -> Result<bool, StoreError> {
        self.shared.commands.insert(session).await
    }

    async fn get(&self, id: &QrId, now: Timestamp) -> Result<Option<LoginSession>, StoreError> {
        self.shared.commands.get(id, now).await
    }

    async fn compare_and_set(
        &self,
        expected_version: u64,
        next: &LoginSession,
    ) -> Result<bool, StoreError> {
        let swapped = self
            .shared
            .commands
            .compare_and_set(expected_version, next)
            .await?;
        if swapped {
            // Local waiters need not wait for the round trip through pub/sub.
            self.shared.waiters.notify(&next.id);
        }
        Ok(swapped)
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
            let read = self.shared.commands.version(id);
            match tokio::time::timeout_at(deadline, read).await {
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

    commands::delegate_to_commands!();
    async fn check_health(&self) -> Result<(), StoreError> {
        self.shared.commands.check_health().await?;
        let Some(timeout) = self.shared.role_check else {
            return Ok(());
        };
        let link = self.shared.link.borrow().clone();
        let Link::Up(primary) = link else {
            return Err(StoreError::Unavailable("no redis primary".into()));
        };
        let mut conn = primary.conn.clone();
        let cmd = redis::cmd("ROLE");
        let role = cmd.query_async::<redis::Role>(&mut conn);
        match tokio::time::timeout(timeout, role).await {
            Ok(Ok(redis::Role::Primary { .. })) => Ok(()),
            Ok(Ok(_)) => {
                // As a refused write would: have the sentinels asked.
                self.shared.suspect.notify_one();
                Err(StoreError::Unavailable(
                    "the redis node in use is no longer the primary".into(),
                ))
            }
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(StoreError::Unavailable(
                "redis did not answer ROLE in time".into(),
            )),
        }
    }
}
