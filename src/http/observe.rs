//! Observing every request from one place: its latency per matched route
//! (the metrics), the context the audit log names for events a service
//! emits while serving it (client IP, route, request id), and its refusal,
//! if the answer carries one ([`Refusal`], set by `ApiError`, the OAuth
//! errors and the refusing pages).

use super::client_ip::client_ip;
use super::error::Refusal;
use super::state::AppState;
use crate::observe::RequestContext;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

/// The middleware (`axum::middleware::from_fn_with_state`), applied to
/// every route inside the router's common layers (so the request id is set).
pub async fn observe_request(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let observer = app.observer();
    let metrics = observer.metrics();
    let started = metrics.map(|_| Instant::now());
    let ctx = context(&app, &request);
    let response = if observer.audits() {
        ctx.clone().scope(next.run(request)).await
    } else {
        next.run(request).await
    };
    // Unmatched paths (scanners) are timed but neither counted as refusals
    // nor audited: only the routes the server serves are.
    if let Some(Refusal(reason)) = response.extensions().get::<Refusal>()
        && ctx.route.is_some()
    {
        observer.refused(&ctx, reason, response.status().as_u16());
    }
    if let (Some(m), Some(started)) = (metrics, started) {
        m.request_done(ctx.route().unwrap_or("unmatched"), started.elapsed());
    }
    response
}

/// The request as the audit log describes it.
fn context(app: &AppState, request: &Request) -> RequestContext {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    RequestContext {
        ip: client_ip(
            peer,
            request.headers(),
            &app.config().server.trusted_proxies,
        ),
        route: request.extensions().get::<MatchedPath>().cloned(),
        request_id: request.headers().get(super::X_REQUEST_ID).cloned(),
    }
}
