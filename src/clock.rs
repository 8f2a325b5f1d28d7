//! Time, read once at the edge and passed down: domain code takes a
//! [`Timestamp`] and never reads a clock itself.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time in milliseconds since the Unix epoch. Milliseconds are
/// what Redis `PEXPIREAT` takes, and a plain integer serialises the same everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn as_millis(self) -> i64 {
        self.0
    }
    /// Whole seconds since the epoch, as the JSON API reports times.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    /// `self + d`, saturating rather than overflowing on absurd durations.
    pub fn plus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }
    /// How long from `self` until `later`; zero if `later` is not later.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }
}

/// Where "now" comes from.
///
/// Production uses the system clock. Tests use [`Clock::manual`], which runs
/// on tokio's clock (so `tokio::time::pause`/`advance` move it) and can be
/// pushed forward by hand to expire sessions without waiting.
#[derive(Clone, Debug)]
pub struct Clock(ClockKind);

#[derive(Clone, Debug)]
enum ClockKind {
    System,
    Manual(Arc<ManualClock>),
}

#[derive(Debug)]
struct ManualClock {
    start_wall: Timestamp,
    start: tokio::time::Instant,
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn system() -> Self {
        Self(ClockKind::System)
    }

    /// A clock for tests: starts at the current wall time, then follows
    /// tokio's (pausable) clock plus whatever [`Clock::advance`] adds.
    pub fn manual() -> Self {
        let start_wall = system_now();
        Self(ClockKind::Manual(Arc::new(ManualClock {
            start_wall,
            start: tokio::time::Instant::now(),
            offset_ms: AtomicI64::new(0),
        })))
    }

    pub fn now(&self) -> Timestamp {
        match &self.0 {
            ClockKind::System => system_now(),
            ClockKind::Manual(m) => {
                m.start_wall
                    .plus(m.start.elapsed())
                    .plus(Duration::from_millis(
                        u64::try_from(m.offset_ms.load(Ordering::SeqCst)).unwrap_or(0),
                    ))
            }
        }
    }

    /// Moves a manual clock forward. Tokio timers already armed do not see
    /// the jump: use it to make stored deadlines pass, not to wake waiters.
    ///
    /// # Panics
    /// On the system clock, which cannot be moved.
    pub fn advance(&self, by: Duration) {
        match &self.0 {
            ClockKind::System => panic!("the system clock cannot be advanced"),
            ClockKind::Manual(m) => {
                let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
                m.offset_ms.fetch_add(ms, Ordering::SeqCst);
            }
        }
    }
}

fn system_now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_arithmetic_saturates() {
        let t = Timestamp::from_millis(1_000);
        assert_eq!(t.plus(Duration::from_millis(500)).as_millis(), 1_500);
        assert_eq!(t.until(Timestamp::from_millis(400)), Duration::ZERO);
        assert_eq!(
            t.until(Timestamp::from_millis(3_000)),
            Duration::from_secs(2)
        );
        assert_eq!(
            Timestamp::from_millis(i64::MAX - 1)
                .plus(Duration::MAX)
                .as_millis(),
            i64::MAX
        );
        assert_eq!(Timestamp::from_millis(1_999).as_secs(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn manual_clock_follows_paused_tokio_time_and_advance() {
        let c = Clock::manual();
        let t0 = c.now();
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(t0.until(c.now()), Duration::from_secs(10));
        c.advance(Duration::from_secs(5));
        assert_eq!(t0.until(c.now()), Duration::from_secs(15));
    }
}
