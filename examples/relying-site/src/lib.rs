//! An example OpenID Connect relying party: "Log in with qrlogin".
//!
//! A small site that logs its visitors in through an OpenID provider (qrlogin,
//! or any other) with the authorization code flow, PKCE (S256), a nonce and a
//! state, all done by the maintained `openidconnect` crate:
//!
//! - [`oidc`]: discovery (lazy, retried until it succeeds), the authorization
//!   URL, and the callback's checks: RFC 9207 `iss`, the code exchange, the
//!   ID token (signature against the JWKS, `iss`, `aud`, `nonce`, `at_hash`),
//!   userinfo; and the RP-initiated logout URL.
//! - [`sessions`]: the server-side store of logins in progress and done,
//!   keyed by a random HttpOnly cookie.
//! - [`pages`]: the handlers and their HTML, every value escaped.
//!
//! `main.rs` is a thin shell over [`router`] and [`run`]; the tests run the
//! same router in-process.

pub mod oidc;
pub mod pages;
pub mod sessions;

use axum::Router;
use std::fmt;
use std::future::Future;
use tokio::net::TcpListener;
use url::Url;

/// What the site needs to know: who the provider is, who the site is there,
/// and where browsers reach the site.
#[derive(Clone)]
pub struct Settings {
    /// The provider's issuer identifier, exactly as its discovery document
    /// states it (e.g. `http://127.0.0.1:8080`).
    pub issuer: String,
    pub client_id: String,
    /// `None` for a public client (token endpoint auth method `none`).
    pub client_secret: Option<String>,
    /// The site's own origin; the redirect URI is `{public_url}/callback`.
    pub public_url: Url,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("public_url", &self.public_url.as_str())
            .finish()
    }
}

impl Settings {
    /// The public URL without its trailing slash, to append paths to.
    pub fn origin(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// Where the provider sends the browser back to.
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.origin())
    }

    /// Where the provider sends the browser after logging out.
    pub fn post_logout_redirect_uri(&self) -> String {
        format!("{}/", self.origin())
    }

    /// Cookies are `Secure` only when browsers reach the site over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// Why the site could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("--issuer: {0}")]
    Issuer(String),
    #[error("--public-url: {0}")]
    PublicUrl(String),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// The site's routes, built from `settings`. The provider is discovered on
/// the first request that needs it (and again after a failure), so the site
/// may start before its provider.
pub fn router(settings: Settings) -> Result<Router, SetupError> {
    let provider = oidc::Provider::new(settings)?;
    Ok(pages::routes(provider))
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
