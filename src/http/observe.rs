//! Observing every request from one place: its latency per matched route
//! (the metrics), the context the audit log names for events a service
//! emits while serving it (client IP, route), and its refusal, if the
//! answer carries one ([`Refusal`], set by `ApiError`, the OAuth errors and
//! the refusing pages).
//!
//! A held long poll keeps this layer's future for its whole hold, so it is
//! a plain wrapper around the inner future (not boxed), holds no more than
//! it needs, and allocates nothing: the request context exists only when
//! there is an audit log to name it in, and is taken back from the
//! task-local at the end rather than cloned.

use super::client_ip::client_ip;
use super::error::Refusal;
use super::state::AppState;
use crate::observe::{Observer, RequestContext};
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::Response;
use ipnet::IpNet;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

/// The layer, applied to every route inside the request-id layer (so the
/// request id is set when a line is written).
///
/// One `Arc` for all it holds: axum clones a route's service for every
/// request, and each reference count both cores touch on every request
/// costs the short poll measurably (BENCHMARKS.md, metrics cost).
#[derive(Clone, Debug)]
pub struct ObserveLayer(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    observer: Observer,
    trusted: Box<[IpNet]>,
}

impl ObserveLayer {
    /// The layer for `app`; `None` when there is nothing to observe (neither
    /// metrics nor an audit log).
    pub fn new(app: &AppState) -> Option<Self> {
        let observer = app.observer();
        (observer.metrics().is_some() || observer.audits()).then(|| {
            Self(Arc::new(Shared {
                observer: observer.clone(),
                trusted: app.config().server.trusted_proxies.as_slice().into(),
            }))
        })
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ObserveLayer`] wraps each route in.
#[derive(Clone, Debug)]
pub struct Observe<S> {
    inner: S,
    layer: ObserveLayer,
}

impl<S, B> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response<B>, Error = Infallible>,
{
    type Response = Response<B>;
    type Error = Infallible;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let observer = &self.layer.0.observer;
        let started = observer.metrics().is_some().then(Instant::now);
        let route = request.extensions().get::<MatchedPath>().cloned();
        let handling = if observer.audits() {
            let ctx = RequestContext {
                ip: self.client_ip(&request),
                route,
            };
            Handling::Audited {
                future: ctx.scope(self.inner.call(request)),
            }
        } else {
            Handling::Counted {
                future: self.inner.call(request),
                route,
            }
        };
        ObserveFuture {
            handling,
            observer: observer.clone(),
            started,
        }
    }
}

impl<S> Observe<S> {
    /// The client's address, as the audit log names it.
    fn client_ip(&self, request: &Request) -> IpAddr {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        client_ip(peer, request.headers(), &self.layer.0.trusted)
    }
}

pin_project_lite::pin_project! {
    /// The route's future, and what is needed to report its answer.
    pub struct ObserveFuture<F> {
        #[pin]
        handling: Handling<F>,
        observer: Observer,
        // Only with metrics (the request latency).
        started: Option<Instant>,
    }
}

pin_project_lite::pin_project! {
    #[project = HandlingProj]
    enum Handling<F> {
        // Metrics only: the route is all there is to know.
        Counted {
            #[pin]
            future: F,
            route: Option<MatchedPath>,
        },
        // With an audit log: the request's context is current while it is
        // handled (the route is in it).
        Audited {
            #[pin]
            future: TaskLocalFuture<RequestContext, F>,
        },
    }
}

impl<F, B> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response<B>, Infallible>>,
{
    type Output = Result<Response<B>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (answered, ctx, counted_route) = match this.handling.project() {
            HandlingProj::Counted { future, route } => {
                let answered = ready!(future.poll(cx));
                (answered, None, route.take())
            }
            HandlingProj::Audited { mut future } => {
                let answered = ready!(future.as_mut().poll(cx));
                (answered, future.take_value(), None)
            }
        };
        let Ok(response) = answered;
        let route = match &ctx {
            Some(ctx) => ctx.route(),
            None => counted_route.as_ref().map(MatchedPath::as_str),
        };
        // Unmatched paths (scanners) are timed but neither counted as
        // refusals nor audited: only the routes the server serves are.
        if let (Some(Refusal(reason)), Some(route)) =
            (response.extensions().get::<Refusal>(), route)
        {
            let status = response.status().as_u16();
            this.observer.refused(route, ctx.as_ref(), reason, status);
        }
        if let (Some(m), Some(started)) = (this.observer.metrics(), this.started) {
            m.request_done(route.unwrap_or("unmatched"), started.elapsed());
        }
        Poll::Ready(Ok(response))
    }
}
