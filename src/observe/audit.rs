//! The audit log: one JSON object per line for every security-relevant
//! step, appended to `[audit] path` or written to stderr beside the logs
//! (`"type":"audit"` tells them apart). A writer thread does the IO, so a
//! slow disk never stalls a request: lines go through a bounded queue, and
//! when it is full they are dropped and counted, never waited for.
//!
//! Refusals are the one kind of line a client can cause at will (a bad
//! token, an unknown id), so they are written within budgets
//! ([`RefusalBudget`]) and only while the queue is less than half full: a
//! flood of them can neither crowd out a `qr_confirmed` or `revoked` line
//! nor drown the log. What they leave out is counted
//! (`qrlogin_audit_suppressed_total`) and summarised in a
//! `refusals_suppressed` line every minute.

use super::context::RequestContext;
use super::event::Event;
use super::metrics::Metrics;
use super::refusal_budget::RefusalBudget;
use crate::config::AuditConfig;
use serde::Serialize;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant, SystemTime};

/// Lines the writer may fall behind by before new ones are dropped.
const QUEUE: usize = 16 * 1024;
/// Refusal lines are queued only below this, so the rest of the queue is
/// always free for the other events.
const REFUSALS_QUEUE: usize = QUEUE / 2;
/// How often refusal lines left out are summarised.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// One line of the audit log. Every field but `type`, `ts` and `event` is
/// left out when it does not apply. Only public identifiers go in: the
/// event types have no field a secret could be put in.
#[derive(Debug, Default, Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    record: &'static str,
    ts: String,
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    what: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
}

impl<'a> Line<'a> {
    /// A line named `event`, stamped now.
    fn named(event: &'static str) -> Self {
        Line {
            record: "audit",
            ts: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            event,
            ..Line::default()
        }
    }

    /// `count` refusal lines were left out since the last summary.
    fn suppressed(count: u64) -> Self {
        Line {
            count: Some(count),
            ..Line::named("refusals_suppressed")
        }
    }

    /// The line for `event`, in the request `ctx` (if any) whose id is
    /// `request_id`.
    fn new(
        event: &Event<'a>,
        ctx: Option<&'a RequestContext>,
        request_id: Option<&'a str>,
    ) -> Self {
        let mut line = Line {
            request_id,
            route: ctx.and_then(RequestContext::route),
            ip: ctx.map(|c| c.ip.to_string()),
            ..Line::named(event.name())
        };
        match *event {
            Event::QrCreated {
                qr,
                kind,
                client,
                request,
            } => {
                line.qr = Some(qr.as_str());
                line.kind = Some(kind.as_str());
                line.client = client;
                line.user_agent = Some(&request.user_agent);
                if line.ip.is_none() && !request.ip.is_empty() {
                    line.ip = Some(request.ip.clone());
                }
            }
            Event::QrScanned {
                qr,
                kind,
                user,
                client,
            } => {
                line.qr = Some(qr.as_str());
                line.kind = Some(kind.as_str());
                line.user = Some(user);
                line.client = client;
            }
            Event::QrConfirmed { qr, kind, user } => {
                line.qr = Some(qr.as_str());
                line.kind = Some(kind.as_str());
                line.user = Some(user);
            }
            Event::QrCancelled { qr, kind, by, user } => {
                line.qr = Some(qr.as_str());
                line.kind = Some(kind.as_str());
                line.by = Some(by.as_str());
                line.user = user;
            }
            Event::QrExpired { qr, kind } => {
                line.qr = Some(qr.as_str());
                line.kind = Some(kind.as_str());
            }
            Event::QrRedeemed {
                qr,
                kind,
                user,
                login,
            } => {
                line.qr = Some(qr.as_str());
                line.kind = Some(kind.as_str());
                line.user = Some(user);
                line.login = login;
            }
            Event::LoggedOut { user, login } => {
                line.user = Some(user);
                line.login = Some(login);
            }
            Event::CodeIssued {
                client,
                user,
                grant,
            } => {
                line.client = Some(client);
                line.user = Some(user);
                line.grant = Some(grant);
            }
            Event::TokensIssued {
                grant_type,
                client,
                user,
                grant,
                refresh,
            } => {
                line.grant_type = Some(grant_type.as_str());
                line.client = Some(client);
                line.user = Some(user);
                line.grant = Some(grant);
                line.refresh_token = Some(refresh);
            }
            Event::Revoked {
                what,
                by,
                user,
                client,
                grant,
                login,
            } => {
                line.what = Some(what.as_str());
                line.by = Some(by.as_str());
                line.user = user;
                line.client = client;
                line.grant = grant;
                line.login = login;
            }
            Event::RateLimited { .. } => {}
            Event::Refused { reason, status } => {
                line.reason = Some(reason);
                line.status = Some(status);
            }
        }
        line
    }
}

