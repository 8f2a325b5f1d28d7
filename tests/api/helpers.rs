//! Spawning a test server and typed requests against it.
#![allow(dead_code)]

use qrlogin::Application;
use qrlogin::clock::Clock;
use qrlogin::config::{Backend, Config, RedactedString};
use qrlogin::login::LoginService;
use qrlogin::session::QrId;
use qrlogin::startup::bind;
use qrlogin::store::{MemoryStore, RedisStore, SessionStore, Store};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ALICE: &str = "demo-alice";
pub const BOB: &str = "demo-bob";
pub const HS256_SECRET: &str = "test-hs256-secret-that-is-long-enough-0123456789";
/// The confidential test client ("shop") and its secret.
pub const SHOP: &str = "shop";
pub const SHOP_SECRET: &str = "shop-secret-with-reserved+chars:%/ and more";
pub const SHOP_REDIRECT: &str = "https://shop.example/cb?v=1";
pub const SHOP_LOGGED_OUT: &str = "https://shop.example/bye";
/// A second confidential client, to swap in mid-flow.
pub const WIKI: &str = "wiki";
pub const WIKI_SECRET: &str = "wiki-secret-0123456789abcdef";
pub const WIKI_REDIRECT: &str = "http://127.0.0.1:9/wiki/cb";
/// The public test client ("spa"): no secret, PKCE required.
pub const SPA: &str = "spa";
pub const SPA_REDIRECT: &str = "http://localhost:5173/cb";

/// A TV app: public, for the device grant (RFC 8628) and refresh tokens.
pub const TV: &str = "tv";
/// A kiosk: confidential, for the device grant only.
pub const KIOSK: &str = "kiosk";
pub const KIOSK_SECRET: &str = "kiosk-secret-0123456789abcdef";

/// Lower-case hex SHA-256, as `client_secret_sha256` wants it.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The config file every test starts from, as text (for tests that run
/// the binary on a file); `extra` is appended (more tables).
pub fn test_config_text(public_url: &str, extra: &str) -> String {
    let rs256 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rs256_public.pem"
    );
    // A fixed key: generating an RSA key for every test server is slow.
    let signing_key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc/rsa_a.pem");
    let (shop_hash, wiki_hash) = (sha256_hex(SHOP_SECRET), sha256_hex(WIKI_SECRET));
    let kiosk_hash = sha256_hex(KIOSK_SECRET);
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "{public_url}"

[mobile_auth]
jwt_hs256_secret = "{HS256_SECRET}"
jwt_rs256_public_key = "{rs256}"

[[users]]
token = "{ALICE}"
id = "alice"
name = "Alice"
avatar = "/static/avatars/alice.svg"

[[users]]
token = "{BOB}"
id = "bob"
name = "Bob"
avatar = "/static/avatars/bob.svg"

[oidc]
signing_keys = ["{signing_key}"]

[[clients]]
client_id = "{SHOP}"
name = "Example Shop"
redirect_uris = ["{SHOP_REDIRECT}", "https://shop.example/cb2"]
client_secret_sha256 = "{shop_hash}"
post_logout_redirect_uris = ["{SHOP_LOGGED_OUT}"]

[[clients]]
client_id = "{WIKI}"
name = "Team Wiki"
redirect_uris = ["{WIKI_REDIRECT}"]
client_secret_sha256 = "{wiki_hash}"

[[clients]]
client_id = "{SPA}"
name = "Single Page App"
redirect_uris = ["{SPA_REDIRECT}"]
public = true

[[clients]]
client_id = "{TV}"
name = "Living Room TV"
public = true
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]

[[clients]]
client_id = "{KIOSK}"
name = "Lobby Kiosk"
client_secret_sha256 = "{kiosk_hash}"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
{extra}
"#
    )
}

/// The typed config every test starts from; tests change its fields.
pub fn test_config(public_url: &str) -> Config {
    Config::parse(&test_config_text(public_url, "")).unwrap()
}

