//! The login service: one method per thing a browser or phone can ask. It
//! knows nothing of HTTP; handlers are thin delegations into it.
//!
//! Every change to a QR session is read → pure transition (which decides
//! who may do what, in `session.rs`) → compare-and-set, retried when another
//! writer won the race, so concurrent requests are serialised by the store
//! without locks held across awaits.

mod error;
mod held;
mod watch;

pub use error::LoginError;
pub use held::{Held, MAX_HELD_PER_QR, budget_for_open_files, held_connection_budget};
pub use watch::Change;

use crate::clock::{Clock, Timestamp};
use crate::config::LoginConfig;
use crate::number_match::{CHOICES, MatchNumber};
use crate::observe::{CancelledBy, Event, Observer, QrKind};
use crate::oidc::{AuthorizationRequest, DeviceRequest};
use crate::secret::{
    BrowserHash, ConfirmTokenHash, PollTokenHash, Secret, TicketHash, login_ticket,
    login_ticket_at, ticket_qr_id,
};
use crate::session::{
    CancelReason, LoginSession, Proof, PublicState, QrId, Redeemed, RequestInfo, TicketProblem,
    TransitionError, User,
};
use crate::store::{AccountSession, SessionStore, Store};
use crate::user_sessions::Member;
use held::{HeldBudget, HeldKind};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often a transition is retried after losing a compare-and-set race.
const MAX_CAS_ATTEMPTS: usize = 16;

/// A freshly created QR session, as its browser learns it.
#[derive(Debug)]
pub struct NewQr {
    pub id: QrId,
    pub poll_token: Secret,
    pub expires_in: Duration,
    /// The number the page shows, with `login.number_matching`.
    pub match_number: Option<MatchNumber>,
}

/// What a status poll answers.
#[derive(Debug)]
pub struct PollAnswer {
    pub id: QrId,
    pub state: PublicState,
    /// The phone user, once scanned.
    pub user: Option<User>,
    /// The one-time ticket, once confirmed.
    pub ticket: Option<Secret>,
    /// Once confirmed: how long the browser may still finish the login
    /// (with fresh tickets, [`LoginService::new_ticket`]).
    pub expires_in: Option<Duration>,
    /// The relying site's request, when a site asked for this login.
    pub authorization: Option<AuthorizationRequest>,
    /// Why it was cancelled, once cancelled.
    pub cancel_reason: Option<CancelReason>,
}

/// What the phone learns when it scans.
#[derive(Debug)]
pub struct ScanAnswer {
    pub id: QrId,
    pub confirm_token: Secret,
    pub expires_in: Duration,
    pub request: RequestInfo,
    pub created_at: Timestamp,
    /// The relying site's request, if a site asked.
    pub authorization: Option<AuthorizationRequest>,
    /// The device's request, if a device asked (RFC 8628).
    pub device: Option<DeviceRequest>,
    /// With number matching: the page's number among two wrong ones, in
    /// random order, for the phone to offer.
    pub choices: Option<[MatchNumber; CHOICES]>,
}

/// A new browser login: the cookie value and what it stands for.
#[derive(Debug)]
pub struct NewLogin {
    pub cookie: Secret,
    pub account: AccountSession,
    /// When the phone confirmed (`auth_time`).
    pub confirmed_at: Timestamp,
    /// The relying site's request this login answers, if a site asked.
    pub authorization: Option<AuthorizationRequest>,
}

/// The login operations over a store and a clock. A cheap-to-clone handle:
/// every field is itself a handle onto shared state.
#[derive(Clone, Debug)]
pub struct LoginService {
    store: Store,
    clock: Clock,
    policy: LoginConfig,
    /// Cancelled when the server starts shutting down: held polls answer at once.
    shutdown: CancellationToken,
    /// Where the login steps are reported (metrics, audit log).
    observer: Observer,
    /// Long polls and event streams waiting, against `limits.max_held_connections`.
    held: HeldBudget,
}

