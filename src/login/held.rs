//! The held-connection budget: long polls and event streams hold a
//! connection (a file descriptor) each for as long as they wait, so they
//! share one cap, and past it a new one is refused (503 `busy`) before the
//! process runs out of descriptors and cannot even accept.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many connections are held right now, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Long polls waiting: the browser's status polls and devices' token requests.
    pub polls: usize,
    /// Open event streams (`/api/qr/{id}/events`).
    pub streams: usize,
}

/// What holds a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeldKind {
    Poll,
    Stream,
}

/// The shared counters; cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub(crate) struct HeldBudget(Arc<Counts>);

#[derive(Debug)]
struct Counts {
    max: usize,
    /// Polls and streams together: the one number the cap checks.
    total: AtomicUsize,
    polls: AtomicUsize,
    streams: AtomicUsize,
}

impl HeldBudget {
    /// A budget of `max` held connections (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Self(Arc::new(Counts {
            max: max.max(1),
            total: AtomicUsize::new(0),
            polls: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
        }))
    }

    pub(crate) fn max(&self) -> usize {
        self.0.max
    }

    /// A slot for one held connection of `kind`, released when dropped;
    /// `None` when all `max` are taken.
    pub(crate) fn acquire(&self, kind: HeldKind) -> Option<HeldSlot> {
        let counts = &self.0;
        counts
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < counts.max).then_some(n + 1)
            })
            .ok()?;
        counts.of(kind).fetch_add(1, Ordering::Relaxed);
        Some(HeldSlot {
            budget: self.clone(),
            kind,
        })
    }

    pub(crate) fn held(&self) -> Held {
        Held {
            polls: self.0.polls.load(Ordering::Relaxed),
            streams: self.0.streams.load(Ordering::Relaxed),
        }
    }
}

impl Counts {
    fn of(&self, kind: HeldKind) -> &AtomicUsize {
        match kind {
            HeldKind::Poll => &self.polls,
            HeldKind::Stream => &self.streams,
        }
    }
}

/// One held connection's place in the budget (RAII: dropping it, however
/// the wait ends — answer, disconnect, error — gives the place back).
#[derive(Debug)]
pub(crate) struct HeldSlot {
    budget: HeldBudget,
    kind: HeldKind,
}

impl Drop for HeldSlot {
    fn drop(&mut self) {
        let counts = &self.budget.0;
        counts.of(self.kind).fetch_sub(1, Ordering::Relaxed);
        counts.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The number of held connections allowed: `configured`
/// (`limits.max_held_connections`), or by default three quarters of the
/// process's open-file soft limit ([`budget_for_open_files`]). Warns when
/// the configured number is above what the descriptors allow.
pub fn held_connection_budget(configured: Option<usize>) -> usize {
    let soft = rlimit::Resource::NOFILE.get_soft();
    match (configured, soft) {
        (Some(max), Ok(soft)) => {
            if u64::try_from(max).unwrap_or(u64::MAX) >= soft {
                tracing::warn!(
                    max_held_connections = max,
                    open_files_limit = soft,
                    "limits.max_held_connections is not below the open-file limit: the process \
                     may run out of descriptors before the budget refuses anything"
                );
            }
            max
        }
        (Some(max), Err(_)) => max,
        (None, Ok(soft)) => budget_for_open_files(soft),
        (None, Err(e)) => {
            let fallback = budget_for_open_files(FALLBACK_OPEN_FILES);
            tracing::warn!(error = %e, fallback, "cannot read the open-file limit; holding at most {fallback} connections");
            fallback
        }
    }
}

/// What Linux gives a process by default, assumed if the limit cannot be read.
const FALLBACK_OPEN_FILES: u64 = 1024;

/// Three quarters of `soft_limit` open files. The other quarter (at least
/// 64) stays for everything else that needs a descriptor: connections
/// between two polls or idle in keep-alive, short requests, the listener,
/// Redis, files.
pub fn budget_for_open_files(soft_limit: u64) -> usize {
    let soft = usize::try_from(soft_limit).unwrap_or(usize::MAX);
    let reserve = (soft / 4).max(64);
    soft.saturating_sub(reserve).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_polls_and_streams_together_and_slots_come_back() {
        let budget = HeldBudget::new(2);
        let poll = budget.acquire(HeldKind::Poll).unwrap();
        let stream = budget.acquire(HeldKind::Stream).unwrap();
        assert_eq!(
            budget.held(),
            Held {
                polls: 1,
                streams: 1
            }
        );
        assert!(budget.acquire(HeldKind::Poll).is_none());
        assert!(budget.acquire(HeldKind::Stream).is_none());
        drop(stream);
        assert_eq!(
            budget.held(),
            Held {
                polls: 1,
                streams: 0
            }
        );
        let again = budget.acquire(HeldKind::Stream).unwrap();
        drop((poll, again));
        assert_eq!(budget.held(), Held::default());
    }

    #[test]
    fn the_default_leaves_a_quarter_of_the_descriptors() {
        assert_eq!(budget_for_open_files(1024), 768);
        assert_eq!(budget_for_open_files(65_536), 49_152);
        // Small limits keep at least 64 for everything else.
        assert_eq!(budget_for_open_files(200), 136);
        assert_eq!(budget_for_open_files(10), 1);
    }
}
