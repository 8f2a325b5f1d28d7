//! The OpenID Connect provider's HTTP side: discovery, JWKS, the
//! authorization page, the token endpoint, userinfo, revocation,
//! introspection and RP-initiated logout. Back-channel errors use OAuth's
//! own shape (`{"error", "error_description"}`, RFC 6749 §5.2), mapped to
//! statuses in one place ([`OAuthHttpError`]).

use super::browser::{SESSION_COOKIE, same_origin};
use super::error::Refusal;
use super::extract::ClientIp;
use super::pages;
use super::rate_limit::{QrCreation, TokenCall};
use super::state::AppState;
use crate::api::{
    DeviceAuthorizationBody, DeviceAuthorizationRequest, DiscoveryBody, IntrospectionBody,
    JwksBody, OAuthErrorBody, TokenBody, TokenQueryRequest, TokenRequest, UserInfoBody, paths,
};
use crate::oidc::device::verification_uri_complete;
use crate::oidc::{AuthorizeRefusal, ClientCredentials, ErrorCode, IssuedTokens, OAuthError};
use crate::secret::Secret;
use crate::session::RequestInfo;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::headers::authorization::{Basic, Bearer};
use axum_extra::headers::{Authorization, HeaderMapExt};
use std::time::Duration;

/// The paths a browser-based client may call from its own origin.
pub const CORS_PATHS: [&str; 6] = [
    paths::OIDC_DISCOVERY,
    paths::OAUTH_METADATA,
    paths::JWKS,
    paths::TOKEN,
    paths::USERINFO,
    paths::REVOKE,
];

/// CORS for the back channel: a public client running in a browser (a
/// single-page app) calls discovery, the token endpoint, userinfo and
/// revocation from its own origin. Only those paths, only the origins of
/// public clients' redirect URIs, and never with cookies: these endpoints
/// authenticate by what the request carries, not by ambient credentials.
/// Every other path (the QR API, the pages) grants no origin anything.
pub fn cors(config: &crate::config::Config) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = config
        .clients
        .iter()
        .filter(|c| c.public)
        .flat_map(|c| &c.redirect_uris)
        .filter_map(|uri| url::Url::parse(uri).ok())
        .filter_map(|u| HeaderValue::from_str(&u.origin().ascii_serialization()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(600))
}

/// An OAuth error as HTTP: the one table of statuses and headers.
#[derive(Debug)]
pub struct OAuthHttpError(pub OAuthError);

impl From<OAuthError> for OAuthHttpError {
    fn from(e: OAuthError) -> Self {
        Self(e)
    }
}

