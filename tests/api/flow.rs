//! The whole scan-to-log-in flow through the real HTTP server.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn happy_path_from_qr_to_logged_in_and_out() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    assert_eq!(qr.body["expires_in"], 300);
    assert_eq!(qr.body["poll_hold"], 25);
    assert_eq!(qr.qr_content, format!("{}/l/{}", t.base, qr.id));

    assert_eq!(
        t.poll(&qr, "wait=0").await,
        serde_json::json!({"code": 408, "state": "pending"})
    );

    // The phone scans and sees who asked.
    let resp = t.scan(ALICE, &qr).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let scan = json(resp).await;
    assert_eq!(scan["qr_id"], qr.id.as_str());
    assert_eq!(scan["request"]["ip"], "127.0.0.1");
    assert_eq!(
        scan["request"]["user_agent"],
        "Mozilla/5.0 (X11; Linux x86_64) qrlogin-tests"
    );
    assert!(scan["request"]["created_at"].as_i64().unwrap() > 1_600_000_000);
    assert!((1..=300).contains(&scan["expires_in"].as_u64().unwrap()));
    let confirm_token = scan["confirm_token"].as_str().unwrap();

    let body = t.poll(&qr, "wait=0").await;
    assert_eq!(body["code"], 201);
    assert_eq!(body["state"], "scanned");
    assert_eq!(body["user"]["name"], "Alice");
    assert_eq!(body["user"]["avatar"], "/static/avatars/alice.svg");

    let resp = t.confirm(ALICE, &qr, confirm_token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["state"], "confirmed");

    let body = t.poll(&qr, "wait=0&since=scanned").await;
    assert_eq!(body["code"], 200);
    assert_eq!(body["state"], "confirmed");
    let ticket = body["ticket"].as_str().unwrap();
    assert_eq!(
        body["redirect"],
        format!("/api/login/complete?ticket={ticket}")
    );

    // Not logged in yet.
    expect_error(t.me(&t.client).await, 401, "unauthorized").await;

    let resp = t.exchange(&qr, ticket).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("qrl_session="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "http public_url: no Secure flag"
    );
    let body = json(resp).await;
    assert_eq!(body["user"]["id"], "alice");
    assert_eq!(body["user"]["name"], "Alice");

    let me = t.me(&t.client).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me = json(me).await;
    assert_eq!(me["user"]["id"], "alice");
    assert!(me["expires_at"].as_i64().unwrap() > 1_600_000_000);

    // The session is used up.
    let body = t.poll(&qr, "wait=0&since=confirmed").await;
    assert_eq!(body, serde_json::json!({"code": 400, "state": "redeemed"}));

    // Log out: the server revokes the session, so replaying the cookie fails.
    let cookie_value = cookie.split(';').next().unwrap().to_owned();
    let resp = t.client.post(t.url("/api/logout")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_error(t.me(&t.client).await, 401, "unauthorized").await;
    let replay = reqwest::Client::new()
        .get(t.url("/api/me"))
        .header("cookie", cookie_value)
        .send()
        .await
        .unwrap();
    expect_error(replay, 401, "unauthorized").await;
}

