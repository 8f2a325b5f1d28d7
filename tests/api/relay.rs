//! Against relayed logins (QRLjacking): the phone is told how near, where
//! and what the asking browser is, and with number matching only the person
//! at the login page can confirm.

use crate::helpers::*;
use crate::redis_server::RedisServer;
use qrlogin::config::Config;
use qrlogin::startup::Application;
use serde_json::{Value, json};
use std::path::PathBuf;

const CHROME_ON_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// MaxMind's test database (tests/fixtures/geoip/README.md lists its places).
fn geoip_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip/GeoIP2-City-Test.mmdb")
}

/// Behind a proxy on this machine, so tests choose each client's IP.
fn behind_proxy(config: &mut Config) {
    config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

/// A QR created by a Chrome-on-Windows browser at `ip`.
async fn create_from(t: &TestApp, ip: &str) -> Qr {
    let resp = t
        .client
        .post(t.url("/api/qr"))
        .header("x-forwarded-for", ip)
        .header("user-agent", CHROME_ON_WINDOWS)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body = json(resp).await;
    Qr::from_created(body)
}

/// Alice's phone at `ip` scans `qr`; the scan answer.
async fn scan_from(t: &TestApp, qr: &Qr, ip: &str) -> Value {
    let resp = t
        .client
        .post(t.url("/api/mobile/scan"))
        .bearer_auth(ALICE)
        .header("x-forwarded-for", ip)
        .json(&json!({ "qr": qr.qr_content }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    json(resp).await
}

#[tokio::test]
async fn the_scan_says_how_near_the_browser_is() {
    let t = spawn_app_with(behind_proxy).await;
    let qr = create_from(&t, "81.2.69.142").await;
    // Rescans by the same user are allowed: one per vantage point.
    for (phone, verdict) in [
        ("81.2.69.142", "same_network"),
        ("81.2.69.160", "nearby"),
        ("89.160.20.112", "different"),
        ("2001:db8::1", "different"),
    ] {
        let body = scan_from(&t, &qr, phone).await;
        assert_eq!(body["request"]["proximity"], verdict, "phone at {phone}");
        assert_eq!(body["request"]["ip"], "81.2.69.142");
    }
    let v6 = create_from(&t, "2001:db8:aa:1::1").await;
    let body = scan_from(&t, &v6, "2001:db8:aa:ff::2").await;
    assert_eq!(body["request"]["proximity"], "nearby");
}

#[tokio::test]
async fn the_scan_names_the_device_and_leaves_location_out_without_geoip() {
    let t = spawn_app_with(behind_proxy).await;
    let qr = create_from(&t, "81.2.69.142").await;
    let body = scan_from(&t, &qr, "89.160.20.112").await;
    assert_eq!(body["request"]["device"], "Chrome on Windows 10");
    assert_eq!(body["request"]["user_agent"], CHROME_ON_WINDOWS);
    assert!(body["request"].get("location").is_none(), "{body}");
    assert!(body["request"].get("location_mismatch").is_none(), "{body}");
    assert!(body.get("number_choices").is_none(), "{body}");
}

#[tokio::test]
async fn with_geoip_the_scan_says_where_the_browser_is_and_whether_it_differs() {
    let t = spawn_app_with(|c| {
        behind_proxy(c);
        c.geoip.path = Some(geoip_fixture());
    })
    .await;
    let qr = create_from(&t, "89.160.20.112").await;
    let far = scan_from(&t, &qr, "81.2.69.142").await;
    assert_eq!(
        far["request"]["location"],
        json!({"country_code": "SE", "country": "Sweden", "city": "Linköping"})
    );
    assert_eq!(far["request"]["location_mismatch"], true);
    // Same city, another network: not a mismatch, though not nearby either.
    let same_city = scan_from(&t, &qr, "89.160.20.130").await;
    assert_eq!(same_city["request"]["location_mismatch"], false);
    // A phone the database does not know cannot be told apart.
    let unknown = scan_from(&t, &qr, "127.0.0.1").await;
    assert_eq!(unknown["request"]["location_mismatch"], false);
    // Nor can a browser it does not know: no location then.
    let home = create_from(&t, "192.168.1.10").await;
    let body = scan_from(&t, &home, "81.2.69.142").await;
    assert!(body["request"].get("location").is_none(), "{body}");
    assert_eq!(body["request"]["location_mismatch"], false);
}

#[tokio::test]
async fn a_missing_or_bad_geoip_database_stops_the_start_naming_the_key() {
    let not_a_db = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/README.md");
    for path in [PathBuf::from("/nonexistent/GeoLite2-City.mmdb"), not_a_db] {
        let mut config = test_config("http://127.0.0.1:1");
        config.geoip.path = Some(path.clone());
        let listener = qrlogin::startup::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let err = Application::build_on(config, listener, qrlogin::clock::Clock::manual())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("geoip.path"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert_eq!(err.exit_code(), 2);
    }
}

fn number_matching(config: &mut Config) {
    config.login.number_matching = true;
}

/// The page's number, and the phone's choices and confirm token.
async fn scanned_with_number(t: &TestApp) -> (Qr, u64, Vec<u64>, String) {
    let qr = t.create_qr().await;
    let number = qr.body["match_number"].as_u64().expect("a number to show");
    assert!((10..=99).contains(&number), "{number}");
    let resp = t.scan(ALICE, &qr).await;
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    let choices: Vec<u64> = body["number_choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    let confirm = body["confirm_token"].as_str().unwrap().to_owned();
    (qr, number, choices, confirm)
}

async fn confirm_with(
    t: &TestApp,
    qr: &Qr,
    confirm: &str,
    number: Option<u64>,
) -> reqwest::Response {
    let mut body = json!({ "qr_id": qr.id, "confirm_token": confirm });
    if let Some(n) = number {
        body["number"] = json!(n);
    }
    t.mobile("/api/mobile/confirm", ALICE, body).await
}

#[tokio::test]
async fn number_matching_offers_three_choices_and_confirms_with_the_right_one() {
    let t = spawn_app_with(number_matching).await;
    let (qr, number, choices, confirm) = scanned_with_number(&t).await;
    assert_eq!(choices.len(), 3);
    assert_eq!(choices.iter().filter(|c| **c == number).count(), 1);
    let mut distinct = choices.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{choices:?}");
    assert!(choices.iter().all(|c| (10..=99).contains(c)));
    let resp = confirm_with(&t, &qr, &confirm, Some(number)).await;
    assert_eq!(resp.status(), 200);
    let poll = t.poll(&qr, "wait=0").await;
    assert_eq!(poll["state"], "confirmed");
    assert!(poll.get("reason").is_none(), "{poll}");
}

#[tokio::test]
async fn a_wrong_pick_cancels_and_the_page_hears_why() {
    let t = spawn_app_with(number_matching).await;
    let (qr, number, choices, confirm) = scanned_with_number(&t).await;
    let wrong = choices.into_iter().find(|c| *c != number).unwrap();
    expect_error(
        confirm_with(&t, &qr, &confirm, Some(wrong)).await,
        403,
        "wrong_number",
    )
    .await;
    let poll = t.poll(&qr, "wait=0").await;
    assert_eq!(
        (poll["code"].as_u64(), poll["state"].as_str()),
        (Some(202), Some("cancelled"))
    );
    assert_eq!(poll["reason"], "wrong_number");
    // Operators can count (and alert on) refusals.
    let metrics = t.metrics().await;
    assert!(
        metrics.contains(r#"qrlogin_qr_cancelled_total{kind="browser",by="wrong_number"} 1"#),
        "{metrics}"
    );
    // No second guess.
    expect_error(
        confirm_with(&t, &qr, &confirm, Some(number)).await,
        409,
        "already_finished",
    )
    .await;
    // Declining on the phone reads differently.
    let (qr, _, _, confirm) = scanned_with_number(&t).await;
    assert_eq!(t.cancel(ALICE, &qr, &confirm).await.status(), 200);
    assert_eq!(t.poll(&qr, "wait=0").await["reason"], "phone");
}

#[tokio::test]
async fn a_missing_or_malformed_pick_is_refused_and_changes_nothing() {
    let t = spawn_app_with(number_matching).await;
    let (qr, number, _, confirm) = scanned_with_number(&t).await;
    expect_error(
        confirm_with(&t, &qr, &confirm, None).await,
        400,
        "number_required",
    )
    .await;
    for bad in [json!(5), json!(100), json!("42"), json!(-1)] {
        let body = json!({ "qr_id": qr.id, "confirm_token": confirm, "number": bad });
        expect_error(
            t.mobile("/api/mobile/confirm", ALICE, body).await,
            400,
            "invalid_json",
        )
        .await;
    }
    assert_eq!(t.poll(&qr, "wait=0").await["state"], "scanned");
    assert_eq!(
        confirm_with(&t, &qr, &confirm, Some(number)).await.status(),
        200
    );
}

#[tokio::test]
async fn without_number_matching_there_is_no_number_and_a_pick_is_ignored() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    assert!(qr.body.get("match_number").is_none(), "{}", qr.body);
    let confirm = t.scan_ok(ALICE, &qr).await;
    assert_eq!(
        confirm_with(&t, &qr, &confirm, Some(42)).await.status(),
        200
    );
}

/// One instance creates, another scans and confirms: the browser's IP and
/// the number travel in the session through Redis.
#[tokio::test]
async fn relay_checks_hold_across_instances_on_redis() {
    let redis = RedisServer::start().await;
    let tweak = |c: &mut Config| {
        number_matching(c);
        c.geoip.path = Some(geoip_fixture());
    };
    let a = spawn_redis_app(&redis.url(), "qrl:", tweak, None).await;
    let b = spawn_redis_app(&redis.url(), "qrl:", tweak, None).await;
    let qr = create_from(&a, "81.2.69.142").await;
    let number = qr.body["match_number"].as_u64().unwrap();
    let body = scan_from(&b, &qr, "81.2.69.160").await;
    assert_eq!(body["request"]["proximity"], "nearby");
    assert_eq!(body["request"]["location"]["city"], "London");
    assert_eq!(body["request"]["location_mismatch"], false);
    let choices = body["number_choices"].as_array().unwrap();
    assert!(choices.contains(&json!(number)), "{body}");
    let confirm = body["confirm_token"].as_str().unwrap();
    let wrong = choices.iter().find(|c| **c != json!(number)).unwrap();
    expect_error(
        confirm_with(&b, &qr, confirm, wrong.as_u64()).await,
        403,
        "wrong_number",
    )
    .await;
    assert_eq!(a.poll(&qr, "wait=0").await["reason"], "wrong_number");
}
