//! Prometheus metrics: one registry per application (the tests run many
//! applications in one process, so nothing is global), counters fed by the
//! [`Event`] stream, histograms the HTTP layer, the long poll and the Redis
//! store observe directly, and gauges read from their source at each scrape.
//! Served in the Prometheus text format (0.0.4) by [`Metrics::render`].

use super::event::{CancelledBy, Event, Limit, QrKind, Revoked, RevokedBy, TokenGrant};
use crate::login::Held;
use arc_swap::ArcSwap;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The text format's `Content-Type`.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Request latency buckets (seconds): sub-millisecond API answers up to
/// long polls held for `login.poll_hold` (at most 120 s).
const REQUEST_BUCKETS: [f64; 16] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    120.0,
];
/// Store round-trip buckets (seconds), timed with a monotonic clock: a
/// Redis round trip on the same network is well under a millisecond.
const FAST_BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Wake-up buckets (seconds). A wake-up is measured from the transition's
/// time as stamped in the session (milliseconds, by whichever instance
/// made it: the only clock two instances share) to the answer, so a
/// sample is a whole number of milliseconds and buckets below one would
/// only split that rounding. A healthy wake-up lands in the first bucket
/// or two; a lost Redis message shows up near `store.redis_resync_interval`
/// (2 s).
const WAKE_UP_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Where the held gauges read their values at each scrape.
pub type HeldSource = Arc<dyn Fn() -> Held + Send + Sync>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: QrKind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CancelLabels {
    kind: QrKind,
    by: CancelledBy,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: TokenGrant,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RevokeLabels {
    what: Revoked,
    by: RevokedBy,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: Limit,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    route: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

fn histogram(buckets: &[f64]) -> Histogram {
    Histogram::new(buckets.iter().copied())
}

/// The metrics of one application. A cheap-to-clone handle.
#[derive(Clone, Debug)]
pub struct Metrics(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    registry: Registry,
    qr_created: Family<KindLabels, Counter>,
    qr_scanned: Family<KindLabels, Counter>,
    qr_confirmed: Family<KindLabels, Counter>,
    qr_cancelled: Family<CancelLabels, Counter>,
    qr_expired: Family<KindLabels, Counter>,
    qr_redeemed: Family<KindLabels, Counter>,
    logouts: Counter,
    codes_issued: Counter,
    tokens_issued: Family<GrantLabels, Counter>,
    revocations: Family<RevokeLabels, Counter>,
    rate_limited: Family<LimitLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    requests: Arc<RouteHistograms>,
    wake_up: Histogram,
    store: StoreMetrics,
    audit_dropped: Counter,
    audit_suppressed: Counter,
    audit_write_errors: Counter,
    held: Arc<HeldGauges>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered (at zero).
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("qrlogin");
        let kinds = || Family::<KindLabels, Counter>::default();
        let inner = Inner {
            qr_created: kinds(),
            qr_scanned: kinds(),
            qr_confirmed: kinds(),
            qr_cancelled: Family::default(),
            qr_expired: kinds(),
            qr_redeemed: kinds(),
            logouts: Counter::default(),
            codes_issued: Counter::default(),
            tokens_issued: Family::default(),
            revocations: Family::default(),
            rate_limited: Family::default(),
            refusals: Family::default(),
            requests: Arc::new(RouteHistograms::default()),
            wake_up: histogram(&WAKE_UP_BUCKETS),
            store: StoreMetrics::new(),
            audit_dropped: Counter::default(),
            audit_suppressed: Counter::default(),
            audit_write_errors: Counter::default(),
            held: Arc::new(HeldGauges::default()),
            registry: Registry::default(),
        };
        r.register(
            "build",
            "The running version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        for (name, help, family) in [
            ("qr_created", "QR sessions created", &inner.qr_created),
            (
                "qr_scanned",
                "QR sessions scanned (claimed) by a phone user",
                &inner.qr_scanned,
            ),
            (
                "qr_confirmed",
                "QR sessions confirmed on the phone (devices: allowed)",
                &inner.qr_confirmed,
            ),
            (
                "qr_expired",
                "QR sessions a poll saw expire (see the README: counted when a poller learns it)",
                &inner.qr_expired,
            ),
            (
                "qr_redeemed",
                "Confirmed logins taken: tickets redeemed by their browser, device codes by their device",
                &inner.qr_redeemed,
            ),
        ] {
            r.register(name, help, family.clone());
        }
        r.register(
            "qr_cancelled",
            "QR sessions cancelled, by the phone (devices: denied), by the page, or for a wrong number",
            inner.qr_cancelled.clone(),
        );
        r.register(
            "logouts",
            "Browser logins ended by logging out",
            inner.logouts.clone(),
        );
        r.register(
            "oidc_codes_issued",
            "Authorization codes issued to relying sites",
            inner.codes_issued.clone(),
        );
        r.register(
            "oidc_tokens_issued",
            "Token responses issued, by grant type",
            inner.tokens_issued.clone(),
        );
        r.register(
            "revocations",
            "Logins, grants and access tokens revoked, by what and by whom",
            inner.revocations.clone(),
        );
        r.register(
            "rate_limited",
            "Requests refused by a per-IP budget, by budget",
            inner.rate_limited.clone(),
        );
        r.register(
            "refusals",
            "Requests answered with an error, by matched route and error code",
            inner.refusals.clone(),
        );
        r.register(
            "poll_wake_up_seconds",
            "From a session's transition (or expiry) to the answer of a poll held on it",
            inner.wake_up.clone(),
        );
        r.register(
            "audit_dropped",
            "Audit events dropped because the audit writer fell behind",
            inner.audit_dropped.clone(),
        );
        r.register(
            "audit_suppressed",
            "Refusal lines left out of the audit log by its budgets \
             (audit.refusals_per_minute_per_ip, audit.refusals_per_second, half the queue); \
             summarised in refusals_suppressed lines",
            inner.audit_suppressed.clone(),
        );
        r.register(
            "audit_write_errors",
            "Audit lines that could not be written",
            inner.audit_write_errors.clone(),
        );
        inner.store.register(&mut r);
        r.register_collector(Box::new(Arc::clone(&inner.requests)));
        r.register_collector(Box::new(Arc::clone(&inner.held)));
        Self(Arc::new(Inner {
            registry: r,
            ..inner
        }))
    }

    /// Counts one event.
    pub fn record(&self, event: &Event<'_>) {
        let m = &*self.0;
        let kind = |kind: QrKind| KindLabels { kind };
        match *event {
            Event::QrCreated { kind: k, .. } => m.qr_created.get_or_create(&kind(k)).inc(),
            Event::QrScanned { kind: k, .. } => m.qr_scanned.get_or_create(&kind(k)).inc(),
            Event::QrConfirmed { kind: k, .. } => m.qr_confirmed.get_or_create(&kind(k)).inc(),
            Event::QrCancelled { kind: k, by, .. } => m
                .qr_cancelled
                .get_or_create(&CancelLabels { kind: k, by })
                .inc(),
            Event::QrExpired { kind: k, .. } => m.qr_expired.get_or_create(&kind(k)).inc(),
            Event::QrRedeemed { kind: k, .. } => m.qr_redeemed.get_or_create(&kind(k)).inc(),
            Event::LoggedOut { .. } => m.logouts.inc(),
            Event::CodeIssued { .. } => m.codes_issued.inc(),
            Event::TokensIssued { grant_type, .. } => m
                .tokens_issued
                .get_or_create(&GrantLabels { grant_type })
                .inc(),
            Event::Revoked { what, by, .. } => m
                .revocations
                .get_or_create(&RevokeLabels { what, by })
                .inc(),
            Event::RateLimited { limit } => {
                m.rate_limited.get_or_create(&LimitLabels { limit }).inc()
            }
            // Counted by `refused`, which knows the route.
            Event::Refused { .. } => 0,
        };
    }

    /// Counts a refused request on its matched route.
    pub fn refused(&self, route: &str, reason: &'static str) {
        self.0
            .refusals
            .get_or_create(&RefusalLabels {
                route: route.to_owned(),
                reason,
            })
            .inc();
    }

    /// One request on `route` (a matched route template, never a raw path)
    /// took `elapsed`.
    pub fn request_done(&self, route: &str, elapsed: Duration) {
        self.0.requests.observe(route, elapsed);
    }

    /// A held poll answered `latency` after its session's transition.
    pub fn woke_up(&self, latency: Duration) {
        self.0.wake_up.observe(latency.as_secs_f64());
    }

    /// The store's instruments (round trips, errors, resubscriptions).
    pub fn store(&self) -> &StoreMetrics {
        &self.0.store
    }

    /// Where the held-polls and held-streams gauges read their values, and
    /// the budget they share (`limits.max_held_connections`, so an alert can
    /// compare the two). The first source set wins (it is wired once, at
    /// start-up).
    pub fn held_source(&self, source: HeldSource, max: usize) {
        if self.0.held.source.set((source, max)).is_err() {
            tracing::warn!("the held-connections gauge source was set twice; keeping the first");
        }
    }

    pub(crate) fn audit_dropped(&self) {
        self.0.audit_dropped.inc();
    }

    pub(crate) fn audit_suppressed(&self) {
        self.0.audit_suppressed.inc();
    }

    pub(crate) fn audit_write_failed(&self) {
        self.0.audit_write_errors.inc();
    }

    /// Every metric, in the Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.0.registry);
        out
    }
}

