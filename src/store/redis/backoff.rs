//! The pause between attempts to reach Redis — the first connection at
//! start-up and every resubscription: exponential, bounded, with jitter.

use std::time::Duration;

/// The pause before each attempt: doubling from `min` up to `max`, so a
/// connection that keeps failing or flapping cannot turn into a reconnect
/// storm. Only a connection that stayed up for `stable_after` earns a fresh
/// start at `min`.
#[derive(Clone, Debug)]
pub(super) struct Backoff {
    min: Duration,
    max: Duration,
    stable_after: Duration,
    next: Duration,
}

impl Backoff {
    pub(super) fn new(min: Duration, max: Duration, stable_after: Duration) -> Self {
        Self {
            min,
            max,
            stable_after,
            next: min,
        }
    }

    /// The step before the next attempt; the one after is twice as long (at most `max`).
    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// The pause to sleep before the next attempt: the next step, jittered.
    pub(super) fn next_pause(&mut self) -> Duration {
        let mut raw = [0u8; 8];
        crate::secret::os_random(&mut raw);
        jitter(self.next_delay(), u64::from_be_bytes(raw))
    }

    /// A connection that had been up for `lived` ended.
    pub(super) fn connection_ended(&mut self, lived: Duration) {
        if lived >= self.stable_after {
            self.next = self.min;
        }
    }
}

/// `delay` less a part of up to half of it chosen by `random` ("equal
/// jitter"): instances that lost Redis together do not all knock again at
/// the same instant when it comes back, and no pause exceeds its step.
fn jitter(delay: Duration, random: u64) -> Duration {
    let half = u64::try_from((delay / 2).as_nanos()).unwrap_or(u64::MAX);
    delay - Duration::from_nanos(random % half.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn backoff() -> Backoff {
        Backoff::new(50 * MS, 2000 * MS, 30_000 * MS)
    }

    fn delays(b: &mut Backoff, n: usize) -> Vec<u128> {
        (0..n).map(|_| b.next_delay().as_millis()).collect()
    }

    #[test]
    fn failures_double_the_pause_up_to_the_maximum() {
        let mut b = backoff();
        assert_eq!(
            delays(&mut b, 8),
            [50, 100, 200, 400, 800, 1600, 2000, 2000]
        );
    }

    #[test]
    fn a_flapping_connection_keeps_backing_off() {
        let mut b = backoff();
        assert_eq!(delays(&mut b, 3), [50, 100, 200]);
        b.connection_ended(29_999 * MS);
        assert_eq!(delays(&mut b, 2), [400, 800]);
    }

    #[test]
    fn a_stable_connection_starts_over_at_the_minimum() {
        let mut b = backoff();
        delays(&mut b, 10);
        b.connection_ended(30_000 * MS);
        assert_eq!(delays(&mut b, 3), [50, 100, 200]);
    }

    #[test]
    fn equal_bounds_give_a_constant_step() {
        let mut b = Backoff::new(700 * MS, 700 * MS, 30_000 * MS);
        assert_eq!(delays(&mut b, 3), [700, 700, 700]);
    }

    #[test]
    fn jitter_keeps_a_pause_between_half_and_all_of_its_step() {
        let step = 2000 * MS;
        assert_eq!(jitter(step, 0), step);
        assert_eq!(jitter(step, 1_000_000_000), 1000 * MS);
        assert_eq!(jitter(step, 1_000_000_001), step);
        assert_eq!(jitter(step, 500_000_000), 1500 * MS);
        for random in [1, 7, 123_456_789, u64::MAX / 3, u64::MAX] {
            let pause = jitter(step, random);
            assert!((1000 * MS..=step).contains(&pause), "{pause:?}");
        }
        assert_eq!(jitter(Duration::ZERO, u64::MAX), Duration::ZERO);
        assert_eq!(
            jitter(Duration::from_nanos(1), u64::MAX),
            Duration::from_nanos(1)
        );
    }

    #[test]
    fn jittered_pauses_stay_within_their_steps_and_vary() {
        let mut b = Backoff::new(1000 * MS, 1000 * MS, 30_000 * MS);
        let pauses: Vec<Duration> = (0..20).map(|_| b.next_pause()).collect();
        assert!(pauses.iter().all(|p| (500 * MS..=1000 * MS).contains(p)));
        assert!(
            pauses.iter().any(|p| *p != pauses[0]),
            "twenty equal pauses: no jitter"
        );
    }
}
