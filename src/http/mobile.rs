//! The phone app's API: scan, confirm, cancel. The caller is whoever the
//! bearer token says, verified here; a user id in the body would be refused.

use super::error::ApiError;
use super::extract::{ApiJson, BearerToken, ClientIp};
use super::rate_limit::{PhoneCall, Spend, UserCodeEntry};
use super::state::AppState;
use crate::api::{
    AskingBrowser, ClientBody, DecisionBody, DecisionRequest, DemoUser, DemoUsersBody, ErrorBody,
    LocationBody, ScanBody, ScanRequest, UserSessionBody, UserSessionsBody, WireSecret, paths,
};
use crate::auth::AuthError;
use crate::login::LoginError;
use crate::oidc::UserCode;
use crate::relay::{Location, Proximity, describe_device};
use crate::secret::Secret;
use crate::session::{PublicState, QrId, User};
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;

/// The verified phone user. An extractor, so it runs before the body is
/// even read: unauthenticated callers learn nothing about what the endpoint
/// expects. Handlers put `Spend<PhoneCall>` before it, so tokens cannot be
/// guessed faster than the phone budget allows.
#[derive(Debug)]
pub struct PhoneUser(pub User);

impl FromRequestParts<AppState> for PhoneUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let BearerToken(token) = BearerToken::from_request_parts(parts, app).await?;
        let token = token.ok_or(AuthError::Missing)?;
        let user = app
            .phones()
            .verify(token.expose(), app.login().clock().now())?;
        Ok(Self(user))
    }
}

/// The phone scanned a code: claims it for this user and shows who asks.
#[utoipa::path(post, path = paths::MOBILE_SCAN, tag = "phone",
    request_body = ScanRequest,
    security(("phone_token" = [])),
    responses(
        (status = 200, body = ScanBody, description = "Claimed; show `request` and ask the user"),
        (status = 400, body = ErrorBody, description = "invalid_qr, invalid_json"),
        (status = 401, body = ErrorBody, description = "unauthorized"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "already_claimed, already_finished"),
        (status = 410, body = ErrorBody, description = "expired"),
        (status = 413, body = ErrorBody, description = "payload_too_large"),
        (status = 415, body = ErrorBody, description = "unsupported_media_type"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
        (status = 503, body = ErrorBody, description = "store_unavailable, contention"),
    ))]
pub async fn scan(
    _: Spend<PhoneCall>,
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    PhoneUser(user): PhoneUser,
    ApiJson(body): ApiJson<ScanRequest>,
) -> Result<Json<ScanBody>, ApiError> {
    let id = match scanned_target(app.config().public_base(), &body.qr)? {
        Scanned::Login(id) => id,
        Scanned::Device(code) => {
            app.limits()
                .spend::<UserCodeEntry>(ip)
                .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
            app.device()
                .find(&code)
                .await
                .map_err(LoginError::from)?
                .ok_or(ApiError::Login(LoginError::NotFound))?
        }
    };
    let scan = app.login().scan(&user, &id).await?;
    let (client_id, scope) = match (&scan.authorization, &scan.device) {
        (Some(site), _) => (Some(&site.client_id), Some(site.scope)),
        (None, Some(device)) => (Some(&device.client_id), Some(device.scope)),
        (None, None) => (None, None),
    };
    let client = client_id
        .and_then(|id| app.oidc().clients().get(id))
        .map(|c| ClientBody {
            id: c.id.clone(),
            name: c.name.clone(),
        });
    // The browser's IP is the one stored with the session when it asked
    // (on whichever instance that was); the phone's is this request's.
    let proximity = Proximity::to_stored(ip, &scan.request.ip);
    let (location, location_mismatch) = match app.geoip() {
        Some(geoip) => {
            let browser = scan.request.ip.parse().ok().and_then(|b| geoip.locate(b));
            let phone = geoip.locate(ip);
            let mismatch = matches!((&browser, &phone), (Some(b), Some(p)) if b.differs_from(p));
            (browser.map(location_body), Some(mismatch))
        }
        None => (None, None),
    };
    Ok(Json(ScanBody {
        qr_id: scan.id,
        confirm_token: WireSecret::from(&scan.confirm_token),
        expires_in: scan.expires_in.as_secs(),
        number_choices: scan.choices.map(Vec::from),
        request: AskingBrowser {
            device: describe_device(&scan.request.user_agent),
            ip: scan.request.ip,
            user_agent: scan.request.user_agent,
            created_at: scan.created_at.as_secs(),
            client,
            scope: scope.map(|s| s.to_string()),
            user_code: scan.device.map(|d| d.user_code.to_string()),
            proximity,
            location,
            location_mismatch,
        },
    }))
}

fn location_body(l: Location) -> LocationBody {
    LocationBody {
        country_code: l.country_code,
        country: l.country,
        city: l.city,
    }
}

