//! What the black-box probe found at the HTTP layer, and the headers every
//! answer carries: each a regression test.

use crate::helpers::{expect_error, spawn_app, spawn_app_at, spawn_app_with};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` in one write and reads the answer until the server closes.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .expect("the server did not close");
    String::from_utf8_lossy(&buf).into_owned()
}

/// The 64 KiB head limit holds for a head that arrives in one write (hyper
/// read ~112 KiB whole and parsed it), answered in the JSON error shape.
#[tokio::test]
async fn a_head_over_64_kib_sent_at_once_is_refused_431() {
    let t = spawn_app().await;
    for size in [66 * 1024, 100 * 1024, 112 * 1024] {
        let mut head = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
        // Headers of 4 KiB each, so hyper's 100-header cap is not what refuses.
        let mut n = 0;
        while head.len() < size {
            head.push_str(&format!("x-pad-{n}: {}\r\n", "a".repeat(4000)));
            n += 1;
        }
        head.push_str("\r\n");
        let answer = raw(t.addr, head.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{size}: {answer:.400}");
        assert!(
            answer.contains("\"error\":\"headers_too_large\""),
            "{answer:.400}"
        );
        assert!(answer.contains("connection: close"), "{answer:.400}");
    }
    // Just under the limit is served.
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-pad: {}\r\n\r\n",
        "a".repeat(60 * 1024)
    );
    assert!(
        raw(t.addr, head.as_bytes())
            .await
            .starts_with("HTTP/1.1 200")
    );
}

#[tokio::test]
async fn an_over_long_target_is_refused_414_in_json() {
    let t = spawn_app().await;
    let path = format!("/api/qr/{}/status", "a".repeat(20_000));
    let resp = t.client.get(t.url(&path)).send().await.unwrap();
    expect_error(resp, 414, "uri_too_long").await;
}

/// The static file server never redirects (a `//host/` Location is an open
/// redirect); unknown or directory paths answer the JSON 404.
#[tokio::test]
async fn static_paths_never_redirect() {
    let t = spawn_app().await;
    for path in [
        "/static///avatars",
        "/static//avatars/",
        "/static/avatars",
        "/static//evil.example/",
        "//static/avatars",
    ] {
        let answer = raw(
            t.addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        assert!(
            !answer.to_ascii_lowercase().contains("location:"),
            "{answer}"
        );
        assert!(answer.contains("\"error\":\"not_found\""), "{answer}");
    }
}

/// Every answer, API and error alike, carries the document policies; HSTS
/// only over https.
#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let t = spawn_app().await;
    let answers = [
        t.client.post(t.url("/api/qr")).send().await.unwrap(),
        t.client.get(t.url("/healthz")).send().await.unwrap(),
        t.client.get(t.url("/nope")).send().await.unwrap(),
        t.client.delete(t.url("/healthz")).send().await.unwrap(),
        t.client.get(t.url("/static/nope.js")).send().await.unwrap(),
        t.client.get(t.url("/")).send().await.unwrap(),
    ];
    for resp in answers {
        let h = resp.headers();
        let what = format!("{} {}", resp.url().path(), resp.status());
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
        assert_eq!(h["x-frame-options"], "DENY", "{what}");
        assert!(!h.contains_key("strict-transport-security"), "{what}");
        if resp.status().is_client_error() {
            assert!(
                h["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json"),
                "{what}"
            );
        }
    }
    let https = spawn_app_at("https://login.example").await;
    let resp = https
        .client
        .get(https.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

/// A page elsewhere proxying `POST /api/qr` for a real code (QRLjacking) is
/// refused; this server's own pages and clients without `Origin` are not.
#[tokio::test]
async fn a_qr_code_is_refused_to_a_foreign_origin() {
    let t = spawn_app().await;
    let create = |origin: Option<&str>| {
        let mut request = t.client.post(t.url("/api/qr"));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    for foreign in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let resp = create(Some(foreign)).await.unwrap();
        assert!(!resp.headers().contains_key("access-control-allow-origin"));
        expect_error(resp, 403, "foreign_origin").await;
    }
    assert_eq!(create(Some(&t.base)).await.unwrap().status(), 201);
    assert_eq!(create(None).await.unwrap().status(), 201);
}

/// `server.allowed_origins` lets a listed origin create codes and read the
/// browser API's answers (CORS with credentials); CORS stays closed to
/// everyone else, and entirely without the setting.
#[tokio::test]
async fn listed_origins_may_use_the_browser_api_and_no_one_else() {
    const APP: &str = "https://app.example";
    let t = spawn_app_with(|c| c.server.allowed_origins = vec![APP.parse().unwrap()]).await;
    let resp = t
        .client
        .post(t.url("/api/qr"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["access-control-allow-origin"], APP);
    assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
    let preflight = t
        .client
        .request(reqwest::Method::OPTIONS, t.url("/api/qr"))
        .header("origin", APP)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], APP);
    let resp = t
        .client
        .get(t.url("/api/session"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!resp.headers().contains_key("access-control-allow-origin"));

    let closed = spawn_app().await;
    let resp = closed
        .client
        .request(reqwest::Method::OPTIONS, closed.url("/api/qr"))
        .header("origin", APP)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
}

#[test]
fn allowed_origins_must_be_bare_origins() {
    for bad in [
        "https://app.example/path",
        "ftp://app.example",
        "https://u:p@app.example",
    ] {
        let mut config = crate::helpers::test_config("http://127.0.0.1:1");
        config.server.allowed_origins = vec![bad.parse().unwrap()];
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("server.allowed_origins"), "{bad}: {err}");
    }
}

/// Over https the binding cookie is `__Host-qrl_bind` (`Secure; Path=/`, no
/// `Domain`): a sibling subdomain cannot set it, and a planted plain
/// `qrl_bind` is neither adopted at creation nor accepted at completion.
#[tokio::test]
async fn over_https_the_binding_cookie_cannot_be_planted_by_a_sibling() {
    let t = spawn_app_at("https://login.example").await;
    let planted = "P".repeat(43);
    let resp = t
        .client
        .post(t.url("/api/qr"))
        .header("cookie", format!("qrl_bind={planted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let set = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-qrl_bind="))
        .expect("a __Host- binding cookie");
    assert!(set.contains("Secure") && set.contains("Path=/;"), "{set}");
    assert!(!set.contains("Domain") && !set.contains(&planted), "{set}");
    let bound = set["__Host-qrl_bind=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body = crate::helpers::json(resp).await;
    let qr = crate::helpers::Qr::from_created(body);
    let confirm = t.scan_ok(crate::helpers::ALICE, &qr).await;
    assert_eq!(
        t.confirm(crate::helpers::ALICE, &qr, &confirm)
            .await
            .status(),
        200
    );
    let ticket = t.poll(&qr, "wait=0").await["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let complete = |cookie: String| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(t.url(&format!("/api/login/complete?ticket={ticket}")))
            .header("cookie", cookie)
            .send()
    };
    // The right value under the unprefixed name: not this browser's cookie.
    let resp = complete(format!("qrl_bind={bound}")).await.unwrap();
    expect_error(resp, 400, "invalid_ticket").await;
    let resp = complete(format!("__Host-qrl_bind={bound}")).await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(
        !resp.headers()["location"]
            .to_str()
            .unwrap()
            .contains("login_error")
    );
}

/// Over plain http (a demo) the name stays `qrl_bind` on `/api`, shared by
/// a browser's tabs.
#[tokio::test]
async fn over_http_the_binding_cookie_keeps_its_plain_name() {
    let t = spawn_app().await;
    let resp = t.client.post(t.url("/api/qr")).send().await.unwrap();
    let set: Vec<_> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set.iter()
            .any(|c| c.starts_with("qrl_bind=") && c.contains("Path=/api")),
        "{set:?}"
    );
}
