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
    /// `last_seen`, which the client already has), then each change of
    /// state as it happens — as the long poll answers, a write that leaves
    /// the state as it was (the same user scanning again) sends nothing.
    /// The stream ends after a settled state ([`PublicState::is_settled`]),
    /// when the server shuts down, and if the session is forgotten or the
    /// store fails (the client resumes from its last event id). Device
    /// sessions are not watched here, as they are not polled by browsers.
    ///
    /// `Ok(None)` when the client already has the session's last event:
    /// nothing will follow. [`LoginError::UnknownEventId`] when `last_seen`
    /// is past the session's current event id (the stream cannot have sent
    /// it). A stream that will wait holds a place in the held budget
    /// ([`LoginError::Busy`] when there is none,
    /// [`LoginError::TooManyPollers`] when this session holds its share).
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
        let current = event_id(&session, state);
        match last_seen {
            Some(seen) if seen > current => return Err(LoginError::UnknownEventId),
            Some(seen) if seen == current && state.is_settled() => return Ok(None),
            _ => {}
        }
        // A settled session's stream sends its one event and ends without
        // waiting, so it takes no place: under a full budget, the reconnect
        // that brings the ticket still gets it. Any other stream waits after
        // its first event; its place is taken here, while the refusal can
        // still be an HTTP status rather than a stream cut short.
        let slot = if state.is_settled() {
            None
        } else {
            Some(self.held.acquire(HeldKind::Stream, id)?)
        };
        let watcher = Watcher {
            service: self.clone(),
            id: id.clone(),
            poll_token: poll_token.clone(),
            // A client resuming at the current event has this state.
            sent: (last_seen == Some(current)).then_some(state),
            read: Some(Box::new(session)),
            waited: false,
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
    /// The state the client has: the last one sent, or the one it resumed
    /// at; `None` until the first event (it gets the current state).
    sent: Option<PublicState>,
    /// The session as `watch` read it, for the first step (boxed: it is
    /// used once, and the stream should not carry its size after that).
    read: Option<Box<LoginSession>>,
    /// The stream waited for a change since its last event: the next one's
    /// wake-up is timed, as a held long poll's is.
    waited: bool,
    /// The last change sent was settled: the stream ends.
    settled: bool,
    /// Its place in the held budget; `None` only for a settled session's
    /// stream, which never waits.
    _slot: Option<HeldSlot>,
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
            if self.sent != Some(state) {
                // Reported as a long poll reports its answer: a client that
                // has no state yet is treated as one polling `since=pending`.
                let since = self.sent.unwrap_or(PublicState::Pending);
                self.service
                    .observe_change(&session, state, since, self.waited);
                self.sent = Some(state);
                self.waited = false;
                self.settled = state.is_settled();
                let id = event_id(&session, state);
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
            self.waited = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::config::LoginConfig;
    use crate::session::{RequestInfo, User};
    use crate::store::{MemoryStore, Retention, Store};
    use futures_util::StreamExt as _;
    use std::time::Duration;

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

    fn alice() -> User {
        User {
            id: "alice".into(),
            name: "Alice".into(),
            avatar: None,
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

    /// The long poll answers a change of state only; so does the stream: a
    /// second scan by the same user moves the version, not the state.
    #[tokio::test(start_paused = true)]
    async fn a_rescan_by_the_same_user_sends_no_event() {
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
        assert_eq!(stream.next().await.unwrap().id, 1);
        app.scan(&alice(), &qr.id).await.unwrap();
        let scanned = stream.next().await.unwrap();
        assert_eq!(
            (scanned.id, scanned.answer.state),
            (2, PublicState::Scanned)
        );

        // Parked, waiting for a change (a step cut short stays in the
        // stream, to be resumed by the next call).
        let quiet = Duration::from_secs(10);
        assert!(tokio::time::timeout(quiet, stream.next()).await.is_err());
        let again = app.scan(&alice(), &qr.id).await.unwrap();
        let woken = tokio::time::timeout(quiet, stream.next()).await;
        assert!(woken.is_err(), "sent {:?}", woken.unwrap());
        app.confirm(&alice(), &qr.id, &again.confirm_token, None, None)
            .await
            .unwrap();
        let confirmed = stream.next().await.unwrap();
        assert_eq!(
            (confirmed.id, confirmed.answer.state),
            (4, PublicState::Confirmed)
        );
        assert!(stream.next().await.is_none());

        // A client resuming at the rescan's id has the state: the confirm
        // is news to it; one resuming at the confirm has everything.
        let resumed: Vec<u64> = app
            .watch(&qr.id, &qr.poll_token, Some(3))
            .await
            .unwrap()
            .unwrap()
            .map(|c| c.id)
            .collect()
            .await;
        assert_eq!(resumed, [4]);
        assert!(
            app.watch(&qr.id, &qr.poll_token, Some(4))
                .await
                .unwrap()
                .is_none()
        );
    }

    /// `Last-Event-ID` past the session's current event: the stream never
    /// sent it (an expired session's current event is the expiry's).
    #[tokio::test(start_paused = true)]
    async fn an_event_id_the_session_has_not_reached_is_refused() {
        let app = service();
        let qr = app
            .create_qr(request(), &Secret::generate(), None)
            .await
            .unwrap();
        let unknown = |r: Result<Option<_>>| matches!(r, Err(LoginError::UnknownEventId));
        assert!(unknown(app.watch(&qr.id, &qr.poll_token, Some(2)).await));
        assert!(unknown(
            app.watch(&qr.id, &qr.poll_token, Some(u64::MAX)).await
        ));
        assert!(app.watch(&qr.id, &qr.poll_token, Some(1)).await.is_ok());

        app.clock().advance(app.policy().qr_ttl);
        assert!(
            app.watch(&qr.id, &qr.poll_token, Some(2))
                .await
                .unwrap()
                .is_none()
        );
        assert!(unknown(app.watch(&qr.id, &qr.poll_token, Some(3)).await));
        assert_eq!(app.held(), super::super::Held::default());
        assert_eq!(app.held.sessions_held(), 0);
    }

    /// One poll token cannot take the budget: a session's streams and
    /// polls together stop at its share, and its entry goes with the last.
    #[tokio::test]
    async fn one_session_holds_at_most_its_share() {
        let app = service().with_max_held(100);
        let qr = app
            .create_qr(request(), &Secret::generate(), None)
            .await
            .unwrap();
        let mut streams = Vec::new();
        for _ in 0..super::super::MAX_HELD_PER_QR {
            streams.push(
                app.watch(&qr.id, &qr.poll_token, None)
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        assert!(matches!(
            app.watch(&qr.id, &qr.poll_token, None).await,
            Err(LoginError::TooManyPollers)
        ));
        let poll = app
            .poll(
                &qr.id,
                &qr.poll_token,
                PublicState::Pending,
                Duration::from_secs(5),
            )
            .await;
        assert!(matches!(poll, Err(LoginError::TooManyPollers)), "{poll:?}");
        // A poll that answers at once holds nothing: not refused.
        let now = app
            .poll(&qr.id, &qr.poll_token, PublicState::Pending, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(now.state, PublicState::Pending);
        assert_eq!(app.held.sessions_held(), 1);
        drop(streams);
        assert_eq!(app.held.sessions_held(), 0);
        assert_eq!(app.held(), super::super::Held::default());
    }
}
