//! Reading a Server-Sent Events answer as a browser's `EventSource` does:
//! events and comment lines one at a time, as they arrive. Every event read
//! is checked against the OpenAPI document (`contract::check_event`), as
//! every JSON answer is by `helpers::json`.

use reqwest::Response;
use serde_json::Value;
use std::time::Duration;

/// Longest wait for the next piece of a stream before the test fails.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One event of the stream.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }

    /// The id as the session's version.
    pub fn version(&self) -> u64 {
        self.id.as_deref().unwrap().parse().unwrap()
    }
}

/// What a block of the stream is: an event, or only comments (heartbeats).
#[derive(Debug)]
pub enum Item {
    Event(SseEvent),
    Comment(String),
}

/// An open event stream.
pub struct EventStream {
    response: Response,
    path: String,
    buffer: Vec<u8>,
}

impl EventStream {
    /// The stream of `response`, which must be a 200 `text/event-stream`.
    pub fn new(response: Response) -> Self {
        assert_eq!(response.status(), 200, "not a stream: {response:?}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        // A compressed stream holds events back in the compressor.
        assert!(
            !response.headers().contains_key("content-encoding"),
            "a compressed event stream: {:?}",
            response.headers()
        );
        Self {
            path: response.url().path().to_owned(),
            response,
            buffer: Vec::new(),
        }
    }

    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        self.response.headers()
    }

    /// The next event or comment block; `None` once the server ended the
    /// stream cleanly (a stream cut mid-event, or an error, fails the test).
    pub async fn next_item(&mut self) -> Option<Item> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(self.parse(&String::from_utf8(block).unwrap()));
            }
            let chunk = tokio::time::timeout(READ_TIMEOUT, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("nothing on {} for {READ_TIMEOUT:?}", self.path))
                .unwrap_or_else(|e| panic!("the stream on {} failed: {e}", self.path));
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => {
                    assert!(
                        self.buffer.is_empty(),
                        "the stream ended mid-event: {:?}",
                        String::from_utf8_lossy(&self.buffer)
                    );
                    return None;
                }
            }
        }
    }

    /// The next event, skipping comments; `None` once the stream ended.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            match self.next_item().await? {
                Item::Event(event) => return Some(event),
                Item::Comment(_) => {}
            }
        }
    }

    /// Asserts the next event is there, and returns its id and JSON data.
    pub async fn expect_event(&mut self) -> (u64, Value) {
        let event = self.next_event().await.expect("the stream ended early");
        (event.version(), event.json())
    }

    /// Asserts the server ends the stream with no further event.
    pub async fn expect_end(&mut self) {
        if let Some(event) = self.next_event().await {
            panic!("expected the stream to end, got {event:?}");
        }
    }

    /// One block, parsed as the HTML standard's event-stream format.
    fn parse(&self, block: &str) -> Item {
        let (mut id, mut data, mut comments) = (None, Vec::new(), Vec::new());
        for line in block.lines().filter(|l| !l.is_empty()) {
            if let Some(comment) = line.strip_prefix(':') {
                comments.push(comment.trim_start().to_owned());
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => id = Some(value.to_owned()),
                "data" => data.push(value),
                _ => panic!("unexpected field {field:?} in {block:?}"),
            }
        }
        if data.is_empty() {
            assert!(id.is_none(), "an id without data: {block:?}");
            return Item::Comment(comments.join("\n"));
        }
        let event = SseEvent {
            id,
            data: data.join("\n"),
        };
        crate::contract::check_event(&self.path, 200, event.id.as_deref(), &event.data);
        Item::Event(event)
    }
}
