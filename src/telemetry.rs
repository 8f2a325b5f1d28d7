//! Log output: `tracing` to stderr as JSON lines or pretty text (`[log]
//! format`), filtered by `[log] filter` or `RUST_LOG`, every line written
//! while a request is handled carrying its request id.
//!
//! The id travels in a task-local set around the request's future
//! ([`scope_request_id`], by [`crate::http::request_id`]), and the event
//! formatters read it: no span per request at info level, which would cost
//! ~2 KB per held poll (BENCHMARKS.md).

mod json;

use crate::config::{LogConfig, LogFormat};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use tokio::task::futures::TaskLocalFuture;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, format::JsonFields};
use tracing_subscriber::registry::LookupSpan;

/// `[log] filter` when not configured.
pub const DEFAULT_FILTER: &str = "qrlogin=info,tower_http=warn";

tokio::task_local! {
    static REQUEST_ID: RequestId;
}

/// The id of one request: from a trusted proxy's `X-Request-Id`, or made here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    pub(crate) fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of the request being handled on this task, if any (for stamping
/// events with it, as the log lines are).
pub fn current_request_id() -> Option<RequestId> {
    REQUEST_ID.try_with(RequestId::clone).ok()
}

/// Runs `future` as the handling of request `id`: [`current_request_id`]
/// and every log line it writes carry the id.
pub fn scope_request_id<F: Future>(id: RequestId, future: F) -> TaskLocalFuture<RequestId, F> {
    REQUEST_ID.scope(id, future)
}

/// Parses filter directives (`qrlogin=info,tower_http=warn`).
pub fn parse_filter(directives: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    EnvFilter::try_new(directives)
}

/// Installs the global subscriber: `RUST_LOG`, when set and valid, wins over
/// `config.filter`; `config.format` unset means pretty on a terminal and
/// JSON otherwise. A second call keeps the first subscriber (several tests
/// in one process).
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.filter))
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let format = config.format.unwrap_or(if terminal {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(json::JsonLines)
            .try_init(),
        // Colour codes only for a person at a terminal, not for log files.
        LogFormat::Pretty => builder
            .event_format(WithRequestId(format::format().with_ansi(terminal)))
            .try_init(),
    };
}

/// A text format with ` request_id=…` appended to lines written while a
/// request is handled.
struct WithRequestId<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithRequestId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(id) = current_request_id() else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        writeln!(writer, "{line} request_id={id}")
    }
}
