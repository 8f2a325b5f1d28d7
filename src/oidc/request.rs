//! The authorization request (`/oauth/authorize`, RFC 6749 §4.1.1 with PKCE
//! and OpenID Connect's `nonce`), checked in the order RFC 6749 §4.1.2.1
//! demands: a request whose client or redirect URI cannot be trusted is
//! refused on a page of ours (redirecting would make us an open redirector);
//! every other problem goes back to the client's redirect URI.

use super::clients::{Client, Clients};
use super::error::ErrorCode;
use super::scope::Scope;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Longest `state` and `nonce` kept (they travel through the store and back).
pub const MAX_PARAM_LEN: usize = 1024;

/// A checked authorization request: what the QR session carries until the
/// phone confirms, and the code is issued for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The S256 PKCE challenge (RFC 7636); required for public clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
}

/// Why an authorization request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeRefusal {
    /// The client or redirect URI cannot be trusted: tell the person, on our page.
    Page(&'static str),
    /// Tell the client, at its redirect URI.
    Redirect(ErrorRedirect),
}

/// An error answer to send to the client's redirect URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub error: ErrorCode,
    pub description: &'static str,
    pub state: Option<String>,
}

impl ErrorRedirect {
    /// `redirect_uri?error=…&error_description=…&state=…&iss=…`.
    pub fn url(&self, issuer: &str) -> String {
        let mut pairs = vec![
            ("error", self.error.as_str()),
            ("error_description", self.description),
        ];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", issuer));
        with_query(&self.redirect_uri, &pairs)
    }
}

/// `uri` with `pairs` appended to its query (a registered URI may carry a
/// query of its own, which RFC 6749 §3.1.2 says to keep).
pub fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return uri.to_owned();
    }
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        // Registered URIs were checked at start-up; this cannot happen.
        Err(_) => uri.to_owned(),
    }
}

