//! The registered relying sites, and client authentication at the token,
//! revocation and introspection endpoints (RFC 6749 §2.3).

use super::error::{ErrorCode, OAuthError, invalid_client, invalid_request};
use crate::config::{ClientConfig, ConfigError};
use jsonwebtoken::Algorithm;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// One registered client.
#[derive(Debug)]
pub struct Client {
    pub id: String,
    pub name: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    /// SHA-256 of the secret; `None` for a public client.
    secret_sha256: Option<[u8; 32]>,
    /// What its id_tokens are signed with.
    pub id_token_alg: Algorithm,
    grants: Grants,
}

/// The grant types a client is registered for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Grants {
    authorization_code: bool,
    refresh_token: bool,
    device_code: bool,
}

/// A way of obtaining tokens (`grant_types` in the client's config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    DeviceCode,
}

impl Client {
    /// A public client has no secret and must use PKCE.
    pub fn is_public(&self) -> bool {
        self.secret_sha256.is_none()
    }

    /// Exact string comparison, as RFC 9700 §2.1 requires: no prefix, no
    /// case folding, no normalisation (a trailing slash is another URI).
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    pub fn allows_post_logout_redirect(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }

    /// Whether the client is registered for `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        match grant {
            GrantType::AuthorizationCode => self.grants.authorization_code,
            GrantType::RefreshToken => self.grants.refresh_token,
            GrantType::DeviceCode => self.grants.device_code,
        }
    }

    /// Whether `secret` is this client's, compared in constant time.
    fn secret_matches(&self, secret: &str) -> bool {
        let Some(expected) = &self.secret_sha256 else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        presented.ct_eq(expected).into()
    }
}

/// How a client identified itself on a back-channel request. `Debug`
/// shows the ids only.
#[derive(Default)]
pub struct ClientCredentials {
    /// From `Authorization: Basic` (`client_secret_basic`).
    pub basic: Option<(String, String)>,
    /// Form fields (`client_secret_post`, or `none` with just the id).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field(
                "basic",
                &self.basic.as_ref().map(|(id, _)| (id, "<redacted>")),
            )
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ClientCredentials {
    /// The id and secret of a Basic header: each was form-urlencoded before
    /// it was base64-encoded (RFC 6749 §2.3.1), so decode that too.
    pub fn with_basic(mut self, user: &str, password: &str) -> Result<Self, OAuthError> {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| invalid_client("malformed client credentials"))
        };
        self.basic = Some((decode(user)?, decode(password)?));
        Ok(self)
    }
}

/// Every registered client, by id. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Clients(Arc<HashMap<String, Client>>);

impl Clients {
    /// The clients of a validated config. `supports` says which id_token
    /// algorithms the signing keys offer; a client asking for another is a
    /// config error naming it.
    pub fn from_config(
        clients: &[ClientConfig],
        supports: impl Fn(Algorithm) -> bool,
    ) -> Result<Self, ConfigError> {
        let mut map = HashMap::new();
        for (i, c) in clients.iter().enumerate() {
            let alg = match c.id_token_signed_response_alg.as_str() {
                "ES256" => Algorithm::ES256,
                "EdDSA" => Algorithm::EdDSA,
                _ => Algorithm::RS256,
            };
            if !supports(alg) {
                return Err(ConfigError::new(
                    &format!("clients[{i}].id_token_signed_response_alg"),
                    format!("no key in oidc.signing_keys signs {alg:?}"),
                ));
            }
            let secret_sha256 = match &c.client_secret_sha256 {
                Some(hex) => Some(crate::secret::hex32::decode(hex).ok_or_else(|| {
                    ConfigError::new(
                        &format!("clients[{i}].client_secret_sha256"),
                        "must be 64 hex digits",
                    )
                })?),
                None => None,
            };
            let has = |g: &str| c.grant_types.iter().any(|t| t == g);
            let grants = Grants {
                authorization_code: has("authorization_code"),
                refresh_token: has("refresh_token"),
                device_code: has(crate::config::DEVICE_CODE_GRANT),
            };
            map.insert(
                c.client_id.clone(),
                Client {
                    id: c.client_id.clone(),
                    name: c.name.clone(),
                    redirect_uris: c.redirect_uris.clone(),
                    post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
                    secret_sha256,
                    id_token_alg: alg,
                    grants,
                },
            );
        }
        Ok(Self(Arc::new(map)))
    }

