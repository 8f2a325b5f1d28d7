//! Verifies the phone app's bearer token and says which user it stands for.
//!
//! A token is either a static demo token from `[[users]]` or a JWT signed by
//! the account system (HS256 or RS256, whichever is configured). The user id
//! always comes from the verified token, never from the request body.

use crate::clock::Timestamp;
use crate::config::{Config, ConfigError};
use crate::secret::{Secret, SecretHash};
use crate::session::User;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;

/// Longest display name kept from a token; longer ones are cut.
const MAX_NAME_CHARS: usize = 64;
/// Longest avatar URL kept; longer ones are dropped.
const MAX_AVATAR_LEN: usize = 2048;
/// Longest user id accepted.
const MAX_ID_LEN: usize = 256;

/// Why a phone token was refused. The text is safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("the token is not valid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    /// A JWT's `sub` is the id of a configured demo account.
    #[error(
        "the token's sub is the id of a demo account; demo accounts and tokens never share an id"
    )]
    ReservedSubject,
}

/// The claims qrlogin reads from an account-system JWT.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    nbf: Option<i64>,
    name: Option<String>,
    picture: Option<String>,
}

/// Checks phone tokens. Built once from the config.
pub struct MobileVerifier {
    /// Demo tokens, keyed by their hash so lookup timing says nothing about the token.
    demo: HashMap<SecretHash, User>,
    /// The demo accounts' ids. A JWT `sub` and a demo `[[users]]` id name
    /// accounts in one namespace (logins, grants and forward-auth headers
    /// carry the id alone), so a token for `sub = "alice"` would be the
    /// demo Alice. They are kept apart: a JWT whose `sub` is a demo id is
    /// refused (401), so the demo account wins and nobody else can be it.
    demo_ids: std::collections::HashSet<String>,
    hs256: Option<(DecodingKey, Validation)>,
    rs256: Option<(DecodingKey, Validation)>,
    leeway: Duration,
}

impl std::fmt::Debug for MobileVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MobileVerifier")
            .field("demo_users", &self.demo.len())
            .field("hs256", &self.hs256.is_some())
            .field("rs256", &self.rs256.is_some())
            .finish()
    }
}

impl MobileVerifier {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let auth = &config.mobile_auth;
        let validation = |alg| {
            let mut v = Validation::new(alg);
            // exp/nbf are checked against qrlogin's own (injectable) clock below.
            v.validate_exp = false;
            v.validate_nbf = false;
            v.leeway = 0;
            // A configured issuer or audience is only enforced if the claim
            // must be present: jsonwebtoken skips checks of absent claims.
            let mut required = vec!["exp", "sub"];
            match &auth.jwt_audience {
                Some(aud) => {
                    v.set_audience(&[aud]);
                    required.push("aud");
                }
                None => v.validate_aud = false,
            }
            if let Some(iss) = &auth.jwt_issuer {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            v.set_required_spec_claims(&required);
            v
        };
        let hs256 = auth.jwt_hs256_secret.as_ref().map(|s| {
            (
                DecodingKey::from_secret(s.expose().as_bytes()),
                validation(Algorithm::HS256),
            )
        });
        let rs256 = match &auth.jwt_rs256_public_key {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    ConfigError::new(
                        "mobile_auth.jwt_rs256_public_key",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let key = DecodingKey::from_rsa_pem(&pem).map_err(|e| {
                    ConfigError::new(
                        "mobile_auth.jwt_rs256_public_key",
                        format!("{} is not an RSA public key in PEM: {e}", path.display()),
                    )
                })?;
                Some((key, validation(Algorithm::RS256)))
            }
        };
        let demo = config
            .users
            .iter()
            .map(|u| (Secret::from_client(u.token.expose()).hash(), u.profile()))
            .collect();
        let demo_ids = config.users.iter().map(|u| u.id.clone()).collect();
        Ok(Self {
            demo,
            demo_ids,
            hs256,
            rs256,
            leeway: auth.jwt_leeway,
        })
    }

