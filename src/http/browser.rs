//! The browser's API: create a QR session, long-poll it, trade the ticket
//! for a login cookie, see who is logged in, log out.

use super::error::ApiError;
use super::extract::{ApiJson, ClientIp, OptionalJson, PollToken, QrIdPath};
use super::rate_limit::{QrCreation, Redeem, Spend};
use super::state::AppState;
use crate::api::{
    ClientBody, CompleteQuery, ErrorBody, ExchangeRequest, LoginBody, MeBody, NewQrBody,
    NewQrRequest, PollBody, ScannedBy, SessionBody, StatusQuery, TicketBody, WireSecret, paths,
};
use crate::config::Config;
use crate::forward_auth::redirect::{query_value, redirect_target};
use crate::login::{NewLogin, PollAnswer};
use crate::oidc::AuthorizeRefusal;
use crate::secret::Secret;
use crate::session::{Proof, PublicState, RequestInfo, TransitionError};
use crate::store::AccountSession;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use std::time::Duration;

/// The browser's login cookie.
pub const SESSION_COOKIE: &str = "qrl_session";
/// Binds QR sessions to the browser that created them (see [`Proof`]),
/// over plain http; see [`bind_cookie_name`].
pub const BIND_COOKIE: &str = "qrl_bind";
/// The binding cookie's name over https.
pub const HOST_BIND_COOKIE: &str = "__Host-qrl_bind";

/// The binding cookie's name. A cookie is accepted as the client sends it,
/// and a sibling subdomain (`evil.example.com` next to
/// `login.example.com`) can set one with `Domain=example.com` that this
/// host then receives: it could plant a value it knows, then redeem the
/// victim's ticket as "the same browser". Over https the cookie is
/// `__Host-` prefixed: browsers accept such a cookie only when it is
/// `Secure`, `Path=/` and has no `Domain`, so only this host can set it and
/// a planted plain `qrl_bind` is never read. Over plain http (a demo on
/// localhost) no prefix is possible (it needs `Secure`): there the name
/// stays `qrl_bind`, and such a deployment has no cookie integrity against
/// its network or neighbours anyway. Preferred to an HMAC-signed value,
/// which needs a key shared by every instance and surviving restarts.
pub fn bind_cookie_name(config: &Config) -> &'static str {
    if config.is_https() {
        HOST_BIND_COOKIE
    } else {
        BIND_COOKIE
    }
}
/// Longest user agent kept for display on the phone, in bytes.
const MAX_USER_AGENT: usize = 256;
/// Life of the binding cookie, renewed with every new QR code.
const BIND_COOKIE_DAYS: i64 = 30;

/// Starts a QR login and binds it to this browser (`qrl_bind` cookie). With
/// `authorize`, the login answers a relying site's authorization request.
/// The `qrl_poll` cookie carries the poll token to the session's events URL.
#[utoipa::path(post, path = paths::CREATE_QR, tag = "browser",
    request_body(content = Option<NewQrRequest>, description = "Optional: no body for a login to this server"),
    responses(
        (status = 201, body = NewQrBody, description = "A new one-time QR session"),
        (status = 400, body = ErrorBody, description = "invalid_authorization, invalid_json"),
        (status = 403, body = ErrorBody, description = "foreign_origin: `Origin` is neither this server's nor in `server.allowed_origins`"),
        (status = 413, body = ErrorBody, description = "payload_too_large"),
        (status = 415, body = ErrorBody, description = "unsupported_media_type"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
        (status = 503, body = ErrorBody, description = "over_capacity, store_unavailable"),
    ))]
