//! The Device Authorization Grant (RFC 8628): a TV, a kiosk or a CLI shows
//! a QR code (or a short user code), the phone scans and confirms it like
//! any login, and the device polls the token endpoint with its device code.
//!
//! A device authorization *is* a QR session, with the same state machine,
//! the same scan / confirm / cancel calls from the phone and the same held
//! waits; its poll token is the device code, so only the device can wait on
//! it or redeem it, and no browser is bound to it. Beside the session the
//! store keeps two records: the device code's (client, scope, poll pacing),
//! under the code's hash, and the user code's (which session it names), for
//! phones that scan the verification URI and people who type the code.

use super::clients::{ClientCredentials, GrantType};
use super::error::{ErrorCode, OAuthError, invalid_grant, invalid_request};
use super::records;
use super::scope::Scope;
use super::service::{IssuedTokens, OidcService, key_of};
use crate::clock::Timestamp;
use crate::login::{LoginError, LoginService};
use crate::secret::Secret;
use crate::session::{PublicState, QrId, RequestInfo, TransitionError};
use crate::store::{PutMode, RecordKind, StoreError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// RFC 8628 §6.1's alphabet: no vowels (no words), no digits (no 0/O, 1/I).
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code: 20^8 ≈ 2^34.6 codes (§6.1's example size),
/// enough only because guesses are rate-limited (§5.1).
const USER_CODE_LEN: usize = 8;
/// What a `slow_down` adds to the device's interval (RFC 8628 §3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// How much earlier than `interval` a request may come: a device's timer
/// and the clocks of several instances are not exact.
const SLOW_DOWN_GRACE: Duration = Duration::from_secs(1);

/// A user code, upper case without its dash; shown as `WDJB-MJHT`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserCode(String);

impl UserCode {
    /// A fresh code from the OS CSPRNG, uniform over the alphabet.
    pub fn generate() -> Self {
        let mut code = String::with_capacity(USER_CODE_LEN);
        while code.len() < USER_CODE_LEN {
            let mut raw = [0u8; 16];
            crate::secret::os_random(&mut raw);
            // 240 = 12 × 20: dropping bytes above it keeps every letter equally likely.
            for b in raw.into_iter().filter(|&b| b < 240) {
                if code.len() < USER_CODE_LEN {
                    code.push(char::from(USER_CODE_ALPHABET[usize::from(b % 20)]));
                }
            }
        }
        Self(code)
    }

    /// A code as a person typed it: case, dashes and spaces do not matter
    /// (RFC 8628 §6.1). `None` unless it is 8 letters of the alphabet.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > 32 {
            return None;
        }
        let code: String = text
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let ok =
            code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
        ok.then_some(Self(code))
    }

    /// The stored form: 8 letters, no dash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = self.0.split_at(USER_CODE_LEN / 2);
        write!(f, "{a}-{b}")
    }
}

impl std::fmt::Debug for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserCode({self})")
    }
}

impl TryFrom<String> for UserCode {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or("not a user code")
    }
}

impl From<UserCode> for String {
    fn from(c: UserCode) -> String {
        c.0
    }
}

/// What a device asked for: carried by its QR session, so the phone can
/// name the client and the QR image can show the verification URI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRequest {
    pub client_id: String,
    pub scope: Scope,
    /// Not a credential: typing it only offers the device your own login,
    /// and the phone still asks. Kept plain so the page and QR can show it.
    pub user_code: UserCode,
}

/// The device code's record, under the code's SHA-256.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct DeviceCodeRecord {
    qr_id: QrId,
    client_id: String,
    scope: Scope,
    /// The device as it asked: the grant remembers it for the phone's list.
    device: RequestInfo,
    /// Seconds the device must leave between token requests; grows by
    /// [`SLOW_DOWN_STEP`] at each `slow_down`.
    interval_secs: u64,
    /// When the device's last token request came.
    last_request: Option<Timestamp>,
    /// When the authorization ends; the record stays a little longer, so a
    /// late poll hears `expired_token` rather than `invalid_grant`.
    expires_at: Timestamp,
}

/// The user code's record: which session it names.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct UserCodeRecord {
    qr_id: QrId,
}

/// A started device authorization (RFC 8628 §3.2).
#[derive(Debug)]
pub struct DeviceAuthorization {
    pub device_code: Secret,
    pub user_code: UserCode,
    pub qr_id: QrId,
    pub expires_in: Duration,
    pub interval: Duration,
}

/// `{public_url}/device?user_code=WDJB-MJHT`: what a device's QR encodes.
pub fn verification_uri_complete(verification_uri: &str, code: &UserCode) -> String {
    format!("{verification_uri}?user_code={code}")
}

/// The device flow over the login sessions and the provider. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DeviceFlow {
    login: LoginService,
    oidc: OidcService,
}

type Result<T, E = OAuthError> = std::result::Result<T, E>;

