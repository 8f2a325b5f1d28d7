//! The OpenAPI 3.1 document: generated from the handlers' `#[utoipa::path]`
//! annotations and the body types in `api.rs`, served at `/api/openapi.json`.

use crate::api::paths;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder, Tag};

/// The document before the routes add themselves: title, version, tags.
pub fn base() -> OpenApi {
    let tag = |name: &str, about: &str| {
        let mut t = Tag::new(name);
        t.description = Some(about.to_owned());
        t
    };
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("qrlogin")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Log in on a computer by scanning a QR code with a phone that is already \
                     logged in. Every error is `{\"error\", \"message\"}` with a 4xx/5xx status.",
                ))
                .build(),
        )
        .tags(Some([
            tag(
                "browser",
                "The login page: create a QR session, long-poll it, log in.",
            ),
            tag(
                "phone",
                "The phone app, authenticated by its own bearer token.",
            ),
            tag(
                "oauth",
                "The OpenID Connect provider's back channel, for relying sites. Errors here are \
                 OAuth's `{\"error\", \"error_description\"}` (RFC 6749 §5.2).",
            ),
            tag(
                "forward_auth",
                "For nginx's `auth_request`: may this browser's login pass? Empty bodies; \
                 the answer is the status and headers.",
            ),
            tag(
                "operations",
                "Liveness and readiness probes, and this document.",
            ),
        ]))
        .build()
}

/// Adds what the routes cannot say themselves: the security schemes they
/// name, and the refusals every operation can answer before its handler
/// runs (the head limit; a JSON body that stalls).
pub fn finish(doc: &mut OpenApi) {
    every_operation_refusals(doc);
    let components = doc.components.get_or_insert_with(Default::default);
    let bearer = |about: &str| {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(about))
                .build(),
        )
    };
    components.add_security_scheme(
        "poll_token",
        bearer("The poll token `POST /api/qr` returned to the page that created the session."),
    );
    components.add_security_scheme(
        "poll_cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            super::events::EVENTS_COOKIE,
            "The poll token as the cookie `POST /api/qr` sets for the session's events URL \
             only (`EventSource` cannot send headers).",
        ))),
    );
    components.add_security_scheme(
        "phone_token",
        bearer("The phone app's token: a JWT from your account system, or a demo token."),
    );
    components.add_security_scheme(
        "access_token",
        bearer("An access token from `POST /oauth/token`."),
    );
    components.add_security_scheme(
        "client_secret_basic",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some(
                    "A confidential client's id and secret (RFC 6749 §2.3.1); or send them \
                     as `client_id`/`client_secret` form fields; public clients send only `client_id`.",
                ))
                .build(),
        ),
    );
}

/// This OpenAPI document.
// Registered like every other API route, so the document lists itself. Built
// and serialised on first request: it does not depend on the config.
#[utoipa::path(get, path = paths::OPENAPI, tag = "operations",
    responses((status = 200, body = Object, description = "This OpenAPI 3.1 document")))]
pub async fn document() -> Response {
    static JSON: OnceLock<axum::body::Bytes> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        // Plain data with string keys: serialising it cannot fail.
        super::openapi_document()
            .to_json()
            .expect("the OpenAPI document serialises")
            .into()
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json.clone(),
    )
        .into_response()
}

/// 414 and 431 on every operation (`super::head_limit`), 408 on those that
/// read a JSON body (`super::body_timeout`), in the API's error shape.
fn every_operation_refusals(doc: &mut OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |about: &str| {
        ResponseBuilder::new()
            .description(about)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let reads_json = operation.request_body.as_ref().is_some_and(|b| match b {
                utoipa::openapi::RefOr::T(body) => body.content.contains_key("application/json"),
                utoipa::openapi::RefOr::Ref(_) => false,
            });
            let responses = &mut operation.responses.responses;
            if reads_json {
                responses.entry("408".into()).or_insert_with(|| {
                    error("body_timeout: the body stalled (connection closed)").into()
                });
            }
            responses
                .entry("414".into())
                .or_insert_with(|| error("uri_too_long").into());
            responses
                .entry("431".into())
                .or_insert_with(|| error("headers_too_large (connection closed)").into());
        }
    }
}
