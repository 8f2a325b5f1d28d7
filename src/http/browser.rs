//! The browser's API: create a QR session, long-poll it, trade the ticket
//! for a login cookie, see who is logged in, log out.

use super::extract::{ApiJson, BearerToken, ClientIp, QrIdPath};
use crate::app::App;
use crate::error::Error;
use crate::login::{PollAnswer, Proof};
use crate::secret::Secret;
use crate::session::{PublicState, RequestInfo};
use crate::store::{AccountSession, SessionStore};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The browser's login cookie.
pub const SESSION_COOKIE: &str = "qrl_session";
/// Binds QR sessions to the browser that created them (see [`Proof`]).
pub const BIND_COOKIE: &str = "qrl_bind";
/// Longest user agent kept for display on the phone, in bytes.
const MAX_USER_AGENT: usize = 256;
/// Life of the binding cookie, renewed with every new QR code.
const BIND_COOKIE_DAYS: i64 = 30;

pub async fn create_qr<S: SessionStore>(
    State(app): State<App<S>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<impl IntoResponse, Error> {
    app.limits.check_qr(ip)?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .map(|v| truncate_utf8(&String::from_utf8_lossy(v.as_bytes()), MAX_USER_AGENT))
        .unwrap_or_default();
    // Several tabs of one browser share one binding cookie.
    let browser = jar
        .get(BIND_COOKIE)
        .filter(|c| c.value().len() == 43)
        .map_or_else(Secret::generate, |c| Secret::from_client(c.value()));
    let qr = app
        .create_qr(
            RequestInfo {
                ip: ip.to_string(),
                user_agent,
            },
            &browser,
        )
        .await?;
    let bind = Cookie::build((BIND_COOKIE, browser.expose().to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/api")
        .secure(app.config.is_https())
        .max_age(cookie::time::Duration::days(BIND_COOKIE_DAYS))
        .build();
    let base = app.config.public_base();
    Ok((
        StatusCode::CREATED,
        jar.add(bind),
        Json(json!({
            "id": qr.id,
            "qr_content": format!("{base}/l/{}", qr.id),
            "poll_token": qr.poll_token.expose(),
            "expires_in": qr.expires_in.as_secs(),
            "poll_hold": app.config.login.poll_hold.as_secs(),
            "qr_svg": format!("/api/qr/{}/qr.svg", qr.id),
            "qr_png": format!("/api/qr/{}/qr.png", qr.id),
        })),
    ))
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    wait: Option<String>,
    since: Option<String>,
}

impl StatusQuery {
    fn parse(&self, max_wait: Duration) -> Result<(Duration, PublicState), Error> {
        let wait = match self.wait.as_deref() {
            None => max_wait,
            Some(text) => text
                .parse::<u64>()
                .map(|secs| Duration::from_secs(secs).min(max_wait))
                .map_err(|_| {
                    Error::bad_request("invalid_request", "wait must be a whole number of seconds")
                })?,
        };
        let since = match self.since.as_deref() {
            None => PublicState::Pending,
            Some(text) => PublicState::parse(text).ok_or_else(|| {
                Error::bad_request(
                    "invalid_request",
                    "since must be one of pending, scanned, confirmed, cancelled, expired, redeemed",
                )
            })?,
        };
        Ok((wait, since))
    }
}

pub async fn status<S: SessionStore>(
    State(app): State<App<S>>,
    QrIdPath(id): QrIdPath,
    BearerToken(token): BearerToken,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Error> {
    let Query(query) = query.map_err(|e| Error::bad_request("invalid_request", e.body_text()))?;
    let (wait, since) = query.parse(app.config.login.poll_hold)?;
    let token = token.ok_or(Error::PollUnauthorized)?;
    let answer = app.poll(&id, &token, since, wait).await?;
    Ok(Json(poll_body(&answer)))
}

/// WeChat's code in the body of an HTTP 200: a long poll must never answer
/// HTTP 408, which Chromium silently re-sends on a reused connection.
fn poll_body(answer: &PollAnswer) -> Value {
    let mut body = json!({ "code": answer.state.wechat_code(), "state": answer.state.as_str() });
    if let Some(user) = &answer.user {
        body["user"] = json!({ "name": user.name, "avatar": user.avatar });
    }
    if let Some(ticket) = &answer.ticket {
        body["ticket"] = json!(ticket.expose());
        body["redirect"] = json!(format!("/api/login/complete?ticket={}", ticket.expose()));
    }
    body
}

pub async fn cancel<S: SessionStore>(
    State(app): State<App<S>>,
    QrIdPath(id): QrIdPath,
    BearerToken(token): BearerToken,
) -> Result<StatusCode, Error> {
    let token = token.ok_or(Error::PollUnauthorized)?;
    app.cancel_by_browser(&id, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeBody {
    ticket: String,
}

pub async fn exchange<S: SessionStore>(
    State(app): State<App<S>>,
    BearerToken(token): BearerToken,
    jar: CookieJar,
    ApiJson(body): ApiJson<ExchangeBody>,
) -> Result<impl IntoResponse, Error> {
    let token = token.ok_or(Error::PollUnauthorized)?;
    let login = app
        .redeem_ticket(&body.ticket, Proof::PollToken(&token))
        .await?;
    let jar = jar.add(session_cookie(&app, &login.cookie));
    Ok((jar, Json(json!({ "user": login.account.user }))))
}

#[derive(Debug, Deserialize)]
pub struct CompleteQuery {
    ticket: Option<String>,
    next: Option<String>,
}

/// The exchange for a page navigation: sets the cookie and 303s to `next`.
pub async fn complete<S: SessionStore>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    jar: CookieJar,
    query: Result<Query<CompleteQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Error> {
    let Query(query) = query.map_err(|e| Error::bad_request("invalid_request", e.body_text()))?;
    let ticket = query.ticket.unwrap_or_default();
    let browser = jar.get(BIND_COOKIE).map(|c| Secret::from_client(c.value()));
    match app
        .redeem_ticket(&ticket, Proof::BrowserCookie(browser.as_ref()))
        .await
    {
        Ok(login) => {
            let jar = jar.add(session_cookie(&app, &login.cookie));
            let next = safe_next(query.next.as_deref());
            Ok((jar, Redirect::to(next)).into_response())
        }
        // A person following a link gets the login page with a message, not JSON.
        Err(Error::InvalidTicket) if accepts_html(&headers) => {
            Ok(Redirect::to("/?login_error=invalid_ticket").into_response())
        }
        Err(e) => Err(e),
    }
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// `next` if it is a same-origin relative path, else `/`: no open redirect.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                // Browsers drop tabs and newlines from URLs, turning "/\t/x" into "//x".
                && path.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            path
        }
        _ => "/",
    }
}

pub async fn me<S: SessionStore>(
    State(app): State<App<S>>,
    jar: CookieJar,
) -> Result<Json<Value>, Error> {
    let cookie = jar
        .get(SESSION_COOKIE)
        .map(|c| Secret::from_client(c.value()));
    let AccountSession {
        user, expires_at, ..
    } = app.current_login(cookie.as_ref()).await?;
    Ok(Json(
        json!({ "user": user, "expires_at": expires_at.as_secs() }),
    ))
}

pub async fn logout<S: SessionStore>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<impl IntoResponse, Error> {
    // SameSite=Lax still sends the cookie with a cross-site top-level form
    // POST; refuse those so other sites cannot log users out.
    if !same_origin(&headers, &app.config.server.public_url.origin()) {
        return Err(Error::CrossSite);
    }
    let cookie = jar
        .get(SESSION_COOKIE)
        .map(|c| Secret::from_client(c.value()));
    app.logout(cookie.as_ref()).await?;
    let removal = Cookie::build(SESSION_COOKIE).path("/").build();
    Ok((jar.remove(removal), StatusCode::NO_CONTENT))
}

/// False when the browser says the request came from another site.
/// Clients that send neither header (curl, apps) are not browsers' victims.
fn same_origin(headers: &HeaderMap, public: &url::Origin) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => url::Url::parse(origin).is_ok_and(|u| u.origin() == *public),
        None => true,
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate_utf8(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn session_cookie<S>(app: &App<S>, value: &Secret) -> Cookie<'static> {
    let max_age = i64::try_from(app.config.login.session_ttl.as_secs()).unwrap_or(i64::MAX);
    Cookie::build((SESSION_COOKIE, value.expose().to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(app.config.is_https())
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn user_agents_are_cut_on_character_boundaries() {
        assert_eq!(super::truncate_utf8("abc", 2), "ab");
        assert_eq!(super::truncate_utf8("é", 1), "");
        assert_eq!(super::truncate_utf8("aé", 2), "a");
        assert_eq!(super::truncate_utf8("ok", 256), "ok");
    }

    #[test]
    fn next_must_be_a_same_origin_path() {
        for ok in ["/", "/dashboard", "/a/b?c=d#e", "/%2F%2Fevil.example"] {
            assert_eq!(safe_next(Some(ok)), ok);
        }
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "evil.example",
            "javascript:alert(1)",
            "/ä",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