enum Message {
    Line(String),
    /// Write the summary and flush what came before, then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Where audit lines go. A cheap handle onto the writer thread's queue; the
/// thread ends once every handle is gone and the queue is drained.
#[derive(Clone)]
pub struct AuditLog {
    queue: SyncSender<Message>,
    shared: Arc<Shared>,
    metrics: Option<Metrics>,
}

/// What the handles and the writer thread share.
#[derive(Debug)]
struct Shared {
    /// Lines queued and not yet taken by the writer.
    queued: AtomicUsize,
    refusals: RefusalBudget,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the audit log `config` names (a file is created with mode 0600
    /// if missing, and appended to) and starts its writer thread.
    pub fn open(config: &AuditConfig, metrics: Option<Metrics>) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = match &config.path {
            Some(path) => {
                let mut options = std::fs::OpenOptions::new();
                options.create(true).append(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                Box::new(io::BufWriter::new(options.open(path)?))
            }
            // Unbuffered: each line is one write, so lines never interleave
            // with the log lines written to stderr meanwhile.
            None => Box::new(io::stderr()),
        };
        Self::start(out, config, metrics, SUMMARY_EVERY)
    }

    /// Starts the writer thread on `out`, summarising suppressed refusal
    /// lines `every` so often.
    fn start(
        out: Box<dyn Write + Send>,
        config: &AuditConfig,
        metrics: Option<Metrics>,
        every: Duration,
    ) -> io::Result<Self> {
        let (queue, lines) = std::sync::mpsc::sync_channel(QUEUE);
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            refusals: RefusalBudget::new(
                config.refusals_per_minute_per_ip,
                config.refusals_per_second,
            ),
        });
        let writer = Writer {
            out,
            failures: 0,
            metrics: metrics.clone(),
            shared: Arc::clone(&shared),
        };
        std::thread::Builder::new()
            .name("qrlogin-audit".into())
            .spawn(move || writer.run(&lines, every))?;
        Ok(Self {
            queue,
            shared,
            metrics,
        })
    }

    /// Queues the line for `event` (in the request `ctx`, if any); never
    /// waits: when the writer is behind, the line is dropped and counted.
    pub fn write(&self, event: &Event<'_>, ctx: Option<&RequestContext>) {
        if !self.enqueue(event, ctx, QUEUE)
            && let Some(m) = &self.metrics
        {
            m.audit_dropped();
        }
    }

    /// Queues the line for the refused request `ctx`, if the refusal budgets
    /// allow it and the queue is less than half full; otherwise it is
    /// counted as suppressed, and summarised later.
    pub fn refused(&self, event: &Event<'_>, ctx: &RequestContext) {
        let written = self.shared.queued.load(Ordering::Relaxed) < REFUSALS_QUEUE
            && self.shared.refusals.allows(ctx.ip)
            && self.enqueue(event, Some(ctx), REFUSALS_QUEUE);
        if !written {
            self.shared.refusals.suppressed();
            if let Some(m) = &self.metrics {
                m.audit_suppressed();
            }
        }
    }

