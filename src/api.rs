//! The JSON API's contract: every request and response body as a type, and
//! every path the server serves or links to, in one place. The OpenAPI
//! document (`/api/openapi.json`) is generated from these types.

use crate::number_match::MatchNumber;
pub use crate::relay::Proximity;
use crate::session::{CancelReason, PublicState, QrId, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Paths of the pages and API, and the links built from them.
pub mod paths {
    use crate::session::QrId;

    /// The login page.
    pub const LOGIN_PAGE: &str = "/";
    /// The phone page of a QR session: what the QR code encodes.
    pub const PHONE_PAGE: &str = "/l/{id}";
    pub const CREATE_QR: &str = "/api/qr";
    pub const QR: &str = "/api/qr/{id}";
    pub const QR_STATUS: &str = "/api/qr/{id}/status";
    /// The push channel: Server-Sent Events of the session's state changes.
    pub const QR_EVENTS: &str = "/api/qr/{id}/events";
    pub const QR_SVG: &str = "/api/qr/{id}/qr.svg";
    pub const QR_PNG: &str = "/api/qr/{id}/qr.png";
    pub const LOGIN_EXCHANGE: &str = "/api/login/exchange";
    pub const LOGIN_COMPLETE: &str = "/api/login/complete";
    /// A confirmed login's fresh ticket.
    pub const QR_TICKET: &str = "/api/qr/{id}/ticket";
    pub const ME: &str = "/api/me";
    /// Who is logged in, if anyone: 200 either way (the page asks on every load).
    pub const SESSION: &str = "/api/session";
    pub const LOGOUT: &str = "/api/logout";
    pub const MOBILE_SCAN: &str = "/api/mobile/scan";
    pub const MOBILE_CONFIRM: &str = "/api/mobile/confirm";
    pub const MOBILE_CANCEL: &str = "/api/mobile/cancel";
    pub const DEMO_USERS: &str = "/api/demo/users";
    pub const OPENAPI: &str = "/api/openapi.json";
    pub const MOBILE_SESSIONS: &str = "/api/mobile/sessions";
    pub const MOBILE_SESSION: &str = "/api/mobile/sessions/{id}";
    pub const OIDC_DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
    pub const AUTHORIZE: &str = "/oauth/authorize";
    pub const TOKEN: &str = "/oauth/token";
    pub const USERINFO: &str = "/oauth/userinfo";
    pub const JWKS: &str = "/oauth/jwks";
    pub const REVOKE: &str = "/oauth/revoke";
    pub const INTROSPECT: &str = "/oauth/introspect";
    pub const END_SESSION: &str = "/oauth/logout";
    pub const DEVICE_AUTHORIZATION: &str = "/oauth/device_authorization";
    /// RFC 8628's `verification_uri`: where a person types a device's code.
    pub const DEVICE_PAGE: &str = "/device";
    /// nginx forward-auth (`auth_request`).
    pub const AUTH_VERIFY: &str = "/auth/verify";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    /// Prometheus metrics (text, not in the API document): the admin
    /// listener, or loopback and trusted proxies on the main one.
    pub const METRICS: &str = "/metrics";

    /// `template` with its `{id}` filled in.
    pub fn with_id(template: &str, id: &QrId) -> String {
        template.replacen("{id}", id.as_str(), 1)
    }

    /// The link a confirmed poll hands the page: completes the login by navigation.
    pub fn complete_login(ticket: &str) -> String {
        format!("{LOGIN_COMPLETE}?ticket={ticket}")
    }
}

/// A secret in a body (poll token, ticket, confirm token): on the wire the
/// plain string, but `Debug` never prints it, so a logged body leaks nothing.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WireSecret(pub String);

impl WireSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&crate::secret::Secret> for WireSecret {
    fn from(secret: &crate::secret::Secret) -> Self {
        Self(secret.expose().to_owned())
    }
}

impl std::fmt::Debug for WireSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WireSecret(<redacted>)")
    }
}

/// Every error: a stable machine-readable code and a human-readable text.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// snake_case, stable: what clients branch on (and translate).
    #[schema(example = "not_found")]
    pub error: String,
    /// English text for people; never carries internal detail.
    pub message: String,
}

/// `POST /api/qr` body; optional (no body: a login to this server).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQrRequest {
    /// The query string of the `/oauth/authorize` request this login answers
    /// (the login page passes its own `location.search`).
    pub authorize: Option<String>,
}

/// A relying site (OAuth client), as the page and the phone name it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientBody {
    pub id: String,
    /// "Log in to {name}?"
    pub name: String,
}

