//! Every tunable of the Redis store, with its default, and how it is read
//! from the typed `[store]` configuration.

use crate::config::{ConfigError, StoreConfig};
use std::net::Ipv6Addr;
use std::time::Duration;

/// Where Redis is and how this instance paces its work with it.
/// [`RedisSettings::new`] gives the defaults, which are also the defaults of
/// the `store.*` config keys; [`RedisSettings::from_config`] reads those keys.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// One Redis by URL, or the primary Redis Sentinel names.
    pub target: RedisTarget,
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
        Self::on(RedisTarget::Url(url.into()))
    }

    /// The primary `sentinel` names, with every other setting at its default.
    pub fn sentinel(sentinel: SentinelSettings) -> Self {
        Self::on(RedisTarget::Sentinel(sentinel))
    }

    fn on(target: RedisTarget) -> Self {
        Self {
            target,
            key_prefix: "qrlogin:".into(),
            timeout: Duration::from_secs(2),
            resync_every: Duration::from_secs(2),
            heartbeat: Duration::from_secs(10),
            min_resubscribe_delay: Duration::from_millis(50),
            max_resubscribe_delay: Duration::from_secs(2),
            stable_after: Duration::from_secs(30),
        }
    }

    /// The settings the `[store]` config asks for. Fails where
    /// [`RedisTarget::from_config`] does, which validation runs for
    /// `backend = "redis"`.
    pub fn from_config(store: &StoreConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            target: RedisTarget::from_config(store)?,
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
        f.debug_struct("RedisSettings")
            .field("target", &self.target)
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

/// Which Redis the store talks to.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// `redis://[user:password@]host:port[/db]` or `redis+unix:///path`.
    Url(String),
    /// Whichever node the sentinels name the primary, followed through failovers.
    Sentinel(SentinelSettings),
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The URL may carry a password.
            Self::Url(_) => f.write_str("Url(<redacted>)"),
            Self::Sentinel(s) => f.debug_tuple("Sentinel").field(s).finish(),
        }
    }
}

/// Where the sentinels are, the name they know the primary by, and how to
/// log in to them and to the data nodes (which may differ).
#[derive(Clone, PartialEq, Eq)]
pub struct SentinelSettings {
    /// `(host, port)` of each sentinel; all are asked at once.
    pub sentinels: Vec<(String, u16)>,
    pub master_name: String,
    /// The primary's (and its replicas') ACL user and password, and database.
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    /// The sentinels' own ACL user and password.
    pub sentinel_username: Option<String>,
    pub sentinel_password: Option<String>,
}

impl SentinelSettings {
    /// The sentinels at `sentinels` (`(host, port)`), monitoring
    /// `master_name`, without passwords, database 0.
    pub fn new(sentinels: Vec<(String, u16)>, master_name: impl Into<String>) -> Self {
        Self {
            sentinels,
            master_name: master_name.into(),
            username: None,
            password: None,
            db: 0,
            sentinel_username: None,
            sentinel_password: None,
        }
    }
}

impl std::fmt::Debug for SentinelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |p: &Option<String>| p.as_ref().map(|_| "<redacted>");
        f.debug_struct("SentinelSettings")
            .field("sentinels", &self.sentinels)
            .field("master_name", &self.master_name)
            .field("username", &self.username)
            .field("password", &shown(&self.password))
            .field("db", &self.db)
            .field("sentinel_username", &self.sentinel_username)
            .field("sentinel_password", &shown(&self.sentinel_password))
            .finish()
    }
}

/// The keys only a sentinel setup reads: with `store.redis_url` their
/// values belong in the URL.
const SENTINEL_ONLY: [&str; 5] = [
    "store.redis_username",
    "store.redis_password",
    "store.redis_db",
    "store.redis_sentinel_username",
    "store.redis_sentinel_password",
];

impl RedisTarget {
    /// The target `[store]` names: `redis_url`, or `redis_sentinels` with
    /// `redis_master_name` (and their credentials), never both. Every
    /// refusal names the key to fix.
    pub fn from_config(store: &StoreConfig) -> Result<Self, ConfigError> {
        let uses_sentinels = !store.redis_sentinels.is_empty() || store.redis_master_name.is_some();
        let sentinel_only_set = [
            store.redis_username.is_some(),
            store.redis_password.is_some(),
            store.redis_db.is_some(),
            store.redis_sentinel_username.is_some(),
            store.redis_sentinel_password.is_some(),
        ];
        match (&store.redis_url, uses_sentinels) {
            (Some(_), true) => Err(ConfigError::new(
                "store.redis_sentinels",
                "set together with store.redis_url: set one of them (sentinels find the primary \
                 by themselves)",
            )),
            (None, false) => Err(ConfigError::new(
                "store.redis_url",
                "is required with backend = \"redis\" (or store.redis_sentinels with \
                 store.redis_master_name)",
            )),
            (Some(url), false) => {
                if let Some(i) = sentinel_only_set.iter().position(|set| *set) {
                    // A secret read from a file is named by the key that
                    // points at the file: that is what the operator wrote.
                    let key = match (i, store) {
                        (1, s) if s.redis_password_file.is_some() => "store.redis_password_file",
                        (4, s) if s.redis_sentinel_password_file.is_some() => {
                            "store.redis_sentinel_password_file"
                        }
                        _ => SENTINEL_ONLY[i],
                    };
                    return Err(ConfigError::new(
                        key,
                        "is read only with store.redis_sentinels: with store.redis_url, put the \
                         user, password and database in the URL",
                    ));
                }
                if let Err(e) = redis::Client::open(url.expose()) {
                    let key = match store.redis_url_file {
                        Some(_) => "store.redis_url_file",
                        None => "store.redis_url",
                    };
                    return Err(ConfigError::new(key, format!("is not a Redis URL: {e}")));
                }
                Ok(Self::Url(url.expose().to_owned()))
            }
            (None, true) => SentinelSettings::from_config(store).map(Self::Sentinel),
        }
    }
}

