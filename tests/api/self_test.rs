//! `qrlogin self-test`: the binary checking a live deployment from the
//! outside. Against qrlogin it finds nothing; against a server with every
//! flaw it names each one — so a verdict of "ok" means something.

use crate::helpers::*;
use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Runs `qrlogin self-test` with `args`: its exit code and report.
async fn self_test(args: &[&str]) -> (i32, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_qrlogin"))
        .arg("self-test")
        .args(args)
        .env_remove("QRLOGIN_SELF_TEST_PHONE_TOKEN")
        .env_remove("QRLOGIN_SELF_TEST_SECOND_PHONE_TOKEN")
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap(), report)
}

#[tokio::test]
async fn qrlogin_passes_its_own_self_test() {
    let t = spawn_app().await;
    let (code, report) =
        self_test(&[&t.base, "--phone-token", ALICE, "--second-phone-token", BOB]).await;
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("No flaw found."), "{report}");
    assert!(!report.contains("not checked"), "{report}");
    assert_eq!(report.matches(": ok\n").count(), 6, "{report}");
}

#[tokio::test]
async fn without_phone_tokens_the_phone_checks_are_said_to_be_skipped() {
    let t = spawn_app().await;
    let (code, report) = self_test(&[&t.base]).await;
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains("3. Reusable QR code or ticket: not checked"),
        "{report}"
    );
    assert!(report.contains("needs --phone-token"), "{report}");
}

/// A QR login with every flaw: sequential ids it lets clients choose, no
/// poll token, any phone token accepted, secrets handed to the phone,
/// cacheable answers, codes for any origin that live an hour.
fn flawed_server() -> Router {
    let next = Arc::new(AtomicU64::new(1000));
    let create = move |Json(body): Json<Value>| {
        let next = next.clone();
        async move {
            let id = body["id"].as_str().map_or_else(
                || next.fetch_add(1, Ordering::SeqCst).to_string(),
                str::to_owned,
            );
            (
                StatusCode::CREATED,
                Json(json!({
                    "id": id, "poll_token": format!("t{id}"),
                    "qr_content": format!("http://flawed/l/{id}?t=t{id}"), "expires_in": 3600,
                })),
            )
        }
    };
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/", get(|| async { "<html>log in</html>" }))
        .route("/api/qr", post(create))
        .route(
            "/api/qr/{id}/status",
            get(|| async {
                Json(json!({"state": "scanned", "user": {"name": "Alice"}, "ticket": "k"}))
            }),
        )
        .route(
            "/api/mobile/scan",
            post(|| async {
                Json(json!({"qr_id": "1", "confirm_token": "c", "poll_token": "t1", "ticket": "k"}))
            }),
        )
        .route(
            "/api/mobile/confirm",
            post(|| async { Json(json!({"state": "confirmed"})) }),
        )
        .route(
            "/api/login/exchange",
            post(|| async { Json(json!({"user": "alice"})) }),
        )
}

#[tokio::test]
async fn a_server_with_every_flaw_is_called_out_on_each() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, flawed_server()).await });
    let (code, report) =
        self_test(&[&base, "--phone-token", "x", "--second-phone-token", "y"]).await;
    assert_eq!(code, 1, "{report}");
    assert_eq!(report.matches(": FLAW\n").count(), 6, "{report}");
    assert!(report.contains("6 of 6 flaws found."), "{report}");
}

#[tokio::test]
async fn a_url_that_is_not_http_is_refused_with_a_message() {
    let (code, report) = self_test(&["ftp://example.com"]).await;
    assert_eq!(code, 2, "{report}");
    assert!(report.contains("must be http(s)://"), "{report}");
}
