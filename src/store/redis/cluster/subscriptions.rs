//! This instance's sharded subscriptions: one `SSUBSCRIBE` per session it
//! holds polls on, taken by the first poll and dropped (`SUNSUBSCRIBE`)
//! after the last one, and the task that turns the cluster's RESP3 pushes
//! into wake-ups for the local [`Waiters`].
//!
//! A subscription can vanish without our asking: when a session's slot
//! migrates to another primary, the old one sends an unsolicited
//! `SUNSUBSCRIBE`, which the redis crate (1.8) takes as a confirmation and
//! forgets the channel, so later `SPUBLISH`es on the new owner would reach
//! no one. Every `SUNSUBSCRIBE` push for a session still held here is
//! therefore answered by subscribing again (routed by the crate to the
//! slot's current owner, following `MOVED`). When a node connection drops
//! (`Disconnection` push) every held channel is subscribed again. After
//! either, the session's waiters re-read: changes published in the gap
//! were lost. The waiters' periodic re-read stays as the safety net.

use super::super::backoff::Backoff;
use super::super::keys::KeyLayout;
use super::super::waiters::Waiters;
use super::RedisClusterSettings;
use crate::observe::StoreMetrics;
use crate::session::QrId;
use futures_util::StreamExt as _;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Resubscriptions after a dropped connection run this many at a time.
const RESUBSCRIBE_CONCURRENCY: usize = 64;

/// Attempts at unsubscribing a released session's channel before giving
/// up (its subscription then costs the node a little until it is renewed).
const UNSUBSCRIBE_ATTEMPTS: usize = 8;

/// The sessions this instance holds polls on, and their channels' state.
pub(super) struct Subscriptions {
    keys: KeyLayout,
    conn: watch::Receiver<Option<ClusterConnection>>,
    held: Mutex<HashMap<QrId, Held>>,
    waiters: Arc<Waiters>,
    metrics: Arc<OnceLock<StoreMetrics>>,
    /// Sessions whose last poll left, for the listener to unsubscribe.
    released: mpsc::UnboundedSender<QrId>,
    /// Resubscription passes started after dropped connections; only the
    /// latest one runs on.
    passes: AtomicU64,
    timeout: Duration,
    min_delay: Duration,
    max_delay: Duration,
    stable_after: Duration,
}

/// One session's entry.
#[derive(Default)]
struct Held {
    /// Polls held on it here.
    polls: usize,
    /// Whether its channel is known to be subscribed (confirmed, and no
    /// unsubscribe or disconnection seen since).
    subscribed: bool,
}

/// What the listener task needs besides [`Subscriptions`].
pub(super) struct Inbox {
    pushes: mpsc::UnboundedReceiver<PushInfo>,
    released: mpsc::UnboundedReceiver<QrId>,
}

impl Subscriptions {
    /// The registry, and the inbox its [`Self::listen`] task reads: the
    /// subscription client's pushes arrive on `pushes`.
    pub(super) fn new(
        keys: KeyLayout,
        conn: watch::Receiver<Option<ClusterConnection>>,
        waiters: Arc<Waiters>,
        metrics: Arc<OnceLock<StoreMetrics>>,
        pushes: mpsc::UnboundedReceiver<PushInfo>,
        settings: &RedisClusterSettings,
    ) -> (Arc<Self>, Inbox) {
        let (released, released_rx) = mpsc::unbounded_channel();
        let subs = Arc::new(Self {
            keys,
            conn,
            held: Mutex::default(),
            waiters,
            metrics,
            released,
            passes: AtomicU64::new(0),
            timeout: settings.timeout,
            min_delay: settings.min_resubscribe_delay,
            max_delay: settings.max_resubscribe_delay,
            stable_after: settings.stable_after,
        });
        let inbox = Inbox {
            pushes,
            released: released_rx,
        };
        (subs, inbox)
    }

