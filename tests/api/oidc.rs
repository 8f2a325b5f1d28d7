//! The OpenID Connect provider, end to end over HTTP: every case runs on the
//! memory store and on a private Redis (`on_every_store!`).

use crate::helpers::{
    ALICE, BOB, SHOP, SHOP_LOGGED_OUT, SHOP_REDIRECT, SHOP_SECRET, SPA, TestApp, WIKI, WIKI_SECRET,
    json,
};
use crate::rp::{Authorize, claims, expect_oauth_error, location, params, verifier};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

use crate::helpers::on_every_store;

on_every_store!(
    the_code_flow_logs_alice_in_to_the_site,
    a_public_client_uses_pkce_and_no_secret,
    a_code_works_once_and_its_reuse_revokes_its_tokens,
    twenty_racing_exchanges_of_one_code_give_one_success,
    a_code_expires_after_ten_minutes,
    a_code_is_bound_to_its_client_and_redirect_uri,
    pkce_is_checked_and_cannot_be_downgraded,
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    revocation_ends_tokens,
    introspection_describes_live_tokens_to_confidential_clients,
    cancel_on_the_phone_answers_access_denied,
    the_phone_lists_and_revokes_grants_and_logins,
    logout_ends_the_browser_session_and_returns_to_the_site,
);

async fn the_code_flow_logs_alice_in_to_the_site(app: &TestApp) {
    let request = Authorize::shop();
    let started = app.start_authorization(&request).await;
    assert_eq!(started.qr.body["client"]["name"], "Example Shop");
    // The phone is told which site it is logging in to.
    let scan = json(app.scan(ALICE, &started.qr).await).await;
    assert_eq!(scan["request"]["client"]["id"], SHOP);
    assert_eq!(scan["request"]["client"]["name"], "Example Shop");
    assert_eq!(scan["request"]["scope"], "openid profile offline_access");
    let confirm = scan["confirm_token"].as_str().unwrap();
    assert_eq!(
        app.confirm(ALICE, &started.qr, confirm).await.status(),
        StatusCode::OK
    );
    // On the Redis store tokio's clock is not paused: real time passes too.
    let confirmed = std::time::Instant::now();
    app.clock().advance(Duration::from_secs(5));
    let body = app.poll_started(&started).await;
    let resp = started
        .browser
        .get(app.url(body["redirect"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let callback = location(&resp);
    assert!(
        callback.starts_with(&format!("{SHOP_REDIRECT}&code=")),
        "{callback}"
    );
    let p = params(&callback);
    assert_eq!(p["v"], "1", "the registered URI's own query is kept");
    assert_eq!(p.get("state"), request.state.as_ref());
    assert_eq!(p["iss"], app.issuer);
    // The browser is logged in to qrlogin too.
    assert_eq!(app.me(&started.browser).await.status(), StatusCode::OK);

    let resp = app.redeem_code(&request, &p["code"]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let tokens = json(resp).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], "openid profile offline_access");
    assert!(tokens["refresh_token"].is_string());
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], app.issuer);
    assert_eq!(id["sub"], "alice");
    assert_eq!(id["aud"], SHOP);
    assert_eq!(id["nonce"], request.nonce.as_deref().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["qr"]));
    assert_eq!(id["name"], "Alice");
    assert_eq!(
        id["picture"],
        format!("{}/static/avatars/alice.svg", app.issuer)
    );
    let (iat, exp, auth_time) = (
        id["iat"].as_i64().unwrap(),
        id["exp"].as_i64().unwrap(),
        id["auth_time"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    // auth_time is when the phone confirmed: 5 s of advanced clock before
    // the token, plus whatever real time passed (whole seconds, rounded down).
    let real = i64::try_from(confirmed.elapsed().as_secs()).unwrap() + 1;
    assert!(
        (5..=5 + real).contains(&(iat - auth_time)),
        "auth_time {auth_time} is not when the phone confirmed (iat {iat})"
    );

    let resp = app.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let info = json(resp).await;
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["name"], "Alice");

    // Without `profile`, neither the id_token nor userinfo carries it.
    let request = Authorize {
        scope: "openid".into(),
        ..Authorize::shop()
    };
    let tokens = app.tokens_for(&request, BOB).await;
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], "bob");
    assert!(
        id.get("name").is_none() && id.get("picture").is_none(),
        "{id}"
    );
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    let info = json(app.userinfo(tokens["access_token"].as_str().unwrap()).await).await;
    assert_eq!(info, serde_json::json!({ "sub": "bob" }));
}