/// The request-latency histograms, one per matched route template. Routes
/// are a small fixed set (the router's templates), so the map stays small;
/// it is keyed by `&str` so the hot path neither allocates nor builds a label
/// set, read through an [`ArcSwap`] so looking a route up takes no lock, and
/// hashed with foldhash rather than SipHash: the keys are the router's own
/// templates, not attacker-chosen, and SipHash was a quarter of what metrics
/// cost a short poll (BENCHMARKS.md).
/// Each histogram's counters are sharded by worker thread: every request
/// updating one shared set (or taking one lock, as prometheus-client's own
/// histogram does) bounced it between the cores and cost the short poll
/// ~3 % of its rate (BENCHMARKS.md).
type RouteMap = HashMap<Box<str>, Arc<ShardedHistogram>, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
struct RouteHistograms {
    routes: ArcSwap<RouteMap>,
}

impl RouteHistograms {
    fn observe(&self, route: &str, elapsed: Duration) {
        if let Some(h) = self.routes.load().get(route) {
            h.observe(elapsed);
            return;
        }
        // A route's first request: copy the map with it added (rare).
        self.routes.rcu(|map| {
            let mut map = RouteMap::clone(map);
            map.entry(route.into()).or_default();
            map
        });
        if let Some(h) = self.routes.load().get(route) {
            h.observe(elapsed);
        }
    }
}