impl IntoResponse for OAuthHttpError {
    fn into_response(self) -> Response {
        let code = self.0.error_code();
        let status = match code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let description = match &self.0 {
            OAuthError::Refused { description, .. } => (*description).to_owned(),
            OAuthError::Unavailable(detail) => {
                tracing::warn!(%detail, "oauth request failed: store unavailable");
                "the server cannot reach its store; try again shortly".to_owned()
            }
        };
        tracing::debug!(error = code.as_str(), %description, "oauth request refused");
        let mut response = (
            status,
            Json(OAuthErrorBody {
                error: code.as_str().to_owned(),
                error_description: description.clone(),
            }),
        )
            .into_response();
        // "Not yet" is the device grant's normal answer, not a refusal.
        if code != ErrorCode::AuthorizationPending {
            response = Refusal::mark(code.as_str(), response);
        }
        let headers = response.headers_mut();
        no_store(headers);
        match code {
            // RFC 6749 §5.2: a 401 names the scheme the client should use.
            ErrorCode::InvalidClient => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"qrlogin\""),
                );
            }
            // RFC 6750 §3.
            ErrorCode::InvalidToken => {
                let value = format!(
                    "Bearer realm=\"qrlogin\", error=\"invalid_token\", error_description=\"{description}\""
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            ErrorCode::TemporarilyUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// Token responses and errors must not be cached (RFC 6749 §5.1).
fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The form of a back-channel request; a malformed one (wrong content type,
/// a repeated parameter) is `invalid_request`.
fn form<T>(form: Result<Form<T>, FormRejection>) -> Result<T, OAuthHttpError> {
    form.map(|Form(f)| f).map_err(|e| {
        tracing::debug!(error = %e.body_text(), "malformed oauth form");
        OAuthHttpError(OAuthError::new(
            ErrorCode::InvalidRequest,
            "expected an application/x-www-form-urlencoded body with each parameter at most once",
        ))
    })
}

/// The client's credentials: HTTP Basic, or the form's fields.
fn credentials(
    headers: &HeaderMap,
    client_id: Option<String>,
    client_secret: Option<String>,
) -> Result<ClientCredentials, OAuthHttpError> {
    let creds = ClientCredentials {
        basic: None,
        client_id: client_id.filter(|s| !s.is_empty()),
        client_secret: client_secret.filter(|s| !s.is_empty()),
    };
    match headers.typed_get::<Authorization<Basic>>() {
        Some(Authorization(basic)) => Ok(creds.with_basic(basic.username(), basic.password())?),
        None if headers.contains_key(header::AUTHORIZATION) => {
            Err(OAuthHttpError(OAuthError::new(
                ErrorCode::InvalidClient,
                "the Authorization header is not HTTP Basic",
            )))
        }
        None => Ok(creds),
    }
}

/// Provider metadata (OpenID Connect Discovery 1.0).
#[utoipa::path(get, path = paths::OIDC_DISCOVERY, tag = "oauth",
    responses((status = 200, body = DiscoveryBody, description = "Provider metadata")))]
pub async fn discovery(State(app): State<AppState>) -> Response {
    metadata(&app)
}

/// The same metadata for OAuth clients (RFC 8414).
#[utoipa::path(get, path = paths::OAUTH_METADATA, tag = "oauth",
    responses((status = 200, body = DiscoveryBody, description = "Authorization server metadata")))]
pub async fn oauth_metadata(State(app): State<AppState>) -> Response {
    metadata(&app)
}

fn metadata(app: &AppState) -> Response {
    let issuer = app.oidc().issuer().to_owned();
    let at = |path: &str| format!("{issuer}{path}");
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let auth_methods = strings(&["client_secret_basic", "client_secret_post", "none"]);
    let confidential = strings(&["client_secret_basic", "client_secret_post"]);
    let algs = app
        .oidc()
        .keys()
        .algorithms()
        .into_iter()
        .map(|a| format!("{a:?}"))
        .collect();
    let body = DiscoveryBody {
        authorization_endpoint: at(paths::AUTHORIZE),
        token_endpoint: at(paths::TOKEN),
        userinfo_endpoint: at(paths::USERINFO),
        jwks_uri: at(paths::JWKS),
        revocation_endpoint: at(paths::REVOKE),
        introspection_endpoint: at(paths::INTROSPECT),
        end_session_endpoint: at(paths::END_SESSION),
        device_authorization_endpoint: at(paths::DEVICE_AUTHORIZATION),
        issuer,
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        grant_types_supported: strings(&crate::config::GRANT_TYPES),
        subject_types_supported: strings(&["public"]),
        id_token_signing_alg_values_supported: algs,
        scopes_supported: strings(&crate::oidc::scope::SUPPORTED),
        claims_supported: strings(&[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "name",
            "picture",
        ]),
        code_challenge_methods_supported: strings(&["S256"]),
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        revocation_endpoint_auth_methods_supported: auth_methods,
        introspection_endpoint_auth_methods_supported: confidential,
        prompt_values_supported: strings(&["login", "consent"]),
        authorization_response_iss_parameter_supported: true,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        claims_parameter_supported: false,
    };
    cacheable(Json(body))
}

