//! `/device`, RFC 8628's `verification_uri`: where a person without the app
//! (or whose phone camera opened the device's QR in a browser) learns to
//! scan with the app, or, logged in here, types the device's code and
//! allows or denies it. Plain server-rendered forms: no script needed.
//!
//! Allowing is the phone's scan + confirm done by the logged-in browser user,
//! so it goes through the same state machine: a code scanned by another
//! account, expired or already decided is refused the same way.

use super::browser::{SESSION_COOKIE, same_origin};
use super::error::ApiError;
use super::extract::ClientIp;
use super::pages::{escape, hidden_inputs, html_page};
use super::rate_limit::UserCodeEntry;
use super::state::AppState;
use crate::api::paths;
use crate::login::LoginError;
use crate::oidc::UserCode;
use crate::secret::Secret;
use crate::session::{QrId, TransitionError, User};
use crate::store::AccountSession;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use std::net::IpAddr;

/// `GET /device` query, and what the forms post.
#[derive(Debug, Default, Deserialize)]
pub struct DeviceForm {
    #[serde(default)]
    user_code: Option<String>,
    /// `allow` or `deny` (posted by the confirmation form).
    #[serde(default)]
    decision: Option<String>,
}

/// The page: how to confirm a device, a code form, or the confirmation.
pub async fn show(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    query: Result<Query<DeviceForm>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let form = query.map(|Query(q)| q).unwrap_or_default();
    let typed = form.user_code.as_deref().filter(|c| !c.trim().is_empty());
    let account = match logged_in(&app, &jar).await {
        Ok(account) => account,
        Err(page) => return page,
    };
    let Some(account) = account else {
        return how_to_page(&app, ip, typed).await;
    };
    let Some(typed) = typed else {
        return code_form(StatusCode::OK, None);
    };
    // A link from another site to a ready-made Allow page is how a device
    // code is relayed to a victim (RFC 8628 §5.4): there, the person types
    // the code their own device shows. A phone camera or a typed address
    // opens the link as `none`.
    if is_cross_site(&headers) {
        return code_form(
            StatusCode::OK,
            Some("For your safety, type the code your device shows."),
        );
    }
    let (code, id) = match find(&app, ip, typed).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    confirmation_page(&app, &account.user, &code, &id).await
}

/// The confirmation form's answer: allow (scan + confirm as the logged-in
/// user) or deny (scan + cancel).
pub async fn decide(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    body: Result<Form<DeviceForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = body else {
        return code_form(StatusCode::BAD_REQUEST, Some("The form could not be read."));
    };
    // The login cookie is SameSite=Lax, which a cross-site POST does not
    // carry; this also refuses browsers that say the post came from elsewhere.
    if !same_origin(&headers, &app.config().server.public_url.origin()) {
        return message(
            StatusCode::FORBIDDEN,
            "Request refused",
            "This form can only be sent from this site.",
        );
    }
    let typed = form.user_code.as_deref().unwrap_or_default();
    let account = match logged_in(&app, &jar).await {
        Ok(Some(account)) => account,
        Ok(None) => return Redirect::to(&device_link(typed)).into_response(),
        Err(page) => return page,
    };
    let allow = match form.decision.as_deref() {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return code_form(
                StatusCode::BAD_REQUEST,
                Some("Choose whether to allow or deny the device."),
            );
        }
    };
    let (code, id) = match find(&app, ip, typed).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let user = &account.user;
    let login = app.login();
    let decided = async {
        let scan = login.scan(user, &id).await?;
        if allow {
            login
                .confirm(user, &id, &scan.confirm_token, Some(account.created_at))
                .await
        } else {
            login.cancel_by_phone(user, &id, &scan.confirm_token).await
        }
    }
    .await;
    match decided {
        Ok(()) if allow => message(
            StatusCode::OK,
            "Device signed in",
            &format!(
                "The device showing {code} is signing in as {}. You can close this page.",
                user.name
            ),
        ),
        Ok(()) => message(
            StatusCode::OK,
            "Device denied",
            &format!("The device showing {code} was not signed in."),
        ),
        Err(e) => refusal(e),
    }
}

/// The browser says the request came from a link on another site.
fn is_cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
}