    /// Queues the line for `event` if fewer than `room` lines are queued;
    /// false if there was no room.
    fn enqueue(&self, event: &Event<'_>, ctx: Option<&RequestContext>, room: usize) -> bool {
        let request_id = crate::telemetry::current_request_id();
        let line = Line::new(event, ctx, request_id.as_ref().map(|id| id.as_str()));
        // Cannot fail (every field is a string, a number or a bool); were it
        // to, there would be no line to count as dropped.
        let Ok(mut text) = serde_json::to_string(&line) else {
            return true;
        };
        text.push('\n');
        // Counted before it is sent, so the writer never takes one it was
        // not yet counted for.
        if self.shared.queued.fetch_add(1, Ordering::Relaxed) >= room {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        match self.queue.try_send(Message::Line(text)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                false
            }
            // The writer thread is gone (it never ends before the handles).
            Err(TrySendError::Disconnected(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                true
            }
        }
    }

    /// Lines queued and not yet written (at shutdown, what a stuck writer
    /// leaves behind).
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Resolves once every line queued before the call is written, the
    /// refusals left out so far are summarised, and the file is flushed: at
    /// shutdown (bounded by the caller: a writer stuck in `write` never
    /// answers), and in tests.
    pub async fn flush(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        let mut message = Message::Flush(done);
        // A full queue: wait for room without blocking a thread, so the
        // caller's deadline can cancel the wait.
        loop {
            match self.queue.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) => {
                    message = m;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        let _ = written.await;
    }
}

/// The writer thread's side.
struct Writer {
    out: Box<dyn Write + Send>,
    failures: u64,
    metrics: Option<Metrics>,
    shared: Arc<Shared>,
}

impl Writer {
    /// Writes each line, flushing whenever the queue runs dry (so a quiet
    /// server's lines reach the file at once), and the summary of
    /// suppressed refusals `every` so often; returns once every handle is
    /// gone and the queue is drained.
    fn run(mut self, lines: &Receiver<Message>, every: Duration) {
        let mut next_summary = Instant::now() + every;
        loop {
            let message = match lines.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    self.flush();
                    match self.idle(lines, &mut next_summary, every) {
                        Some(m) => m,
                        None => break,
                    }
                }
            };
            match message {
                Message::Line(text) => {
                    self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                    self.write(text.as_bytes());
                }
                Message::Flush(done) => {
                    self.summarise();
                    self.flush();
                    let _ = done.send(());
                }
            }
            // Under a steady stream of lines the queue never runs dry.
            if Instant::now() >= next_summary {
                self.tick(&mut next_summary, every);
            }
        }
        self.summarise();
        self.flush();
    }