    /// Registers a poll on `id`; unless the session's channel is already
    /// known to be subscribed, subscribes to it and returns once Redis
    /// confirmed it (or the timeout passed: the poll then relies on
    /// [`Self::ensure`] and its re-reads), so a change published after this
    /// returns wakes the poll. A later poll does not lean on an earlier
    /// one's subscribe still in flight: that poll may be cancelled midway.
    /// (A second `SSUBSCRIBE` of a channel is harmless.) Dropping the guard
    /// releases the poll.
    pub(super) async fn hold(self: &Arc<Self>, id: &QrId) -> Hold {
        let unsubscribed = {
            let mut held = self.lock();
            let entry = held.entry(id.clone()).or_default();
            entry.polls += 1;
            !entry.subscribed
        };
        // The guard exists before the await, so a poll cancelled meanwhile
        // is still released.
        let hold = Hold {
            id: id.clone(),
            subs: Arc::clone(self),
        };
        if unsubscribed {
            self.subscribe_once(id).await;
        }
        hold
    }

    /// Subscribes again if the channel of held session `id` is not known
    /// to be subscribed (a failed or lost subscription); called on every
    /// periodic re-read.
    pub(super) async fn ensure(&self, id: &QrId) {
        let missing = self.lock().get(id).is_some_and(|h| !h.subscribed);
        if missing {
            self.subscribe_once(id).await;
        }
    }

