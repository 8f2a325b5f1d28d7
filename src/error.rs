//! The one error type of the HTTP layer. Domain errors convert into it with
//! `From`; it answers `{"error": "<snake_case>", "message": "<text>"}` with a
//! fitting status. Internal detail goes to the log, never to the client.

use crate::auth::AuthError;
use crate::session::TransitionError;
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("missing or wrong poll token")]
    PollUnauthorized,
    #[error("{0}")]
    MobileUnauthorized(AuthError),
    #[error("not logged in")]
    NotLoggedIn,
    #[error("no such QR code")]
    NotFound,
    #[error("no such page or endpoint")]
    RouteNotFound,
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    #[error("the ticket is invalid, expired, already used, or belongs to another browser")]
    InvalidTicket,
    #[error("cross-site request refused")]
    CrossSite,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("too many requests; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    #[error("the session store is unavailable; try again shortly")]
    StoreUnavailable(String),
    #[error("the server is at capacity; try again shortly")]
    OverCapacity,
    #[error("the server is busy with this session; try again")]
    Contention,
    #[error("internal error")]
    Internal(String),
}

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        use TransitionError as T;
        match self {
            Self::BadRequest { .. } | Self::InvalidTicket => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PollUnauthorized | Self::MobileUnauthorized(_) | Self::NotLoggedIn => {
                StatusCode::UNAUTHORIZED
            }
            Self::NotFound | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::CrossSite => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Transition(t) => match t {
                T::Expired => StatusCode::GONE,
                T::WrongConfirmToken => StatusCode::FORBIDDEN,
                T::ClaimedByAnotherUser | T::AlreadyFinished | T::NotScanned => {
                    StatusCode::CONFLICT
                }
                // Ticket problems are all answered alike, see `From` below.
                T::NotConfirmed | T::WrongTicket => StatusCode::BAD_REQUEST,
            },
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::StoreUnavailable(_) | Self::OverCapacity | Self::Contention => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        use TransitionError as T;
        match self {
            Self::BadRequest { code, .. } => code,
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PollUnauthorized | Self::MobileUnauthorized(_) | Self::NotLoggedIn => {
                "unauthorized"
            }
            Self::NotFound | Self::RouteNotFound => "not_found",
            Self::CrossSite => "cross_site",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidTicket | Self::Transition(T::NotConfirmed | T::WrongTicket) => {
                "invalid_ticket"
            }
            Self::Transition(t) => match t {
                T::Expired => "expired",
                T::WrongConfirmToken => "wrong_confirm_token",
                T::ClaimedByAnotherUser => "already_claimed",
                T::AlreadyFinished => "already_finished",
                T::NotScanned => "not_scanned",
                T::NotConfirmed | T::WrongTicket => "invalid_ticket",
            },
            Self::RateLimited { .. } => "rate_limited",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::OverCapacity => "over_capacity",
            Self::Contention => "contention",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => Self::StoreUnavailable(detail),
            StoreError::Full => Self::OverCapacity,
        }
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Self::MobileUnauthorized(e)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::StoreUnavailable(detail) => tracing::warn!(%detail, "store unavailable"),
            Self::Internal(detail) => tracing::error!(%detail, "internal error"),
            _ if status.is_server_error() => tracing::warn!(error = %self, "request failed"),
            _ => tracing::debug!(error = %self, "request refused"),
        }
        let body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        let mut response = (status, axum::Json(body)).into_response();
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
            Self::StoreUnavailable(_) | Self::OverCapacity | Self::Contention => {
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

    #[test]
    fn internal_detail_is_never_sent() {
        let r = Error::StoreUnavailable("redis at 10.0.0.3:6379 refused".into()).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let r = Error::Internal("secret detail".into());
        assert_eq!(r.to_string(), "internal error");
    }

    #[test]
    fn transition_errors_map_to_the_documented_statuses() {
        use TransitionError as T;
        for (t, status, code) in [
            (T::Expired, 410, "expired"),
            (T::WrongConfirmToken, 403, "wrong_confirm_token"),
            (T::ClaimedByAnotherUser, 409, "already_claimed"),
            (T::AlreadyFinished, 409, "already_finished"),
            (T::NotScanned, 409, "not_scanned"),
            (T::NotConfirmed, 400, "invalid_ticket"),
            (T::WrongTicket, 400, "invalid_ticket"),
        ] {
            let e = Error::from(t);
            assert_eq!(e.status().as_u16(), status);
            assert_eq!(e.code(), code);
        }
    }
}