pub async fn create_qr(
    _: Spend<QrCreation>,
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    OptionalJson(body): OptionalJson<NewQrRequest>,
) -> Result<impl IntoResponse, ApiError> {
    super::origin::check(&headers, app.config())?;
    let (authorization, client) = match body.and_then(|b| b.authorize) {
        None => (None, None),
        Some(query) => match app.oidc().authorize(query.trim_start_matches('?')) {
            Ok((request, client)) => (
                Some(request),
                Some(ClientBody {
                    id: client.id.clone(),
                    name: client.name.clone(),
                }),
            ),
            Err(AuthorizeRefusal::Page(why)) => {
                return Err(ApiError::bad_request("invalid_authorization", why));
            }
            Err(AuthorizeRefusal::Redirect(r)) => {
                return Err(ApiError::bad_request(
                    "invalid_authorization",
                    r.description,
                ));
            }
        },
    };
    let user_agent = user_agent(&headers);
    // Several tabs of one browser share one binding cookie.
    let bind_name = bind_cookie_name(app.config());
    let browser = jar
        .get(bind_name)
        .filter(|c| c.value().len() == 43)
        .map_or_else(Secret::generate, |c| Secret::from_client(c.value()));
    let request = RequestInfo {
        ip: ip.to_string(),
        user_agent,
    };
    let qr = app
        .login()
        .create_qr(request, &browser, authorization)
        .await?;
    // `__Host-` requires `Path=/`; over http the API's path is enough.
    let bind_path = if app.config().is_https() { "/" } else { "/api" };
    let bind = Cookie::build((bind_name, browser.expose().to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path(bind_path)
        .secure(app.config().is_https())
        .max_age(cookie::time::Duration::days(BIND_COOKIE_DAYS))
        .build();
    let events = super::events::events_cookie(
        &qr.id,
        &qr.poll_token,
        qr.expires_in + app.config().login.ticket_ttl,
        app.config().is_https(),
    );
    let body = NewQrBody {
        qr_content: super::qr_image::qr_content(app.config().public_base(), &qr.id),
        poll_token: WireSecret::from(&qr.poll_token),
        expires_in: qr.expires_in.as_secs(),
        poll_hold: app.config().login.poll_hold.as_secs(),
        qr_svg: paths::with_id(paths::QR_SVG, &qr.id),
        qr_png: paths::with_id(paths::QR_PNG, &qr.id),
        id: qr.id,
        client,
        match_number: qr.match_number,
    };
    Ok((StatusCode::CREATED, jar.add(bind).add(events), Json(body)))
}

impl StatusQuery {
    fn parse(&self, max_wait: Duration) -> Result<(Duration, PublicState), ApiError> {
        let wait = match self.wait.as_deref() {
            None => max_wait,
            Some(text) => text
                .parse::<u64>()
                .map(|secs| Duration::from_secs(secs).min(max_wait))
                .map_err(|_| {
                    ApiError::bad_request(
                        "invalid_request",
                        "wait must be a whole number of seconds",
                    )
                })?,
        };
        let since = match self.since.as_deref() {
            None => PublicState::Pending,
            Some(text) => PublicState::parse(text).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_request",
                    "since must be one of pending, scanned, confirmed, cancelled, expired, redeemed",
                )
            })?,
        };
        Ok((wait, since))
    }
}

/// The long poll: answers once the state differs from `since`, or when the
/// hold ends. Always HTTP 200 with WeChat's code in the body.
#[utoipa::path(get, path = paths::QR_STATUS, tag = "browser",
    params(("id" = String, Path, description = "QR session id"), StatusQuery),
    security(("poll_token" = [])),
    responses(
        (status = 200, body = PollBody, description = "The session's state"),
        (status = 400, body = ErrorBody, description = "invalid_request"),
        (status = 401, body = ErrorBody, description = "unauthorized: missing or wrong poll token"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 429, body = ErrorBody, description = "too_many_pollers: this QR code already holds as many polls and streams at once as one session may (10); rate_limited: too many lookups of unknown ids or with wrong tokens from this address (`limits.lookup_misses_per_minute_per_ip`); both with `Retry-After`"),
        (status = 503, body = ErrorBody, description = "busy (as many connections held as `limits.max_held_connections`), store_unavailable"),
    ))]
pub async fn status(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    QrIdPath(id): QrIdPath,
    PollToken(token): PollToken,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PollBody>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
    let (wait, since) = query.parse(app.config().login.poll_hold)?;
    let answer = guard_lookup(&app, ip, app.login().poll(&id, &token, since, wait)).await?;
    Ok(Json(poll_body(answer, app.oidc().issuer())))
}

/// Runs a lookup of a QR session by id and poll token from `ip`, unless its
/// misses are spent (429); a miss (unknown id, wrong token) is spent.
/// Guessing ids or tokens is thus slow, while a page polling its own
/// session never spends anything.
pub(super) async fn guard_lookup<T>(
    app: &AppState,
    ip: std::net::IpAddr,
    lookup: impl Future<Output = Result<T, crate::login::LoginError>>,
) -> Result<T, ApiError> {
    use crate::login::LoginError as L;
    app.limits()
        .lookup_allowed(ip)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let result = lookup.await;
    if matches!(
        result,
        Err(L::NotFound | L::Refused(TransitionError::WrongPollToken))
    ) {
        app.limits().lookup_missed(ip);
    }
    Ok(result?)
}

