//! Following the primary Redis Sentinel names, through failovers.
//!
//! A [`ConnectionManager`](redis::aio::ConnectionManager) reconnects to the
//! address it was made for; after a failover that is the old primary, which
//! is down or has come back as a read-only replica. So the [`Follower`]
//! owns the store's [`Link`]: it asks every sentinel at once where the
//! primary is ([`answers`]), checks with `ROLE` that the node they name
//! really is the primary (a sentinel's view can lag), connects to it and
//! publishes it; the subscription supervisor follows the link.
//!
//! It asks again every `heartbeat`, which catches a failover nobody has
//! noticed yet, and sooner when a command or the subscription finds the
//! primary read-only, lost or refusing connections (the store's `suspect`
//! signal) — but never faster than a backoff that only a calm spell of
//! `stable_after` resets, so failing commands cannot turn the checks into
//! a storm. A check that finds the same primary keeps its connection.
//!
//! The current primary is kept without the sentinels' word only when none
//! of them can be reached; when they answer that it is down, or name none,
//! the link goes [`Link::Down`] at once: commands fail with `Unavailable`
//! and held polls keep waiting, rather than writes going to a node that is
//! being failed over (they would be lost when it is demoted). The
//! supervisor wakes the held polls once subscribed on the new primary.

mod answers;

use super::backoff::Backoff;
use super::connect::{Failure, connect_once};
use super::{Link, Primary, RedisSettings, SentinelSettings};
use crate::observe::StoreMetrics;
use answers::{Answer, Verdict};
use futures_util::FutureExt as _;
use redis::{ConnectionAddr, ErrorKind, IntoConnectionInfo as _, RedisConnectionInfo};
use redis::{RedisError, RedisResult, ServerErrorKind};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Whether a failed command hints that the primary moved: the connection
/// was lost or refused, or the node says it is a replica now (`READONLY`)
/// or has lost its own primary (`MASTERDOWN`). Not a timeout: an
/// overloaded primary is still the primary, and asking the sentinels
/// about it on every slow command would only add load.
pub(super) fn primary_may_have_moved(e: &RedisError) -> bool {
    if e.is_timeout() {
        return false;
    }
    e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
        // Redis 6 reports a refused write inside a script as
        // `ERR Error running script … -READONLY You can't write …`.
        || e.detail().is_some_and(|d| d.contains("READONLY"))
}

/// How a check ended, which sets the pace of the next.
enum Checked {
    /// The sentinels named a primary and it says it is one: the link is on it.
    Settled,
    /// The link stays on the current primary without the sentinels' word
    /// (none answered) or without its own (`ROLE` went unanswered): check
    /// again soon.
    Kept(String),
    /// No primary can be used: the link is down (or still connecting).
    Failed(Failure),
}

