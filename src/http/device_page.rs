//! `/device`, RFC 8628's `verification_uri`: where a person without the app
//! (or whose phone camera opened the device's QR in a browser) learns to
//! scan with the app, or, logged in here, types the device's code and
//! allows or denies it. Plain server-rendered forms: no script needed.
//!
//! Allowing is the phone's scan + confirm done by the logged-in browser user,
//! so it goes through the same state machine: a code scanned by another
//! account, expired or already decided is refused the same way.

use super::browser::{SESSION_COOKIE, same_origin};
use super::device_words::{self, Words, fill};
use super::error::{ApiError, Refusal};
use super::extract::ClientIp;
use super::pages::{escape, hidden_inputs, html_page_in, message_page_in};
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
    let w = device_words::for_request(&headers);
    let form = query.map(|Query(q)| q).unwrap_or_default();
    let typed = form.user_code.as_deref().filter(|c| !c.trim().is_empty());
    let account = match logged_in(&app, &jar).await {
        Ok(account) => account,
        Err(page) => return page,
    };
    let Some(account) = account else {
        return how_to_page(&app, w, ip, typed).await;
    };
    let Some(typed) = typed else {
        return code_form(w, StatusCode::OK, None);
    };
    // A link from another site to a ready-made Allow page is how a device
    // code is relayed to a victim (RFC 8628 §5.4): there, the person types
    // the code their own device shows. A phone camera or a typed address
    // opens the link as `none`.
    if is_cross_site(&headers) {
        return code_form(w, StatusCode::OK, Some(w.type_it_yourself));
    }
    let (code, id) = match find(&app, w, ip, typed).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    confirmation_page(&app, w, &account.user, &code, &id).await
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
    let w = device_words::for_request(&headers);
    let Ok(Form(form)) = body else {
        return code_form(w, StatusCode::BAD_REQUEST, Some(w.unreadable_form));
    };
    // The login cookie is SameSite=Lax, which a cross-site POST does not
    // carry; this also refuses browsers that say the post came from elsewhere.
    if !same_origin(&headers, &app.config().server.public_url.origin()) {
        let page = message(w, StatusCode::FORBIDDEN, w.cross_site_title, w.cross_site);
        return Refusal::mark("cross_site", page);
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
        _ => return code_form(w, StatusCode::BAD_REQUEST, Some(w.choose)),
    };
    let (code, id) = match find(&app, w, ip, typed).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let user = &account.user;
    let login = app.login();
    let decided = async {
        let scan = login.scan(user, &id).await?;
        if allow {
            login
                .confirm(
                    user,
                    &id,
                    &scan.confirm_token,
                    None,
                    Some(account.created_at),
                )
                .await
        } else {
            login.cancel_by_phone(user, &id, &scan.confirm_token).await
        }
    }
    .await;
    match decided {
        Ok(()) if allow => message(
            w,
            StatusCode::OK,
            w.allowed_title,
            &fill(
                w.allowed,
                &[("code", &code.to_string()), ("name", &user.name)],
            ),
        ),
        Ok(()) => message(
            w,
            StatusCode::OK,
            w.denied_title,
            &fill(w.denied, &[("code", &code.to_string())]),
        ),
        Err(e) => refusal(w, e),
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
async fn find(
    app: &AppState,
    w: &Words,
    ip: IpAddr,
    typed: &str,
) -> Result<(UserCode, QrId), Response> {
    let Some(code) = UserCode::parse(typed) else {
        let form = code_form(w, StatusCode::BAD_REQUEST, Some(w.not_a_code));
        return Err(Refusal::mark("invalid_user_code", form));
    };
    if let Err(retry_after) = app.limits().spend::<UserCodeEntry>(ip) {
        return Err(ApiError::RateLimited { retry_after }.into_response());
    }
    match app.device().find(&code).await {
        Ok(Some(id)) => Ok((code, id)),
        Ok(None) => Err(Refusal::mark(
            "not_found",
            code_form(w, StatusCode::NOT_FOUND, Some(w.no_such_code)),
        )),
        Err(e) => Err(ApiError::from(LoginError::from(e)).into_response()),
    }
}

/// For a browser not logged in here: scan with the app, or log in first.
async fn how_to_page(app: &AppState, w: &Words, ip: IpAddr, typed: Option<&str>) -> Response {
    let back = device_link(typed.unwrap_or_default());
    let login = format!(
        "{}?rd={}",
        paths::LOGIN_PAGE,
        url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
    );
    let mut body = format!(
        "<p id=\"message\">{}</p><p>{}</p>\
         <p><a class=\"btn btn-primary btn-wide\" id=\"login\" href=\"{}\">{}</a></p>",
        w.scan_with_app,
        w.no_app,
        escape(&login),
        w.log_in,
    );
    // The demo's phone simulator stands in for the app; offered only while
    // demo accounts are configured, as the simulator itself is.
    if !app.config().users.is_empty()
        && let Some(typed) = typed
        && let Ok((_, id)) = find(app, w, ip, typed).await
    {
        body.push_str(&format!(
            "<p><a id=\"demo-phone\" href=\"{}\">{}</a></p>",
            escape(&paths::with_id(paths::PHONE_PAGE, &id)),
            w.demo_phone,
        ));
    }
    html_page_in(w.lang, StatusCode::OK, w.title, &body)
}

/// Asks for the code the device shows; `problem` says what went wrong.
fn code_form(w: &Words, status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| format!("<p id=\"problem\" role=\"alert\">{}</p>", escape(p)))
        .unwrap_or_default();
    let body = format!(
        "{problem}<form method=\"get\" action=\"{action}\">\
         <p><label for=\"user_code\">{enter}</label></p>\
         <p><input id=\"user_code\" name=\"user_code\" autocomplete=\"off\" autocapitalize=\"characters\" \
         spellcheck=\"false\" maxlength=\"16\" placeholder=\"WDJB-MJHT\" required></p>\
         <button type=\"submit\" class=\"btn btn-primary btn-wide\">{go}</button></form>",
        action = paths::DEVICE_PAGE,
        enter = w.enter_code,
        go = w.continue_,
    );
    html_page_in(w.lang, status, w.title, &body)
}