/// WeChat's code in the body of an HTTP 200: a long poll must never answer
/// HTTP 408, which Chromium silently re-sends on a reused connection.
pub(super) fn poll_body(answer: PollAnswer, issuer: &str) -> PollBody {
    let ticket = answer.ticket.as_ref().map(WireSecret::from);
    // A site's login the phone declined goes back to the site (RFC 6749 §4.1.2.1).
    let declined = match (&answer.authorization, answer.state) {
        (Some(request), PublicState::Cancelled) => Some(request.denied().url(issuer)),
        _ => None,
    };
    PollBody {
        code: answer.state.wechat_code(),
        state: answer.state,
        user: answer.user.map(|u| ScannedBy {
            name: u.name,
            avatar: u.avatar,
        }),
        redirect: ticket
            .as_ref()
            .map(|t| paths::complete_login(t.expose()))
            .or(declined),
        ticket,
        expires_in: answer.expires_in.map(|d| d.as_secs()),
        reason: answer.cancel_reason,
    }
}

/// A fresh one-time ticket for the confirmed login: the person at the
/// computer may read the screen for longer than a ticket lives, so the page
/// asks for one when they click "Continue". The previous ticket dies.
#[utoipa::path(post, path = paths::QR_TICKET, tag = "browser",
    params(("id" = String, Path, description = "QR session id")),
    security(("poll_token" = [])),
    responses(
        (status = 200, body = TicketBody, description = "A fresh ticket"),
        (status = 401, body = ErrorBody, description = "unauthorized"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "not_confirmed, already_finished"),
        (status = 410, body = ErrorBody, description = "expired"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
        (status = 503, body = ErrorBody, description = "store_unavailable, contention"),
    ))]
pub async fn new_ticket(
    _: Spend<Redeem>,
    State(app): State<AppState>,
    QrIdPath(id): QrIdPath,
    PollToken(token): PollToken,
) -> Result<Json<TicketBody>, ApiError> {
    let (ticket, lasts) = app.login().new_ticket(&id, &token).await?;
    Ok(Json(TicketBody {
        redirect: paths::complete_login(ticket.expose()),
        ticket: WireSecret::from(&ticket),
        expires_in: lasts.as_secs(),
    }))
}

/// The page gives up on its code: pending or scanned → cancelled.
#[utoipa::path(delete, path = paths::QR, tag = "browser", operation_id = "browser_cancel",
    params(("id" = String, Path, description = "QR session id")),
    security(("poll_token" = [])),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 401, body = ErrorBody, description = "unauthorized"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "already_finished"),
        (status = 410, body = ErrorBody, description = "expired"),
        (status = 503, body = ErrorBody, description = "store_unavailable, contention"),
    ))]
pub async fn cancel(
    State(app): State<AppState>,
    QrIdPath(id): QrIdPath,
    PollToken(token): PollToken,
) -> Result<StatusCode, ApiError> {
    app.login().cancel_by_browser(&id, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Trades the one-time ticket for a login cookie (`qrl_session`).
#[utoipa::path(post, path = paths::LOGIN_EXCHANGE, tag = "browser",
    request_body = ExchangeRequest,
    security(("poll_token" = [])),
    responses(
        (status = 200, body = LoginBody, description = "Logged in; Set-Cookie: qrl_session"),
        (status = 400, body = ErrorBody, description = "invalid_ticket, invalid_json"),
        (status = 401, body = ErrorBody, description = "unauthorized: missing or wrong poll token"),
        (status = 413, body = ErrorBody, description = "payload_too_large"),
        (status = 415, body = ErrorBody, description = "unsupported_media_type"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
        (status = 503, body = ErrorBody, description = "store_unavailable, contention"),
    ))]
pub async fn exchange(
    _: Spend<Redeem>,
    State(app): State<AppState>,
    PollToken(token): PollToken,
    jar: CookieJar,
    ApiJson(body): ApiJson<ExchangeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let login = app
        .login()
        .redeem_ticket(body.ticket.expose(), Proof::PollToken(&token))
        .await?;
    let jar = jar.add(session_cookie(&app, &login.cookie));
    let redirect = site_redirect(&app, &login).await?;
    Ok((
        jar,
        Json(LoginBody {
            user: login.account.user,
            redirect,
        }),
    ))
}

/// For a login a relying site asked for: the code, and the URL that takes
/// it to the site. The ticket is spent by now; if the store fails here the
/// browser is still logged in here and the site can simply start again.
async fn site_redirect(app: &AppState, login: &NewLogin) -> Result<Option<String>, ApiError> {
    let Some(request) = &login.authorization else {
        return Ok(None);
    };
    let url = app
        .oidc()
        .issue_code(
            request,
            &login.account.user,
            login.confirmed_at,
            &login.account.browser,
        )
        .await
        .map_err(crate::login::LoginError::from)?;
    Ok(Some(url))
}

/// The exchange for a page navigation: sets the cookie and 303s to `next`.
#[utoipa::path(get, path = paths::LOGIN_COMPLETE, tag = "browser",
    params(CompleteQuery),
    responses(
        (status = 303, description = "Logged in (Set-Cookie: qrl_session): to `next`, or for a site's login to its redirect_uri with the code; or refused for a browser: to `/?login_error=invalid_ticket`"),
        (status = 400, body = ErrorBody, description = "invalid_ticket (non-browser clients), invalid_request"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
        (status = 503, body = ErrorBody, description = "store_unavailable, contention"),
    ))]
