//! The request-head limit, enforced on the parsed head.
//!
//! hyper's `max_buf_size` only refuses a head that is still incomplete when
//! its buffer is full: a head that arrives in one write is read whole (the
//! buffer grows past the limit in one read) and parsed, so ~112 KiB got
//! through a 64 KiB limit. This layer measures what hyper parsed and answers
//! 431 (or 414 for an over-long target) in the API's JSON error shape, with
//! `Connection: close`.

use super::error::ApiError;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, Ready, ready};
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Largest request head (request line and headers), as on the wire.
pub const MAX_HEAD_BYTES: usize = crate::startup::MAX_HEADER_BUFFER;
/// Longest request target. OpenID authorization requests are the longest
/// the server expects, a few KiB; nginx cuts a request line at 8 KiB.
pub const MAX_URI_BYTES: usize = 16 * 1024;

/// The wire size of `request`'s head: `METHOD SP target SP HTTP/1.1 CRLF`,
/// then `name: value CRLF` per header, then `CRLF`. Whitespace hyper
/// trimmed is not counted, so this never overstates.
pub fn head_size(request: &Request) -> usize {
    let line = request.method().as_str().len() + uri_size(request) + " HTTP/1.1\r\n".len() + 1;
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    line + headers + 2
}

fn uri_size(request: &Request) -> usize {
    request
        .uri()
        .path_and_query()
        // `_else`: formatting the URI allocates, and only an authority-form
        // or `*` target (no path) needs it; `map_or` paid it on every request.
        .map_or_else(|| request.uri().to_string().len(), |pq| pq.as_str().len())
}

/// What an over-size request is refused with, if it is.
fn refusal(request: &Request) -> Option<ApiError> {
    if uri_size(request) > MAX_URI_BYTES {
        Some(ApiError::UriTooLong)
    } else if head_size(request) > MAX_HEAD_BYTES {
        Some(ApiError::HeadTooLarge)
    } else {
        None
    }
}

/// Refuses requests whose head is over [`MAX_HEAD_BYTES`].
#[derive(Clone, Copy, Debug, Default)]
pub struct HeadLimitLayer;

impl<S> Layer<S> for HeadLimitLayer {
    type Service = HeadLimit<S>;
    fn layer(&self, inner: S) -> HeadLimit<S> {
        HeadLimit { inner }
    }
}

#[derive(Clone, Debug)]
pub struct HeadLimit<S> {
    inner: S,
}

impl<S> Service<Request> for HeadLimit<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    // No box: the refusal is ready at once, the rest is the inner future.
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match refusal(&request) {
            Some(error) => {
                let mut response = error.into_response();
                // The rest of the connection is not worth reading.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                Either::Left(ready(Ok(response)))
            }
            None => Either::Right(self.inner.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[test]
    fn the_head_is_measured_as_sent() {
        let request = Request::get("/a?b=c")
            .header("host", "x")
            .body(Body::empty())
            .unwrap();
        // "GET /a?b=c HTTP/1.1\r\nhost: x\r\n\r\n"
        assert_eq!(head_size(&request), 32);
    }
}
