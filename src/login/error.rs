//! What a login operation can fail with, in the domain's words. It knows
//! nothing of HTTP: the web layer maps it to a status and JSON once
//! (`http/error.rs`).

use crate::session::TransitionError;
use crate::store::StoreError;

/// Why a login operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// No QR session of that id is held (never issued, or forgotten).
    #[error("no such QR code")]
    NotFound,
    /// The session's rules refused it (wrong token, wrong state, expired…).
    #[error(transparent)]
    Refused(#[from] TransitionError),
    /// The phone picked a number other than the login page's: the login
    /// was cancelled (number matching).
    #[error("that is not the number on the login page; this login was cancelled")]
    WrongNumber,
    /// No live browser login for that cookie.
    #[error("not logged in")]
    NotLoggedIn,
    /// The store could not be reached; the detail is for the log only.
    #[error("the session store is unavailable; try again shortly")]
    StoreUnavailable(String),
    /// The store holds as many sessions as it may.
    #[error("the server is at capacity; try again shortly")]
    OverCapacity,
    /// Lost the compare-and-set race too many times in a row.
    #[error("the server is busy with this session; try again")]
    Contention,
    /// As many connections are held (long polls, event streams) as
    /// `limits.max_held_connections` allows.
    #[error("the server holds as many waiting connections as it may; try again shortly")]
    Busy,
    /// This QR session holds as many long polls and event streams as one
    /// session may ([`super::MAX_HELD_PER_QR`]): one client is taking more
    /// than a page needs.
    #[error(
        "this QR code has as many waiting connections as one page may hold; close the others or try again shortly"
    )]
    TooManyPollers,
    /// A stream resumed after an event id the session has not reached, so
    /// its stream never sent it.
    #[error("Last-Event-ID must be the id of an event this stream sent")]
    UnknownEventId,
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => Self::StoreUnavailable(detail),
            StoreError::Full => Self::OverCapacity,
        }
    }
}
