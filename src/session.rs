//! The QR login session and its state machine: plain data and pure
//! transition functions (no IO, no clock reads, no async).
//!
//! ```text
//!   pending ──scan──▶ scanned ──confirm──▶ confirmed ──redeem──▶ redeemed
//!      │                │ ▲ rescan by the       │
//!      │                │ └─ same user          │
//!      └──cancel──┐     └──cancel──┐            │
//!                 ▼                ▼            ▼
//!              cancelled        cancelled    (ticket window passes)
//!   every live state (pending, scanned, confirmed) ──time──▶ expired
//! ```
//!
//! With number matching ([`LoginSession::with_number`]) the confirm must
//! carry the login page's number: a wrong one moves scanned → cancelled
//! (reason [`CancelReason::WrongNumber`]), none changes nothing.
//!
//! A confirmed session lives the rest of the code's life (at least the
//! ticket window), so the person at the computer may take their time to
//! click "Continue"; each ticket, though, lives only the ticket window, and
//! the browser mints a fresh one when it needs it ([`LoginSession::new_ticket`]).
//!
//! Expiry is derived from `expires_at` and the caller's `now`, so no timer has
//! to flip it and every reader agrees on it. Each successful transition bumps
//! `version`, which stores use for compare-and-set.

use crate::clock::Timestamp;
use crate::number_match::MatchNumber;
use crate::oidc::{AuthorizationRequest, DeviceRequest};
use crate::secret::{BrowserHash, ConfirmTokenHash, PollTokenHash, Secret, TicketHash};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A QR session id: 128 random bits, URL-safe base64 (22 characters). It is
/// printed in the QR code, so it is public: knowing it grants nothing.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QrId(String);

/// Characters in a [`QrId`].
pub const QR_ID_LEN: usize = 22;

impl QrId {
    pub fn generate() -> Self {
        Self(crate::secret::random_id())
    }

    /// Accepts exactly the shape [`QrId::generate`] makes, so absurd ids are
    /// refused before they reach a store key.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = text.len() == QR_ID_LEN
            && text
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        ok.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for QrId {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or("not a qr session id")
    }
}
impl From<QrId> for String {
    fn from(id: QrId) -> String {
        id.0
    }
}
impl std::fmt::Debug for QrId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QrId({})", self.0)
    }
}
impl std::fmt::Display for QrId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone user, as the mobile token verifier vouches for them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub name: String,
    pub avatar: Option<String>,
}

/// The browser that asked to log in, shown on the phone so its user can tell
/// whether this login is theirs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestInfo {
    pub ip: String,
    pub user_agent: String,
}

/// Where a session is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    Pending,
    Scanned {
        user: User,
        confirm_hash: ConfirmTokenHash,
    },
    Confirmed {
        user: User,
        /// When the user authenticated for this login: the phone's
        /// confirm, or, for a device allowed from a browser logged in here,
        /// that browser's login. The `auth_time` of the tokens it yields.
        confirmed_at: Timestamp,
    },
    Cancelled {
        /// Why; `None` in sessions stored by a version that did not say.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<CancelReason>,
    },
    Redeemed {
        user_id: String,
    },
}

/// Why a session was cancelled: the page tells a login the phone declined
/// from one refused for a wrong number (a sign of a relayed code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The phone user tapped Cancel.
    Phone,
    /// The page gave up its code.
    Browser,
    /// The phone user picked a number other than the page's
    /// (`login.number_matching`).
    WrongNumber,
}

/// What a poller sees: the phase with expiry applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublicState {
    Pending,
    Scanned,
    Confirmed,
    Cancelled,
    Expired,
    Redeemed,
}

impl PublicState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Scanned => "scanned",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Redeemed => "redeemed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Scanned,
            Self::Confirmed,
            Self::Cancelled,
            Self::Expired,
            Self::Redeemed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// WeChat's long-poll code for this state.
    pub fn wechat_code(self) -> u16 {
        match self {
            Self::Pending => 408,
            Self::Scanned => 201,
            Self::Confirmed => 200,
            Self::Cancelled => 202,
            Self::Expired | Self::Redeemed => 400,
        }
    }

    /// Whether the browser has nothing left to wait for: the phone decided
    /// (confirmed — the ticket is out — or cancelled), the code expired, or
    /// it was redeemed. An event stream ends after one of these.
    pub fn is_settled(self) -> bool {
        !matches!(self, Self::Pending | Self::Scanned)
    }
}

/// Why a ticket was refused. Every reason gets the same answer (a client
/// learns nothing about which check failed); the reason is for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketProblem {
    /// Not a ticket's shape, or no session of that id is held.
    Unknown,
    /// Not this session's ticket.
    Wrong,
    /// The session is not (or no longer) confirmed: never confirmed,
    /// cancelled, or already redeemed.
    NotConfirmed,
    /// The ticket window after the confirm has passed.
    WindowPassed,
    /// Presented by a browser other than the one that created the session.
    OtherBrowser,
}

/// How a ticket's redeemer shows it is the browser that asked to log in.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// The session's poll token (the JSON exchange).
    PollToken(&'a Secret),
    /// The browser's binding cookie (the page navigation), if it sent one.
    BrowserCookie(Option<&'a Secret>),
}

/// A refused transition: the one place that decides who may do what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("missing or wrong poll token")]
    WrongPollToken,
    #[error("this QR code has expired")]
    Expired,
    #[error("this QR code was already scanned by another account")]
    ClaimedByAnotherUser,
    #[error("this login was already confirmed, cancelled or used")]
    AlreadyFinished,
    #[error("this QR code has not been scanned yet")]
    NotScanned,
    #[error("this login has not been confirmed on the phone")]
    NotConfirmed,
    #[error("the confirm token is wrong or belongs to another account")]
    WrongConfirmToken,
    #[error("the ticket is invalid, expired, already used, or belongs to another browser")]
    InvalidTicket(TicketProblem),
    #[error("this login asks for the number shown on the login page")]
    NumberRequired,
}