type Result<T, E = LoginError> = std::result::Result<T, E>;

impl LoginService {
    /// The service over `store`, reading time from `clock`, with the
    /// lifetimes of `policy`.
    pub fn new(store: Store, clock: Clock, policy: LoginConfig) -> Self {
        Self {
            store,
            clock,
            policy,
            shutdown: CancellationToken::new(),
            observer: Observer::disabled(),
            held: HeldBudget::new(usize::MAX),
        }
    }

    /// The same service, reporting every step to `observer`.
    pub fn with_observer(self, observer: Observer) -> Self {
        Self { observer, ..self }
    }

    /// Where this service reports its steps.
    pub fn observer(&self) -> &Observer {
        &self.observer
    }

    /// The same service, holding at most `max` connections (long polls and
    /// event streams together); past it a new one is refused with
    /// [`LoginError::Busy`]. Unlimited unless set (one session's share,
    /// [`MAX_HELD_PER_QR`], applies either way).
    #[must_use]
    pub fn with_max_held(self, max: usize) -> Self {
        Self {
            held: HeldBudget::new(max),
            ..self
        }
    }

    /// How many long polls and event streams are held right now.
    pub fn held(&self) -> Held {
        self.held.held()
    }

    /// Reads [`LoginService::held`] without keeping the service alive (for
    /// the metrics' gauges: the service's own observer holds the metrics).
    pub fn held_reader(&self) -> impl Fn() -> Held + Send + Sync + 'static {
        let held = self.held.clone();
        move || held.held()
    }

    /// The most connections held at once (`limits.max_held_connections`).
    pub fn max_held(&self) -> usize {
        self.held.max()
    }

    /// The store (for readiness checks, sweeping, and tests).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clock every operation reads "now" from (tests advance it).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The lifetimes this service applies.
    pub fn policy(&self) -> &LoginConfig {
        &self.policy
    }

    /// Makes every held poll answer at once (the server is stopping).
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }

    /// Resolves once [`LoginService::shut_down`] was called.
    pub async fn stopping(&self) {
        self.shutdown.cancelled().await;
    }

    /// Starts a QR login for the browser described by `request`, bound to
    /// the browser holding the `browser` cookie; `authorization` when a
    /// relying site asked for it.
    #[tracing::instrument(skip_all)]
    pub async fn create_qr(
        &self,
        request: RequestInfo,
        browser: &Secret,
        authorization: Option<AuthorizationRequest>,
    ) -> Result<NewQr> {
        let ttl = self.policy.qr_ttl;
        let poll_token = Secret::generate();
        let match_number = self.policy.number_matching.then(MatchNumber::generate);
        let id = self
            .insert_new(|id| {
                LoginSession::new(
                    id.clone(),
                    PollTokenHash::of(&poll_token),
                    TicketHash::of(&login_ticket(&poll_token, id)),
                    BrowserHash::of(browser),
                    request.clone(),
                    self.clock.now(),
                    ttl,
                )
                .for_client(authorization.clone())
                .with_number(match_number)
            })
            .await?;
        tracing::info!(qr = %id, "qr session created");
        self.observer.emit(Event::QrCreated {
            qr: &id,
            kind: if authorization.is_some() {
                QrKind::Site
            } else {
                QrKind::Browser
            },
            client: authorization.as_ref().map(|a| a.client_id.as_str()),
            request: &request,
        });
        Ok(NewQr {
            id,
            poll_token,
            expires_in: ttl,
            match_number,
        })
    }

    /// Stores the session `make` builds around a fresh id. A collision of
    /// 128-bit random ids is practically impossible, but `insert` never
    /// overwrites, so on one it simply draws again.
    async fn insert_new(&self, make: impl Fn(&QrId) -> LoginSession) -> Result<QrId> {
        loop {
            let id = QrId::generate();
            if self.store.insert(&make(&id)).await? {
                return Ok(id);
            }
        }
    }

    /// Starts the QR session of a device authorization (RFC 8628): the
    /// device code is its poll token, so only the device can wait on it and
    /// redeem it; no browser is bound to it. Lives `ttl`.
    #[tracing::instrument(skip_all, fields(client = %device.client_id))]
    pub async fn create_device_qr(
        &self,
        requester: RequestInfo,
        device_code: &Secret,
        device: DeviceRequest,
        ttl: Duration,
    ) -> Result<QrId> {
        // Nobody holds these: a device session never logs a browser in,
        // even on an instance that would not know to refuse it.
        let (no_browser, no_ticket) = (Secret::generate(), Secret::generate());
        let id = self
            .insert_new(|id| {
                LoginSession::new(
                    id.clone(),
                    PollTokenHash::of(device_code),
                    TicketHash::of(&no_ticket),
                    BrowserHash::of(&no_browser),
                    requester.clone(),
                    self.clock.now(),
                    ttl,
                )
                .for_device(device.clone())
            })
            .await?;
        tracing::info!(qr = %id, "device qr session created");
        self.observer.emit(Event::QrCreated {
            qr: &id,
            kind: QrKind::Device,
            client: Some(&device.client_id),
            request: &requester,
        });
        Ok(id)
    }

    /// The device takes its confirmed login (once).
    #[tracing::instrument(skip_all, fields(qr = %id))]
    pub async fn redeem_device(&self, id: &QrId, device_code: &Secret) -> Result<Redeemed> {
        let (_, redeemed) = self
            .transition(id, |s, now| s.redeem_device(now, device_code))
            .await?;
        tracing::info!(user = %redeemed.user.id, "device login redeemed");
        self.observer.emit(Event::QrRedeemed {
            qr: id,
            kind: QrKind::Device,
            user: &redeemed.user.id,
            login: None,
        });
        Ok(redeemed)
    }

    /// The live session `id` (not expired), if any: what may be shown as a
    /// QR code (unknown, forgotten and expired ones may not).
    pub async fn live_session(&self, id: &QrId) -> Result<Option<LoginSession>> {
        let now = self.clock.now();
        Ok(self
            .store
            .get(id, now)
            .await?
            .filter(|s| !s.is_expired(now)))
    }

    /// Whether the server is shutting down (held waits end early).
    pub fn is_stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// The long poll: answers as soon as the session's state differs from
    /// `since`, else when `wait` has passed, the session expires, or the
    /// server shuts down. A poll that has to wait takes a place in the held
    /// budget ([`LoginError::Busy`] when there is none,
    /// [`LoginError::TooManyPollers`] when this session holds its share
    /// already). (Its span is
    /// debug-level: polls are the hot path, and the request span already
    /// names the route.)
    #[tracing::instrument(level = "debug", skip(self, poll_token), fields(qr = %id))]
    pub async fn poll(
        &self,
        id: &QrId,
        poll_token: &Secret,
        since: PublicState,
        wait: Duration,
    ) -> Result<PollAnswer> {
        self.hold(id, poll_token, since, wait, false).await
    }

    /// The same wait for a device's session, with its device code: only
    /// the device's token requests wait this way (the browser API does not
    /// see device sessions, so it cannot tell a device who scanned).
    pub async fn poll_device(
        &self,
        id: &QrId,
        device_code: &Secret,
        since: PublicState,
        wait: Duration,
    ) -> Result<PublicState> {
        Ok(self.hold(id, device_code, since, wait, true).await?.state)
    }

    async fn hold(
        &self,
        id: &QrId,
        poll_token: &Secret,
        since: PublicState,
        wait: Duration,
        device: bool,
    ) -> Result<PollAnswer> {
        let deadline = Instant::now() + wait;
        let mut checked_token = false;
        // Taken only once the poll actually waits: one that answers at
        // once never needs a place in the budget.
        let mut slot = None;
        loop {
            let now = self.clock.now();
            let session = self
                .store
                .get(id, now)
                .await?
                .filter(|s| s.device.is_some() == device)
                .ok_or(LoginError::NotFound)?;
            if !checked_token {
                // The poll hash never changes, so checking once is enough.
                session.authorize_poll(poll_token)?;
                checked_token = true;
            }
            let state = session.state(now);
            let hold_until = deadline.min(Instant::now() + now.until(session.expires_at));
            if state != since || Instant::now() >= hold_until || self.shutdown.is_cancelled() {
                if state != since {
                    self.observe_change(&session, state, since, slot.is_some());
                }
                return Ok(self.answer(&session, state, poll_token));
            }
            if slot.is_none() {
                slot = Some(self.held.acquire(HeldKind::Poll, id)?);
            }
            tokio::select! {
                waited = self.store.wait_for_change(id, session.version, hold_until) => waited?,
                () = self.shutdown.cancelled() => {}
            }
        }
    }

    /// A poll (or an event stream) is about to tell its client the session
    /// moved from `since` to `state`: an expiry the client had not seen yet
    /// is reported, and if it waited for this, its wake-up latency is
    /// measured from the transition (or the expiry) to now. Time comes from
    /// the service's clock, in milliseconds, and across instances from
    /// their wall clocks.
    fn observe_change(
        &self,
        session: &LoginSession,
        state: PublicState,
        since: PublicState,
        was_held: bool,
    ) {
        let live = |s| {
            matches!(
                s,
                PublicState::Pending | PublicState::Scanned | PublicState::Confirmed
            )
        };
        if state == PublicState::Expired && live(since) {
            self.observer.emit(Event::QrExpired {
                qr: &session.id,
                kind: QrKind::of(session),
            });
        }
        if was_held && let Some(m) = self.observer.metrics() {
            let changed = if state == PublicState::Expired {
                Some(session.expires_at)
            } else {
                session.changed_at
            };
            if let Some(at) = changed {
                m.woke_up(at.until(self.clock.now()));
            }
        }
    }

    fn answer(
        &self,
        session: &LoginSession,
        state: PublicState,
        poll_token: &Secret,
    ) -> PollAnswer {
        let user = match state {
            PublicState::Scanned | PublicState::Confirmed => session.user().cloned(),
            _ => None,
        };
        let ticket = (state == PublicState::Confirmed)
            .then(|| login_ticket_at(poll_token, &session.id, session.ticket_generation));
        PollAnswer {
            id: session.id.clone(),
            state,
            user,
            ticket,
            expires_in: (state == PublicState::Confirmed)
                .then(|| self.clock.now().until(session.expires_at)),
            authorization: session.authorization.as_deref().cloned(),
            cancel_reason: session.cancel_reason(),
        }
    }

    /// The browser abandons its code (e.g. it asked for a new one).
    #[tracing::instrument(skip(self, poll_token), fields(qr = %id))]
    pub async fn cancel_by_browser(&self, id: &QrId, poll_token: &Secret) -> Result<()> {
        let (session, ()) = self
            .transition(id, |s, now| Ok((s.cancel_by_browser(now, poll_token)?, ())))
            .await?;
        self.observer.emit(Event::QrCancelled {
            qr: id,
            kind: QrKind::of(&session),
            by: CancelledBy::Browser,
            user: None,
        });
        Ok(())
    }

    /// A phone user scanned the code.
    #[tracing::instrument(skip(self, user), fields(qr = %id, user = %user.id))]
    pub async fn scan(&self, user: &User, id: &QrId) -> Result<ScanAnswer> {
        let confirm_token = Secret::generate();
        let confirm_hash = ConfirmTokenHash::of(&confirm_token);
        let (session, now) = self
            .transition(id, |s, now| Ok((s.scan(now, user, confirm_hash)?, now)))
            .await?;
        tracing::info!("qr session scanned");
        let client = match (&session.authorization, &session.device) {
            (Some(site), _) => Some(site.client_id.as_str()),
            (None, Some(device)) => Some(device.client_id.as_str()),
            (None, None) => None,
        };
        self.observer.emit(Event::QrScanned {
            qr: id,
            kind: QrKind::of(&session),
            user: &user.id,
            client,
        });
        Ok(ScanAnswer {
            id: session.id,
            confirm_token,
            expires_in: now.until(session.expires_at),
            request: session.request,
            created_at: session.created_at,
            choices: session.match_number.map(MatchNumber::choices),
            authorization: session.authorization.map(|a| *a),
            device: session.device.map(|d| *d),
        })
    }

    /// The phone user tapped Confirm (with number matching: one of the
    /// offered numbers, `pick`).
    /// `authenticated_at`: when the user authenticated, if not now on the
    /// phone (a device allowed from a browser logged in here earlier).
    /// A wrong pick cancels the login and answers [`LoginError::WrongNumber`].
    #[tracing::instrument(skip(self, user, confirm_token), fields(qr = %id, user = %user.id))]
    pub async fn confirm(
        &self,
        user: &User,
        id: &QrId,
        confirm_token: &Secret,
        pick: Option<MatchNumber>,
        authenticated_at: Option<Timestamp>,
    ) -> Result<()> {
        let ticket_ttl = self.policy.ticket_ttl;
        let (session, ()) = self
            .transition(id, |s, now| {
                let at = authenticated_at.unwrap_or(now);
                Ok((
                    s.confirm(now, &user.id, confirm_token, pick, ticket_ttl, at)?,
                    (),
                ))
            })
            .await?;
        if session.cancel_reason() == Some(CancelReason::WrongNumber) {
            tracing::warn!("wrong number picked: qr session cancelled");
            self.observer.emit(Event::QrCancelled {
                qr: id,
                kind: QrKind::of(&session),
                by: CancelledBy::WrongNumber,
                user: Some(&user.id),
            });
            return Err(LoginError::WrongNumber);
        }
        tracing::info!("qr session confirmed");
        self.observer.emit(Event::QrConfirmed {
            qr: id,
            kind: QrKind::of(&session),
            user: &user.id,
        });
        Ok(())
    }

    /// A fresh ticket for the confirmed login `id`, for the browser holding
    /// its poll token; the previous ticket stops working. Returns the
    /// ticket and how long it works.
    #[tracing::instrument(skip(self, poll_token), fields(qr = %id))]
    pub async fn new_ticket(&self, id: &QrId, poll_token: &Secret) -> Result<(Secret, Duration)> {
        let ticket_ttl = self.policy.ticket_ttl;
        let (session, (ticket, now)) = self
            .transition(id, |s, now| {
                let ticket = login_ticket_at(poll_token, id, s.ticket_generation + 1);
                let next = s.new_ticket(now, poll_token, TicketHash::of(&ticket), ticket_ttl)?;
                Ok((next, (ticket, now)))
            })
            .await?;
        tracing::info!(
            generation = session.ticket_generation,
            "fresh ticket minted"
        );
        Ok((ticket, now.until(session.ticket_deadline())))
    }

    /// The phone user tapped Cancel.
    #[tracing::instrument(skip(self, user, confirm_token), fields(qr = %id, user = %user.id))]
    pub async fn cancel_by_phone(
        &self,
        user: &User,
        id: &QrId,
        confirm_token: &Secret,
    ) -> Result<()> {
        let (session, ()) = self
            .transition(id, |s, now| {
                Ok((s.cancel_by_phone(now, &user.id, confirm_token)?, ()))
            })
            .await?;
        tracing::info!("qr session cancelled by phone");
        self.observer.emit(Event::QrCancelled {
            qr: id,
            kind: QrKind::of(&session),
            by: CancelledBy::Phone,
            user: Some(&user.id),
        });
        Ok(())
    }

    /// Trades a one-time ticket for a new browser login, if `proof` shows
    /// the caller is the browser that created the session.
    #[tracing::instrument(skip_all)]
    pub async fn redeem_ticket(&self, ticket: &str, proof: Proof<'_>) -> Result<NewLogin> {
        let unknown = TransitionError::InvalidTicket(TicketProblem::Unknown);
        let id = ticket_qr_id(ticket).ok_or(unknown)?;
        let ticket = Secret::from_client(ticket);
        let session_ttl = self.policy.session_ttl;
        for _ in 0..MAX_CAS_ATTEMPTS {
            let now = self.clock.now();
            let current = self.store.get(&id, now).await?.ok_or(unknown)?;
            let (next, redeemed) = current.redeem(now, &ticket, proof)?;
            // Write the login first: if the store fails here the ticket is
            // still good for a retry. A login written by a loser of the race
            // below is deleted again; its cookie was never sent anywhere
            // (and its index entry is dropped when the phone next lists).
            let cookie = Secret::generate();
            let account = AccountSession {
                user: redeemed.user,
                created_at: now,
                expires_at: now.plus(session_ttl),
                id: crate::secret::random_id(),
                browser: current.request.clone(),
            };
            let key = cookie.hash();
            self.store.put_account(&key, &account).await?;
            let member = Member::Login {
                id: account.id.clone(),
                cookie: key,
            };
            self.store
                .index_add(&account.user.id, &member.to_string(), account.expires_at)
                .await?;
            if self.store.compare_and_set(current.version, &next).await? {
                tracing::info!(qr = %id, user = %account.user.id, "ticket redeemed, logged in");
                self.observer.emit(Event::QrRedeemed {
                    qr: &id,
                    kind: QrKind::of(&current),
                    user: &account.user.id,
                    login: Some(&account.id),
                });
                return Ok(NewLogin {
                    cookie,
                    account,
                    confirmed_at: redeemed.auth_time,
                    authorization: current.authorization.map(|a| *a),
                });
            }
            self.store.delete_account(&key).await?;
        }
        Err(LoginError::Contention)
    }

    /// The login behind a session cookie.
    pub async fn current_login(&self, cookie: Option<&Secret>) -> Result<AccountSession> {
        let cookie = cookie.ok_or(LoginError::NotLoggedIn)?;
        self.store
            .get_account(&cookie.hash(), self.clock.now())
            .await?
            .ok_or(LoginError::NotLoggedIn)
    }

    /// Revokes the login behind a session cookie, if any.
    pub async fn logout(&self, cookie: Option<&Secret>) -> Result<()> {
        let Some(cookie) = cookie else {
            return Ok(());
        };
        let key = cookie.hash();
        // Read first, for the audit log: who logged out of which login.
        let account = self.store.get_account(&key, self.clock.now()).await?;
        if self.store.delete_account(&key).await? {
            tracing::info!("logged out");
            if let Some(account) = &account {
                self.observer.emit(Event::LoggedOut {
                    user: &account.user.id,
                    login: &account.id,
                });
            }
        }
        Ok(())
    }

    /// Reads the session, applies `step` at the current time and stores the
    /// result if nobody else changed the session meanwhile; retries otherwise.
    async fn transition<T>(
        &self,
        id: &QrId,
        step: impl Fn(&LoginSession, Timestamp) -> Result<(LoginSession, T), TransitionError>,
    ) -> Result<(LoginSession, T)> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let now = self.clock.now();
            let current = self.store.get(id, now).await?.ok_or(LoginError::NotFound)?;
            let (next, out) = step(&current, now)?;
            if self.store.compare_and_set(current.version, &next).await? {
                return Ok((next, out));
            }
        }
        Err(LoginError::Contention)
    }

    /// Drops what the store holds past its retention, where the backend
    /// does not expire entries by itself. Returns how many went.
    pub async fn sweep_expired(&self) -> Result<usize> {
        Ok(self.store.sweep_expired(self.clock.now()).await?)
    }
}
