//! The HTTP surface: one router shared by the binary and the tests, and the
//! OpenAPI document generated from the same route table.

pub mod browser;
pub mod client_ip;
pub mod device_page;
pub mod device_words;
pub mod error;
pub mod events;
pub mod extract;
pub mod forward_auth;
pub mod mobile;
pub mod oauth;
pub mod openapi;
pub mod pages;
pub mod qr_image;
pub mod rate_limit;
pub mod state;

pub use error::ApiError;
pub use state::AppState;

use crate::api::{HealthBody, paths};
use crate::store::SessionStore as _;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest request body accepted; every API body is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The API routes, each registered together with its OpenAPI description:
/// a route cannot be served without being documented.
fn api_routes() -> OpenApiRouter<AppState> {
    own_routes().merge(cross_origin_routes())
}

/// The provider's back channel that browser-based clients call from their
/// own origin ([`oauth::cors`]).
fn cross_origin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(oauth::discovery))
        .routes(routes!(oauth::oauth_metadata))
        .routes(routes!(oauth::jwks))
        .routes(routes!(oauth::token))
        .routes(routes!(oauth::userinfo, oauth::userinfo_post))
        .routes(routes!(oauth::revoke))
}

/// Every other API route: same-origin only.
fn own_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(browser::create_qr))
        .routes(routes!(browser::cancel))
        .routes(routes!(browser::status))
        .routes(routes!(events::events))
        .routes(routes!(qr_image::svg))
        .routes(routes!(qr_image::png))
        .routes(routes!(browser::exchange))
        .routes(routes!(browser::complete))
        .routes(routes!(browser::me))
        .routes(routes!(browser::logout))
        .routes(routes!(mobile::scan))
        .routes(routes!(mobile::confirm))
        .routes(routes!(mobile::cancel))
        .routes(routes!(mobile::sessions))
        .routes(routes!(mobile::end_session))
        .routes(routes!(mobile::demo_users))
        .routes(routes!(oauth::introspect))
        .routes(routes!(oauth::device_authorization))
        .routes(routes!(forward_auth::verify))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi::document))
}

/// The OpenAPI document of every API route.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api_routes().split_for_parts();
    openapi::finish(&mut doc);
    doc
}

/// The whole application router.
pub fn router(app: AppState) -> Router {
    // The document half is served by `openapi::document`, itself a route.
    let (own, _) = own_routes().split_for_parts();
    let (cross_origin, _) = cross_origin_routes().split_for_parts();
    // An OPTIONS route on each, so a preflight reaches the CORS layer rather
    // than routing's 405; only these paths answer CORS at all.
    let preflight = || axum::routing::options(|| async { StatusCode::NO_CONTENT });
    let cross_origin = oauth::CORS_PATHS
        .iter()
        .fold(cross_origin, |r, path| r.route(path, preflight()))
        .layer(oauth::cors(app.config()));
    let api = own
        .merge(cross_origin)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    // The pages of the provider's front channel (HTML, not in the API document).
    let oauth_pages = Router::new()
        .route(
            paths::AUTHORIZE,
            axum::routing::get(oauth::authorize).post(oauth::authorize_post),
        )
        .route(
            paths::END_SESSION,
            axum::routing::get(oauth::end_session).post(oauth::end_session_post),
        )
        .route(
            paths::DEVICE_PAGE,
            axum::routing::get(device_page::show).post(device_page::decide),
        );

    // The document policies matter for pages; JSON answers stay lean.
    let pages = pages::routes(app.config().server.static_dir.as_deref())
        .merge(oauth_pages)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ));

    Router::new()
        .merge(api)
        .merge(pages)
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(app)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(
                    X_REQUEST_ID,
                    SequentialRequestId::new(),
                ))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                )),
        )
}

/// Request ids `<process prefix>-<counter>`: unique across instances and
/// restarts (the prefix is random) without a syscall per request, which a
/// random UUID costs.
#[derive(Clone, Debug)]
struct SequentialRequestId {
    prefix: std::sync::Arc<str>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SequentialRequestId {
    fn new() -> Self {
        let mut raw = [0u8; 4];
        crate::secret::os_random(&mut raw);
        Self {
            prefix: format!("{:08x}", u32::from_be_bytes(raw)).into(),
            next: std::sync::Arc::default(),
        }
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// One span per request, named by the matched route (never the raw path,
/// which for `/api/login/complete` would carry a ticket in its query).
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Debug-level: an info span per request costs ~2 KB per held poll and a
    // good share of a short poll's CPU (BENCHMARKS.md). Info events carry
    // their own context (`qr`, `user`) from the login operations' spans.
    tracing::debug_span!("request", method = %request.method(), route, request_id)
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal("handler panicked".into()).into_response()
}

/// The Content-Security-Policy of the pages. `frame-ancestors 'none'`: a
/// framed login QR is the easiest way to relay it to a victim (QRLjacking).
const CSP: &str = "default-src 'self'; img-src 'self' https: data:; script-src 'self'; \
                   style-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'; object-src 'none'";

/// The process is alive.
#[utoipa::path(get, path = paths::HEALTHZ, tag = "operations",
    responses((status = 200, body = HealthBody, description = "Alive")))]
async fn healthz() -> axum::Json<HealthBody> {
    axum::Json(HealthBody {
        status: "ok".into(),
        store: None,
    })
}

/// The process can serve: its session store answers.
#[utoipa::path(get, path = paths::READYZ, tag = "operations",
    responses(
        (status = 200, body = HealthBody, description = "Ready"),
        (status = 503, body = HealthBody, description = "The session store does not answer"),
    ))]
async fn readyz(State(app): State<AppState>) -> Response {
    match app.login().store().check_health().await {
        Ok(()) => axum::Json(HealthBody {
            status: "ok".into(),
            store: Some("ok".into()),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            let body = HealthBody {
                status: "unavailable".into(),
                store: Some("unavailable".into()),
            };
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}