/// A store whose waiters the conformance suite can count.
pub trait TestStore: SessionStore {
    fn waiting_pollers(&self, id: &QrId) -> usize;
}
impl TestStore for MemoryStore {
    fn waiting_pollers(&self, id: &QrId) -> usize {
        MemoryStore::waiting_pollers(self, id)
    }
}
impl TestStore for RedisStore {
    fn waiting_pollers(&self, id: &QrId) -> usize {
        RedisStore::waiting_pollers(self, id)
    }
}

/// A running server and a browser talking to it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    /// A browser: keeps cookies, does not follow redirects.
    pub client: reqwest::Client,
    /// `public_url` without the trailing slash: the OpenID Connect issuer.
    pub issuer: String,
    /// The admin listener (`server.admin_listen`), if configured.
    pub admin: Option<SocketAddr>,
    login: LoginService,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// A server with the default test config.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose test config `tweak` changed first.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let listener = bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = test_config(&base);
    tweak(&mut config);
    spawn_server(config, listener).await
}

/// A server whose `public_url` is `public_url` rather than its bound address.
pub async fn spawn_app_at(public_url: &str) -> TestApp {
    let listener = bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
    spawn_server(test_config(public_url), listener).await
}

/// An instance on the Redis at `redis_url` with keys under `prefix`,
/// after `tweak`. `listener` lets a test restart an instance on the same
/// address.
pub async fn spawn_redis_app(
    redis_url: &str,
    prefix: &str,
    tweak: impl FnOnce(&mut Config),
    listener: Option<tokio::net::TcpListener>,
) -> TestApp {
    let mut config = redis_config(redis_url, prefix);
    tweak(&mut config);
    spawn_redis_app_from(config, listener).await
}

/// The config of an instance on the Redis at `redis_url`, keys under `prefix`.
pub fn redis_config(redis_url: &str, prefix: &str) -> Config {
    // Instances of one deployment share the public URL (nginx's) and sit
    // behind a proxy on this machine.
    let mut config = test_config("http://qrlogin.test");
    config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.store.backend = Backend::Redis;
    config.store.redis_url = Some(RedactedString::from(redis_url.to_owned()));
    config.store.key_prefix = prefix.to_owned();
    config.store.redis_timeout = Duration::from_secs(1);
    // Far above every promptness assertion, so wake-ups in these tests must
    // come through pub/sub (or a resubscription), not the timer.
    config.store.redis_resync_interval = Duration::from_secs(60);
    config
}

/// An instance built from `config` (a [`redis_config`] with fields changed,
/// e.g. a short `store.redis_heartbeat`).
pub async fn spawn_redis_app_from(
    config: Config,
    listener: Option<tokio::net::TcpListener>,
) -> TestApp {
    let listener = listener.unwrap_or_else(|| bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap());
    spawn_server(config, listener).await
}

/// Builds the application from `config` exactly as the binary does (store
/// included), on `listener` and a manual clock, runs it, and returns once
/// its store is reached (the Redis store connects in the background).
pub async fn spawn_server(config: Config, listener: tokio::net::TcpListener) -> TestApp {
    let app = spawn_server_cold(config, listener).await;
    tokio::time::timeout(Duration::from_secs(10), app.store().connected())
        .await
        .expect("the store was not reached within 10 s");
    app
}

/// [`spawn_server`] without waiting for the store: for starting while
/// Redis is down.
pub async fn spawn_server_cold(config: Config, listener: tokio::net::TcpListener) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        qrlogin::telemetry::init(&qrlogin::config::LogConfig {
            format: Some(qrlogin::config::LogFormat::Pretty),
            filter: "qrlogin=debug,tower_http=debug".into(),
        });
    }
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let issuer = config.public_base().to_owned();
    let app = Application::build_on(config, listener, Clock::manual())
        .await
        .unwrap();
    let login = app.login().clone();
    let admin = app.admin_addr();
    let (tx, rx) = oneshot::channel();
    let handle = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        base,
        client: browser(),
        issuer,
        admin,
        login,
        shutdown: Some(tx),
        server: Some(handle),
    }
}