/// Keeps the store's [`Link`] on the primary the sentinels name.
pub(super) struct Follower {
    /// One client per sentinel, logged in to it.
    sentinels: Vec<redis::Client>,
    master_name: String,
    /// How to log in to the data nodes.
    node_login: RedisConnectionInfo,
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
        let clients = sentinels
            .sentinels
            .iter()
            .map(|(host, port)| {
                let info = ConnectionAddr::Tcp(host.clone(), *port)
                    .into_connection_info()?
                    .set_redis_settings(sentinel_login.clone());
                redis::Client::open(info)
            })
            .collect::<RedisResult<Vec<_>>>()?;
        Ok(Self {
            sentinels: clients,
            master_name: sentinels.master_name.clone(),
            node_login: login(&sentinels.username, &sentinels.password).set_db(sentinels.db),
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
        // Since the last trouble (a check that did not settle, or one a
        // suspect asked for): only a calm spell of `stable_after` starts the
        // backoff over, so trouble that keeps coming keeps the checks slow.
        let mut calm_since = Instant::now();
        let mut trouble = |backoff: &mut Backoff| {
            backoff.connection_ended(calm_since.elapsed());
            calm_since = Instant::now();
            backoff.next_pause()
        };
        // Attempts that failed in a row, for the log.
        let mut failed: u32 = 0;
        loop {
            let checked = tokio::select! {
                r = self.check() => r,
                () = stop.cancelled() => return,
            };
            let checked_at = Instant::now();
            // Commands that failed while the check ran failed on what it
            // has just looked at: they ask for no other check.
            let _ = self.suspect.notified().now_or_never();
            let pause = match checked {
                Checked::Settled => {
                    failed = 0;
                    None
                }
                Checked::Kept(why) => {
                    failed = 0;
                    let pause = trouble(&mut backoff);
                    tracing::warn!(error = %why, retry_in = ?pause, master_name = %self.master_name,
                        "staying on the current redis primary without confirmation; checking again soon");
                    Some(pause)
                }
                Checked::Failed(failure) => {
                    failed = failed.saturating_add(1);
                    let pause = trouble(&mut backoff);
                    self.log_failure(&failure, failed, pause);
                    Some(pause)
                }
            };
            let wait = async {
                if let Some(pause) = pause {
                    return tokio::time::sleep(pause).await;
                }
                tokio::select! {
                    () = tokio::time::sleep(self.settings.heartbeat) => {}
                    () = self.suspect.notified() => {
                        // However many commands tell, one check per
                        // backoff step.
                        let gap = trouble(&mut backoff);
                        tokio::time::sleep_until(checked_at + gap).await;
                    }
                }
            };
            tokio::select! {
                () = wait => {}
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
                "the sentinels name no usable redis primary; serving 503 store_unavailable \
                 until they do"
            );
        }
    }

    /// Asks every sentinel for the primary and moves the link to it if it
    /// is another node, or takes the link down if they name none that is up.
    async fn check(&mut self) -> Checked {
        let current = match &*self.link.borrow() {
            Link::Up(primary) => Some(Arc::clone(primary)),
            Link::Connecting | Link::Down => None,
        };
        let timeout = self.settings.timeout;
        let asked = self
            .sentinels
            .iter()
            .map(|s| answers::ask(s, &self.master_name, timeout));
        let answers: Vec<Answer> = futures_util::future::join_all(asked).await;
        let (host, port) = match answers::verdict(&answers) {
            Verdict::Primary { host, port } => (host, port),
            Verdict::Unreachable(why) => return self.without_sentinels(current, why).await,
            Verdict::Down(error) => {
                return self.lose(
                    current.as_deref(),
                    Failure {
                        error,
                        refused: false,
                    },
                );
            }
            Verdict::Refused(error) => {
                return self.lose(
                    current.as_deref(),
                    Failure {
                        error,
                        refused: true,
                    },
                );
            }
        };
        let addr = ConnectionAddr::Tcp(host, port);
        if let Some(primary) = current.as_ref().filter(|p| p.addr == addr.to_string()) {
            // The same primary: keep its connection (and so the subscription).
            return match role(primary, timeout).await {
                Ok(true) => Checked::Settled,
                Ok(false) => self.lose(Some(primary), not_primary(&primary.addr)),
                Err(why) => Checked::Kept(format!("{} did not answer ROLE: {why}", primary.addr)),
            };
        }
        let client = match addr
            .into_connection_info()
            .map(|info| info.set_redis_settings(self.node_login.clone()))
            .and_then(redis::Client::open)
        {
            Ok(client) => client,
            Err(e) => {
                let failure = Failure {
                    refused: false,
                    error: e.to_string(),
                };
                return self.lose(current.as_deref(), failure);
            }
        };
        let conn = match connect_once(&client, &self.settings).await {
            Ok(conn) => conn,
            Err(failure) => return self.lose(current.as_deref(), failure),
        };
        let primary = Primary::new(client, conn);
        match role(&primary, timeout).await {
            Ok(true) => {}
            Ok(false) => return self.lose(current.as_deref(), not_primary(&primary.addr)),
            Err(error) => {
                let failure = Failure {
                    refused: false,
                    error: format!("ROLE: {error}"),
                };
                return self.lose(current.as_deref(), failure);
            }
        }
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
        Checked::Settled
    }

    /// No sentinel could be asked (`why`): keeps `current` if it still
    /// answers `ROLE` as a primary (the sentinels may be the ones cut off),
    /// else takes the link down.
    async fn without_sentinels(&self, current: Option<Arc<Primary>>, why: String) -> Checked {
        if let Some(primary) = &current
            && role(primary, self.settings.timeout).await == Ok(true)
        {
            return Checked::Kept(format!(
                "cannot ask the sentinels ({why}); {} still says it is the primary",
                primary.addr
            ));
        }
        self.lose(
            current.as_deref(),
            Failure {
                error: why,
                refused: false,
            },
        )
    }

    /// Takes the link down, saying so once, when it was up.
    fn lose(&self, current: Option<&Primary>, why: Failure) -> Checked {
        if let Some(old) = current {
            tracing::warn!(
                primary = %old.addr,
                master_name = %self.master_name,
                error = %why.error,
                "lost the redis primary; serving 503 store_unavailable until the sentinels \
                 name one"
            );
            self.link.send_replace(Link::Down);
        }
        Checked::Failed(why)
    }
}

fn not_primary(addr: &str) -> Failure {
    Failure {
        error: format!("the sentinels name {addr}, but it is not a primary (ROLE)"),
        refused: false,
    }
}

/// Whether `primary` answers `ROLE` as a primary, within `timeout`; an
/// error if it does not answer.
async fn role(primary: &Primary, timeout: Duration) -> Result<bool, String> {
    let mut conn = primary.conn.clone();
    let role = redis::cmd("ROLE");
    match tokio::time::timeout(timeout, role.query_async::<redis::Role>(&mut conn)).await {
        Ok(Ok(role)) => Ok(matches!(role, redis::Role::Primary { .. })),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}
