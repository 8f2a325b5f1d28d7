//! Request extractors whose every rejection is a JSON [`ApiError`].

use super::client_ip::client_ip;
use super::error::ApiError;
use super::state::AppState;
use crate::secret::Secret;
use crate::session::{QrId, TransitionError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum_extra::headers::authorization::Bearer;
use axum_extra::headers::{Authorization, HeaderMapExt};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// `axum::Json`, with rejections answered in the API's error format, for
/// bodies that are JSON objects: serde's derived structs also take an array
/// of their fields in order (`["…"]` for `{"qr": "…"}`), which the document
/// does not allow and no client means, so that form is refused.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(ObjectOnly(body)) = axum::Json::from_request(req, state).await?;
        Ok(Self(body))
    }
}

/// `T`, deserialised only from a JSON object (see [`ApiJson`]).
struct ObjectOnly<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Object<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Object(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if super::body_timeout::is_body_timeout(&rejection) {
            return ApiError::BodyTimeout;
        }
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            _ => ApiError::bad_request("invalid_json", rejection.body_text()),
        }
    }
}

/// An optional JSON body: none at all is `None`; anything else must be
/// JSON (with its content type), refused like [`ApiJson`] otherwise.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        // The body itself knows (a Content-Length of 0, or none and not
        // chunked); headers alone would misjudge other framings.
        if axum::body::HttpBody::is_end_stream(req.body()) {
            return Ok(Self(None));
        }
        // A JSON `null` is no body too: the document declares the body
        // nullable, and a client serialising "nothing" may well send it.
        let axum::Json(body) =
            axum::Json::<Option<ObjectOnly<T>>>::from_request(req, state).await?;
        Ok(Self(body.map(|ObjectOnly(body)| body)))
    }
}

/// The bearer token of the `Authorization` header, if there is a well-formed one.
#[derive(Debug)]
pub struct BearerToken(pub Option<Secret>);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self(
            parts
                .headers
                .typed_get::<Authorization<Bearer>>()
                .map(|auth| Secret::from_client(auth.token())),
        ))
    }
}

/// The poll token a QR session's page sends as its bearer token; without
/// one the request is refused like a wrong one (401).
#[derive(Debug)]
pub struct PollToken(pub Secret);

impl<S: Send + Sync> FromRequestParts<S> for PollToken {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let BearerToken(token) = BearerToken::from_request_parts(parts, state).await?;
        token
            .map(Self)
            .ok_or(ApiError::from(TransitionError::WrongPollToken))
    }
}

/// The `{id}` path segment as a QR id; malformed ids are simply unknown (404).
#[derive(Debug)]
pub struct QrIdPath(pub QrId);

impl<S: Send + Sync> FromRequestParts<S> for QrIdPath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let not_found = || ApiError::Login(crate::login::LoginError::NotFound);
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        QrId::parse(&raw).map(Self).ok_or_else(not_found)
    }
}

/// The client's IP address, honouring `server.trusted_proxies`.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(Self(client_ip(
            peer,
            &parts.headers,
            &app.config().server.trusted_proxies,
        )))
    }
}
