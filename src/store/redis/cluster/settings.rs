//! Where the Redis Cluster is and how this instance paces its work with
//! it, read from the typed `[store]` configuration (and checked there, so
//! config validation and the store agree on what is acceptable).

use crate::config::{ConfigError, StoreConfig};
use crate::store::RedisSettings;
use std::time::Duration;

/// The Redis Cluster store's settings. The tunables mean what they mean
/// for one Redis ([`RedisSettings`]) and come from the same `store.redis_*` keys.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisClusterSettings {
    /// Seed nodes, `redis://[user:password@]host:port`; the client learns
    /// the rest of the cluster (and later changes to it) from them.
    pub nodes: Vec<String>,
    /// Prepended to every key and channel; no `{` or `}` (the hash tag is
    /// the store's).
    pub key_prefix: String,
    /// Upper bound on one round trip (redirections and retries included),
    /// and on each (re)subscription.
    pub timeout: Duration,
    /// How often a held waiter re-reads its session without a hint.
    pub resync_every: Duration,
    /// First pause before retrying the first connection or a failed resubscription.
    pub min_resubscribe_delay: Duration,
    /// Longest such pause.
    pub max_resubscribe_delay: Duration,
    /// A connection that stayed up this long resets the backoff.
    pub stable_after: Duration,
}

impl RedisClusterSettings {
    /// The cluster at `nodes`, every other setting at the one-Redis default.
    pub fn new(nodes: Vec<String>) -> Self {
        let d = RedisSettings::new(String::new());
        Self {
            nodes,
            key_prefix: d.key_prefix,
            timeout: d.timeout,
            resync_every: d.resync_every,
            min_resubscribe_delay: d.min_resubscribe_delay,
            max_resubscribe_delay: d.max_resubscribe_delay,
            stable_after: d.stable_after,
        }
    }

    /// The settings the `[store]` config asks for, refusing (with the key
    /// named) no seed node, a seed the client cannot use, or a key prefix
    /// with a brace.
    pub fn from_config(store: &StoreConfig) -> Result<Self, ConfigError> {
        const NODES: &str = "store.redis_cluster_nodes";
        if store.redis_cluster_nodes.is_empty() {
            return Err(ConfigError::new(
                NODES,
                "needs at least one node with backend = \"redis-cluster\"",
            ));
        }
        let nodes: Vec<String> = store
            .redis_cluster_nodes
            .iter()
            .map(|n| n.expose().to_owned())
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            if !(node.starts_with("redis://") || node.starts_with("rediss://")) {
                return Err(ConfigError::new(
                    &format!("{NODES}[{i}]"),
                    "must be a redis://host:port (or rediss://) URL",
                ));
            }
        }
        // Parses every URL and checks they agree on the credentials. The
        // message quotes nothing of the client's error: it may hold a URL,
        // and a URL may hold a password.
        if redis::cluster::ClusterClient::new(nodes.clone()).is_err() {
            return Err(ConfigError::new(
                NODES,
                "is not a usable list of cluster nodes (redis://host:port URLs, \
                 all with the same user and password)",
            ));
        }
        if store.key_prefix.contains(['{', '}']) {
            return Err(ConfigError::new(
                "store.key_prefix",
                "must not contain { or } with backend = \"redis-cluster\" (the store sets the hash tags)",
            ));
        }
        Ok(Self {
            nodes,
            key_prefix: store.key_prefix.clone(),
            timeout: store.redis_timeout,
            resync_every: store.redis_resync_interval,
            min_resubscribe_delay: store.redis_resubscribe_min_delay,
            max_resubscribe_delay: store.redis_resubscribe_max_delay,
            stable_after: store.redis_subscription_stable_after,
        })
    }
}

impl std::fmt::Debug for RedisClusterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The node URLs may carry a password.
        f.debug_struct("RedisClusterSettings")
            .field("nodes", &self.nodes.len())
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("resync_every", &self.resync_every)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(store: &str) -> Result<Config, ConfigError> {
        Config::parse(&format!(
            "{}\n[store]\nbackend = \"redis-cluster\"\n{store}",
            crate::config::tests::MINIMAL
        ))
    }

    #[test]
    fn the_nodes_and_tunables_come_from_the_store_keys() {
        let c = config(
            "redis_cluster_nodes = [\"redis://:hunter2@r1:7000\", \"redis://:hunter2@r2:7000\"]\n\
             redis_timeout = \"1s\"\nredis_resync_interval = \"5s\"",
        )
        .unwrap();
        let s = RedisClusterSettings::from_config(&c.store).unwrap();
        assert_eq!(s.nodes.len(), 2);
        assert_eq!(s.timeout, Duration::from_secs(1));
        assert_eq!(s.resync_every, Duration::from_secs(5));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn bad_cluster_settings_name_their_key() {
        let cases = [
            ("", "store.redis_cluster_nodes"),
            ("redis_cluster_nodes = []", "store.redis_cluster_nodes"),
            (
                "redis_cluster_nodes = [\"r1:7000\"]",
                "store.redis_cluster_nodes[0]",
            ),
            (
                "redis_cluster_nodes = [\"redis://:a@r1:7000\", \"redis://:b@r2:7000\"]",
                "store.redis_cluster_nodes",
            ),
            (
                "redis_cluster_nodes = [\"redis://r1:7000\"]\nkey_prefix = \"{app}:\"",
                "store.key_prefix",
            ),
        ];
        for (store, key) in cases {
            let err = config(store).unwrap_err().to_string();
            assert!(err.contains(key), "{store:?}: {err}");
            assert!(!err.contains("a@r1"), "{err}");
        }
    }
}
