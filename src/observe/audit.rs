//! The audit log: one JSON object per line for every security-relevant
//! step, appended to `[audit] path` or written to stderr beside the logs
//! (`"type":"audit"` tells them apart). A writer thread does the IO, so a
//! slow disk never stalls a request: lines go through a bounded queue, and
//! when it is full they are dropped and counted, never waited for.

use super::context::RequestContext;
use super::event::Event;
use super::metrics::Metrics;
use crate::config::AuditConfig;
use serde::Serialize;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::SystemTime;

/// Lines the writer may fall behind by before new ones are dropped.
const QUEUE: usize = 16 * 1024;

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
}

impl<'a> Line<'a> {
    fn new(event: &Event<'a>, ctx: Option<&'a RequestContext>) -> Self {
        let mut line = Line {
            record: "audit",
            ts: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            event: event.name(),
            request_id: ctx.and_then(RequestContext::request_id),
            route: ctx.and_then(RequestContext::route),
            ip: ctx.map(|c| c.ip.to_string()),
            ..Line::default()
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
    /// Flush what came before, then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Where audit lines go. A cheap handle onto the writer thread's queue; the
/// thread ends once every handle is gone and the queue is drained.
#[derive(Clone)]
pub struct AuditLog {
    queue: SyncSender<Message>,
    metrics: Option<Metrics>,
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
        let (queue, lines) = std::sync::mpsc::sync_channel(QUEUE);
        let writer_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("qrlogin-audit".into())
            .spawn(move || write_lines(&lines, out, writer_metrics.as_ref()))?;
        Ok(Self { queue, metrics })
    }

    /// Queues the line for `event` (in the request `ctx`, if any); never
    /// waits: when the writer is behind, the line is dropped and counted.
    pub fn write(&self, event: &Event<'_>, ctx: Option<&RequestContext>) {
        let line = Line::new(event, ctx);
        let Ok(mut text) = serde_json::to_string(&line) else {
            return;
        };
        text.push('\n');
        match self.queue.try_send(Message::Line(text)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if let Some(m) = &self.metrics {
                    m.audit_dropped();
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Resolves once every line queued before the call is written (and the
    /// file flushed): at shutdown, and in tests.
    pub async fn flush(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        let queue = self.queue.clone();
        // The queue may be full: wait for room off the async threads.
        let queued = tokio::task::spawn_blocking(move || queue.send(Message::Flush(done))).await;
        if matches!(queued, Ok(Ok(()))) {
            let _ = written.await;
        }
    }
}

/// The writer thread: writes each line, flushing whenever the queue runs
/// dry (so a quiet server's lines reach the file at once).
fn write_lines(
    lines: &Receiver<Message>,
    mut out: Box<dyn Write + Send>,
    metrics: Option<&Metrics>,
) {
    let mut failures = 0u64;
    let mut failed = |e: io::Error| {
        failures += 1;
        if let Some(m) = metrics {
            m.audit_write_failed();
        }
        // The first failure and then every thousandth: a full disk must not
        // also flood the log.
        if failures % 1000 == 1 {
            tracing::error!(error = %e, failures, "cannot write the audit log");
        }
    };
    let mut next = lines.recv().ok();
    while let Some(message) = next {
        match message {
            Message::Line(text) => {
                if let Err(e) = out.write_all(text.as_bytes()) {
                    failed(e);
                }
            }
            Message::Flush(done) => {
                if let Err(e) = out.flush() {
                    failed(e);
                }
                let _ = done.send(());
            }
        }
        next = match lines.try_recv() {
            Ok(m) => Some(m),
            Err(_) => {
                if let Err(e) = out.flush() {
                    failed(e);
                }
                lines.recv().ok()
            }
        };
    }
    if let Err(e) = out.flush() {
        failed(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::event::{QrKind, Revoked, RevokedBy};
    use crate::session::{QrId, RequestInfo};

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
        let json: serde_json::Value = serde_json::to_value(Line::new(&event, None)).unwrap();
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
        let json = serde_json::to_value(Line::new(&event, None)).unwrap();
        assert_eq!(json["by"], "refresh_token_reuse");
        assert_eq!(json["what"], "grant");
        assert!(json.get("ip").is_none(), "{json}");
    }
}
