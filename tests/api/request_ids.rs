//! Request ids and log lines, through the real binary's stderr: a trusted
//! proxy's `X-Request-Id` is kept, anyone else's replaced; either way the
//! id is echoed and is on the log lines written while handling the request.
#![allow(clippy::disallowed_methods)]

use crate::helpers::test_config_text;
use crate::startup::{Binary, write_config};
use serde_json::Value;

/// The binary on the test config, logging in `format`, with these proxies trusted.
fn server(format: &str, trusted_proxies: &str) -> Binary {
    let config = write_config(&test_config_text("http://127.0.0.1:1", ""));
    Binary::start_with(
        &config,
        &[
            ("QRLOGIN_LOG__FORMAT", format),
            ("QRLOGIN_SERVER__TRUSTED_PROXIES", trusted_proxies),
        ],
    )
}

/// Creates a QR code sending `X-Request-Id: sent`; the id echoed back.
async fn create_qr(server: &Binary, sent: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("http://{}/api/qr", server.addr))
        .header("x-request-id", sent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
    resp.headers()["x-request-id"].to_str().unwrap().to_owned()
}

/// The JSON log line the login service writes when it creates a QR code.
fn qr_created_line(server: &Binary) -> Value {
    let line = server.log_line(|l| l.contains("qr session created"));
    serde_json::from_str(&line).unwrap()
}

#[tokio::test]
async fn a_trusted_proxys_request_id_is_kept_echoed_and_logged() {
    let server = server("json", r#"["127.0.0.0/8"]"#);
    let echoed = create_qr(&server, "edge-7f3a/42").await;
    assert_eq!(echoed, "edge-7f3a/42");
    let line = qr_created_line(&server);
    assert_eq!(line["request_id"], "edge-7f3a/42", "{line}");
    // One object per line, with the parts a collector indexes.
    assert_eq!(line["level"], "INFO");
    assert!(line["target"].as_str().unwrap().starts_with("qrlogin"));
    assert!(
        line["timestamp"].is_string() && line["fields"]["qr"].is_string(),
        "{line}"
    );
    for startup_line in &server.startup_log {
        let parsed: Value = serde_json::from_str(startup_line).unwrap();
        assert!(parsed["message"].is_string(), "{startup_line}");
    }

    // Even from a trusted proxy, an id that is not short visible ASCII is replaced.
    let long = "x".repeat(129);
    let echoed = create_qr(&server, &long).await;
    assert_ne!(echoed, long);
    assert_eq!(qr_created_line(&server)["request_id"], echoed.as_str());
}

#[tokio::test]
async fn anyone_elses_request_id_is_replaced_by_one_made_here() {
    let server = server("json", "[]");
    let echoed = create_qr(&server, "spoofed-id").await;
    assert_ne!(echoed, "spoofed-id");
    let line = qr_created_line(&server);
    assert_eq!(line["request_id"], echoed.as_str(), "{line}");
    // Ids made here differ from request to request.
    let again = create_qr(&server, "spoofed-id").await;
    assert_ne!(again, echoed);
}

#[tokio::test]
async fn pretty_lines_carry_the_request_id_too() {
    let server = server("pretty", r#"["127.0.0.1/32"]"#);
    create_qr(&server, "pretty-1").await;
    let line = server.log_line(|l| l.contains("qr session created"));
    assert!(line.ends_with(" request_id=pretty-1"), "{line}");
    assert!(!line.starts_with('{'), "{line}");
}