/// A fresh cookie-keeping HTTP client that does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) qrlogin-tests")
        .build()
        .unwrap()
}

/// A created QR session, as the browser holds it.
#[derive(Debug, Clone)]
pub struct Qr {
    pub id: String,
    pub poll_token: String,
    pub qr_content: String,
    pub body: Value,
}

impl Qr {
    /// The code a `POST /api/qr` answer (201) describes.
    pub fn from_created(body: Value) -> Self {
        Self {
            id: body["id"].as_str().unwrap().to_owned(),
            poll_token: body["poll_token"].as_str().unwrap().to_owned(),
            qr_content: body["qr_content"].as_str().unwrap().to_owned(),
            body,
        }
    }
}

/// Parses a JSON body, failing the test with the text if it is not JSON, or
/// if the OpenAPI document does not describe this answer (see `contract`):
/// every JSON answer any test reads is checked against the document.
pub async fn json(resp: Response) -> Value {
    let (path, status) = (resp.url().path().to_owned(), resp.status().as_u16());
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    crate::contract::check(&path, status, &body);
    body
}

/// Asserts `resp` has `status` and the API error `code`, returns the body.
pub async fn expect_error(resp: Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "for expected error {code}");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "error bodies are JSON"
    );
    let body = json(resp).await;
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

impl TestApp {
    /// The server's clock: tests advance it to make deadlines pass.
    pub fn clock(&self) -> &Clock {
        self.login.clock()
    }

