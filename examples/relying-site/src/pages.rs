//! The site's pages: `/` (log-in button, or who you are), `/login`,
//! `/callback` and `/logout`. Handlers read the clock and the cookie at the
//! edge and delegate to [`Provider`] and its sessions; every value a page
//! shows goes through [`escape`].

use crate::oidc::{CallbackQuery, OidcError, Provider};
use crate::sessions::{COOKIE, LoggedIn};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, COOKIE as COOKIE_HEADER, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use openidconnect::CsrfToken;
use serde::Deserialize;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

type Shared = Arc<Provider>;

pub fn routes(provider: Provider) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        // POST: a cross-site page cannot log the visitor out (the cookie is
        // SameSite=Lax, so it is not sent with a cross-site POST).
        .route("/logout", post(logout))
        .with_state(Arc::new(provider))
}

#[derive(Debug, Deserialize)]
struct HomeQuery {
    state: Option<String>,
}

async fn home(
    State(provider): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HomeQuery>,
) -> Response {
    let now = Instant::now();
    let session = session_id(&headers);
    let user = session.and_then(|id| provider.sessions.user(id, now));
    let body = match user {
        Some(user) => user_page(&user),
        None => {
            // The provider sends the browser back here after logging out,
            // with the state we sent.
            let logged_out = match (session, query.state) {
                (Some(id), Some(state)) => provider.sessions.take_logout_state(id, &state),
                _ => false,
            };
            let note = if logged_out {
                "<p id=\"logged-out\">You are logged out, here and at the provider.</p>"
            } else {
                ""
            };
            format!(
                "{note}<p>You are not logged in.</p>\
                 <p><a id=\"login\" href=\"/login\">Log in with qrlogin</a></p>"
            )
        }
    };
    page(StatusCode::OK, "Example site", &body)
}

async fn login(State(provider): State<Shared>, headers: HeaderMap) -> Response {
    let (url, pending) = match provider.login().await {
        Ok(login) => login,
        Err(e) => return error_page(&e),
    };
    let id = match provider
        .sessions
        .start_login(session_id(&headers), pending, Instant::now())
    {
        Ok(id) => id,
        Err(_) => return error_page(&OidcError::Busy),
    };
    let mut response = (StatusCode::FOUND, [(LOCATION, url.as_str())]).into_response();
    set_session_cookie(&mut response, &provider, &id);
    response
}

async fn callback(
    State(provider): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let now = Instant::now();
    let Some(id) = session_id(&headers) else {
        return error_page(&OidcError::StaleLogin);
    };
    let Some(pending) = provider.sessions.take_pending(id, now) else {
        return error_page(&OidcError::StaleLogin);
    };
    match provider.complete(pending, query).await {
        Ok(user) => {
            let body = user_page(&user);
            provider.sessions.log_in(id, user, now);
            page(StatusCode::OK, "Logged in", &body)
        }
        Err(e) => error_page(&e),
    }
}

async fn logout(State(provider): State<Shared>, headers: HeaderMap) -> Response {
    let state = CsrfToken::new_random();
    let id_token = session_id(&headers)
        .and_then(|id| provider.sessions.log_out(id, state.clone(), Instant::now()));
    let to = match provider.logout_url(id_token.as_ref(), state).await {
        Ok(Some(url)) => url.to_string(),
        Ok(None) => "/".to_owned(),
        Err(e) => return error_page(&e),
    };
    (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
}

/// The session id from the request's cookie, if any.
fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

fn set_session_cookie(response: &mut Response, provider: &Provider, id: &str) {
    // Lax, not Strict: the provider's redirect to /callback is a cross-site
    // top-level navigation, which must carry the cookie.
    let secure = if provider.settings().secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Lax; Path=/{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

fn user_page(user: &LoggedIn) -> String {
    let mut body = String::from("<h2>Logged in with qrlogin</h2><dl id=\"claims\">");
    let mut row = |name: &str, value: &str| {
        let _ = write!(
            body,
            "<dt>{}</dt><dd id=\"claim-{}\">{}</dd>",
            escape(name),
            escape(name),
            escape(value)
        );
    };
    row("sub", &user.sub);
    row("name", user.name.as_deref().unwrap_or("-"));
    row("picture", user.picture.as_deref().unwrap_or("-"));
    row("auth_time", user.auth_time.as_deref().unwrap_or("-"));
    row("amr", &user.amr.join(" "));
    body.push_str("</dl>");
    if let Some(picture) = user
        .picture
        .as_deref()
        .filter(|p| p.starts_with("https://") || p.starts_with("http://"))
    {
        let _ = write!(
            body,
            "<p><img src=\"{}\" alt=\"\" width=\"64\"></p>",
            escape(picture)
        );
    }
    let _ = write!(
        body,
        "<h3>userinfo</h3><pre id=\"userinfo\">{}</pre>\
         <form method=\"post\" action=\"/logout\"><button id=\"logout\">Log out</button></form>",
        escape(&user.userinfo)
    );
    body
}

/// The page for a login that did not go through: the provider's fault is
/// a 502 and logged as a warning, the request's a 400.
fn error_page(error: &OidcError) -> Response {
    let status = if error.is_upstream() {
        tracing::warn!(%error, "login failed");
        StatusCode::BAD_GATEWAY
    } else if matches!(error, OidcError::Busy) {
        tracing::warn!(%error, "login refused");
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        tracing::info!(%error, "login not completed");
        StatusCode::BAD_REQUEST
    };
    let body = format!(
        "<p id=\"error\">{}</p><p><a href=\"/\">Back</a></p>",
        escape(&error.page_text())
    );
    page(status, "Not logged in", &body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    (
        status,
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(html),
    )
        .into_response()
}

/// HTML-escapes text for element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape(r#"<img src=x onerror="a('&')">"#),
            "&lt;img src=x onerror=&quot;a(&#39;&amp;&#39;)&quot;&gt;"
        );
    }

    #[test]
    fn session_id_is_read_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE_HEADER,
            HeaderValue::from_static("a=1; rp_session=xyz; b=2"),
        );
        assert_eq!(session_id(&headers), Some("xyz"));
        headers.insert(COOKIE_HEADER, HeaderValue::from_static("rp_sessionx=1"));
        assert_eq!(session_id(&headers), None);
    }
}
