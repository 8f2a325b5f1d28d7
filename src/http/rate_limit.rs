//! Per-client-IP request budgets (token buckets from `governor`), spent by
//! an extractor that handlers name in their signature: `_: Spend<QrCreation>`
//! sits before every other extractor, so a refused request costs nothing
//! else (no body parsing, no token check: tokens cannot be guessed fast).

use super::error::ApiError;
use super::extract::ClientIp;
use super::state::AppState;
use crate::config::LimitsConfig;
use crate::observe::{Event, Limit, Observer};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use dashmap::DashMap;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::marker::PhantomData;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Instant;

/// The budgets, one token bucket per client IP (per /64 for IPv6) each.
pub struct RateLimits {
    qr: DefaultKeyedRateLimiter<IpAddr>,
    mobile: DefaultKeyedRateLimiter<IpAddr>,
    user_codes: DefaultKeyedRateLimiter<IpAddr>,
    redeem: DefaultKeyedRateLimiter<IpAddr>,
    token: DefaultKeyedRateLimiter<IpAddr>,
    /// Spent by lookups that miss (unknown id, wrong poll token) only.
    lookup_misses: DefaultKeyedRateLimiter<IpAddr>,
    /// Clients whose misses ran out, until when: every lookup of theirs is
    /// refused until then, a right guess included (a budget spent only by
    /// misses must not let a hit through once it is spent).
    lookup_blocked: DashMap<IpAddr, Instant>,
    /// Counts rejections (`qrlogin_rate_limited_total`).
    observer: Observer,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl RateLimits {
    pub fn new(limits: &LimitsConfig) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            qr: RateLimiter::keyed(per_minute(limits.qr_per_minute_per_ip)),
            mobile: RateLimiter::keyed(per_minute(limits.mobile_per_minute_per_ip)),
            user_codes: RateLimiter::keyed(per_minute(limits.user_code_per_minute_per_ip)),
            redeem: RateLimiter::keyed(per_minute(limits.redeem_per_minute_per_ip)),
            token: RateLimiter::keyed(per_minute(limits.token_per_minute_per_ip)),
            lookup_misses: RateLimiter::keyed(per_minute(limits.lookup_misses_per_minute_per_ip)),
            lookup_blocked: DashMap::new(),
            observer: Observer::disabled(),
        }
    }

    /// The same budgets, reporting rejections to `observer`.
    pub fn with_observer(self, observer: Observer) -> Self {
        Self { observer, ..self }
    }

    /// Spends one request of budget `B` from `ip`; refused: how long until
    /// the next one would pass. For handlers that spend only on some
    /// requests (a scan spends from [`UserCodeEntry`] only for user codes).
    pub fn spend<B: Budget>(&self, ip: IpAddr) -> Result<(), std::time::Duration> {
        B::bucket(self)
            .check_key(&limit_key(ip))
            .map_err(|not_until| {
                self.observer.emit(Event::RateLimited { limit: B::LIMIT });
                not_until.wait_time_from(DefaultClock::default().now())
            })
    }

    /// Refuses a lookup from `ip` while its misses are spent: how long
    /// until they refill.
    pub fn lookup_allowed(&self, ip: IpAddr) -> Result<(), std::time::Duration> {
        let key = limit_key(ip);
        let now = Instant::now();
        match self.lookup_blocked.get(&key).map(|until| *until) {
            Some(until) if until > now => {
                self.observer.emit(Event::RateLimited {
                    limit: Limit::LookupMiss,
                });
                Err(until - now)
            }
            Some(_) => {
                self.lookup_blocked
                    .remove_if(&key, |_, until| *until <= now);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// A lookup from `ip` missed: spends from its misses, and once they
    /// are spent, blocks its lookups until the bucket has a token again.
    pub fn lookup_missed(&self, ip: IpAddr) {
        let key = limit_key(ip);
        if let Err(not_until) = self.lookup_misses.check_key(&key) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.lookup_blocked.insert(key, Instant::now() + wait);
        }
    }

    /// Forgets clients whose buckets are full again, and blocks that
    /// ended, so memory stays flat.
    pub fn forget_idle(&self) {
        self.qr.retain_recent();
        self.mobile.retain_recent();
        self.user_codes.retain_recent();
        self.redeem.retain_recent();
        self.token.retain_recent();
        self.lookup_misses.retain_recent();
        let now = Instant::now();
        self.lookup_blocked.retain(|_, until| *until > now);
    }

    /// Client addresses with state in any budget (for tests of pruning).
    pub fn tracked(&self) -> usize {
        self.qr.len()
            + self.mobile.len()
            + self.user_codes.len()
            + self.redeem.len()
            + self.token.len()
            + self.lookup_misses.len()
            + self.lookup_blocked.len()
    }
}

/// A kind of request with a budget of its own.
pub trait Budget {
    /// Its name in the metrics.
    const LIMIT: Limit;
    fn bucket(limits: &RateLimits) -> &DefaultKeyedRateLimiter<IpAddr>;
}

/// Creating a QR code (`limits.qr_per_minute_per_ip`).
#[derive(Debug)]
pub struct QrCreation;
impl Budget for QrCreation {
    const LIMIT: Limit = Limit::Qr;
    fn bucket(limits: &RateLimits) -> &DefaultKeyedRateLimiter<IpAddr> {
        &limits.qr
    }
}

/// Any phone API call (`limits.mobile_per_minute_per_ip`).
#[derive(Debug)]
pub struct PhoneCall;
impl Budget for PhoneCall {
    const LIMIT: Limit = Limit::Mobile;
    fn bucket(limits: &RateLimits) -> &DefaultKeyedRateLimiter<IpAddr> {
        &limits.mobile
    }
}

/// Looking up a device's user code, typed or scanned
/// (`limits.user_code_per_minute_per_ip`): RFC 8628 §5.1's brute-force guard.
#[derive(Debug)]
pub struct UserCodeEntry;
impl Budget for UserCodeEntry {
    const LIMIT: Limit = Limit::UserCode;
    fn bucket(limits: &RateLimits) -> &DefaultKeyedRateLimiter<IpAddr> {
        &limits.user_codes
    }
}

/// Redeeming a ticket (`limits.redeem_per_minute_per_ip`).
#[derive(Debug)]
pub struct Redeem;
impl Budget for Redeem {
    const LIMIT: Limit = Limit::Redeem;
    fn bucket(limits: &RateLimits) -> &DefaultKeyedRateLimiter<IpAddr> {
        &limits.redeem
    }
}

/// The OAuth back channel: token, introspection, revocation
/// (`limits.token_per_minute_per_ip`).
#[derive(Debug)]
pub struct TokenCall;
impl Budget for TokenCall {
    const LIMIT: Limit = Limit::Token;
    fn bucket(limits: &RateLimits) -> &DefaultKeyedRateLimiter<IpAddr> {
        &limits.token
    }
}

/// Extracting it spends one request of budget `B` from the client's IP, or
/// refuses the request with 429 and `Retry-After`.
#[derive(Debug)]
pub struct Spend<B>(PhantomData<B>);

impl<B: Budget> FromRequestParts<AppState> for Spend<B> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, app).await?;
        app.limits()
            .spend::<B>(ip)
            .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
        Ok(Self(PhantomData))
    }
}

