//! The one error type of the HTTP layer and the one table that maps every
//! failure to a status and a stable `error` code. Domain errors convert into
//! it with `From`; it answers `{"error": "<snake_case>", "message": "<text>"}`.
//! Internal detail goes to the log, never to the client.

use crate::api::ErrorBody;
use crate::auth::AuthError;
use crate::login::LoginError;
use crate::session::TransitionError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// A refused request's stable code, left in the response's extensions so
/// that the HTTP layer reports every refusal from one place (metrics and
/// the audit log), whatever produced the answer: an [`ApiError`], an OAuth
/// error, or a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal(pub &'static str);

impl Refusal {
    /// `response`, marked as refused with `code`.
    pub fn mark(code: &'static str, mut response: Response) -> Response {
        response.extensions_mut().insert(Self(code));
        response
    }
}

/// When a client refused for `busy` (or `too_many_pollers`) should come
/// back: a held connection frees up when its hold ends (`login.poll_hold`,
/// 25 s by default) or its stream does; retrying every second would only
/// add load.
const BUSY_RETRY_AFTER_SECS: u64 = 5;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A login operation refused or failed.
    #[error(transparent)]
    Login(#[from] LoginError),
    /// The phone's bearer token is missing or invalid.
    #[error("{0}")]
    MobileUnauthorized(#[from] AuthError),
    /// Malformed input the handler caught itself (`code` says what kind).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("no such page or endpoint")]
    RouteNotFound,
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    #[error("cross-site request refused")]
    CrossSite,
    /// `Origin` is neither this server's nor in `server.allowed_origins`:
    /// a page elsewhere (a phishing copy) asking for a real login code.
    #[error("requests from this origin are not allowed; list it in server.allowed_origins")]
    ForeignOrigin,
    #[error("the request target is too long")]
    UriTooLong,
    #[error("the request head (request line and headers) is too large")]
    HeadTooLarge,
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("too many open connections from this address")]
    TooManyConnections,
    #[error("the server is at its connection limit; retry shortly")]
    ConnectionsFull,
    #[error("too many requests; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    /// A bug or an environment failure; the detail is logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        Self::Login(LoginError::Refused(e))
    }
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The one table: every failure's status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use LoginError as L;
        use StatusCode as S;
        use TransitionError as T;
        match self {
            Self::BadRequest { code, .. } => (S::BAD_REQUEST, code),
            Self::PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType => (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Self::MobileUnauthorized(_)
            | Self::Login(L::NotLoggedIn | L::Refused(T::WrongPollToken)) => {
                (S::UNAUTHORIZED, "unauthorized")
            }
            Self::Login(L::NotFound) | Self::RouteNotFound => (S::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::CrossSite => (S::FORBIDDEN, "cross_site"),
            Self::ForeignOrigin => (S::FORBIDDEN, "foreign_origin"),
            Self::UriTooLong => (S::URI_TOO_LONG, "uri_too_long"),
            Self::HeadTooLarge => (S::REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large"),
            Self::BodyTimeout => (S::REQUEST_TIMEOUT, "body_timeout"),
            Self::TooManyConnections => (S::TOO_MANY_REQUESTS, "too_many_connections"),
            Self::ConnectionsFull => (S::SERVICE_UNAVAILABLE, "busy"),
            Self::Login(L::Refused(T::InvalidTicket(_))) => (S::BAD_REQUEST, "invalid_ticket"),
            Self::Login(L::Refused(T::Expired)) => (S::GONE, "expired"),
            Self::Login(L::Refused(T::WrongConfirmToken)) => (S::FORBIDDEN, "wrong_confirm_token"),
            Self::Login(L::Refused(T::ClaimedByAnotherUser)) => (S::CONFLICT, "already_claimed"),
            Self::Login(L::Refused(T::AlreadyFinished)) => (S::CONFLICT, "already_finished"),
            Self::Login(L::Refused(T::NotScanned)) => (S::CONFLICT, "not_scanned"),
            Self::Login(L::Refused(T::NotConfirmed)) => (S::CONFLICT, "not_confirmed"),
            Self::Login(L::Refused(T::NumberRequired)) => (S::BAD_REQUEST, "number_required"),
            Self::Login(L::WrongNumber) => (S::FORBIDDEN, "wrong_number"),
            Self::RateLimited { .. } => (S::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Login(L::StoreUnavailable(_)) => (S::SERVICE_UNAVAILABLE, "store_unavailable"),
            Self::Login(L::OverCapacity) => (S::SERVICE_UNAVAILABLE, "over_capacity"),
            Self::Login(L::Contention) => (S::SERVICE_UNAVAILABLE, "contention"),
            Self::Login(L::Busy) => (S::SERVICE_UNAVAILABLE, "busy"),
            Self::Login(L::TooManyPollers) => (S::TOO_MANY_REQUESTS, "too_many_pollers"),
            Self::Login(L::UnknownEventId) => (S::BAD_REQUEST, "invalid_request"),
            Self::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The stable `error` code clients branch on.
    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            Self::Login(LoginError::StoreUnavailable(detail)) => {
                tracing::warn!(%detail, "store unavailable");
            }
            Self::Internal(detail) => tracing::error!(%detail, "internal error"),
            _ if status.is_server_error() => tracing::warn!(error = %self, "request failed"),
            _ => tracing::debug!(error = %self, "request refused"),
        }
        let body = ErrorBody {
            error: code.to_owned(),
            message: self.to_string(),
        };
        let mut response = Refusal::mark(code, (status, axum::Json(body)).into_response());
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match &self {
            Self::MobileUnauthorized(AuthError::Missing) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"qrlogin\""),
                );
            }
            Self::MobileUnauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"qrlogin\", error=\"invalid_token\""),
                );
            }
            Self::RateLimited { retry_after } => {
                headers.insert(header::RETRY_AFTER, retry_after.as_secs().max(1).into());
            }
            Self::Login(LoginError::Busy | LoginError::TooManyPollers)
            | Self::TooManyConnections
            | Self::ConnectionsFull => {
                headers.insert(header::RETRY_AFTER, BUSY_RETRY_AFTER_SECS.into());
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::TicketProblem;

    async fn body_of(e: ApiError) -> (StatusCode, String) {
        let r = e.into_response();
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn internal_detail_is_never_sent() {
        let detail = "redis at 10.0.0.3:6379 refused";
        let (status, body) = body_of(LoginError::StoreUnavailable(detail.into()).into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("\"store_unavailable\""), "{body}");
        assert!(!body.contains("10.0.0.3"), "{body}");

        let (status, body) = body_of(ApiError::Internal("secret detail".into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("\"internal\""), "{body}");
        assert!(!body.contains("secret detail"), "{body}");
    }

    #[test]
    fn transition_errors_map_to_the_documented_statuses() {
        use TransitionError as T;
        for (t, status, code) in [
            (T::WrongPollToken, 401, "unauthorized"),
            (T::Expired, 410, "expired"),
            (T::WrongConfirmToken, 403, "wrong_confirm_token"),
            (T::ClaimedByAnotherUser, 409, "already_claimed"),
            (T::AlreadyFinished, 409, "already_finished"),
            (T::NotScanned, 409, "not_scanned"),
            (T::NotConfirmed, 409, "not_confirmed"),
            (T::NumberRequired, 400, "number_required"),
            (
                T::InvalidTicket(TicketProblem::Unknown),
                400,
                "invalid_ticket",
            ),
            (
                T::InvalidTicket(TicketProblem::Wrong),
                400,
                "invalid_ticket",
            ),
            (
                T::InvalidTicket(TicketProblem::NotConfirmed),
                400,
                "invalid_ticket",
            ),
            (
                T::InvalidTicket(TicketProblem::WindowPassed),
                400,
                "invalid_ticket",
            ),
            (
                T::InvalidTicket(TicketProblem::OtherBrowser),
                400,
                "invalid_ticket",
            ),
        ] {
            let (s, c) = ApiError::from(t).status_and_code();
            assert_eq!((s.as_u16(), c), (status, code), "{t:?}");
        }
    }

    #[test]
    fn every_ticket_problem_reads_the_same_to_the_client() {
        let texts: std::collections::HashSet<String> = [
            TicketProblem::Unknown,
            TicketProblem::Wrong,
            TicketProblem::NotConfirmed,
            TicketProblem::WindowPassed,
            TicketProblem::OtherBrowser,
        ]
        .into_iter()
        .map(|p| ApiError::from(TransitionError::InvalidTicket(p)).to_string())
        .collect();
        assert_eq!(texts.len(), 1, "{texts:?}");
    }
}