/// "Sign in on {client}?" with the device's address, and Allow / Deny.
async fn confirmation_page(
    app: &AppState,
    w: &Words,
    user: &User,
    code: &UserCode,
    id: &QrId,
) -> Response {
    let session = match app.login().live_session(id).await {
        Ok(Some(session)) => session,
        Ok(None) => return code_form(w, StatusCode::GONE, Some(w.expired)),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let client = session
        .device
        .as_ref()
        .and_then(|d| app.oidc().clients().get(&d.client_id))
        .map_or(w.a_device, |c| c.name.as_str());
    let stays = session
        .device
        .as_ref()
        .is_some_and(|d| d.scope.offline_access);
    let stays = if stays {
        format!("<p>{}</p>", w.stays)
    } else {
        String::new()
    };
    let asked = session.request;
    let shown = code.to_string();
    let ua = if asked.user_agent.is_empty() {
        w.unknown_device
    } else {
        &asked.user_agent
    };
    let body = format!(
        "<p id=\"message\">{ask}</p><p>{check}</p>{stays}<p>{from}</p>\
         <form method=\"post\" action=\"{action}\">{fields}\
         <button type=\"submit\" name=\"decision\" value=\"allow\" class=\"btn btn-primary btn-wide\">{allow}</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"btn btn-secondary btn-wide\">{deny}</button>\
         </form>",
        ask = fill(w.sign_in_to, &[("client", client), ("name", &user.name)]),
        check = fill(w.check_code, &[("code", &shown)]),
        from = fill(w.asked_from, &[("ip", &asked.ip), ("ua", ua)]),
        action = paths::DEVICE_PAGE,
        fields = hidden_inputs(&[("user_code", &shown)]),
        allow = w.allow,
        deny = w.deny,
    );
    html_page_in(w.lang, StatusCode::OK, w.confirm_title, &body)
}

/// `/device?user_code=…` (just `/device` without a code).
fn device_link(typed: &str) -> String {
    match UserCode::parse(typed) {
        Some(code) => format!("{}?user_code={code}", paths::DEVICE_PAGE),
        None => paths::DEVICE_PAGE.to_owned(),
    }
}

fn message(w: &Words, status: StatusCode, title: &str, text: &str) -> Response {
    message_page_in(w.lang, status, title, text)
}

/// Why a decision was refused, for the person.
fn refusal(w: &Words, e: LoginError) -> Response {
    let (status, text) = match &e {
        LoginError::Refused(TransitionError::Expired) => (StatusCode::GONE, w.expired),
        LoginError::Refused(TransitionError::ClaimedByAnotherUser) => {
            (StatusCode::CONFLICT, w.claimed)
        }
        LoginError::Refused(TransitionError::AlreadyFinished) => (StatusCode::CONFLICT, w.decided),
        LoginError::NotFound => (StatusCode::NOT_FOUND, w.gone),
        _ => return ApiError::from(e).into_response(),
    };
    let code = ApiError::from(e).code();
    Refusal::mark(code, message(w, status, w.refused_title, text))
}