pub async fn complete(
    _: Spend<Redeem>,
    State(app): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    query: Result<Query<CompleteQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(mut query) =
        query.map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
    let ticket = query.ticket.take().map(|t| t.0).unwrap_or_default();
    let browser = jar
        .get(bind_cookie_name(app.config()))
        .map(|c| Secret::from_client(c.value()));
    match app
        .login()
        .redeem_ticket(&ticket, Proof::BrowserCookie(browser.as_ref()))
        .await
    {
        Ok(login) => {
            let jar = jar.add(session_cookie(&app, &login.cookie));
            let next = match site_redirect(&app, &login).await? {
                Some(site) => site,
                None => next_target(&query, app.config()).unwrap_or_else(|| "/".to_owned()),
            };
            Ok((jar, Redirect::to(&next)).into_response())
        }
        // A person following a link gets the login page with a message, not
        // JSON, still carrying where they were going.
        Err(e) if is_ticket_refusal(&e) && accepts_html(&headers) => {
            let page = match next_target(&query, app.config()) {
                Some(next) if next != "/" => {
                    format!("/?login_error=invalid_ticket&rd={}", query_value(&next))
                }
                _ => "/?login_error=invalid_ticket".to_owned(),
            };
            Ok(Redirect::to(&page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

fn is_ticket_refusal(e: &crate::login::LoginError) -> bool {
    matches!(
        e,
        crate::login::LoginError::Refused(TransitionError::InvalidTicket(_))
    )
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// `next`, if it is somewhere a browser may be sent ([`redirect_target`]:
/// no open redirect).
fn next_target(query: &CompleteQuery, config: &Config) -> Option<String> {
    redirect_target(query.next.as_deref()?, config)
}

/// Who is logged in in this browser.
#[utoipa::path(get, path = paths::ME, tag = "browser",
    responses(
        (status = 200, body = MeBody, description = "The logged-in user"),
        (status = 401, body = ErrorBody, description = "unauthorized: not logged in"),
        (status = 503, body = ErrorBody, description = "store_unavailable"),
    ))]
pub async fn me(State(app): State<AppState>, jar: CookieJar) -> Result<Json<MeBody>, ApiError> {
    let cookie = jar
        .get(SESSION_COOKIE)
        .map(|c| Secret::from_client(c.value()));
    let AccountSession {
        user, expires_at, ..
    } = app.login().current_login(cookie.as_ref()).await?;
    Ok(Json(MeBody {
        user,
        expires_at: expires_at.as_secs(),
    }))
}

/// Who is logged in in this browser, if anyone: like `/api/me`, but nobody
/// is an answer (`{"user": null}`), not an error, so the login page can ask
/// on every load without an error in the browser's console.
#[utoipa::path(get, path = paths::SESSION, tag = "browser",
    responses(
        (status = 200, body = SessionBody, description = "The logged-in user, or `user: null`"),
        (status = 503, body = ErrorBody, description = "store_unavailable"),
    ))]
pub async fn session(
    State(app): State<AppState>,
    jar: CookieJar,
) -> Result<Json<SessionBody>, ApiError> {
    let cookie = jar
        .get(SESSION_COOKIE)
        .map(|c| Secret::from_client(c.value()));
    match app.login().current_login(cookie.as_ref()).await {
        Ok(AccountSession {
            user, expires_at, ..
        }) => Ok(Json(SessionBody {
            user: Some(user),
            expires_at: Some(expires_at.as_secs()),
        })),
        Err(crate::login::LoginError::NotLoggedIn) => Ok(Json(SessionBody {
            user: None,
            expires_at: None,
        })),
        Err(e) => Err(e.into()),
    }
}

/// Ends this browser's login, server-side.
#[utoipa::path(post, path = paths::LOGOUT, tag = "browser",
    responses(
        (status = 204, description = "Logged out (cookie cleared)"),
        (status = 403, body = ErrorBody, description = "cross_site"),
        (status = 503, body = ErrorBody, description = "store_unavailable"),
    ))]