impl Collector for RouteHistograms {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let map = self.routes.load();
        if map.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by matched route (long polls: their hold)",
            None,
            MetricType::Histogram,
        )?;
        let mut routes: Vec<_> = map.iter().collect();
        routes.sort_by(|a, b| a.0.cmp(b.0));
        for (route, h) in routes {
            let labels = [("route", &**route)];
            let (sum, count, buckets) = h.snapshot();
            family
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }
}

/// Shards of a [`ShardedHistogram`]: more than the worker threads of a
/// small machine, so threads rarely share one.
const SHARDS: usize = 8;

/// A latency histogram over [`REQUEST_BUCKETS`] whose counters are split
/// across [`SHARDS`] cache-line-aligned shards, each thread updating its own
/// with relaxed atomic adds; a scrape sums them.
#[derive(Debug, Default)]
struct ShardedHistogram {
    shards: [Shard; SHARDS],
}

/// One shard: per-bucket counts (not cumulative; the last is `+Inf`), the
/// count and the sum in nanoseconds. Aligned so two shards never share a
/// cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    buckets: [AtomicU64; REQUEST_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl ShardedHistogram {
    fn observe(&self, elapsed: Duration) {
        // Prometheus buckets are `le`: the first bound not below the value.
        let bucket = REQUEST_BUCKETS.partition_point(|le| *le < elapsed.as_secs_f64());
        let shard = &self.shards[this_threads_shard()];
        shard.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        shard.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Sum (seconds), count and per-bucket counts, `+Inf` last (as
    /// prometheus-client's encoder takes them: it makes them cumulative).
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> = REQUEST_BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .map(|le| (le, 0))
            .collect();
        let (mut count, mut nanos) = (0u64, 0u64);
        for shard in &self.shards {
            for (total, n) in buckets.iter_mut().zip(&shard.buckets) {
                total.1 += n.load(Ordering::Relaxed);
            }
            count += shard.count.load(Ordering::Relaxed);
            nanos = nanos.saturating_add(shard.sum_nanos.load(Ordering::Relaxed));
        }
        #[allow(
            clippy::cast_precision_loss,
            reason = "a sum of seconds, as Prometheus keeps it"
        )]
        let sum = nanos as f64 / 1e9;
        (sum, count, buckets)
    }
}

