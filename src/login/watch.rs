//! Watching a QR session: its state changes as a stream, for the browser's
//! push channel. The long poll answers one change per request; a watch
//! answers every change on one connection, from the same store wake-ups.
//!
//! The stream is one `unfold` over a small state — no task, no channel per
//! stream: thousands are open at once, and each costs only what it holds
//! (see [`LoginService::watch`]).

use super::held::{HeldKind, HeldSlot};
use super::{LoginError, LoginService, PollAnswer, Result};
use crate::secret::Secret;
use crate::session::{LoginSession, PublicState, QrId};
use crate::store::SessionStore as _;
use futures_util::Stream;
use tokio::time::Instant;

/// One state change of a watched session.
#[derive(Debug)]
pub struct Change {
    /// The event id: the session's version (see [`event_id`]).
    pub id: u64,
    /// The same answer a long poll gives in this state.
    pub answer: PollAnswer,
}

/// The id of the change that put `session` in `state`: its version. An
/// expiry is a change no write records, so it bumps no version; it takes
/// the next one, which no write can take after it (every transition
/// refuses an expired session). So a resumed stream tells "saw pending at
/// version 1" (send "expired") from "saw the expiry" (nothing more).
fn event_id(session: &LoginSession, state: PublicState) -> u64 {
    if state == PublicState::Expired {
        session.version + 1
    } else {
        session.version
    }
}

impl LoginService {
    /// The state changes of the browser's QR session `id`, for the holder
    /// of its `poll_token`: the current state first (unless its event id is
    /// `last_seen`, which the client already has), then each change as it
    /// happens. The stream ends after a settled state
    /// ([`PublicState::is_settled`]), when the server shuts down, and if
    /// the session is forgotten or the store fails (the client resumes
    /// from its last event id). Device sessions are not watched here, as
    /// they are not polled by browsers.
    ///
    /// `Ok(None)` when the client already has the session's last event:
    /// nothing will follow. An open stream holds a place in the held
    /// budget ([`LoginError::Busy`] when there is none).
    #[tracing::instrument(level = "debug", skip(self, poll_token), fields(qr = %id))]
    pub async fn watch(
        &self,
        id: &QrId,
        poll_token: &Secret,
        last_seen: Option<u64>,
    ) -> Result<Option<impl Stream<Item = Change> + Send + 'static>> {
        let now = self.clock.now();
        let session = self
            .store
            .get(id, now)
            .await?
            .filter(|s| s.device.is_none())
            .ok_or(LoginError::NotFound)?;
        session.authorize_poll(poll_token)?;
        let state = session.state(now);
        if state.is_settled() && last_seen == Some(event_id(&session, state)) {
            return Ok(None);
        }
        let slot = self
            .held
            .acquire(HeldKind::Stream)
            .ok_or(LoginError::Busy)?;
        let watcher = Watcher {
            service: self.clone(),
            id: id.clone(),
            poll_token: poll_token.clone(),
            last_seen,
            read: Some(Box::new(session)),
            settled: false,
            _slot: slot,
        };
        Ok(Some(futures_util::stream::unfold(watcher, Watcher::next)))
    }
}

/// What an open stream holds between two changes.
struct Watcher {
    service: LoginService,
    id: QrId,
    /// Derives the ticket of a confirmed session (never stored).
    poll_token: Secret,
    /// The id of the last change the client has.
    last_seen: Option<u64>,
    /// The session as `watch` read it, for the first step (boxed: it is
    /// used once, and the stream should not carry its size after that).
    read: Option<Box<LoginSession>>,
    /// The last change sent was settled: the stream ends.
    settled: bool,
    _slot: HeldSlot,
}

impl Watcher {
    /// The next change, once there is one; `None` ends the stream.
    async fn next(mut self) -> Option<(Change, Self)> {
        if self.settled {
            return None;
        }
        loop {
            let now = self.service.clock.now();
            let session = match self.read.take() {
                Some(session) => *session,
                None => match self.service.store.get(&self.id, now).await {
                    Ok(Some(session)) if session.device.is_none() => session,
                    Ok(_) => return None,
                    Err(e) => {
                        tracing::warn!(qr = %self.id, error = %e, "event stream ended: store failed");
                        return None;
                    }
                },
            };
            let state = session.state(now);
            let id = event_id(&session, state);
            if self.last_seen != Some(id) {
                self.last_seen = Some(id);
                self.settled = state.is_settled();
                let answer = self.service.answer(&session, state, &self.poll_token);
                return Some((Change { id, answer }, self));
            }
            if self.service.is_stopping() {
                return None;
            }
            // Unsettled, so live: wake at the latest when it expires.
            let expiry = Instant::now() + now.until(session.expires_at);
            let version = session.version;
            drop(session);
            tokio::select! {
                waited = self.service.store.wait_for_change(&self.id, version, expiry) => {
                    if let Err(e) = waited {
                        tracing::warn!(qr = %self.id, error = %e, "event stream ended: store failed");
                        return None;
                    }
                }
                () = self.service.stopping() => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::config::LoginConfig;
    use crate::session::RequestInfo;
    use crate::store::{MemoryStore, Retention, Store};
    use futures_util::StreamExt as _;

    fn service() -> LoginService {
        let policy = LoginConfig::default();
        let retention = Retention {
            expired_grace: policy.expired_grace,
        };
        let store = Store::Memory(MemoryStore::new(retention, 100));
        LoginService::new(store, Clock::manual(), policy)
    }

    fn request() -> RequestInfo {
        RequestInfo {
            ip: "192.0.2.1".into(),
            user_agent: "test".into(),
        }
    }

    /// What an open stream keeps in memory while it waits (its future,
    /// boxed once by the HTTP body), so a change that bloats it shows here.
    #[tokio::test]
    async fn a_waiting_stream_is_small() {
        let app = service();
        let qr = app
            .create_qr(request(), &Secret::generate(), None)
            .await
            .unwrap();
        let mut stream = Box::pin(
            app.watch(&qr.id, &qr.poll_token, None)
                .await
                .unwrap()
                .unwrap(),
        );
        assert_eq!(
            stream.next().await.unwrap().answer.state,
            PublicState::Pending
        );
        // Now parked in `wait_for_change` on the memory store.
        let size = std::mem::size_of_val(&*stream);
        assert!(size < 2048, "an open stream holds {size} bytes inline");
    }

    #[tokio::test(start_paused = true)]
    async fn an_expiry_takes_the_next_event_id_and_ends_the_stream() {
        let app = service();
        let qr = app
            .create_qr(request(), &Secret::generate(), None)
            .await
            .unwrap();
        let stream = app
            .watch(&qr.id, &qr.poll_token, None)
            .await
            .unwrap()
            .unwrap();
        let changes: Vec<(u64, PublicState)> =
            stream.map(|c| (c.id, c.answer.state)).collect().await;
        assert_eq!(
            changes,
            [(1, PublicState::Pending), (2, PublicState::Expired)]
        );
        // A client that saw the expiry has nothing more to wait for; one
        // that saw only "pending" learns of it.
        assert!(
            app.watch(&qr.id, &qr.poll_token, Some(2))
                .await
                .unwrap()
                .is_none()
        );
        let resumed = app
            .watch(&qr.id, &qr.poll_token, Some(1))
            .await
            .unwrap()
            .unwrap();
        let changes: Vec<u64> = resumed.map(|c| c.id).collect().await;
        assert_eq!(changes, [2]);
        assert_eq!(app.held().streams, 0);
    }
}
