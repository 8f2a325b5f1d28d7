//! A browser and a phone going through the provider's authorization for a
//! relying party (the example site, or a third-party library), through the
//! same API the login page and the phone app use, and the provider's
//! `[[clients]]` for those tests.

use crate::helpers::*;
use qrlogin::config::Config;
use qrlogin::startup::bind;
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

/// What the phone does with the request it scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirm,
    Cancel,
}

/// A client registered at the provider, as the `[[clients]]` table has it.
#[derive(Debug, Clone)]
pub struct Client<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub redirect_uri: &'a str,
    /// `None`: a public client.
    pub secret: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
}

impl Client<'_> {
    fn toml(&self) -> String {
        let auth = match self.secret {
            Some(secret) => format!("client_secret_sha256 = \"{}\"", sha256_hex(secret)),
            None => "public = true".to_owned(),
        };
        let logout = self
            .post_logout_redirect_uri
            .map(|uri| format!("post_logout_redirect_uris = [\"{uri}\"]"))
            .unwrap_or_default();
        format!(
            "\n[[clients]]\nclient_id = \"{}\"\nname = \"{}\"\nredirect_uris = [\"{}\"]\n{auth}\n{logout}\n",
            self.id, self.name, self.redirect_uri
        )
    }
}

/// The hex SHA-256 of `secret`, as `client_secret_sha256` stores it.
pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A provider (the test config) with `clients` registered.
// The clients go in as config text: the tests must build before the typed
// `Config::clients` exists, and the TOML is the documented interface anyway.
pub async fn spawn_provider(clients: &[Client<'_>]) -> TestApp {
    let listener = bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let extra: String = clients.iter().map(Client::toml).collect();
    let config = Config::parse(&test_config_text(&base, &extra))
        .unwrap_or_else(|e| panic!("the provider refused the [[clients]] config: {e}"));
    spawn_server(config, listener).await
}

/// Takes `browser` from the relying party's authorization URL to where the
/// provider sends it back (the redirect URI with the code, or the error),
/// with Alice's phone scanning and deciding; returns that URL.
pub async fn authorize(
    t: &TestApp,
    browser: &reqwest::Client,
    authorization_url: &str,
    decision: Decision,
) -> String {
    let resp = browser.get(authorization_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{authorization_url}");
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");

    // The login page asks for a QR code for this authorization request.
    let query = url::Url::parse(authorization_url)
        .unwrap()
        .query()
        .unwrap()
        .to_owned();
    let resp = browser
        .post(t.url("/api/qr"))
        .json(&json!({ "authorize": query }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body = json(resp).await;
    let qr = Qr {
        id: body["id"].as_str().unwrap().to_owned(),
        poll_token: body["poll_token"].as_str().unwrap().to_owned(),
        qr_content: body["qr_content"].as_str().unwrap().to_owned(),
        body,
    };

    let confirm_token = t.scan_ok(ALICE, &qr).await;
    let decided = match decision {
        Decision::Confirm => t.confirm(ALICE, &qr, &confirm_token).await,
        Decision::Cancel => t.cancel(ALICE, &qr, &confirm_token).await,
    };
    assert_eq!(decided.status(), StatusCode::OK);

    let resp = browser
        .get(t.url(&format!("/api/qr/{}/status?wait=0", qr.id)))
        .bearer_auth(&qr.poll_token)
        .send()
        .await
        .unwrap();
    let poll = json(resp).await;
    let redirect = poll["redirect"]
        .as_str()
        .unwrap_or_else(|| panic!("no redirect in {poll}"))
        .to_owned();
    match decision {
        Decision::Cancel => {
            assert_eq!(poll["code"], 202, "{poll}");
            redirect
        }
        Decision::Confirm => {
            assert_eq!(poll["code"], 200, "{poll}");
            let resp = browser.get(t.url(&redirect)).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{redirect}");
            resp.headers()["location"].to_str().unwrap().to_owned()
        }
    }
}

/// The value of query parameter `name` in `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
