//! The OpenAPI document tells the truth: it lists exactly the API the router
//! serves and the README documents, the methods it leaves out answer 405,
//! and what the operations answer when driven to their refusals (bad bodies,
//! spent rate limits, a store that is down) is what it lists. Every JSON body
//! read here, as in every other test, is also validated against it by
//! `helpers::json` (see `contract.rs`).

use crate::contract;
use crate::helpers::*;
use crate::redis_server::RedisServer;
use qrlogin::http::ApiError;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The API endpoints README.md documents ("Browser API", "Phone API",
/// `/api/openapi.json`, `/healthz`, `/readyz`), written down by hand from
/// the README rather than from the code: a route added to the server (and
/// so to the document) fails `the_document_lists_exactly_the_readme_endpoints`
/// until the README and this list name it too.
const README_ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/api/qr"),
    ("GET", "/api/qr/{id}/qr.png"),
    ("GET", "/api/qr/{id}/qr.svg"),
    ("GET", "/api/qr/{id}/status"),
    ("GET", "/api/qr/{id}/events"),
    ("DELETE", "/api/qr/{id}"),
    ("POST", "/api/login/exchange"),
    ("GET", "/api/login/complete"),
    ("POST", "/api/qr/{id}/ticket"),
    ("GET", "/api/me"),
    ("GET", "/api/session"),
    ("POST", "/api/logout"),
    ("GET", "/api/openapi.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/mobile/scan"),
    ("POST", "/api/mobile/confirm"),
    ("POST", "/api/mobile/cancel"),
    ("GET", "/api/demo/users"),
    ("GET", "/api/mobile/sessions"),
    ("DELETE", "/api/mobile/sessions/{id}"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/oauth/jwks"),
    ("POST", "/oauth/token"),
    ("GET", "/oauth/userinfo"),
    ("POST", "/oauth/userinfo"),
    ("POST", "/oauth/revoke"),
    ("POST", "/oauth/introspect"),
    ("POST", "/oauth/device_authorization"),
    ("GET", "/auth/verify"),
];

/// The methods probed on every documented path. HEAD is probed apart: axum
/// answers it wherever GET is routed, and OpenAPI does not list it apart.
const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// Every operation of the document: method and path template.
fn operations() -> Vec<(Method, &'static str)> {
    let paths = contract::document()["paths"].as_object().unwrap();
    paths
        .iter()
        .flat_map(|(template, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|method| (method.to_uppercase().parse().unwrap(), template.as_str()))
        })
        .collect()
}

/// The operation `method template` as documented.
fn operation(method: &Method, template: &str) -> &'static Value {
    &contract::document()["paths"][template][method.as_str().to_lowercase()]
}

/// Real inputs for every operation, so that each request gets past the
/// extractors to the work the operation does: a QR session scanned and
/// confirmed by Alice, its confirm token and its (unredeemed) ticket.
struct Inputs {
    qr: Qr,
    confirm_token: String,
    ticket: String,
}

impl Inputs {
    async fn new(t: &TestApp) -> Self {
        let qr = t.create_qr().await;
        let confirm_token = t.scan_ok(ALICE, &qr).await;
        let resp = t.confirm(ALICE, &qr, &confirm_token).await;
        assert_eq!(resp.status(), 200);
        let ticket = t.poll(&qr, "wait=0").await["ticket"]
            .as_str()
            .unwrap()
            .to_owned();
        Self {
            qr,
            confirm_token,
            ticket,
        }
    }