/// This thread's shard, handed out round-robin on a thread's first request.
fn this_threads_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// The held-connection gauges, read from their source at each scrape.
#[derive(Default)]
struct HeldGauges {
    source: OnceLock<(HeldSource, usize)>,
}

impl std::fmt::Debug for HeldGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldGauges")
            .field("wired", &self.source.get().is_some())
            .finish()
    }
}

impl Collector for HeldGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let (held, max) = self
            .source
            .get()
            .map(|(f, max)| (f(), *max))
            .unwrap_or_default();
        for (name, help, value) in [
            (
                "held_polls",
                "Long polls (browser status polls and device token requests) held right now",
                held.polls,
            ),
            (
                "held_streams",
                "Event streams held open right now",
                held.streams,
            ),
            (
                "held_connections_max",
                "The most long polls and event streams held at once \
                 (limits.max_held_connections); past it they are refused with 503 busy",
                max,
            ),
        ] {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        Ok(())
    }
}

/// The session store's instruments. Round trips are timed on the Redis
/// backend only: the memory store's operations are map lookups.
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    latency: Family<OpLabels, Histogram, fn() -> Histogram>,
    errors: Family<OpLabels, Counter>,
    resubscriptions: Counter,
    primary_switches: Counter,
}

impl StoreMetrics {
    fn new() -> Self {
        Self {
            latency: Family::new_with_constructor(|| histogram(&FAST_BUCKETS)),
            errors: Family::default(),
            resubscriptions: Counter::default(),
            primary_switches: Counter::default(),
        }
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "store_round_trip_seconds",
            "Redis round trips by store operation (waits for a change excluded)",
            self.latency.clone(),
        );
        r.register(
            "store_errors",
            "Store operations that failed (Redis unreachable, timed out, or answered garbage)",
            self.errors.clone(),
        );
        r.register(
            "redis_resubscriptions",
            "Times the Redis session-change subscription was re-established after being lost",
            self.resubscriptions.clone(),
        );
        r.register(
            "redis_primary_switches",
            "Times the store moved to another Redis primary named by the sentinels (failover)",
            self.primary_switches.clone(),
        );
    }

    /// One store operation `op` ended after `elapsed`; `timed`: record its
    /// latency (a round trip), not only whether it failed.
    pub fn op_done(&self, op: &'static str, elapsed: Option<Duration>, ok: bool) {
        let labels = OpLabels { op };
        if let Some(elapsed) = elapsed {
            self.latency
                .get_or_create(&labels)
                .observe(elapsed.as_secs_f64());
        }
        if !ok {
            self.errors.get_or_create(&labels).inc();
        }
    }

    /// The Redis subscription came back after being lost.
    pub fn resubscribed(&self) {
        self.resubscriptions.inc();
    }

    /// The store moved to another Redis primary (a Sentinel failover).
    pub fn primary_switched(&self) {
        self.primary_switches.inc();
    }
}

