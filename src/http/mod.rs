//! The HTTP surface: one router shared by the binary and the tests, and the
//! OpenAPI document generated from the same route table.

pub mod body_timeout;
pub mod browser;
pub mod client_ip;
pub mod device_page;
pub mod device_words;
pub mod error;
pub mod events;
pub mod extract;
pub mod forward_auth;
pub mod head_limit;
pub mod language;
pub mod metrics;
pub mod mobile;
pub mod oauth;
pub mod observe;
pub mod openapi;
pub mod origin;
pub mod page_render;
pub mod page_strings;
pub mod pages;
pub mod phone_page;
pub mod qr_image;
pub mod rate_limit;
pub mod request_id;
pub mod state;

pub use error::ApiError;
pub use state::{AppState, open_geoip};

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
    own_routes()
        .merge(browser_routes())
        .merge(cross_origin_routes())
}

/// The browser API: CORS for `server.allowed_origins` only ([`origin`]).
fn browser_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(browser::create_qr))
        .routes(routes!(browser::cancel))
        .routes(routes!(browser::status))
        .routes(routes!(events::events))
        .routes(routes!(qr_image::svg))
        .routes(routes!(qr_image::png))
        .routes(routes!(browser::exchange))
        .routes(routes!(browser::complete))
        .routes(routes!(browser::new_ticket))
        .routes(routes!(browser::me))
        .routes(routes!(browser::session))
        .routes(routes!(browser::logout))
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
    // An OPTIONS route on each cross-origin path, so a preflight reaches the
    // CORS layer rather than routing's 405.
    let preflight = || axum::routing::options(|| async { StatusCode::NO_CONTENT });
    let (mut browser, browser_doc) = browser_routes().split_for_parts();
    if let Some(cors) = origin::cors(app.config()) {
        // OPTIONS on each path, as below, for the preflights.
        browser = browser_doc
            .paths
            .paths
            .keys()
            .fold(browser, |r, path| r.route(path, preflight()))
            .layer(cors);
    }
    let (cross_origin, _) = cross_origin_routes().split_for_parts();
    // Only these paths (and the browser API's, when opted in) answer CORS.
    let cross_origin = oauth::CORS_PATHS
        .iter()
        .fold(cross_origin, |r, path| r.route(path, preflight()))
        .layer(oauth::cors(app.config()));
    let api = own
        .merge(browser)
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
    let pages = pages::routes(
        app.config().server.static_dir.as_deref(),
        &app.config().pages,
    )
    .merge(oauth_pages)
    .layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    ));

    let mut router = Router::new().merge(api).merge(pages);
    // With an admin listener, /metrics lives there only (404 here). Any
    // method: whatever the scrape refuses answers like an unknown path.
    if app.config().metrics.enabled && app.config().server.admin_listen.is_none() {
        router = router.route(paths::METRICS, axum::routing::any(metrics::scrape));
    }
    with_common_layers(router, app)
}

/// The unknown-path and wrong-method answers, and the layers every route
/// shares, in one `layer` call (axum boxes each route's future once per
/// call, and a held poll keeps those boxes for its whole hold).
fn with_common_layers(router: Router<AppState>, app: AppState) -> Router {
    let request_ids = RequestIdLayer::new(&app.config().server.trusted_proxies);
    // Off entirely when there are neither metrics nor an audit log.
    let observe = observe::ObserveLayer::new(&app);
    // HTTPS only: over plain http the header is ignored, and a demo on
    // http://localhost must not pin the name to https for a year. Without
    // includeSubDomains: sibling hosts may still serve plain http.
    let hsts = app.config().is_https().then(|| {
        SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        )
    });
    router
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(app)
        .layer(
            ServiceBuilder::new()
                .layer(request_ids)
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                // Pages set their own policy first; every other answer (JSON,
                // images, errors) loads nothing and is framed nowhere.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(API_CSP),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .option_layer(hsts)
                // Inside the request-id layer, so the id is set for the
                // audit lines it writes.
                .option_layer(observe)
                // Inside the observer, so a handler's panic answers a 500
                // that is counted as a refusal (`internal`) and timed like
                // any other answer. There is no second catcher outside: the
                // layers there (request id, trace, headers, the observer)
                // are thin and never panic on input, a panic in one would be
                // a bug that tokio already confines to its connection, and
                // each catcher costs every answer an allocation (its boxed
                // body) and every held poll a few bytes.
                .layer(CatchPanicLayer::custom(panic_response))
                // Inside the observer, so its refusals are counted; before
                // the handlers (and their extractors) see the request.
                .layer(head_limit::HeadLimitLayer),
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

/// The Content-Security-Policy of every answer that is not a page: JSON,
/// QR images (an SVG opened on its own runs no script), errors.
const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::config::Config;
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;
    use tower::ServiceExt as _;

    /// A handler that panics is answered 500 by the catcher inside the
    /// observer, so the answer is counted, timed and audited like any other.
    #[tokio::test]
    async fn a_panicking_handler_is_answered_counted_timed_and_audited() {
        let dir = std::env::temp_dir().join(format!(
            "qrlogin-panic-{}",
            crate::session::QrId::generate()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let audit = dir.join("audit.log");
        let key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc/rsa_a.pem");
        let config = Config::parse(&format!(
            r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:1"
[mobile_auth]
jwt_hs256_secret = "a-test-secret-that-is-long-enough-0123456789"
[oidc]
signing_keys = ["{key}"]
[audit]
path = "{}"
"#,
            audit.display()
        ))
        .unwrap();
        let listener = crate::startup::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let app = crate::Application::build_on(config, listener, Clock::manual())
            .await
            .unwrap();
        let state = app.state().clone();
        async fn boom() -> StatusCode {
            panic!("a bug in a handler")
        }
        let routes = Router::new().route("/boom", axum::routing::get(boom));
        let service = with_common_layers(routes, state.clone());
        let mut request = Request::get("/boom").body(Body::empty()).unwrap();
        let peer = SocketAddr::from(([127, 0, 0, 1], 40_000));
        request.extensions_mut().insert(ConnectInfo(peer));

        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key(X_REQUEST_ID));
        let text = state.observer().metrics().unwrap().render();
        for series in [
            "qrlogin_refusals_total{route=\"/boom\",reason=\"internal\"} 1\n",
            "qrlogin_http_request_duration_seconds_count{route=\"/boom\"} 1\n",
        ] {
            assert!(text.contains(series), "{series} in\n{text}");
        }
        state.observer().flush().await;
        let lines = std::fs::read_to_string(&audit).unwrap();
        let line: serde_json::Value = serde_json::from_str(lines.trim()).unwrap();
        assert_eq!(line["event"], "refused", "{lines}");
        assert_eq!(line["reason"], "internal", "{lines}");
        assert_eq!(line["route"], "/boom", "{lines}");
        assert!(line["request_id"].is_string(), "{lines}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