    /// The request a client of `method template` would send, through `t`'s
    /// browser (which holds the cookies it was given).
    fn request(&self, t: &TestApp, method: &Method, template: &str) -> RequestBuilder {
        let url = t.url(&template.replace("{id}", &self.qr.id));
        let request = t.client.request(method.clone(), url);
        let decision = json!({ "qr_id": self.qr.id, "confirm_token": self.confirm_token });
        match (method.as_str(), template) {
            ("GET", "/api/qr/{id}/status") | ("DELETE", "/api/qr/{id}") => request
                .bearer_auth(&self.qr.poll_token)
                .query(&[("wait", "0")]),
            // Confirmed: the stream sends that one event and ends.
            ("GET", "/api/qr/{id}/events") => request.bearer_auth(&self.qr.poll_token),
            ("POST", "/api/qr/{id}/ticket") => request.bearer_auth(&self.qr.poll_token),
            ("POST", "/api/login/exchange") => request
                .bearer_auth(&self.qr.poll_token)
                .json(&json!({ "ticket": self.ticket })),
            ("GET", "/api/login/complete") => request.query(&[("ticket", &self.ticket)]),
            ("POST", "/api/mobile/scan") => request
                .bearer_auth(ALICE)
                .json(&json!({ "qr": self.qr.qr_content })),
            ("POST", "/api/mobile/confirm" | "/api/mobile/cancel") => {
                request.bearer_auth(ALICE).json(&decision)
            }
            ("GET" | "DELETE", "/api/mobile/sessions" | "/api/mobile/sessions/{id}") => {
                request.bearer_auth(ALICE)
            }
            // A client's requests, with tokens it no longer holds: each
            // must look its token up in the store.
            ("POST", "/oauth/token") => request
                .basic_auth(SHOP, Some(form_encoded(SHOP_SECRET)))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", "stale")]),
            ("GET" | "POST", "/oauth/userinfo") => request.bearer_auth("stale"),
            ("POST", "/oauth/revoke" | "/oauth/introspect") => request
                .basic_auth(SHOP, Some(form_encoded(SHOP_SECRET)))
                .form(&[("token", "stale")]),
            ("POST", "/oauth/device_authorization") => {
                request.form(&[("client_id", TV), ("scope", "openid")])
            }
            _ => request,
        }
    }
}

/// A client credential as HTTP Basic carries it (RFC 6749 §2.3.1).
fn form_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Sends every documented operation once, in document order, and returns
/// each one's status. Fails unless the status is documented for that very
/// operation (see `answer`).
async fn every_operation_once(t: &TestApp, inputs: &Inputs) -> Vec<(Method, &'static str, u16)> {
    let mut answers = Vec::new();
    for (method, template) in operations() {
        let resp = inputs.request(t, &method, template).send().await.unwrap();
        let status = answer(&method, template, resp).await;
        answers.push((method, template, status));
    }
    answers
}

/// Asserts `resp` is an answer `method template` documents, validates a
/// JSON body (or each event of an event stream) against the contract, and
/// returns the status. The operation must be routed: no 405, no router fallback (the tests run
/// with demo users, so `/api/demo/users` does not answer its 404 either).
async fn answer(method: &Method, template: &str, resp: Response) -> u16 {
    let (path, status) = (resp.url().path().to_owned(), resp.status().as_u16());
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    if content_type.starts_with("text/event-stream") {
        let mut events = crate::sse::EventStream::new(resp);
        let mut count = 0;
        // Each event is checked against the document as it is read.
        while events.next_event().await.is_some() {
            count += 1;
        }
        assert!(count > 0, "{method} {template}: a stream without events");
        return status;
    }
    let is_json = content_type.starts_with("application/json");
    let text = resp.text().await.unwrap();
    assert_ne!(
        status, 405,
        "{method} {template} is documented but not routed: {text}"
    );
    let fallback = ApiError::RouteNotFound.to_string();
    assert!(
        !(status == 404 && text.contains(&fallback)),
        "{method} {template} is documented but answered the router's fallback: {text}"
    );
    let responses = &operation(method, template)["responses"];
    assert!(
        responses.get(status.to_string()).is_some(),
        "{method} {template} answered {status}, which its OpenAPI operation does not list \
         (it lists {:?})",
        responses.as_object().unwrap().keys().collect::<Vec<_>>()
    );
    if is_json {
        contract::check(&path, status, &serde_json::from_str(&text).unwrap());
    }
    status
}