    pub fn get(&self, id: &str) -> Option<&Client> {
        self.0.get(id)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client these credentials prove, if it is registered for `grant`
    /// (`unauthorized_client` otherwise, RFC 6749 §5.2).
    pub fn authenticate_for(
        &self,
        creds: &ClientCredentials,
        grant: GrantType,
    ) -> Result<&Client, OAuthError> {
        let client = self.authenticate(creds)?;
        if client.allows(grant) {
            Ok(client)
        } else {
            Err(unauthorized_client(grant))
        }
    }

    /// The client these credentials prove. One method per request (RFC 6749
    /// §2.3); a confidential client must present its secret, a public client
    /// only its id and no secret.
    pub fn authenticate(&self, creds: &ClientCredentials) -> Result<&Client, OAuthError> {
        let (id, secret) = match (&creds.basic, &creds.client_secret) {
            (Some(_), Some(_)) => {
                return Err(invalid_request(
                    "use one client authentication method, not both Basic and client_secret",
                ));
            }
            (Some((id, secret)), None) => {
                if creds.client_id.as_ref().is_some_and(|form| form != id) {
                    return Err(invalid_request(
                        "client_id in the form differs from the authenticated client",
                    ));
                }
                (id.as_str(), Some(secret.as_str()))
            }
            (None, secret) => {
                let Some(id) = &creds.client_id else {
                    return Err(invalid_client("client authentication is required"));
                };
                (id.as_str(), secret.as_deref())
            }
        };
        let client = self
            .get(id)
            .ok_or_else(|| invalid_client("unknown client or wrong secret"))?;
        match secret {
            Some(s) if client.secret_matches(s) => Ok(client),
            None if client.is_public() => Ok(client),
            _ => Err(invalid_client("unknown client or wrong secret")),
        }
    }
}

/// A client using a grant type it is not registered for (RFC 6749 §5.2).
fn unauthorized_client(grant: GrantType) -> OAuthError {
    let why = match grant {
        GrantType::AuthorizationCode => "this client is not registered for authorization_code",
        GrantType::RefreshToken => "this client is not registered for refresh_token",
        GrantType::DeviceCode => "this client is not registered for the device_code grant",
    };
    OAuthError::new(ErrorCode::UnauthorizedClient, why)
}

/// Two clients for unit tests: confidential "shop" (secret hash
/// `secret_sha256`) and public "spa", both redirecting to `redirect`.
#[cfg(test)]
pub(crate) fn test_clients(redirect: &str, secret_sha256: &str) -> Clients {
    let shop = ClientConfig {
        client_id: "shop".into(),
        name: "Shop".into(),
        redirect_uris: vec![redirect.into()],
        client_secret_sha256: Some(secret_sha256.into()),
        client_secret_sha256_file: None,
        public: false,
        post_logout_redirect_uris: vec![],
        id_token_signed_response_alg: "RS256".into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
    };
    let spa = ClientConfig {
        client_id: "spa".into(),
        client_secret_sha256: None,
        public: true,
        ..shop.clone()
    };
    Clients::from_config(&[shop, spa], |_| true).expect("valid test clients")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sha256("password")
    const PASSWORD_SHA256: &str =
        "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    fn clients() -> Clients {
        test_clients("https://shop.example/cb", PASSWORD_SHA256)
    }

    fn form(id: &str, secret: Option<&str>) -> ClientCredentials {
        ClientCredentials {
            client_id: Some(id.into()),
            client_secret: secret.map(Into::into),
            ..Default::default()
        }
    }

    fn code(r: Result<&Client, OAuthError>) -> &'static str {
        r.map(|_| "ok").unwrap_or_else(|e| e.error_code().as_str())
    }

    #[test]
    fn confidential_clients_need_their_secret() {
        let c = clients();
        assert_eq!(code(c.authenticate(&form("shop", Some("password")))), "ok");
        assert_eq!(
            code(c.authenticate(&form("shop", Some("Password")))),
            "invalid_client"
        );
        assert_eq!(code(c.authenticate(&form("shop", None))), "invalid_client");
        assert_eq!(
            code(c.authenticate(&form("nobody", Some("password")))),
            "invalid_client"
        );
        assert_eq!(
            code(c.authenticate(&ClientCredentials::default())),
            "invalid_client"
        );
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_exclusive() {
        let c = clients();
        let basic = ClientCredentials::default()
            .with_basic("shop", "pass%77ord")
            .unwrap();
        assert_eq!(code(c.authenticate(&basic)), "ok");
        let both = ClientCredentials {
            client_secret: Some("password".into()),
            ..ClientCredentials::default()
                .with_basic("shop", "password")
                .unwrap()
        };
        assert_eq!(code(c.authenticate(&both)), "invalid_request");
        let other_id = ClientCredentials {
            client_id: Some("spa".into()),
            ..ClientCredentials::default()
                .with_basic("shop", "password")
                .unwrap()
        };
        assert_eq!(code(c.authenticate(&other_id)), "invalid_request");
    }

    #[test]
    fn public_clients_send_no_secret() {
        let c = clients();
        assert_eq!(code(c.authenticate(&form("spa", None))), "ok");
        assert_eq!(
            code(c.authenticate(&form("spa", Some("password")))),
            "invalid_client"
        );
    }

    #[test]
    fn redirects_match_exactly() {
        let c = clients();
        let shop = c.get("shop").unwrap();
        assert!(shop.allows_redirect("https://shop.example/cb"));
        for near in [
            "https://shop.example/cb/",
            "https://shop.example/cb?x=1",
            "https://shop.example:443/cb",
            "https://SHOP.example/cb",
            "https://shop.example/c",
        ] {
            assert!(!shop.allows_redirect(near), "{near}");
        }
    }
}
