//! The Redis Cluster store: the same data operations as on one Redis
//! ([`Commands`], the same Lua scripts), sharded over a cluster's primaries.
//!
//! - A QR session lives under `{prefix}{qr:<id>}` (hash tag `{qr:<id>}`);
//!   its compare-and-set script `SPUBLISH`es the id on
//!   `{prefix}{qr:<id>}:wake`, which has the same tag, so the write and the
//!   wake-up are one script on one slot. Logins, OAuth records and user
//!   indexes keep their one-Redis names: each is one self-contained key.
//! - Sharded pub/sub (Redis 7) keeps a message on the shard that owns the
//!   slot, where plain `PUBLISH` would be broadcast to every node of the
//!   cluster. Each instance `SSUBSCRIBE`s only to the sessions it holds
//!   polls on ([`subscriptions`]), over a second cluster client's RESP3
//!   connections that carry nothing else, and fans hints out to its local
//!   waiters.
//! - As on one Redis, a wake-up is only a reason to re-read, waiters re-read
//!   every `resync_every` anyway, every command is bounded by the timeout
//!   (503 `store_unavailable`, never a hang), and the first connection is
//!   made in the background, retried with backoff. `MOVED`/`ASK`
//!   redirections and failovers are followed by the redis crate's cluster
//!   client, within that same timeout.

mod settings;
mod subscriptions;

pub use settings::RedisClusterSettings;

use super::backoff::Backoff;
use super::commands::{Commands, Connections as _, Wake, unavailable};
use super::connect;
use super::keys::KeyLayout;
use super::waiters::Waiters;
use crate::clock::Timestamp;
use crate::observe::StoreMetrics;
use crate::secret::SecretHash;
use crate::session::{LoginSession, QrId};
use crate::store::{
    AccountSession, PutMode, RecordKind, Retention, SessionStore, StoreError, UsedRecord,
};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use subscriptions::Subscriptions;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

/// A cheap-to-clone handle on the Redis Cluster store.
#[derive(Clone)]
pub struct RedisClusterStore {
    shared: Arc<Shared>,
}

struct Shared {
    /// The cluster connection; `None` until the cluster first answered.
    conn: watch::Receiver<Option<ClusterConnection>>,
    commands: Commands<watch::Receiver<Option<ClusterConnection>>>,
    subscriptions: Arc<Subscriptions>,
    waiters: Arc<Waiters>,
    resync_every: Duration,
    timeout: Duration,
    metrics: Arc<OnceLock<StoreMetrics>>,
    /// Stops the connecting and listening tasks when the last handle goes away.
    _stop_background: DropGuard,
}

impl std::fmt::Debug for RedisClusterStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClusterStore")
            .field("prefix", &self.shared.commands.keys.prefix())
            .finish_non_exhaustive()
    }
}

impl RedisClusterStore {
    /// A store on the cluster the seed `settings.nodes` belong to,
    /// connecting in the background (it never waits for the cluster, and
    /// fails only on seed URLs the client cannot use); until the cluster
    /// first answers every operation answers `StoreError::Unavailable` at
    /// once. Must be called within a Tokio runtime.
    pub fn start(
        settings: &RedisClusterSettings,
        retention: Retention,
    ) -> Result<Self, StoreError> {
        let builder = || {
            ClusterClientBuilder::new(settings.nodes.clone())
                .connection_timeout(settings.timeout)
                .response_timeout(settings.timeout)
                // Redirections and a failover's first refusals are retried
                // quickly; the store's timeout bounds the whole call anyway.
                .retries(8)
                .min_retry_wait(10)
                .max_retry_wait(500)
        };
        // Data and subscriptions never share a connection. A node that
        // loses a slot sends an unsolicited `SUNSUBSCRIBE` on the connection
        // that subscribed its channels, and the redis crate (1.8) takes it
        // as the reply to the oldest command in flight there: on a shared
        // connection every later reply on that node would go to the wrong
        // command (one caller served another's login). The data client
        // speaks RESP2, like the one-Redis store, and never subscribes, so
        // no push can reach it; on the subscription client a shifted reply
        // only confirms the wrong subscription, which is a hint, never data.
        let client = builder().build().map_err(unavailable)?;
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let sub_client = builder()
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(push_tx)
            .build()
            .map_err(unavailable)?;
        let keys = KeyLayout::cluster(&settings.key_prefix);
        let waiters = Arc::new(Waiters::default());
        let metrics = Arc::new(OnceLock::new());
        let stop = CancellationToken::new();
        let (connected, conn) = watch::channel(None);
        let (sub_connected, sub_conn) = watch::channel(None);
        let (subscriptions, inbox) = Subscriptions::new(
            keys.clone(),
            sub_conn,
            Arc::clone(&waiters),
            Arc::clone(&metrics),
            push_rx,
            settings,
        );
        let background = {
            let (settings, stop) = (settings.clone(), stop.clone());
            let subscriptions = Arc::clone(&subscriptions);
            async move {
                let backoff = Backoff::new(
                    settings.min_resubscribe_delay,
                    settings.max_resubscribe_delay,
                    settings.stable_after,
                );
                let first = |client: redis::cluster::ClusterClient, ready: watch::Sender<_>| {
                    let (backoff, stop) = (backoff.clone(), &stop);
                    async move {
                        let conn = connect::retry_until_connected(
                            || client.get_async_connection(),
                            settings.timeout,
                            backoff,
                            "store.redis_cluster_nodes",
                            stop,
                        );
                        if let Some(conn) = conn.await {
                            ready.send_replace(Some(conn));
                        }
                    }
                };
                let connecting = async {
                    tokio::join!(first(client, connected), first(sub_client, sub_connected));
                };
                // Listening from the start drains released polls even
                // while the cluster has never answered.
                tokio::join!(connecting, subscriptions.listen(inbox, stop.clone()));
            }
        };
        tokio::spawn(background);
        Ok(Self {
            shared: Arc::new(Shared {
                conn: conn.clone(),
                commands: Commands::new(conn, keys, Wake::PerSession, retention, settings.timeout),
                subscriptions,
                waiters,
                resync_every: settings.resync_every,
                timeout: settings.timeout,
                metrics,
                _stop_background: stop.drop_guard(),
            }),
        })
    }

