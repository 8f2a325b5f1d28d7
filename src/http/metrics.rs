//! `/metrics` in the Prometheus text format, and the admin listener's
//! router. On the main listener (no `server.admin_listen`) only loopback
//! clients and `server.trusted_proxies` may scrape it, with `GET` (or
//! `HEAD`); everyone else, and every other method, gets the same 404 as any
//! unknown path, so it is not advertised.

use super::error::ApiError;
use super::extract::ClientIp;
use super::state::AppState;
use crate::api::paths;
use crate::observe::metrics::CONTENT_TYPE;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ipnet::IpNet;
use std::net::IpAddr;

/// `/metrics` on the main listener, routed for every method: a method
/// routing does not serve would answer 405 where an unknown path answers
/// 404, which would tell that the path exists.
pub async fn scrape(
    method: Method,
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Response {
    let reads = method == Method::GET || method == Method::HEAD;
    if !reads || !may_scrape(ip, &app.config().server.trusted_proxies) {
        return ApiError::RouteNotFound.into_response();
    }
    render(&app)
}

/// Loopback, or a configured proxy (a Prometheus next to nginx).
fn may_scrape(ip: IpAddr, trusted: &[IpNet]) -> bool {
    ip.is_loopback() || trusted.iter().any(|net| net.contains(&ip))
}

fn render(app: &AppState) -> Response {
    let Some(metrics) = app.observer().metrics() else {
        return ApiError::RouteNotFound.into_response();
    };
    let mut response = metrics.render().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// What `server.admin_listen` serves: the metrics to anyone who can reach
/// the listener (it is the operator's to firewall), and the health checks.
pub fn admin_router(app: AppState) -> Router {
    Router::new()
        .route(
            paths::METRICS,
            get(|State(app): State<AppState>| async move { render(&app) }),
        )
        .route(paths::HEALTHZ, get(super::healthz))
        .route(paths::READYZ, get(super::readyz))
        .fallback(|| async { ApiError::RouteNotFound })
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use super::may_scrape;

    #[test]
    fn loopback_and_trusted_proxies_may_scrape() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        for ip in ["127.0.0.1", "::1", "10.1.2.3"] {
            assert!(may_scrape(ip.parse().unwrap(), &trusted), "{ip}");
        }
        for ip in ["192.0.2.1", "2001:db8::1", "11.0.0.1"] {
            assert!(!may_scrape(ip.parse().unwrap(), &trusted), "{ip}");
        }
    }
}