/// One QR login session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSession {
    pub id: QrId,
    pub poll_hash: PollTokenHash,
    /// Hash of the one-time ticket of generation `ticket_generation` (see
    /// [`crate::secret::login_ticket`]): generation 0 is fixed at creation,
    /// each [`LoginSession::new_ticket`] replaces it.
    pub ticket_hash: TicketHash,
    /// How many tickets were minted after the first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ticket_generation: u32,
    /// When the current ticket stops working (confirmed sessions); `None`
    /// in sessions stored by a version where `expires_at` was the ticket's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_expires_at: Option<Timestamp>,
    /// Hash of the creating browser's binding cookie: a ticket redeemed by
    /// page navigation only works in that browser.
    pub browser_hash: BrowserHash,
    pub request: RequestInfo,
    pub created_at: Timestamp,
    /// When the current phase stops being live: the QR's life, or the
    /// ticket's window once confirmed.
    pub expires_at: Timestamp,
    pub phase: Phase,
    /// Bumped by every transition; compare-and-set keys on it.
    pub version: u64,
    /// Set when a relying site asked for this login (`/oauth/authorize`):
    /// confirming it issues that site an authorization code.
    /// Boxed: held polls keep a session alive, and most logins have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Box<AuthorizationRequest>>,
    /// The number the login page shows, when `login.number_matching` is on:
    /// the phone must pick it to confirm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_number: Option<MatchNumber>,
    /// Set when a device (a TV, a CLI) asked for this login (RFC 8628): its
    /// QR shows the device's verification URI, no browser is involved, and
    /// only the device, holding the device code, can redeem it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Box<DeviceRequest>>,
    /// When the last transition happened (creation included): a held
    /// poll's wake-up latency is counted from it. `None` in sessions stored
    /// by a version that did not record it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<Timestamp>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What a redeemed ticket yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeemed {
    pub user: User,
    /// When the user authenticated: the `auth_time` of an OpenID Connect login.
    pub auth_time: Timestamp,
}

impl LoginSession {
    /// A fresh pending session living `ttl` from `now`.
    pub fn new(
        id: QrId,
        poll_hash: PollTokenHash,
        ticket_hash: TicketHash,
        browser_hash: BrowserHash,
        request: RequestInfo,
        now: Timestamp,
        ttl: Duration,
    ) -> Self {
        Self {
            id,
            poll_hash,
            ticket_hash,
            ticket_generation: 0,
            ticket_expires_at: None,
            browser_hash,
            request,
            created_at: now,
            expires_at: now.plus(ttl),
            phase: Phase::Pending,
            version: 1,
            authorization: None,
            match_number: None,
            device: None,
            changed_at: Some(now),
        }
    }

    /// The same session, its confirm asking for `number` (number matching).
    pub fn with_number(self, number: Option<MatchNumber>) -> Self {
        Self {
            match_number: number,
            ..self
        }
    }

    /// The same session, asked for by a relying site.
    pub fn for_client(self, authorization: Option<AuthorizationRequest>) -> Self {
        Self {
            authorization: authorization.map(Box::new),
            ..self
        }
    }

    /// The same session, asked for by a device.
    pub fn for_device(self, device: DeviceRequest) -> Self {
        Self {
            device: Some(Box::new(device)),
            ..self
        }
    }

    fn is_live_phase(&self) -> bool {
        matches!(
            self.phase,
            Phase::Pending | Phase::Scanned { .. } | Phase::Confirmed { .. }
        )
    }

