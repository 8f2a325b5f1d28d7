//! The held-connection budget: long polls and event streams hold a
//! connection (a file descriptor) each for as long as they wait, so they
//! share one cap, and past it a new one is refused (503 `busy`) before the
//! process runs out of descriptors and cannot even accept. Within it, one
//! QR session may hold only its share ([`MAX_HELD_PER_QR`]), so the holder
//! of one poll token cannot take the whole budget.

use super::LoginError;
use crate::session::QrId;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Long polls and event streams one QR session may hold at once (on one
/// instance); past it a new one is refused (429 `too_many_pollers`). The
/// login page holds one, two for a moment while it reconnects, a few more
/// with the same code open in several tabs; and the long poll promises that
/// many pollers of one session all wake on a change (ten are tested). Past
/// ten it is a client that loops, or one poll token taking the budget from
/// every other user. A constant rather than a setting: no legitimate
/// client needs more, and nothing an operator knows would change it.
pub const MAX_HELD_PER_QR: usize = 10;

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
    /// Held connections per QR session; an entry goes when its count
    /// returns to zero, so the map holds only sessions being waited on.
    per_qr: DashMap<QrId, usize>,
}

impl HeldBudget {
    /// A budget of `max` held connections (at least one), of which each QR
    /// session may hold [`MAX_HELD_PER_QR`].
    pub(crate) fn new(max: usize) -> Self {
        Self(Arc::new(Counts {
            max: max.max(1),
            total: AtomicUsize::new(0),
            polls: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
            per_qr: DashMap::new(),
        }))
    }

    pub(crate) fn max(&self) -> usize {
        self.0.max
    }

    /// A slot for one held connection of `kind` on session `qr`, released
    /// when dropped. [`LoginError::TooManyPollers`] when `qr` holds
    /// [`MAX_HELD_PER_QR`] already (checked first: that client is the one
    /// to back off), [`LoginError::Busy`] when all `max` are taken.
    pub(crate) fn acquire(&self, kind: HeldKind, qr: &QrId) -> Result<HeldSlot, LoginError> {
        let counts = &self.0;
        // The session's entry stays locked until its count is raised, so
        // racing requests of one session cannot both pass its cap; a
        // vacant entry dropped without an insert leaves nothing behind.
        let entry = counts.per_qr.entry(qr.clone());
        if let Entry::Occupied(held) = &entry
            && *held.get() >= MAX_HELD_PER_QR
        {
            return Err(LoginError::TooManyPollers);
        }
        counts
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < counts.max).then_some(n + 1)
            })
            .map_err(|_| LoginError::Busy)?;
        *entry.or_insert(0) += 1;
        counts.of(kind).fetch_add(1, Ordering::Relaxed);
        Ok(HeldSlot {
            budget: self.clone(),
            kind,
            qr: qr.clone(),
        })
    }

    pub(crate) fn held(&self) -> Held {
        Held {
            polls: self.0.polls.load(Ordering::Relaxed),
            streams: self.0.streams.load(Ordering::Relaxed),
        }
    }

    /// How many sessions hold a connection (the per-session map's size).
    #[cfg(test)]
    pub(crate) fn sessions_held(&self) -> usize {
        self.0.per_qr.len()
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
    qr: QrId,
}

impl Drop for HeldSlot {
    fn drop(&mut self) {
        let counts = &self.budget.0;
        counts.per_qr.remove_if_mut(&self.qr, |_, held| {
            *held -= 1;
            *held == 0
        });
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
        let qr = || QrId::generate();
        let poll = budget.acquire(HeldKind::Poll, &qr()).unwrap();
        let stream = budget.acquire(HeldKind::Stream, &qr()).unwrap();
        assert_eq!(
            budget.held(),
            Held {
                polls: 1,
                streams: 1
            }
        );
        let busy = |r: Result<HeldSlot, LoginError>| matches!(r, Err(LoginError::Busy));
        assert!(busy(budget.acquire(HeldKind::Poll, &qr())));
        assert!(busy(budget.acquire(HeldKind::Stream, &qr())));
        drop(stream);
        assert_eq!(
            budget.held(),
            Held {
                polls: 1,
                streams: 0
            }
        );
        let again = budget.acquire(HeldKind::Stream, &qr()).unwrap();
        drop((poll, again));
        assert_eq!(budget.held(), Held::default());
        assert_eq!(budget.sessions_held(), 0);
    }

    #[test]
    fn one_session_holds_at_most_its_share_and_its_entry_goes_with_the_last() {
        let budget = HeldBudget::new(100);
        let (greedy, other) = (QrId::generate(), QrId::generate());
        let mut slots: Vec<HeldSlot> = (0..MAX_HELD_PER_QR)
            .map(|i| {
                let kind = if i % 2 == 0 {
                    HeldKind::Poll
                } else {
                    HeldKind::Stream
                };
                budget.acquire(kind, &greedy).unwrap()
            })
            .collect();
        for kind in [HeldKind::Poll, HeldKind::Stream] {
            assert!(matches!(
                budget.acquire(kind, &greedy),
                Err(LoginError::TooManyPollers)
            ));
        }
        // Refusals hold nothing, and other sessions still get places.
        assert_eq!(budget.held().polls + budget.held().streams, MAX_HELD_PER_QR);
        let theirs = budget.acquire(HeldKind::Poll, &other).unwrap();
        assert_eq!(budget.sessions_held(), 2);
        // One place back: one more fits.
        slots.pop();
        slots.push(budget.acquire(HeldKind::Stream, &greedy).unwrap());
        drop(slots);
        assert_eq!(budget.sessions_held(), 1, "no entry left for {greedy}");
        drop(theirs);
        assert_eq!(budget.sessions_held(), 0);
        assert_eq!(budget.held(), Held::default());
    }

    #[test]
    fn a_refusal_for_a_full_budget_leaves_no_entry() {
        let budget = HeldBudget::new(1);
        let first = budget.acquire(HeldKind::Poll, &QrId::generate()).unwrap();
        let newcomer = QrId::generate();
        assert!(matches!(
            budget.acquire(HeldKind::Stream, &newcomer),
            Err(LoginError::Busy)
        ));
        assert_eq!(budget.sessions_held(), 1);
        drop(first);
        assert_eq!(budget.sessions_held(), 0);
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