/// What a scanned (or typed) text names.
#[derive(Debug, PartialEq, Eq)]
enum Scanned {
    /// A login QR: `<public_url>/l/<id>`, or the bare id.
    Login(QrId),
    /// A device's code: its `verification_uri_complete`, or the user code
    /// as a person types it.
    Device(UserCode),
}

/// Only codes of this server are accepted, so the app cannot be steered
/// into acting on someone else's login URL.
fn scanned_target(public_base: &str, content: &str) -> Result<Scanned, ApiError> {
    let not_found = ApiError::Login(LoginError::NotFound);
    let content = content.trim();
    // `https://login.example.evil/…` starts with `https://login.example`
    // too: ours only if the path follows at once.
    if let Some(rest) = content
        .strip_prefix(public_base)
        .filter(|rest| rest.starts_with('/'))
    {
        if let Some(id) = rest.strip_prefix("/l/") {
            return QrId::parse(id).map(Scanned::Login).ok_or(not_found);
        }
        if let Some(query) = rest
            .strip_prefix(paths::DEVICE_PAGE)
            .and_then(|r| r.strip_prefix('?'))
        {
            return url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "user_code")
                .and_then(|(_, code)| UserCode::parse(&code))
                .map(Scanned::Device)
                .ok_or(not_found);
        }
        return Err(not_found);
    }
    if content.contains('/') {
        return Err(ApiError::bad_request(
            "invalid_qr",
            "this QR code is not a login code of this server",
        ));
    }
    // A well-formed but unknown id or code is 404 later; a malformed one is 404 now.
    if let Some(id) = QrId::parse(content) {
        return Ok(Scanned::Login(id));
    }
    UserCode::parse(content)
        .map(Scanned::Device)
        .ok_or(not_found)
}

impl DecisionRequest {
    fn parts(&self) -> Result<(QrId, Secret), ApiError> {
        let id = QrId::parse(&self.qr_id).ok_or(ApiError::Login(LoginError::NotFound))?;
        Ok((id, Secret::from_client(self.confirm_token.expose())))
    }
}

/// The user tapped Confirm: the browser's held poll answers at once.
#[utoipa::path(post, path = paths::MOBILE_CONFIRM, tag = "phone",
    request_body = DecisionRequest,
    security(("phone_token" = [])),
    responses(
        (status = 200, body = DecisionBody, description = "Confirmed"),
        (status = 400, body = ErrorBody, description = "invalid_json; number_required: number matching is on and `number` is missing (nothing changed)"),
        (status = 401, body = ErrorBody, description = "unauthorized"),
        (status = 403, body = ErrorBody, description = "wrong_confirm_token; wrong_number: not the login page's number, and the login is now cancelled"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "not_scanned, already_finished"),
        (status = 410, body = ErrorBody, description = "expired"),
        (status = 413, body = ErrorBody, description = "payload_too_large"),
        (status = 415, body = ErrorBody, description = "unsupported_media_type"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
        (status = 503, body = ErrorBody, description = "store_unavailable, contention"),
    ))]
pub async fn confirm(
    _: Spend<PhoneCall>,
    State(app): State<AppState>,
    PhoneUser(user): PhoneUser,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> Result<Json<DecisionBody>, ApiError> {
    let (id, confirm_token) = body.parts()?;
    app.login()
        .confirm(&user, &id, &confirm_token, body.number, None)
        .await?;
    Ok(Json(DecisionBody {
        state: PublicState::Confirmed,
    }))
}

/// The user tapped Cancel: the browser's held poll answers at once.
#[utoipa::path(post, path = paths::MOBILE_CANCEL, tag = "phone", operation_id = "phone_cancel",
    request_body = DecisionRequest,
    security(("phone_token" = [])),
    responses(
        (status = 200, body = DecisionBody, description = "Cancelled"),
        (status = 400, body = ErrorBody, description = "invalid_json"),
        (status = 401, body = ErrorBody, description = "unauthorized"),
        (status = 403, body = ErrorBody, description = "wrong_confirm_token"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "not_scanned, already_finished"),
        (status = 410, body = ErrorBody, description = "expired"),
        (status = 413, body = ErrorBody, description = "payload_too_large"),
        (status = 415, body = ErrorBody, description = "unsupported_media_type"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
        (status = 503, body = ErrorBody, description = "store_unavailable, contention"),
    ))]
pub async fn cancel(
    _: Spend<PhoneCall>,
    State(app): State<AppState>,
    PhoneUser(user): PhoneUser,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> Result<Json<DecisionBody>, ApiError> {
    let (id, confirm_token) = body.parts()?;
    app.login()
        .cancel_by_phone(&user, &id, &confirm_token)
        .await?;
    Ok(Json(DecisionBody {
        state: PublicState::Cancelled,
    }))
}

/// What this user is logged in to: browser logins here, and sites they
/// let log them in (grants), oldest first.
#[utoipa::path(get, path = paths::MOBILE_SESSIONS, tag = "phone",
    security(("phone_token" = [])),
    responses(
        (status = 200, body = UserSessionsBody, description = "Live logins and grants"),
        (status = 401, body = ErrorBody, description = "unauthorized"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
        (status = 503, body = ErrorBody, description = "store_unavailable"),
    ))]
