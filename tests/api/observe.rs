//! Metrics and the audit log, end to end: the counters after a flow, the
//! held-poll gauge and wake-up histogram, who may read `/metrics` (and
//! where), and the audit log's lines for a flow: in order, every one JSON of
//! the documented schema, and no secret of the flow anywhere in the file.

use crate::helpers::*;
use crate::rp::Authorize;
use crate::startup::temp_dir;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// The value of the sample `name{labels}` (`name` alone without labels)
/// in a scrape; `None` when the series is absent.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn a_flow_counts_each_step_once() {
    let app = spawn_app_with(|c| c.limits.qr_per_minute_per_ip = 2).await;
    let (qr, ticket) = app.confirmed_qr(ALICE).await;
    assert_eq!(app.exchange(&qr, &ticket).await.status(), StatusCode::OK);
    // The second QR of this minute is allowed, the third refused.
    app.create_qr().await;
    let refused = app.client.post(app.url("/api/qr")).send().await.unwrap();
    expect_error(refused, 429, "rate_limited").await;

    let text = app.metrics().await;
    for (series, value) in [
        ("qrlogin_qr_created_total{kind=\"browser\"}", 2.0),
        ("qrlogin_qr_scanned_total{kind=\"browser\"}", 1.0),
        ("qrlogin_qr_confirmed_total{kind=\"browser\"}", 1.0),
        ("qrlogin_qr_redeemed_total{kind=\"browser\"}", 1.0),
        ("qrlogin_rate_limited_total{limit=\"qr\"}", 1.0),
        (
            "qrlogin_refusals_total{route=\"/api/qr\",reason=\"rate_limited\"}",
            1.0,
        ),
        // create ×2 (the refused one is timed too), exchange ×1.
        (
            "qrlogin_http_request_duration_seconds_count{route=\"/api/qr\"}",
            3.0,
        ),
        (
            "qrlogin_http_request_duration_seconds_count{route=\"/api/login/exchange\"}",
            1.0,
        ),
        (
            "qrlogin_http_request_duration_seconds_count{route=\"/api/qr/{id}/status\"}",
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    // Steps that did not happen have no series yet.
    assert_eq!(sample(&text, "qrlogin_qr_cancelled_total"), None, "{text}");
    // Never a raw path (a QR id, a ticket) as a label.
    assert!(!text.contains(&qr.id), "{text}");
    assert!(text.contains("# TYPE qrlogin_held_polls gauge"), "{text}");
}

#[tokio::test]
async fn the_held_polls_gauge_rises_while_a_poll_is_held_and_its_wake_up_is_timed() {
    let app = spawn_app_with(|c| c.limits.max_held_connections = Some(50)).await;
    let qr = app.create_qr().await;
    let held = app.held_poll(&qr, "wait=20");
    app.wait_for_pollers(&qr, 1).await;
    let text = app.metrics().await;
    assert_eq!(sample(&text, "qrlogin_held_polls"), Some(1.0), "{text}");
    let budget = sample(&text, "qrlogin_held_connections_max");
    assert_eq!(budget, Some(50.0), "{text}");
    assert_eq!(
        sample(&text, "qrlogin_poll_wake_up_seconds_count"),
        Some(0.0)
    );

    app.scan_ok(ALICE, &qr).await;
    let answer = json(held.await.unwrap()).await;
    assert_eq!(answer["code"], 201, "{answer}");
    let text = app.metrics().await;
    assert_eq!(sample(&text, "qrlogin_held_polls"), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, "qrlogin_poll_wake_up_seconds_count"),
        Some(1.0),
        "{text}"
    );
    // An answer at once (nothing held) is not a wake-up.
    app.poll(&qr, "wait=0").await;
    let text = app.metrics().await;
    assert_eq!(
        sample(&text, "qrlogin_poll_wake_up_seconds_count"),
        Some(1.0)
    );
}