    /// [`Self::start`], then waits for the first connection: fails if the
    /// cluster does not answer within `settings.timeout`.
    pub async fn connect(
        settings: &RedisClusterSettings,
        retention: Retention,
    ) -> Result<Self, StoreError> {
        let store = Self::start(settings, retention)?;
        match tokio::time::timeout(settings.timeout, store.connected()).await {
            Ok(()) => Ok(store),
            Err(_) => Err(StoreError::Unavailable(
                "timed out connecting to the redis cluster".into(),
            )),
        }
    }

    /// Returns once the cluster has first answered (at once if it already has).
    pub async fn connected(&self) {
        super::connected(&self.shared.conn).await;
    }

    /// Whether the cluster has not answered yet since this store was started.
    pub fn connecting(&self) -> bool {
        self.shared.conn.borrow().is_none()
    }

    /// Reports to `metrics` from now on (the first call wins).
    pub fn instrument(&self, metrics: StoreMetrics) {
        let _ = self.shared.metrics.set(metrics);
    }

    /// Runs one store operation, timing it as `op` and counting its failure.
    pub(in crate::store) async fn observed<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        super::observed(self.shared.metrics.get(), op, call).await
    }

    /// Long polls currently waiting on session `id` in this instance.
    #[cfg(feature = "test-util")]
    pub fn waiting_pollers(&self, id: &QrId) -> usize {
        self.shared.waiters.count(id)
    }

    /// Whether this instance believes it is subscribed to session `id`'s channel.
    #[cfg(feature = "test-util")]
    pub fn subscribed_to(&self, id: &QrId) -> bool {
        self.shared.subscriptions.subscribed(id)
    }
}

impl SessionStore for RedisClusterStore {
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
        // Register locally and subscribe to the session's channel first,
        // then read: a change published in between still wakes us. Every
        // wake-up only leads to a re-read.
        let mut waiter = self.shared.waiters.subscribe(id);
        let subscriptions = &self.shared.subscriptions;
        let Ok(_hold) = tokio::time::timeout_at(deadline, subscriptions.hold(id)).await else {
            return Ok(());
        };
        loop {
            let read = self.shared.commands.version(id);
            match tokio::time::timeout_at(deadline, read).await {
                Err(_) => return Ok(()),
                Ok(Ok(Some(v))) if v == seen_version => {}
                Ok(Ok(_)) => return Ok(()),
                // The cluster is away: keep holding; the caller's next read reports it.
                Ok(Err(e)) => tracing::debug!(error = %e, "resync read failed while waiting"),
            }
            let resync_at = deadline.min(Instant::now() + self.shared.resync_every);
            if tokio::time::timeout_at(resync_at, waiter.changed())
                .await
                .is_err()
            {
                // The periodic re-read: also retry a subscription that failed.
                let _ = tokio::time::timeout_at(deadline, subscriptions.ensure(id)).await;
            }
            if Instant::now() >= deadline {
                return Ok(());
            }
        }
    }

    super::commands::delegate_to_commands!();
    /// One node answering is enough: a PING of every primary would mark
    /// every instance unready while one shard fails over, turning a partial
    /// outage into a total one.
    async fn check_health(&self) -> Result<(), StoreError> {
        let mut conn = self.shared.conn.current()?;
        let ping = conn.route_command(
            redis::cmd("PING"),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        );
        match tokio::time::timeout(self.shared.timeout, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(StoreError::Unavailable(
                "redis cluster did not answer in time".into(),
            )),
        }
    }
}