pub async fn sessions(
    _: Spend<PhoneCall>,
    State(app): State<AppState>,
    PhoneUser(user): PhoneUser,
) -> Result<Json<UserSessionsBody>, ApiError> {
    let now = app.login().clock().now();
    let list = app
        .sessions()
        .list(&user.id, now)
        .await
        .map_err(LoginError::from)?;
    let sessions = list
        .into_iter()
        .map(|s| UserSessionBody {
            id: s.id,
            kind: if s.client.is_some() {
                "client"
            } else {
                "browser"
            }
            .to_owned(),
            client: s.client.map(|(id, name)| ClientBody { id, name }),
            ip: s.browser.ip,
            user_agent: s.browser.user_agent,
            created_at: s.created_at.as_secs(),
            last_used_at: s.last_used_at.map(|t| t.as_secs()),
            expires_at: s.expires_at.as_secs(),
        })
        .collect();
    Ok(Json(UserSessionsBody { sessions }))
}

/// Ends one of this user's logins (the browser is logged out at its next
/// request) or grants (the site's access and refresh tokens stop working).
#[utoipa::path(delete, path = paths::MOBILE_SESSION, tag = "phone",
    params(("id" = String, Path, description = "The session's id from the list")),
    security(("phone_token" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, body = ErrorBody, description = "unauthorized"),
        (status = 404, body = ErrorBody, description = "not_found: no such login or grant of this user"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
        (status = 503, body = ErrorBody, description = "store_unavailable"),
    ))]
pub async fn end_session(
    _: Spend<PhoneCall>,
    State(app): State<AppState>,
    PhoneUser(user): PhoneUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let now = app.login().clock().now();
    let ended = app
        .sessions()
        .revoke(&user.id, &id, now)
        .await
        .map_err(LoginError::from)?;
    if ended {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Login(LoginError::NotFound))
    }
}

/// The configured demo accounts, for the phone simulator page (404 when
/// none are configured).
#[utoipa::path(get, path = paths::DEMO_USERS, tag = "phone",
    responses(
        (status = 200, body = DemoUsersBody, description = "Demo accounts and their tokens"),
        (status = 404, body = ErrorBody, description = "not_found: no demo accounts"),
    ))]
pub async fn demo_users(State(app): State<AppState>) -> Result<Json<DemoUsersBody>, ApiError> {
    if app.config().users.is_empty() {
        return Err(ApiError::RouteNotFound);
    }
    let users = app
        .config()
        .users
        .iter()
        .map(|u| DemoUser {
            token: WireSecret(u.token.expose().to_owned()),
            id: u.id.clone(),
            name: u.name.clone(),
            avatar: u.avatar.clone(),
        })
        .collect();
    Ok(Json(DemoUsersBody { users }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanned_content_must_be_ours() {
        let base = "https://login.example";
        let id = QrId::generate();
        let login = |text: &str| scanned_target(base, text).unwrap();
        let refused = |text: &str| scanned_target(base, text).unwrap_err().code();
        assert_eq!(login(&format!("{base}/l/{id}")), Scanned::Login(id.clone()));
        assert_eq!(login(id.as_str()), Scanned::Login(id.clone()));
        assert_eq!(login(&format!(" {id}\n")), Scanned::Login(id.clone()));
        assert_eq!(
            refused(&format!("https://evil.example/l/{id}")),
            "invalid_qr"
        );
        assert_eq!(refused(&format!("{base}.evil/l/{id}")), "invalid_qr");
        assert_eq!(refused(&format!("{base}/x/{id}")), "not_found");
        assert_eq!(refused("garbage"), "not_found");
    }

    #[test]
    fn device_codes_are_read_from_the_verification_uri_or_as_typed() {
        let base = "https://login.example";
        let code = UserCode::parse("WDJB-MJHT").unwrap();
        let device = Scanned::Device(code);
        let read = |text: &str| scanned_target(base, text).unwrap();
        assert_eq!(read(&format!("{base}/device?user_code=WDJB-MJHT")), device);
        assert_eq!(
            read(&format!("{base}/device?x=1&user_code=wdjbmjht")),
            device
        );
        assert_eq!(read("WDJB-MJHT"), device);
        assert_eq!(read(" wdjb mjht "), device);
        let refused = |text: &str| scanned_target(base, text).unwrap_err().code();
        assert_eq!(
            refused(&format!("{base}/device?user_code=AAAA-AAAA")),
            "not_found"
        );
        assert_eq!(refused(&format!("{base}/device")), "not_found");
        assert_eq!(
            refused(&format!("{base}/devices?user_code=WDJB-MJHT")),
            "not_found"
        );
        assert_eq!(
            refused("https://evil.example/device?user_code=WDJB-MJHT"),
            "invalid_qr"
        );
    }
}
