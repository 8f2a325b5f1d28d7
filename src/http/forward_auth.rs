//! `GET /auth/verify`, for nginx's `auth_request`: one store read, no body.
//! The decisions are [`crate::forward_auth`]'s; this maps them to statuses.

use super::browser::SESSION_COOKIE;
use super::error::ApiError;
use super::state::AppState;
use crate::api::{ErrorBody, paths};
use crate::forward_auth::{self, Access, Denial};
use crate::login::LoginError;
use crate::secret::Secret;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

/// On a 401: the login page, with where the browser was going as `?rd=`
/// (nginx: `auth_request_set $auth_redirect $upstream_http_x_auth_redirect`).
/// nginx cannot percent-encode a URL itself, so qrlogin builds the link.
pub const X_AUTH_REDIRECT: HeaderName = HeaderName::from_static("x-auth-redirect");
/// The URL the browser asked nginx for, set on the subrequest
/// (`$scheme://$http_host$request_uri`); only read to build that link.
pub const X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");

/// Whether this browser's login may pass: nginx's `auth_request`.
///
/// Identity comes only from the login cookie; headers the client sent
/// (`X-Auth-User` included) are never read. Never a redirect itself, and
/// never a 5xx for anything a client sends (nginx turns any answer other
/// than 2xx, 401 and 403 into a 500).
#[utoipa::path(get, path = paths::AUTH_VERIFY, tag = "forward_auth",
    params(
        ("allow" = Option<String>, Query, description = "Comma-separated user ids; only they pass"),
        ("policy" = Option<String>, Query, description = "Comma-separated names of `[[forward_auth.policies]]`; only their members pass"),
        ("X-Original-URL" = Option<String>, Header, description = "The URL the browser asked nginx for: on a 401, `X-Auth-Redirect` carries it as `?rd=` when it may be returned to"),
    ),
    responses(
        (status = 200, description = "Logged in and allowed. Empty body; the user in the configured headers (by default `X-Auth-User`: id, `X-Auth-Name`: name, raw UTF-8)",
            headers(
                ("X-Auth-User" = String, description = "The user id (default header set)"),
                ("X-Auth-Name" = String, description = "The display name (default header set)"),
            )),
        (status = 401, description = "Not logged in. Empty body",
            headers(("X-Auth-Redirect" = String, description = "The login page, with `?rd=<original URL>` when it may be returned to"))),
        (status = 403, description = "Logged in but not allowed by `allow`/`policy`; or the rules are broken (unknown parameter or policy: logged as an error). Empty body"),
        (status = 503, body = ErrorBody, description = "store_unavailable"),
    ))]
pub async fn verify(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let config = app.config();
    // The rules first: broken ones refuse everybody without a store read.
    let access = match Access::parse(query.as_deref(), &config.forward_auth.policies) {
        Ok(access) => access,
        Err(broken) => return Ok(Denial::from(broken).into_response()),
    };
    let cookie = jar
        .get(SESSION_COOKIE)
        .map(|c| Secret::from_client(c.value()));
    let user = match app.login().current_login(cookie.as_ref()).await {
        Ok(account) => account.user,
        Err(LoginError::NotLoggedIn) => {
            let original = headers.get(X_ORIGINAL_URL).and_then(|v| v.to_str().ok());
            let login_url = forward_auth::login_link(original, config);
            return Ok(Denial::NotLoggedIn { login_url }.into_response());
        }
        Err(e) => return Err(e.into()),
    };
    match forward_auth::admit(&access, &user, config) {
        Ok(identity) => {
            let mut response = StatusCode::OK.into_response();
            response.headers_mut().extend(identity);
            Ok(response)
        }
        Err(denial) => Ok(denial.into_response()),
    }
}

/// The one mapping of a denial to its answer: empty bodies, as nginx
/// reads only the status and headers.
impl IntoResponse for Denial {
    fn into_response(self) -> Response {
        match self {
            Self::NotLoggedIn { login_url } => {
                let mut response = StatusCode::UNAUTHORIZED.into_response();
                // Percent-encoded ASCII by construction, so always a valid value.
                if let Ok(value) = HeaderValue::from_str(&login_url) {
                    response.headers_mut().insert(X_AUTH_REDIRECT, value);
                }
                response
            }
            Self::NotAllowed => StatusCode::FORBIDDEN.into_response(),
            Self::BrokenRule(rule) => {
                tracing::error!(%rule, "forward auth: a location's rules are broken, so nobody passes it; fix its auth_request URI");
                StatusCode::FORBIDDEN.into_response()
            }
            Self::UnrepresentableId(why) => {
                tracing::warn!(%why, "forward auth: refused a login whose user id no header can carry");
                StatusCode::FORBIDDEN.into_response()
            }
        }
    }
}
