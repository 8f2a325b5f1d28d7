//! The site's server-side sessions: a login in progress (PKCE verifier,
//! nonce, state) and a login done (what the provider said about the user),
//! keyed by a random id the browser holds in an HttpOnly cookie. Nothing but
//! that id ever reaches the browser.

use openidconnect::core::CoreIdToken;
use openidconnect::{CsrfToken, Nonce, PkceCodeVerifier};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie that carries the session id.
pub const COOKIE: &str = "rp_session";

/// How long a started login may take to come back.
const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a logged-in session lasts.
const SESSION_TTL: Duration = Duration::from_secs(8 * 60 * 60);
/// A bound on stored sessions: anyone can start a login, so anyone could
/// otherwise fill the memory.
const MAX_SESSIONS: usize = 10_000;

/// A login sent to the provider and not back yet.
#[derive(Debug)]
pub struct PendingLogin {
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub pkce_verifier: PkceCodeVerifier,
}

/// What the site knows about a logged-in user, ready to show.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub sub: String,
    pub name: Option<String>,
    pub picture: Option<String>,
    /// RFC 3339.
    pub auth_time: Option<String>,
    pub amr: Vec<String>,
    /// The userinfo answer, pretty-printed JSON.
    pub userinfo: String,
    /// The ID token, sent back as `id_token_hint` on logout.
    pub id_token: CoreIdToken,
}

#[derive(Debug, Default)]
struct Session {
    pending: Option<PendingLogin>,
    user: Option<LoggedIn>,
    /// The `state` sent with the last logout, checked when the provider
    /// sends the browser back.
    logout_state: Option<CsrfToken>,
    expires: Option<Instant>,
}

/// Why a session could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("too many sessions")]
pub struct Full;

/// All sessions. A std `Mutex`: no lock is held across an `.await`.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves plain data behind: go on.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers `pending` for the session `id` (a new id when `None`, or
    /// when `id` is unknown or expired) and returns the id to set in the cookie.
    pub fn start_login(
        &self,
        id: Option<&str>,
        pending: PendingLogin,
        now: Instant,
    ) -> Result<String, Full> {
        let mut sessions = self.lock();
        let live = |s: &Session| s.expires.is_none_or(|e| e > now);
        let id = match id {
            Some(id) if sessions.get(id).is_some_and(live) => id.to_owned(),
            _ => {
                if sessions.len() >= MAX_SESSIONS {
                    sessions.retain(|_, s| live(s));
                    if sessions.len() >= MAX_SESSIONS {
                        return Err(Full);
                    }
                }
                CsrfToken::new_random().into_secret()
            }
        };
        let session = sessions.entry(id.clone()).or_default();
        // A later login in the same browser replaces an earlier one's checks.
        session.pending = Some(pending);
        let login_deadline = now + LOGIN_TTL;
        session.expires = Some(
            session
                .expires
                .map_or(login_deadline, |e| e.max(login_deadline)),
        );
        Ok(id)
    }

    /// Takes the pending login of session `id`, if it is live: a callback
    /// can use it once.
    pub fn take_pending(&self, id: &str, now: Instant) -> Option<PendingLogin> {
        let mut sessions = self.lock();
        let session = sessions.get_mut(id)?;
        if session.expires.is_some_and(|e| e <= now) {
            sessions.remove(id);
            return None;
        }
        session.pending.take()
    }

    /// Marks session `id` logged in as `user`.
    pub fn log_in(&self, id: &str, user: LoggedIn, now: Instant) {
        if let Some(session) = self.lock().get_mut(id) {
            session.user = Some(user);
            session.expires = Some(now + SESSION_TTL);
        }
    }

    /// The logged-in user of session `id`, if any.
    pub fn user(&self, id: &str, now: Instant) -> Option<LoggedIn> {
        let sessions = self.lock();
        let session = sessions.get(id)?;
        if session.expires.is_some_and(|e| e <= now) {
            return None;
        }
        session.user.clone()
    }

    /// Logs session `id` out locally, remembering `state` for the provider's
    /// redirect back, and returns the ID token to hint with.
    pub fn log_out(&self, id: &str, state: CsrfToken, now: Instant) -> Option<CoreIdToken> {
        let mut sessions = self.lock();
        let session = sessions.get_mut(id)?;
        session.logout_state = Some(state);
        session.expires = Some(now + LOGIN_TTL);
        session.user.take().map(|user| user.id_token)
    }

    /// Whether `state` is the one session `id` sent with its logout (used once).
    pub fn take_logout_state(&self, id: &str, state: &str) -> bool {
        let mut sessions = self.lock();
        let Some(session) = sessions.get_mut(id) else {
            return false;
        };
        let matches = session
            .logout_state
            .as_ref()
            .is_some_and(|expected| constant_time_eq(expected.secret(), state));
        if matches {
            session.logout_state = None;
        }
        matches
    }
}

/// Compares two secrets without stopping at the first difference.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::PkceCodeChallenge;

    fn pending(state: &str) -> PendingLogin {
        let (_, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        PendingLogin {
            state: CsrfToken::new(state.to_owned()),
            nonce: Nonce::new_random(),
            pkce_verifier,
        }
    }

    #[test]
    fn a_pending_login_is_taken_once_and_expires() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let id = sessions.start_login(None, pending("s1"), t0).unwrap();
        assert!(id.len() >= 22, "128 bits, base64url");
        assert_eq!(sessions.take_pending(&id, t0).unwrap().state.secret(), "s1");
        assert!(sessions.take_pending(&id, t0).is_none());

        let id = sessions.start_login(Some(&id), pending("s2"), t0).unwrap();
        assert!(sessions.take_pending(&id, t0 + LOGIN_TTL).is_none());
    }

    #[test]
    fn an_unknown_cookie_gets_a_new_session() {
        let sessions = Sessions::default();
        let id = sessions
            .start_login(Some("forged"), pending("s"), Instant::now())
            .unwrap();
        assert_ne!(id, "forged");
    }

    #[test]
    fn logout_state_matches_once() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let id = sessions.start_login(None, pending("s"), t0).unwrap();
        assert!(
            sessions
                .log_out(&id, CsrfToken::new("x".into()), t0)
                .is_none()
        );
        assert!(!sessions.take_logout_state(&id, "y"));
        assert!(sessions.take_logout_state(&id, "x"));
        assert!(!sessions.take_logout_state(&id, "x"));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