    /// True once a live session's deadline has passed.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.is_live_phase() && now >= self.expires_at
    }

    pub fn state(&self, now: Timestamp) -> PublicState {
        if self.is_expired(now) {
            return PublicState::Expired;
        }
        match self.phase {
            Phase::Pending => PublicState::Pending,
            Phase::Scanned { .. } => PublicState::Scanned,
            Phase::Confirmed { .. } => PublicState::Confirmed,
            Phase::Cancelled { .. } => PublicState::Cancelled,
            Phase::Redeemed { .. } => PublicState::Redeemed,
        }
    }

    /// The user bound by a scan, if any.
    pub fn user(&self) -> Option<&User> {
        match &self.phase {
            Phase::Scanned { user, .. } | Phase::Confirmed { user, .. } => Some(user),
            _ => None,
        }
    }

    fn next(&self, now: Timestamp, phase: Phase) -> Self {
        Self {
            phase,
            version: self.version + 1,
            changed_at: Some(now),
            ..self.clone()
        }
    }

    fn cancelled(&self, now: Timestamp, reason: CancelReason) -> Self {
        self.next(
            now,
            Phase::Cancelled {
                reason: Some(reason),
            },
        )
    }

    /// Why the session was cancelled, if it was and that was recorded.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        match self.phase {
            Phase::Cancelled { reason } => reason,
            _ => None,
        }
    }

    fn ensure_live(&self, now: Timestamp) -> Result<(), TransitionError> {
        if self.is_expired(now) {
            Err(TransitionError::Expired)
        } else {
            Ok(())
        }
    }

    /// Whether `poll_token` may read this session's state (and, once it is
    /// confirmed, its ticket).
    pub fn authorize_poll(&self, poll_token: &Secret) -> Result<(), TransitionError> {
        if self.poll_hash.matches(poll_token) {
            Ok(())
        } else {
            Err(TransitionError::WrongPollToken)
        }
    }

    /// Whether the browser holding `poll_token` may act on this live session
    /// (give it up, mint a ticket). Never on a device's: a device simply
    /// stops polling to give up, and redeems with its device code, never a
    /// ticket — to the browser endpoints its session has no poll token.
    fn check_browser(&self, now: Timestamp, poll_token: &Secret) -> Result<(), TransitionError> {
        self.authorize_poll(poll_token)?;
        if self.device.is_some() {
            return Err(TransitionError::WrongPollToken);
        }
        self.ensure_live(now)
    }

    /// A phone scanned the code. The first scan claims the session for its
    /// user; the same user scanning again gets a new confirm token (the old
    /// one dies); anyone else is refused.
    pub fn scan(
        &self,
        now: Timestamp,
        user: &User,
        confirm_hash: ConfirmTokenHash,
    ) -> Result<Self, TransitionError> {
        self.ensure_live(now)?;
        match &self.phase {
            Phase::Pending => {}
            Phase::Scanned { user: owner, .. } if owner.id == user.id => {}
            Phase::Scanned { .. } => return Err(TransitionError::ClaimedByAnotherUser),
            Phase::Confirmed { .. } | Phase::Cancelled { .. } | Phase::Redeemed { .. } => {
                return Err(TransitionError::AlreadyFinished);
            }
        }
        Ok(self.next(
            now,
            Phase::Scanned {
                user: user.clone(),
                confirm_hash,
            },
        ))
    }

    /// Checks that `user_id` holding `confirm` may act on a scanned session.
    fn check_confirmer(
        &self,
        now: Timestamp,
        user_id: &str,
        confirm: &Secret,
    ) -> Result<&User, TransitionError> {
        self.ensure_live(now)?;
        match &self.phase {
            Phase::Scanned { user, confirm_hash } => {
                // Check the token first and always, so timing does not tell
                // whether the user id or the token was wrong.
                let token_ok = confirm_hash.matches(confirm);
                if token_ok && user.id == user_id {
                    Ok(user)
                } else {
                    Err(TransitionError::WrongConfirmToken)
                }
            }
            Phase::Pending => Err(TransitionError::NotScanned),
            Phase::Confirmed { .. } | Phase::Cancelled { .. } | Phase::Redeemed { .. } => {
                Err(TransitionError::AlreadyFinished)
            }
        }
    }

    /// The phone user tapped Confirm, having authenticated at
    /// `authenticated_at` (now, on the phone). The ticket works for
    /// `ticket_ttl` from now; the confirmed login lives the rest of the
    /// code's life, and at least as long as the ticket, so a browser can
    /// mint fresh tickets while its person reads the screen (and a device,
    /// which polls at its own pace, keeps its own life).
    ///
    /// With number matching, `pick` must be the page's number: none is
    /// refused (nothing changes), a wrong one cancels the login — the user
    /// does not see the page that asks, so the code was likely relayed.
    /// Either way the confirmer is checked first, so only the phone that
    /// scanned can spend the session's one pick.
    pub fn confirm(
        &self,
        now: Timestamp,
        user_id: &str,
        confirm: &Secret,
        pick: Option<MatchNumber>,
        ticket_ttl: Duration,
        authenticated_at: Timestamp,
    ) -> Result<Self, TransitionError> {
        let user = self.check_confirmer(now, user_id, confirm)?.clone();
        if let Some(expected) = self.match_number {
            match pick {
                None => return Err(TransitionError::NumberRequired),
                Some(pick) if pick != expected => {
                    return Ok(self.cancelled(now, CancelReason::WrongNumber));
                }
                Some(_) => {}
            }
        }
        let mut next = self.next(
            now,
            Phase::Confirmed {
                user,
                confirmed_at: authenticated_at.min(now),
            },
        );
        let ticket_deadline = now.plus(ticket_ttl);
        next.expires_at = self.expires_at.max(ticket_deadline);
        next.ticket_expires_at = Some(ticket_deadline);
        Ok(next)
    }

    /// The phone user tapped Cancel.
    pub fn cancel_by_phone(
        &self,
        now: Timestamp,
        user_id: &str,
        confirm: &Secret,
    ) -> Result<Self, TransitionError> {
        self.check_confirmer(now, user_id, confirm)?;
        Ok(self.cancelled(now, CancelReason::Phone))
    }

    /// The browser holding the poll token gave up on this code (e.g. it
    /// asked for a new one).
    pub fn cancel_by_browser(
        &self,
        now: Timestamp,
        poll_token: &Secret,
    ) -> Result<Self, TransitionError> {
        self.check_browser(now, poll_token)?;
        match self.phase {
            Phase::Pending | Phase::Scanned { .. } => {
                Ok(self.cancelled(now, CancelReason::Browser))
            }
            _ => Err(TransitionError::AlreadyFinished),
        }
    }

    /// The browser traded its ticket for a login: allowed once, inside the
    /// ticket window, and only to the browser that created the session
    /// (`proof`). Returns the new session and the user to log in.
    ///
    /// A wrong poll token is refused as such (401) before the ticket is
    /// looked at, so it never burns the ticket; every ticket problem is
    /// [`TransitionError::InvalidTicket`].
    pub fn redeem(
        &self,
        now: Timestamp,
        ticket: &Secret,
        proof: Proof<'_>,
    ) -> Result<(Self, Redeemed), TransitionError> {
        use TicketProblem as P;
        let refuse = |p| Err(TransitionError::InvalidTicket(p));
        // A device's login is the device's to redeem, at the token endpoint
        // with its device code; no browser ever gets a cookie from it.
        if self.device.is_some() {
            return refuse(P::Unknown);
        }
        match proof {
            Proof::PollToken(token) => self.authorize_poll(token)?,
            Proof::BrowserCookie(cookie) => {
                if !cookie.is_some_and(|c| self.browser_hash.matches(c)) {
                    return refuse(P::OtherBrowser);
                }
            }
        }
        if !self.ticket_hash.matches(ticket) {
            return refuse(P::Wrong);
        }
        match &self.phase {
            Phase::Confirmed { user, confirmed_at }
                if !self.is_expired(now) && now < self.ticket_deadline() =>
            {
                let next = self.next(
                    now,
                    Phase::Redeemed {
                        user_id: user.id.clone(),
                    },
                );
                let redeemed = Redeemed {
                    user: user.clone(),
                    auth_time: *confirmed_at,
                };
                Ok((next, redeemed))
            }
            Phase::Confirmed { .. } => refuse(P::WindowPassed),
            _ => refuse(P::NotConfirmed),
        }
    }

    /// When the current ticket stops working.
    pub fn ticket_deadline(&self) -> Timestamp {
        self.ticket_expires_at.unwrap_or(self.expires_at)
    }

    /// The browser holding the poll token asks for a fresh ticket for its
    /// confirmed login (the one it had may have run out while its person
    /// read the screen): the old ticket stops working, the new one, whose
    /// hash is `ticket_hash`, works for `ticket_ttl` (within the session's life).
    pub fn new_ticket(
        &self,
        now: Timestamp,
        poll_token: &Secret,
        ticket_hash: TicketHash,
        ticket_ttl: Duration,
    ) -> Result<Self, TransitionError> {
        self.check_browser(now, poll_token)?;
        match self.phase {
            Phase::Confirmed { .. } => {
                let mut next = self.next(now, self.phase.clone());
                next.ticket_generation = self.ticket_generation + 1;
                next.ticket_hash = ticket_hash;
                next.ticket_expires_at = Some(now.plus(ticket_ttl).min(self.expires_at));
                Ok(next)
            }
            Phase::Pending | Phase::Scanned { .. } => Err(TransitionError::NotConfirmed),
            Phase::Cancelled { .. } | Phase::Redeemed { .. } => {
                Err(TransitionError::AlreadyFinished)
            }
        }
    }

    /// The device holding `device_code` (this session's poll token) takes
    /// the confirmed login: allowed once, inside the ticket window.
    pub fn redeem_device(
        &self,
        now: Timestamp,
        device_code: &Secret,
    ) -> Result<(Self, Redeemed), TransitionError> {
        self.authorize_poll(device_code)?;
        if self.device.is_none() {
            return Err(TransitionError::InvalidTicket(TicketProblem::Unknown));
        }
        self.ensure_live(now)?;
        match &self.phase {
            Phase::Confirmed { user, confirmed_at } => Ok((
                self.next(
                    now,
                    Phase::Redeemed {
                        user_id: user.id.clone(),
                    },
                ),
                Redeemed {
                    user: user.clone(),
                    auth_time: *confirmed_at,
                },
            )),
            Phase::Pending | Phase::Scanned { .. } => Err(TransitionError::NotScanned),
            Phase::Cancelled { .. } | Phase::Redeemed { .. } => {
                Err(TransitionError::AlreadyFinished)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    const TTL: Duration = Duration::from_secs(300);
    const TICKET: Duration = Duration::from_secs(60);

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + secs * 1000)
    }
    fn user(id: &str) -> User {
        User {
            id: id.into(),
            name: id.to_uppercase(),
            avatar: None,
        }
    }
    /// The poll token of every test session (its creating page's).
    fn poll() -> Secret {
        Secret::from_client("the-poll-token-of-the-page")
    }
    /// The binding cookie of the browser that created every test session.
    fn browser() -> Secret {
        Secret::from_client("the-binding-cookie-of-the-browser")
    }
    fn as_poller() -> Proof<'static> {
        static POLL: std::sync::LazyLock<Secret> = std::sync::LazyLock::new(poll);
        Proof::PollToken(&POLL)
    }
    fn fresh() -> LoginSession {
        let id = QrId::generate();
        LoginSession::new(
            id.clone(),
            PollTokenHash::of(&poll()),
            TicketHash::of(&crate::secret::login_ticket(&poll(), &id)),
            BrowserHash::of(&browser()),
            RequestInfo {
                ip: "127.0.0.1".into(),
                user_agent: "test".into(),
            },
            t(0),
            TTL,
        )
    }
    fn scanned(by: &str) -> (LoginSession, Secret) {
        let c = Secret::generate();
        (
            fresh()
                .scan(t(1), &user(by), ConfirmTokenHash::of(&c))
                .unwrap(),
            c,
        )
    }
    /// A session scanned by alice, with its confirm token and ticket.
    fn with_ticket() -> (LoginSession, Secret, Secret) {
        let (s, c) = scanned("alice");
        let ticket = crate::secret::login_ticket(&poll(), &s.id);
        (s, c, ticket)
    }
    fn bad_ticket(p: TicketProblem) -> TransitionError {
        TransitionError::InvalidTicket(p)
    }

    #[test]
    fn ids_are_128_bit_url_safe_and_parse_strictly() {
        let id = QrId::generate();
        assert_eq!(id.as_str().len(), QR_ID_LEN);
        assert_eq!(QrId::parse(id.as_str()), Some(id.clone()));
        assert_ne!(id, QrId::generate());
        for bad in [
            "",
            "short",
            &"a".repeat(23),
            "aaaaaaaaaaaaaaaaaaaaa/",
            "aaaaaaaaaaaaaaaaaaaaa=",
        ] {
            assert_eq!(QrId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn happy_path_pending_scanned_confirmed_redeemed() {
        let s = fresh();
        assert_eq!(s.state(t(0)), PublicState::Pending);
        let (s, c, ticket) = with_ticket();
        assert_eq!(s.state(t(1)), PublicState::Scanned);
        assert_eq!(s.user().unwrap().id, "alice");
        let s2 = s.confirm(t(2), "alice", &c, None, TICKET, t(2)).unwrap();
        assert_eq!(s2.state(t(2)), PublicState::Confirmed);
        // The login lives the rest of the code's life; the ticket, a minute.
        assert_eq!(s2.expires_at, t(300));
        assert_eq!(s2.ticket_deadline(), t(62));
        assert!(s2.version > s.version);
        let (s3, r) = s2.redeem(t(3), &ticket, as_poller()).unwrap();
        assert_eq!(r.user.id, "alice");
        assert_eq!(
            r.auth_time,
            t(2),
            "auth_time is the confirm, not the redeem"
        );
        assert_eq!(s3.state(t(3)), PublicState::Redeemed);
        // Redeemed is terminal and does not turn into "expired".
        assert_eq!(s3.state(t(10_000)), PublicState::Redeemed);
    }

    #[test]
    fn every_transition_bumps_the_version() {
        let s = fresh();
        let (s1, c) = scanned("alice");
        assert_eq!(s1.version, s.version + 1);
        let s2 = s1
            .scan(
                t(2),
                &user("alice"),
                ConfirmTokenHash::of(&Secret::generate()),
            )
            .unwrap();
        assert_eq!(s2.version, s1.version + 1);
        let s3 = s1.cancel_by_phone(t(2), "alice", &c).unwrap();
        assert_eq!(s3.version, s1.version + 1);
        // ...and records when it happened (a held poll's wake-up counts from it).
        assert_eq!(s.changed_at, Some(s.created_at));
        assert_eq!((s2.changed_at, s3.changed_at), (Some(t(2)), Some(t(2))));
    }

    #[test]
    fn confirm_before_scan_is_refused() {
        let c = Secret::generate();
        assert_eq!(
            fresh().confirm(t(1), "alice", &c, None, TICKET, t(1)),
            Err(TransitionError::NotScanned)
        );
        assert_eq!(
            fresh().cancel_by_phone(t(1), "alice", &c),
            Err(TransitionError::NotScanned)
        );
    }

    #[test]
    fn a_second_user_cannot_claim_a_scanned_session() {
        let (s, _) = scanned("alice");
        assert_eq!(
            s.scan(
                t(2),
                &user("mallory"),
                ConfirmTokenHash::of(&Secret::generate())
            ),
            Err(TransitionError::ClaimedByAnotherUser)
        );
    }

    #[test]
    fn rescan_by_the_same_user_kills_the_old_confirm_token() {
        let (s, old) = scanned("alice");
        let new = Secret::generate();
        let s = s
            .scan(t(2), &user("alice"), ConfirmTokenHash::of(&new))
            .unwrap();
        assert_eq!(
            s.confirm(t(3), "alice", &old, None, TICKET, t(3)),
            Err(TransitionError::WrongConfirmToken)
        );
        assert!(s.confirm(t(3), "alice", &new, None, TICKET, t(3)).is_ok());
    }

    #[test]
    fn confirm_with_another_users_or_a_wrong_token_is_refused() {
        let (s, c) = scanned("alice");
        assert_eq!(
            s.confirm(t(2), "mallory", &c, None, TICKET, t(2)),
            Err(TransitionError::WrongConfirmToken)
        );
        assert_eq!(
            s.confirm(t(2), "alice", &Secret::generate(), None, TICKET, t(2)),
            Err(TransitionError::WrongConfirmToken)
        );
        assert_eq!(
            s.cancel_by_phone(t(2), "mallory", &c),
            Err(TransitionError::WrongConfirmToken)
        );
    }

    #[test]
    fn nothing_moves_after_cancel() {
        let (s, c) = scanned("alice");
        let s = s.cancel_by_phone(t(2), "alice", &c).unwrap();
        assert_eq!(s.state(t(2)), PublicState::Cancelled);
        assert_eq!(
            s.confirm(t(3), "alice", &c, None, TICKET, t(3)),
            Err(TransitionError::AlreadyFinished)
        );
        assert_eq!(
            s.scan(t(3), &user("alice"), ConfirmTokenHash::of(&c)),
            Err(TransitionError::AlreadyFinished)
        );
        assert_eq!(
            s.cancel_by_browser(t(3), &poll()),
            Err(TransitionError::AlreadyFinished)
        );
        // Terminal states are not reported as expired.
        assert_eq!(s.state(t(10_000)), PublicState::Cancelled);
    }

    #[test]
    fn nothing_moves_after_confirm_except_redeem() {
        let (s, c) = scanned("alice");
        let s = s.confirm(t(2), "alice", &c, None, TICKET, t(2)).unwrap();
        assert_eq!(
            s.confirm(t(3), "alice", &c, None, TICKET, t(3)),
            Err(TransitionError::AlreadyFinished)
        );
        assert_eq!(
            s.scan(t(3), &user("alice"), ConfirmTokenHash::of(&c)),
            Err(TransitionError::AlreadyFinished)
        );
        assert_eq!(
            s.cancel_by_phone(t(3), "alice", &c),
            Err(TransitionError::AlreadyFinished)
        );
        assert_eq!(
            s.cancel_by_browser(t(3), &poll()),
            Err(TransitionError::AlreadyFinished)
        );
    }

    #[test]
    fn a_ticket_redeems_once() {
        let (s, c, ticket) = with_ticket();
        let s = s.confirm(t(2), "alice", &c, None, TICKET, t(2)).unwrap();
        let (s, _) = s.redeem(t(3), &ticket, as_poller()).unwrap();
        assert_eq!(
            s.redeem(t(4), &ticket, as_poller()).unwrap_err(),
            bad_ticket(TicketProblem::NotConfirmed)
        );
    }

    #[test]
    fn redeem_needs_the_right_ticket() {
        let (s, c, _) = with_ticket();
        let s = s.confirm(t(2), "alice", &c, None, TICKET, t(2)).unwrap();
        assert_eq!(
            s.redeem(t(3), &Secret::generate(), as_poller())
                .unwrap_err(),
            bad_ticket(TicketProblem::Wrong)
        );
        assert_eq!(s.state(t(3)), PublicState::Confirmed);
    }

    #[test]
    fn redeem_before_confirm_or_after_cancel_is_refused() {
        let (s, c, ticket) = with_ticket();
        assert_eq!(
            s.redeem(t(1), &ticket, as_poller()).unwrap_err(),
            bad_ticket(TicketProblem::NotConfirmed)
        );
        let cancelled = s.cancel_by_phone(t(2), "alice", &c).unwrap();
        assert_eq!(
            cancelled.redeem(t(3), &ticket, as_poller()).unwrap_err(),
            bad_ticket(TicketProblem::NotConfirmed)
        );
    }

    #[test]
    fn everything_is_refused_after_expiry() {
        let late = t(300);
        let s = fresh();
        assert_eq!(s.state(t(299)), PublicState::Pending);
        assert_eq!(s.state(late), PublicState::Expired);
        assert_eq!(
            s.scan(
                late,
                &user("alice"),
                ConfirmTokenHash::of(&Secret::generate())
            ),
            Err(TransitionError::Expired)
        );
        assert_eq!(
            s.cancel_by_browser(late, &poll()),
            Err(TransitionError::Expired)
        );

        let (s, c) = scanned("alice");
        assert_eq!(s.state(late), PublicState::Expired);
        assert_eq!(
            s.confirm(late, "alice", &c, None, TICKET, late),
            Err(TransitionError::Expired)
        );
        assert_eq!(
            s.cancel_by_phone(late, "alice", &c),
            Err(TransitionError::Expired)
        );

        let (s, c, ticket) = with_ticket();
        let s = s.confirm(t(2), "alice", &c, None, TICKET, t(2)).unwrap();
        // The ticket's window passed; the login is still there to finish.
        assert_eq!(s.state(t(62)), PublicState::Confirmed);
        assert_eq!(
            s.redeem(t(62), &ticket, as_poller()).unwrap_err(),
            bad_ticket(TicketProblem::WindowPassed)
        );
        assert_eq!(s.state(late), PublicState::Expired);
        let fresh_ticket = TicketHash::of(&Secret::generate());
        assert_eq!(
            s.new_ticket(late, &poll(), fresh_ticket, TICKET),
            Err(TransitionError::Expired)
        );
    }

    #[test]
    fn a_code_confirmed_late_still_gets_the_whole_ticket_window() {
        let (s, c) = scanned("alice");
        let s = s
            .confirm(t(290), "alice", &c, None, TICKET, t(290))
            .unwrap();
        assert_eq!((s.expires_at, s.ticket_deadline()), (t(350), t(350)));
        assert_eq!(s.state(t(349)), PublicState::Confirmed);
    }

    #[test]
    fn a_fresh_ticket_replaces_the_old_one_and_is_single_use() {
        let (s, c, first) = with_ticket();
        let s = s.confirm(t(2), "alice", &c, None, TICKET, t(2)).unwrap();
        let second = crate::secret::login_ticket_at(&poll(), &s.id, 1);
        let renewed = s
            .new_ticket(t(100), &poll(), TicketHash::of(&second), TICKET)
            .unwrap();
        assert!(renewed.version > s.version);
        assert_eq!(renewed.ticket_generation, 1);
        assert_eq!(renewed.ticket_deadline(), t(160));
        assert_eq!(renewed.state(t(100)), PublicState::Confirmed);
        // The first ticket died with the renewal.
        assert_eq!(
            renewed.redeem(t(101), &first, as_poller()).unwrap_err(),
            bad_ticket(TicketProblem::Wrong)
        );
        // The new one works once, and only in the browser that asked.
        let stranger = Secret::generate();
        assert_eq!(
            renewed
                .redeem(t(101), &second, Proof::BrowserCookie(Some(&stranger)))
                .unwrap_err(),
            bad_ticket(TicketProblem::OtherBrowser)
        );
        let (done, r) = renewed
            .redeem(t(101), &second, Proof::BrowserCookie(Some(&browser())))
            .unwrap();
        assert_eq!(r.user.id, "alice");
        assert_eq!(
            done.redeem(t(102), &second, as_poller()).unwrap_err(),
            bad_ticket(TicketProblem::NotConfirmed)
        );
        // No ticket outlives the login itself.
        let last = renewed
            .new_ticket(t(280), &poll(), TicketHash::of(&first), TICKET)
            .unwrap();
        assert_eq!(last.ticket_deadline(), t(300));
    }

    #[test]
    fn only_the_poll_token_mints_tickets_and_only_for_a_confirmed_login() {
        let hash = || TicketHash::of(&Secret::generate());
        let (scanned_s, c) = scanned("alice");
        assert_eq!(
            scanned_s.new_ticket(t(2), &poll(), hash(), TICKET),
            Err(TransitionError::NotConfirmed)
        );
        assert_eq!(
            fresh().new_ticket(t(2), &poll(), hash(), TICKET),
            Err(TransitionError::NotConfirmed)
        );
        let confirmed = scanned_s
            .confirm(t(2), "alice", &c, None, TICKET, t(2))
            .unwrap();
        assert_eq!(
            confirmed.new_ticket(t(3), &Secret::generate(), hash(), TICKET),
            Err(TransitionError::WrongPollToken)
        );
        let cancelled = fresh().cancel_by_browser(t(1), &poll()).unwrap();
        assert_eq!(
            cancelled.new_ticket(t(2), &poll(), hash(), TICKET),
            Err(TransitionError::AlreadyFinished)
        );
    }

    #[test]
    fn browser_may_cancel_pending_or_scanned() {
        assert_eq!(
            fresh()
                .cancel_by_browser(t(1), &poll())
                .unwrap()
                .state(t(1)),
            PublicState::Cancelled
        );
        assert_eq!(
            scanned("alice")
                .0
                .cancel_by_browser(t(2), &poll())
                .unwrap()
                .state(t(2)),
            PublicState::Cancelled
        );
    }

    #[test]
    fn only_the_poll_token_reads_or_abandons_a_session() {
        let s = fresh();
        assert_eq!(s.authorize_poll(&poll()), Ok(()));
        let stranger = Secret::generate();
        assert_eq!(
            s.authorize_poll(&stranger),
            Err(TransitionError::WrongPollToken)
        );
        assert_eq!(
            s.cancel_by_browser(t(1), &stranger),
            Err(TransitionError::WrongPollToken)
        );
    }

    #[test]
    fn a_wrong_poll_token_is_refused_before_the_ticket_is_looked_at() {
        let (s, c, ticket) = with_ticket();
        let s = s.confirm(t(2), "alice", &c, None, TICKET, t(2)).unwrap();
        let stranger = Secret::generate();
        assert_eq!(
            s.redeem(t(3), &ticket, Proof::PollToken(&stranger))
                .unwrap_err(),
            TransitionError::WrongPollToken
        );
        // Even with a wrong ticket too: the caller is told it is not the page.
        assert_eq!(
            s.redeem(t(3), &Secret::generate(), Proof::PollToken(&stranger))
                .unwrap_err(),
            TransitionError::WrongPollToken
        );
        assert!(s.redeem(t(3), &ticket, as_poller()).is_ok());
    }

    #[test]
    fn a_ticket_by_navigation_works_only_in_the_browser_that_asked() {
        let (s, c, ticket) = with_ticket();
        let s = s.confirm(t(2), "alice", &c, None, TICKET, t(2)).unwrap();
        let other = Secret::generate();
        for proof in [
            Proof::BrowserCookie(None),
            Proof::BrowserCookie(Some(&other)),
        ] {
            assert_eq!(
                s.redeem(t(3), &ticket, proof).unwrap_err(),
                bad_ticket(TicketProblem::OtherBrowser)
            );
        }
        let mine = browser();
        let (next, user) = s
            .redeem(t(3), &ticket, Proof::BrowserCookie(Some(&mine)))
            .unwrap();
        assert_eq!(user.user.id, "alice");
        assert_eq!(next.state(t(3)), PublicState::Redeemed);
    }

    /// A device's session: the device code is its poll token.
    fn device_session() -> LoginSession {
        let device = crate::oidc::DeviceRequest {
            client_id: "tv".into(),
            scope: crate::oidc::Scope::parse("openid"),
            user_code: crate::oidc::UserCode::parse("WDJB-MJHT").unwrap(),
        };
        fresh().for_device(device)
    }

    #[test]
    fn only_the_device_redeems_its_confirmed_login_once() {
        let code = poll();
        let s = device_session();
        assert_eq!(
            s.redeem_device(t(0), &code).unwrap_err(),
            TransitionError::NotScanned
        );
        let c = Secret::generate();
        let s = s
            .scan(t(1), &user("alice"), ConfirmTokenHash::of(&c))
            .unwrap();
        assert_eq!(
            s.redeem_device(t(1), &code).unwrap_err(),
            TransitionError::NotScanned
        );
        let s = s.confirm(t(2), "alice", &c, None, TICKET, t(2)).unwrap();
        // Not with another code, and never by a browser's ticket.
        assert_eq!(
            s.redeem_device(t(3), &Secret::generate()).unwrap_err(),
            TransitionError::WrongPollToken
        );
        let ticket = crate::secret::login_ticket(&code, &s.id);
        assert_eq!(
            s.redeem(t(3), &ticket, as_poller()).unwrap_err(),
            TransitionError::InvalidTicket(TicketProblem::Unknown)
        );
        let (done, redeemed) = s.redeem_device(t(3), &code).unwrap();
        assert_eq!(redeemed.user.id, "alice");
        assert_eq!(redeemed.auth_time, t(2));
        assert_eq!(done.state(t(3)), PublicState::Redeemed);
        assert_eq!(
            done.redeem_device(t(4), &code).unwrap_err(),
            TransitionError::AlreadyFinished
        );
        // A device polls at its own pace: its confirmed login lasts the
        // rest of its life (TTL), not just the ticket window...
        assert!(s.redeem_device(t(2 + 60), &code).is_ok());
        assert_eq!(
            s.redeem_device(t(300), &code).unwrap_err(),
            TransitionError::Expired
        );
        // ...and at least the ticket window when confirmed near its end; a
        // browser's login, confirmed from a browser logged in earlier,
        // keeps that earlier login's time.
        let c = Secret::generate();
        let late = device_session()
            .scan(t(290), &user("alice"), ConfirmTokenHash::of(&c))
            .unwrap()
            .confirm(t(295), "alice", &c, None, TICKET, t(100))
            .unwrap();
        assert!(late.redeem_device(t(295 + 59), &code).is_ok());
        let (_, redeemed) = late.redeem_device(t(296), &code).unwrap();
        assert_eq!(redeemed.auth_time, t(100));
        assert_eq!(
            late.redeem_device(t(295 + 60), &code).unwrap_err(),
            TransitionError::Expired
        );
    }

    #[test]
    fn a_browser_session_is_not_a_device_s() {
        let (s, c) = scanned("alice");
        let s = s.confirm(t(2), "alice", &c, None, TICKET, t(2)).unwrap();
        assert_eq!(
            s.redeem_device(t(3), &poll()).unwrap_err(),
            TransitionError::InvalidTicket(TicketProblem::Unknown)
        );
    }

    /// A session asking for number 42, scanned by alice.
    fn scanned_with_number() -> (LoginSession, Secret) {
        let c = Secret::generate();
        let s = fresh()
            .with_number(MatchNumber::new(42))
            .scan(t(1), &user("alice"), ConfirmTokenHash::of(&c))
            .unwrap();
        (s, c)
    }

    #[test]
    fn number_matching_confirms_only_with_the_page_s_number() {
        let (s, c) = scanned_with_number();
        let right = MatchNumber::new(42);
        let next = s.confirm(t(2), "alice", &c, right, TICKET, t(2)).unwrap();
        assert_eq!(next.state(t(2)), PublicState::Confirmed);
        // Without number matching a pick changes nothing.
        let (plain, c2) = scanned("alice");
        let next = plain
            .confirm(t(2), "alice", &c2, MatchNumber::new(11), TICKET, t(2))
            .unwrap();
        assert_eq!(next.state(t(2)), PublicState::Confirmed);
    }

    #[test]
    fn a_missing_pick_is_refused_and_changes_nothing() {
        let (s, c) = scanned_with_number();
        assert_eq!(
            s.confirm(t(2), "alice", &c, None, TICKET, t(2)),
            Err(TransitionError::NumberRequired)
        );
        // The refusal left nothing behind: the right pick still works.
        assert!(
            s.confirm(t(3), "alice", &c, MatchNumber::new(42), TICKET, t(3))
                .is_ok()
        );
    }

    #[test]
    fn a_wrong_pick_cancels_the_login_for_good() {
        let (s, c) = scanned_with_number();
        let refused = s
            .confirm(t(2), "alice", &c, MatchNumber::new(43), TICKET, t(2))
            .unwrap();
        assert_eq!(refused.state(t(2)), PublicState::Cancelled);
        assert_eq!(refused.cancel_reason(), Some(CancelReason::WrongNumber));
        assert_eq!(refused.version, s.version + 1);
        // No second guess, no rescan.
        assert_eq!(
            refused.confirm(t(3), "alice", &c, MatchNumber::new(42), TICKET, t(3)),
            Err(TransitionError::AlreadyFinished)
        );
        assert_eq!(
            refused.scan(t(3), &user("alice"), ConfirmTokenHash::of(&c)),
            Err(TransitionError::AlreadyFinished)
        );
    }

    #[test]
    fn only_the_scanning_phone_can_spend_the_pick() {
        let (s, c) = scanned_with_number();
        for (who, token) in [("mallory", c.clone()), ("alice", Secret::generate())] {
            assert_eq!(
                s.confirm(t(2), who, &token, MatchNumber::new(43), TICKET, t(2)),
                Err(TransitionError::WrongConfirmToken),
                "{who}"
            );
        }
        // Not before a scan either.
        let pending = fresh().with_number(MatchNumber::new(42));
        assert_eq!(
            pending.confirm(t(2), "alice", &c, MatchNumber::new(43), TICKET, t(2)),
            Err(TransitionError::NotScanned)
        );
    }

    #[test]
    fn each_cancel_records_who_cancelled() {
        let (s, c) = scanned("alice");
        let by_phone = s.cancel_by_phone(t(2), "alice", &c).unwrap();
        assert_eq!(by_phone.cancel_reason(), Some(CancelReason::Phone));
        let by_browser = s.cancel_by_browser(t(2), &poll()).unwrap();
        assert_eq!(by_browser.cancel_reason(), Some(CancelReason::Browser));
        assert_eq!(s.cancel_reason(), None);
    }

    #[test]
    fn sessions_stored_before_reasons_and_numbers_still_read() {
        // What an older version wrote: a reasonless cancel, no number.
        let (s, c) = scanned("alice");
        let mut json: serde_json::Value =
            serde_json::to_value(s.cancel_by_phone(t(2), "alice", &c).unwrap()).unwrap();
        json["phase"] = serde_json::json!({"phase": "cancelled"});
        let old: LoginSession = serde_json::from_value(json).unwrap();
        assert_eq!(old.state(t(3)), PublicState::Cancelled);
        assert_eq!(old.cancel_reason(), None);
        assert_eq!(old.match_number, None);
        // And the new fields round-trip.
        let (s, _) = scanned_with_number();
        let back: LoginSession = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back.match_number, MatchNumber::new(42));
    }

    #[test]
    fn wechat_codes_and_state_names() {
        use PublicState::*;
        for (s, code, name, settled) in [
            (Pending, 408, "pending", false),
            (Scanned, 201, "scanned", false),
            (Confirmed, 200, "confirmed", true),
            (Cancelled, 202, "cancelled", true),
            (Expired, 400, "expired", true),
            (Redeemed, 400, "redeemed", true),
        ] {
            assert_eq!(s.wechat_code(), code);
            assert_eq!(s.is_settled(), settled, "{name}");
            assert_eq!(s.as_str(), name);
            assert_eq!(PublicState::parse(name), Some(s));
        }
        assert_eq!(PublicState::parse("PENDING"), None);
    }

    #[test]
    fn session_round_trips_through_json_without_secrets() {
        let (s, c) = scanned("alice");
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains(c.expose()));
        let back: LoginSession = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
