//! Secrets: random tokens from the OS CSPRNG, their stored (hashed) form, and
//! constant-time comparison.
//!
//! Every bearer secret the server hands out (poll tokens, confirm tokens,
//! login cookies) is 256 bits from `getrandom`, and only its SHA-256 digest is
//! ever stored, so a dump of the store yields nothing usable. High-entropy
//! secrets need no slow password hash: SHA-256 preimages are out of reach.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes in a freshly minted secret (256 bits).
const SECRET_BYTES: usize = 32;

/// Fill `buf` from the operating system's CSPRNG.
///
/// # Panics
/// Only if the OS has no working random source, in which case continuing
/// would mean handing out guessable tokens.
pub fn os_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random number generator failed");
}

/// A fresh public identifier: 128 random bits, URL-safe base64 (22
/// characters). Unguessable, but not a credential.
pub fn random_id() -> String {
    let mut raw = [0u8; 16];
    os_random(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// A bearer secret in plain text: only ever held in memory on its way to or
/// from a client. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A new 256-bit secret, URL-safe base64 (43 characters).
    pub fn generate() -> Self {
        let mut raw = [0u8; SECRET_BYTES];
        os_random(&mut raw);
        Self(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Wraps a secret presented by a client.
    pub fn from_client(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// The text to send to the client that owns it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The form that is stored.
    pub fn hash(&self) -> SecretHash {
        SecretHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// SHA-256 of a [`Secret`]: what the store keeps. Equality is constant-time.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub struct SecretHash(#[serde(with = "hex32")] [u8; 32]);

impl SecretHash {
    /// Whether `candidate` is the secret this hash was made from, in constant time.
    pub fn matches(&self, candidate: &Secret) -> bool {
        *self == candidate.hash()
    }

    /// Lower-case hex, used as a store key for secrets looked up by value
    /// (login cookies): a key that is already a hash leaks nothing.
    pub fn to_hex(&self) -> String {
        hex32::encode(&self.0)
    }

    /// The inverse of [`SecretHash::to_hex`].
    pub fn from_hex(text: &str) -> Option<Self> {
        hex32::decode(text).map(Self)
    }
}

impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for SecretHash {}

impl std::hash::Hash for SecretHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The first bytes are enough to correlate in logs and useless to an attacker.
        write!(f, "SecretHash({}…)", &self.to_hex()[..8])
    }
}

/// Declares a hash of one kind of secret: a distinct type per kind, so a
/// poll-token hash can never be stored where a ticket hash belongs. Each
/// serialises exactly like a [`SecretHash`] (stored data keeps its shape).
macro_rules! secret_hash_kind {
    ($(#[$doc:meta] $name:ident;)*) => {$(
        #[$doc]
        #[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(SecretHash);

        impl $name {
            /// The stored form of `secret`.
            pub fn of(secret: &Secret) -> Self {
                Self(secret.hash())
            }

            /// Whether `candidate` is the secret this hash was made from, in constant time.
            pub fn matches(&self, candidate: &Secret) -> bool {
                self.0.matches(candidate)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    )*};
}

secret_hash_kind! {
    /// Hash of a QR session's poll token (held by the page that created it).
    PollTokenHash;
    /// Hash of a QR session's one-time login ticket.
    TicketHash;
    /// Hash of the `qrl_bind` cookie of the browser that created a QR session.
    BrowserHash;
    /// Hash of the confirm token the phone got when it scanned.
    ConfirmTokenHash;
}

/// The first one-time login ticket of a QR session: `<qr id>.<mac>` where
/// mac is `HMAC-SHA256(key = poll token, "qrlogin-ticket" ‖ qr id)`.
///
/// The server computes it once at creation to store its hash, and again
/// whenever a poller holding the poll token sees the session confirmed. So
/// the plain ticket is never stored, every poller gets the same one, and the
/// id prefix lets the exchange find the session the ticket belongs to.
pub fn login_ticket(poll_token: &Secret, qr_id: &crate::session::QrId) -> Secret {
    login_ticket_at(poll_token, qr_id, 0)
}

/// The ticket of `generation`: the first (0) as [`login_ticket`] says, a
/// later one with the generation appended to the MAC's input, so each
/// fresh ticket differs from every earlier one.
pub fn login_ticket_at(
    poll_token: &Secret,
    qr_id: &crate::session::QrId,
    generation: u32,
) -> Secret {
    let mut mac = Hmac::<Sha256>::new_from_slice(poll_token.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(b"qrlogin-ticket\0");
    mac.update(qr_id.as_str().as_bytes());
    if generation > 0 {
        mac.update(b"\0");
        mac.update(&generation.to_be_bytes());
    }
    let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Secret(format!("{qr_id}.{tag}"))
}

/// The QR id a ticket claims to belong to, if it has a ticket's shape.
pub fn ticket_qr_id(ticket: &str) -> Option<crate::session::QrId> {
    let (id, tag) = ticket.split_once('.')?;
    (tag.len() == 43).then_some(())?;
    crate::session::QrId::parse(id)
}

/// 32-byte digests as 64 hex digits.
pub mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn encode(bytes: &[u8; 32]) -> String {
        use std::fmt::Write as _;
        bytes.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(bytes))
    }

    /// 64 hex digits (either case) as 32 bytes.
    pub fn decode(text: &str) -> Option<[u8; 32]> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        decode(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex characters"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_256_bit_url_safe_and_distinct() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_eq!(a.expose().len(), 43);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn hash_matches_only_its_secret() {
        let a = Secret::generate();
        let h = a.hash();
        assert!(h.matches(&a));
        assert!(!h.matches(&Secret::generate()));
        assert!(!h.matches(&Secret::from_client("")));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let a = Secret::generate();
        assert!(!format!("{a:?}").contains(a.expose()));
        assert!(!format!("{:?}", a.hash()).contains(&a.hash().to_hex()));
    }

    #[test]
    fn hash_round_trips_through_serde() {
        let h = Secret::generate().hash();
        let json = serde_json::to_string(&h).unwrap();
        let back: SecretHash = serde_json::from_str(&json).unwrap();
        assert_eq!(h, back);
        assert!(serde_json::from_str::<SecretHash>("\"zz\"").is_err());
        // Multi-byte characters must be refused, not sliced through.
        let tricky = format!("\"{}é\"", "a".repeat(62));
        assert!(serde_json::from_str::<SecretHash>(&tricky).is_err());
    }

    #[test]
    fn ticket_depends_on_poll_token_and_id_and_names_its_session() {
        use crate::session::QrId;
        let p = Secret::generate();
        let id = QrId::generate();
        let t = login_ticket(&p, &id);
        assert_eq!(t, login_ticket(&p, &id));
        assert_ne!(t, login_ticket(&p, &QrId::generate()));
        assert_ne!(t, login_ticket(&Secret::generate(), &id));
        assert_eq!(t, login_ticket_at(&p, &id, 0));
        assert_ne!(t, login_ticket_at(&p, &id, 1));
        assert_ne!(login_ticket_at(&p, &id, 1), login_ticket_at(&p, &id, 2));
        assert_eq!(
            ticket_qr_id(login_ticket_at(&p, &id, 7).expose()),
            Some(id.clone())
        );
        assert_eq!(ticket_qr_id(t.expose()), Some(id));
        assert_eq!(ticket_qr_id("nonsense"), None);
        assert_eq!(ticket_qr_id("aaaaaaaaaaaaaaaaaaaaaa.short"), None);
    }
}
