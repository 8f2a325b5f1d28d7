//! Request bodies that stall are cut off.
//!
//! hyper has a timeout for reading a request's head, none for its body: a
//! client that sent `Content-Length: 16000` and then one byte (or none) held
//! its connection, and the handler reading it, forever. [`TimedBody`] wraps
//! every request body: it fails when no byte has arrived for
//! `server.body_read_timeout`, or, once that grace has passed, when the body
//! has averaged less than `server.body_min_rate` bytes per second (a byte
//! every few seconds is a stall too). The handler's extractor then answers
//! 408 `body_timeout`, and hyper closes the connection, whose body was never
//! read to its end.

use axum::body::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error a [`TimedBody`] fails with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// Whether `error` (or what caused it) is a [`BodyTimedOut`]: extractors
/// wrap the body's error in their own.
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// How slow a body may be.
#[derive(Clone, Copy, Debug)]
pub struct BodyPace {
    /// Longest wait for the next byte; the grace before `min_rate` applies.
    pub timeout: Duration,
    /// Bytes per second the body must average after the grace.
    pub min_rate: u32,
}

impl BodyPace {
    /// When the body fails unless more arrives, given `received` bytes
    /// since `started` and the last arrival `now`.
    fn deadline(self, started: Instant, received: u64, now: Instant) -> Instant {
        let earned = Duration::from_secs_f64(received as f64 / f64::from(self.min_rate.max(1)));
        (now + self.timeout).min(started + self.timeout + earned)
    }
}

pin_project! {
    /// A request body that fails with [`BodyTimedOut`] when it stalls.
    pub struct TimedBody<B> {
        #[pin]
        inner: B,
        // Registered with the timer only once polled: a request whose body
        // is never read (a GET, a held poll) costs no timer entry.
        #[pin]
        sleep: Sleep,
        pace: BodyPace,
        started: Instant,
        received: u64,
    }
}

impl<B> TimedBody<B> {
    pub fn new(inner: B, pace: BodyPace) -> Self {
        let started = Instant::now();
        Self {
            inner,
            sleep: tokio::time::sleep_until(pace.deadline(started, 0, started)),
            pace,
            started,
            received: 0,
        }
    }
}

impl<B> HttpBody for TimedBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                    let now = Instant::now();
                    let next = this.pace.deadline(*this.started, *this.received, now);
                    this.sleep.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.sleep.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_or_a_trickle_runs_out_of_time() {
        let pace = BodyPace {
            timeout: Duration::from_secs(10),
            min_rate: 100,
        };
        let t0 = Instant::now();
        // Nothing yet: the full timeout.
        assert_eq!(pace.deadline(t0, 0, t0), t0 + Duration::from_secs(10));
        // Fast enough: the next byte may take the full timeout.
        let now = t0 + Duration::from_secs(1);
        assert_eq!(pace.deadline(t0, 5_000, now), now + Duration::from_secs(10));
        // A byte a second (1 % of the rate): time runs out on the average.
        let now = t0 + Duration::from_secs(12);
        assert_eq!(
            pace.deadline(t0, 12, now),
            t0 + Duration::from_secs(10) + Duration::from_millis(120)
        );
    }

    #[test]
    fn the_timeout_is_found_through_wrapping_errors() {
        let wrapped = axum::Error::new(BodyTimedOut);
        assert!(is_body_timeout(&wrapped));
        assert!(!is_body_timeout(&axum::Error::new(std::io::Error::other(
            "x"
        ))));
    }
}