pub async fn logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    // SameSite=Lax still sends the cookie with a cross-site top-level form
    // POST; refuse those so other sites cannot log users out.
    if !same_origin(&headers, &app.config().server.public_url.origin()) {
        return Err(ApiError::CrossSite);
    }
    let cookie = jar
        .get(SESSION_COOKIE)
        .map(|c| Secret::from_client(c.value()));
    app.login().logout(cookie.as_ref()).await?;
    Ok((
        session_cookie_removals(app.config()),
        StatusCode::NO_CONTENT,
    ))
}

/// False when the browser says the request came from another site.
///
/// Asked in the order browsers answer: `Sec-Fetch-Site` (every current
/// browser), else `Origin`, else `Referer` (older browsers send only a
/// `Referer` with a form POST; an `Origin` or `Referer` of `null` or not a
/// URL is refused). Clients that send none of them (curl, apps) are not
/// browsers' victims and pass.
pub(super) fn same_origin(headers: &HeaderMap, public: &url::Origin) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    let same = |value: &HeaderValue| {
        value
            .to_str()
            .ok()
            .and_then(|v| url::Url::parse(v).ok())
            .is_some_and(|u| u.origin() == *public)
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        return same(origin);
    }
    headers.get(header::REFERER).is_none_or(same)
}

/// The request's user agent as the phone is shown it: cut to
/// [`MAX_USER_AGENT`] bytes, invalid UTF-8 replaced.
pub(super) fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .map(|v| truncate_utf8(&String::from_utf8_lossy(v.as_bytes()), MAX_USER_AGENT))
        .unwrap_or_default()
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate_utf8(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The login cookie. With `server.cookie_domain` it carries `Domain=`, so
/// browsers send it to every host under that domain (the apps nginx
/// protects); otherwise it is host-only. `SameSite=Lax` still holds between
/// those hosts: they are one site.
fn session_cookie(app: &AppState, value: &Secret) -> Cookie<'static> {
    let config = app.config();
    let max_age = i64::try_from(config.login.session_ttl.as_secs()).unwrap_or(i64::MAX);
    let mut cookie = Cookie::build((SESSION_COOKIE, value.expose().to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(config.is_https())
        .max_age(cookie::time::Duration::seconds(max_age));
    if let Some(domain) = &config.server.cookie_domain {
        cookie = cookie.domain(domain.as_str().to_owned());
    }
    cookie.build()
}

/// The `Set-Cookie` headers that end the login cookie in this browser. A
/// removal must name the cookie's `Domain` or browsers keep the cookie; with
/// `server.cookie_domain` the host-only cookie of a login from before it was
/// set is removed too (browsers keep both, and would send the old one on).
pub(super) fn session_cookie_removals(
    config: &Config,
) -> AppendHeaders<Vec<(HeaderName, HeaderValue)>> {
    let removal = |domain: Option<&str>| {
        let mut cookie = Cookie::build((SESSION_COOKIE, "")).path("/");
        if let Some(domain) = domain {
            cookie = cookie.domain(domain.to_owned());
        }
        let mut cookie = cookie.build();
        cookie.make_removal();
        HeaderValue::from_str(&cookie.to_string()).ok()
    };
    let mut domains = vec![None];
    if let Some(domain) = &config.server.cookie_domain {
        domains.push(Some(domain.as_str()));
    }
    AppendHeaders(
        domains
            .into_iter()
            .filter_map(removal)
            .map(|value| (header::SET_COOKIE, value))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_agents_are_cut_on_character_boundaries() {
        assert_eq!(super::truncate_utf8("abc", 2), "ab");
        assert_eq!(super::truncate_utf8("é", 1), "");
        assert_eq!(super::truncate_utf8("aé", 2), "a");
        assert_eq!(super::truncate_utf8("ok", 256), "ok");
    }
}
