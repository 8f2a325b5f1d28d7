//! Following the primary Redis Sentinel names, through failovers.
//!
//! A [`ConnectionManager`](redis::aio::ConnectionManager) reconnects to the
//! address it was made for; after a failover that is the old primary, which
//! is down or has come back as a read-only replica. So the [`Follower`]
//! owns the store's [`Link`]: it asks the sentinels for the primary (the
//! redis crate asks them in turn and checks with `ROLE` that the node they
//! name really is the primary, since a sentinel's view can lag), connects
//! to it and publishes it; the subscription supervisor follows the link. It
//! asks again when a command or the subscription finds the primary gone or
//! read-only (the store's `suspect` signal) and every `heartbeat`, which
//! also catches a failover nobody has noticed yet. While no primary is
//! known the link is [`Link::Down`]: commands fail at once with
//! `Unavailable` and held polls keep waiting; the supervisor wakes them all
//! once subscribed on the new primary.

use super::backoff::Backoff;
use super::connect::{Failure, connect_once};
use super::{Link, Primary, RedisSettings, SentinelSettings};
use crate::observe::StoreMetrics;
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{ConnectionAddr, ErrorKind, IntoConnectionInfo as _, RedisConnectionInfo};
use redis::{RedisError, RedisResult, ServerErrorKind};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Whether a failed command hints that the primary moved: the connection
/// was lost or refused, or the node says it is a replica now (`READONLY`)
/// or has lost its own primary (`MASTERDOWN`).
pub(super) fn primary_may_have_moved(e: &RedisError) -> bool {
    e.is_connection_dropped()
        || e.is_io_error()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

/// Keeps the store's [`Link`] on the primary the sentinels name.
pub(super) struct Follower {
    sentinel: Sentinel,
    master_name: String,
    /// How to log in to the data nodes.
    node: SentinelNodeConnectionInfo,
    settings: RedisSettings,
    link: watch::Sender<Link>,
    /// The address of the last primary used, kept while the link is down,
    /// so the log says where the primary moved from.
    last_addr: Option<String>,
    suspect: Arc<Notify>,
    metrics: Arc<OnceLock<StoreMetrics>>,
}

impl Follower {
    /// Fails only on sentinel addresses the redis crate refuses
    /// (validation already checked them).
    pub(super) fn new(
        sentinels: &SentinelSettings,
        settings: &RedisSettings,
        link: watch::Sender<Link>,
        suspect: Arc<Notify>,
        metrics: Arc<OnceLock<StoreMetrics>>,
    ) -> RedisResult<Self> {
        let login = |user: &Option<String>, password: &Option<String>| {
            let mut info = RedisConnectionInfo::default();
            if let Some(user) = user {
                info = info.set_username(user);
            }
            if let Some(password) = password {
                info = info.set_password(password);
            }
            info
        };
        let sentinel_login = login(&sentinels.sentinel_username, &sentinels.sentinel_password);
        let addrs = sentinels
            .sentinels
            .iter()
            .map(|(host, port)| {
                ConnectionAddr::Tcp(host.clone(), *port)
                    .into_connection_info()
                    .map(|info| info.set_redis_settings(sentinel_login.clone()))
            })
            .collect::<RedisResult<Vec<_>>>()?;
        let node_login = login(&sentinels.username, &sentinels.password).set_db(sentinels.db);
        Ok(Self {
            sentinel: Sentinel::build(addrs)?,
            master_name: sentinels.master_name.clone(),
            node: SentinelNodeConnectionInfo::default().set_redis_connection_info(node_login),
            settings: settings.clone(),
            link,
            last_addr: None,
            suspect,
            metrics,
        })
    }

    /// Follows the primary until `stop` is cancelled.
    pub(super) async fn run(mut self, stop: CancellationToken) {
        let s = &self.settings;
        let (min, max, stable) = (
            s.min_resubscribe_delay,
            s.max_resubscribe_delay,
            s.stable_after,
        );
        let mut backoff = Backoff::new(min, max, stable);
        // Attempts that failed in a row, for the log.
        let mut failed: u32 = 0;
        loop {
            let checked = tokio::select! {
                r = self.check() => r,
                () = stop.cancelled() => return,
            };
            let checked_at = Instant::now();
            let pause = match checked {
                Ok(()) => {
                    failed = 0;
                    backoff = Backoff::new(min, max, stable);
                    self.settings.heartbeat
                }
                Err(failure) => {
                    failed = failed.saturating_add(1);
                    let pause = backoff.next_pause();
                    self.log_failure(&failure, failed, pause);
                    pause
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = self.suspect.notified() => {
                    // Many failing commands tell at once: one check per
                    // short while is plenty.
                    tokio::select! {
                        () = tokio::time::sleep_until(checked_at + min) => {}
                        () = stop.cancelled() => return,
                    }
                }
                () = stop.cancelled() => return,
            }
        }
    }

    fn log_failure(&self, Failure { error, refused }: &Failure, attempt: u32, retry_in: Duration) {
        if *refused {
            tracing::error!(
                %error,
                attempt,
                ?retry_in,
                "redis refused the login: check store.redis_username, store.redis_password, \
                 store.redis_db (the data nodes) and store.redis_sentinel_username, \
                 store.redis_sentinel_password (the sentinels); serving 503 store_unavailable \
                 meanwhile"
            );
        } else {
            tracing::warn!(
                %error,
                attempt,
                ?retry_in,
                master_name = %self.master_name,
                "the sentinels name no reachable redis primary; serving 503 store_unavailable \
                 until they do"
            );
        }
    }

    /// Asks the sentinels for the primary and moves the link to it if it
    /// is another node. Fails when no primary can be used; the link is then
    /// [`Link::Down`] (or still [`Link::Connecting`]), unless the sentinels
    /// could not be asked and the current primary still says it is one.
    async fn check(&mut self) -> Result<(), Failure> {
        let current = match &*self.link.borrow() {
            Link::Up(primary) => Some(Arc::clone(primary)),
            Link::Connecting | Link::Down => None,
        };
        let timeout = self.settings.timeout;
        let found = tokio::time::timeout(
            timeout,
            self.sentinel
                .async_master_for(&self.master_name, Some(&self.node)),
        )
        .await;
        let client = match found {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                let failure = Failure {
                    refused: refused(&e),
                    error: e.to_string(),
                };
                return self.without_primary(current, failure).await;
            }
            Err(_) => {
                let failure = Failure {
                    error: "the sentinels did not answer in time".into(),
                    refused: false,
                };
                return self.without_primary(current, failure).await;
            }
        };
        let addr = client.get_connection_info().addr().to_string();
        if current.as_ref().is_some_and(|p| p.addr == addr) {
            return Ok(());
        }
        let conn = match connect_once(&client, &self.settings).await {
            Ok(conn) => conn,
            Err(failure) => {
                self.lose(current.as_deref());
                return Err(failure);
            }
        };
        let primary = Primary::new(client, conn);
        match self.last_addr.replace(primary.addr.clone()) {
            Some(old) if old != primary.addr => {
                tracing::warn!(
                    from = %old,
                    to = %primary.addr,
                    master_name = %self.master_name,
                    "the redis primary moved; switched to the one the sentinels name"
                );
                if let Some(m) = self.metrics.get() {
                    m.primary_switched();
                }
            }
            Some(_) => tracing::info!(
                primary = %primary.addr,
                master_name = %self.master_name,
                "reconnected to the redis primary the sentinels name"
            ),
            None => tracing::info!(
                primary = %primary.addr,
                master_name = %self.master_name,
                "connected to the redis primary the sentinels name"
            ),
        }
        self.link.send_replace(Link::Up(primary));
        Ok(())
    }

    /// The sentinels named no usable primary (`why`): keeps `current` if it
    /// still answers `ROLE` as a primary (the sentinels may be the ones
    /// unreachable), else takes the link down.
    async fn without_primary(
        &self,
        current: Option<Arc<Primary>>,
        why: Failure,
    ) -> Result<(), Failure> {
        if let Some(primary) = &current
            && is_primary(primary, self.settings.timeout).await
        {
            tracing::warn!(
                error = %why.error,
                primary = %primary.addr,
                "cannot ask the sentinels for the redis primary; staying on the current one, \
                 which still is"
            );
            return Ok(());
        }
        self.lose(current.as_deref());
        Err(why)
    }

    /// Takes the link down, saying so once, when it was up.
    fn lose(&self, current: Option<&Primary>) {
        if let Some(old) = current {
            tracing::warn!(
                primary = %old.addr,
                master_name = %self.master_name,
                "lost the redis primary; serving 503 store_unavailable until the sentinels \
                 name one"
            );
            self.link.send_replace(Link::Down);
        }
    }
}

/// Whether Redis refused us: only the operator can fix that.
fn refused(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::AuthenticationFailed | ErrorKind::InvalidClientConfig
    )
}

/// Whether `primary` answers `ROLE` as a primary within `timeout`.
async fn is_primary(primary: &Primary, timeout: Duration) -> bool {
    let mut conn = primary.conn.clone();
    let role = redis::cmd("ROLE");
    matches!(
        tokio::time::timeout(timeout, role.query_async::<redis::Role>(&mut conn)).await,
        Ok(Ok(redis::Role::Primary { .. }))
    )
}
