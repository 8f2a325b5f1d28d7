//! The pages and the operational endpoints.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn login_and_phone_pages_are_served_with_security_headers() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    for path in [
        "/".to_owned(),
        format!("/l/{}", qr.id),
        "/static/login.js".to_owned(),
        "/static/style.css".to_owned(),
    ] {
        let resp = t.client.get(t.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let h = resp.headers();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
    }
    let page = t
        .client
        .get(t.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/static/login.js"));
    let phone = t
        .client
        .get(t.url(&format!("/l/{}", qr.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(phone.contains("/static/phone.js"));
}

#[tokio::test]
async fn api_answers_are_not_cached_and_carry_a_request_id() {
    let t = spawn_app().await;
    let resp = t.client.post(t.url("/api/qr")).send().await.unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(!resp.headers()["x-request-id"].is_empty());
}

#[tokio::test]
async fn demo_users_are_listed_only_when_configured() {
    let t = spawn_app().await;
    let body = json(t.client.get(t.url("/api/demo/users")).send().await.unwrap()).await;
    let users = body["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["token"], ALICE);
    assert_eq!(users[0]["name"], "Alice");

    // A config with JWTs only has no demo accounts.
    let t = spawn_app_with(|c| c.users.clear()).await;
    let resp = t.client.get(t.url("/api/demo/users")).send().await.unwrap();
    expect_error(resp, 404, "not_found").await;
}

#[tokio::test]
async fn health_and_readiness() {
    let t = spawn_app().await;
    let resp = t.client.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["status"], "ok");
    let resp = t.client.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