#[tokio::test]
async fn the_document_is_served_as_openapi_3_1() {
    let t = spawn_app().await;
    let resp = t
        .client
        .get(t.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let served = json(resp).await;
    assert_eq!(
        &served,
        contract::document(),
        "the router serves the document"
    );
    let version = served["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1."), "OpenAPI {version}");
    assert!(served["info"]["title"].is_string() && served["info"]["version"].is_string());

    let mut operation_ids = BTreeSet::new();
    for (method, template) in operations() {
        let op = operation(&method, template);
        let responses = op["responses"].as_object().unwrap();
        assert!(!responses.is_empty(), "{method} {template} has no response");
        for (status, response) in responses {
            assert!(
                status.len() == 3 && status.parse::<u16>().is_ok_and(|s| (100..600).contains(&s)),
                "{method} {template}: response key {status:?}"
            );
            assert!(
                response["description"].is_string(),
                "{method} {template} {status}"
            );
        }
        let id = op["operationId"].as_str().unwrap();
        assert!(operation_ids.insert(id), "operationId {id} is not unique");
        // Every `{param}` of the template is a required path parameter.
        for name in template
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            let declared = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["in"] == "path" && p["name"] == name && p["required"] == true);
            assert!(
                declared,
                "{method} {template} does not declare path parameter {name}"
            );
        }
    }

    // Every schema is Draft 2020-12, and every reference resolves.
    for (name, schema) in served["components"]["schemas"].as_object().unwrap() {
        if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
            panic!("components/schemas/{name} is not a valid JSON Schema: {e}");
        }
    }
    let mut refs = Vec::new();
    collect_refs(&served, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference} is not local"));
        assert!(
            served.pointer(pointer).is_some(),
            "{reference} resolves to nothing"
        );
    }
}

fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                refs.push(r);
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[test]
fn the_document_lists_exactly_the_readme_endpoints() {
    let readme: BTreeSet<(String, String)> = README_ENDPOINTS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let documented: BTreeSet<(String, String)> = operations()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_owned()))
        .collect();
    let missing: Vec<_> = readme.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "README endpoints not in the document: {missing:?}"
    );
    let unlisted: Vec<_> = documented.difference(&readme).collect();
    assert!(
        unlisted.is_empty(),
        "document operations the README (and README_ENDPOINTS) do not list: {unlisted:?}"
    );
}

/// Every documented operation is routed, and answers as documented when
/// used as intended (`answer` checks both).
#[tokio::test]
async fn every_documented_operation_is_served() {
    let t = spawn_app().await;
    let inputs = Inputs::new(&t).await;
    // Log the browser in, so `/api/me` and `/api/logout` have a login to see.
    let (qr, ticket) = t.confirmed_qr(BOB).await;
    assert_eq!(t.exchange(&qr, &ticket).await.status(), 200);
    let answers = every_operation_once(&t, &inputs).await;
    assert_eq!(answers.len(), README_ENDPOINTS.len());
}

#[tokio::test]
async fn methods_the_document_leaves_out_answer_405() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let mut probed = 0;
    for (template, item) in contract::document()["paths"].as_object().unwrap() {
        let url = t.url(&template.replace("{id}", &qr.id));
        for method in METHODS {
            if item.get(method.as_str().to_lowercase()).is_some() {
                continue;
            }
            // Browser-facing OAuth endpoints answer CORS preflights
            // (`oidc::single_page_apps_may_call_the_back_channel_cross_origin`).
            if method == Method::OPTIONS
                && qrlogin::http::oauth::CORS_PATHS.contains(&template.as_str())
            {
                continue;
            }
            let resp = t.client.request(method.clone(), &url).send().await.unwrap();
            assert_eq!(resp.status(), 405, "{method} {template}");
            expect_error(resp, 405, "method_not_allowed").await;
            probed += 1;
        }
        if item.get("get").is_none() {
            let resp = t.client.head(&url).send().await.unwrap();
            assert_eq!(resp.status(), 405, "HEAD {template}");
        }
    }
    assert!(probed > 0);
}

/// Every operation with a JSON request body refuses, as documented, what
/// axum's JSON extractor refuses: wrong media type, oversize, malformed.
#[tokio::test]
async fn json_bodies_are_refused_as_documented() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let huge = json!({ "qr": "x".repeat(qrlogin::http::MAX_BODY_BYTES) }).to_string();
    let mut probed = 0;
    for (method, template) in operations() {
        // The OAuth endpoints take forms, and answer OAuth's own errors.
        if operation(&method, template)["requestBody"]["content"]["application/json"].is_null() {
            continue;
        }
        // Authorised for every kind of caller, so the body is what is refused:
        // a phone token for the phone, a bearer token at all for the exchange.
        let send = |content_type: &str, body: String| {
            t.client
                .request(method.clone(), t.url(template))
                .bearer_auth(ALICE)
                .header("content-type", content_type)
                .body(body)
                .send()
        };
        for (content_type, body, status, code) in [
            (
                "text/plain",
                json!({ "qr": qr.id }).to_string(),
                415,
                "unsupported_media_type",
            ),
            ("application/json", huge.clone(), 413, "payload_too_large"),
            ("application/json", "{".to_owned(), 400, "invalid_json"),
            (
                "application/json",
                "{\"unexpected\": 1}".to_owned(),
                400,
                "invalid_json",
            ),
        ] {
            let resp = send(content_type, body).await.unwrap();
            let answered = answer(&method, template, resp).await;
            assert_eq!(answered, status, "{method} {template} with {code}");
        }
        probed += 1;
    }
    assert_eq!(
        probed, 5,
        "create (optional body), exchange, scan, confirm and cancel take JSON bodies"
    );
}

