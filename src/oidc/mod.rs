//! The OpenID Connect provider: relying sites send browsers to
//! `/oauth/authorize`, the user scans and confirms on the phone, and the site
//! gets an authorization code it trades for tokens (RFC 6749 with PKCE, RFC
//! 7636; OpenID Connect Core 1.0; the security BCP, RFC 9700).
//!
//! - [`request`]: the authorization request and its refusals (page or redirect).
//! - [`clients`]: registered clients and client authentication.
//! - [`device`]: the Device Authorization Grant (RFC 8628) for TVs and CLIs.
//! - [`pkce`], [`scope`]: the small rules.
//! - [`keys`]: id_token signing keys and the JWKS.
//! - [`records`]: codes, grants and tokens as the store keeps them.
//! - [`OidcService`]: issuing codes, the token grants, userinfo, revocation,
//!   introspection, logout.
//! - [`error`]: the registered OAuth error codes.

pub mod client_secret;
pub mod clients;
pub mod device;
pub mod error;
pub mod keys;
pub mod pkce;
pub mod records;
pub mod request;
pub mod scope;
mod service;

pub use client_secret::client_secret_sha256;
pub use clients::{Client, ClientCredentials, Clients, GrantType};
pub use device::{DeviceAuthorization, DeviceFlow, DeviceRequest, UserCode};
pub use error::{ErrorCode, OAuthError};
pub use request::{AuthorizationRequest, AuthorizeRefusal, ErrorRedirect};
pub use scope::Scope;
pub use service::{IdTokenClaims, Introspection, IssuedTokens, LogoutPlan, OidcService, UserInfo};
