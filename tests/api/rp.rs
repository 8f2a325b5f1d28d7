//! Acting as a relying site against the OpenID Connect provider: build an
//! authorization request, walk a browser and a phone through the QR login
//! it starts, and call the back channel.
#![allow(dead_code)]

use crate::helpers::{
    KIOSK, KIOSK_SECRET, Qr, SHOP, SHOP_REDIRECT, SHOP_SECRET, SPA, SPA_REDIRECT, TestApp, WIKI,
    WIKI_REDIRECT, WIKI_SECRET, browser, json,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

/// An authorization request as a client would build it.
#[derive(Clone, Debug)]
pub struct Authorize {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The PKCE verifier; its S256 challenge goes in the request.
    pub verifier: Option<String>,
    /// More parameters (or overrides: an empty value removes one).
    pub extra: Vec<(String, String)>,
}

/// A fresh PKCE verifier (43 unreserved characters).
pub fn verifier() -> String {
    qrlogin::secret::Secret::generate().expose().to_owned()
}

pub fn challenge_of(verifier: &str) -> String {
    use sha2::Digest as _;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

impl Authorize {
    /// The confidential "shop", with PKCE, state, nonce, and every scope.
    pub fn shop() -> Self {
        Self {
            client_id: SHOP.into(),
            redirect_uri: SHOP_REDIRECT.into(),
            scope: "openid profile offline_access".into(),
            state: Some("st&te=1 ü/?#".into()),
            nonce: Some("n-0S6_WzA2Mj".into()),
            verifier: Some(verifier()),
            extra: vec![],
        }
    }

    pub fn wiki() -> Self {
        Self {
            client_id: WIKI.into(),
            redirect_uri: WIKI_REDIRECT.into(),
            ..Self::shop()
        }
    }

    /// The public "spa" (PKCE required).
    pub fn spa() -> Self {
        Self {
            client_id: SPA.into(),
            redirect_uri: SPA_REDIRECT.into(),
            ..Self::shop()
        }
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }

    /// The query string of `/oauth/authorize`.
    pub fn query(&self) -> String {
        let mut pairs: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), self.client_id.clone()),
            ("redirect_uri".into(), self.redirect_uri.clone()),
            ("scope".into(), self.scope.clone()),
        ];
        if let Some(s) = &self.state {
            pairs.push(("state".into(), s.clone()));
        }
        if let Some(n) = &self.nonce {
            pairs.push(("nonce".into(), n.clone()));
        }
        if let Some(v) = &self.verifier {
            pairs.push(("code_challenge".into(), challenge_of(v)));
            pairs.push(("code_challenge_method".into(), "S256".into()));
        }
        for (k, v) in &self.extra {
            pairs.retain(|(p, _)| p != k);
            if !v.is_empty() {
                pairs.push((k.clone(), v.clone()));
            }
        }
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }
}

/// The query parameters of a URL, each once.
pub fn params(url: &str) -> HashMap<String, String> {
    let url = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    url.query_pairs().into_owned().collect()
}

/// Where a redirect response points.
pub fn location(resp: &Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_owned()
}

/// What the phone does with the login it scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirm,
    Cancel,
}

/// A browser that started a site's login, up to the QR on the page.
pub struct Started {
    pub browser: reqwest::Client,
    pub qr: Qr,
}

impl TestApp {
    pub async fn authorize_page(&self, browser: &reqwest::Client, query: &str) -> Response {
        browser
            .get(self.url(&format!("/oauth/authorize?{query}")))
            .send()
            .await
            .unwrap()
    }

    /// A fresh browser opens the authorization URL and its page creates
    /// the QR session for it.
    pub async fn start_authorization(&self, request: &Authorize) -> Started {
        let started = self
            .start_authorization_in(browser(), &request.query())
            .await;
        let body = &started.qr.body;
        assert_eq!(body["client"]["id"], request.client_id.as_str(), "{body}");
        started
    }