#[tokio::test]
async fn an_expiry_is_counted_once_when_a_poller_learns_it() {
    let app = spawn_app().await;
    let qr = app.create_qr().await;
    app.clock().advance(Duration::from_secs(301));
    assert_eq!(app.poll(&qr, "wait=0").await["state"], "expired");
    // The page, told once, asks with `since=expired`: not counted again.
    assert_eq!(
        app.poll(&qr, "wait=0&since=expired").await["state"],
        "expired"
    );
    let text = app.metrics().await;
    assert_eq!(
        sample(&text, "qrlogin_qr_expired_total{kind=\"browser\"}"),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_answer_loopback_and_hide_from_everyone_else() {
    // Straight from loopback.
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(resp.text().await.unwrap().contains("qrlogin_build_info"));

    // Behind a proxy on loopback: the client it names decides.
    let app = spawn_app_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let scrape = |forwarded: &'static str| {
        app.client
            .get(app.url("/metrics"))
            .header("x-forwarded-for", forwarded)
            .send()
    };
    expect_error(scrape("203.0.113.9").await.unwrap(), 404, "not_found").await;
    assert_eq!(scrape("127.0.0.1").await.unwrap().status(), StatusCode::OK);
    // The refusal is counted like any other (the scrape that reads it is
    // from loopback).
    let text = app.metrics().await;
    assert_eq!(
        sample(
            &text,
            "qrlogin_refusals_total{route=\"/metrics\",reason=\"not_found\"}"
        ),
        Some(1.0),
        "{text}"
    );

    // Switched off: nothing there.
    let app = spawn_app_with(|c| c.metrics.enabled = false).await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    expect_error(resp, 404, "not_found").await;
}

#[tokio::test]
async fn an_admin_listener_takes_metrics_off_the_main_one() {
    let app = spawn_app_with(|c| {
        c.server.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    expect_error(resp, 404, "not_found").await;
    let admin = format!("http://{}", app.admin.unwrap());
    let qr = app.create_qr().await;
    let resp = app
        .client
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert_eq!(
        sample(&text, "qrlogin_qr_created_total{kind=\"browser\"}"),
        Some(1.0),
        "{text}"
    );
    for path in ["/healthz", "/readyz"] {
        let resp = app
            .client
            .get(format!("{admin}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    // The public API is not on the admin listener.
    let resp = app
        .client
        .get(format!("{admin}/api/qr/{}/status", qr.id))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// The `Set-Cookie` value of cookie `name` in `resp`.
fn cookie_value(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

#[tokio::test]
async fn the_audit_log_tells_a_flow_in_order_without_a_secret() {
    let dir = temp_dir();
    let path = dir.join("audit.log");
    let app = spawn_app_with(|c| c.audit.path = Some(path.clone())).await;
    let mut secrets: Vec<String> = [ALICE, BOB, HS256_SECRET, SHOP_SECRET, WIKI_SECRET]
        .map(str::to_owned)
        .to_vec();

    // A browser login, by hand to see the cookies.
    let resp = app.client.post(app.url("/api/qr")).send().await.unwrap();
    secrets.push(cookie_value(&resp, "qrl_bind"));
    let body = json(resp).await;
    let qr = Qr::from_created(body);
    secrets.push(qr.poll_token.clone());
    let confirm = app.scan_ok(ALICE, &qr).await;
    secrets.push(confirm.clone());
    // A wrong confirm token is refused, and that refusal is audited.
    let wrong = app.confirm(ALICE, &qr, "not-the-confirm-token").await;
    expect_error(wrong, 403, "wrong_confirm_token").await;
    assert_eq!(
        app.confirm(ALICE, &qr, &confirm).await.status(),
        StatusCode::OK
    );
    let ticket = app.poll(&qr, "wait=0").await["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(ticket.clone());
    let resp = app.exchange(&qr, &ticket).await;
    assert_eq!(resp.status(), StatusCode::OK);
    secrets.push(cookie_value(&resp, "qrl_session"));
    let logout = app
        .client
        .post(app.url("/api/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    // A site's login, its tokens, a refresh, a revocation.
    let request = Authorize::shop();
    let code = app.code_for(&request, BOB).await;
    secrets.push(code.clone());
    let tokens = json(app.redeem_code(&request, &code).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    for key in ["access_token", "refresh_token", "id_token"] {
        secrets.push(tokens[key].as_str().unwrap().to_owned());
    }
    let refreshed = json(app.refresh(SHOP, &refresh).await).await;
    for key in ["access_token", "refresh_token", "id_token"] {
        secrets.push(refreshed[key].as_str().unwrap().to_owned());
    }
    let latest = refreshed["refresh_token"].as_str().unwrap();
    let resp = app
        .oauth_post(
            "/oauth/revoke",
            &[("token", latest)],
            Some((SHOP, SHOP_SECRET)),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    app.flush_audit().await;
    let text = std::fs::read_to_string(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the audit log is the owner's only");
    }
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret ({secret:?}) is in the audit log:\n{text}"
        );
    }
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for line in &lines {
        assert_eq!(line["type"], "audit", "{line}");
        let ts = line["ts"].as_str().unwrap_or_default();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "ts is RFC 3339 UTC with milliseconds: {line}"
        );
        assert!(line["event"].is_string(), "{line}");
        if line.get("route").is_some() {
            assert_eq!(line["ip"], "127.0.0.1", "{line}");
            assert!(line["request_id"].is_string(), "{line}");
        }
    }
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "qr_created",
            "qr_scanned",
            "refused",
            "qr_confirmed",
            "qr_redeemed",
            "logged_out",
            "qr_created",
            "qr_scanned",
            "qr_confirmed",
            "qr_redeemed",
            "code_issued",
            "tokens_issued",
            "tokens_issued",
            "revoked",
        ],
        "{text}"
    );
    let [created, scanned, refused, confirmed, redeemed, logged_out] = &lines[..6] else {
        unreachable!()
    };
    let fields = |line: &Value, keys: &[&str]| -> Value {
        keys.iter()
            .map(|k| ((*k).to_owned(), line[*k].clone()))
            .collect()
    };
    assert_eq!(
        fields(created, &["qr", "kind", "route", "user_agent"]),
        json!({"qr": qr.id, "kind": "browser", "route": "/api/qr",
               "user_agent": "Mozilla/5.0 (X11; Linux x86_64) qrlogin-tests"})
    );
    assert_eq!(
        fields(scanned, &["qr", "user", "route"]),
        json!({"qr": qr.id, "user": "alice", "route": "/api/mobile/scan"})
    );
    assert_eq!(
        fields(refused, &["reason", "status", "route"]),
        json!({"reason": "wrong_confirm_token", "status": 403, "route": "/api/mobile/confirm"})
    );
    assert_eq!(confirmed["user"], "alice");
    assert_eq!(redeemed["route"], "/api/login/exchange");
    assert!(redeemed["login"].is_string(), "{redeemed}");
    assert_eq!(logged_out["login"], redeemed["login"]);
    let site = &lines[6..];
    assert_eq!(site[0]["kind"], "site");
    assert_eq!(site[0]["client"], SHOP);
    assert_eq!(site[4]["client"], SHOP);
    assert_eq!(site[4]["user"], "bob");
    assert_eq!(site[5]["grant_type"], "authorization_code");
    assert_eq!(site[5]["refresh_token"], true);
    assert_eq!(site[6]["grant_type"], "refresh_token");
    assert_eq!(site[5]["grant"], site[4]["grant"]);
    assert_eq!(
        fields(&site[7], &["what", "by", "client", "user", "grant"]),
        json!({"what": "grant", "by": "client", "client": SHOP, "user": "bob",
               "grant": site[4]["grant"]})
    );
}

#[tokio::test]
async fn audit_lines_go_nowhere_when_switched_off() {
    let dir = temp_dir();
    let path = dir.join("audit.log");
    let app = spawn_app_with(|c| {
        c.audit.enabled = false;
        c.audit.path = Some(path.clone());
    })
    .await;
    app.create_qr().await;
    app.flush_audit().await;
    assert!(!path.exists(), "no audit log is opened");
}

#[tokio::test]
async fn an_unwritable_audit_path_stops_start_up_naming_the_key() {
    let listener = qrlogin::startup::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let mut config = test_config("http://127.0.0.1:1");
    config.audit.path = Some(temp_dir().join("no/such/dir/audit.log"));
    let err = qrlogin::Application::build_on(config, listener, qrlogin::clock::Clock::manual())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("audit.path"), "{err}");
    assert_eq!(err.exit_code(), 2);
}

/// The audit lines written so far, parsed.
async fn audit_lines(app: &TestApp, path: &std::path::Path) -> (String, Vec<Value>) {
    app.flush_audit().await;
    let text = std::fs::read_to_string(path).unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (text, lines)
}

#[tokio::test]
async fn a_device_login_is_audited_without_its_codes() {
    const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
    let path = temp_dir().join("audit.log");
    let app = spawn_app_with(|c| c.audit.path = Some(path.clone())).await;
    let form = [("scope", "openid offline_access"), ("client_id", TV)];
    let started = json(
        app.oauth_post("/oauth/device_authorization", &form, None)
            .await,
    )
    .await;
    let device_code = started["device_code"].as_str().unwrap();
    let user_code = started["user_code"].as_str().unwrap();
    let poll = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code),
        ("client_id", TV),
    ];
    // "Not yet" is the device's normal answer, not a refusal.
    let pending = app.oauth_post("/oauth/token", &poll, None).await;
    assert_eq!(pending.status(), StatusCode::BAD_REQUEST);
    let scan = app
        .mobile("/api/mobile/scan", ALICE, json!({ "qr": user_code }))
        .await;
    let scan = json(scan).await;
    let decision = json!({ "qr_id": scan["qr_id"], "confirm_token": scan["confirm_token"] });
    let resp = app.mobile("/api/mobile/confirm", ALICE, decision).await;
    assert_eq!(resp.status(), StatusCode::OK);
    app.clock().advance(Duration::from_secs(5));
    let tokens = json(app.oauth_post("/oauth/token", &poll, None).await).await;
    // Polling too fast afterwards is a refusal, with its reason.
    let again = app.oauth_post("/oauth/token", &poll, None).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    let (text, lines) = audit_lines(&app, &path).await;
    let plain_user_code = user_code.replace('-', "");
    let secrets = [
        device_code,
        user_code,
        &plain_user_code,
        scan["confirm_token"].as_str().unwrap(),
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
        tokens["id_token"].as_str().unwrap(),
    ];
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{secret:?} in the audit log:\n{text}"
        );
    }
    let summary: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            let detail = ["kind", "grant_type", "reason"]
                .iter()
                .find_map(|k| l[*k].as_str())
                .unwrap_or_default();
            (l["event"].as_str().unwrap().to_owned(), detail.to_owned())
        })
        .collect();
    let expected = [
        ("qr_created", "device"),
        ("qr_scanned", "device"),
        ("qr_confirmed", "device"),
        ("qr_redeemed", "device"),
        ("tokens_issued", "device_code"),
        ("refused", "slow_down"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(summary, expected, "{text}");
    assert!(
        lines
            .iter()
            .take(5)
            .all(|l| l["qr"] == scan["qr_id"] || l["event"] == "tokens_issued")
    );
    assert_eq!(lines[0]["client"], TV);
    assert_eq!(lines[4]["client"], TV);
    assert_eq!(lines[4]["user"], "alice");
    let text = app.metrics().await;
    assert_eq!(
        sample(
            &text,
            "qrlogin_oidc_tokens_issued_total{grant_type=\"device_code\"}"
        ),
        Some(1.0),
        "{text}"
    );
}

/// The shipped alerting rules name only documented metrics (a renamed
/// metric would silently never fire): each is in README's metrics table, and
/// those a fresh instance already has series for are exported under that
/// name (labelled families show up with their first series). Every rule has
/// the parts Prometheus needs.
#[tokio::test]
async fn the_shipped_alerts_name_real_metrics() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/qrlogin-alerts.yaml");
    let rules: Value = yaml_serde::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let app = spawn_app().await;
    let exported = app.metrics().await;
    let mut checked = 0;
    for rule in rules["groups"][0]["rules"].as_array().unwrap() {
        let (name, expr) = (&rule["alert"], rule["expr"].as_str().unwrap());
        assert!(
            name.is_string() && rule["annotations"]["summary"].is_string(),
            "{rule}"
        );
        let mut rest = expr;
        while let Some(at) = rest.find("qrlogin_") {
            let metric: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + metric.len()..];
            // A histogram's series are its family name plus a suffix; a
            // counter's family is named without `_total`.
            let family = ["_bucket", "_count", "_sum", "_total"]
                .iter()
                .find_map(|s| metric.strip_suffix(s))
                .unwrap_or(&metric);
            let documented = ["", "_total"]
                .iter()
                .any(|s| readme.contains(&format!("| `{family}{s}` |")));
            assert!(
                documented,
                "{name}: {metric} is not in README's metrics table"
            );
            if exported.lines().any(|l| l.starts_with(family)) {
                assert!(
                    exported.lines().any(|l| l.starts_with(&metric)),
                    "{name}: no {metric} series in\n{exported}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} metrics named");
}

/// Anyone can cause refusals at will (an unknown QR id costs nothing), so
/// the audit log writes them within a budget per client: a flood leaves a
/// few lines and a count, the metrics count every one, and the lines that
/// matter are still written.
#[tokio::test]
async fn a_flood_of_refusals_is_cut_to_a_few_lines_and_a_count() {
    let path = temp_dir().join("audit.log");
    let app = spawn_app_with(|c| {
        c.audit.path = Some(path.clone());
        c.audit.refusals_per_minute_per_ip = 5;
    })
    .await;
    for _ in 0..30 {
        let id = qrlogin::session::QrId::generate();
        let resp = app
            .client
            .get(app.url(&format!("/api/qr/{id}/status")))
            .bearer_auth("not-a-poll-token")
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "{}", resp.status());
    }
    let qr = app.create_qr().await;

    let (text, lines) = audit_lines(&app, &path).await;
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "refused",
            "refused",
            "refused",
            "refused",
            "refused",
            "qr_created",
            "refusals_suppressed"
        ],
        "{text}"
    );
    assert_eq!(lines[0]["route"], "/api/qr/{id}/status");
    assert_eq!(lines[5]["qr"], qr.id.as_str());
    let summary = &lines[6];
    assert_eq!(summary["count"], 25, "{text}");
    assert_eq!(summary["type"], "audit");
    assert!(summary.get("ip").is_none(), "{summary}");

    let metrics = app.metrics().await;
    let refusals: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("qrlogin_refusals_total{route=\"/api/qr/{id}/status\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(refusals, 30.0, "every refusal is counted\n{metrics}");
    assert_eq!(
        sample(&metrics, "qrlogin_audit_suppressed_total"),
        Some(25.0),
        "{metrics}"
    );
}

/// The revocation is audited once the grant is deleted, even when removing
/// it from the user's index then fails (here a real Redis refuses: the index
/// key holds a string, not a sorted set).
#[tokio::test]
async fn a_grant_revocation_is_audited_even_when_the_index_update_fails() {
    let redis = crate::redis_server::RedisServer::start().await;
    let path = temp_dir().join("audit.log");
    let app = spawn_redis_app(
        &redis.url(),
        "qrl:",
        |c| c.audit.path = Some(path.clone()),
        None,
    )
    .await;
    let request = Authorize::shop();
    let code = app.code_for(&request, BOB).await;
    let tokens = json(app.redeem_code(&request, &code).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let _: () = redis
        .cmd(&["SET", "qrl:user:bob", "not a sorted set"])
        .await
        .unwrap();

    let resp = app
        .oauth_post(
            "/oauth/revoke",
            &[("token", refresh)],
            Some((SHOP, SHOP_SECRET)),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The grant is gone all the same: its refresh token no longer works.
    let again = app.refresh(SHOP, refresh).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    let (text, lines) = audit_lines(&app, &path).await;
    let issued = lines
        .iter()
        .find(|l| l["event"] == "tokens_issued")
        .expect("tokens_issued");
    let revoked = lines
        .iter()
        .find(|l| l["event"] == "revoked")
        .unwrap_or_else(|| panic!("no revoked line in\n{text}"));
    assert_eq!(revoked["what"], "grant");
    assert_eq!(revoked["by"], "client");
    assert_eq!(revoked["user"], "bob");
    assert_eq!(revoked["grant"], issued["grant"]);
}

/// `/metrics` gives itself away by no answer: every refused scrape, and
/// every method but GET and HEAD, answers exactly as a path that does not
/// exist does (status, headers, body).
#[tokio::test]
async fn refused_scrapes_answer_exactly_like_an_unknown_path() {
    use reqwest::Method;
    let app = spawn_app_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let answer = |method: Method, path: &'static str, forwarded: Option<&'static str>| {
        let request = app.client.request(method, app.url(path));
        let request = match forwarded {
            Some(client) => request.header("x-forwarded-for", client),
            None => request,
        };
        async move {
            let resp = request.send().await.unwrap();
            let status = resp.status();
            let mut headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .filter(|(name, _)| !["x-request-id", "date"].contains(&name.as_str()))
                .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
                .collect();
            headers.sort();
            (status, headers, resp.text().await.unwrap())
        }
    };
    let outsider = Some("203.0.113.9");
    for method in [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
    ] {
        let unknown = answer(method.clone(), "/no-such-path", None).await;
        assert_eq!(unknown.0, StatusCode::NOT_FOUND, "{method}");
        let scraped = answer(method.clone(), "/metrics", outsider).await;
        assert_eq!(scraped, unknown, "{method} from outside");
        if method != Method::GET && method != Method::HEAD {
            let scraped = answer(method.clone(), "/metrics", None).await;
            assert_eq!(scraped, unknown, "{method} from loopback");
        }
    }
    // The scraper it is for still reads it.
    let (status, _, text) = answer(Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("qrlogin_build_info"), "{text}");
}
