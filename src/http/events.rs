//! The browser's push channel: `GET /api/qr/{id}/events`, the session's
//! state changes as Server-Sent Events, each the long poll's answer.
//!
//! `EventSource` cannot set headers, and a token in a URL ends up in logs
//! and histories, so the poll token also comes as a cookie `POST /api/qr`
//! sets, scoped by its `Path` to this one URL.

use super::browser::poll_body;
use super::error::ApiError;
use super::extract::ClientIp;
use super::extract::{BearerToken, QrIdPath};
use super::state::AppState;
use crate::api::{ErrorBody, paths};
use crate::login::Change;
use crate::secret::Secret;
use crate::session::{QrId, TransitionError};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use futures_util::StreamExt as _;
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::{ContentBuilder, ObjectBuilder, RefOr, ResponseBuilder, Type};

/// The cookie holding a QR session's poll token, sent only to its events URL.
pub const EVENTS_COOKIE: &str = "qrl_poll";
/// A comment line this often keeps proxies and browsers from timing out an
/// idle stream (and tells the browser the connection is alive).
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Asks nginx not to buffer the stream, whatever `proxy_buffering` says.
const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// The state changes of a QR session as they happen (Server-Sent Events):
/// the current state first, then every change; `id:` is the session's
/// version, `data:` the long poll's answer. The stream ends after a settled
/// state (confirmed, cancelled, expired, redeemed), and at shutdown (the
/// browser reconnects, with `Last-Event-ID`, to another instance).
#[utoipa::path(get, path = paths::QR_EVENTS, tag = "browser",
    params(
        ("id" = String, Path, description = "QR session id"),
        ("Last-Event-ID" = Option<u64>, Header,
            description = "The id of the last event received: the stream resumes after it"),
    ),
    security(("poll_token" = []), ("poll_cookie" = [])),
    responses(
        EventStream,
        (status = 204, description = "The session's last event (the `Last-Event-ID`) was already received: nothing will follow, and `EventSource` stops reconnecting"),
        (status = 400, body = ErrorBody, description = "invalid_request: a `Last-Event-ID` this stream never sent (not a number, or past the session's current event)"),
        (status = 401, body = ErrorBody, description = "unauthorized: missing or wrong poll token"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 429, body = ErrorBody, description = "too_many_pollers: this QR code already holds as many polls and streams at once as one session may (10); rate_limited: too many lookups of unknown ids or with wrong tokens from this address; both with `Retry-After`"),
        (status = 503, body = ErrorBody, description = "busy (as many connections held as `limits.max_held_connections`), store_unavailable"),
    ))]
pub async fn events(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    QrIdPath(id): QrIdPath,
    BearerToken(bearer): BearerToken,
    jar: CookieJar,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Never from the query string: a token there would be in access logs.
    let token = bearer
        .or_else(|| {
            jar.get(EVENTS_COOKIE)
                .map(|c| Secret::from_client(c.value()))
        })
        .ok_or(TransitionError::WrongPollToken)?;
    let last_seen = last_event_id(&headers)?;
    let watch = app.login().watch(&id, &token, last_seen);
    let Some(changes) = super::browser::guard_lookup(&app, ip, watch).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let events = changes.map(move |Change { id, answer }| {
        Event::default()
            .id(id.to_string())
            .json_data(poll_body(answer, app.oidc().issuer()))
    });
    let stream = Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT));
    Ok((
        [
            (X_ACCEL_BUFFERING, HeaderValue::from_static("no")),
            // Replaces `Sse`'s `no-cache`: the confirmed event carries the
            // ticket, which no cache may keep (as for every API answer).
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        stream,
    )
        .into_response())
}

/// The `Last-Event-ID` a reconnecting `EventSource` sends: an id this
/// stream gave out, i.e. a version number (whether the session has reached
/// it is the login service's to check).
pub fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                "Last-Event-ID must be the id of an event this stream sent",
            )
        })
}

/// The cookie that lets the page's `EventSource` (which cannot send an
/// `Authorization` header) present the poll token of QR session `id` —
/// to that session's events URL only, so tabs with different codes never
/// collide and no other request carries it. It lives as long as the
/// session can still change: the code's life plus the ticket window.
pub(super) fn events_cookie(
    id: &QrId,
    poll_token: &Secret,
    lifetime: Duration,
    secure: bool,
) -> Cookie<'static> {
    let max_age = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    Cookie::build((EVENTS_COOKIE, poll_token.expose().to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path(paths::with_id(paths::QR_EVENTS, id))
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
}

/// The documented 200 answer: an event stream. OpenAPI 3.1 cannot describe
/// the items of a stream; `x-itemSchema` does it as 3.2's `itemSchema`
/// will (the contract tests validate every event against it).
#[derive(Debug)]
pub struct EventStream;

impl utoipa::IntoResponses for EventStream {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let item = serde_json::json!({
            "type": "object",
            "required": ["id", "data"],
            "properties": {
                "id": {
                    "type": "string",
                    "pattern": "^[0-9]+$",
                    "description": "The session's version; an expiry, which no write \
                                    records, takes the next one",
                },
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"$ref": "#/components/schemas/PollBody"},
                },
            },
        });
        let content = ContentBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .extensions(Some(
                ExtensionsBuilder::new().add("x-itemSchema", item).build(),
            ))
            .build();
        let response = ResponseBuilder::new()
            .description(
                "Server-Sent Events: one event per state change, `id:` the session's version, \
                 `data:` a PollBody; a comment line every 15 s as a heartbeat",
            )
            .content("text/event-stream", content)
            .build();
        BTreeMap::from([("200".to_owned(), RefOr::T(response))])
    }
}
