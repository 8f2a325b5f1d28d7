//! Observing the server: the services emit one stream of typed domain
//! [`Event`]s into an [`Observer`], which fans each out to the Prometheus
//! [`Metrics`] (counters) and the [`AuditLog`] (one JSON line each).
//!
//! - [`event`]: the events and their labels.
//! - [`metrics`]: the registry, histograms and gauges, `/metrics`' text.
//! - [`audit`]: the audit log's schema and its non-blocking writer.
//! - [`refusal_budget`]: how many refusal lines it writes, per client and in all.
//! - [`context`]: the request an event happened in (IP, route).

pub mod audit;
pub mod context;
pub mod event;
pub mod metrics;
mod refusal_budget;

pub use audit::AuditLog;
pub use context::RequestContext;
pub use event::{CancelledBy, Event, Limit, QrKind, Revoked, RevokedBy, TokenGrant};
pub use metrics::{HeldSource, Metrics, StoreMetrics};

use std::sync::Arc;

/// The one sink every service emits into. A cheap-to-clone handle; the
/// default observes nothing (services built directly, as some tests do).
#[derive(Clone, Debug, Default)]
pub struct Observer(Option<Arc<Sinks>>);

#[derive(Debug)]
struct Sinks {
    metrics: Option<Metrics>,
    audit: Option<AuditLog>,
}

impl Observer {
    /// Feeds `metrics` and `audit`, either of which may be off.
    pub fn new(metrics: Option<Metrics>, audit: Option<AuditLog>) -> Self {
        if metrics.is_none() && audit.is_none() {
            return Self(None);
        }
        Self(Some(Arc::new(Sinks { metrics, audit })))
    }

    /// An observer that drops everything.
    pub fn disabled() -> Self {
        Self(None)
    }

    /// Records `event` in the current request's context (if any).
    pub fn emit(&self, event: Event<'_>) {
        let Some(sinks) = &self.0 else { return };
        if let Some(m) = &sinks.metrics {
            m.record(&event);
        }
        if let Some(audit) = &sinks.audit
            && audited(&event)
        {
            audit.write(&event, RequestContext::current().as_ref());
        }
    }

    /// Records a refused request on `route`: always counted; audited with
    /// its reason (`ctx`: the request, which the HTTP layer keeps when
    /// there is an audit log) within the audit log's refusal budgets. The
    /// HTTP layer calls it once per error answer.
    pub fn refused(
        &self,
        route: &str,
        ctx: Option<&RequestContext>,
        reason: &'static str,
        status: u16,
    ) {
        let Some(sinks) = &self.0 else { return };
        if let Some(m) = &sinks.metrics {
            m.refused(route, reason);
        }
        if let (Some(audit), Some(ctx)) = (&sinks.audit, ctx) {
            audit.refused(&Event::Refused { reason, status }, ctx);
        }
    }

    pub fn metrics(&self) -> Option<&Metrics> {
        self.0.as_ref()?.metrics.as_ref()
    }

    /// Whether events are written to an audit log (the HTTP layer then
    /// keeps each request's context for it).
    pub fn audits(&self) -> bool {
        self.0.as_ref().is_some_and(|s| s.audit.is_some())
    }

    /// Audit lines queued and not yet written.
    pub fn audit_queued(&self) -> usize {
        self.0
            .as_ref()
            .and_then(|s| s.audit.as_ref())
            .map_or(0, AuditLog::queued)
    }

    /// Waits until every audit line emitted so far is written (see
    /// [`AuditLog::flush`]: a stuck writer never answers, so bound it).
    pub async fn flush(&self) {
        if let Some(audit) = self.0.as_ref().and_then(|s| s.audit.as_ref()) {
            audit.flush().await;
        }
    }
}

/// Rate-limit rejections are only counted: the refusal that answers them
/// is what the audit log shows.
fn audited(event: &Event<'_>) -> bool {
    !matches!(event, Event::RateLimited { .. })
}
