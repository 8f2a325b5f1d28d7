//! nginx forward-auth: `/auth/verify` on its own; the login cookie across
//! subdomains and `?rd=` on real host names (reqwest resolves
//! `login.example.com` and `app.example.com` to the test's servers, so its
//! cookie jar applies real `Domain` matching); and the shipped
//! `deploy/nginx-forward-auth.conf`, run as is (ports and paths swapped) in
//! front of qrlogin and a small app (`tests/forward_auth/echo_app.py`).

use crate::chromium::Chromium;
use crate::helpers::*;
use crate::nginx_server::Nginx;
use qrlogin::config::{Config, PolicyConfig};
use qrlogin::forward_auth::redirect::query_value;
use qrlogin::startup::bind;
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore as _, Jar};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

/// `admins` = Alice only.
fn admins() -> PolicyConfig {
    PolicyConfig {
        name: "admins".into(),
        users: vec!["alice".into()],
    }
}

/// A browser that finds `login.example.com` and `app.example.com` at `addr`
/// (URLs must still name its port) and whose cookie jar the test can read.
fn example_browser(addr: SocketAddr) -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .resolve("login.example.com", addr)
        .resolve("app.example.com", addr)
        .build()
        .unwrap();
    (client, jar)
}

/// The `Set-Cookie` headers of `resp`.
fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The login link of a QR login through `login` (the login server's base
/// URL) as `browser`, scanned and confirmed on the phone as `phone_token`.
/// A QR login confirmed by `phone_token`, completed with `next` = `target`
/// as the login page does: asserts the 303 back to `target`.
async fn log_in_and_return(
    browser: &reqwest::Client,
    login: &str,
    phone_token: &str,
    target: &str,
) -> reqwest::Response {
    let link = confirmed_login(browser, login, phone_token).await;
    let resp = browser
        .get(format!("{link}&next={}", query_value(target)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], target);
    resp
}

async fn confirmed_login(browser: &reqwest::Client, login: &str, phone_token: &str) -> String {
    let resp = browser
        .post(format!("{login}/api/qr"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let qr = json(resp).await;
    let phone = |path: &str, body: Value| {
        browser
            .post(format!("{login}{path}"))
            .bearer_auth(phone_token)
            .json(&body)
            .send()
    };
    let resp = phone("/api/mobile/scan", json!({ "qr": qr["qr_content"] }))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let confirm_token = json(resp).await["confirm_token"].clone();
    let decision = json!({ "qr_id": qr["id"], "confirm_token": confirm_token });
    let resp = phone("/api/mobile/confirm", decision).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let status = format!(
        "{login}/api/qr/{}/status?wait=0",
        qr["id"].as_str().unwrap()
    );
    let resp = browser
        .get(status)
        .bearer_auth(qr["poll_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let body = json(resp).await;
    assert_eq!(body["code"], 200, "{body}");
    format!("{login}{}", body["redirect"].as_str().unwrap())
}

/// A qrlogin at `http://login.example.com:<port>` with the login cookie on
/// `example.com`, after `tweak`; and a browser that finds it by that name.
async fn spawn_on_example_com(
    tweak: impl FnOnce(&mut Config),
) -> (TestApp, reqwest::Client, Arc<Jar>, String) {
    let listener = bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
    let port = listener.local_addr().unwrap().port();
    let login = format!("http://login.example.com:{port}");
    let mut config = test_config(&login);
    config.server.cookie_domain = Some("example.com".parse().unwrap());
    tweak(&mut config);
    let t = spawn_server(config, listener).await;
    let (browser, jar) = example_browser(t.addr);
    (t, browser, jar, login)
}

#[tokio::test]
async fn forward_auth_verify_answers_who_is_logged_in() {
    let t = spawn_app_with(|c| c.forward_auth.policies = vec![admins()]).await;
    let verify = |client: &reqwest::Client, query: &str| {
        client
            .get(t.url(&format!("/auth/verify{query}")))
            // What a client sends is never read as an identity.
            .header("x-auth-user", "alice")
            .header("x-auth-name", "Alice")
            .send()
    };

    // Not logged in: 401 with an empty body, and where to log in.
    let resp = verify(&t.client, "").await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["x-auth-redirect"], t.url("/"));
    assert!(resp.headers().get("x-auth-user").is_none());
    assert_eq!(resp.text().await.unwrap(), "");
    // The link carries the original URL when it may be returned to.
    let original = t.url("/reports?a=1&b=2");
    for (sent, link) in [
        (
            original.as_str(),
            t.url(&format!("/?rd={}", query_value(&original))),
        ),
        ("https://evil.example/", t.url("/")),
        ("/\\evil.example", t.url("/")),
    ] {
        let resp = t
            .client
            .get(t.url("/auth/verify"))
            .header("x-original-url", sent)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()["x-auth-redirect"], link.as_str(), "{sent}");
    }
    let forged = t
        .client
        .get(t.url("/auth/verify"))
        .header("cookie", "qrl_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    // Logged in: 200, the user in the headers, no body.
    let (qr, ticket) = t.confirmed_qr(ALICE).await;
    assert_eq!(t.exchange(&qr, &ticket).await.status(), StatusCode::OK);
    let resp = verify(&t.client, "").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-auth-user"], "alice");
    assert_eq!(resp.headers()["x-auth-name"], "Alice");
    assert_eq!(resp.headers().get_all("x-auth-user").iter().count(), 1);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.text().await.unwrap(), "");
    let head = t.client.head(t.url("/auth/verify")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["x-auth-user"], "alice");

    // A location's rules: 403 for logged-in users they leave out.
    let bob = browser();
    let (qr, ticket) = t.confirmed_qr(BOB).await;
    assert_eq!(
        t.exchange_with(&bob, &qr, &ticket).await.status(),
        StatusCode::OK
    );
    for (query, alice, bob_status) in [
        ("?allow=alice,carol", 200, 403),
        ("?allow=bob", 403, 200),
        ("?policy=admins", 200, 403),
        ("?policy=admins&allow=bob", 403, 403),
        ("?allow=alice,bob&policy=admins", 200, 403),
        // Broken rules refuse everybody (and are logged as errors).
        ("?policy=nobody", 403, 403),
        ("?alow=alice", 403, 403),
        ("?allow=", 403, 403),
    ] {
        let resp = verify(&t.client, query).await.unwrap();
        assert_eq!(resp.status().as_u16(), alice, "alice {query}");
        if alice == 403 {
            assert!(resp.headers().get("x-auth-user").is_none());
            assert_eq!(resp.text().await.unwrap(), "");
        }
        let resp = verify(&bob, query).await.unwrap();
        assert_eq!(resp.status().as_u16(), bob_status, "bob {query}");
    }
    // Whatever a client sends, never a 5xx.
    for query in [
        "?%",
        "?allow=%FF%FE",
        "?&&&=&",
        "?allow=a&allow=b&policy=x,y",
    ] {
        let status = verify(&t.client, query).await.unwrap().status();
        assert!(status.is_client_error(), "{query}: {status}");
    }
    let odd = browser()
        .get(t.url("/auth/verify"))
        .header("x-original-url", &b"http://\xff\xfe/"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(odd.headers()["x-auth-redirect"], t.url("/"));

    // Logged out: anonymous again.
    let resp = t.client.post(t.url("/api/logout")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        verify(&t.client, "").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn forward_auth_headers_are_configurable_and_utf8() {
    let t = spawn_app_with(|c| {
        c.forward_auth.headers = [
            ("Remote-User", "id"),
            ("X-Auth-Avatar", "avatar"),
            ("Remote-Name", "name"),
        ]
        .into_iter()
        .map(|(h, f)| {
            (
                h.to_owned().try_into().unwrap(),
                serde_json::from_value(json!(f)).unwrap(),
            )
        })
        .collect();
        let bob = c.users.iter_mut().find(|u| u.id == "bob").unwrap();
        bob.name = "Bob 小明".into();
    })
    .await;
    let (qr, ticket) = t.confirmed_qr(BOB).await;
    assert_eq!(t.exchange(&qr, &ticket).await.status(), StatusCode::OK);
    let resp = t.client.get(t.url("/auth/verify")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(h["remote-user"], "bob");
    assert_eq!(h["remote-name"].as_bytes(), "Bob 小明".as_bytes());
    assert_eq!(
        h["x-auth-avatar"],
        t.url("/static/avatars/bob.svg").as_str()
    );
    assert!(
        h.get("x-auth-user").is_none(),
        "configured headers replace the defaults"
    );
}

#[tokio::test]
async fn forward_auth_cookie_covers_subdomains_and_rd_returns_there() {
    let (t, browser, jar, login) = spawn_on_example_com(|c| {
        c.forward_auth.allowed_redirect_hosts = vec!["grafana.internal".parse().unwrap()];
    })
    .await;
    let port = t.addr.port();
    let app = format!("http://app.example.com:{port}");
    let target = format!("{app}/reports?a=1&b=2");
    let page = |rd: &str| {
        browser
            .get(format!("{login}/?rd={}", query_value(rd)))
            .send()
    };

    // Return addresses that may not be used are refused with a page.
    for bad in [
        "https://evil.example/",
        "http://evil.example/",
        "//evil.example",
        "http://example.com.evil.example/",
        "http://app.example.com@evil.example/",
        "javascript:alert(1)",
    ] {
        let resp = page(bad).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("Return address not allowed")
        );
    }
    let twice = browser
        .get(format!("{login}/?rd=%2Fa&rd=%2Fb"))
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
    // Not logged in: the login page, which passes rd on as next.
    let resp = page(&target).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("/static/login.js"));

    // The login completes to the app, with a cookie for the whole domain.
    let resp = log_in_and_return(&browser, &login, ALICE, &target).await;
    let cookie = set_cookies(&resp).join("\n");
    for attribute in [
        "qrl_session=",
        "Domain=example.com",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    // The browser's jar sends it to the app's host too (and there it logs in).
    let app_url = url::Url::parse(&app).unwrap();
    assert!(jar.cookies(&app_url).is_some());
    let resp = browser
        .get(format!("{app}/auth/verify"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-auth-user"], "alice");

    // Logged in already: straight on to rd.
    for rd in [target.as_str(), "/dashboard"] {
        let resp = page(rd).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{rd}");
        assert_eq!(resp.headers()["location"], rd);
    }
    // Except to a listed host the cookie does not reach (it would only
    // bounce the browser back): a link to follow instead.
    let resp = page("http://grafana.internal/d").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("href=\"http://grafana.internal/d\""),
        "{html}"
    );
    assert!(html.contains("Continue to grafana.internal"), "{html}");
    assert_eq!(
        browser.get(&login).send().await.unwrap().status(),
        StatusCode::OK
    );

    // `next` takes the same check: anything else goes to `/`.
    for (next, location) in [
        ("https://evil.example/", "/"),
        ("http://app.example.com.evil.example/", "/"),
        ("http://APP.example.com:1/x", "http://app.example.com:1/x"),
    ] {
        let link = confirmed_login(&browser, &login, ALICE).await;
        let resp = browser
            .get(format!("{link}&next={}", query_value(next)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["location"], location, "{next}");
        // A refused ticket keeps where the browser was going.
        let again = browser
            .get(format!("{link}&next={}", query_value(next)))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        let expected = match location {
            "/" => "/?login_error=invalid_ticket".to_owned(),
            to => format!("/?login_error=invalid_ticket&rd={}", query_value(to)),
        };
        assert_eq!(again.headers()["location"], expected.as_str());
    }

    // Logging out removes the cookie for the whole domain (and the
    // host-only one an older login may have left): the browser is
    // anonymous at the app too.
    let resp = browser
        .post(format!("{login}/api/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let removals = set_cookies(&resp);
    assert_eq!(removals.len(), 2, "{removals:?}");
    assert!(
        removals
            .iter()
            .all(|c| c.starts_with("qrl_session=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(
        removals
            .iter()
            .filter(|c| c.contains("Domain=example.com"))
            .count(),
        1
    );
    assert!(
        jar.cookies(&app_url).is_none(),
        "the browser dropped the cookie"
    );
    let resp = browser
        .get(format!("{app}/auth/verify"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(page(&target).await.unwrap().status(), StatusCode::OK);

    // So does the provider's logout (RP-initiated, confirmed by the person).
    let link = confirmed_login(&browser, &login, ALICE).await;
    assert_eq!(
        browser.get(&link).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    assert!(jar.cookies(&app_url).is_some());
    let resp = browser
        .post(format!("{login}/oauth/logout"))
        .form(&[("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let removals = set_cookies(&resp);
    assert_eq!(
        removals
            .iter()
            .filter(|c| c.contains("Domain=example.com"))
            .count(),
        1
    );
    assert!(
        jar.cookies(&app_url).is_none(),
        "the browser dropped the cookie"
    );
}

/// The login page script sends the browser on to `rd` once logged in.
#[tokio::test(flavor = "multi_thread")]
async fn forward_auth_login_page_passes_rd_on_as_next() {
    let t = spawn_app().await;
    let mut chromium = Chromium::start();
    let tab = chromium
        .open(&t.url("/?rd=%2Fafter-login%3Fa%3D1%26b%3D2"))
        .await;
    let src = chromium
        .wait_for(
            &tab,
            "document.getElementById('qr-img').getAttribute('src')",
            "the QR image",
        )
        .await;
    let id = src.as_str().unwrap().split('/').nth(3).unwrap().to_owned();
    let scan = t
        .mobile("/api/mobile/scan", ALICE, json!({ "qr": id }))
        .await;
    let confirm_token = json(scan).await["confirm_token"].clone();
    let decision = json!({ "qr_id": id, "confirm_token": confirm_token });
    assert_eq!(
        t.mobile("/api/mobile/confirm", ALICE, decision)
            .await
            .status(),
        StatusCode::OK
    );
    chromium
        .wait_for(
            &tab,
            "!document.getElementById('continue-btn').hidden",
            "“Continue as”",
        )
        .await;
    chromium
        .eval(&tab, "document.getElementById('continue-btn').click()")
        .await;
    let landed = chromium
        .wait_for(
            &tab,
            "location.pathname === '/after-login' && location.pathname + location.search",
            "the page rd named",
        )
        .await;
    assert_eq!(landed, "/after-login?a=1&b=2");
}

/// The app nginx protects: a process of its own answering JSON of each
/// request it receives; killed when dropped.
struct EchoApp {
    port: u16,
    _child: tokio::process::Child,
}

impl EchoApp {
    async fn start() -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/forward_auth/echo_app.py"
        );
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 not found: apt-get install python3");
        let mut line = String::new();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        tokio::time::timeout(Duration::from_secs(10), stdout.read_line(&mut line))
            .await
            .expect("echo_app.py did not print its port within 10 s")
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("echo_app.py said {line:?}"));
        Self {
            port,
            _child: child,
        }
    }
}

/// What the app saw of one request.
struct Seen(Value);

impl Seen {
    /// The values of header `name` as the app received them. Names compare
    /// as CGI-style apps compare them: case-insensitive, `_` as `-`.
    fn header(&self, name: &str) -> Vec<&str> {
        let normal = |n: &str| n.to_ascii_lowercase().replace('_', "-");
        self.0["headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|pair| normal(pair[0].as_str().unwrap()) == normal(name))
            .map(|pair| pair[1].as_str().unwrap())
            .collect()
    }
}

/// The app's answer to `resp` (asserting nginx let it through).
async fn seen(resp: reqwest::Response) -> Seen {
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "nginx let the request through"
    );
    Seen(resp.json().await.unwrap())
}

/// One HTTP/1.1 request written by hand to nginx at `port`, so header names
/// go on the wire exactly as spelled: status and body of the answer.
async fn raw_request(port: u16, head: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[tokio::test]
async fn forward_auth_through_the_shipped_nginx_config() {
    let echo = EchoApp::start().await;
    let listener = bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
    let qrlogin_port = listener.local_addr().unwrap().port();
    let swaps = [
        (
            "server 127.0.0.1:8080",
            format!("server 127.0.0.1:{qrlogin_port}"),
        ),
        (
            "server 127.0.0.1:3000",
            format!("server 127.0.0.1:{}", echo.port),
        ),
    ];
    let nginx = Nginx::start("nginx-forward-auth.conf", &swaps).await;
    let port = nginx.port;
    let (login, app) = (
        format!("http://login.example.com:{port}"),
        format!("http://app.example.com:{port}"),
    );
    // qrlogin as the file's header comment configures it.
    let mut config = test_config(&login);
    config.server.cookie_domain = Some("example.com".parse().unwrap());
    config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.forward_auth.policies = vec![admins()];
    config
        .users
        .iter_mut()
        .find(|u| u.id == "bob")
        .unwrap()
        .name = "Bob 小明".into();
    let _qrlogin = spawn_server(config, listener).await;
    let nginx_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let (browser, jar) = example_browser(nginx_addr);

    // Anonymous, with a forged identity: to the login page, carrying the
    // URL asked for, query string and all.
    let asked = format!("{app}/reports/q?a=1&b=2");
    let resp = browser
        .get(&asked)
        .header("x-auth-user", "mallory")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND, "{}", nginx.error_log());
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("{login}/?rd={}", query_value(&asked)));
    let rd: Vec<_> = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(rd, [("rd".to_owned(), asked.clone())]);
    let resp = browser.get(&location).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("/static/login.js"));

    // A QR login on the login server, the phone confirming as Alice; the
    // page completes with rd as next and lands back at the app.
    log_in_and_return(&browser, &login, ALICE, &asked).await;
    let app_sees = seen(
        browser
            .get(&asked)
            .header("x-auth-user", "mallory")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(app_sees.0["path"], "/reports/q?a=1&b=2");
    assert_eq!(app_sees.header("x-auth-user"), ["alice"]);
    assert_eq!(app_sees.header("x-auth-name"), ["Alice"]);
    // The login cookie is not passed on: the app has no use for it.
    assert_eq!(app_sees.header("cookie"), Vec::<&str>::new());

    // A forged identity in every spelling, on the wire as written: only
    // qrlogin's reaches the app, logged in or not.
    let cookie = jar
        .cookies(&url::Url::parse(&app).unwrap())
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let forged = "X-Auth-User: mallory\r\nx-auth-user: mallory\r\nX-AUTH-USER: mallory\r\n\
                  X_Auth_User: mallory\r\nx_auth_user: mallory\r\nX-Auth-Name: Mallory\r\n";
    let head = |cookie: &str| {
        format!("GET /reports HTTP/1.1\r\nHost: app.example.com:{port}\r\n{forged}{cookie}")
    };
    let cookies = format!("Cookie: theme=dark; {cookie}; lang=zh\r\n");
    let (status, body) = raw_request(port, &head(&cookies)).await;
    assert_eq!(status, 200, "{body}");
    let app_sees = Seen(serde_json::from_str(&body).unwrap());
    assert_eq!(app_sees.header("x-auth-user"), ["alice"], "{body}");
    assert_eq!(app_sees.header("x-auth-name"), ["Alice"], "{body}");
    assert!(!body.to_lowercase().contains("mallory"), "{body}");
    // The app's own cookies pass; the login cookie does not.
    assert_eq!(app_sees.header("cookie"), ["theme=dark; lang=zh"], "{body}");
    let (status, body) = raw_request(port, &head("")).await;
    assert_eq!(status, 302, "{body}");

    // A location with proxy_set_header lines of its own (WebSockets)
    // includes the identity headers too: no forged one gets through there.
    let head_to = |path: &str, cookie: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: app.example.com:{port}\r\n{forged}{cookie}")
    };
    let (status, body) = raw_request(port, &head_to("/ws/chat", &cookies)).await;
    assert_eq!(status, 200, "{body}");
    let app_sees = Seen(serde_json::from_str(&body).unwrap());
    assert_eq!(app_sees.header("x-auth-user"), ["alice"], "{body}");
    assert!(!body.to_lowercase().contains("mallory"), "{body}");
    assert_eq!(app_sees.header("cookie"), ["theme=dark; lang=zh"], "{body}");
    // Two login cookies (a host-only and a domain one): neither reaches the app.
    let two = format!("Cookie: qrl_session=stale; theme=dark; {cookie}; lang=zh\r\n");
    let (status, body) = raw_request(port, &head(&two)).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("qrl_session"), "{body}");
    assert!(body.contains("theme=dark"), "{body}");

    // Nobody outside calls /auth/verify on the login server, nor reads its metrics.
    for path in ["/auth/verify", "/metrics"] {
        let resp = browser.get(format!("{login}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // nginx names each request to the login server: never the client's id.
    let resp = browser
        .get(format!("{login}/healthz"))
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32, "not nginx's $request_id: {id}");

    // A long URL (slashes triple when encoded) still goes to the login
    // page, without a return address, rather than a 500 from nginx.
    let (anon, _) = example_browser(nginx_addr);
    let long = format!("{app}/a?{}", "/".repeat(1300));
    let resp = anon.get(&long).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND, "{}", nginx.error_log());
    assert_eq!(resp.headers()["location"], format!("{login}/").as_str());

    // A POST passes too (the subrequest to qrlogin carries no body).
    let posted = seen(
        browser
            .post(format!("{app}/form"))
            .body("x=1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(posted.0["method"], "POST");
    assert_eq!(posted.0["body"], "x=1");
    assert_eq!(posted.header("x-auth-user"), ["alice"]);

    // The /admin/ location admits the policy "admins" only: Bob gets 403,
    // though he is logged in and passes elsewhere (with his UTF-8 name).
    let admin = seen(browser.get(format!("{app}/admin/")).send().await.unwrap()).await;
    assert_eq!(admin.header("x-auth-user"), ["alice"]);
    let (bob, _) = example_browser(nginx_addr);
    let link = confirmed_login(&bob, &login, BOB).await;
    assert_eq!(
        bob.get(&link).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    // The rule holds for the spellings apps read as the same path.
    for path in [
        "/admin/",
        "/admin",
        "/ADMIN/",
        "/Admin/x",
        "/admin;x/",
        "/admin./",
    ] {
        let resp = bob.get(format!("{app}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let bob_sees = seen(bob.get(format!("{app}/")).send().await.unwrap()).await;
    assert_eq!(bob_sees.header("x-auth-user"), ["bob"]);
    assert_eq!(bob_sees.header("x-auth-name"), ["Bob 小明"]);

    // Logging out at the login server: anonymous at the app again, and the
    // old cookie, replayed, is no login any more.
    let resp = browser
        .post(format!("{login}/api/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = browser.get(&asked).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let (status, _) = raw_request(port, &head(&format!("Cookie: {cookie}\r\n"))).await;
    assert_eq!(status, 302);
}
