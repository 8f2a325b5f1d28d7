//! OAuth 2.0 errors (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009,
//! OpenID Connect Core §3.1.2.6): the registered codes, and which of them a
//! provider operation returned. The HTTP layer maps them to statuses once.

use crate::store::StoreError;

/// A registered OAuth / OpenID Connect error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    LoginRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    /// RFC 6750: a bearer token that is missing its mark.
    InvalidToken,
    TemporarilyUnavailable,
    /// RFC 8628 §3.5: the device's login is not decided yet.
    AuthorizationPending,
    /// RFC 8628 §3.5: the device polls too fast.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired.
    ExpiredToken,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::LoginRequired => "login_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
        }
    }
}

/// Why a token, userinfo, revocation or introspection request failed.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Refused by the protocol's rules; `description` is safe to send.
    #[error("{}: {description}", code.as_str())]
    Refused {
        code: ErrorCode,
        description: &'static str,
    },
    /// The store could not be reached; the detail is for the log only.
    #[error("the token store is unavailable")]
    Unavailable(String),
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: &'static str) -> Self {
        Self::Refused { code, description }
    }

    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::Refused { code, .. } => *code,
            Self::Unavailable(_) => ErrorCode::TemporarilyUnavailable,
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Shorthands for the errors every grant returns.
pub(crate) fn invalid_grant(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, why)
}
pub(crate) fn invalid_request(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, why)
}
pub(crate) fn invalid_client(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, why)
}