/// `POST /api/qr` → 201.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewQrBody {
    /// The session id (128 random bits, URL-safe base64): public, printed in the QR.
    #[schema(value_type = String, example = "1nL0f3Qb8Lk3ZrGmTq9XwA")]
    pub id: QrId,
    /// What the QR code encodes: `<public_url>/l/<id>`.
    pub qr_content: String,
    /// Authorises polling and redeeming: keep it in the page, never in the QR.
    #[schema(value_type = String)]
    pub poll_token: WireSecret,
    /// Seconds until the code expires.
    pub expires_in: u64,
    /// Seconds the server holds a status poll.
    pub poll_hold: u64,
    /// Path of the code as SVG.
    pub qr_svg: String,
    /// Path of the code as PNG.
    pub qr_png: String,
    /// The site this login is for (an `/oauth/authorize` request).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client: Option<ClientBody>,
    /// With `login.number_matching`: the two-digit number (10–99) the page
    /// shows; the phone must pick it among three to confirm.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<u8>, minimum = 10, maximum = 99, example = 42)]
    pub match_number: Option<MatchNumber>,
}

/// `GET /api/qr/{id}/status` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Seconds to hold the poll (default and maximum `login.poll_hold`; 0 answers at once).
    #[param(value_type = Option<u64>)]
    pub wait: Option<String>,
    /// The state the page already shows: the poll answers once the state differs.
    #[param(value_type = Option<PublicState>)]
    pub since: Option<String>,
}

/// The phone user as the login page shows them once scanned.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScannedBy {
    pub name: String,
    pub avatar: Option<String>,
}

/// A long poll's answer, always HTTP 200: WeChat's code is in the body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PollBody {
    /// 408 pending, 201 scanned, 200 confirmed, 202 cancelled, 400 expired or redeemed.
    #[schema(example = 408)]
    pub code: u16,
    pub state: PublicState,
    // Left out, never null, when there is none: `nullable = false` keeps
    // utoipa from documenting these `Option`s as nullable.
    /// Who scanned (scanned and confirmed).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub user: Option<ScannedBy>,
    /// The one-time ticket (confirmed only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    #[schema(value_type = Option<String>)]
    pub ticket: Option<WireSecret>,
    /// Where to navigate next: to log in with the ticket (confirmed), or,
    /// for a site's login the phone declined, back to the site with
    /// `error=access_denied` (cancelled).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub redirect: Option<String>,
    /// Confirmed only: seconds the browser may still finish the login (the
    /// ticket itself works for `login.ticket_ttl`; `POST /api/qr/{id}/ticket`
    /// mints a fresh one).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub expires_in: Option<u64>,
    /// Cancelled only: `phone` (declined on the phone), `browser` (the page
    /// gave the code up) or `wrong_number` (the phone picked a number other
    /// than the page's: a sign the code was relayed).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reason: Option<CancelReason>,
}

/// `POST /api/qr/{id}/ticket` answer: a fresh one-time ticket for a
/// confirmed login; the previous one no longer works.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TicketBody {
    #[schema(value_type = String)]
    pub ticket: WireSecret,
    /// Where to navigate to log in with it (`/api/login/complete?ticket=…`).
    pub redirect: String,
    /// Seconds the ticket works.
    pub expires_in: u64,
}

/// `GET /api/session` answer: the logged-in user, or `null` for nobody.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionBody {
    pub user: Option<User>,
    /// When the login ends (Unix seconds); `null` for nobody.
    pub expires_at: Option<i64>,
}

/// `POST /api/login/exchange` body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    #[schema(value_type = String)]
    pub ticket: WireSecret,
}

/// A logged-in browser's user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginBody {
    pub user: User,
    /// For a site's login: where to send the browser (the site's
    /// `redirect_uri` with the authorization code).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub redirect: Option<String>,
}

/// `GET /api/login/complete` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompleteQuery {
    /// The one-time ticket from the confirmed poll.
    #[param(value_type = Option<String>)]
    pub ticket: Option<WireSecret>,
    /// Where to go afterwards (default `/`): a same-origin path, or an
    /// absolute URL on a host under `server.cookie_domain` or in
    /// `forward_auth.allowed_redirect_hosts`; anything else goes to `/`.
    pub next: Option<String>,
}

/// `GET /api/me` → 200.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeBody {
    pub user: User,
    /// When the login ends (Unix seconds).
    pub expires_at: i64,
}

