//! The phone app's API: scan, confirm, cancel. The caller is whoever the
//! bearer token says, verified here; a user id in the body would be ignored.

use super::extract::{ApiJson, BearerToken, ClientIp};
use crate::app::App;
use crate::auth::AuthError;
use crate::error::Error;
use crate::secret::Secret;
use crate::session::{QrId, User};
use crate::store::SessionStore;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use serde::Deserialize;
use serde_json::{Value, json};

/// The verified phone user, after spending one request of its IP's budget.
/// An extractor, so it runs before the body is even read: unauthenticated
/// callers learn nothing about what the endpoint expects.
#[derive(Debug)]
pub struct PhoneUser(pub User);

impl<S: SessionStore> FromRequestParts<App<S>> for PhoneUser {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, app: &App<S>) -> Result<Self, Error> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, app).await?;
        app.limits.check_mobile(ip)?;
        let BearerToken(token) = BearerToken::from_request_parts(parts, app).await?;
        let token = token.ok_or(AuthError::Missing)?;
        Ok(Self(app.verifier.verify(token.expose(), app.clock.now())?))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanBody {
    /// What the camera read: `<public_url>/l/<id>`, or a bare id.
    qr: String,
}

pub async fn scan<S: SessionStore>(
    State(app): State<App<S>>,
    PhoneUser(user): PhoneUser,
    ApiJson(body): ApiJson<ScanBody>,
) -> Result<Json<Value>, Error> {
    let id = scanned_id(app.config.public_base(), &body.qr)?;
    let scan = app.scan(&user, &id).await?;
    Ok(Json(json!({
        "qr_id": scan.id,
        "confirm_token": scan.confirm_token.expose(),
        "expires_in": scan.expires_in.as_secs(),
        "request": {
            "ip": scan.request.ip,
            "user_agent": scan.request.user_agent,
            "created_at": scan.created_at.as_secs(),
        },
    })))
}

/// The QR id in scanned content. Only codes of this server are accepted, so
/// the app cannot be steered into acting on someone else's login URL.
fn scanned_id(public_base: &str, content: &str) -> Result<QrId, Error> {
    let content = content.trim();
    let raw = match content.strip_prefix(public_base) {
        Some(rest) => rest.strip_prefix("/l/").unwrap_or(""),
        None if !content.contains('/') => content,
        None => {
            return Err(Error::bad_request(
                "invalid_qr",
                "this QR code is not a login code of this server",
            ));
        }
    };
    // A well-formed but unknown id is 404 later; a malformed one is 404 now.
    QrId::parse(raw).ok_or(Error::NotFound)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    qr_id: String,
    confirm_token: String,
}

impl DecisionBody {
    fn parts(&self) -> Result<(QrId, Secret), Error> {
        let id = QrId::parse(&self.qr_id).ok_or(Error::NotFound)?;
        Ok((id, Secret::from_client(&self.confirm_token)))
    }
}

pub async fn confirm<S: SessionStore>(
    State(app): State<App<S>>,
    PhoneUser(user): PhoneUser,
    ApiJson(body): ApiJson<DecisionBody>,
) -> Result<Json<Value>, Error> {
    let (id, confirm_token) = body.parts()?;
    app.confirm(&user, &id, &confirm_token).await?;
    Ok(Json(json!({ "state": "confirmed" })))
}

pub async fn cancel<S: SessionStore>(
    State(app): State<App<S>>,
    PhoneUser(user): PhoneUser,
    ApiJson(body): ApiJson<DecisionBody>,
) -> Result<Json<Value>, Error> {
    let (id, confirm_token) = body.parts()?;
    app.cancel_by_phone(&user, &id, &confirm_token).await?;
    Ok(Json(json!({ "state": "cancelled" })))
}

/// The configured demo accounts, for the phone simulator page.
pub async fn demo_users<S: SessionStore>(State(app): State<App<S>>) -> Result<Json<Value>, Error> {
    if app.config.users.is_empty() {
        return Err(Error::RouteNotFound);
    }
    let users: Vec<Value> = app
        .config
        .users
        .iter()
        .map(|u| json!({ "token": u.token.expose(), "id": u.id, "name": u.name, "avatar": u.avatar }))
        .collect();
    Ok(Json(json!({ "users": users })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanned_content_must_be_ours() {
        let base = "https://login.example";
        let id = QrId::generate();
        assert_eq!(scanned_id(base, &format!("{base}/l/{id}")).unwrap(), id);
        assert_eq!(scanned_id(base, id.as_str()).unwrap(), id);
        assert_eq!(scanned_id(base, &format!(" {id}\n")).unwrap(), id);
        assert_eq!(
            scanned_id(base, &format!("https://evil.example/l/{id}"))
                .unwrap_err()
                .code(),
            "invalid_qr"
        );
        assert_eq!(
            scanned_id(base, &format!("{base}/x/{id}"))
                .unwrap_err()
                .code(),
            "not_found"
        );
        assert_eq!(scanned_id(base, "garbage").unwrap_err().code(), "not_found");
    }
}