#[tokio::test]
async fn complete_sets_the_cookie_and_redirects_to_next() {
    let t = spawn_app().await;
    let (_, ticket) = t.confirmed_qr(ALICE).await;
    let resp = t
        .client
        .get(t.url(&format!(
            "/api/login/complete?ticket={ticket}&next=/dashboard?tab=1"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/dashboard?tab=1");
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("HttpOnly")
    );
    assert_eq!(json(t.me(&t.client).await).await["user"]["id"], "alice");

    // Used once; a second navigation is refused (JSON for API clients, the
    // login page with a message for browsers).
    let again = t
        .client
        .get(t.url(&format!("/api/login/complete?ticket={ticket}")))
        .send()
        .await
        .unwrap();
    expect_error(again, 400, "invalid_ticket").await;
    let again = t
        .client
        .get(t.url(&format!("/api/login/complete?ticket={ticket}")))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(again.headers()["location"], "/?login_error=invalid_ticket");
}

#[tokio::test]
async fn complete_refuses_open_redirects() {
    let t = spawn_app().await;
    for next in [
        "https://evil.example/",
        "//evil.example/",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "/%09/evil.example",
        "javascript:alert(1)",
    ] {
        let (_, ticket) = t.confirmed_qr(ALICE).await;
        let resp = t
            .client
            .get(t.url(&format!("/api/login/complete?ticket={ticket}&next={next}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(resp.headers()["location"], "/", "next={next}");
    }
}

#[tokio::test]
async fn https_public_url_makes_the_cookie_secure() {
    let t = spawn_app_at("https://login.example").await;
    let (qr, ticket) = t.confirmed_qr(BOB).await;
    assert!(qr.qr_content.starts_with("https://login.example/l/"));
    let resp = t.exchange(&qr, &ticket).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
}

#[tokio::test]
async fn every_login_gets_a_fresh_session_id() {
    let t = spawn_app().await;
    let mut cookies = std::collections::HashSet::new();
    for _ in 0..3 {
        let (qr, ticket) = t.confirmed_qr(ALICE).await;
        let resp = t.exchange(&qr, &ticket).await;
        let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookies.insert(cookie.split(';').next().unwrap().to_owned()));
    }
    // Each login is its own server-side session.
    assert_eq!(t.store().account_count(), Some(3));
}

#[tokio::test]
async fn the_browser_can_abandon_its_code() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let url = t.url(&format!("/api/qr/{}", qr.id));
    let resp = t
        .client
        .delete(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "unauthorized").await;
    let resp = t
        .client
        .delete(&url)
        .bearer_auth(&qr.poll_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.poll(&qr, "wait=0").await["code"], 202);
    expect_error(t.scan(ALICE, &qr).await, 409, "already_finished").await;
}

#[tokio::test]
async fn a_ticket_only_completes_in_the_browser_that_asked() {
    let t = spawn_app().await;
    // The attacker confirms their own code and sends the victim the link
    // (login CSRF): the victim's browser is not the one that created it.
    let (_, ticket) = t.confirmed_qr(ALICE).await;
    let victim = browser();
    let url = t.url(&format!("/api/login/complete?ticket={ticket}"));
    expect_error(
        victim.get(&url).send().await.unwrap(),
        400,
        "invalid_ticket",
    )
    .await;
    // Even a victim that has its own QR code (and so a binding cookie).
    victim.post(t.url("/api/qr")).send().await.unwrap();
    expect_error(
        victim.get(&url).send().await.unwrap(),
        400,
        "invalid_ticket",
    )
    .await;
    expect_error(t.me(&victim).await, 401, "unauthorized").await;
    // The refusals did not burn it for the right browser.
    let resp = t.client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn other_sites_cannot_log_users_out() {
    let t = spawn_app().await;
    let (qr, ticket) = t.confirmed_qr(ALICE).await;
    assert_eq!(t.exchange(&qr, &ticket).await.status(), StatusCode::OK);
    let logout = t.url("/api/logout");
    let resp = t
        .client
        .post(&logout)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    expect_error(resp, 403, "cross_site").await;
    let resp = t
        .client
        .post(&logout)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    expect_error(resp, 403, "cross_site").await;
    // An old browser's cross-site form POST carries only a Referer.
    for referer in ["https://evil.example/page", "null", "not a url"] {
        let resp = t
            .client
            .post(&logout)
            .header("referer", referer)
            .send()
            .await
            .unwrap();
        expect_error(resp, 403, "cross_site").await;
    }
    assert_eq!(t.me(&t.client).await.status(), StatusCode::OK);
    let resp = t
        .client
        .post(&logout)
        .header("sec-fetch-site", "same-origin")
        .header("origin", &t.base)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_error(t.me(&t.client).await, 401, "unauthorized").await;
}

/// `/api/session` answers who is logged in without an error for nobody,
/// so the login page's first question leaves no error in the console.
#[tokio::test]
async fn the_session_endpoint_answers_200_logged_in_or_not() {
    let t = spawn_app().await;
    let nobody = t.client.get(t.url("/api/session")).send().await.unwrap();
    assert_eq!(nobody.status(), StatusCode::OK);
    assert_eq!(
        json(nobody).await,
        serde_json::json!({"user": null, "expires_at": null})
    );
    let (qr, ticket) = t.confirmed_qr(ALICE).await;
    assert_eq!(t.exchange(&qr, &ticket).await.status(), StatusCode::OK);
    let body = json(t.client.get(t.url("/api/session")).send().await.unwrap()).await;
    assert_eq!(body["user"]["id"], "alice");
    assert!(body["expires_at"].as_i64().unwrap() > 1_600_000_000);
}