    /// The server's store, as the server built it from the config.
    pub fn store(&self) -> &Store {
        self.login.store()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits until every audit line emitted so far is written.
    pub async fn flush_audit(&self) {
        self.login.observer().flush().await;
    }

    /// `/metrics` as scraped from loopback on the main listener.
    pub async fn metrics(&self) -> String {
        let resp = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.unwrap()
    }

    pub async fn create_qr(&self) -> Qr {
        let resp = self.client.post(self.url("/api/qr")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body = json(resp).await;
        Qr::from_created(body)
    }

    /// GET status with the poll token and a raw query string.
    pub async fn status_raw(&self, qr: &Qr, query: &str) -> Response {
        self.client
            .get(self.url(&format!("/api/qr/{}/status?{query}", qr.id)))
            .bearer_auth(&qr.poll_token)
            .send()
            .await
            .unwrap()
    }

    /// A poll answer's body (asserting HTTP 200).
    pub async fn poll(&self, qr: &Qr, query: &str) -> Value {
        let resp = self.status_raw(qr, query).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "polls always answer HTTP 200"
        );
        json(resp).await
    }

    pub async fn mobile(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn scan(&self, token: &str, qr: &Qr) -> Response {
        self.mobile("/api/mobile/scan", token, json!({ "qr": qr.qr_content }))
            .await
    }

    /// Scans and returns the confirm token, asserting success.
    pub async fn scan_ok(&self, token: &str, qr: &Qr) -> String {
        let resp = self.scan(token, qr).await;
        assert_eq!(resp.status(), StatusCode::OK);
        json(resp).await["confirm_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn confirm(&self, token: &str, qr: &Qr, confirm_token: &str) -> Response {
        let body = json!({ "qr_id": qr.id, "confirm_token": confirm_token });
        self.mobile("/api/mobile/confirm", token, body).await
    }

    pub async fn cancel(&self, token: &str, qr: &Qr, confirm_token: &str) -> Response {
        let body = json!({ "qr_id": qr.id, "confirm_token": confirm_token });
        self.mobile("/api/mobile/cancel", token, body).await
    }

    /// Create → scan → confirm as `token`; returns the QR and its ticket.
    pub async fn confirmed_qr(&self, token: &str) -> (Qr, String) {
        let qr = self.create_qr().await;
        let confirm = self.scan_ok(token, &qr).await;
        assert_eq!(
            self.confirm(token, &qr, &confirm).await.status(),
            StatusCode::OK
        );
        let body = self.poll(&qr, "wait=0").await;
        assert_eq!(body["code"], 200, "{body}");
        let ticket = body["ticket"].as_str().unwrap().to_owned();
        (qr, ticket)
    }

    pub async fn exchange_with(&self, client: &reqwest::Client, qr: &Qr, ticket: &str) -> Response {
        client
            .post(self.url("/api/login/exchange"))
            .bearer_auth(&qr.poll_token)
            .json(&json!({ "ticket": ticket }))
            .send()
            .await
            .unwrap()
    }

    pub async fn exchange(&self, qr: &Qr, ticket: &str) -> Response {
        self.exchange_with(&self.client, qr, ticket).await
    }

    pub async fn me(&self, client: &reqwest::Client) -> Response {
        client.get(self.url("/api/me")).send().await.unwrap()
    }

    /// Starts a status poll of `qr` (`query` appended) that the server holds.
    pub fn held_poll(&self, qr: &Qr, query: &str) -> JoinHandle<Response> {
        self.held_poll_with(&self.client, qr, query)
    }

    /// [`Self::held_poll`] through a given client (e.g. one connection each).
    pub fn held_poll_with(
        &self,
        client: &reqwest::Client,
        qr: &Qr,
        query: &str,
    ) -> JoinHandle<Response> {
        let (client, token) = (client.clone(), qr.poll_token.clone());
        let url = self.url(&format!("/api/qr/{}/status?{query}", qr.id));
        tokio::spawn(async move { client.get(url).bearer_auth(token).send().await.unwrap() })
    }

    /// Requests `qr`'s event stream with its poll token as the bearer
    /// token, resuming after `last_event_id` when given.
    pub async fn events_raw(&self, qr: &Qr, last_event_id: Option<u64>) -> Response {
        let mut request = reqwest::Client::new()
            .get(self.url(&format!("/api/qr/{}/events", qr.id)))
            .bearer_auth(&qr.poll_token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        request.send().await.unwrap()
    }

    /// `qr`'s event stream, open (asserting it is one).
    pub async fn events(&self, qr: &Qr, last_event_id: Option<u64>) -> crate::sse::EventStream {
        crate::sse::EventStream::new(self.events_raw(qr, last_event_id).await)
    }

    /// How many long polls and event streams the server holds right now.
    pub fn held(&self) -> qrlogin::login::Held {
        self.login.held()
    }

    /// Waits (bounded) until the server holds `held`.
    pub async fn wait_for_held(&self, held: qrlogin::login::Held) {
        for _ in 0..500 {
            if self.held() == held {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {held:?} held, found {:?}", self.held());
    }

    /// Waits (bounded) until `n` long polls are held on session `id`.
    pub async fn wait_for_pollers(&self, qr: &Qr, n: usize) {
        let id = qrlogin::session::QrId::parse(&qr.id).unwrap();
        for _ in 0..500 {
            if self.store().waiting_pollers(&id) == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "expected {n} held polls, found {}",
            self.store().waiting_pollers(&id)
        );
    }

    /// Stops the server as Ctrl-C would, and waits for it to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take().unwrap().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Each case (an `async fn(&TestApp)` of the calling module) as a test on
/// the memory store, and one on a Redis of its own: `mod memory` and
/// `mod redis` of tests of the same names.
macro_rules! on_every_store {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&crate::helpers::spawn_app().await).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $case() {
                    let redis = crate::redis_server::RedisServer::start().await;
                    let app = crate::helpers::spawn_redis_app(&redis.url(), "qrl:", |_| {}, None).await;
                    super::$case(&app).await;
                }
            )*
        }
    };
}
pub(crate) use on_every_store;