/// A login operation's failure, as the device hears it.
fn for_device(e: LoginError) -> OAuthError {
    match e {
        LoginError::StoreUnavailable(detail) => OAuthError::Unavailable(detail),
        LoginError::OverCapacity => OAuthError::Unavailable("the store is at capacity".into()),
        LoginError::Contention => OAuthError::Unavailable("contention on the session".into()),
        // Too many connections held (in all, or on this device code): the
        // device backs off (RFC 8628 §3.5) and keeps polling, rather than
        // giving up on a 503.
        LoginError::Busy | LoginError::TooManyPollers => OAuthError::new(
            ErrorCode::SlowDown,
            "the server is holding too many requests; poll less often",
        ),
        LoginError::Refused(TransitionError::Expired) => expired(),
        // Forgotten, redeemed by a racing request, or otherwise not this
        // device's to take.
        LoginError::NotFound
        | LoginError::NotLoggedIn
        | LoginError::UnknownEventId
        | LoginError::WrongNumber
        | LoginError::Refused(_) => {
            invalid_grant("the device code is invalid, expired or already used")
        }
    }
}

fn expired() -> OAuthError {
    OAuthError::new(
        ErrorCode::ExpiredToken,
        "the device code expired; start again",
    )
}

impl DeviceFlow {
    pub fn new(login: LoginService, oidc: OidcService) -> Self {
        Self { login, oidc }
    }