/// `POST /api/mobile/scan` body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// What the camera read: `<public_url>/l/<id>` or a bare id (a login
    /// QR), `<public_url>/device?user_code=WDJB-MJHT` (a device's QR), or a
    /// device's user code as the person typed it (`wdjb-mjht`).
    pub qr: String,
}

/// The browser asking to log in, for the phone to show.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AskingBrowser {
    /// As seen by this server (or its trusted proxy).
    pub ip: String,
    /// What the browser claims to be (first 256 bytes).
    pub user_agent: String,
    /// When the code was created (Unix seconds).
    pub created_at: i64,
    /// The site the user would log in to, when a site asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client: Option<ClientBody>,
    /// What the site asks for (`openid profile offline_access`): with
    /// `offline_access` it stays logged in until the grant is ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// For a device's login (a TV, a CLI): the code the device shows, so
    /// the user can check it is the device in front of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub user_code: Option<String>,
    /// The browser's network compared with the phone's (their client IPs).
    pub proximity: Proximity,
    /// What the user agent says it is, readably ("Chrome on Windows 10");
    /// absent when it names no known browser or system.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "Chrome on Windows 10")]
    pub device: Option<String>,
    /// Where the browser's IP is, with `[geoip]` configured and the IP in
    /// its database.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub location: Option<LocationBody>,
    /// With `[geoip]`: whether the phone and the browser are in different
    /// countries or cities (false when either is not in the database).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub location_mismatch: Option<bool>,
}

/// A place, from the GeoIP database: names in English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LocationBody {
    /// ISO 3166-1 alpha-2 code.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "GB")]
    pub country_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "United Kingdom")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "London")]
    pub city: Option<String>,
}

/// `POST /api/mobile/scan` → 200.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScanBody {
    #[schema(value_type = String)]
    pub qr_id: QrId,
    /// Proves the confirm or cancel comes from this scan.
    #[schema(value_type = String)]
    pub confirm_token: WireSecret,
    /// Seconds left to decide.
    pub expires_in: u64,
    pub request: AskingBrowser,
    /// With `login.number_matching`: three distinct numbers, one of them
    /// the page's, in random order. Offer them instead of a plain Confirm;
    /// the confirm carries the pick as `number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<Vec<u8>>, min_items = 3, max_items = 3)]
    pub number_choices: Option<Vec<MatchNumber>>,
}

/// `POST /api/mobile/confirm` and `/cancel` body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub qr_id: String,
    #[schema(value_type = String)]
    pub confirm_token: WireSecret,
    /// Confirm with number matching: the number the user picked (required
    /// then; a wrong one cancels the login). Ignored otherwise.
    #[serde(default)]
    #[schema(nullable = false, value_type = Option<u8>, minimum = 10, maximum = 99)]
    pub number: Option<MatchNumber>,
}

/// What a confirm or cancel did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionBody {
    /// `confirmed` or `cancelled`.
    pub state: PublicState,
}

/// A configured demo account, for the phone simulator.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DemoUser {
    /// The account's (public!) bearer token.
    #[schema(value_type = String)]
    pub token: WireSecret,
    pub id: String,
    pub name: String,
    pub avatar: Option<String>,
}

/// `GET /api/demo/users` → 200.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DemoUsersBody {
    pub users: Vec<DemoUser>,
}

/// `GET /healthz`, `GET /readyz`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthBody {
    /// `ok` or `unavailable`.
    pub status: String,
    /// For `/readyz`: whether the session store answers: `ok`, `connecting`
    /// (not reached since start-up) or `unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)] // left out, never null
    pub store: Option<String>,
}

/// One thing the phone's user is logged in to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserSessionBody {
    /// Pass to `DELETE /api/mobile/sessions/{id}` to end it.
    pub id: String,
    /// `browser` (a login to this server) or `client` (a site's grant).
    pub kind: String,
    /// The site, for a grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client: Option<ClientBody>,
    /// The browser that logged in.
    pub ip: String,
    pub user_agent: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When the site last got a token under this grant (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub last_used_at: Option<i64>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// `GET /api/mobile/sessions` → 200.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserSessionsBody {
    pub sessions: Vec<UserSessionBody>,
}

/// An OAuth error (RFC 6749 §5.2): the protocol's own shape, not [`ErrorBody`].
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OAuthErrorBody {
    #[schema(example = "invalid_grant")]
    pub error: String,
    pub error_description: String,
}

