//! The application context every request handler gets: store, clock,
//! config, token verifier, rate limits and the shutdown signal.

use crate::auth::MobileVerifier;
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::error::Error;
use crate::store::SessionStore;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A cheap-to-clone handle on the shared application state.
#[derive(Debug)]
pub struct App<S> {
    inner: Arc<AppInner<S>>,
}

impl<S> Clone for App<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

#[derive(Debug)]
pub struct AppInner<S> {
    pub store: S,
    pub clock: Clock,
    pub config: Config,
    pub verifier: MobileVerifier,
    pub limits: RateLimits,
    /// Cancelled when the server starts shutting down: held polls answer at once.
    pub shutdown: CancellationToken,
}

impl<S> Deref for App<S> {
    type Target = AppInner<S>;
    fn deref(&self) -> &AppInner<S> {
        &self.inner
    }
}

impl<S: SessionStore> App<S> {
    pub fn new(config: Config, store: S, clock: Clock) -> Result<Self, ConfigError> {
        let verifier = MobileVerifier::from_config(&config)?;
        let limits = RateLimits::new(&config);
        Ok(Self {
            inner: Arc::new(AppInner {
                store,
                clock,
                verifier,
                limits,
                config,
                shutdown: CancellationToken::new(),
            }),
        })
    }
}

/// The bucket a client IP spends from. One IPv6 subscriber usually holds a
/// whole /64, so IPv6 addresses share a bucket per /64.
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// Per-client-IP request budgets (token buckets from `governor`).
pub struct RateLimits {
    qr: DefaultKeyedRateLimiter<IpAddr>,
    mobile: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl RateLimits {
    fn new(config: &Config) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            qr: RateLimiter::keyed(per_minute(config.limits.qr_per_minute_per_ip)),
            mobile: RateLimiter::keyed(per_minute(config.limits.mobile_per_minute_per_ip)),
        }
    }

    /// Spends one QR creation from `ip`'s budget.
    pub fn check_qr(&self, ip: IpAddr) -> Result<(), Error> {
        check(&self.qr, ip)
    }

    /// Spends one phone API call from `ip`'s budget.
    pub fn check_mobile(&self, ip: IpAddr) -> Result<(), Error> {
        check(&self.mobile, ip)
    }

    /// Forgets clients whose buckets are full again, so memory stays flat.
    pub fn forget_idle(&self) {
        self.qr.retain_recent();
        self.mobile.retain_recent();
    }
}

fn check(limiter: &DefaultKeyedRateLimiter<IpAddr>, ip: IpAddr) -> Result<(), Error> {
    limiter
        .check_key(&limit_key(ip))
        .map_err(|not_until| Error::RateLimited {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
}

#[cfg(test)]
mod tests {
    use super::limit_key;

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
