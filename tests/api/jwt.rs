//! Phone tokens as JWTs from the account system: HS256 and RS256.

use crate::helpers::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

const RS256_PRIVATE: &[u8] = include_bytes!("../fixtures/rs256_private.pem");
const OTHER_PRIVATE: &[u8] = include_bytes!("../fixtures/other_private.pem");
const RS256_PUBLIC: &[u8] = include_bytes!("../fixtures/rs256_public.pem");

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(sub: &str, exp: i64) -> Value {
    json!({ "sub": sub, "exp": exp, "name": "Carol 卡罗尔", "picture": "https://cdn.example/carol.png" })
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn rs256(claims: &Value, pem: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::RS256),
        claims,
        &EncodingKey::from_rsa_pem(pem).unwrap(),
    )
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn hs256_token_logs_in_with_its_claims() {
    let t = spawn_app().await;
    let token = hs256(&claims("carol", now() + 600), HS256_SECRET.as_bytes());
    let (qr, ticket) = t.confirmed_qr(&token).await;
    let body = t.poll(&qr, "wait=0&since=pending").await;
    assert_eq!(body["user"]["name"], "Carol 卡罗尔");
    assert_eq!(body["user"]["avatar"], "https://cdn.example/carol.png");
    let resp = t.exchange(&qr, &ticket).await;
    assert_eq!(json(resp).await["user"]["id"], "carol");
}

#[tokio::test]
async fn rs256_token_logs_in() {
    let t = spawn_app().await;
    let token = rs256(&claims("dave", now() + 600), RS256_PRIVATE);
    let (qr, ticket) = t.confirmed_qr(&token).await;
    let resp = t.exchange(&qr, &ticket).await;
    assert_eq!(json(resp).await["user"]["id"], "dave");
}

#[tokio::test]
async fn bad_jwts_are_refused() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let fresh = claims("mallory", now() + 600);
    let none_token = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(fresh.to_string().as_bytes())
    );
    let no_exp = json!({ "sub": "mallory" });
    let cases = [
        (
            "expired",
            hs256(&claims("mallory", now() - 120), HS256_SECRET.as_bytes()),
        ),
        (
            "wrong hs256 key",
            hs256(&fresh, b"another-secret-that-is-long-enough-to-use!!"),
        ),
        ("wrong rs256 key", rs256(&fresh, OTHER_PRIVATE)),
        ("alg none", none_token),
        // Algorithm confusion: HS256 keyed with the RSA public key.
        ("hs256 with the rsa public key", hs256(&fresh, RS256_PUBLIC)),
        ("no exp", hs256(&no_exp, HS256_SECRET.as_bytes())),
        (
            "empty sub",
            hs256(&claims("", now() + 600), HS256_SECRET.as_bytes()),
        ),
        ("garbage", "a.b.c".to_owned()),
    ];
    for (what, token) in cases {
        let resp = t.scan(&token, &qr).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert!(resp.headers().contains_key("www-authenticate"), "{what}");
        let body = json(resp).await;
        assert_eq!(body["error"], "unauthorized", "{what}");
    }
    assert_eq!(t.poll(&qr, "wait=0").await["code"], 408);
}

#[tokio::test]
async fn unsafe_avatar_urls_are_dropped() {
    let t = spawn_app().await;
    // The second one would make the victim's page call this API with its
    // cookies when it shows the avatar.
    for picture in [
        "javascript:alert(1)",
        "/api/login/complete?ticket=x",
        "/\\evil.example/a.png",
    ] {
        let mut c = claims("erin", now() + 600);
        c["picture"] = json!(picture);
        let token = hs256(&c, HS256_SECRET.as_bytes());
        let qr = t.create_qr().await;
        t.scan_ok(&token, &qr).await;
        let body = t.poll(&qr, "wait=0").await;
        assert_eq!(body["user"]["avatar"], Value::Null, "{picture}");
    }
}

#[test]
fn configured_issuer_and_audience_are_required() {
    let mut config = test_config("http://127.0.0.1:1");
    config.mobile_auth.jwt_issuer = Some("https://accounts.example".into());
    config.mobile_auth.jwt_audience = Some("qrlogin".into());
    let verifier = qrlogin::auth::MobileVerifier::from_config(&config).unwrap();
    let now_ts = qrlogin::clock::Clock::system().now();
    let good = json!({ "sub": "gina", "exp": now() + 600, "iss": "https://accounts.example", "aud": "qrlogin" });
    assert!(
        verifier
            .verify(&hs256(&good, HS256_SECRET.as_bytes()), now_ts)
            .is_ok()
    );
    for (what, claims) in [
        (
            "no aud",
            json!({ "sub": "gina", "exp": now() + 600, "iss": "https://accounts.example" }),
        ),
        (
            "no iss",
            json!({ "sub": "gina", "exp": now() + 600, "aud": "qrlogin" }),
        ),
        (
            "wrong aud",
            json!({ "sub": "gina", "exp": now() + 600, "iss": "https://accounts.example", "aud": "other" }),
        ),
        (
            "aud of the wrong type",
            json!({ "sub": "gina", "exp": now() + 600, "iss": "https://accounts.example", "aud": 5 }),
        ),
    ] {
        assert!(
            verifier
                .verify(&hs256(&claims, HS256_SECRET.as_bytes()), now_ts)
                .is_err(),
            "{what}"
        );
    }
}

#[tokio::test]
async fn jwt_expiry_follows_the_servers_clock() {
    let t = spawn_app().await;
    let token = hs256(&claims("frank", now() + 120), HS256_SECRET.as_bytes());
    let qr = t.create_qr().await;
    t.scan_ok(&token, &qr).await;
    t.clock().advance(std::time::Duration::from_secs(200));
    let qr = t.create_qr().await;
    expect_error(t.scan(&token, &qr).await, 401, "unauthorized").await;
}

/// A demo `[[users]]` id and a JWT `sub` would name one account: a token
/// whose `sub` is a demo id is refused, so it cannot act as that account.
#[tokio::test]
async fn a_jwt_cannot_take_a_demo_accounts_id() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let token = hs256(&claims("alice", now() + 600), HS256_SECRET.as_bytes());
    let body = expect_error(t.scan(&token, &qr).await, 401, "unauthorized").await;
    assert!(body["message"].as_str().unwrap().contains("demo"), "{body}");
    // Any other subject is fine, the demo token too.
    let other = hs256(&claims("alice2", now() + 600), HS256_SECRET.as_bytes());
    assert_eq!(t.scan(&other, &qr).await.status(), StatusCode::OK);
}
