//! The phone API and every illegal transition through it.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn phone_calls_need_a_valid_bearer_token() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let resp = t
        .client
        .post(t.url("/api/mobile/scan"))
        .json(&json!({ "qr": qr.id }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"qrlogin\""
    );
    expect_error(resp, 401, "unauthorized").await;
    for path in [
        "/api/mobile/scan",
        "/api/mobile/confirm",
        "/api/mobile/cancel",
    ] {
        let body = json!({ "qr": qr.id, "qr_id": qr.id, "confirm_token": "x" });
        let resp = t.mobile(path, "not-a-user", body).await;
        assert!(
            resp.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
        expect_error(resp, 401, "unauthorized").await;
    }
    // Nothing moved.
    assert_eq!(t.poll(&qr, "wait=0").await["code"], 408);
}

#[tokio::test]
async fn a_user_id_in_the_body_is_refused_not_trusted() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let resp = t
        .mobile(
            "/api/mobile/scan",
            BOB,
            json!({ "qr": qr.id, "user_id": "alice" }),
        )
        .await;
    expect_error(resp, 400, "invalid_json").await;
    assert_eq!(t.poll(&qr, "wait=0").await["code"], 408);
}

#[tokio::test]
async fn scan_accepts_the_qr_content_or_a_bare_id_but_not_foreign_codes() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let resp = t
        .mobile("/api/mobile/scan", ALICE, json!({ "qr": qr.id }))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let foreign = format!("https://evil.example/l/{}", qr.id);
    let resp = t
        .mobile("/api/mobile/scan", ALICE, json!({ "qr": foreign }))
        .await;
    expect_error(resp, 400, "invalid_qr").await;
}

#[tokio::test]
async fn a_second_account_cannot_claim_a_scanned_code() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let alice_confirm = t.scan_ok(ALICE, &qr).await;
    expect_error(t.scan(BOB, &qr).await, 409, "already_claimed").await;
    // Bob cannot confirm with Alice's token either.
    expect_error(
        t.confirm(BOB, &qr, &alice_confirm).await,
        403,
        "wrong_confirm_token",
    )
    .await;
    expect_error(
        t.cancel(BOB, &qr, &alice_confirm).await,
        403,
        "wrong_confirm_token",
    )
    .await;
    // Still Alice's to confirm.
    let body = t.poll(&qr, "wait=0").await;
    assert_eq!(body["user"]["name"], "Alice");
    assert_eq!(
        t.confirm(ALICE, &qr, &alice_confirm).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn rescanning_gives_a_new_confirm_token_and_kills_the_old_one() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let old = t.scan_ok(ALICE, &qr).await;
    let new = t.scan_ok(ALICE, &qr).await;
    assert_ne!(old, new);
    expect_error(
        t.confirm(ALICE, &qr, &old).await,
        403,
        "wrong_confirm_token",
    )
    .await;
    assert_eq!(t.confirm(ALICE, &qr, &new).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn confirm_before_scan_is_a_conflict() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    expect_error(t.confirm(ALICE, &qr, "whatever").await, 409, "not_scanned").await;
    expect_error(t.cancel(ALICE, &qr, "whatever").await, 409, "not_scanned").await;
}

#[tokio::test]
async fn a_wrong_confirm_token_is_forbidden() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    t.scan_ok(ALICE, &qr).await;
    expect_error(
        t.confirm(ALICE, &qr, "guess").await,
        403,
        "wrong_confirm_token",
    )
    .await;
    assert_eq!(t.poll(&qr, "wait=0").await["code"], 201);
}

#[tokio::test]
async fn cancel_on_the_phone_reaches_the_browser_and_ends_the_session() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let confirm = t.scan_ok(ALICE, &qr).await;
    let resp = t.cancel(ALICE, &qr, &confirm).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["state"], "cancelled");
    assert_eq!(
        t.poll(&qr, "since=scanned").await,
        json!({"code": 202, "state": "cancelled", "reason": "phone"})
    );
    expect_error(
        t.confirm(ALICE, &qr, &confirm).await,
        409,
        "already_finished",
    )
    .await;
    expect_error(
        t.cancel(ALICE, &qr, &confirm).await,
        409,
        "already_finished",
    )
    .await;
    expect_error(t.scan(ALICE, &qr).await, 409, "already_finished").await;
}

#[tokio::test]
async fn nothing_moves_after_confirm() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let confirm = t.scan_ok(ALICE, &qr).await;
    assert_eq!(
        t.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    expect_error(t.scan(ALICE, &qr).await, 409, "already_finished").await;
    expect_error(t.scan(BOB, &qr).await, 409, "already_finished").await;
    expect_error(
        t.confirm(ALICE, &qr, &confirm).await,
        409,
        "already_finished",
    )
    .await;
    expect_error(
        t.cancel(ALICE, &qr, &confirm).await,
        409,
        "already_finished",
    )
    .await;
}

#[tokio::test]
async fn everything_is_refused_after_expiry() {
    let t = spawn_app().await;
    let pending = t.create_qr().await;
    let scanned = t.create_qr().await;
    let confirm = t.scan_ok(ALICE, &scanned).await;
    let (confirmed, ticket) = t.confirmed_qr(BOB).await;
    t.clock().advance(Duration::from_secs(301));

    expect_error(t.scan(ALICE, &pending).await, 410, "expired").await;
    expect_error(t.confirm(ALICE, &scanned, &confirm).await, 410, "expired").await;
    expect_error(t.cancel(ALICE, &scanned, &confirm).await, 410, "expired").await;
    expect_error(t.exchange(&confirmed, &ticket).await, 400, "invalid_ticket").await;
    for qr in [&pending, &scanned, &confirmed] {
        assert_eq!(t.poll(qr, "wait=0").await["state"], "expired");
    }
}

#[tokio::test]
async fn unknown_codes_are_404() {
    let t = spawn_app().await;
    let resp = t
        .mobile(
            "/api/mobile/scan",
            ALICE,
            json!({ "qr": "AAAAAAAAAAAAAAAAAAAAAA" }),
        )
        .await;
    expect_error(resp, 404, "not_found").await;
    let body = json!({ "qr_id": "AAAAAAAAAAAAAAAAAAAAAA", "confirm_token": "x" });
    expect_error(
        t.mobile("/api/mobile/confirm", ALICE, body).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn racing_scans_by_two_users_have_one_winner() {
    let t = spawn_app().await;
    for _ in 0..10 {
        let qr = t.create_qr().await;
        let (a, b) = tokio::join!(t.scan(ALICE, &qr), t.scan(BOB, &qr));
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409]);
    }
}
