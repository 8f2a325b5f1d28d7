//! The request an event happens in: the HTTP layer sets it once per
//! request (client IP, matched route, request id) for the request's task,
//! and the audit log reads it when a service deep below emits an event, so
//! no domain signature has to carry it.

use axum::extract::MatchedPath;
use axum::http::HeaderValue;
use std::future::Future;
use std::net::IpAddr;

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// What the audit log says about the request behind an event.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The client's address, through trusted proxies (`http::client_ip`).
    pub ip: IpAddr,
    /// The matched route template (never the raw path, which may carry a ticket).
    pub route: Option<MatchedPath>,
    /// The request's `X-Request-Id`, as the request-id layer left it.
    pub request_id: Option<HeaderValue>,
}

impl RequestContext {
    pub fn route(&self) -> Option<&str> {
        self.route.as_ref().map(MatchedPath::as_str)
    }

    /// The request id the audit line carries: the one place it is read. It
    /// is the `X-Request-Id` the request-id layer set (or kept) before this
    /// context was taken, the same id the request's log span and response
    /// header carry.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_ref().and_then(|v| v.to_str().ok())
    }

    /// Runs `f` with this as the current request context.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        CURRENT.scope(self, f).await
    }

    /// The context of the request running on this task, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }
}