/// Public, briefly cacheable: clients fetch metadata and keys often.
fn cacheable(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// The public keys id_tokens are signed with.
#[utoipa::path(get, path = paths::JWKS, tag = "oauth",
    responses((status = 200, body = JwksBody, description = "JWK Set")))]
pub async fn jwks(State(app): State<AppState>) -> Response {
    let set = app.oidc().keys().jwks();
    // The JwkSet serialises as RFC 7517 says; take its keys as JSON values.
    let keys = serde_json::to_value(&set)
        .ok()
        .and_then(|v| v.get("keys").and_then(|k| k.as_array()).cloned())
        .unwrap_or_default();
    cacheable(Json(JwksBody { keys }))
}

/// The token endpoint: `authorization_code` (with PKCE), `refresh_token`,
/// and the device grant (RFC 8628), optionally held with `wait`.
#[utoipa::path(post, path = paths::TOKEN, tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, body = TokenBody, description = "Tokens"),
        (status = 400, body = OAuthErrorBody, description = "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type, invalid_scope; for the device grant authorization_pending, slow_down, access_denied, expired_token"),
        (status = 401, body = OAuthErrorBody, description = "invalid_client"),
        (status = 429, body = OAuthErrorBody, description = "temporarily_unavailable: too many from this address (Retry-After)"),
        (status = 503, body = OAuthErrorBody, description = "temporarily_unavailable"),
    ))]
pub async fn token(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Form<TokenRequest>, FormRejection>,
) -> Result<Response, OAuthHttpError> {
    if let Err(retry_after) = app.limits().spend::<TokenCall>(ip) {
        return Ok(rate_limited(retry_after));
    }
    let req = form(body)?;
    let creds = credentials(&headers, req.client_id, req.client_secret)?;
    let oidc = app.oidc();
    let issued = match req.grant_type.as_deref() {
        Some("authorization_code") => {
            oidc.exchange_code(
                &creds,
                req.code.as_deref(),
                req.redirect_uri.as_deref(),
                req.code_verifier.as_deref(),
            )
            .await?
        }
        Some("refresh_token") => {
            oidc.refresh(&creds, req.refresh_token.as_deref(), req.scope.as_deref())
                .await?
        }
        Some(crate::config::DEVICE_CODE_GRANT) => {
            app.device()
                .token(&creds, req.device_code.as_deref(), req.wait.as_deref())
                .await?
        }
        Some(_) => {
            // Authenticate first: an unknown client learns nothing more.
            oidc.clients().authenticate(&creds)?;
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code, refresh_token or urn:ietf:params:oauth:grant-type:device_code",
            )
            .into());
        }
        None => {
            return Err(
                OAuthError::new(ErrorCode::InvalidRequest, "grant_type is required").into(),
            );
        }
    };
    let mut response = Json(token_body(issued)).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

fn token_body(t: IssuedTokens) -> TokenBody {
    TokenBody {
        access_token: t.access_token.expose().to_owned(),
        token_type: "Bearer".into(),
        expires_in: t.expires_in.as_secs(),
        id_token: t.id_token,
        scope: t.scope.to_string(),
        refresh_token: t.refresh_token.map(|r| r.expose().to_owned()),
    }
}

/// Starts a device's login (RFC 8628 §3.1): a TV or CLI shows the
/// `verification_uri_complete` as a QR (`qr_svg`, `qr_png`) and the user
/// code, then polls the token endpoint with the device code.
#[utoipa::path(post, path = paths::DEVICE_AUTHORIZATION, tag = "oauth",
    request_body(content = DeviceAuthorizationRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, body = DeviceAuthorizationBody, description = "Device code, user code, where to confirm"),
        (status = 400, body = OAuthErrorBody, description = "invalid_request, unauthorized_client, invalid_scope"),
        (status = 401, body = OAuthErrorBody, description = "invalid_client"),
        (status = 429, body = OAuthErrorBody, description = "temporarily_unavailable: too many from this address (Retry-After)"),
        (status = 503, body = OAuthErrorBody, description = "temporarily_unavailable"),
    ))]
