//! nginx forward-auth: apps behind nginx log in with qrlogin without
//! knowing it. nginx asks `GET /auth/verify` about each request
//! (`auth_request`); the answer is 200 with who is logged in (headers nginx
//! passes to the app), 401 with where to log in, or 403. The pure decisions
//! live here, the handler in `http::forward_auth`:
//!
//! - [`rules`]: a location's `?allow=` / `?policy=` rules;
//! - [`headers`]: which headers carry which field of the user, made safe;
//! - [`redirect`]: where a browser may be sent after logging in (`?rd=`),
//!   and the login link that carries it;
//! - [`hosts`]: the cookie domain and the listed hosts, as config values.

pub mod headers;
pub mod hosts;
pub mod redirect;
pub mod rules;

pub use headers::{IdentityHeader, UnrepresentableId, UserField};
pub use hosts::{AllowedHost, CookieDomain};
pub use redirect::{login_url, redirect_target};
pub use rules::{Access, RuleError};

use crate::config::Config;
use crate::session::User;
use axum::http::{HeaderName, HeaderValue};

/// Why `/auth/verify` does not let a request through.
#[derive(Debug, thiserror::Error)]
pub enum Denial {
    /// No valid login cookie. `login_url` is where to log in, carrying the
    /// original URL as `?rd=` when it is one the browser may come back to.
    #[error("not logged in")]
    NotLoggedIn { login_url: String },
    /// Logged in, but this location's rules do not admit the user.
    #[error("not allowed here")]
    NotAllowed,
    /// The location's rules are broken (a bug in the nginx config).
    #[error(transparent)]
    BrokenRule(#[from] RuleError),
    #[error(transparent)]
    UnrepresentableId(#[from] UnrepresentableId),
}

/// The headers to answer a request of logged-in `user` with, if `access`
/// admits them.
pub fn admit(
    access: &Access<'_>,
    user: &User,
    config: &Config,
) -> Result<Vec<(HeaderName, HeaderValue)>, Denial> {
    if !access.admits(&user.id) {
        return Err(Denial::NotAllowed);
    }
    Ok(headers::identity_headers(
        user,
        config.forward_auth.headers.iter(),
        config.public_base(),
    )?)
}

/// Where to send a browser that is not logged in: the login page, with the
/// URL it asked for (`original`, from nginx) as `?rd=` when that passes
/// [`redirect_target`].
pub fn login_link(original: Option<&str>, config: &Config) -> String {
    let target = original.and_then(|url| redirect_target(url, config));
    let link = login_url(config, target.as_deref());
    if link.len() > redirect::MAX_LOGIN_LINK_LEN {
        return login_url(config, None);
    }
    link
}
