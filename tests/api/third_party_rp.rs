//! A certified third-party relying party against the provider: Node's
//! `openid-client` 6 (certified by the OpenID Foundation) runs
//! `tests/rp/flow.mjs`, which does discovery, the code flow with PKCE, nonce
//! and state, userinfo, a refresh and a revocation, and refuses whatever
//! the standard does not allow. The test plays the browser and the phone.
//! The npm package is installed on first use (see `node`); Node itself
//! must be on the machine.

use crate::helpers::*;
use crate::node::{NodeScript, install_openid_client};
use crate::rp::{Decision, params};
use serde_json::Value;
use std::path::Path;

/// The shop's second redirect URI: openid-client sends the callback URL
/// without its query as `redirect_uri`, so [`SHOP_REDIRECT`] (`?v=1`) would
/// not match.
const SHOP_PLAIN_REDIRECT: &str = "https://shop.example/cb2";

#[tokio::test]
async fn openid_client_logs_in_with_client_secret_basic() {
    // The shop's secret has reserved characters: Basic credentials are
    // form-encoded first (RFC 6749 2.3.1).
    let out = full_flow(SHOP, Some(SHOP_SECRET), "basic").await;
    assert_eq!(out["introspection"]["active"], true, "{out}");
    assert_eq!(out["introspection"]["sub"], "alice", "{out}");
}

#[tokio::test]
async fn openid_client_logs_in_with_client_secret_post() {
    full_flow(SHOP, Some(SHOP_SECRET), "post").await;
}

#[tokio::test]
async fn openid_client_logs_in_as_a_public_client() {
    full_flow(SPA, None, "none").await;
}

#[tokio::test]
async fn openid_client_sees_access_denied_when_the_phone_cancels() {
    let rp_dir = install_openid_client().await;
    let t = spawn_app().await;
    let mut rp = NodeRp::spawn(&rp_dir, &t.issuer, SPA, None, "none").await;
    let url = rp.authorization_url().await;
    let callback = t
        .authorize_url_as(&browser(), &url, ALICE, Decision::Cancel)
        .await;
    assert!(
        callback.starts_with(&format!("{SPA_REDIRECT}?")),
        "{callback}"
    );
    let p = params(&callback);
    assert_eq!(p["error"], "access_denied");
    assert_eq!(p["iss"], t.issuer);
    let (ok, stdout, stderr) = rp.finish(&callback).await;
    assert!(!ok, "openid-client accepted a cancelled login: {stdout}");
    assert!(stderr.contains("access_denied"), "{stderr}");
}

/// The whole flow for client `client_id`; returns openid-client's report
/// after asserting what every flow must show.
async fn full_flow(client_id: &str, secret: Option<&str>, auth: &str) -> Value {
    let rp_dir = install_openid_client().await;
    let t = spawn_app().await;
    let redirect_uri = redirect_uri_of(client_id);
    let mut rp = NodeRp::spawn(&rp_dir, &t.issuer, client_id, secret, auth).await;
    let url = rp.authorization_url().await;
    assert_eq!(params(&url)["code_challenge_method"], "S256", "{url}");

    let callback = t
        .authorize_url_as(&browser(), &url, ALICE, Decision::Confirm)
        .await;
    assert!(
        callback.starts_with(&format!("{redirect_uri}?")),
        "{callback}"
    );
    let (ok, stdout, stderr) = rp.finish(&callback).await;
    assert!(
        ok,
        "openid-client refused the provider:\n{stderr}\n{stdout}"
    );
    let out: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no JSON report from flow.mjs: {stdout}\n{stderr}"));

    for (check, passed) in out["checks"].as_object().unwrap() {
        assert_eq!(passed, &Value::Bool(true), "check {check} failed: {out}");
    }
    let claims = &out["claims"];
    assert_eq!(claims["iss"], t.issuer.as_str(), "{out}");
    assert_eq!(claims["sub"], "alice", "{out}");
    let aud = &claims["aud"];
    assert!(
        aud == client_id
            || aud
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == client_id)),
        "aud {aud} is not {client_id}"
    );
    assert!(claims["auth_time"].as_i64().is_some(), "{out}");
    assert_eq!(out["userinfo"]["sub"], "alice", "{out}");
    assert_eq!(out["userinfo"]["name"], "Alice", "{out}");
    assert!(out["userinfo"]["picture"].as_str().is_some(), "{out}");
    assert_eq!(
        out["token_type"].as_str().map(str::to_lowercase).as_deref(),
        Some("bearer")
    );
    out
}

/// Where openid-client has the browser sent back to, per client.
fn redirect_uri_of(client_id: &str) -> &'static str {
    match client_id {
        SHOP => SHOP_PLAIN_REDIRECT,
        SPA => SPA_REDIRECT,
        other => panic!("no redirect URI for {other}"),
    }
}

/// `tests/rp/flow.mjs` running.
struct NodeRp(NodeScript);

impl NodeRp {
    async fn spawn(
        rp_dir: &Path,
        issuer: &str,
        client_id: &str,
        secret: Option<&str>,
        auth: &str,
    ) -> Self {
        let mut args = vec!["--issuer", issuer, "--client-id", client_id];
        args.extend(["--redirect-uri", redirect_uri_of(client_id), "--auth", auth]);
        if let Some(secret) = secret {
            args.extend(["--client-secret", secret]);
        }
        Self(NodeScript::spawn(rp_dir, "flow.mjs", args))
    }

    /// The first line flow.mjs prints: the authorization URL it built.
    async fn authorization_url(&mut self) -> String {
        let value = self.0.json_line().await;
        value["authorization_url"].as_str().unwrap().to_owned()
    }

    /// Hands flow.mjs the callback URL and waits for it to finish: whether
    /// it succeeded, its stdout and its stderr.
    async fn finish(mut self, callback: &str) -> (bool, String, String) {
        self.0.send(&format!("{callback}\n")).await;
        self.0.finish().await
    }
}
