//! Which web origins may use the browser API.
//!
//! A phishing page can proxy `POST /api/qr` (or call it from its own
//! script) to get a real login code and show it to a victim, who would then
//! log the attacker in (QRLjacking). Browsers say where a request comes
//! from in `Origin`: a request whose `Origin` is neither this server's
//! (`server.public_url`) nor listed in `server.allowed_origins` is refused.
//! Requests without `Origin` (curl, phone apps, a same-origin GET) pass: no
//! browser page is behind them.
//!
//! The same list opens CORS on the browser API (closed by default: no
//! `Access-Control-Allow-Origin` at all), so a page on a listed origin can
//! read the answers, cookies included.

use super::error::ApiError;
use crate::config::Config;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Refuses a request whose `Origin` is foreign (403 `foreign_origin`).
pub fn check(headers: &HeaderMap, config: &Config) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    // `null` (a sandboxed frame, a file) or garbage is nobody we know.
    let origin = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .map(|u| u.origin())
        .ok_or(ApiError::ForeignOrigin)?;
    let own = config.server.public_url.origin();
    if origin == own || config.server.allowed_origins().any(|o| o == origin) {
        Ok(())
    } else {
        Err(ApiError::ForeignOrigin)
    }
}

/// CORS for the browser API: `server.allowed_origins`, with credentials;
/// none when the list is empty.
pub fn cors(config: &Config) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = config
        .server
        .allowed_origins()
        .filter_map(|o| HeaderValue::from_str(&o.ascii_serialization()).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
