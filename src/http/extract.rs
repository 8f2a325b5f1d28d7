//! Request extractors whose every rejection is a JSON [`Error`].

use super::client_ip::client_ip;
use crate::app::App;
use crate::error::Error;
use crate::secret::Secret;
use crate::session::QrId;
use crate::store::SessionStore;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum_extra::headers::authorization::Bearer;
use axum_extra::headers::{Authorization, HeaderMapExt};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// `axum::Json`, with rejections answered in the API's error format.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::UnsupportedMediaType,
            _ => Error::bad_request("invalid_json", rejection.body_text()),
        }
    }
}

/// The bearer token of the `Authorization` header, if there is a well-formed one.
#[derive(Debug)]
pub struct BearerToken(pub Option<Secret>);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        Ok(Self(
            parts
                .headers
                .typed_get::<Authorization<Bearer>>()
                .map(|auth| Secret::from_client(auth.token())),
        ))
    }
}

/// The `{id}` path segment as a QR id; malformed ids are simply unknown (404).
#[derive(Debug)]
pub struct QrIdPath(pub QrId);

impl<S: Send + Sync> FromRequestParts<S> for QrIdPath {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::NotFound)?;
        QrId::parse(&raw).map(Self).ok_or(Error::NotFound)
    }
}

/// The client's IP address, honouring `server.trusted_proxies`.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: SessionStore> FromRequestParts<App<S>> for ClientIp {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, app: &App<S>) -> Result<Self, Error> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(Self(client_ip(
            peer,
            &parts.headers,
            &app.config.server.trusted_proxies,
        )))
    }
}
