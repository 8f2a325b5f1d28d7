//! Every tunable of the Redis store, with its default, and how it is read
//! from the typed `[store]` configuration.

use crate::config::{ConfigError, StoreConfig};
use std::time::Duration;

/// Where Redis is and how this instance paces its work with it.
/// [`RedisSettings::new`] gives the defaults, which are also the defaults of
/// the `store.*` config keys; [`RedisSettings::from_config`] reads those keys.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]` or `redis+unix:///path`.
    pub url: String,
    /// Prepended to every key and the channel, so instances of different
    /// deployments can share one Redis.
    pub key_prefix: String,
    /// Upper bound on one Redis round trip, connecting included, and on
    /// the subscription's answer to a heartbeat ping.
    pub timeout: Duration,
    /// How often a held waiter re-reads the session without a pub/sub hint:
    /// the longest a lost message can delay a wake-up.
    pub resync_every: Duration,
    /// How often the subscription is pinged. A half-open connection
    /// (partition, frozen host) delivers nothing and reports no error, so
    /// silence alone would never be noticed.
    pub heartbeat: Duration,
    /// First pause before resubscribing after the subscription is lost, and
    /// before retrying the first connection at start-up. Each pause is
    /// jittered down by up to half.
    pub min_resubscribe_delay: Duration,
    /// Longest pause between attempts to resubscribe or to connect.
    pub max_resubscribe_delay: Duration,
    /// A subscription that stayed up this long resets the resubscribe
    /// backoff to `min_resubscribe_delay`; a shorter-lived one does not, so a
    /// flapping subscription cannot turn into a reconnect storm.
    pub stable_after: Duration,
}

impl RedisSettings {
    /// The Redis at `url`, with every other setting at its default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "qrlogin:".into(),
            timeout: Duration::from_secs(2),
            resync_every: Duration::from_secs(2),
            heartbeat: Duration::from_secs(10),
            min_resubscribe_delay: Duration::from_millis(50),
            max_resubscribe_delay: Duration::from_secs(2),
            stable_after: Duration::from_secs(30),
        }
    }

    /// The settings the `[store]` config asks for. Fails only without
    /// `store.redis_url`, which validation requires for `backend = "redis"`.
    pub fn from_config(store: &StoreConfig) -> Result<Self, ConfigError> {
        let url = store.redis_url.as_ref().ok_or_else(|| {
            ConfigError::new("store.redis_url", "is required with backend = \"redis\"")
        })?;
        Ok(Self {
            url: url.expose().to_owned(),
            key_prefix: store.key_prefix.clone(),
            timeout: store.redis_timeout,
            resync_every: store.redis_resync_interval,
            heartbeat: store.redis_heartbeat,
            min_resubscribe_delay: store.redis_resubscribe_min_delay,
            max_resubscribe_delay: store.redis_resubscribe_max_delay,
            stable_after: store.redis_subscription_stable_after,
        })
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("RedisSettings")
            .field("url", &"<redacted>")
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("resync_every", &self.resync_every)
            .field("heartbeat", &self.heartbeat)
            .field("min_resubscribe_delay", &self.min_resubscribe_delay)
            .field("max_resubscribe_delay", &self.max_resubscribe_delay)
            .field("stable_after", &self.stable_after)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// The minimal config on Redis; `[store]` is its last table, so more
    /// store keys can follow.
    static MINIMAL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{}\n[store]\nbackend = \"redis\"\nredis_url = \"redis://:hunter2@127.0.0.1:6379\"\n",
            crate::config::tests::MINIMAL
        )
    });

    #[test]
    fn the_config_defaults_are_the_store_defaults() {
        let config = Config::parse(&MINIMAL).unwrap();
        assert_eq!(
            RedisSettings::from_config(&config.store).unwrap(),
            RedisSettings::new("redis://:hunter2@127.0.0.1:6379")
        );
    }

    #[test]
    fn every_tunable_comes_from_its_config_key() {
        let text = format!(
            "{}
            key_prefix = \"a:\"
            redis_timeout = \"1s\"
            redis_resync_interval = \"1m\"
            redis_heartbeat = \"300ms\"
            redis_resubscribe_min_delay = \"10ms\"
            redis_resubscribe_max_delay = \"5s\"
            redis_subscription_stable_after = \"2m\"
            ",
            *MINIMAL
        );
        let s = RedisSettings::from_config(&Config::parse(&text).unwrap().store).unwrap();
        let ms = Duration::from_millis;
        assert_eq!(s.key_prefix, "a:");
        assert_eq!(
            [
                s.timeout,
                s.resync_every,
                s.heartbeat,
                s.min_resubscribe_delay,
                s.max_resubscribe_delay,
                s.stable_after
            ],
            [ms(1000), ms(60_000), ms(300), ms(10), ms(5000), ms(120_000)]
        );
    }

    #[test]
    fn the_url_never_prints() {
        let s = RedisSettings::new("redis://:hunter2@127.0.0.1:6379");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn without_a_url_the_error_names_the_key() {
        let err = RedisSettings::from_config(&StoreConfig::default()).unwrap_err();
        assert!(err.to_string().contains("store.redis_url"), "{err}");
    }
}
