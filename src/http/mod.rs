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
pub mod metrics;
pub mod mobile;
pub mod oauth;
pub mod observe;
pub mod openapi;
pub mod pages;
pub mod qr_image;
pub mod rate_limit;
pub mod request_id;
pub mod state;

pub use error::ApiError;
pub use state::AppState;

use crate::api::{HealthBody, paths};
use crate::store::SessionStore as _;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use request_id::{RequestIdLayer, X_REQUEST_ID};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::PropagateRequestIdLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest request body accepted; every API body is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

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

    let mut router = Router::new().merge(api).merge(pages);
    // With an admin listener, /metrics lives there only (404 here).
    if app.config().metrics.enabled && app.config().server.admin_listen.is_none() {
        router = router.route(paths::METRICS, axum::routing::get(metrics::scrape));
    }
    let request_ids = RequestIdLayer::new(&app.config().server.trusted_proxies);
    let observer = app.observer();
    // Innermost of the layers below, so the request id is already set; off
    // entirely when there are neither metrics nor an audit log.
    let observe = (observer.metrics().is_some() || observer.audits())
        .then(|| axum::middleware::from_fn_with_state(app.clone(), observe::observe_request));
    let mut router = router
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(app);
    if let Some(observe) = observe {
        router = router.layer(observe);
    }
    router.layer(
        ServiceBuilder::new()
            .layer(request_ids)
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
    // their own context (`qr`, `user`) from the login operations' spans,
    // and the request id from `request_id`'s task-local.
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
        (status = 503, body = HealthBody, description = "The session store does not answer (`connecting`: not reached since start-up)"),
    ))]
async fn readyz(State(app): State<AppState>) -> Response {
    match app.login().store().check_health().await {
        Ok(()) => axum::Json(HealthBody {
            status: "ok".into(),
            store: Some("ok".into()),
        })
        .into_response(),
        Err(e) => {
            // Not reached since start-up: the store's own retries log that.
            let connecting = app.login().store().connecting();
            if connecting {
                tracing::debug!(error = %e, "not ready: still connecting to the store");
            } else {
                tracing::warn!(error = %e, "readiness check failed");
            }
            let store = if connecting {
                "connecting"
            } else {
                "unavailable"
            };
            let body = HealthBody {
                status: "unavailable".into(),
                store: Some(store.into()),
            };
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}