impl SentinelSettings {
    fn from_config(store: &StoreConfig) -> Result<Self, ConfigError> {
        if store.redis_sentinels.is_empty() {
            return Err(ConfigError::new(
                "store.redis_sentinels",
                "must list at least one sentinel (\"host:port\") with store.redis_master_name",
            ));
        }
        let sentinels = store
            .redis_sentinels
            .iter()
            .enumerate()
            .map(|(i, s)| {
                host_port(s).ok_or_else(|| {
                    ConfigError::new(
                        &format!("store.redis_sentinels[{i}]"),
                        // The entry itself is not echoed: a URL pasted here
                        // may carry a password.
                        "is not host:port (e.g. \"10.0.0.5:26379\"; no scheme, user or password)",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let master_name = match store.redis_master_name.as_deref() {
            None => {
                return Err(ConfigError::new(
                    "store.redis_master_name",
                    "is required with store.redis_sentinels (the name in the sentinels' \
                     `sentinel monitor <name> …`)",
                ));
            }
            Some(name) if name.is_empty() || name.chars().any(|c| c.is_whitespace()) => {
                return Err(ConfigError::new(
                    "store.redis_master_name",
                    "must be a non-empty name without white space",
                ));
            }
            Some(name) => name.to_owned(),
        };
        // Without a password Redis is sent no AUTH at all (RESP2), so a
        // user alone would silently log in as `default`.
        let user_without_password = [
            (
                "store.redis_username",
                &store.redis_username,
                &store.redis_password,
            ),
            (
                "store.redis_sentinel_username",
                &store.redis_sentinel_username,
                &store.redis_sentinel_password,
            ),
        ];
        for (key, user, password) in user_without_password {
            if user.is_some() && password.is_none() {
                return Err(ConfigError::new(
                    key,
                    "is set without its password: Redis would log in as `default`; set the \
                     password too (or remove the user)",
                ));
            }
        }
        let db = store.redis_db.unwrap_or(0);
        if db < 0 {
            return Err(ConfigError::new("store.redis_db", "must not be negative"));
        }
        Ok(Self {
            sentinels,
            master_name,
            username: store.redis_username.clone(),
            password: store.redis_password.as_ref().map(|p| p.expose().to_owned()),
            db,
            sentinel_username: store.redis_sentinel_username.clone(),
            sentinel_password: store
                .redis_sentinel_password
                .as_ref()
                .map(|p| p.expose().to_owned()),
        })
    }
}

/// `host:port` or `[v6]:port`: the host (without brackets) and a
/// non-zero port. A name is letters, digits, `.`, `-` and `_`.
fn host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.strip_suffix(']')?.parse::<Ipv6Addr>().ok()?.to_string(),
        None if !host.is_empty() && host.chars().all(name_char) => host.to_owned(),
        None => return None,
    };
    Some((host, port))
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

    /// `[store]` on sentinels: `MINIMAL`'s other tables, then `store`.
    fn on_sentinels(store: &str) -> Result<Config, ConfigError> {
        Config::parse(&format!(
            "{}\n[store]\nbackend = \"redis\"\n{store}\n",
            crate::config::tests::MINIMAL
        ))
    }

    const SENTINELS: &str = "redis_sentinels = [\"10.0.0.5:26379\", \"sentinel-2:26379\", \
                             \"[::1]:26380\"]\nredis_master_name = \"qrlogin\"";

    #[test]
    fn sentinels_and_their_credentials_come_from_their_keys() {
        let config = on_sentinels(&format!(
            "{SENTINELS}
            redis_username = \"app\"
            redis_password = \"hunter2\"
            redis_db = 3
            redis_sentinel_username = \"watcher\"
            redis_sentinel_password = \"swordfish\""
        ))
        .unwrap();
        let settings = RedisSettings::from_config(&config.store).unwrap();
        let RedisTarget::Sentinel(s) = &settings.target else {
            panic!("not a sentinel target: {settings:?}");
        };
        assert_eq!(
            s.sentinels,
            [
                ("10.0.0.5".to_owned(), 26379),
                ("sentinel-2".to_owned(), 26379),
                ("::1".to_owned(), 26380)
            ]
        );
        assert_eq!(s.master_name, "qrlogin");
        assert_eq!(
            (s.username.as_deref(), s.password.as_deref(), s.db),
            (Some("app"), Some("hunter2"), 3)
        );
        assert_eq!(
            (
                s.sentinel_username.as_deref(),
                s.sentinel_password.as_deref()
            ),
            (Some("watcher"), Some("swordfish"))
        );
        let printed = format!("{settings:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("swordfish"),
            "{printed}"
        );
        let shown = config.to_redacted_toml().unwrap();
        assert!(
            !shown.contains("hunter2") && !shown.contains("swordfish"),
            "{shown}"
        );
        assert!(shown.contains("redis_master_name = \"qrlogin\""), "{shown}");
    }

    #[test]
    fn a_bad_sentinel_setup_is_refused_naming_the_key() {
        let cases = [
            (
                format!("{SENTINELS}\nredis_url = \"redis://127.0.0.1\""),
                "store.redis_sentinels",
                "set one of them",
            ),
            (
                "redis_sentinels = [\"a:26379\"]".to_owned(),
                "store.redis_master_name",
                "is required",
            ),
            (
                "redis_master_name = \"qrlogin\"".to_owned(),
                "store.redis_sentinels",
                "at least one sentinel",
            ),
            (
                "redis_sentinels = []\nredis_master_name = \"qrlogin\"".to_owned(),
                "store.redis_sentinels",
                "at least one sentinel",
            ),
            (
                "redis_sentinels = [\"a:26379\", \"redis://b:26379\"]\nredis_master_name = \"q\""
                    .to_owned(),
                "store.redis_sentinels[1]",
                "is not host:port",
            ),
            (
                "redis_sentinels = [\"a\"]\nredis_master_name = \"q\"".to_owned(),
                "store.redis_sentinels[0]",
                "is not host:port",
            ),
            (
                "redis_sentinels = [\"a:0\"]\nredis_master_name = \"q\"".to_owned(),
                "store.redis_sentinels[0]",
                "is not host:port",
            ),
            (
                "redis_sentinels = [\"::1:26379\"]\nredis_master_name = \"q\"".to_owned(),
                "store.redis_sentinels[0]",
                "is not host:port",
            ),
            (
                "redis_sentinels = [\"a:1\"]\nredis_master_name = \"my primary\"".to_owned(),
                "store.redis_master_name",
                "white space",
            ),
            (
                format!("{SENTINELS}\nredis_db = -1"),
                "store.redis_db",
                "negative",
            ),
            (
                "redis_url = \"redis://127.0.0.1\"\nredis_password = \"x\"".to_owned(),
                "store.redis_password",
                "only with store.redis_sentinels",
            ),
            (
                "redis_url = \"redis://127.0.0.1\"\nredis_sentinel_username = \"x\"".to_owned(),
                "store.redis_sentinel_username",
                "only with store.redis_sentinels",
            ),
            (String::new(), "store.redis_url", "or store.redis_sentinels"),
            (
                format!("{SENTINELS}\nredis_username = \"app\""),
                "store.redis_username",
                "without its password",
            ),
            (
                format!("{SENTINELS}\nredis_sentinel_username = \"w\"\nredis_password = \"x\""),
                "store.redis_sentinel_username",
                "without its password",
            ),
        ];
        for (store, key, why) in cases {
            let err = on_sentinels(&store).unwrap_err();
            assert_eq!(err.key(), Some(key), "{store}: {err}");
            assert!(err.to_string().contains(why), "{store}: {err}");
        }
    }

    #[test]
    fn a_bad_sentinel_entry_is_not_echoed_it_may_hold_a_password() {
        let store = "redis_sentinels = [\"redis://:hunter2@s1:26379\"]\nredis_master_name = \"q\"";
        let err = on_sentinels(store).unwrap_err();
        assert_eq!(err.key(), Some("store.redis_sentinels[0]"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_secret_from_a_file_is_refused_naming_the_file_key() {
        let mut store = on_sentinels("redis_url = \"redis://127.0.0.1\"")
            .unwrap()
            .store;
        store.redis_password = Some("from-the-file".to_owned().into());
        store.redis_password_file = Some("/run/secrets/redis".into());
        let err = RedisTarget::from_config(&store).unwrap_err();
        assert_eq!(err.key(), Some("store.redis_password_file"), "{err}");
        store.redis_password = None;
        store.redis_password_file = None;
        store.redis_sentinel_password = Some("from-the-file".to_owned().into());
        store.redis_sentinel_password_file = Some("/run/secrets/sentinel".into());
        let err = RedisTarget::from_config(&store).unwrap_err();
        assert_eq!(
            err.key(),
            Some("store.redis_sentinel_password_file"),
            "{err}"
        );
    }
}
