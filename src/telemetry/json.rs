//! JSON log lines: one object per line, for log collectors.
//!
//! `{"timestamp","level","target","message","request_id"?,"fields":{…}}`:
//! `fields` holds the event's fields over those of the spans it happened
//! in (`qr`, `user`, `client` from the login and OpenID Connect operations).

use super::current_request_id;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON event format. Span fields must be recorded as JSON
/// (`JsonFields`), which [`super::init`] sets.
#[derive(Debug)]
pub(super) struct JsonLines;

#[derive(Serialize)]
struct Line<'a> {
    timestamp: &'a str,
    level: &'a str,
    target: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    fields: &'a Map<String, Value>,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut fields = Map::new();
        // Outermost span first, so inner spans and the event itself win.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(recorded) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(span_fields)) = serde_json::from_str(&recorded.fields) {
                    fields.extend(span_fields);
                }
            }
        }
        let mut visitor = FieldVisitor {
            message: String::new(),
            fields: &mut fields,
        };
        event.record(&mut visitor);
        let message = std::mem::take(&mut visitor.message);
        let metadata = event.metadata();
        let request_id = current_request_id();
        let line = Line {
            timestamp: &timestamp,
            level: metadata.level().as_str(),
            target: metadata.target(),
            message: &message,
            request_id: request_id.as_ref().map(super::RequestId::as_str),
            fields: &fields,
        };
        let json = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{json}")
    }
}

/// Collects an event's fields as JSON values, its message apart.
struct FieldVisitor<'a> {
    message: String,
    fields: &'a mut Map<String, Value>,
}

impl FieldVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.fields.insert(field.name().to_owned(), value);
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.put(field, Value::from(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.put(field, Value::from(format!("{value:?}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::format::JsonFields;

    /// Log lines written into memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(run: impl FnOnce()) -> Vec<Value> {
        let out = Captured::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, run);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn each_event_is_one_object_with_its_spans_fields() {
        let lines = lines_of(|| {
            let span = tracing::info_span!("scan", qr = "q1", user = "alice");
            let _entered = span.enter();
            tracing::info!(count = 3, ok = true, user = "bob", "two\nlines \"quoted\"");
        });
        let [line] = &lines[..] else {
            panic!("{lines:?}")
        };
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "two\nlines \"quoted\"");
        assert!(line["target"].as_str().unwrap().contains("json"));
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(line["fields"]["qr"], "q1");
        assert_eq!(line["fields"]["user"], "bob", "the event's own field wins");
        assert_eq!(line["fields"]["count"], 3);
        assert_eq!(line["fields"]["ok"], true);
        assert!(line.get("request_id").is_none(), "no request: no id");
    }

    #[tokio::test]
    async fn lines_written_for_a_request_carry_its_id() {
        let out = Captured::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let id = super::super::RequestId::new("proxy-17");
        super::super::scope_request_id(id, async {
            tokio::task::yield_now().await;
            tracing::warn!("inside");
        })
        .await;
        tracing::warn!("outside");
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["request_id"], "proxy-17");
        assert_eq!(lines[0]["message"], "inside");
        assert!(lines[1].get("request_id").is_none());
    }
}