pub async fn device_authorization(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Form<DeviceAuthorizationRequest>, FormRejection>,
) -> Result<Response, OAuthHttpError> {
    // A device authorization is a QR session: the QR creation budget.
    if let Err(retry_after) = app.limits().spend::<QrCreation>(ip) {
        return Ok(rate_limited(retry_after));
    }
    let req = form(body)?;
    let creds = credentials(&headers, req.client_id, req.client_secret)?;
    let device = RequestInfo {
        ip: ip.to_string(),
        user_agent: super::browser::user_agent(&headers),
    };
    let started = app
        .device()
        .start(&creds, req.scope.as_deref(), device)
        .await?;
    let verification_uri = format!("{}{}", app.oidc().issuer(), paths::DEVICE_PAGE);
    let base = app.config().public_base();
    let body = DeviceAuthorizationBody {
        device_code: started.device_code.expose().to_owned(),
        user_code: started.user_code.to_string(),
        verification_uri_complete: verification_uri_complete(&verification_uri, &started.user_code),
        verification_uri,
        expires_in: started.expires_in.as_secs(),
        interval: started.interval.as_secs(),
        qr_svg: format!("{base}{}", paths::with_id(paths::QR_SVG, &started.qr_id)),
        qr_png: format!("{base}{}", paths::with_id(paths::QR_PNG, &started.qr_id)),
    };
    let mut response = Json(body).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// 429 in OAuth's error shape, with `Retry-After`.
fn rate_limited(retry_after: Duration) -> Response {
    let secs = retry_after.as_secs().max(1);
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(OAuthErrorBody {
            error: ErrorCode::TemporarilyUnavailable.as_str().to_owned(),
            error_description: format!("too many requests from this address; retry in {secs} s"),
        }),
    )
        .into_response();
    let headers = response.headers_mut();
    no_store(headers);
    headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    Refusal::mark("rate_limited", response)
}

/// Who the access token's user is (OpenID Connect Core §5.3).
#[utoipa::path(get, path = paths::USERINFO, tag = "oauth",
    security(("access_token" = [])),
    responses(
        (status = 200, body = UserInfoBody, description = "Claims about the user"),
        (status = 401, body = OAuthErrorBody, description = "invalid_token, or invalid_request when no token was sent"),
        (status = 503, body = OAuthErrorBody, description = "temporarily_unavailable"),
    ))]
pub async fn userinfo(State(app): State<AppState>, headers: HeaderMap) -> Response {
    userinfo_of(&app, &headers).await
}

/// The same by POST, which OpenID Connect Core §5.3.1 also requires.
#[utoipa::path(post, path = paths::USERINFO, tag = "oauth", operation_id = "userinfo_post",
    security(("access_token" = [])),
    responses(
        (status = 200, body = UserInfoBody, description = "Claims about the user"),
        (status = 401, body = OAuthErrorBody, description = "invalid_token, or invalid_request when no token was sent"),
        (status = 503, body = OAuthErrorBody, description = "temporarily_unavailable"),
    ))]
pub async fn userinfo_post(State(app): State<AppState>, headers: HeaderMap) -> Response {
    userinfo_of(&app, &headers).await
}

async fn userinfo_of(app: &AppState, headers: &HeaderMap) -> Response {
    let Some(Authorization(bearer)) = headers.typed_get::<Authorization<Bearer>>() else {
        // RFC 6750 §3.1: a request without credentials gets no error code
        // in its challenge; the body still has the documented error shape,
        // so a client reading JSON never meets an empty 401.
        let mut response = (
            StatusCode::UNAUTHORIZED,
            Json(OAuthErrorBody {
                error: ErrorCode::InvalidRequest.as_str().to_owned(),
                error_description: "no access token was sent".to_owned(),
            }),
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"qrlogin\""),
        );
        return response;
    };
    match app.oidc().userinfo(bearer.token()).await {
        Ok(info) => {
            let mut response = Json(UserInfoBody {
                sub: info.sub,
                name: info.name,
                picture: info.picture,
            })
            .into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => OAuthHttpError(e).into_response(),
    }
}

