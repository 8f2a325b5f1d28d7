//! The phone page `/l/{id}` (what a phone's camera opens from the QR code):
//! checked against the store before it is painted, so a stale or mistyped
//! code is explained first, not after the person picked an account; and
//! `/l/` without a code, a page saying how to get one.

use super::extract::ClientIp;
use super::language;
use super::pages::{PHONE_PAGE, Pages, escape, html_page_in, serve_page_with};
use super::rate_limit::PhoneCall;
use super::state::AppState;
use crate::session::{PublicState, QrId};
use crate::store::SessionStore;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

/// What the page is told about its code (`<body data-code="…">`), by the
/// API's error code for it, so the script explains it as the scan would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CodeCheck {
    /// Live (waiting, or scanned and not yet decided): the page goes on.
    Live,
    /// Not checked (the IP's budget is spent, or the store is down): the
    /// page goes on and the scan tells.
    Unchecked,
    NotFound,
    Expired,
    Finished,
}

/// The phone page for the code `id`.
pub(super) async fn show(
    pages: &Pages,
    app: &AppState,
    ip: ClientIp,
    id: &str,
    request: &HeaderMap,
) -> Response {
    let (status, body_data): (_, &[(&str, &str)]) = match check(app, ip, id).await {
        CodeCheck::Live | CodeCheck::Unchecked => (StatusCode::OK, &[]),
        CodeCheck::NotFound => (StatusCode::NOT_FOUND, &[("code", "not_found")]),
        CodeCheck::Expired => (StatusCode::GONE, &[("code", "expired")]),
        // Gone like an expired code: neither can ever be used again.
        CodeCheck::Finished => (StatusCode::GONE, &[("code", "already_finished")]),
    };
    serve_page_with(pages, PHONE_PAGE, request, status, body_data).await
}

/// Looks the code up without touching it (no scan, no claim). It costs
/// the client IP one phone API call, the budget the scan spends. What it
/// tells — whether the code still waits, has finished or expired, never who
/// scanned it or whether it is scanned — is what anyone who can see the
/// login screen knows anyway, and only for an id they have (128-bit random,
/// not guessable).
async fn check(app: &AppState, ClientIp(ip): ClientIp, id: &str) -> CodeCheck {
    let Some(id) = QrId::parse(id) else {
        return CodeCheck::NotFound;
    };
    if app.limits().spend::<PhoneCall>(ip).is_err() {
        return CodeCheck::Unchecked;
    }
    let now = app.login().clock().now();
    match app.login().store().get(&id, now).await {
        Ok(None) => CodeCheck::NotFound,
        Ok(Some(session)) => match session.state(now) {
            PublicState::Pending | PublicState::Scanned => CodeCheck::Live,
            PublicState::Expired => CodeCheck::Expired,
            PublicState::Confirmed | PublicState::Cancelled | PublicState::Redeemed => {
                CodeCheck::Finished
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "could not check the phone page's code");
            CodeCheck::Unchecked
        }
    }
}

/// `/l/` with no code: a page (404) saying where codes come from, in the
/// reader's language, rather than the API's JSON 404.
pub(super) async fn without_code(pages: &Pages, request: &HeaderMap) -> Response {
    let lang = language::for_request(request);
    let strings = pages.strings_now().await;
    let text = |key: &str, english: &'static str| {
        strings
            .as_deref()
            .and_then(|s| s.get(lang, key))
            .map_or(english.to_owned(), str::to_owned)
    };
    let title = text("phone.no_code_title", "No login code in this link");
    let body = format!(
        "<p id=\"message\">{}</p>",
        escape(&text(
            "phone.no_code",
            "Open the login page on your computer and scan its QR code with the qrlogin app."
        ))
    );
    html_page_in(lang.tag(), StatusCode::NOT_FOUND, &title, &body)
}

/// The route handler of `/l/{id}`.
pub(super) async fn route(
    pages: Pages,
    State(app): State<AppState>,
    ip: ClientIp,
    Path(id): Path<String>,
    request: HeaderMap,
) -> Response {
    show(&pages, &app, ip, &id, &request).await
}
