//! The subscription supervisor: keeps this instance's one subscription to
//! the session-change channel alive and fans its messages out to the
//! local [`Waiters`].
//!
//! The supervisor loops over three small steps: [`subscribe`] (connect and
//! SUBSCRIBE, bounded by the timeout), [`run_subscription`] (deliver
//! messages and ping on a heartbeat until the subscription dies, the
//! primary changes or the store is dropped), and a pause chosen by
//! [`Backoff`]. It subscribes on whichever primary the [`Link`] names.

use super::backoff::Backoff;
use super::waiters::Waiters;
use super::{Link, RedisSettings};
use crate::observe::StoreMetrics;
use crate::session::QrId;
use futures_util::StreamExt as _;
use redis::aio::{PubSub, PubSubSink};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Everything the supervisor needs; [`Self::run`] consumes it.
pub(super) struct Supervisor {
    /// The primary to subscribe on; a new one ends the current subscription.
    link: watch::Receiver<Link>,
    /// Told when the subscription is closed or refused: the primary may
    /// have moved.
    suspect: Arc<Notify>,
    channel: String,
    waiters: Arc<Waiters>,
    /// Counts resubscriptions, once metrics are attached.
    metrics: Arc<OnceLock<StoreMetrics>>,
    /// Bound on connecting + subscribing, and on each heartbeat's pong.
    timeout: Duration,
    heartbeat: Duration,
    backoff: Backoff,
}

impl Supervisor {
    pub(super) fn new(
        link: watch::Receiver<Link>,
        suspect: Arc<Notify>,
        channel: String,
        waiters: Arc<Waiters>,
        metrics: Arc<OnceLock<StoreMetrics>>,
        settings: &RedisSettings,
    ) -> Self {
        Self {
            link,
            suspect,
            channel,
            waiters,
            metrics,
            timeout: settings.timeout,
            heartbeat: settings.heartbeat,
            backoff: Backoff::new(
                settings.min_resubscribe_delay,
                settings.max_resubscribe_delay,
                settings.stable_after,
            ),
        }
    }

    /// Keeps one subscription alive until `stop` is cancelled; after every
    /// (re)subscription, wakes all local waiters to re-read.
    pub(super) async fn run(mut self, stop: CancellationToken) {
        let channel = &self.channel;
        // Attempts that failed in a row, for the log.
        let mut failed: u32 = 0;
        let mut subscribed_before = false;
        loop {
            let client = tokio::select! {
                c = primary_client(&mut self.link) => match c {
                    Some(c) => c,
                    None => return,
                },
                () = stop.cancelled() => return,
            };
            let attempt = tokio::select! {
                r = subscribe(&client, channel, self.timeout) => r,
                () = stop.cancelled() => return,
            };
            let pause = match attempt {
                Ok(pubsub) => {
                    failed = 0;
                    let subscribed_at = Instant::now();
                    let primary = client.get_connection_info().addr();
                    tracing::info!(%channel, %primary, "subscribed to session changes");
                    if subscribed_before && let Some(m) = self.metrics.get() {
                        m.resubscribed();
                    }
                    subscribed_before = true;
                    // Anything published while we were away is lost: re-read.
                    self.waiters.notify_all();
                    let ended = run_subscription(
                        pubsub,
                        &self.waiters,
                        self.heartbeat,
                        self.timeout,
                        &mut self.link,
                        &stop,
                    )
                    .await;
                    match ended {
                        Ended::Stopped => return,
                        // Straight on to the new primary: no pause.
                        Ended::PrimaryChanged => continue,
                        Ended::Closed => {
                            tracing::warn!(
                                %channel,
                                "lost the session-change subscription; resubscribing"
                            );
                            // Closed under us: the primary may have moved.
                            self.suspect.notify_one();
                        }
                        // Slow, not gone: no reason to ask the sentinels.
                        Ended::PingUnanswered => tracing::warn!(
                            %channel,
                            "the session-change subscription stopped answering pings; resubscribing"
                        ),
                    }
                    // Waiters are not woken here — they keep holding on their
                    // resync timer — but after the next subscription succeeds.
                    self.backoff.connection_ended(subscribed_at.elapsed());
                    self.backoff.next_pause()
                }
                Err(e) => {
                    failed = failed.saturating_add(1);
                    if let SubscribeError::Redis(e) = &e
                        && super::sentinel::primary_may_have_moved(e)
                    {
                        self.suspect.notify_one();
                    }
                    let pause = self.backoff.next_pause();
                    tracing::warn!(
                        error = %e,
                        attempt = failed,
                        retry_in = ?pause,
                        "cannot subscribe to session changes"
                    );
                    pause
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                // A new primary is worth trying at once.
                () = link_changed(&mut self.link) => {}
                () = stop.cancelled() => return,
            }
        }
    }
}

/// The client of the current primary, once there is one; `None` if the
/// store is gone.
async fn primary_client(link: &mut watch::Receiver<Link>) -> Option<redis::Client> {
    let up = link.wait_for(|l| matches!(l, Link::Up(_))).await.ok()?;
    match &*up {
        Link::Up(primary) => Some(primary.client.clone()),
        Link::Connecting | Link::Down => None,
    }
}

/// Returns when the link changes (never once the store is gone: `stop`
/// ends the caller's wait then).
async fn link_changed(link: &mut watch::Receiver<Link>) {
    if link.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Why subscribing failed.
#[derive(Debug, thiserror::Error)]
enum SubscribeError {
    #[error("timed out subscribing")]
    TimedOut,
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

/// Opens a pub/sub connection and subscribes to `channel`, within `timeout`.
async fn subscribe(
    client: &redis::Client,
    channel: &str,
    timeout: Duration,
) -> Result<PubSub, SubscribeError> {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub)
    };
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| SubscribeError::TimedOut)?
}

/// How a subscription ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The store was dropped.
    Stopped,
    /// Redis closed the connection (restart, `CLIENT KILL`, network error).
    Closed,
    /// A heartbeat ping got no pong within the timeout: the connection may
    /// be half-open, and would otherwise stay silent forever.
    PingUnanswered,
    /// The sentinels named another primary (or none): subscribe there.
    PrimaryChanged,
}

/// Delivers the subscription's messages to `waiters` and pings it every
/// `heartbeat`, until it dies, `link` changes or `stop` is cancelled.
async fn run_subscription(
    pubsub: PubSub,
    waiters: &Waiters,
    heartbeat: Duration,
    timeout: Duration,
    link: &mut watch::Receiver<Link>,
    stop: &CancellationToken,
) -> Ended {
    let (mut sink, mut messages) = pubsub.split();
    let mut beat = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    loop {
        tokio::select! {
            msg = messages.next() => match msg {
                Some(msg) => {
                    if let Some(id) = msg.get_payload::<String>().ok().and_then(|p| QrId::parse(&p)) {
                        waiters.notify(&id);
                    }
                }
                None => return Ended::Closed,
            },
            _ = beat.tick() => {
                if !answers_ping(&mut sink, timeout).await {
                    return Ended::PingUnanswered;
                }
            }
            () = link_changed(link) => return Ended::PrimaryChanged,
            () = stop.cancelled() => return Ended::Stopped,
        }
    }
}

/// Whether the subscribed connection answers a PING within `timeout`.
async fn answers_ping(sink: &mut PubSubSink, timeout: Duration) -> bool {
    let pong = tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await;
    matches!(pong, Ok(Ok(_)))
}
