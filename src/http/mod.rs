//! The HTTP surface: one router shared by the binary and the tests.

pub mod browser;
pub mod client_ip;
pub mod extract;
pub mod mobile;
pub mod pages;
pub mod qr_image;

use crate::app::App;
use crate::error::Error;
use crate::store::SessionStore;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Largest request body accepted; every API body is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application router.
pub fn router<S: SessionStore>(app: App<S>) -> Router {
    let api = Router::new()
        .route("/api/qr", post(browser::create_qr::<S>))
        .route("/api/qr/{id}", delete(browser::cancel::<S>))
        .route("/api/qr/{id}/status", get(browser::status::<S>))
        .route("/api/qr/{id}/qr.svg", get(qr_image::svg::<S>))
        .route("/api/qr/{id}/qr.png", get(qr_image::png::<S>))
        .route("/api/login/exchange", post(browser::exchange::<S>))
        .route("/api/login/complete", get(browser::complete::<S>))
        .route("/api/me", get(browser::me::<S>))
        .route("/api/logout", post(browser::logout::<S>))
        .route("/api/mobile/scan", post(mobile::scan::<S>))
        .route("/api/mobile/confirm", post(mobile::confirm::<S>))
        .route("/api/mobile/cancel", post(mobile::cancel::<S>))
        .route("/api/demo/users", get(mobile::demo_users::<S>))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<S>))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    // The document policies matter for pages; JSON answers stay lean.
    let pages = pages::routes(app.config.server.static_dir.as_deref())
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
        .fallback(|| async { Error::RouteNotFound })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
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
    Error::Internal("handler panicked".into()).into_response()
}

/// The Content-Security-Policy of the pages. `frame-ancestors 'none'`: a
/// framed login QR is the easiest way to relay it to a victim (QRLjacking).
const CSP: &str = "default-src 'self'; img-src 'self' https: data:; script-src 'self'; \
                   style-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'; object-src 'none'";

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

async fn readyz<S: SessionStore>(State(app): State<App<S>>) -> Response {
    match app.store.check_health().await {
        Ok(()) => axum::Json(json!({ "status": "ok", "store": "ok" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "unavailable", "store": "unavailable" })),
            )
                .into_response()
        }
    }
}
