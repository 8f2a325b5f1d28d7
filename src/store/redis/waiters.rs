//! This instance's held long polls, by session: one `watch` channel per
//! session that has waiters, removed by the last waiter's drop guard.
//!
//! The channel carries a counter bumped on every hint. A hint only means
//! "re-read the session", so coalescing several into one wake-up is fine.
//! No map guard is ever held across `.await` or while calling back into the map.

use crate::session::QrId;
use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::watch;

/// The waiter registry of one instance.
#[derive(Default)]
pub(super) struct Waiters {
    map: DashMap<QrId, watch::Sender<u64>>,
}

impl Waiters {
    /// Registers a waiter on `id`; it is woken by every later hint for `id`
    /// and by [`Self::notify_all`].
    pub(super) fn subscribe(self: &Arc<Self>, id: &QrId) -> Waiter {
        let rx = self
            .map
            .entry(id.clone())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe();
        Waiter {
            rx: Some(rx),
            id: id.clone(),
            waiters: Arc::clone(self),
        }
    }

    /// Wakes the waiters of `id`, if there are any here.
    pub(super) fn notify(&self, id: &QrId) {
        if let Some(tx) = self.map.get(id) {
            // send_modify stores the bump even if every receiver is between polls.
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Wakes every waiter (hints may have been lost while unsubscribed).
    pub(super) fn notify_all(&self) {
        for tx in &self.map {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Waiters currently registered on `id`.
    #[cfg(any(test, feature = "test-util"))]
    pub(super) fn count(&self, id: &QrId) -> usize {
        self.map.get(id).map_or(0, |tx| tx.receiver_count())
    }
}

/// One held waiter; dropping it removes the session's channel once nobody waits.
pub(super) struct Waiter {
    rx: Option<watch::Receiver<u64>>,
    id: QrId,
    waiters: Arc<Waiters>,
}

impl Waiter {
    /// Returns at the next hint (or at once if one came since the last call).
    pub(super) async fn changed(&mut self) {
        if let Some(rx) = &mut self.rx {
            // The sender lives in the map while we hold a receiver.
            let _ = rx.changed().await;
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        // Our receiver must be gone before the count is checked, or the last
        // waiter would always see itself and never remove the channel.
        drop(self.rx.take());
        self.waiters
            .map
            .remove_if(&self.id, |_, tx| tx.receiver_count() == 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_waiter_to_leave_removes_the_channel() {
        let waiters = Arc::new(Waiters::default());
        let id = QrId::generate();
        let first = waiters.subscribe(&id);
        let second = waiters.subscribe(&id);
        assert_eq!(waiters.count(&id), 2);
        drop(first);
        assert_eq!(waiters.count(&id), 1);
        drop(second);
        assert_eq!(waiters.count(&id), 0);
        assert!(waiters.map.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_hint_wakes_only_the_waiters_of_its_session() {
        let waiters = Arc::new(Waiters::default());
        let (id, other) = (QrId::generate(), QrId::generate());
        let mut waiter = waiters.subscribe(&id);
        let mut bystander = waiters.subscribe(&other);
        waiters.notify(&id);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter.changed())
            .await
            .expect("the hint for its session wakes the waiter");
        let slept = tokio::time::timeout(std::time::Duration::from_secs(1), bystander.changed());
        assert!(slept.await.is_err(), "woken by another session's hint");
        waiters.notify_all();
        tokio::time::timeout(std::time::Duration::from_secs(1), bystander.changed())
            .await
            .expect("notify_all wakes everyone");
    }
}