#[cfg(test)]
mod tests {

    /// Each value lands in the first bucket whose bound is not below it
    /// (`le`), whichever thread observed it, and a scrape sums the shards.
    #[test]
    fn sharded_histograms_sum_their_shards_into_le_buckets() {
        let h = Arc::new(ShardedHistogram::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let h = Arc::clone(&h);
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        h.observe(Duration::from_micros(500)); // exactly 0.0005: le="0.0005"
                        h.observe(Duration::from_millis(3)); // le="0.005"
                        h.observe(Duration::from_secs(200)); // +Inf
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 3000);
        assert_eq!(buckets.len(), REQUEST_BUCKETS.len() + 1);
        assert_eq!(buckets[0], (0.000_5, 1000));
        assert_eq!(buckets[3], (0.005, 1000));
        assert_eq!(buckets[REQUEST_BUCKETS.len()], (f64::MAX, 1000));
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 3000);
        assert!(
            (sum - 1000.0 * (0.000_5 + 0.003 + 200.0)).abs() < 1e-6,
            "{sum}"
        );

        let m = Metrics::new();
        m.request_done("/api/qr/{id}/status", Duration::from_millis(3));
        let text = m.render();
        assert!(
            text.contains("qrlogin_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/api/qr/{id}/status\"} 1\n")
                || text.contains("qrlogin_http_request_duration_seconds_bucket{route=\"/api/qr/{id}/status\",le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("le=\"+Inf\""), "{text}");
    }

    use super::*;

    #[test]
    fn renders_the_text_format_with_labels_and_gauges() {
        let m = Metrics::new();
        let id = crate::session::QrId::generate();
        m.record(&Event::QrScanned {
            qr: &id,
            kind: QrKind::Device,
            user: "alice",
            client: None,
        });
        m.request_done("/api/qr/{id}/status", Duration::from_millis(3));
        m.held_source(
            Arc::new(|| Held {
                polls: 7,
                streams: 2,
            }),
            100,
        );
        let text = m.render();
        assert!(
            text.contains("qrlogin_qr_scanned_total{kind=\"device\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "qrlogin_http_request_duration_seconds_count{route=\"/api/qr/{id}/status\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("qrlogin_held_polls 7\n"), "{text}");
        assert!(text.contains("qrlogin_held_streams 2\n"), "{text}");
        assert!(
            text.contains("qrlogin_held_connections_max 100\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE qrlogin_poll_wake_up_seconds histogram"),
            "{text}"
        );
    }

    /// Wake-ups are whole milliseconds (session timestamps), so their
    /// histogram has no bucket below one; store round trips are timed
    /// with a monotonic clock and keep theirs.
    #[test]
    fn wake_up_buckets_start_at_the_resolution_of_their_samples() {
        let m = Metrics::new();
        m.woke_up(Duration::from_millis(1));
        m.store()
            .op_done("get", Some(Duration::from_micros(200)), true);
        let text = m.render();
        let lowest = |family: &str| {
            text.lines()
                .filter_map(|l| l.strip_prefix(family)?.strip_prefix("_bucket{"))
                .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
                .filter_map(|le| le.parse::<f64>().ok())
                .fold(f64::INFINITY, f64::min)
        };
        assert!(
            (lowest("qrlogin_poll_wake_up_seconds") - 0.001).abs() < 1e-12,
            "{text}"
        );
        assert!(lowest("qrlogin_store_round_trip_seconds") < 0.001, "{text}");
        // A 1 ms wake-up is in the first bucket, not past two finer ones.
        assert!(
            text.contains("qrlogin_poll_wake_up_seconds_bucket{le=\"0.001\"} 1\n"),
            "{text}"
        );
    }
}