/// `POST /oauth/token` form (RFC 6749 §4.1.3, §6; RFC 7636 §4.5). A
/// parameter sent with an empty value counts as omitted (RFC 6749 §3.2).
/// `Debug` shows which parameters came, never their secret values.
#[derive(Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `authorization_code`, `refresh_token` or
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub grant_type: Option<String>,
    /// The device grant's device code (RFC 8628 §3.4).
    #[serde(default, deserialize_with = "empty_as_none")]
    pub device_code: Option<String>,
    /// qrlogin's extension to the device grant: seconds to hold the request
    /// until the login is decided (at most `login.poll_hold`); without it
    /// the answer is immediate, as RFC 8628 has it.
    #[serde(default, deserialize_with = "empty_as_none")]
    #[schema(value_type = Option<u64>)]
    pub wait: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub redirect_uri: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub code_verifier: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub refresh_token: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub scope: Option<String>,
    /// `client_secret_post` and public clients; or use HTTP Basic.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub client_id: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .field(
                "device_code",
                &self.device_code.as_ref().map(|_| "<redacted>"),
            )
            .field("wait", &self.wait)
            .field("redirect_uri", &self.redirect_uri)
            .field(
                "code_verifier",
                &self.code_verifier.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `POST /oauth/device_authorization` form (RFC 8628 §3.1). `Debug` never
/// shows the secret.
#[derive(Default, Deserialize, ToSchema)]
pub struct DeviceAuthorizationRequest {
    /// Default `openid`; must include it.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub scope: Option<String>,
    /// Public clients send only this; confidential ones may use HTTP Basic.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub client_id: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for DeviceAuthorizationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorizationRequest")
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `POST /oauth/device_authorization` → 200 (RFC 8628 §3.2). `Debug`
/// never shows the device code.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeviceAuthorizationBody {
    /// The device's secret for the token endpoint (256 bits; only its hash is stored).
    pub device_code: String,
    /// What a person types: 8 letters, shown `WDJB-MJHT`.
    #[schema(example = "WDJB-MJHT")]
    pub user_code: String,
    /// Where a person types the code.
    pub verification_uri: String,
    /// The same with the code filled in: what the device's QR encodes.
    pub verification_uri_complete: String,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds to wait between token requests.
    pub interval: u64,
    /// The QR code of `verification_uri_complete` as SVG (absolute URL).
    pub qr_svg: String,
    /// The same as PNG.
    pub qr_png: String,
}

impl std::fmt::Debug for DeviceAuthorizationBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorizationBody")
            .field("device_code", &"<redacted>")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// A form value that is empty is an omitted one (RFC 6749 §3.2).
fn empty_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    Ok(value.filter(|v| !v.is_empty()))
}

/// `POST /oauth/token` → 200 (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenBody {
    /// Opaque; the server keeps only its hash.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds.
    pub expires_in: u64,
    /// A JWT signed with a key of `jwks_uri`.
    pub id_token: String,
    pub scope: String,
    /// With `offline_access`: single use, a new one comes with each refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub refresh_token: Option<String>,
}

/// `GET|POST /oauth/userinfo` → 200 (OpenID Connect Core §5.3).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserInfoBody {
    pub sub: String,
    /// With scope `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// With scope `profile`, when the user has an avatar.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub picture: Option<String>,
}

/// `POST /oauth/revoke` (RFC 7009) and `/oauth/introspect` (RFC 7662)
/// form; empty values count as omitted, `Debug` hides the secrets.
#[derive(Default, Deserialize, ToSchema)]
pub struct TokenQueryRequest {
    #[serde(default, deserialize_with = "empty_as_none")]
    pub token: Option<String>,
    /// `access_token` or `refresh_token`; a hint only.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub token_type_hint: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub client_id: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for TokenQueryRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenQueryRequest")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_type_hint", &self.token_type_hint)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `POST /oauth/introspect` → 200 (RFC 7662 §2.2): only `active` for a
/// token that is not (or no longer) valid.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct IntrospectionBody {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub username: Option<String>,
    /// `Bearer` for an access token (RFC 6749 §5.1); absent for a refresh token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub iss: Option<String>,
}

/// Provider metadata: OpenID Connect Discovery 1.0 §3 and RFC 8414 §2.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DiscoveryBody {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub end_session_endpoint: String,
    pub device_authorization_endpoint: String,
    pub response_types_supported: Vec<String>,
    pub response_modes_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub prompt_values_supported: Vec<String>,
    pub authorization_response_iss_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    pub claims_parameter_supported: bool,
}

/// `GET /oauth/jwks` → 200: the public signing keys (RFC 7517 JWK Set).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JwksBody {
    /// JWKs with `kid`, `alg`, `use: "sig"`.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}