    /// The user a bearer token stands for, checked at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<User, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.matches('.').count() == 2 {
            return self.verify_jwt(token, now);
        }
        self.demo
            .get(&Secret::from_client(token).hash())
            .cloned()
            .ok_or(AuthError::Invalid)
    }

    fn verify_jwt(&self, token: &str, now: Timestamp) -> Result<User, AuthError> {
        // The header only picks which configured key to try; the algorithm is
        // pinned by that key's Validation, so "none" or a swapped algorithm
        // (e.g. HS256 signed with the RSA public key) never verifies.
        let header = decode_header(token).map_err(|_| AuthError::Invalid)?;
        let (key, validation) = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 => self.rs256.as_ref(),
            _ => None,
        }
        .ok_or(AuthError::Invalid)?;
        let claims = decode::<Claims>(token, key, validation)
            .map_err(|_| AuthError::Invalid)?
            .claims;

        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(0);
        let now_secs = now.as_secs();
        if claims.exp.saturating_add(leeway) <= now_secs {
            return Err(AuthError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf.saturating_sub(leeway) > now_secs)
        {
            return Err(AuthError::Invalid);
        }
        if claims.sub.trim().is_empty() || claims.sub.len() > MAX_ID_LEN {
            return Err(AuthError::Invalid);
        }
        if self.demo_ids.contains(&claims.sub) {
            return Err(AuthError::ReservedSubject);
        }
        let name = claims
            .name
            .map(|n| display_safe(&n))
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| display_safe(&claims.sub));
        Ok(User {
            id: claims.sub,
            name,
            avatar: claims.picture.filter(|p| is_safe_avatar(p)),
        })
    }
}

/// Avatars end up in an `<img src>` on the login page: only absolute http(s)
/// URLs and this server's own static files are passed on. Any other
/// same-origin path could make the victim's browser call this API (e.g. a
/// login link) with its cookies.
fn is_safe_avatar(url: &str) -> bool {
    let absolute = url.starts_with("https://") || url.starts_with("http://");
    let own_static = url.starts_with("/static/")
        && !url.contains(['?', '#', '\\'])
        && !url.contains("..")
        && !url.contains('%');
    url.len() <= MAX_AVATAR_LEN
        && url.bytes().all(|b| b.is_ascii_graphic())
        && (absolute || own_static)
}

/// A display name without invisible characters, cut to a sane length.
///
/// Removed by Unicode general category, not by a list: `Cc` (controls),
/// `Cf` (format: every `Bidi_Control` character — U+061C, U+200E/F,
/// U+202A..E, U+2066..9 — and the zero-width ones), `Zl`/`Zp` (line and
/// paragraph separators) and `Cs`. Any of them could make "scanned by"
/// text read as someone else, and a list misses the ones added later
/// (the crate follows the Unicode version it was built for).
fn display_safe(name: &str) -> String {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    let invisible = |c: char| {
        matches!(
            get_general_category(c),
            G::Control | G::Format | G::LineSeparator | G::ParagraphSeparator | G::Surrogate
        )
    };
    name.chars()
        .filter(|c| !invisible(*c))
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_lose_invisible_characters() {
        assert_eq!(display_safe("  Alice\u{202E}ecilA\u{0007} "), "AliceecilA");
        assert_eq!(display_safe("卡罗尔"), "卡罗尔");
        assert_eq!(display_safe(&"x".repeat(500)).len(), MAX_NAME_CHARS);
        assert_eq!(display_safe("\u{200B}\u{200B}"), "");
    }

    /// Every `Bidi_Control` character (UAX #9) goes, U+061C (Arabic letter
    /// mark) included, which a list of ranges missed.
    #[test]
    fn every_bidi_control_is_removed() {
        let bidi_controls = [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}',
            '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ];
        for c in bidi_controls {
            assert_eq!(
                display_safe(&format!("{c}Alice{c}")),
                "Alice",
                "U+{:04X}",
                c as u32
            );
        }
        // Other format characters and separators, by category.
        for c in [
            '\u{00AD}',
            '\u{180E}',
            '\u{2028}',
            '\u{2029}',
            '\u{FEFF}',
            '\u{E0001}',
        ] {
            assert_eq!(
                display_safe(&format!("Al{c}ice")),
                "Alice",
                "U+{:04X}",
                c as u32
            );
        }
        assert_eq!(display_safe("مرحبا Ünïcødé"), "مرحبا Ünïcødé");
    }

    #[test]
    fn avatar_urls_are_filtered() {
        assert!(is_safe_avatar("https://cdn.example/a.png"));
        assert!(is_safe_avatar("/static/avatars/alice.svg"));
        assert!(!is_safe_avatar("javascript:alert(1)"));
        assert!(!is_safe_avatar("//evil.example/a.png"));
        assert!(!is_safe_avatar("/\\evil.example/a.png"));
        assert!(!is_safe_avatar("/api/login/complete?ticket=x"));
        assert!(!is_safe_avatar("/static/../api/logout"));
        assert!(!is_safe_avatar("/static/%2e%2e/api/me"));
        assert!(!is_safe_avatar("/static/a.png?x=1"));
        assert!(!is_safe_avatar("https://x/a b.png"));
        assert!(!is_safe_avatar("data:image/svg+xml,<svg onload=alert(1)>"));
        assert!(!is_safe_avatar(&format!("https://x/{}", "a".repeat(3000))));
    }
}
