//! Request ids: `X-Request-Id` from a trusted proxy (`server.trusted_proxies`)
//! when it is sane, made here otherwise; set on the request (for the request
//! span and the echo in the response) and around the handling of it, so
//! every log line written meanwhile carries it ([`crate::telemetry`]).

use super::client_ip::is_trusted_proxy;
use crate::telemetry::{RequestId, scope_request_id};
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Request};
use ipnet::IpNet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest `X-Request-Id` taken from a proxy.
pub const MAX_LEN: usize = 128;

/// Request ids `<process prefix>-<counter>`: unique across instances and
/// restarts (the prefix is random) without a syscall per request, which a
/// random UUID costs.
#[derive(Clone, Debug)]
struct SequentialRequestId {
    /// Eight hex digits and the dash.
    prefix: [u8; PREFIX_LEN],
    next: Arc<AtomicU64>,
}

const PREFIX_LEN: usize = 9;

impl SequentialRequestId {
    fn new() -> Self {
        let mut raw = [0u8; 4];
        crate::secret::os_random(&mut raw);
        let mut prefix = [b'-'; PREFIX_LEN];
        let hex = format!("{:08x}", u32::from_be_bytes(raw));
        prefix[..8].copy_from_slice(hex.as_bytes());
        Self {
            prefix,
            next: Arc::default(),
        }
    }

    fn make(&self) -> RequestId {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // Written on the stack and copied once into the id's `Arc<str>`:
        // `format!` built a `String` first, one more allocation per request.
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(n).as_bytes();
        let mut text = [0u8; PREFIX_LEN + 20]; // a u64 has at most 20 digits
        let len = PREFIX_LEN + digits.len();
        text[..PREFIX_LEN].copy_from_slice(&self.prefix);
        text[PREFIX_LEN..len].copy_from_slice(digits);
        // Hex digits, a dash and decimal digits: always UTF-8.
        RequestId::new(std::str::from_utf8(&text[..len]).unwrap_or("-"))
    }
}

/// Whether a proxy's request id can go into headers and log lines as is:
/// 1 to [`MAX_LEN`] visible ASCII characters.
fn is_sane(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(u8::is_ascii_graphic)
}

/// Gives each request its id ([`RequestIdService`]).
#[derive(Clone, Debug)]
pub struct RequestIdLayer {
    trusted: Arc<[IpNet]>,
    ids: SequentialRequestId,
}

impl RequestIdLayer {
    /// Believes `X-Request-Id` from peers in `trusted_proxies` only.
    pub fn new(trusted_proxies: &[IpNet]) -> Self {
        Self {
            trusted: trusted_proxies.into(),
            ids: SequentialRequestId::new(),
        }
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService {
            inner,
            layer: self.clone(),
        }
    }
}

/// Sets `X-Request-Id` on the request and runs the rest of the handling
/// in [`scope_request_id`]. The future is the inner one wrapped, not boxed:
/// a held poll keeps it for its whole hold.
#[derive(Clone, Debug)]
pub struct RequestIdService<S> {
    inner: S,
    layer: RequestIdLayer,
}

impl<S, B> Service<Request<B>> for RequestIdService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<RequestId, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let from_proxy = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(peer)| is_trusted_proxy(peer.ip(), &self.layer.trusted));
        let given = request.headers().get(X_REQUEST_ID).filter(|v| is_sane(v));
        let (id, header) = match given {
            Some(value) if from_proxy => {
                // Sane means visible ASCII, so this is the header's own text.
                let text = String::from_utf8_lossy(value.as_bytes());
                (RequestId::new(text.as_ref()), value.clone())
            }
            _ => {
                let id = self.layer.ids.make();
                // Digits, hex and a dash: always a valid header value.
                let header = HeaderValue::from_str(id.as_str())
                    .unwrap_or_else(|_| HeaderValue::from_static("-"));
                (id, header)
            }
        };
        request.headers_mut().insert(X_REQUEST_ID, header);
        scope_request_id(id, self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_visible_ascii_ids_are_sane() {
        let sane = |s: &str| is_sane(&HeaderValue::from_str(s).unwrap());
        assert!(sane("3f2a9c1e-17"));
        assert!(sane("req_ABC.def:1/2"));
        assert!(sane(&"a".repeat(MAX_LEN)));
        assert!(!sane(&"a".repeat(MAX_LEN + 1)));
        assert!(!sane(""));
        assert!(!sane("with space"));
        assert!(!sane("tab\tin"));
        assert!(!is_sane(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()));
    }

    #[test]
    fn made_ids_are_distinct() {
        let ids = SequentialRequestId::new();
        let (a, b) = (ids.make(), ids.make());
        assert_ne!(a, b);
        assert!(a.as_str().ends_with("-0") && b.as_str().ends_with("-1"));
        let prefix = a.as_str().split_once('-').unwrap().0;
        assert!(prefix.len() == 8 && prefix.bytes().all(|c| c.is_ascii_hexdigit()));
        ids.next.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(ids.make().as_str(), format!("{prefix}-{}", u64::MAX));
    }
}