    /// `POST /oauth/device_authorization` (RFC 8628 §3.1): a new device
    /// code and user code, and the QR session they name.
    #[tracing::instrument(skip_all)]
    pub async fn start(
        &self,
        creds: &ClientCredentials,
        scope: Option<&str>,
        device: RequestInfo,
    ) -> Result<DeviceAuthorization> {
        let client = self
            .oidc
            .clients()
            .authenticate_for(creds, GrantType::DeviceCode)?;
        // RFC 6749 §3.3 lets the server default an omitted scope.
        let mut scope = Scope::parse(scope.unwrap_or("openid"));
        // No refresh token will come: do not grant (nor list) offline access.
        scope.offline_access &= client.allows(GrantType::RefreshToken);
        if !scope.openid {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "scope must include openid",
            ));
        }
        let cfg = self.oidc.config();
        let ttl = cfg.device_code_ttl;
        let device_code = Secret::generate();
        let store = self.login.store();
        // A user code already in use is drawn again; the session made for
        // it is then unreachable (no code names it, the device code was
        // never handed out) and simply expires.
        let (qr_id, user_code) = loop {
            let user_code = UserCode::generate();
            let request = DeviceRequest {
                client_id: client.id.clone(),
                scope,
                user_code: user_code.clone(),
            };
            let qr_id = self
                .login
                .create_device_qr(device.clone(), &device_code, request, ttl)
                .await
                .map_err(for_device)?;
            let now = self.login.clock().now();
            let record = UserCodeRecord {
                qr_id: qr_id.clone(),
            };
            let expires_at = now.plus(ttl);
            if records::put(
                store,
                RecordKind::UserCode,
                user_code.as_str(),
                &record,
                expires_at,
                PutMode::Create,
                now,
            )
            .await?
            {
                break (qr_id, user_code);
            }
            tracing::debug!("user code collision; drawing another");
        };
        let now = self.login.clock().now();
        let record = DeviceCodeRecord {
            qr_id: qr_id.clone(),
            client_id: client.id.clone(),
            scope,
            device,
            interval_secs: cfg.device_poll_interval.as_secs(),
            last_request: None,
            expires_at: now.plus(ttl),
        };
        let retained = record.expires_at.plus(self.login.policy().expired_grace);
        let created = records::put(
            store,
            RecordKind::DeviceCode,
            &key_of(&device_code),
            &record,
            retained,
            PutMode::Create,
            now,
        )
        .await?;
        if !created {
            // Two equal 256-bit codes: the OS random source is broken.
            return Err(OAuthError::Unavailable("device code collision".into()));
        }
        tracing::info!(client = %client.id, qr = %qr_id, "device authorization started");
        Ok(DeviceAuthorization {
            device_code,
            user_code,
            qr_id,
            expires_in: ttl,
            interval: cfg.device_poll_interval,
        })
    }

    /// The session a user code names, if it is live.
    pub async fn find(&self, code: &UserCode) -> Result<Option<QrId>, StoreError> {
        let now = self.login.clock().now();
        let record: Option<UserCodeRecord> =
            records::get(self.login.store(), RecordKind::UserCode, code.as_str(), now).await?;
        Ok(record.map(|r| r.qr_id))
    }

    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628
    /// §3.4). With `wait` above zero the request is held until the login
    /// is decided or `wait` passes (capped at `login.poll_hold`), so a
    /// device that asks learns of the confirm at once.
    #[tracing::instrument(skip_all)]
    pub async fn token(
        &self,
        creds: &ClientCredentials,
        device_code: Option<&str>,
        wait: Option<&str>,
    ) -> Result<IssuedTokens> {
        let client = self
            .oidc
            .clients()
            .authenticate_for(creds, GrantType::DeviceCode)?;
        let wait = match wait {
            None => Duration::ZERO,
            Some(text) => text
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| invalid_request("wait must be a whole number of seconds"))?,
        };
        let code = device_code.ok_or_else(|| invalid_request("device_code is required"))?;
        let code = Secret::from_client(code);
        let key = key_of(&code);
        let store = self.login.store();
        let now = self.login.clock().now();
        let mut record: DeviceCodeRecord = records::get(store, RecordKind::DeviceCode, &key, now)
            .await?
            .ok_or_else(|| invalid_grant("the device code is invalid, expired or already used"))?;
        if record.client_id != client.id {
            return Err(invalid_grant(
                "the device code was issued to another client",
            ));
        }
        // Pacing (§3.5): requests at least `interval` apart, counted from
        // the previous request's arrival, so a request held by `wait` may
        // be followed at once (the hold itself spaced them).
        let interval = Duration::from_secs(record.interval_secs);
        let too_soon = record
            .last_request
            .is_some_and(|last| now.plus(SLOW_DOWN_GRACE) < last.plus(interval));
        if too_soon {
            record.interval_secs += SLOW_DOWN_STEP.as_secs();
        }
        record.last_request = Some(now);
        let retained = record.expires_at.plus(self.login.policy().expired_grace);
        records::put(
            store,
            RecordKind::DeviceCode,
            &key,
            &record,
            retained,
            PutMode::Replace,
            now,
        )
        .await?;
        if too_soon {
            return Err(OAuthError::new(
                ErrorCode::SlowDown,
                "polling too fast: wait the interval, now 5 seconds longer",
            ));
        }
        let state = self
            .wait_for_decision(
                &record.qr_id,
                &code,
                wait.min(self.login.policy().poll_hold),
            )
            .await;
        match state.map_err(for_device)? {
            PublicState::Pending | PublicState::Scanned => Err(OAuthError::new(
                ErrorCode::AuthorizationPending,
                "waiting for the user to confirm on the phone",
            )),
            PublicState::Cancelled => Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "the user declined on the phone",
            )),
            PublicState::Expired => Err(expired()),
            PublicState::Redeemed => Err(invalid_grant("the device code was already used")),
            PublicState::Confirmed => {
                let redeemed = self
                    .login
                    .redeem_device(&record.qr_id, &code)
                    .await
                    .map_err(for_device)?;
                let now = self.login.clock().now();
                let grant = self
                    .oidc
                    .create_grant(
                        &client.id,
                        &redeemed.user,
                        record.scope,
                        redeemed.auth_time,
                        &record.device,
                        now,
                    )
                    .await?;
                let refresh_scope = record.scope.offline_access.then_some(record.scope);
                self.oidc
                    .issue_tokens(
                        GrantType::DeviceCode,
                        client,
                        grant,
                        record.scope,
                        refresh_scope,
                        None,
                        now,
                    )
                    .await
            }
        }
    }

    /// The session's state once it is no longer waiting for the phone, or
    /// when `wait` has passed (or the server is stopping).
    async fn wait_for_decision(
        &self,
        id: &QrId,
        code: &Secret,
        wait: Duration,
    ) -> Result<PublicState, LoginError> {
        let deadline = Instant::now() + wait;
        let mut since = PublicState::Pending;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let state = self.login.poll_device(id, code, since, left).await?;
            let undecided = matches!(state, PublicState::Pending | PublicState::Scanned);
            if !undecided || Instant::now() >= deadline || self.login.is_stopping() {
                return Ok(state);
            }
            // Scanned is still "pending" to the device: keep holding.
            since = state;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_alphabet_and_print_with_a_dash() {
        for _ in 0..200 {
            let c = UserCode::generate();
            assert_eq!(c.as_str().len(), 8);
            assert!(c.as_str().bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
            let shown = c.to_string();
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert_eq!(UserCode::parse(&shown), Some(c));
        }
    }

    #[test]
    fn typed_codes_ignore_case_dashes_and_spaces() {
        let c = UserCode::parse("WDJB-MJHT").unwrap();
        for typed in ["wdjb-mjht", "WDJBMJHT", " wdjb mjht ", "Wd-Jb-Mj-Ht"] {
            assert_eq!(UserCode::parse(typed), Some(c.clone()), "{typed:?}");
        }
        for bad in [
            "WDJB-MJH",
            "WDJB-MJHTX",
            "WDJB-MJH0",
            "AEIO-UUUU",
            "",
            "WDJB_MJHT",
            "ＷDJB-MJHT",
            &"B".repeat(40),
        ] {
            assert_eq!(UserCode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_letter_is_drawn() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            seen.extend(UserCode::generate().as_str().bytes());
        }
        assert_eq!(seen.len(), USER_CODE_ALPHABET.len());
    }
}