/// The bucket a client IP spends from. One IPv6 subscriber usually holds a
/// whole /64, so IPv6 addresses share a bucket per /64.
pub(crate) fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idle buckets and ended blocks are forgotten by the purge task's call,
    /// so a flood of addresses does not grow memory for good. Budgets of
    /// 60,000 a minute refill in a millisecond: a few of real time suffice.
    #[tokio::test]
    async fn idle_limiter_state_is_pruned() {
        let fast = LimitsConfig {
            qr_per_minute_per_ip: 60_000,
            redeem_per_minute_per_ip: 60_000,
            token_per_minute_per_ip: 60_000,
            lookup_misses_per_minute_per_ip: 60_000,
            ..LimitsConfig::default()
        };
        let limits = RateLimits::new(&fast);
        for n in 0..50u8 {
            let ip = IpAddr::from([192, 0, 2, n]);
            limits.spend::<QrCreation>(ip).unwrap();
            limits.spend::<Redeem>(ip).unwrap();
            limits.spend::<TokenCall>(ip).unwrap();
            limits.lookup_missed(ip);
        }
        assert!(limits.tracked() >= 200, "{}", limits.tracked());
        // governor keeps its own (real) clock: real time must pass.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        limits.forget_idle();
        assert_eq!(limits.tracked(), 0);
    }

    #[test]
    fn spent_misses_block_every_lookup_until_they_refill() {
        let one = LimitsConfig {
            lookup_misses_per_minute_per_ip: 1,
            ..LimitsConfig::default()
        };
        let limits = RateLimits::new(&one);
        let ip = IpAddr::from([192, 0, 2, 1]);
        limits.lookup_missed(ip);
        assert!(limits.lookup_allowed(ip).is_ok());
        limits.lookup_missed(ip);
        let wait = limits.lookup_allowed(ip).unwrap_err();
        assert!(wait > std::time::Duration::from_secs(50), "{wait:?}");
        assert!(limits.lookup_allowed(IpAddr::from([192, 0, 2, 2])).is_ok());
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        let a = limit_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = limit_key("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = limit_key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let v4 = "192.0.2.1".parse().unwrap();
        assert_eq!(limit_key(v4), v4);
    }
}