    /// Waits for the next message, writing the summary when it is due.
    fn idle(
        &mut self,
        lines: &Receiver<Message>,
        next_summary: &mut Instant,
        every: Duration,
    ) -> Option<Message> {
        loop {
            let left = next_summary.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(m) => return Some(m),
                Err(RecvTimeoutError::Timeout) => {
                    self.tick(next_summary, every);
                    self.flush();
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// The periodic chores: the summary, and forgetting idle clients.
    fn tick(&mut self, next_summary: &mut Instant, every: Duration) {
        self.summarise();
        self.shared.refusals.forget_idle();
        *next_summary = Instant::now() + every;
    }

    /// Writes a `refusals_suppressed` line if any were left out since the last.
    fn summarise(&mut self) {
        let count = self.shared.refusals.take_suppressed();
        if count == 0 {
            return;
        }
        if let Ok(mut text) = serde_json::to_string(&Line::suppressed(count)) {
            text.push('\n');
            self.write(text.as_bytes());
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Err(e) = self.out.write_all(bytes) {
            self.failed(&e);
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            self.failed(&e);
        }
    }

    fn failed(&mut self, e: &io::Error) {
        self.failures += 1;
        if let Some(m) = &self.metrics {
            m.audit_write_failed();
        }
        // The first failure and then every thousandth: a full disk must not
        // also flood the log.
        if self.failures % 1000 == 1 {
            tracing::error!(error = %e, failures = self.failures, "cannot write the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::event::{QrKind, Revoked, RevokedBy};
    use crate::session::{QrId, RequestInfo};
    use std::sync::Mutex;

    /// An output the test reads back.
    #[derive(Clone, Default)]
    struct Output(Arc<Mutex<Vec<u8>>>);

    impl Write for Output {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Output {
        fn lines(&self) -> Vec<serde_json::Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    /// An output whose first write waits until the gate opens: a stalled disk.
    struct Stalled {
        output: Output,
        gate: Option<std::sync::mpsc::Receiver<()>>,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(gate) = self.gate.take() {
                let _ = gate.recv();
            }
            self.output.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn budgets(per_minute_per_ip: u32, per_second: u32) -> AuditConfig {
        AuditConfig {
            refusals_per_minute_per_ip: per_minute_per_ip,
            refusals_per_second: per_second,
            ..AuditConfig::default()
        }
    }

    fn from(ip: &str) -> RequestContext {
        RequestContext {
            ip: ip.parse().unwrap(),
            route: None,
        }
    }

    const REFUSED: Event<'static> = Event::Refused {
        reason: "not_found",
        status: 404,
    };

    fn events(lines: &[serde_json::Value]) -> Vec<&str> {
        lines.iter().map(|l| l["event"].as_str().unwrap()).collect()
    }

    #[tokio::test]
    async fn a_flood_of_refusals_is_cut_to_its_budget_and_summarised() {
        let out = Output::default();
        let metrics = Metrics::new();
        let log = AuditLog::start(
            Box::new(out.clone()),
            &budgets(3, 1000),
            Some(metrics.clone()),
            SUMMARY_EVERY,
        )
        .unwrap();
        for _ in 0..100 {
            log.refused(&REFUSED, &from("192.0.2.1"));
        }
        log.refused(&REFUSED, &from("192.0.2.2"));
        let id = QrId::generate();
        log.write(
            &Event::QrConfirmed {
                qr: &id,
                kind: QrKind::Browser,
                user: "alice",
            },
            None,
        );
        log.flush().await;

        let lines = out.lines();
        assert_eq!(
            events(&lines),
            [
                "refused",
                "refused",
                "refused",
                "refused",
                "qr_confirmed",
                "refusals_suppressed"
            ],
            "{lines:?}"
        );
        assert_eq!(lines[3]["ip"], "192.0.2.2", "another client still shows");
        assert_eq!(lines[5]["count"], 97);
        let text = metrics.render();
        assert!(
            text.contains("qrlogin_audit_suppressed_total 97\n"),
            "{text}"
        );
        assert!(text.contains("qrlogin_audit_dropped_total 0\n"), "{text}");
    }

    /// Refusals fill at most half the queue, so behind a stalled writer the
    /// other half still takes every other event.
    #[tokio::test]
    async fn refusals_never_take_the_half_of_the_queue_kept_for_other_events() {
        let out = Output::default();
        let (open, gate) = std::sync::mpsc::channel();
        let stalled = Stalled {
            output: out.clone(),
            gate: Some(gate),
        };
        let metrics = Metrics::new();
        // Budgets that never bind: only the queue holds refusals back.
        let log = AuditLog::start(
            Box::new(stalled),
            &budgets(1_000_000, 1_000_000),
            Some(metrics.clone()),
            SUMMARY_EVERY,
        )
        .unwrap();
        for _ in 0..QUEUE {
            log.refused(&REFUSED, &from("192.0.2.1"));
        }
        assert!(log.queued() <= REFUSALS_QUEUE, "{}", log.queued());
        let id = QrId::generate();
        let confirmed = Event::QrConfirmed {
            qr: &id,
            kind: QrKind::Browser,
            user: "alice",
        };
        for _ in 0..QUEUE - REFUSALS_QUEUE {
            log.write(&confirmed, None);
        }
        let text = metrics.render();
        assert!(text.contains("qrlogin_audit_dropped_total 0\n"), "{text}");

        open.send(()).unwrap();
        log.flush().await;
        let lines = out.lines();
        let count = |name: &str| events(&lines).iter().filter(|e| **e == name).count();
        assert_eq!(count("qr_confirmed"), QUEUE - REFUSALS_QUEUE);
        let summary = lines.last().unwrap();
        assert_eq!(summary["event"], "refusals_suppressed");
        let suppressed = usize::try_from(summary["count"].as_u64().unwrap()).unwrap();
        // Half the queue, and the one the stalled writer had taken.
        assert!(
            count("refused") <= REFUSALS_QUEUE + 1,
            "{}",
            count("refused")
        );
        assert_eq!(count("refused") + suppressed, QUEUE);
        assert_eq!(log.queued(), 0);
    }

    /// The summary comes on its own, without a flush or another line.
    #[tokio::test]
    async fn suppressed_refusals_are_summarised_every_so_often() {
        let out = Output::default();
        let every = Duration::from_millis(20);
        let log = AuditLog::start(Box::new(out.clone()), &budgets(1, 1000), None, every).unwrap();
        // (refused lines, summaries, their total count), once the total is
        // `want` (or after 10 s).
        let summarised = |want: u64| {
            let out = out.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let lines = out.lines();
                    let counts: Vec<u64> =
                        lines.iter().filter_map(|l| l["count"].as_u64()).collect();
                    let total = counts.iter().sum::<u64>();
                    if total >= want || Instant::now() > deadline {
                        return (lines.len() - counts.len(), counts.len(), total);
                    }
                    tokio::time::sleep(every / 2).await;
                }
            }
        };
        for _ in 0..5 {
            log.refused(&REFUSED, &from("192.0.2.1"));
        }
        let (refused, summaries, total) = summarised(4).await;
        assert_eq!((refused, total), (1, 4));
        log.refused(&REFUSED, &from("192.0.2.1"));
        log.refused(&REFUSED, &from("192.0.2.1"));
        let (refused, more, total) = summarised(6).await;
        assert_eq!((refused, total), (1, 6));
        assert!(more > summaries, "a later summary counts the later ones");
        // Nothing left out since: no more summaries.
        tokio::time::sleep(every * 3).await;
        assert_eq!(out.lines().len(), 1 + more);
    }

    #[test]
    fn lines_carry_the_schema_and_leave_out_what_does_not_apply() {
        let id = QrId::generate();
        let request = RequestInfo {
            ip: "192.0.2.7".into(),
            user_agent: "UA".into(),
        };
        let event = Event::QrCreated {
            qr: &id,
            kind: QrKind::Site,
            client: Some("shop"),
            request: &request,
        };
        let json: serde_json::Value = serde_json::to_value(Line::new(&event, None, None)).unwrap();
        assert_eq!(json["type"], "audit");
        assert_eq!(json["event"], "qr_created");
        assert_eq!(json["qr"], id.as_str());
        assert_eq!(json["kind"], "site");
        assert_eq!(json["client"], "shop");
        assert_eq!(json["ip"], "192.0.2.7");
        assert_eq!(json["user_agent"], "UA");
        assert!(json.get("user").is_none(), "{json}");
        let ts = json["ts"].as_str().unwrap();
        assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");

        let event = Event::Revoked {
            what: Revoked::Grant,
            by: RevokedBy::RefreshTokenReuse,
            user: None,
            client: Some("shop"),
            grant: Some("g1"),
            login: None,
        };
        let json = serde_json::to_value(Line::new(&event, None, None)).unwrap();
        assert_eq!(json["by"], "refresh_token_reuse");
        assert_eq!(json["what"], "grant");
        assert!(json.get("ip").is_none(), "{json}");
    }
}