/// With every budget spent, the rate-limited operations answer 429 — and
/// document it — while the others are untouched by the limits.
#[tokio::test]
async fn spent_rate_limits_answer_429_where_documented() {
    // Exactly what `Inputs::new` spends: one QR, a scan and a confirm.
    let t = spawn_app_with(|c| {
        c.limits.qr_per_minute_per_ip = 1;
        c.limits.mobile_per_minute_per_ip = 2;
    })
    .await;
    let inputs = Inputs::new(&t).await;
    let limited: Vec<_> = every_operation_once(&t, &inputs)
        .await
        .into_iter()
        .filter(|(_, _, status)| *status == 429)
        .map(|(method, template, _)| format!("{method} {template}"))
        .collect();
    assert_eq!(
        limited,
        [
            "POST /api/mobile/cancel",
            "POST /api/mobile/confirm",
            "POST /api/mobile/scan",
            "GET /api/mobile/sessions",
            "DELETE /api/mobile/sessions/{id}",
            "POST /api/qr",
            "POST /oauth/device_authorization"
        ]
    );
}

/// With the store down, every operation that touches it answers 503
/// `store_unavailable` — and documents it.
#[tokio::test]
async fn a_store_that_is_down_is_documented_where_it_is_touched() {
    let mut redis = RedisServer::start().await;
    let t = spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
    let inputs = Inputs::new(&t).await;
    let (qr, ticket) = t.confirmed_qr(BOB).await;
    assert_eq!(t.exchange(&qr, &ticket).await.status(), 200);
    redis.kill();

    let storeless = [
        "/healthz",
        "/api/openapi.json",
        "/api/demo/users",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/oauth/jwks",
    ];
    for (method, template, status) in every_operation_once(&t, &inputs).await {
        let expected = if storeless.contains(&template) {
            200
        } else {
            503
        };
        assert_eq!(status, expected, "{method} {template}");
    }
}

/// Version of the validator the test installs: pinned, so a new release
/// cannot fail a build that changed nothing.
const SPEC_VALIDATOR: &str = "openapi-spec-validator==0.9.0";

/// The served document passes a maintained OpenAPI 3.1 validator, Python's
/// `openapi-spec-validator`, installed on first use into a venv under the
/// target directory. Skipped, saying why, only where it cannot be installed.
#[tokio::test]
async fn the_document_passes_openapi_spec_validator() {
    let t = spawn_app().await;
    let resp = t
        .client
        .get(t.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    let served = resp.text().await.unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let validator = match install_spec_validator(&dir.join("openapi-spec-validator")) {
        Ok(path) => path,
        Err(why) => {
            eprintln!("SKIPPED the_document_passes_openapi_spec_validator: {why}");
            return;
        }
    };
    let file = dir.join(format!("openapi-{}.json", std::process::id()));
    std::fs::write(&file, served).unwrap();
    let out = Command::new(&validator)
        .args(["--schema", "3.1", "--validation-errors", "all"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The validator's executable in the venv `venv`, installing it if needed.
/// A marker written after a complete install tells a finished venv from one
/// an interrupted run left behind.
fn install_spec_validator(venv: &Path) -> Result<std::path::PathBuf, String> {
    let executable = venv.join("bin/openapi-spec-validator");
    let marker = venv.join(SPEC_VALIDATOR);
    if marker.exists() && executable.exists() {
        return Ok(executable);
    }
    let _ = std::fs::remove_dir_all(venv);
    let run = |command: &mut Command| -> Result<(), String> {
        let out = command
            .output()
            .map_err(|e| format!("cannot run {command:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{command:?} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    run(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--timeout",
        "30",
        SPEC_VALIDATOR,
    ]))?;
    std::fs::write(&marker, "").map_err(|e| e.to_string())?;
    Ok(executable)
}
