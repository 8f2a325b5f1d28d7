//! The request an event happens in: the HTTP layer sets it once per
//! request (client IP, matched route) for the request's task when there is
//! an audit log, and the audit log reads it when a service deep below emits
//! an event, so no domain signature has to carry it. The request id comes
//! from the log lines' own task-local ([`crate::telemetry`]), set by the
//! request-id layer around this one.

use axum::extract::MatchedPath;
use std::future::Future;
use std::net::IpAddr;
use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// What the audit log says about the request behind an event. Small and
/// allocation-free (a held long poll keeps one for its whole hold).
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The client's address, through trusted proxies (`http::client_ip`).
    pub ip: IpAddr,
    /// The matched route template (never the raw path, which may carry a ticket).
    pub route: Option<MatchedPath>,
}

impl RequestContext {
    pub fn route(&self) -> Option<&str> {
        self.route.as_ref().map(MatchedPath::as_str)
    }

    /// Runs `f` with this as the current request context; the context is
    /// taken back from the returned future with
    /// [`TaskLocalFuture::take_value`] once it is done.
    pub fn scope<F: Future>(self, f: F) -> TaskLocalFuture<Self, F> {
        CURRENT.scope(self, f)
    }

    /// The context of the request running on this task, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }
}
