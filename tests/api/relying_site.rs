//! The example relying party (`examples/relying-site`), run in-process
//! against a test provider: a browser logs in through it with Alice's phone,
//! sees her claims, logs out; a cancel on the phone shows access_denied.

use crate::helpers::*;
use crate::rp::{Decision, location, params};
use qrlogin::config::ClientConfig;
use reqwest::StatusCode;
use tokio::sync::oneshot;

const SECRET: &str = "example-site-secret-that-is-long-enough-42";

/// The example site on its own port, logged in to the provider `t`.
struct Site {
    base: String,
    _stop: oneshot::Sender<()>,
}

impl Site {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The site's home page as `browser` sees it.
    async fn home(&self, browser: &reqwest::Client) -> String {
        let resp = browser.get(self.url("/")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.unwrap()
    }
}

/// A provider that knows the site, and the site.
async fn provider_and_site() -> (TestApp, Site) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (redirect_uri, post_logout) = (format!("{base}/callback"), format!("{base}/"));
    let t = spawn_app_with(|config| {
        config.clients.push(ClientConfig {
            client_id: "example-site".into(),
            name: "Example Site".into(),
            redirect_uris: vec![redirect_uri],
            client_secret_sha256: Some(sha256_hex(SECRET)),
            client_secret_sha256_file: None,
            public: false,
            post_logout_redirect_uris: vec![post_logout],
            id_token_signed_response_alg: "RS256".into(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        });
    })
    .await;
    let settings = ::relying_site::Settings {
        issuer: t.issuer.clone(),
        client_id: "example-site".into(),
        client_secret: Some(SECRET.into()),
        public_url: base.parse().unwrap(),
    };
    let router = ::relying_site::router(settings).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(::relying_site::run(listener, router, async move {
        let _ = stopped.await;
    }));
    (t, Site { base, _stop: stop })
}

/// `browser` asks the site to log in; returns the provider URL it is sent to.
async fn start_login(site: &Site, browser: &reqwest::Client) -> String {
    let resp = browser.get(site.url("/login")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("rp_session="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "http public URL: no Secure flag"
    );
    location(&resp)
}

#[tokio::test]
async fn a_visitor_logs_in_with_qrlogin_and_out_again() {
    let (t, site) = provider_and_site().await;
    let b = browser();

    assert!(site.home(&b).await.contains("href=\"/login\""));

    let url = start_login(&site, &b).await;
    assert!(url.starts_with(&t.url("/oauth/authorize?")), "{url}");
    for (name, value) in [
        ("response_type", "code"),
        ("client_id", "example-site"),
        ("code_challenge_method", "S256"),
    ] {
        assert_eq!(params(&url)[name], value, "{url}");
    }
    assert_eq!(params(&url)["redirect_uri"], site.url("/callback"));
    let scope = params(&url)["scope"].clone();
    assert!(scope.split(' ').any(|s| s == "openid"), "{scope}");
    for name in ["state", "nonce", "code_challenge"] {
        assert!(
            params(&url).get(name).is_some_and(|v| v.len() >= 16),
            "{name}: {url}"
        );
    }

    let callback = t.authorize_url_as(&b, &url, ALICE, Decision::Confirm).await;
    assert!(callback.starts_with(&site.url("/callback?")), "{callback}");
    assert_eq!(params(&callback)["iss"], t.issuer);
    let resp = b.get(&callback).send().await.unwrap();
    let status = resp.status();
    let page = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"<dd id="claim-sub">alice</dd>"#), "{page}");
    assert!(page.contains(r#"<dd id="claim-name">Alice</dd>"#), "{page}");
    assert!(
        !page.contains(r#"<dd id="claim-auth_time">-</dd>"#),
        "{page}"
    );
    assert!(
        page.contains("&quot;sub&quot;: &quot;alice&quot;"),
        "userinfo: {page}"
    );

    // The home page knows her now; the spent callback is not accepted twice.
    let home = site.home(&b).await;
    assert!(home.contains(r#"<dd id="claim-sub">alice</dd>"#), "{home}");
    let replay = b.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);

    // RP-initiated logout: to the provider's end_session_endpoint with the
    // ID token as hint, the post-logout redirect URI and a state.
    let resp = b.post(site.url("/logout")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let logout = location(&resp);
    assert!(logout.starts_with(&t.url("/oauth/logout?")), "{logout}");
    assert!(params(&logout).contains_key("id_token_hint"), "{logout}");
    assert_eq!(params(&logout)["post_logout_redirect_uri"], site.url("/"));
    let state = params(&logout)["state"].clone();
    let home = site.home(&b).await;
    assert!(home.contains("You are not logged in"), "{home}");

    // The provider ends its own session (the hint names the logged-in user)
    // and sends the browser back, where the site checks the state.
    assert_eq!(t.me(&b).await.status(), StatusCode::OK);
    let resp = b.get(&logout).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{logout}");
    assert_eq!(t.me(&b).await.status(), StatusCode::UNAUTHORIZED);
    let back = location(&resp);
    assert!(back.starts_with(&site.url("/?")), "{back}");
    assert_eq!(params(&back)["state"], state);
    let page = b.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("You are logged out"), "{page}");
}

#[tokio::test]
async fn a_cancel_on_the_phone_shows_access_denied() {
    let (t, site) = provider_and_site().await;
    let b = browser();
    let url = start_login(&site, &b).await;
    let callback = t.authorize_url_as(&b, &url, ALICE, Decision::Cancel).await;
    assert!(callback.starts_with(&site.url("/callback?")), "{callback}");
    assert_eq!(params(&callback)["error"], "access_denied");
    let resp = b.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("the login was cancelled (access_denied"),
        "{page}"
    );
    let home = site.home(&b).await;
    assert!(home.contains("You are not logged in"), "{home}");
}

#[tokio::test]
async fn a_callback_from_another_browser_is_refused() {
    let (t, site) = provider_and_site().await;
    let url = start_login(&site, &browser()).await;
    // The code reaches a browser that did not start this login (login CSRF).
    let callback = t
        .authorize_url_as(&browser(), &url, ALICE, Decision::Confirm)
        .await;
    let resp = browser().get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("Please log in again"));
}