/// The logged-in account of this browser, if any; a page when the store fails.
async fn logged_in(app: &AppState, jar: &CookieJar) -> Result<Option<AccountSession>, Response> {
    let cookie = jar
        .get(SESSION_COOKIE)
        .map(|c| Secret::from_client(c.value()));
    match app.login().current_login(cookie.as_ref()).await {
        Ok(account) => Ok(Some(account)),
        Err(LoginError::NotLoggedIn) => Ok(None),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// The live device session a typed code names. Every lookup spends from
/// the user-code budget (RFC 8628 §5.1).
async fn find(app: &AppState, ip: IpAddr, typed: &str) -> Result<(UserCode, QrId), Response> {
    let Some(code) = UserCode::parse(typed) else {
        return Err(code_form(
            StatusCode::BAD_REQUEST,
            Some("That is not a device code: it has 8 letters, like WDJB-MJHT."),
        ));
    };
    if let Err(retry_after) = app.limits().spend::<UserCodeEntry>(ip) {
        return Err(ApiError::RateLimited { retry_after }.into_response());
    }
    match app.device().find(&code).await {
        Ok(Some(id)) => Ok((code, id)),
        Ok(None) => Err(code_form(
            StatusCode::NOT_FOUND,
            Some("No device is waiting with that code. Check it, or start again on the device."),
        )),
        Err(e) => Err(ApiError::from(LoginError::from(e)).into_response()),
    }
}

/// For a browser not logged in here: scan with the app, or log in first.
async fn how_to_page(app: &AppState, ip: IpAddr, typed: Option<&str>) -> Response {
    let back = device_link(typed.unwrap_or_default());
    let login = format!(
        "{}?rd={}",
        paths::LOGIN_PAGE,
        url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
    );
    let mut body = String::from(
        "<p id=\"message\">To sign in on your TV or other device, scan the QR code it shows \
         with the qrlogin app on your phone, and confirm there.</p>\
         <p>No app at hand? Log in here first, then enter the code your device shows.</p>",
    );
    body.push_str(&format!(
        "<p><a class=\"btn btn-primary btn-wide\" id=\"login\" href=\"{}\">Log in</a></p>",
        escape(&login)
    ));
    // The demo's phone simulator stands in for the app; offered only while
    // demo accounts are configured, as the simulator itself is.
    if !app.config().users.is_empty()
        && let Some(typed) = typed
        && let Ok((_, id)) = find(app, ip, typed).await
    {
        body.push_str(&format!(
            "<p><a id=\"demo-phone\" href=\"{}\">Demo: confirm with the phone simulator</a></p>",
            escape(&paths::with_id(paths::PHONE_PAGE, &id))
        ));
    }
    html_page(StatusCode::OK, "Sign in on your device", &body)
}

/// Asks for the code the device shows; `problem` says what went wrong.
fn code_form(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| format!("<p id=\"problem\" role=\"alert\">{}</p>", escape(p)))
        .unwrap_or_default();
    let body = format!(
        "{problem}<form method=\"get\" action=\"{action}\">\
         <p><label for=\"user_code\">Enter the code your device shows</label></p>\
         <p><input id=\"user_code\" name=\"user_code\" autocomplete=\"off\" autocapitalize=\"characters\" \
         spellcheck=\"false\" maxlength=\"16\" placeholder=\"WDJB-MJHT\" required></p>\
         <button type=\"submit\" class=\"btn btn-primary btn-wide\">Continue</button></form>",
        action = paths::DEVICE_PAGE,
    );
    html_page(status, "Sign in on your device", &body)
}

/// "Sign in on {client}?" with the device's address, and Allow / Deny.
async fn confirmation_page(app: &AppState, user: &User, code: &UserCode, id: &QrId) -> Response {
    let session = match app.login().live_session(id).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return code_form(
                StatusCode::GONE,
                Some("This code has expired. Start again on the device."),
            );
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let client = session
        .device
        .as_ref()
        .and_then(|d| app.oidc().clients().get(&d.client_id))
        .map_or("a device", |c| c.name.as_str());
    let stays = session
        .device
        .as_ref()
        .is_some_and(|d| d.scope.offline_access);
    let stays = if stays {
        "<p>It stays signed in until you sign it out from the app's list of logins.</p>"
    } else {
        ""
    };
    let asked = session.request;
    let shown = code.to_string();
    let body = format!(
        "<p id=\"message\">Sign in to <strong>{client}</strong> as {name}?</p>\
         <p>Only continue if the device is in front of you and shows <strong id=\"code\">{shown}</strong>.</p>\
         {stays}<p>Asked from {ip}; the device says it is: {ua}.</p>\
         <form method=\"post\" action=\"{action}\">{fields}\
         <button type=\"submit\" name=\"decision\" value=\"allow\" class=\"btn btn-primary btn-wide\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"btn btn-secondary btn-wide\">Deny</button>\
         </form>",
        client = escape(client),
        name = escape(&user.name),
        shown = escape(&shown),
        ip = escape(&asked.ip),
        ua = escape(if asked.user_agent.is_empty() {
            "unknown device"
        } else {
            &asked.user_agent
        }),
        action = paths::DEVICE_PAGE,
        fields = hidden_inputs(&[("user_code", &shown)]),
    );
    html_page(StatusCode::OK, "Sign in on your device?", &body)
}

/// `/device?user_code=…` (just `/device` without a code).
fn device_link(typed: &str) -> String {
    match UserCode::parse(typed) {
        Some(code) => format!("{}?user_code={code}", paths::DEVICE_PAGE),
        None => paths::DEVICE_PAGE.to_owned(),
    }
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    super::pages::message_page(status, title, text)
}

/// Why a decision was refused, for the person.
fn refusal(e: LoginError) -> Response {
    let (status, text) = match &e {
        LoginError::Refused(TransitionError::Expired) => (
            StatusCode::GONE,
            "This code has expired. Start again on the device.",
        ),
        LoginError::Refused(TransitionError::ClaimedByAnotherUser) => (
            StatusCode::CONFLICT,
            "Another account is already confirming this device.",
        ),
        LoginError::Refused(TransitionError::AlreadyFinished) => (
            StatusCode::CONFLICT,
            "This device's sign-in was already allowed or denied.",
        ),
        LoginError::NotFound => (
            StatusCode::NOT_FOUND,
            "No device is waiting with that code. Start again on the device.",
        ),
        _ => return ApiError::from(e).into_response(),
    };
    message(status, "Not signed in", text)
}
