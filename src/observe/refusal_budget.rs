//! How many `refused` lines the audit log writes: a budget per client IP
//! and one for all clients together (token buckets from `governor`), so a
//! client hammering the server with bad requests — each one a refusal —
//! cannot drown the lines that matter, nor push them past journald's rate
//! limit. Refusals over budget are still counted in the metrics; the audit
//! log summarises them in a `refusals_suppressed` line.

use crate::http::rate_limit::limit_key;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// The refusal-line budgets, and what they turned away since the last summary.
pub(crate) struct RefusalBudget {
    per_client: DefaultKeyedRateLimiter<IpAddr>,
    overall: DefaultDirectRateLimiter,
    suppressed: AtomicU64,
}

impl std::fmt::Debug for RefusalBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusalBudget")
            .field("suppressed", &self.suppressed)
            .finish_non_exhaustive()
    }
}

impl RefusalBudget {
    /// At most `per_minute_per_ip` lines a minute from one client (per /64
    /// for IPv6, as the request budgets count), and `per_second` a second
    /// from all of them; each may come at once, as a burst.
    pub fn new(per_minute_per_ip: u32, per_second: u32) -> Self {
        let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            per_client: RateLimiter::keyed(Quota::per_minute(at_least_one(per_minute_per_ip))),
            overall: RateLimiter::direct(Quota::per_second(at_least_one(per_second))),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether a refusal line for a request from `client` may be written:
    /// spends from both budgets (the overall one only when the client's own
    /// allows it, so one client cannot spend everyone's).
    pub fn allows(&self, client: IpAddr) -> bool {
        self.per_client.check_key(&limit_key(client)).is_ok() && self.overall.check().is_ok()
    }

    /// One refusal line was left out.
    pub fn suppressed(&self) {
        self.suppressed.fetch_add(1, Ordering::Relaxed);
    }

    /// The refusal lines left out since the last call.
    pub fn take_suppressed(&self) -> u64 {
        self.suppressed.swap(0, Ordering::Relaxed)
    }

    /// Forgets clients whose budgets are full again, so memory stays flat.
    pub fn forget_idle(&self) {
        self.per_client.retain_recent();
        self.per_client.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn each_client_has_its_own_budget() {
        let budget = RefusalBudget::new(3, 1000);
        let flood = ip("192.0.2.1");
        let allowed = (0..100).filter(|_| budget.allows(flood)).count();
        assert_eq!(allowed, 3, "a burst of the per-minute budget, then nothing");
        assert!(
            budget.allows(ip("192.0.2.2")),
            "another client is unaffected"
        );
        // IPv6 clients share a budget per /64, as the request budgets do.
        let v6 = (0..10)
            .filter(|i| budget.allows(ip(&format!("2001:db8:1:2::{i}"))))
            .count();
        assert_eq!(v6, 3);
    }

    #[test]
    fn all_clients_together_have_a_budget_too() {
        let budget = RefusalBudget::new(60, 5);
        let allowed = (0..50u8)
            .filter(|i| budget.allows(IpAddr::from([198, 51, 100, *i])))
            .count();
        assert_eq!(allowed, 5);
    }

    #[test]
    fn suppressed_lines_are_counted_until_taken() {
        let budget = RefusalBudget::new(1, 1);
        budget.suppressed();
        budget.suppressed();
        assert_eq!(budget.take_suppressed(), 2);
        assert_eq!(budget.take_suppressed(), 0);
    }
}