    /// `browser` opens `/oauth/authorize?{query}` and its page creates the
    /// QR session for it.
    pub async fn start_authorization_in(&self, browser: reqwest::Client, query: &str) -> Started {
        let page = self.authorize_page(&browser, query).await;
        assert_eq!(page.status(), StatusCode::OK, "{query}");
        assert!(
            page.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let resp = browser
            .post(self.url("/api/qr"))
            .json(&json!({ "authorize": query }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body = json(resp).await;
        let qr = Qr::from_created(body);
        Started { browser, qr }
    }

    /// The started login's poll, answered at once.
    pub async fn poll_started(&self, started: &Started) -> Value {
        let resp = started
            .browser
            .get(self.url(&format!("/api/qr/{}/status?wait=0", started.qr.id)))
            .bearer_auth(&started.qr.poll_token)
            .send()
            .await
            .unwrap();
        json(resp).await
    }

    /// The phone (`phone` token) scans the started login and decides; the
    /// page's poll then learns where the browser goes: for a confirm, the
    /// page's "continue" navigation, which the provider answers with a
    /// redirect to the site; for a cancel, the site's error URL itself.
    /// Returns that URL.
    pub async fn finish_authorization(
        &self,
        started: &Started,
        phone: &str,
        decision: Decision,
    ) -> String {
        let confirm = self.scan_ok(phone, &started.qr).await;
        let decided = match decision {
            Decision::Confirm => self.confirm(phone, &started.qr, &confirm).await,
            Decision::Cancel => self.cancel(phone, &started.qr, &confirm).await,
        };
        assert_eq!(decided.status(), StatusCode::OK);
        let body = self.poll_started(started).await;
        let redirect = body["redirect"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"));
        if decision == Decision::Cancel {
            assert_eq!(body["state"], "cancelled", "{body}");
            return redirect.to_owned();
        }
        assert_eq!(body["state"], "confirmed", "{body}");
        let resp = started
            .browser
            .get(self.url(redirect))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        location(&resp)
    }

    /// The whole front channel: authorize → QR → the phone (`phone` token)
    /// scans and confirms → the page's "continue" navigation. Returns the
    /// browser and the URL it was sent back to the site with.
    pub async fn authorize_as(
        &self,
        request: &Authorize,
        phone: &str,
    ) -> (reqwest::Client, String) {
        let started = self.start_authorization(request).await;
        let callback = self
            .finish_authorization(&started, phone, Decision::Confirm)
            .await;
        (started.browser, callback)
    }

    /// A relying party's own authorization URL (at this provider), opened
    /// in `browser`, decided on by `phone`: the URL the browser is sent
    /// back to the site with.
    pub async fn authorize_url_as(
        &self,
        browser: &reqwest::Client,
        authorization_url: &str,
        phone: &str,
        decision: Decision,
    ) -> String {
        let query = authorization_url
            .strip_prefix(&self.url("/oauth/authorize?"))
            .unwrap_or_else(|| {
                panic!("not this provider's authorization URL: {authorization_url}")
            });
        let started = self.start_authorization_in(browser.clone(), query).await;
        self.finish_authorization(&started, phone, decision).await
    }

    /// [`Self::authorize_as`], returning the code (checking `state` and `iss`).
    pub async fn code_for(&self, request: &Authorize, phone: &str) -> String {
        let (_, callback) = self.authorize_as(request, phone).await;
        assert!(callback.starts_with(&request.redirect_uri), "{callback}");
        let p = params(&callback);
        assert_eq!(
            p.get("state"),
            request.state.as_ref(),
            "state comes back untouched"
        );
        assert_eq!(p["iss"], self.issuer);
        p["code"].clone()
    }

    /// POST a form to a back-channel endpoint, with optional Basic credentials.
    pub async fn oauth_post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Response {
        let mut req = reqwest::Client::new().post(self.url(path)).form(form);
        if let Some((id, secret)) = basic {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(id), Some(enc(secret)));
        }
        req.send().await.unwrap()
    }

    /// The token request for `code` as `request`'s client, authenticated as
    /// its client would be (Basic for confidential ones).
    pub async fn redeem_code(&self, request: &Authorize, code: &str) -> Response {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", request.redirect_uri.as_str()),
        ];
        if let Some(v) = &request.verifier {
            form.push(("code_verifier", v));
        }
        match secret_of(&request.client_id) {
            Some(secret) => {
                self.oauth_post("/oauth/token", &form, Some((&request.client_id, secret)))
                    .await
            }
            None => {
                form.push(("client_id", &request.client_id));
                self.oauth_post("/oauth/token", &form, None).await
            }
        }
    }

    /// Authorize and redeem: the token response body.
    pub async fn tokens_for(&self, request: &Authorize, phone: &str) -> Value {
        let code = self.code_for(request, phone).await;
        let resp = self.redeem_code(request, &code).await;
        assert_eq!(resp.status(), StatusCode::OK);
        json(resp).await
    }

    pub async fn userinfo(&self, access_token: &str) -> Response {
        reqwest::Client::new()
            .get(self.url("/oauth/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    pub async fn refresh(&self, client_id: &str, refresh_token: &str) -> Response {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.oauth_post(
            "/oauth/token",
            &form,
            Some((client_id, secret_of(client_id).unwrap())),
        )
        .await
    }
}

/// The secret of a test client; `None` for the public one.
pub fn secret_of(client_id: &str) -> Option<&'static str> {
    match client_id {
        SHOP => Some(SHOP_SECRET),
        WIKI => Some(WIKI_SECRET),
        KIOSK => Some(KIOSK_SECRET),
        _ => None,
    }
}

/// Asserts an OAuth error answer (RFC 6749 §5.2) and returns its body.
pub async fn expect_oauth_error(resp: Response, status: u16, error: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "for expected {error}");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body = json(resp).await;
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

/// The claims of a JWT, NOT verified (for asserting what a verified token says).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
