//! Where each thing lives in Redis: the key names of one deployment.
//!
//! On a single Redis the names are the ones running deployments already
//! hold their logins and tokens under, and must not change. On a Redis
//! Cluster a QR session's key carries the hash tag `{qr:<id>}`, and so does
//! its wake-up channel, so the compare-and-set script that writes the one
//! and publishes on the other runs on one slot. Every other key is a single
//! self-contained key (no script touches two of them), so it needs no tag:
//! the cluster spreads logins, records and indexes over all slots.

use crate::secret::SecretHash;
use crate::session::QrId;
use crate::store::RecordKind;

/// The key names of one deployment, under its `store.key_prefix`.
#[derive(Clone, Debug)]
pub(crate) struct KeyLayout {
    prefix: String,
    /// A Redis Cluster: QR sessions and their channels carry a hash tag.
    cluster: bool,
}

impl KeyLayout {
    /// The names on one Redis (or a Sentinel-managed primary).
    pub(crate) fn single(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            cluster: false,
        }
    }

    /// The names on a Redis Cluster: `{prefix}{qr:<id>}` and its channel
    /// `{prefix}{qr:<id>}:wake` hash to the same slot. The prefix must hold
    /// no `{` (config validation refuses one), or its braces would be the tag
    /// and put every session in one slot.
    pub(crate) fn cluster(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            cluster: true,
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hash holding a QR session.
    pub(crate) fn qr(&self, id: &QrId) -> String {
        if self.cluster {
            format!("{}{{qr:{id}}}", self.prefix)
        } else {
            format!("{}qr:{id}", self.prefix)
        }
    }

    /// The sharded channel a change of session `id` is published on (cluster only).
    pub(crate) fn wake_channel(&self, id: &QrId) -> String {
        format!("{}{{qr:{id}}}:wake", self.prefix)
    }

    /// The session a [`Self::wake_channel`] name stands for.
    pub(crate) fn id_of_wake_channel(&self, channel: &[u8]) -> Option<QrId> {
        let name = std::str::from_utf8(channel).ok()?;
        let inner = name
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix("{qr:")?
            .strip_suffix("}:wake")?;
        QrId::parse(inner)
    }

    /// A browser's login, by the hash of its cookie.
    pub(crate) fn login(&self, key: &SecretHash) -> String {
        format!("{}login:{}", self.prefix, key.to_hex())
    }

    /// An OAuth record of `kind`.
    pub(crate) fn record(&self, kind: RecordKind, key: &str) -> String {
        format!("{}{}:{key}", self.prefix, kind.as_str())
    }

    /// A user's index. Any owner string makes a distinct key: everything
    /// after the fixed `user:` is the owner, colons and all.
    pub(crate) fn index(&self, owner: &str) -> String {
        format!("{}user:{owner}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_redis_names_are_the_ones_deployments_hold() {
        let keys = KeyLayout::single("qrlogin:");
        let id = QrId::generate();
        assert_eq!(keys.qr(&id), format!("qrlogin:qr:{id}"));
        assert_eq!(keys.record(RecordKind::Code, "k"), "qrlogin:code:k");
        assert_eq!(keys.index("a b:c"), "qrlogin:user:a b:c");
    }

    #[test]
    fn a_cluster_session_and_its_channel_share_a_hash_tag() {
        let keys = KeyLayout::cluster("qrlogin:");
        let id = QrId::generate();
        let tag = format!("{{qr:{id}}}");
        assert_eq!(keys.qr(&id), format!("qrlogin:{tag}"));
        assert_eq!(keys.wake_channel(&id), format!("qrlogin:{tag}:wake"));
        assert_eq!(
            keys.id_of_wake_channel(keys.wake_channel(&id).as_bytes()),
            Some(id.clone())
        );
        assert_eq!(keys.id_of_wake_channel(keys.qr(&id).as_bytes()), None);
        let other = KeyLayout::cluster("other:");
        assert_eq!(
            other.id_of_wake_channel(keys.wake_channel(&id).as_bytes()),
            None
        );
    }
}