async fn a_public_client_uses_pkce_and_no_secret(app: &TestApp) {
    let request = Authorize::spa();
    let tokens = app.tokens_for(&request, ALICE).await;
    assert_eq!(claims(tokens["id_token"].as_str().unwrap())["aud"], SPA);
    // A public client without PKCE is refused at the authorization endpoint.
    let no_pkce = Authorize {
        verifier: None,
        ..Authorize::spa()
    };
    let resp = app
        .authorize_page(&crate::helpers::browser(), &no_pkce.query())
        .await;
    let p = params(&location(&resp));
    assert_eq!(p["error"], "invalid_request");
    // And a secret it does not have is not accepted either.
    let code = app.code_for(&request, ALICE).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", request.redirect_uri.as_str()),
        ("code_verifier", request.verifier.as_deref().unwrap()),
        ("client_id", SPA),
        ("client_secret", "guess"),
    ];
    expect_oauth_error(
        app.oauth_post("/oauth/token", &form, None).await,
        401,
        "invalid_client",
    )
    .await;
}

async fn a_code_works_once_and_its_reuse_revokes_its_tokens(app: &TestApp) {
    let request = Authorize::shop();
    let code = app.code_for(&request, ALICE).await;
    let first = json(app.redeem_code(&request, &code).await).await;
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(app.userinfo(access).await.status(), StatusCode::OK);

    expect_oauth_error(app.redeem_code(&request, &code).await, 400, "invalid_grant").await;
    // RFC 6749 §4.1.2: what the first use got is revoked too.
    let resp = app.userinfo(access).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    let refresh = first["refresh_token"].as_str().unwrap();
    expect_oauth_error(app.refresh(SHOP, refresh).await, 400, "invalid_grant").await;
}

async fn twenty_racing_exchanges_of_one_code_give_one_success(app: &TestApp) {
    let request = Authorize::shop();
    let code = app.code_for(&request, ALICE).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (base, request, code) = (app.base.clone(), request.clone(), code.clone());
            tokio::spawn(async move {
                let form = [
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", request.redirect_uri.as_str()),
                    ("code_verifier", request.verifier.as_deref().unwrap()),
                ];
                reqwest::Client::new()
                    .post(format!("{base}/oauth/token"))
                    .basic_auth(SHOP, Some(url_encoded(SHOP_SECRET)))
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_REQUEST => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 1);
}

fn url_encoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn a_code_expires_after_ten_minutes(app: &TestApp) {
    let request = Authorize::shop();
    let code = app.code_for(&request, ALICE).await;
    app.clock().advance(Duration::from_secs(600));
    expect_oauth_error(app.redeem_code(&request, &code).await, 400, "invalid_grant").await;

    let code = app.code_for(&request, ALICE).await;
    app.clock().advance(Duration::from_secs(599));
    assert_eq!(
        app.redeem_code(&request, &code).await.status(),
        StatusCode::OK
    );
}

async fn a_code_is_bound_to_its_client_and_redirect_uri(app: &TestApp) {
    let request = Authorize::shop();
    let code = app.code_for(&request, ALICE).await;
    let form = |redirect: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", request.verifier.as_deref().unwrap()),
        ]
    };
    // The wrong secret: 401 with a Basic challenge.
    let resp = app
        .oauth_post("/oauth/token", &form(SHOP_REDIRECT), Some((SHOP, "wrong")))
        .await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Basic realm=\"qrlogin\""
    );
    expect_oauth_error(resp, 401, "invalid_client").await;
    // Another client (swapped in mid-flow), with its own good secret.
    let resp = app
        .oauth_post(
            "/oauth/token",
            &form(SHOP_REDIRECT),
            Some((WIKI, WIKI_SECRET)),
        )
        .await;
    expect_oauth_error(resp, 400, "invalid_grant").await;
    // Another of the client's own redirect URIs.
    let resp = app
        .oauth_post(
            "/oauth/token",
            &form("https://shop.example/cb2"),
            Some((SHOP, SHOP_SECRET)),
        )
        .await;
    expect_oauth_error(resp, 400, "invalid_grant").await;
    // None of that burned the code.
    assert_eq!(
        app.redeem_code(&request, &code).await.status(),
        StatusCode::OK
    );

    // At the authorization endpoint an unregistered redirect URI gets a
    // page of ours, never a redirect.
    for redirect in [
        "https://shop.example/cb?v=1/",
        "https://shop.example/cb?v=1&x=2",
        "https://shop.example:8443/cb?v=1",
        "https://shop.example/cb/extra?v=1",
        "https://SHOP.example/cb?v=1",
        "https://evil.example/cb?v=1",
        WIKI_REDIRECT_FOR_SHOP,
    ] {
        let bad = Authorize {
            redirect_uri: redirect.into(),
            ..Authorize::shop()
        };
        let resp = app
            .authorize_page(&crate::helpers::browser(), &bad.query())
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{redirect}");
        assert!(resp.headers().get("location").is_none(), "{redirect}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = resp.text().await.unwrap();
        assert!(page.contains("redirect_uri is not registered"), "{page}");
    }
    let unknown = Authorize {
        client_id: "nobody".into(),
        ..Authorize::shop()
    };
    let resp = app
        .authorize_page(&crate::helpers::browser(), &unknown.query())
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
}