/// Revokes an access token, or a refresh token with its whole grant (RFC 7009).
#[utoipa::path(post, path = paths::REVOKE, tag = "oauth",
    request_body(content = TokenQueryRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or was not a valid token (no body)"),
        (status = 400, body = OAuthErrorBody, description = "invalid_request"),
        (status = 401, body = OAuthErrorBody, description = "invalid_client"),
        (status = 429, body = OAuthErrorBody, description = "temporarily_unavailable: too many from this address (Retry-After)"),
        (status = 503, body = OAuthErrorBody, description = "temporarily_unavailable"),
    ))]
pub async fn revoke(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Form<TokenQueryRequest>, FormRejection>,
) -> Result<Response, OAuthHttpError> {
    if let Err(retry_after) = app.limits().spend::<TokenCall>(ip) {
        return Ok(rate_limited(retry_after));
    }
    let req = form(body)?;
    let creds = credentials(&headers, req.client_id, req.client_secret)?;
    app.oidc().revoke(&creds, req.token.as_deref()).await?;
    let mut response = StatusCode::OK.into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// What a token is, for resource servers (RFC 7662; confidential clients).
#[utoipa::path(post, path = paths::INTROSPECT, tag = "oauth",
    request_body(content = TokenQueryRequest, content_type = "application/x-www-form-urlencoded"),
    security(("client_secret_basic" = [])),
    responses(
        (status = 200, body = IntrospectionBody, description = "`active` and, if active, the token's claims"),
        (status = 400, body = OAuthErrorBody, description = "invalid_request"),
        (status = 401, body = OAuthErrorBody, description = "invalid_client"),
        (status = 429, body = OAuthErrorBody, description = "temporarily_unavailable: too many from this address (Retry-After)"),
        (status = 503, body = OAuthErrorBody, description = "temporarily_unavailable"),
    ))]