    /// Whether this instance is subscribed to session `id`'s channel, as far
    /// as it knows (tests).
    #[cfg(feature = "test-util")]
    pub(super) fn subscribed(&self, id: &QrId) -> bool {
        self.lock().get(id).is_some_and(|h| h.subscribed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<QrId, Held>> {
        // A panic elsewhere cannot leave the map half-updated: every
        // critical section is a single field update.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn is_held(&self, id: &QrId) -> bool {
        self.lock().contains_key(id)
    }

    fn set_subscribed(&self, id: &QrId, subscribed: bool) {
        if let Some(h) = self.lock().get_mut(id) {
            h.subscribed = subscribed;
        }
    }

    /// One `SSUBSCRIBE` of `id`'s channel, bounded by the timeout. On
    /// success the session's waiters re-read: another poll on it may have
    /// read before the subscription existed. True if it succeeded.
    async fn subscribe_once(&self, id: &QrId) -> bool {
        let conn = self.conn.borrow().clone();
        let Some(mut conn) = conn else { return false };
        let channel = self.keys.wake_channel(id);
        match tokio::time::timeout(self.timeout, conn.ssubscribe(&channel)).await {
            Ok(Ok(())) => {
                self.set_subscribed(id, true);
                self.waiters.notify(id);
                true
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cannot subscribe to a session's changes");
                false
            }
            Err(_) => {
                tracing::debug!("timed out subscribing to a session's changes");
                false
            }
        }
    }

    /// Subscribes to `id`'s channel until it works, it is confirmed
    /// otherwise (the crate renews the channels of a node it reconnects
    /// to), nobody holds a poll on it any more or `wanted` says stop,
    /// pausing with backoff between attempts.
    async fn resubscribe(&self, id: &QrId, wanted: impl Fn() -> bool) -> bool {
        let mut backoff = Backoff::new(self.min_delay, self.max_delay, self.stable_after);
        while wanted() {
            match self.lock().get(id) {
                None => return false,
                Some(h) if h.subscribed => return true,
                Some(_) => {}
            }
            if self.subscribe_once(id).await {
                return true;
            }
            tokio::time::sleep(backoff.next_pause()).await;
        }
        false
    }

    /// Receives the cluster's pushes and released sessions until `stop`.
    pub(super) async fn listen(self: Arc<Self>, mut inbox: Inbox, stop: CancellationToken) {
        loop {
            tokio::select! {
                push = inbox.pushes.recv() => match push {
                    Some(push) => self.on_push(push, &stop),
                    None => return,
                },
                Some(id) = inbox.released.recv() => self.on_released(id, &stop),
                () = stop.cancelled() => return,
            }
        }
    }

    fn on_push(self: &Arc<Self>, push: PushInfo, stop: &CancellationToken) {
        match push.kind {
            PushKind::SMessage => {
                // [channel, payload]: the payload is the session id.
                if let Some(id) = push.data.get(1).and_then(text).and_then(QrId::parse) {
                    self.waiters.notify(&id);
                }
            }
            PushKind::SSubscribe => {
                let Some(id) = self.channel_id(&push) else {
                    return;
                };
                if self.is_held(&id) {
                    self.set_subscribed(&id, true);
                } else {
                    // Nobody holds it: a cancelled poll's SSUBSCRIBE that
                    // landed after its SUNSUBSCRIBE (redirected), or the
                    // crate renewing a channel whose unsubscribe failed.
                    let _ = self.released.send(id);
                }
            }
            PushKind::SUnsubscribe => {
                let Some(id) = self.channel_id(&push) else {
                    return;
                };
                if !self.is_held(&id) {
                    // Ours: the last poll left.
                    return;
                }
                // Not asked for while polls are held: the slot moved (or
                // our own unsubscribe crossed a new poll's subscribe).
                tracing::info!(
                    "a session's channel was unsubscribed by the cluster (slot moved?); resubscribing"
                );
                self.set_subscribed(&id, false);
                let subs = Arc::clone(self);
                spawn_until(stop, async move {
                    if subs.resubscribe(&id, || true).await
                        && let Some(m) = subs.metrics.get()
                    {
                        m.resubscribed();
                    }
                });
            }
            PushKind::Disconnection => {
                let ids: Vec<QrId> = {
                    let mut held = self.lock();
                    held.values_mut().for_each(|h| h.subscribed = false);
                    held.keys().cloned().collect()
                };
                if ids.is_empty() {
                    return;
                }
                tracing::warn!(
                    sessions = ids.len(),
                    "lost a connection to the cluster; resubscribing held sessions"
                );
                // One pass at a time: a newer disconnection's pass covers
                // every held session again, so an older one stops.
                let pass = self.passes.fetch_add(1, Ordering::Relaxed) + 1;
                let subs = Arc::clone(self);
                spawn_until(stop, async move {
                    let current = || subs.passes.load(Ordering::Relaxed) == pass;
                    let renewed = AtomicBool::new(false);
                    futures_util::stream::iter(ids)
                        .for_each_concurrent(RESUBSCRIBE_CONCURRENCY, |id| {
                            let (subs, renewed) = (&subs, &renewed);
                            async move {
                                if subs.resubscribe(&id, current).await {
                                    renewed.store(true, Ordering::Relaxed);
                                }
                            }
                        })
                        .await;
                    // Counted only if something was subscribed again.
                    if renewed.into_inner()
                        && let Some(m) = subs.metrics.get()
                    {
                        m.resubscribed();
                    }
                });
            }
            _ => {}
        }
    }

    /// The last poll on `id` left: unsubscribe, unless a new one came since.
    fn on_released(self: &Arc<Self>, id: QrId, stop: &CancellationToken) {
        let subs = Arc::clone(self);
        spawn_until(stop, async move { subs.unsubscribe(&id).await });
    }

    /// `SUNSUBSCRIBE`s `id`'s channel while nobody holds it, retried with
    /// backoff a bounded number of times: the crate keeps a channel whose
    /// unsubscribe failed and subscribes it again on every reconnect (its
    /// confirmation then comes back here, see [`Self::on_push`]).
    async fn unsubscribe(&self, id: &QrId) {
        let channel = self.keys.wake_channel(id);
        let mut backoff = Backoff::new(self.min_delay, self.max_delay, self.stable_after);
        for _ in 0..UNSUBSCRIBE_ATTEMPTS {
            if self.is_held(id) {
                return;
            }
            let conn = self.conn.borrow().clone();
            // Never connected: nothing can have been subscribed.
            let Some(mut conn) = conn else { return };
            let unsubscribe = tokio::time::timeout(self.timeout, conn.sunsubscribe(&channel));
            if let Ok(Ok(())) = unsubscribe.await {
                return;
            }
            tokio::time::sleep(backoff.next_pause()).await;
        }
        tracing::warn!("gave up unsubscribing from a released session's channel");
    }

    /// The session of a subscription push (`[channel, count]`) of ours.
    fn channel_id(&self, push: &PushInfo) -> Option<QrId> {
        match push.data.first()? {
            Value::BulkString(channel) => self.keys.id_of_wake_channel(channel),
            _ => None,
        }
    }
}

/// A poll held on one session; dropping it releases the poll.
pub(super) struct Hold {
    id: QrId,
    subs: Arc<Subscriptions>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let last = {
            let mut held = self.subs.lock();
            match held.get_mut(&self.id) {
                Some(h) if h.polls > 1 => {
                    h.polls -= 1;
                    false
                }
                Some(_) => {
                    held.remove(&self.id);
                    true
                }
                None => false,
            }
        };
        if last {
            // Unsubscribing is a round trip: the listener task does it.
            let _ = self.subs.released.send(self.id.clone());
        }
    }
}

/// Runs `task` in the background until it ends or `stop` is cancelled.
fn spawn_until(stop: &CancellationToken, task: impl Future<Output = ()> + Send + 'static) {
    let stop = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = task => {}
            () = stop.cancelled() => {}
        }
    });
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry with no connection (every subscribe fails at once), its
    /// inbox, and its waiters.
    fn registry() -> (Arc<Subscriptions>, Inbox, Arc<Waiters>) {
        let (_push_tx, pushes) = mpsc::unbounded_channel();
        let (_, conn) = watch::channel(None);
        let waiters = Arc::new(Waiters::default());
        let settings = RedisClusterSettings::new(vec!["redis://127.0.0.1:7000".into()]);
        let (subs, inbox) = Subscriptions::new(
            KeyLayout::cluster("p:"),
            conn,
            Arc::clone(&waiters),
            Arc::new(OnceLock::new()),
            pushes,
            &settings,
        );
        (subs, inbox, waiters)
    }

    #[tokio::test]
    async fn only_the_last_poll_to_leave_releases_the_channel() {
        let (subs, mut inbox, _) = registry();
        let id = QrId::generate();
        let first = subs.hold(&id).await;
        let second = subs.hold(&id).await;
        drop(first);
        assert!(inbox.released.try_recv().is_err(), "released while held");
        assert!(subs.is_held(&id));
        drop(second);
        assert_eq!(inbox.released.try_recv().ok(), Some(id.clone()));
        assert!(!subs.is_held(&id));
    }

    #[tokio::test(start_paused = true)]
    async fn a_sharded_message_wakes_the_waiters_of_its_session_only() {
        let (subs, _inbox, waiters) = registry();
        let (id, other) = (QrId::generate(), QrId::generate());
        let mut waiter = waiters.subscribe(&id);
        let mut bystander = waiters.subscribe(&other);
        let channel = KeyLayout::cluster("p:").wake_channel(&id);
        let push = PushInfo {
            kind: PushKind::SMessage,
            data: vec![
                Value::BulkString(channel.into_bytes()),
                Value::BulkString(id.as_str().as_bytes().to_vec()),
            ],
        };
        subs.on_push(push, &CancellationToken::new());
        let second = Duration::from_secs(1);
        tokio::time::timeout(second, waiter.changed())
            .await
            .expect("the message for its session wakes the waiter");
        let slept = tokio::time::timeout(second, bystander.changed()).await;
        assert!(slept.is_err(), "woken by another session's message");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unsubscribe_of_a_held_session_is_not_taken_as_ours() {
        let (subs, _inbox, _) = registry();
        let id = QrId::generate();
        let _hold = subs.hold(&id).await;
        subs.set_subscribed(&id, true);
        let channel = KeyLayout::cluster("p:").wake_channel(&id);
        let push = PushInfo {
            kind: PushKind::SUnsubscribe,
            data: vec![Value::BulkString(channel.into_bytes()), Value::Int(0)],
        };
        let stop = CancellationToken::new();
        subs.on_push(push, &stop);
        // Marked lost, so the poll's periodic re-read subscribes again too.
        assert!(!subs.lock()[&id].subscribed);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_subscription_nobody_holds_is_released_again() {
        let (subs, mut inbox, _) = registry();
        let id = QrId::generate();
        let channel = KeyLayout::cluster("p:").wake_channel(&id);
        let push = PushInfo {
            kind: PushKind::SSubscribe,
            data: vec![Value::BulkString(channel.into_bytes()), Value::Int(1)],
        };
        subs.on_push(push, &CancellationToken::new());
        assert_eq!(inbox.released.try_recv().ok(), Some(id));
    }
}