impl AuthorizationRequest {
    /// Parses and checks the query string of an authorization request.
    pub fn parse<'c>(
        query: &str,
        clients: &'c Clients,
    ) -> Result<(Self, &'c Client), AuthorizeRefusal> {
        use AuthorizeRefusal::Page;
        // RFC 6749 §3.1: no parameter may appear twice.
        let mut params: HashMap<String, String> = HashMap::new();
        let mut repeated = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if params.insert(k.to_string(), v.into_owned()).is_some() {
                repeated.get_or_insert(k.into_owned());
            }
        }
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());

        if matches!(repeated.as_deref(), Some("client_id" | "redirect_uri")) {
            return Err(Page(
                "client_id and redirect_uri may each appear only once.",
            ));
        }
        let client_id = get("client_id").ok_or(Page("The request names no client_id."))?;
        let client = clients.get(client_id).ok_or(Page(
            "This site (client_id) is not registered with this login server.",
        ))?;
        let redirect_uri = get("redirect_uri").ok_or(Page(
            "The request has no redirect_uri (OpenID Connect requires one).",
        ))?;
        if !client.allows_redirect(redirect_uri) {
            return Err(Page("The redirect_uri is not registered for this site."));
        }

        let state = get("state").map(str::to_owned);
        let refuse = |error, description| {
            Err(AuthorizeRefusal::Redirect(ErrorRedirect {
                redirect_uri: redirect_uri.to_owned(),
                error,
                description,
                state: state.clone().filter(|s| s.len() <= MAX_PARAM_LEN),
            }))
        };
        use ErrorCode as E;
        if repeated.is_some() {
            return refuse(E::InvalidRequest, "a parameter appears more than once");
        }
        match get("response_type") {
            Some("code") => {}
            None => return refuse(E::InvalidRequest, "response_type is required"),
            Some(_) => {
                return refuse(
                    E::UnsupportedResponseType,
                    "only response_type=code is supported",
                );
            }
        }
        if get("response_mode").is_some_and(|m| m != "query") {
            return refuse(E::InvalidRequest, "only response_mode=query is supported");
        }
        if !client.allows(super::clients::GrantType::AuthorizationCode) {
            return refuse(
                E::UnauthorizedClient,
                "this client is not registered for authorization_code",
            );
        }
        if get("request").is_some() {
            return refuse(E::RequestNotSupported, "request objects are not supported");
        }
        if get("request_uri").is_some() {
            return refuse(E::RequestUriNotSupported, "request_uri is not supported");
        }
        let mut scope = Scope::parse(get("scope").unwrap_or(""));
        // No refresh token will come: do not grant (nor list) offline access.
        scope.offline_access &= client.allows(super::clients::GrantType::RefreshToken);
        if !scope.openid {
            return refuse(E::InvalidScope, "scope must include openid");
        }
        if state.as_ref().is_some_and(|s| s.len() > MAX_PARAM_LEN) {
            return refuse(E::InvalidRequest, "state is too long (at most 1024 bytes)");
        }
        let nonce = get("nonce").map(str::to_owned);
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_PARAM_LEN) {
            return refuse(E::InvalidRequest, "nonce is too long (at most 1024 bytes)");
        }
        let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
            (Some(c), Some("S256")) if super::pkce::is_valid_challenge(c) => Some(c.to_owned()),
            (Some(_), Some("S256")) => {
                return refuse(
                    E::InvalidRequest,
                    "code_challenge must be 43 base64url characters",
                );
            }
            (Some(_), None | Some("plain")) => {
                return refuse(
                    E::InvalidRequest,
                    "code_challenge_method must be S256 (plain is not supported)",
                );
            }
            (Some(_), Some(_)) => {
                return refuse(E::InvalidRequest, "code_challenge_method must be S256");
            }
            (None, Some(_)) => {
                return refuse(
                    E::InvalidRequest,
                    "code_challenge_method without code_challenge",
                );
            }
            (None, None) if client.is_public() => {
                return refuse(
                    E::InvalidRequest,
                    "PKCE (code_challenge, S256) is required for this client",
                );
            }
            // Without PKCE only the nonce, checked by the client in the
            // id_token, stops an injected code (RFC 9700 §2.1.1): one of the two.
            (None, None) if nonce.is_none() => {
                return refuse(
                    E::InvalidRequest,
                    "use PKCE (code_challenge with S256) or send a nonce",
                );
            }
            (None, None) => None,
        };
        // Every login here is a fresh scan on the phone: there is no session
        // to reuse silently (OpenID Connect Core §3.1.2.6).
        if get("prompt").is_some_and(|p| p.split(' ').any(|v| v == "none")) {
            return refuse(E::LoginRequired, "every login needs a scan on the phone");
        }
        let request = Self {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope,
            state,
            nonce,
            code_challenge,
        };
        Ok((request, client))
    }

    /// `redirect_uri?code=…&state=…&iss=…` (RFC 9207's `iss` names us, so a
    /// client talking to several providers cannot be mixed up).
    pub fn success_url(&self, code: &str, issuer: &str) -> String {
        let mut pairs = vec![("code", code)];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", issuer));
        with_query(&self.redirect_uri, &pairs)
    }

    /// The answer when the user cancelled on the phone.
    pub fn denied(&self) -> ErrorRedirect {
        ErrorRedirect {
            redirect_uri: self.redirect_uri.clone(),
            error: ErrorCode::AccessDenied,
            description: "the user declined the login",
            state: self.state.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn clients() -> Clients {
        crate::oidc::clients::test_clients("https://shop.example/cb?v=1", &"00".repeat(32))
    }

    /// A good request, with `extra` replacing (or, empty, removing) a
    /// parameter or adding one.
    fn query(extra: &[(&str, &str)]) -> String {
        let defaults = [
            ("response_type", "code"),
            ("client_id", "shop"),
            ("redirect_uri", "https://shop.example/cb?v=1"),
            ("scope", "openid profile"),
            ("state", "s t&ate"),
            ("nonce", "n-0S6"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in defaults {
            let v = extra.iter().find(|(e, _)| *e == k).map_or(v, |(_, v)| *v);
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        for (k, v) in extra {
            if !defaults.iter().any(|(d, _)| d == k) {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }

    fn parse(extra: &[(&str, &str)]) -> Result<AuthorizationRequest, AuthorizeRefusal> {
        let clients = clients();
        AuthorizationRequest::parse(&query(extra), &clients).map(|(r, _)| r)
    }

    fn redirect_error(extra: &[(&str, &str)]) -> &'static str {
        match parse(extra) {
            Err(AuthorizeRefusal::Redirect(r)) => {
                assert_eq!(r.state.as_deref(), Some("s t&ate"));
                r.error.as_str()
            }
            other => panic!("expected an error redirect, got {other:?}"),
        }
    }

    #[test]
    fn a_good_request_keeps_state_and_nonce_untouched() {
        let r = parse(&[]).unwrap();
        assert_eq!(r.state.as_deref(), Some("s t&ate"));
        assert_eq!(r.nonce.as_deref(), Some("n-0S6"));
        assert_eq!(r.scope.to_string(), "openid profile");
        let url = r.success_url("the-code", "https://login.example");
        assert_eq!(
            url,
            "https://shop.example/cb?v=1&code=the-code&state=s+t%26ate&iss=https%3A%2F%2Flogin.example"
        );
    }

    #[test]
    fn untrusted_client_or_redirect_gets_a_page() {
        for extra in [
            vec![("client_id", "")],
            vec![("client_id", "nobody")],
            vec![("redirect_uri", "")],
            vec![("redirect_uri", "https://shop.example/cb?v=1/")],
            vec![("redirect_uri", "https://shop.example/cb?v=1&x=2")],
            vec![("redirect_uri", "https://shop.example:8443/cb?v=1")],
            vec![("redirect_uri", "https://Shop.example/cb?v=1")],
            vec![("redirect_uri", "https://evil.example/cb?v=1")],
        ] {
            assert!(
                matches!(parse(&extra), Err(AuthorizeRefusal::Page(_))),
                "{extra:?}"
            );
        }
        let twice = format!("{}&client_id=spa", query(&[]));
        assert!(matches!(
            AuthorizationRequest::parse(&twice, &clients()),
            Err(AuthorizeRefusal::Page(_))
        ));
    }

    #[test]
    fn other_problems_go_back_to_the_client() {
        assert_eq!(
            redirect_error(&[("response_type", "token")]),
            "unsupported_response_type"
        );
        assert_eq!(redirect_error(&[("response_type", "")]), "invalid_request");
        assert_eq!(redirect_error(&[("scope", "profile")]), "invalid_scope");
        assert_eq!(
            redirect_error(&[("code_challenge_method", "plain")]),
            "invalid_request"
        );
        assert_eq!(
            redirect_error(&[("code_challenge_method", "")]),
            "invalid_request"
        );
        assert_eq!(
            redirect_error(&[("code_challenge_method", "S512")]),
            "invalid_request"
        );
        assert_eq!(
            redirect_error(&[("code_challenge", "short")]),
            "invalid_request"
        );
        assert_eq!(redirect_error(&[("code_challenge", "")]), "invalid_request");
        assert_eq!(redirect_error(&[("prompt", "none")]), "login_required");
        assert_eq!(
            redirect_error(&[("request", "eyJ…")]),
            "request_not_supported"
        );
        assert_eq!(
            redirect_error(&[("response_mode", "fragment")]),
            "invalid_request"
        );
        let long = "n".repeat(MAX_PARAM_LEN + 1);
        assert_eq!(redirect_error(&[("nonce", &long)]), "invalid_request");
        let twice = format!("{}&scope=openid", query(&[]));
        assert!(matches!(
            AuthorizationRequest::parse(&twice, &clients()),
            Err(AuthorizeRefusal::Redirect(ErrorRedirect {
                error: ErrorCode::InvalidRequest,
                ..
            }))
        ));
    }

    #[test]
    fn pkce_is_optional_for_confidential_clients_only() {
        let none = [("code_challenge", ""), ("code_challenge_method", "")];
        assert_eq!(parse(&none).unwrap().code_challenge, None);
        let mut spa = none.to_vec();
        spa.push(("client_id", "spa"));
        assert_eq!(redirect_error(&spa), "invalid_request");
        assert!(parse(&[("client_id", "spa")]).is_ok());
    }

    #[test]
    fn a_confidential_client_without_pkce_must_send_a_nonce() {
        let none = [
            ("code_challenge", ""),
            ("code_challenge_method", ""),
            ("nonce", ""),
        ];
        assert_eq!(redirect_error(&none), "invalid_request");
    }

    #[test]
    fn unknown_scopes_are_ignored() {
        let r = parse(&[("scope", "openid email phone")]).unwrap();
        assert_eq!(r.scope.to_string(), "openid");
    }

    #[test]
    fn the_error_redirect_carries_state_and_iss() {
        let r = parse(&[]).unwrap().denied();
        assert_eq!(
            r.url("http://127.0.0.1:8080"),
            "https://shop.example/cb?v=1&error=access_denied&error_description=the+user+declined+the+login&state=s+t%26ate&iss=http%3A%2F%2F127.0.0.1%3A8080"
        );
    }
}