/// Registered, but for the other client.
const WIKI_REDIRECT_FOR_SHOP: &str = crate::helpers::WIKI_REDIRECT;

async fn pkce_is_checked_and_cannot_be_downgraded(app: &TestApp) {
    // Missing, plain or unknown methods go back to the client as errors.
    for (key, value) in [
        ("code_challenge_method", ""),
        ("code_challenge_method", "plain"),
        ("code_challenge_method", "S384"),
    ] {
        let request = Authorize::shop().with(key, value);
        let resp = app
            .authorize_page(&crate::helpers::browser(), &request.query())
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{value}");
        let p = params(&location(&resp));
        assert_eq!(p["error"], "invalid_request", "{value}");
        assert_eq!(p.get("state"), request.state.as_ref());
        assert_eq!(p["iss"], app.issuer);
    }
    // A wrong verifier fails and does not burn the code.
    let request = Authorize::shop();
    let code = app.code_for(&request, ALICE).await;
    let wrong = Authorize {
        verifier: Some(verifier()),
        ..request.clone()
    };
    expect_oauth_error(app.redeem_code(&wrong, &code).await, 400, "invalid_grant").await;
    let missing = Authorize {
        verifier: None,
        ..request.clone()
    };
    expect_oauth_error(app.redeem_code(&missing, &code).await, 400, "invalid_grant").await;
    assert_eq!(
        app.redeem_code(&request, &code).await.status(),
        StatusCode::OK
    );

    // A code issued without a challenge refuses a verifier (downgrade).
    let plain = Authorize {
        verifier: None,
        ..Authorize::shop()
    };
    let code = app.code_for(&plain, ALICE).await;
    let with_verifier = Authorize {
        verifier: Some(verifier()),
        ..plain.clone()
    };
    expect_oauth_error(
        app.redeem_code(&with_verifier, &code).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        app.redeem_code(&plain, &code).await.status(),
        StatusCode::OK
    );
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(app: &TestApp) {
    let tokens = app.tokens_for(&Authorize::shop(), ALICE).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let resp = app.refresh(SHOP, &first).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let second = json(resp).await;
    let next = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next, first, "each refresh returns a new refresh token");
    let id = claims(second["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], "alice");
    assert!(
        id.get("nonce").is_none(),
        "refreshed id_tokens carry no nonce"
    );
    let access = second["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.userinfo(&access).await.status(), StatusCode::OK);

    // Another client cannot use it, and that does not spend it.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", next.as_str()),
    ];
    let resp = app
        .oauth_post("/oauth/token", &form, Some((WIKI, WIKI_SECRET)))
        .await;
    expect_oauth_error(resp, 400, "invalid_grant").await;
    // Asking for more than was granted is refused.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", next.as_str()),
        ("scope", "openid email"),
    ];
    let narrowed = app
        .oauth_post("/oauth/token", &form, Some((SHOP, SHOP_SECRET)))
        .await;
    assert_eq!(
        narrowed.status(),
        StatusCode::OK,
        "unknown scopes are ignored, so this narrows"
    );
    let narrowed = json(narrowed).await;
    assert_eq!(narrowed["scope"], "openid");
    assert!(
        claims(narrowed["id_token"].as_str().unwrap())
            .get("name")
            .is_none()
    );
    // RFC 6749 §6: the new refresh token keeps the presented one's scope.
    let latest = narrowed["refresh_token"].as_str().unwrap();
    let resp = app
        .oauth_post(
            "/oauth/introspect",
            &[("token", latest)],
            Some((SHOP, SHOP_SECRET)),
        )
        .await;
    assert_eq!(json(resp).await["scope"], "openid profile offline_access");
    // A spent refresh token is no longer active.
    let resp = app
        .oauth_post(
            "/oauth/introspect",
            &[("token", next.as_str())],
            Some((SHOP, SHOP_SECRET)),
        )
        .await;
    assert_eq!(json(resp).await, serde_json::json!({ "active": false }));
    // A narrowing without openid, or an empty scope (which is an omitted
    // one, RFC 6749 §3.2, so the full scope), is handled as such.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", latest),
        ("scope", "profile"),
    ];
    let resp = app
        .oauth_post("/oauth/token", &form, Some((SHOP, SHOP_SECRET)))
        .await;
    expect_oauth_error(resp, 400, "invalid_scope").await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", latest),
        ("scope", ""),
    ];
    let resp = app
        .oauth_post("/oauth/token", &form, Some((SHOP, SHOP_SECRET)))
        .await;
    assert_eq!(json(resp).await["scope"], "openid profile offline_access");

    // The old one again: the whole family is revoked.
    expect_oauth_error(app.refresh(SHOP, &first).await, 400, "invalid_grant").await;
    assert_eq!(
        app.userinfo(&access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn revocation_ends_tokens(app: &TestApp) {
    let tokens = app.tokens_for(&Authorize::shop(), ALICE).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    // Another client cannot revoke them.
    let resp = app
        .oauth_post(
            "/oauth/revoke",
            &[("token", access)],
            Some((WIKI, WIKI_SECRET)),
        )
        .await;
    expect_oauth_error(resp, 400, "invalid_request").await;
    assert_eq!(app.userinfo(access).await.status(), StatusCode::OK);
    // The access token alone.
    let resp = app
        .oauth_post(
            "/oauth/revoke",
            &[("token", access), ("token_type_hint", "access_token")],
            Some((SHOP, SHOP_SECRET)),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        app.userinfo(access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(SHOP, refresh).await.status(),
        StatusCode::OK,
        "the refresh token lives on"
    );

    // A refresh token takes its grant's access tokens with it.
    let tokens = app.tokens_for(&Authorize::shop(), ALICE).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let resp = app
        .oauth_post(
            "/oauth/revoke",
            &[("token", refresh)],
            Some((SHOP, SHOP_SECRET)),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        app.userinfo(access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    expect_oauth_error(app.refresh(SHOP, refresh).await, 400, "invalid_grant").await;
    // Unknown tokens are fine (RFC 7009 §2.2); a missing one is not.
    let resp = app
        .oauth_post(
            "/oauth/revoke",
            &[("token", "nonsense")],
            Some((SHOP, SHOP_SECRET)),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app
        .oauth_post("/oauth/revoke", &[], Some((SHOP, SHOP_SECRET)))
        .await;
    expect_oauth_error(resp, 400, "invalid_request").await;
    let resp = app
        .oauth_post(
            "/oauth/revoke",
            &[("token", refresh)],
            Some((SHOP, "wrong")),
        )
        .await;
    expect_oauth_error(resp, 401, "invalid_client").await;
}

async fn introspection_describes_live_tokens_to_confidential_clients(app: &TestApp) {
    let tokens = app.tokens_for(&Authorize::shop(), ALICE).await;
    let access = tokens["access_token"].as_str().unwrap();
    // A resource server (here: the wiki client) asks about the shop's token.
    let resp = app
        .oauth_post(
            "/oauth/introspect",
            &[("token", access)],
            Some((WIKI, WIKI_SECRET)),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json(resp).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["client_id"], SHOP);
    assert_eq!(body["scope"], "openid profile offline_access");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], app.issuer);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let body = json(
        app.oauth_post(
            "/oauth/introspect",
            &[("token", refresh)],
            Some((SHOP, SHOP_SECRET)),
        )
        .await,
    )
    .await;
    assert_eq!(body["active"], true);
    assert!(body.get("token_type").is_none(), "{body}");
    assert_eq!(body["sub"], "alice");
    // Expired and unknown tokens are just inactive.
    app.clock().advance(Duration::from_secs(3600));
    let body = json(
        app.oauth_post(
            "/oauth/introspect",
            &[("token", access)],
            Some((SHOP, SHOP_SECRET)),
        )
        .await,
    )
    .await;
    assert_eq!(body, serde_json::json!({ "active": false }));
    // Public clients may not introspect.
    let resp = app
        .oauth_post(
            "/oauth/introspect",
            &[("token", refresh), ("client_id", SPA)],
            None,
        )
        .await;
    expect_oauth_error(resp, 401, "invalid_client").await;
}

async fn cancel_on_the_phone_answers_access_denied(app: &TestApp) {
    let request = Authorize::shop();
    let started = app.start_authorization(&request).await;
    let confirm = app.scan_ok(ALICE, &started.qr).await;
    assert_eq!(
        app.cancel(ALICE, &started.qr, &confirm).await.status(),
        StatusCode::OK
    );
    let body = app.poll_started(&started).await;
    assert_eq!(body["state"], "cancelled");
    let redirect = body["redirect"].as_str().unwrap();
    assert!(redirect.starts_with(SHOP_REDIRECT), "{redirect}");
    let p = params(redirect);
    assert_eq!(p["error"], "access_denied");
    assert_eq!(p.get("state"), request.state.as_ref());
    assert_eq!(p["iss"], app.issuer);
    assert!(!p.contains_key("code"));
}

async fn the_phone_lists_and_revokes_grants_and_logins(app: &TestApp) {
    let tokens = app.tokens_for(&Authorize::shop(), ALICE).await;
    let access = tokens["access_token"].as_str().unwrap();
    let (browser, ticket_qr) = (app.client.clone(), app.confirmed_qr(ALICE).await);
    assert_eq!(
        app.exchange(&ticket_qr.0, &ticket_qr.1).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.me(&browser).await.status(), StatusCode::OK);

    let list = sessions(app, ALICE).await;
    let items = list["sessions"].as_array().unwrap();
    // The shop's login made a browser login here and a grant; then one more login.
    let grants: Vec<&Value> = items.iter().filter(|s| s["kind"] == "client").collect();
    let logins: Vec<&Value> = items.iter().filter(|s| s["kind"] == "browser").collect();
    assert_eq!((grants.len(), logins.len()), (1, 2), "{list}");
    assert_eq!(grants[0]["client"]["name"], "Example Shop");
    assert!(grants[0]["last_used_at"].is_i64(), "{list}");
    assert_eq!(
        logins[0]["user_agent"],
        "Mozilla/5.0 (X11; Linux x86_64) qrlogin-tests"
    );
    // Bob sees none of it, and cannot end it.
    assert_eq!(sessions(app, BOB).await["sessions"], serde_json::json!([]));
    let grant_id = grants[0]["id"].as_str().unwrap();
    assert_eq!(end(app, BOB, grant_id).await, StatusCode::NOT_FOUND);

    // Ending the grant stops its tokens.
    assert_eq!(end(app, ALICE, grant_id).await, StatusCode::NO_CONTENT);
    assert_eq!(
        app.userinfo(access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    expect_oauth_error(
        app.refresh(SHOP, tokens["refresh_token"].as_str().unwrap())
            .await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(end(app, ALICE, grant_id).await, StatusCode::NOT_FOUND);
    // Ending a browser login logs that browser out.
    let newest = logins[1]["id"].as_str().unwrap();
    assert_eq!(end(app, ALICE, newest).await, StatusCode::NO_CONTENT);
    assert_eq!(app.me(&browser).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        sessions(app, ALICE).await["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn sessions(app: &TestApp, phone: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(app.url("/api/mobile/sessions"))
        .bearer_auth(phone)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    json(resp).await
}

async fn end(app: &TestApp, phone: &str, id: &str) -> StatusCode {
    reqwest::Client::new()
        .delete(app.url(&format!("/api/mobile/sessions/{id}")))
        .bearer_auth(phone)
        .send()
        .await
        .unwrap()
        .status()
}

async fn logout_ends_the_browser_session_and_returns_to_the_site(app: &TestApp) {
    let request = Authorize::shop();
    let (browser, callback) = app.authorize_as(&request, ALICE).await;
    let code = params(&callback)["code"].clone();
    let tokens = json(app.redeem_code(&request, &code).await).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(app.me(&browser).await.status(), StatusCode::OK);

    // A cross-site link without a hint logs no one out: the person is asked.
    let resp = browser
        .get(app.url(&format!(
            "/oauth/logout?post_logout_redirect_uri={}&client_id=shop",
            url_encoded(SHOP_LOGGED_OUT)
        )))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("<form method=\"post\" action=\"/oauth/logout\">"),
        "{page}"
    );
    assert!(page.contains("name=\"confirm\" value=\"yes\""), "{page}");
    assert_eq!(app.me(&browser).await.status(), StatusCode::OK);
    let confirm = [
        ("post_logout_redirect_uri", SHOP_LOGGED_OUT),
        ("client_id", SHOP),
        ("confirm", "yes"),
    ];
    // Another site posting that form gets the question again.
    let resp = browser
        .post(app.url("/oauth/logout"))
        .header("origin", "https://evil.example")
        .form(&confirm)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.me(&browser).await.status(), StatusCode::OK);
    // The person's own click (same origin) logs out and goes back.
    let resp = browser
        .post(app.url("/oauth/logout"))
        .header("origin", app.issuer.as_str())
        .form(&confirm)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), SHOP_LOGGED_OUT);
    assert_eq!(app.me(&browser).await.status(), StatusCode::UNAUTHORIZED);
    let (browser, _) = app.authorize_as(&request, ALICE).await;

    // An unregistered post_logout_redirect_uri is refused on a page.
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", "https://evil.example/")
        .finish();
    let resp = browser
        .get(app.url(&format!("/oauth/logout?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.me(&browser).await.status(), StatusCode::OK);

    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", SHOP_LOGGED_OUT)
        .append_pair("state", "bye&1")
        .finish();
    let resp = browser
        .get(app.url(&format!("/oauth/logout?{query}")))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), format!("{SHOP_LOGGED_OUT}?state=bye%261"));
    assert_eq!(app.me(&browser).await.status(), StatusCode::UNAUTHORIZED);
}

// ---- store-independent cases ----

#[tokio::test]
async fn discovery_describes_the_provider() {
    let app = crate::helpers::spawn_app().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let resp = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let d = json(resp).await;
        let issuer = app.issuer.as_str();
        assert_eq!(d["issuer"], issuer);
        for (key, path) in [
            ("authorization_endpoint", "/oauth/authorize"),
            ("token_endpoint", "/oauth/token"),
            ("userinfo_endpoint", "/oauth/userinfo"),
            ("jwks_uri", "/oauth/jwks"),
            ("revocation_endpoint", "/oauth/revoke"),
            ("introspection_endpoint", "/oauth/introspect"),
            ("end_session_endpoint", "/oauth/logout"),
        ] {
            assert_eq!(d[key], format!("{issuer}{path}"), "{key}");
        }
        assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            d["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            d["grant_types_supported"],
            serde_json::json!([
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code"
            ])
        );
        assert_eq!(
            d["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
        );
        assert_eq!(d["id_token_signing_alg_values_supported"][0], "RS256");
        assert_eq!(
            d["scopes_supported"],
            serde_json::json!(["openid", "profile", "offline_access"])
        );
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        assert!(
            d["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&"auth_time".into())
        );
    }
    let jwks = json(reqwest::get(app.url("/oauth/jwks")).await.unwrap()).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert!(key["kid"].is_string() && key["n"].is_string());
    assert!(key.get("d").is_none(), "no private parts");
}

#[tokio::test]
async fn the_id_token_verifies_against_the_published_keys() {
    let app = crate::helpers::spawn_app().await;
    let tokens = app.tokens_for(&Authorize::shop(), ALICE).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(app.url("/oauth/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[SHOP]);
    validation.set_issuer(&[app.issuer.as_str()]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let data = jsonwebtoken::decode::<Value>(id_token, &key, &validation).unwrap();
    assert_eq!(data.claims["sub"], "alice");
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc_6749() {
    let app = crate::helpers::spawn_app().await;
    let shop = Some((SHOP, SHOP_SECRET));
    let post =
        |form: &'static [(&'static str, &'static str)]| app.oauth_post("/oauth/token", form, shop);
    expect_oauth_error(post(&[]).await, 400, "invalid_request").await;
    expect_oauth_error(
        post(&[("grant_type", "password")]).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    expect_oauth_error(
        post(&[("grant_type", "authorization_code")]).await,
        400,
        "invalid_request",
    )
    .await;
    expect_oauth_error(
        post(&[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("redirect_uri", SHOP_REDIRECT),
        ])
        .await,
        400,
        "invalid_grant",
    )
    .await;
    // No credentials at all; an unknown client; a secret sent two ways.
    let resp = app
        .oauth_post("/oauth/token", &[("grant_type", "refresh_token")], None)
        .await;
    expect_oauth_error(resp, 401, "invalid_client").await;
    let resp = app
        .oauth_post(
            "/oauth/token",
            &[("grant_type", "refresh_token")],
            Some(("nobody", "x")),
        )
        .await;
    expect_oauth_error(resp, 401, "invalid_client").await;
    let resp = app
        .oauth_post(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_secret", SHOP_SECRET),
            ],
            shop,
        )
        .await;
    expect_oauth_error(resp, 400, "invalid_request").await;
    // client_secret_post works like Basic.
    let resp = app
        .oauth_post(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", SHOP),
                ("client_secret", SHOP_SECRET),
            ],
            None,
        )
        .await;
    expect_oauth_error(resp, 400, "invalid_grant").await;
    // A repeated parameter, or JSON instead of a form.
    let resp = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .basic_auth(SHOP, Some(url_encoded(SHOP_SECRET)))
        .body("grant_type=refresh_token&grant_type=refresh_token")
        .send()
        .await
        .unwrap();
    expect_oauth_error(resp, 400, "invalid_request").await;
    let resp = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .json(&serde_json::json!({ "grant_type": "refresh_token" }))
        .send()
        .await
        .unwrap();
    expect_oauth_error(resp, 400, "invalid_request").await;
}

#[tokio::test]
async fn userinfo_wants_a_bearer_token() {
    let app = crate::helpers::spawn_app().await;
    let resp = reqwest::get(app.url("/oauth/userinfo")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"qrlogin\""
    );
    // The documented JSON error, not an empty body (schemathesis's finding).
    expect_oauth_error(resp, 401, "invalid_request").await;
    let resp = app.userinfo("not-a-token").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    expect_oauth_error(resp, 401, "invalid_token").await;
    // POST works as well as GET.
    let tokens = app.tokens_for(&Authorize::shop(), ALICE).await;
    let resp = reqwest::Client::new()
        .post(app.url("/oauth/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn authorization_errors_go_back_to_the_client_with_state_and_iss() {
    let app = crate::helpers::spawn_app().await;
    for (request, error) in [
        (
            Authorize::shop().with("response_type", "token"),
            "unsupported_response_type",
        ),
        (
            Authorize {
                scope: "profile".into(),
                ..Authorize::shop()
            },
            "invalid_scope",
        ),
        (Authorize::shop().with("prompt", "none"), "login_required"),
        (
            Authorize::shop().with("request", "x.y.z"),
            "request_not_supported",
        ),
        (
            Authorize::shop().with("nonce", &"n".repeat(2000)),
            "invalid_request",
        ),
    ] {
        let resp = app
            .authorize_page(&crate::helpers::browser(), &request.query())
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{error}");
        let to = location(&resp);
        assert!(to.starts_with(SHOP_REDIRECT), "{to}");
        let p = params(&to);
        assert_eq!(p["error"], error);
        assert_eq!(p.get("state"), request.state.as_ref());
        assert_eq!(p["iss"], app.issuer);
    }
    // The page creating a QR for a tampered request is refused as JSON.
    let resp = app
        .client
        .post(app.url("/api/qr"))
        .json(&serde_json::json!({ "authorize": "client_id=nobody" }))
        .send()
        .await
        .unwrap();
    crate::helpers::expect_error(resp, 400, "invalid_authorization").await;
    // POST to the authorization endpoint moves to GET with the same request.
    let query = Authorize::shop().query();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/oauth/authorize"))
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(location(&resp).starts_with("/oauth/authorize?"));
}

#[tokio::test]
async fn the_authorization_page_is_the_login_page_with_its_policies() {
    let app = crate::helpers::spawn_app().await;
    let resp = app
        .authorize_page(&crate::helpers::browser(), &Authorize::shop().query())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    let page = resp.text().await.unwrap();
    assert!(page.contains("/static/login.js"));
}

#[tokio::test]
async fn single_page_apps_may_call_the_back_channel_cross_origin() {
    let app = crate::helpers::spawn_app().await;
    let spa_origin = "http://localhost:5173";
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, app.url("/oauth/token"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let resp = preflight(spa_origin).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["access-control-allow-origin"], spa_origin);
    assert!(
        resp.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    // Origins of confidential clients and strangers get no CORS grant.
    for origin in ["https://shop.example", "https://evil.example"] {
        let resp = preflight(origin).await.unwrap();
        assert!(
            resp.headers().get("access-control-allow-origin").is_none(),
            "{origin}"
        );
    }
    let tokens = app.tokens_for(&Authorize::spa(), ALICE).await;
    let resp = reqwest::Client::new()
        .get(app.url("/oauth/userinfo"))
        .header("origin", spa_origin)
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["access-control-allow-origin"], spa_origin);
    // The QR API itself stays closed to other origins.
    let resp = reqwest::Client::new()
        .post(app.url("/api/qr"))
        .header("origin", spa_origin)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_client_may_ask_for_es256_id_tokens_signed_by_an_ec_key() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oidc");
    let app = crate::helpers::spawn_app_with(|c| {
        c.oidc.signing_keys = vec![fixtures.join("rsa_a.pem"), fixtures.join("ec.pem")];
        let wiki = c.clients.iter_mut().find(|c| c.client_id == WIKI).unwrap();
        wiki.id_token_signed_response_alg = "ES256".into();
    })
    .await;
    let discovery = json(
        reqwest::get(app.url("/.well-known/openid-configuration"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(app.url("/oauth/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks.keys.len(), 2);
    for (request, alg) in [
        (Authorize::wiki(), jsonwebtoken::Algorithm::ES256),
        (Authorize::shop(), jsonwebtoken::Algorithm::RS256),
    ] {
        let tokens = app.tokens_for(&request, ALICE).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(id_token).unwrap();
        assert_eq!(header.alg, alg);
        let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.set_audience(&[request.client_id.as_str()]);
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        jsonwebtoken::decode::<Value>(id_token, &key, &validation).unwrap();
    }
}

#[tokio::test]
async fn a_client_asking_for_an_algorithm_without_a_key_stops_start_up() {
    let mut config = crate::helpers::test_config("http://127.0.0.1:1");
    config.clients[1].id_token_signed_response_alg = "EdDSA".into();
    let listener = qrlogin::startup::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let err = qrlogin::Application::build_on(config, listener, qrlogin::clock::Clock::manual())
        .await
        .expect_err("refused");
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string()
            .contains("clients[1].id_token_signed_response_alg"),
        "{err}"
    );
}
