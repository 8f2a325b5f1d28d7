//! The pages: the login page at `/`, the phone page at `/l/{id}`, and the
//! static assets they load.

use crate::config::Config;
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

/// Routes serving files from `server.static_dir`.
pub fn routes<S: Clone + Send + Sync + 'static>(config: &Config) -> Router<S> {
    let dir = &config.server.static_dir;
    Router::new()
        .route_service("/", ServeFile::new(dir.join("index.html")))
        .route_service("/l/{id}", ServeFile::new(dir.join("phone.html")))
        .nest_service("/static", ServeDir::new(dir))
}