pub async fn introspect(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Form<TokenQueryRequest>, FormRejection>,
) -> Result<Response, OAuthHttpError> {
    if let Err(retry_after) = app.limits().spend::<TokenCall>(ip) {
        return Ok(rate_limited(retry_after));
    }
    let req = form(body)?;
    let creds = credentials(&headers, req.client_id, req.client_secret)?;
    let oidc = app.oidc();
    let body = match oidc.introspect(&creds, req.token.as_deref()).await? {
        None => IntrospectionBody::default(),
        Some(t) => IntrospectionBody {
            active: true,
            scope: Some(t.scope.to_string()),
            username: Some(t.username),
            // RFC 7662 §2.2: the token's type as RFC 6749 §5.1 names it.
            token_type: (t.token_type == "access_token").then(|| "Bearer".to_owned()),
            exp: Some(t.expires_at.as_secs()),
            iat: Some(t.issued_at.as_secs()),
            sub: Some(t.sub),
            aud: Some(t.client_id.clone()),
            client_id: Some(t.client_id),
            iss: Some(oidc.issuer().to_owned()),
        },
    };
    let mut response = Json(body).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// The authorization endpoint: checks the request, then shows the QR login
/// page for the client (the page starts the login with this query string).
pub async fn authorize(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    match app.oidc().authorize(&query) {
        Ok(_) => pages::login_page_from(&app, &headers).await,
        Err(refusal) => refusal_response(&app, refusal),
    }
}

/// OpenID Connect Core §3.1.2.1: the endpoint must accept POST too. The
/// checked parameters move to the query, where the page reads them.
pub async fn authorize_post(
    State(app): State<AppState>,
    body: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Ok(Form(pairs)) = body else {
        return pages::message_page(
            StatusCode::BAD_REQUEST,
            "Sign-in request refused",
            "The authorization request is not a form.",
        );
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    match app.oidc().authorize(&query) {
        Ok(_) => Redirect::to(&format!("{}?{query}", paths::AUTHORIZE)).into_response(),
        Err(refusal) => refusal_response(&app, refusal),
    }
}

fn refusal_response(app: &AppState, refusal: AuthorizeRefusal) -> Response {
    match refusal {
        AuthorizeRefusal::Page(why) => {
            tracing::info!(%why, "authorization request refused on a page");
            Refusal::mark(
                "invalid_authorization",
                pages::message_page(StatusCode::BAD_REQUEST, "Sign-in request refused", why),
            )
        }
        AuthorizeRefusal::Redirect(r) => {
            tracing::info!(
                error = r.error.as_str(),
                why = r.description,
                "authorization request refused"
            );
            Refusal::mark(
                r.error.as_str(),
                Redirect::to(&r.url(app.oidc().issuer())).into_response(),
            )
        }
    }
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), by GET:
/// ends this browser's qrlogin session and goes back to the site if it asked.
pub async fn end_session(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    logout(&app, pairs, false, &headers, jar).await
}

/// The same by POST (§2 requires both); also where the confirmation page
/// posts to, with `confirm=yes`.
pub async fn end_session_post(
    State(app): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Ok(Form(pairs)) = body else {
        return pages::message_page(
            StatusCode::BAD_REQUEST,
            "Logout refused",
            "The logout request is not a form.",
        );
    };
    logout(&app, pairs, true, &headers, jar).await
}

/// Logging out by a link is a request any page could make, so it happens
/// at once only with a valid `id_token_hint` naming the logged-in user;
/// otherwise the person is asked, on a page of ours, and their same-origin
/// POST of that page's form (`confirm=yes`) does it.
async fn logout(
    app: &AppState,
    pairs: Vec<(String, String)>,
    posted: bool,
    headers: &HeaderMap,
    jar: CookieJar,
) -> Response {
    let mut params = std::collections::HashMap::new();
    for (k, v) in &pairs {
        if params.insert(k.as_str(), v.as_str()).is_some() {
            return pages::message_page(
                StatusCode::BAD_REQUEST,
                "Logout refused",
                "A parameter appears more than once.",
            );
        }
    }
    let get = |k: &str| params.get(k).copied().filter(|v| !v.is_empty());
    let plan = match app.oidc().plan_logout(
        get("id_token_hint"),
        get("client_id"),
        get("post_logout_redirect_uri"),
        get("state"),
    ) {
        Ok(plan) => plan,
        Err(why) => return pages::message_page(StatusCode::BAD_REQUEST, "Logout refused", why),
    };
    let back = plan
        .redirect
        .clone()
        .unwrap_or_else(|| paths::LOGIN_PAGE.to_owned());
    let cookie = jar
        .get(SESSION_COOKIE)
        .map(|c| Secret::from_client(c.value()));
    let current = match app.login().current_login(cookie.as_ref()).await {
        Ok(account) => account,
        // Nobody is logged in here: nothing to end.
        Err(crate::login::LoginError::NotLoggedIn) => return Redirect::to(&back).into_response(),
        Err(e) => return super::error::ApiError::from(e).into_response(),
    };
    let hinted = plan.hinted_user.as_deref() == Some(current.user.id.as_str());
    let confirmed = posted
        && get("confirm") == Some("yes")
        && same_origin(headers, &app.config().server.public_url.origin());
    if !(hinted || confirmed) {
        let hidden: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(k, _)| k != "confirm")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([("confirm", "yes")])
            .collect();
        return pages::confirm_logout_page(&current.user.name, paths::END_SESSION, &hidden);
    }
    if let Err(e) = app.login().logout(cookie.as_ref()).await {
        return super::error::ApiError::from(e).into_response();
    }
    (
        super::browser::session_cookie_removals(app.config()),
        Redirect::to(&back),
    )
        .into_response()
}
