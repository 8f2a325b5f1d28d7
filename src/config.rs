//! Typed configuration: read once at start-up from a TOML file and the
//! `QRLOGIN_*` environment ([`sources`]), secrets read from files
//! ([`secrets`]), and validated there, so a bad value fails fast with a
//! message naming its key (and the variable or file it came from).

mod secrets;
mod sources;

pub use sources::{CLI_ENV_VARS, CLIENT_SECRET_ENV_PREFIX, ConfigFile, ENV_PREFIX, process_env};

use crate::forward_auth::{AllowedHost, CookieDomain, IdentityHeader, UserField};
use crate::session::User;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the configuration was refused. The text names the offending key,
/// and where its value came from when that was not the code: the config
/// file or an environment variable.
#[derive(Debug)]
pub struct ConfigError {
    /// The file or environment variable the value came from.
    origin: Option<String>,
    key: Option<String>,
    why: String,
}

impl ConfigError {
    /// An error about the value at `key`.
    pub fn new(key: &str, why: impl std::fmt::Display) -> Self {
        Self {
            origin: None,
            key: Some(key.to_owned()),
            why: why.to_string(),
        }
    }

    /// An error about no key in particular (a file that cannot be read).
    fn other(why: impl std::fmt::Display) -> Self {
        Self {
            origin: None,
            key: None,
            why: why.to_string(),
        }
    }

    /// The key the error is about, as written in the file (`login.qr_ttl`,
    /// `clients[0].name`).
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Says where the value came from, unless that is already said.
    fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin.get_or_insert_with(|| origin.into());
        self
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("config: ")?;
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.why)
    }
}

impl std::error::Error for ConfigError {}

fn bad(key: &str, why: impl std::fmt::Display) -> ConfigError {
    ConfigError::new(key, why)
}

/// Refuses `value` at `key` unless `min <= value <= max`.
fn within(key: &str, value: Duration, min: Duration, max: Duration) -> Result<(), ConfigError> {
    if value < min || value > max {
        let (min, max) = (
            humantime::format_duration(min),
            humantime::format_duration(max),
        );
        return Err(bad(key, format!("must be between {min} and {max}")));
    }
    Ok(())
}

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    #[serde(default)]
    pub login: LoginConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub mobile_auth: MobileAuthConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Static demo accounts: bearer token → profile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<DemoUser>,
    /// The OpenID Connect provider's lifetimes and signing keys.
    #[serde(default)]
    pub oidc: OidcConfig,
    /// Relying sites allowed to log users in through `/oauth/authorize`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientConfig>,
    /// nginx forward-auth: what `/auth/verify` answers, and where `?rd=`
    /// may send browsers.
    #[serde(default)]
    pub forward_auth: ForwardAuthConfig,
    /// Log lines: their format and which are written.
    #[serde(default)]
    pub log: LogConfig,
    /// Prometheus metrics at `/metrics`.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The audit log: one JSON line per security-relevant step.
    #[serde(default)]
    pub audit: AuditConfig,
    /// What the login and phone pages offer besides the QR code.
    #[serde(default)]
    pub pages: PagesConfig,
    /// An offline GeoIP database: the phone is shown where the browser is.
    #[serde(default)]
    pub geoip: GeoIpConfig,
}

/// `[geoip]`: where the browser asking to log in is, for the phone.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpConfig {
    /// A MaxMind DB file (GeoLite2-City, GeoIP2-City, or a Country
    /// database), read at start-up; relative to the config file. Unset: no
    /// locations.
    pub path: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The origin browsers and phones reach this server at; the QR encodes it.
    pub public_url: url::Url,
    /// Accept-queue length for the listening socket (capped by the kernel's somaxconn).
    #[serde(default = "default_backlog")]
    pub backlog: u32,
    /// Peers whose `X-Forwarded-For` / `X-Real-IP` are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    /// A directory served instead of the embedded pages (branding); relative
    /// paths are relative to the config file.
    pub static_dir: Option<PathBuf>,
    /// How long a client may take to send a request's headers (slowloris).
    #[serde(default = "default_header_read_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// The login cookie's `Domain`: a login here counts on every host at or
    /// below it (apps behind nginx forward-auth). Unset: this host only.
    pub cookie_domain: Option<CookieDomain>,
    /// A second listener for operators (`/metrics`, `/healthz`, `/readyz`);
    /// when set, `/metrics` is served only there. Unset: `/metrics` on the
    /// main listener answers loopback and `trusted_proxies` clients only.
    pub admin_listen: Option<SocketAddr>,
    /// How long in-flight requests may take to finish after a shutdown
    /// signal; the process exits then even if a client holds a connection.
    #[serde(default = "default_shutdown_timeout", with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// How long a request body may stall (no byte arriving) before the
    /// request is answered 408 and its connection closed; also the grace
    /// before `body_min_rate` applies.
    #[serde(default = "default_body_read_timeout", with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Bytes per second a request body must average once
    /// `body_read_timeout` has passed (a body trickled a byte at a time is
    /// cut off as a stalled one is).
    #[serde(default = "default_body_min_rate")]
    pub body_min_rate: u32,
    /// Connections open at once; past it a new one is answered 503 `busy`
    /// and closed. Unset: seven eighths of the open-file limit (above the
    /// held-connection budget, below the point where accepts would fail).
    pub max_connections: Option<usize>,
    /// Connections one client address (IPv6: one /64) may hold open at
    /// once; past it a new one is answered 429 `too_many_connections` and
    /// closed. Counted on the TCP peer: `trusted_proxies` peers (nginx,
    /// carrying everyone's connections) are not capped.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// Origins besides `public_url`'s own that may call the browser API:
    /// `POST /api/qr` with any other `Origin` is refused (403
    /// `foreign_origin`), and these get CORS answers (with credentials)
    /// on the browser API. Empty (default): same origin only.
    #[serde(default)]
    pub allowed_origins: Vec<url::Url>,
}

impl ServerConfig {
    /// `allowed_origins` as origins (validated to be nothing more).
    pub fn allowed_origins(&self) -> impl Iterator<Item = url::Origin> + '_ {
        self.allowed_origins.iter().map(url::Url::origin)
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    #[serde(with = "humantime_serde")]
    pub qr_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub poll_hold: Duration,
    #[serde(with = "humantime_serde")]
    pub ticket_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// How long an expired QR code still answers "expired" (code 400) before it is forgotten (404).
    #[serde(with = "humantime_serde")]
    pub expired_grace: Duration,
    /// The login page shows a two-digit number and the phone must pick it
    /// among three to confirm; a wrong pick cancels the login.
    pub number_matching: bool,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            qr_ttl: Duration::from_secs(300),
            poll_hold: Duration::from_secs(25),
            ticket_ttl: Duration::from_secs(60),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            expired_grace: Duration::from_secs(600),
            number_matching: false,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    #[default]
    Memory,
    Redis,
    /// A Redis Cluster (sharded), reached through `store.redis_cluster_nodes`.
    #[serde(rename = "redis-cluster")]
    RedisCluster,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub backend: Backend,
    /// How often the memory store sweeps out dead sessions and logins, and
    /// every backend forgets idle rate-limit buckets.
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
    /// `redis://[user:password@]host:port[/db]` or `redis+unix:///path`.
    pub redis_url: Option<RedactedString>,
    /// A file holding `redis_url` (it carries the password), read at
    /// start-up instead; relative to the config file.
    pub redis_url_file: Option<PathBuf>,
    /// Instead of `redis_url`: the Redis Sentinels (`host:port`) to ask
    /// for the primary monitored as `redis_master_name`.
    pub redis_sentinels: Vec<String>,
    /// The name the sentinels monitor the primary under.
    pub redis_master_name: Option<String>,
    /// With sentinels: the ACL user on the primary and its replicas.
    pub redis_username: Option<String>,
    /// With sentinels: the password of the primary and its replicas.
    pub redis_password: Option<RedactedString>,
    /// A file holding `redis_password`; relative to the config file.
    pub redis_password_file: Option<PathBuf>,
    /// With sentinels: the database number on the primary.
    pub redis_db: Option<i64>,
    /// With sentinels: the ACL user on the sentinels themselves.
    pub redis_sentinel_username: Option<String>,
    /// With sentinels: the sentinels' own password (their `requirepass`).
    pub redis_sentinel_password: Option<RedactedString>,
    /// A file holding `redis_sentinel_password`; relative to the config file.
    pub redis_sentinel_password_file: Option<PathBuf>,
    /// Seed nodes of a Redis Cluster (`backend = "redis-cluster"`):
    /// `redis://[user:password@]host:port`; the rest is discovered.
    pub redis_cluster_nodes: Vec<RedactedString>,
    /// Prepended to every Redis key and channel.
    pub key_prefix: String,
    /// Upper bound on one Redis round trip; past it requests answer 503.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
    /// How often a held poll re-reads its session without a pub/sub hint.
    #[serde(with = "humantime_serde")]
    pub redis_resync_interval: Duration,
    /// How often the pub/sub subscription is pinged, to notice a half-open connection.
    #[serde(with = "humantime_serde")]
    pub redis_heartbeat: Duration,
    /// First pause before resubscribing after the subscription is lost.
    #[serde(with = "humantime_serde")]
    pub redis_resubscribe_min_delay: Duration,
    /// Longest pause between attempts to resubscribe.
    #[serde(with = "humantime_serde")]
    pub redis_resubscribe_max_delay: Duration,
    /// A subscription that stayed up this long resets the resubscribe backoff.
    #[serde(with = "humantime_serde")]
    pub redis_subscription_stable_after: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        // The Redis store owns its defaults; the config keys start from them.
        let redis = crate::store::RedisSettings::new(String::new());
        Self {
            backend: Backend::Memory,
            purge_interval: Duration::from_secs(30),
            redis_url: None,
            redis_url_file: None,
            redis_sentinels: Vec::new(),
            redis_master_name: None,
            redis_username: None,
            redis_password: None,
            redis_password_file: None,
            redis_db: None,
            redis_sentinel_username: None,
            redis_sentinel_password: None,
            redis_sentinel_password_file: None,
            redis_cluster_nodes: Vec::new(),
            key_prefix: redis.key_prefix,
            redis_timeout: redis.timeout,
            redis_resync_interval: redis.resync_every,
            redis_heartbeat: redis.heartbeat,
            redis_resubscribe_min_delay: redis.min_resubscribe_delay,
            redis_resubscribe_max_delay: redis.max_resubscribe_delay,
            redis_subscription_stable_after: redis.stable_after,
        }
    }
}

/// `[metrics]`: Prometheus metrics.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// false: no `/metrics`, and requests are not timed.
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[audit]`: where the audit log goes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// false: no audit log at all.
    pub enabled: bool,
    /// A file the events are appended to (created 0600); unset: stderr,
    /// beside the logs. Relative paths are relative to the config file.
    pub path: Option<PathBuf>,
    /// `refused` lines written per client IP (per /64 for IPv6) and minute,
    /// at most; the rest are counted and summarised, so a client that
    /// hammers the server cannot drown the other lines.
    pub refusals_per_minute_per_ip: u32,
    /// `refused` lines written per second, at most, from all clients together.
    pub refusals_per_second: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            path: None,
            refusals_per_minute_per_ip: 60,
            refusals_per_second: 100,
        }
    }
}

/// `[pages]`: what the login and phone pages offer besides the QR code.
/// All unset by default: the pages then offer nothing that leads elsewhere.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagesConfig {
    /// Another way to log in (password, company SSO), linked under the code.
    pub other_login_url: Option<url::Url>,
    /// Opens your app at a code, for a login page opened on the phone
    /// itself (which cannot scan its own screen) and for the phone page
    /// opened in a plain browser: a deep link or universal link in which
    /// `{url}` stands for the code's phone link, percent-encoded, e.g.
    /// `myapp://qrlogin?url={url}`.
    pub app_link: Option<String>,
    /// Where to get the app (its store page), offered by the phone page
    /// opened in a plain browser when there are no demo accounts.
    pub app_store_url: Option<url::Url>,
}

impl PagesConfig {
    /// `app_link` for the code whose phone link is `phone_link`.
    pub fn app_link_for(&self, phone_link: &str) -> Option<String> {
        let encoded: String = url::form_urlencoded::byte_serialize(phone_link.as_bytes()).collect();
        self.app_link
            .as_ref()
            .map(|template| template.replace("{url}", &encoded))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, url) in [
            ("pages.other_login_url", &self.other_login_url),
            ("pages.app_store_url", &self.app_store_url),
        ] {
            if url
                .as_ref()
                .is_some_and(|u| !matches!(u.scheme(), "http" | "https"))
            {
                return Err(bad(key, "must be an http:// or https:// URL"));
            }
        }
        if let Some(template) = &self.app_link {
            if !template.contains("{url}") {
                return Err(bad(
                    "pages.app_link",
                    "must contain {url}, where the code's phone link goes",
                ));
            }
            let example = self
                .app_link_for("https://login.example/l/x")
                .unwrap_or_default();
            match url::Url::parse(&example) {
                Ok(u) if !matches!(u.scheme(), "javascript" | "data" | "vbscript" | "file") => {}
                _ => {
                    return Err(bad(
                        "pages.app_link",
                        "must be a URL (an app's scheme, or https:// for a universal link)",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// How the phone's bearer token is verified.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MobileAuthConfig {
    pub jwt_hs256_secret: Option<RedactedString>,
    /// A file holding `jwt_hs256_secret` (trailing line breaks dropped),
    /// read at start-up instead; relative to the config file.
    pub jwt_hs256_secret_file: Option<PathBuf>,
    pub jwt_rs256_public_key: Option<PathBuf>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// Clock skew tolerated on `exp`/`nbf`.
    #[serde(with = "humantime_serde")]
    pub jwt_leeway: Duration,
}

impl Default for MobileAuthConfig {
    fn default() -> Self {
        Self {
            jwt_hs256_secret: None,
            jwt_hs256_secret_file: None,
            jwt_rs256_public_key: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway: Duration::from_secs(5),
        }
    }
}

/// Abuse limits.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// QR codes one client IP may create per minute (a burst of this size, refilled evenly).
    pub qr_per_minute_per_ip: u32,
    /// Phone API calls one client IP may make per minute.
    pub mobile_per_minute_per_ip: u32,
    /// Upper bound on QR sessions the memory store holds (expired ones count
    /// until forgotten); past it creation answers 503. Redis: size `maxmemory`.
    pub max_live_sessions: usize,
    /// Device user codes (`XXXX-XXXX`) one client IP may try per minute,
    /// typed or scanned (RFC 8628 §5.1: they are short enough to guess).
    pub user_code_per_minute_per_ip: u32,
    /// Long polls and event streams held at once; past it a new one answers
    /// 503 `busy`. Unset: three quarters of the open-file limit
    /// ([`crate::login::budget_for_open_files`]).
    pub max_held_connections: Option<usize>,
    /// Tickets one client IP may redeem per minute (`/api/login/exchange`,
    /// `/api/login/complete`, `/api/qr/{id}/ticket`).
    pub redeem_per_minute_per_ip: u32,
    /// Status or event lookups of an unknown QR id (or with a wrong poll
    /// token) one client IP may make per minute; past it every lookup from
    /// it is refused until the budget refills. Lookups that find their
    /// session cost nothing.
    pub lookup_misses_per_minute_per_ip: u32,
    /// Calls of the OAuth token, introspection and revocation endpoints one
    /// client IP may make per minute. A relying site's back end makes
    /// them for all its users from one address: size this for the busiest.
    pub token_per_minute_per_ip: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            qr_per_minute_per_ip: 60,
            mobile_per_minute_per_ip: 120,
            max_live_sessions: 1_000_000,
            user_code_per_minute_per_ip: 20,
            max_held_connections: None,
            redeem_per_minute_per_ip: 60,
            lookup_misses_per_minute_per_ip: 30,
            token_per_minute_per_ip: 600,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DemoUser {
    pub token: RedactedString,
    pub id: String,
    pub name: String,
    pub avatar: Option<String>,
}

impl DemoUser {
    pub fn profile(&self) -> User {
        User {
            id: self.id.clone(),
            name: self.name.clone(),
            avatar: self.avatar.clone(),
        }
    }
}

/// The OpenID Connect provider: token lifetimes and id_token signing keys.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// PEM private keys (RSA, P-256 or Ed25519). For each algorithm the
    /// first key signs; all stay published at `jwks_uri`, so tokens signed
    /// before a rotation still verify. Empty: one RSA key is generated at
    /// start-up (tokens then do not survive a restart). Relative paths are
    /// relative to the config file.
    pub signing_keys: Vec<PathBuf>,
    /// Life of an authorization code (RFC 6749 §4.1.2: at most 10 minutes).
    #[serde(with = "humantime_serde")]
    pub code_ttl: Duration,
    /// Life of an access token and of an id_token.
    #[serde(with = "humantime_serde")]
    pub access_token_ttl: Duration,
    /// Life of a grant with `offline_access`: its refresh tokens rotate
    /// within it, and it ends this long after the login, whatever happens.
    #[serde(with = "humantime_serde")]
    pub refresh_token_ttl: Duration,
    /// Life of a device authorization (RFC 8628 `expires_in`): how long the
    /// device's code and user code can be scanned or typed.
    #[serde(with = "humantime_serde")]
    pub device_code_ttl: Duration,
    /// How long a device waits between token requests (RFC 8628 `interval`).
    #[serde(with = "humantime_serde")]
    pub device_poll_interval: Duration,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            signing_keys: Vec::new(),
            code_ttl: Duration::from_secs(600),
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            device_code_ttl: Duration::from_secs(600),
            device_poll_interval: Duration::from_secs(5),
        }
    }
}

/// The grant type of the Device Authorization Grant (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The grant types a client may be registered for.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", DEVICE_CODE_GRANT];

/// A relying site (OAuth client) registered with this provider.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    /// What the login page and the phone show: "Log in to {name}?".
    pub name: String,
    /// Where codes may be sent: compared as exact strings. Required with
    /// the `authorization_code` grant, unused by devices.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Hex SHA-256 of the client secret (`qrlogin hash-secret` makes both):
    /// a confidential client. Exactly one of this and `public`. Also read
    /// from `client_secret_sha256_file`, or from the environment variable
    /// `QRLOGIN_CLIENT_SECRET_SHA256__<CLIENT_ID>` ([`sources`]).
    #[serde(serialize_with = "redacted_if_set")]
    pub client_secret_sha256: Option<String>,
    /// A file holding `client_secret_sha256`, read at start-up instead;
    /// relative to the config file.
    pub client_secret_sha256_file: Option<PathBuf>,
    /// A client with no secret (single-page and native apps): PKCE required.
    #[serde(default)]
    pub public: bool,
    /// Where `/oauth/logout` may send the browser afterwards: exact strings.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `RS256` (the default OpenID Connect requires), `ES256` or `EdDSA`:
    /// needs a signing key of that type.
    #[serde(default = "default_id_token_alg")]
    pub id_token_signed_response_alg: String,
    /// What the client may use (OAuth dynamic registration's names):
    /// `authorization_code` (sites: needs `redirect_uris`), `refresh_token`,
    /// and `urn:ietf:params:oauth:grant-type:device_code` (TVs, CLIs).
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
}

/// nginx forward-auth (`/auth/verify`, `?rd=`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardAuthConfig {
    /// Hosts outside `server.cookie_domain` that `?rd=` may send browsers
    /// back to: `host` (on the default port) or `host:port`.
    pub allowed_redirect_hosts: Vec<AllowedHost>,
    /// Header name → user field (`id`, `name`, `avatar`) that `/auth/verify`
    /// answers with. Empty: `X-Auth-User` = id, `X-Auth-Name` = name.
    pub headers: BTreeMap<IdentityHeader, UserField>,
    /// Named lists of user ids, for `/auth/verify?policy=<name>`.
    pub policies: Vec<PolicyConfig>,
}

/// `[[forward_auth.policies]]`: who passes `/auth/verify?policy=<name>`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub name: String,
    /// User ids, compared exactly.
    pub users: Vec<String>,
}

fn default_id_token_alg() -> String {
    "RS256".into()
}

fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".into(), "refresh_token".into()]
}

/// `[log]`: the format of log lines and which are written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `json` (one object per line) or `pretty`. Unset: pretty when stderr
    /// is a terminal, JSON otherwise.
    pub format: Option<LogFormat>,
    /// `tracing` filter directives (`RUST_LOG` syntax); `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: None,
            filter: crate::telemetry::DEFAULT_FILTER.to_owned(),
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines, for a terminal.
    Pretty,
}

/// What a secret prints as (`qrlogin check-config`).
pub const REDACTED: &str = "<redacted>";

/// A config value that must never reach a log: it prints as `<redacted>`,
/// in `Debug` and when serialised.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct RedactedString(String);

impl Serialize for RedactedString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// Serialises a set secret as `<redacted>` (and an unset one as unset).
fn redacted_if_set<S: serde::Serializer>(
    value: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some(REDACTED),
        None => serializer.serialize_none(),
    }
}

impl From<String> for RedactedString {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl RedactedString {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RedactedString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

fn default_backlog() -> u32 {
    8192
}
fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_body_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_body_min_rate() -> u32 {
    1024
}
fn default_max_connections_per_ip() -> usize {
    256
}

impl Config {
    /// Reads the file at `path` (which must exist), lays this process's
    /// `QRLOGIN_*` environment variables over it, reads the secret files and
    /// validates. Relative paths in the file are resolved against its
    /// directory (those from variables stay relative to the working
    /// directory).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_from(ConfigFile::Required(path), process_env())
    }

    /// Like [`Config::load`], from `file` and the environment `env` (name,
    /// value pairs; [`process_env`] gives this process's): tests pass their
    /// own rather than change the process's.
    pub fn load_from(
        file: ConfigFile<'_>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        sources::load(file, env)
    }

    /// Parses and validates TOML text, without the environment (paths stay
    /// as written).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        sources::load_text(text)
    }

    /// Resolves the relative paths the file set (`from_file(key)`) against
    /// `base`, its directory.
    fn resolve_paths(&mut self, base: &Path, from_file: impl Fn(&str) -> bool) {
        let resolve = |key: &str, path: &mut PathBuf| {
            if path.is_relative() && from_file(key) {
                *path = base.join(&*path);
            }
        };
        let optional = [
            ("server.static_dir", &mut self.server.static_dir),
            (
                "mobile_auth.jwt_rs256_public_key",
                &mut self.mobile_auth.jwt_rs256_public_key,
            ),
            (
                "mobile_auth.jwt_hs256_secret_file",
                &mut self.mobile_auth.jwt_hs256_secret_file,
            ),
            ("store.redis_url_file", &mut self.store.redis_url_file),
            (
                "store.redis_password_file",
                &mut self.store.redis_password_file,
            ),
            (
                "store.redis_sentinel_password_file",
                &mut self.store.redis_sentinel_password_file,
            ),
            ("audit.path", &mut self.audit.path),
            ("geoip.path", &mut self.geoip.path),
        ];
        for (key, path) in optional {
            if let Some(path) = path {
                resolve(key, path);
            }
        }
        for (i, client) in self.clients.iter_mut().enumerate() {
            if let Some(path) = &mut client.client_secret_sha256_file {
                resolve(&format!("clients[{i}].client_secret_sha256_file"), path);
            }
        }
        for (i, key) in self.oidc.signing_keys.iter_mut().enumerate() {
            resolve(&format!("oidc.signing_keys[{i}]"), key);
        }
    }

    /// A `static_dir` without the pages would answer 404 at `/` and `/l/{id}`
    /// (silently, before the pages were embedded): refuse it at start-up.
    /// It reads the file system, so `load` (once paths are resolved against
    /// the config file) and `Application::build` (for configs built in code)
    /// call it, rather than [`Config::validate`], which `parse` runs on
    /// paths not yet resolved.
    pub fn check_static_dir(&self) -> Result<(), ConfigError> {
        let Some(dir) = &self.server.static_dir else {
            return Ok(());
        };
        if !dir.is_dir() {
            return Err(bad(
                "server.static_dir",
                format!("{} is not a directory", dir.display()),
            ));
        }
        for page in [
            crate::http::pages::LOGIN_PAGE,
            crate::http::pages::PHONE_PAGE,
        ] {
            if !dir.join(page).is_file() {
                return Err(bad(
                    "server.static_dir",
                    format!("{} has no {page}", dir.display()),
                ));
            }
        }
        Ok(())
    }

    /// Whether cookies must carry `Secure`.
    pub fn is_https(&self) -> bool {
        self.server.public_url.scheme() == "https"
    }

    /// `public_url` without a trailing slash, for building links.
    pub fn public_base(&self) -> &str {
        self.server.public_url.as_str().trim_end_matches('/')
    }

    /// Checks every value; the error names the first bad key. `load` and
    /// `parse` call it, and so does `Application::build` for configs built
    /// in code.
    /// The body timeouts, connection caps and allowed origins of `[server]`.
    fn validate_connections(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        within(
            "server.body_read_timeout",
            server.body_read_timeout,
            Duration::from_millis(100),
            Duration::from_secs(300),
        )?;
        if server.body_min_rate == 0 {
            return Err(bad(
                "server.body_min_rate",
                "must be at least 1 (bytes per second)",
            ));
        }
        if server.max_connections == Some(0) {
            return Err(bad("server.max_connections", "must be at least 1"));
        }
        if server.max_connections_per_ip == 0 {
            return Err(bad("server.max_connections_per_ip", "must be at least 1"));
        }
        for url in &server.allowed_origins {
            let bare = matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && url.username().is_empty()
                && url.password().is_none();
            if !bare {
                return Err(bad(
                    "server.allowed_origins",
                    format!("{url}: must be an origin, scheme://host[:port], nothing more"),
                ));
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.server.public_url;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(
                "server.public_url",
                "must be an http:// or https:// URL",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
            return Err(bad(
                "server.public_url",
                "must not carry a query or fragment",
            ));
        }
        if self.server.backlog == 0 {
            return Err(bad("server.backlog", "must be at least 1"));
        }
        self.pages.validate()?;
        if self.server.admin_listen == Some(self.server.listen) && self.server.listen.port() != 0 {
            return Err(bad(
                "server.admin_listen",
                "must differ from server.listen (it serves /metrics apart from the public API)",
            ));
        }
        self.validate_forward_auth()?;
        let header_timeout = self.server.header_read_timeout;
        if header_timeout < Duration::from_millis(100) || header_timeout > Duration::from_secs(300)
        {
            return Err(bad(
                "server.header_read_timeout",
                "must be between 100ms and 5m",
            ));
        }

        within(
            "server.shutdown_timeout",
            self.server.shutdown_timeout,
            Duration::from_millis(100),
            Duration::from_secs(300),
        )?;

        self.validate_connections()?;

        let l = &self.login;
        for (key, d) in [
            ("login.qr_ttl", l.qr_ttl),
            ("login.poll_hold", l.poll_hold),
            ("login.ticket_ttl", l.ticket_ttl),
            ("login.session_ttl", l.session_ttl),
        ] {
            if d < Duration::from_secs(1) {
                return Err(bad(key, "must be at least 1s"));
            }
            if d > Duration::from_secs(366 * 24 * 3600) {
                return Err(bad(key, "must be at most a year"));
            }
        }
        if l.poll_hold > Duration::from_secs(120) {
            return Err(bad(
                "login.poll_hold",
                "must be at most 120s (proxies and browsers cut longer requests)",
            ));
        }
        if l.poll_hold >= l.qr_ttl {
            return Err(bad("login.poll_hold", "must be shorter than login.qr_ttl"));
        }
        if self.store.purge_interval < Duration::from_millis(100) {
            return Err(bad("store.purge_interval", "must be at least 100ms"));
        }
        if self.store.backend == Backend::Redis {
            // Either one Redis by URL or the primary its sentinels name.
            crate::store::RedisTarget::from_config(&self.store)?;
        }
        if self.store.backend == Backend::RedisCluster {
            crate::store::RedisClusterSettings::from_config(&self.store)?;
        }
        if self.store.redis_timeout < Duration::from_millis(10)
            || self.store.redis_timeout > Duration::from_secs(60)
        {
            return Err(bad("store.redis_timeout", "must be between 10ms and 60s"));
        }
        let st = &self.store;
        let (ms, secs) = (Duration::from_millis, Duration::from_secs);
        let resync = st.redis_resync_interval;
        within("store.redis_resync_interval", resync, ms(100), secs(600))?;
        within(
            "store.redis_heartbeat",
            st.redis_heartbeat,
            ms(100),
            secs(600),
        )?;
        let (min, max) = (
            st.redis_resubscribe_min_delay,
            st.redis_resubscribe_max_delay,
        );
        within("store.redis_resubscribe_min_delay", min, ms(1), secs(60))?;
        within("store.redis_resubscribe_max_delay", max, ms(1), secs(60))?;
        let stable = st.redis_subscription_stable_after;
        within(
            "store.redis_subscription_stable_after",
            stable,
            ms(100),
            secs(3600),
        )?;
        if st.redis_resubscribe_max_delay < st.redis_resubscribe_min_delay {
            return Err(bad(
                "store.redis_resubscribe_max_delay",
                "must not be below store.redis_resubscribe_min_delay",
            ));
        }
        if self.store.key_prefix.chars().any(char::is_whitespace) {
            return Err(bad("store.key_prefix", "must not contain white space"));
        }

        let lim = &self.limits;
        if lim.qr_per_minute_per_ip == 0 {
            return Err(bad("limits.qr_per_minute_per_ip", "must be at least 1"));
        }
        if lim.mobile_per_minute_per_ip == 0 {
            return Err(bad("limits.mobile_per_minute_per_ip", "must be at least 1"));
        }
        if lim.max_live_sessions == 0 {
            return Err(bad("limits.max_live_sessions", "must be at least 1"));
        }
        if lim.user_code_per_minute_per_ip == 0 {
            return Err(bad(
                "limits.user_code_per_minute_per_ip",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            (
                "audit.refusals_per_minute_per_ip",
                self.audit.refusals_per_minute_per_ip,
            ),
            ("audit.refusals_per_second", self.audit.refusals_per_second),
        ] {
            if value == 0 {
                return Err(bad(key, "must be at least 1"));
            }
        }
        if lim.max_held_connections == Some(0) {
            return Err(bad("limits.max_held_connections", "must be at least 1"));
        }

        if let Some(key) = self.unread_secret_file() {
            return Err(bad(key, "was not read: load the config with Config::load"));
        }
        let auth = &self.mobile_auth;
        if let Some(secret) = &auth.jwt_hs256_secret
            && secret.expose().len() < 32
        {
            let key = match auth.jwt_hs256_secret_file {
                Some(_) => "mobile_auth.jwt_hs256_secret_file",
                None => "mobile_auth.jwt_hs256_secret",
            };
            return Err(bad(key, "must be at least 32 bytes (256 bits) long"));
        }
        if auth.jwt_hs256_secret.is_none()
            && auth.jwt_rs256_public_key.is_none()
            && self.users.is_empty()
        {
            return Err(bad(
                "mobile_auth",
                "no way to verify phone tokens: set jwt_hs256_secret or jwt_rs256_public_key, or add [[users]]",
            ));
        }

        let mut tokens = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            let key = |field: &str| format!("users[{i}].{field}");
            if u.token.expose().trim().is_empty() {
                return Err(bad(&key("token"), "must not be empty"));
            }
            if u.token.expose().matches('.').count() == 2 {
                return Err(bad(&key("token"), "must not look like a JWT (two dots)"));
            }
            if u.id.trim().is_empty() {
                return Err(bad(&key("id"), "must not be empty"));
            }
            if u.name.trim().is_empty() {
                return Err(bad(&key("name"), "must not be empty"));
            }
            if !tokens.insert(u.token.expose()) {
                return Err(bad(&key("token"), "is used by another user"));
            }
            if !ids.insert(u.id.as_str()) {
                return Err(bad(&key("id"), "is used by another user"));
            }
        }
        if let Err(e) = crate::telemetry::parse_filter(&self.log.filter) {
            return Err(bad("log.filter", e));
        }
        self.validate_oidc()
    }

    fn validate_forward_auth(&self) -> Result<(), ConfigError> {
        if let Some(domain) = &self.server.cookie_domain {
            let host = match self.server.public_url.host() {
                Some(url::Host::Domain(host)) => host,
                _ => "",
            };
            // Browsers refuse a cookie whose Domain does not cover the host
            // that sets it: no login would ever stick.
            if !domain.covers(host) {
                return Err(bad(
                    "server.cookie_domain",
                    format!(
                        "{:?} does not cover the host of server.public_url ({}): it must be that host or a parent domain of it",
                        domain.as_str(),
                        self.server.public_url.host_str().unwrap_or("none"),
                    ),
                ));
            }
        }
        let fa = &self.forward_auth;
        let mut names = std::collections::HashSet::new();
        for header in fa.headers.keys() {
            if !names.insert(header.name().as_str()) {
                return Err(bad(
                    "forward_auth.headers",
                    format!(
                        "{:?} is listed twice (header names ignore case)",
                        header.as_written()
                    ),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, policy) in fa.policies.iter().enumerate() {
            let key = |field: &str| format!("forward_auth.policies[{i}].{field}");
            let name_ok = !policy.name.is_empty()
                && policy.name.len() <= 64
                && policy
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !name_ok {
                return Err(bad(
                    &key("name"),
                    "must be 1-64 characters of A-Z a-z 0-9 - _ . (it goes in ?policy=, comma-separated)",
                ));
            }
            if !names.insert(policy.name.as_str()) {
                return Err(bad(&key("name"), "is used by another policy"));
            }
            if policy.users.is_empty() {
                return Err(bad(&key("users"), "must list at least one user id"));
            }
            if let Some(j) = policy.users.iter().position(|u| u.is_empty()) {
                return Err(bad(&key(&format!("users[{j}]")), "must not be empty"));
            }
        }
        Ok(())
    }

    fn validate_oidc(&self) -> Result<(), ConfigError> {
        let o = &self.oidc;
        let (secs, hours) = (Duration::from_secs, |h: u64| Duration::from_secs(h * 3600));
        within("oidc.code_ttl", o.code_ttl, secs(10), secs(600))?;
        within(
            "oidc.access_token_ttl",
            o.access_token_ttl,
            secs(60),
            hours(24),
        )?;
        within(
            "oidc.refresh_token_ttl",
            o.refresh_token_ttl,
            hours(1),
            hours(366 * 24),
        )?;
        within(
            "oidc.device_code_ttl",
            o.device_code_ttl,
            secs(60),
            secs(1800),
        )?;
        within(
            "oidc.device_poll_interval",
            o.device_poll_interval,
            secs(1),
            secs(60),
        )?;
        if o.device_code_ttl <= self.login.poll_hold {
            return Err(bad(
                "oidc.device_code_ttl",
                "must be longer than login.poll_hold",
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            let key = |field: &str| format!("clients[{i}].{field}");
            let id_ok = !c.client_id.is_empty()
                && c.client_id.len() <= 128
                && c.client_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !id_ok {
                return Err(bad(
                    &key("client_id"),
                    "must be 1-128 characters of A-Z a-z 0-9 - . _ ~",
                ));
            }
            if !ids.insert(c.client_id.as_str()) {
                return Err(bad(&key("client_id"), "is used by another client"));
            }
            if c.name.trim().is_empty() {
                return Err(bad(&key("name"), "must not be empty"));
            }
            if c.grant_types.is_empty() {
                return Err(bad(
                    &key("grant_types"),
                    "must list at least one grant type",
                ));
            }
            for (j, grant) in c.grant_types.iter().enumerate() {
                if !GRANT_TYPES.contains(&grant.as_str()) {
                    return Err(bad(
                        &key(&format!("grant_types[{j}]")),
                        format!("must be one of {}", GRANT_TYPES.join(", ")),
                    ));
                }
            }
            let browser_login = c.grant_types.iter().any(|g| g == "authorization_code");
            if !browser_login && !c.grant_types.iter().any(|g| g == DEVICE_CODE_GRANT) {
                return Err(bad(
                    &key("grant_types"),
                    "must include authorization_code or the device_code grant (refresh_token alone logs no one in)",
                ));
            }
            if browser_login && c.redirect_uris.is_empty() {
                return Err(bad(
                    &key("redirect_uris"),
                    "must list at least one URI (or leave authorization_code out of grant_types)",
                ));
            }
            for (j, uri) in c.redirect_uris.iter().enumerate() {
                check_redirect_uri(uri)
                    .map_err(|why| bad(&key(&format!("redirect_uris[{j}]")), why))?;
            }
            for (j, uri) in c.post_logout_redirect_uris.iter().enumerate() {
                check_redirect_uri(uri)
                    .map_err(|why| bad(&key(&format!("post_logout_redirect_uris[{j}]")), why))?;
            }
            match (&c.client_secret_sha256, c.public) {
                (Some(_), true) => {
                    return Err(bad(
                        &key("client_secret_sha256"),
                        "a public client has no secret: set either client_secret_sha256 or public = true",
                    ));
                }
                (None, false) => {
                    return Err(bad(
                        &key("client_secret_sha256"),
                        "is required unless public = true (make one with `qrlogin hash-secret`)",
                    ));
                }
                (Some(hex), false)
                    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    let field = match c.client_secret_sha256_file {
                        Some(_) => "client_secret_sha256_file",
                        None => "client_secret_sha256",
                    };
                    return Err(bad(
                        &key(field),
                        "must be 64 hex digits (the SHA-256 of the secret; `qrlogin hash-secret` prints it)",
                    ));
                }
                _ => {}
            }
            if !matches!(
                c.id_token_signed_response_alg.as_str(),
                "RS256" | "ES256" | "EdDSA"
            ) {
                return Err(bad(
                    &key("id_token_signed_response_alg"),
                    "must be RS256, ES256 or EdDSA",
                ));
            }
        }
        Ok(())
    }
}

/// Whether `url` points at this machine (`localhost`, 127.0.0.0/8, `[::1]`).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether `uri` may be registered as a redirect URI: absolute, without a
/// fragment (RFC 6749 §3.1.2), and https unless it points at this machine
/// (RFC 8252 §7.3 loopback redirects for native apps and development).
fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(uri).map_err(|_| "must be an absolute URL")?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err("must not contain a fragment (#)");
    }
    if url.cannot_be_a_base() {
        return Err("must be an absolute http(s) URL");
    }
    // The answer's own parameters would appear twice, and a client could
    // read a planted one (mix-up).
    let answer_params = [
        "code",
        "state",
        "iss",
        "error",
        "error_description",
        "error_uri",
    ];
    if url
        .query_pairs()
        .any(|(k, _)| answer_params.contains(&k.as_ref()))
    {
        return Err("must not carry code, state, iss or error parameters in its query");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            if is_loopback(&url) {
                Ok(())
            } else {
                Err("must be https (http only for loopback: 127.0.0.1, [::1], localhost)")
            }
        }
        _ => Err("must be an https URL"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The smallest valid config (other modules' tests build on it too).
    pub(crate) const MINIMAL: &str = r#"
        [server]
        listen = "127.0.0.1:0"
        public_url = "http://localhost:8080"
        [[users]]
        token = "demo-alice"
        id = "alice"
        name = "Alice"
    "#;

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_config_gets_sensible_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.login.qr_ttl, Duration::from_secs(300));
        assert_eq!(c.login.poll_hold, Duration::from_secs(25));
        assert_eq!(c.store.backend, Backend::Memory);
        assert_eq!(c.public_base(), "http://localhost:8080");
        assert!(!c.is_https());
    }

    #[test]
    fn the_shipped_demo_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let c = Config::load(&path).unwrap();
        assert!(!c.users.is_empty());
        assert_eq!(
            c.server.static_dir, None,
            "the demo serves the embedded pages"
        );
    }

    /// The `[log]` lines the demo config carries commented out are valid.
    #[test]
    fn the_demo_configs_log_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let demo = std::fs::read_to_string(path).unwrap();
        let text = demo
            .replace("# [log]", "[log]")
            .replace("# format = ", "format = ")
            .replace("# filter = ", "filter = ");
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.log.format, Some(LogFormat::Json));
        assert_eq!(c.log.filter, crate::telemetry::DEFAULT_FILTER);
        let msg = err(&format!("{MINIMAL}\n[log]\nformat = \"xml\""));
        assert!(msg.contains("log.format") && !msg.contains("xml"), "{msg}");
        assert!(
            err(&format!("{MINIMAL}\n[log]\nfilter = \"qrlogin=loud\"")).contains("log.filter")
        );
    }

    /// The forward-auth lines the demo config carries commented out are
    /// valid once uncommented (on a public_url the cookie domain covers).
    #[test]
    fn the_demo_configs_forward_auth_examples_are_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let demo = std::fs::read_to_string(path).unwrap();
        let examples = [
            "cookie_domain",
            "[forward_auth",
            "[[forward_auth",
            "allowed_redirect_hosts",
            "\"Remote-",
            "name = \"admins\"",
            "users = ",
        ];
        let mut uncommented = 0;
        let text: String = demo
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if examples.iter().any(|e| rest.starts_with(e)) => {
                    uncommented += 1;
                    format!("{rest}\n")
                }
                _ => format!("{line}\n"),
            })
            .collect();
        assert_eq!(uncommented, 9, "{text}");
        let text = text.replace("http://127.0.0.1:8080", "http://login.example.com:8080");
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.server.cookie_domain.unwrap().as_str(), "example.com");
        assert_eq!(c.forward_auth.headers.len(), 2);
        assert_eq!(c.forward_auth.policies.len(), 1);
        assert_eq!(c.forward_auth.allowed_redirect_hosts.len(), 2);
    }

    #[test]
    fn durations_are_human_readable() {
        let c = Config::parse(&format!(
            "{MINIMAL}\n[login]\nqr_ttl = \"2m 30s\"\npoll_hold = \"10s\""
        ))
        .unwrap();
        assert_eq!(c.login.qr_ttl, Duration::from_secs(150));
        assert!(err(&format!("{MINIMAL}\n[login]\nqr_ttl = \"five minutes\"")).contains("qr_ttl"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (MINIMAL.replace("127.0.0.1:0", "nope"), "listen"),
            (
                MINIMAL.replace("http://localhost:8080", "ftp://x"),
                "server.public_url",
            ),
            (
                MINIMAL.replace("http://localhost:8080", "http://x/?a=b"),
                "server.public_url",
            ),
            (
                format!("{MINIMAL}\n[login]\npoll_hold = \"10m\""),
                "login.poll_hold",
            ),
            (
                format!("{MINIMAL}\n[login]\npoll_hold = \"90s\"\nqr_ttl = \"60s\""),
                "login.poll_hold",
            ),
            (
                format!("{MINIMAL}\n[login]\nticket_ttl = \"0s\""),
                "login.ticket_ttl",
            ),
            (format!("{MINIMAL}\n[login]\ntypo = 1"), "typo"),
            // The allowed values, not the one written (it could be a
            // secret set under the wrong key).
            (
                format!("{MINIMAL}\n[store]\nbackend = \"mongo\""),
                "store.backend: unknown variant, expected one of `memory`, `redis`, `redis-cluster`",
            ),
            (
                format!("{MINIMAL}\n[store]\nbackend = \"redis\""),
                "store.redis_url",
            ),
            (
                format!("{MINIMAL}\n[store]\nbackend = \"redis\"\nredis_url = \"http://x\""),
                "store.redis_url",
            ),
            (
                format!("{MINIMAL}\n[store]\nredis_timeout = \"0s\""),
                "store.redis_timeout",
            ),
            (
                format!("{MINIMAL}\n[store]\nredis_heartbeat = \"10ms\""),
                "store.redis_heartbeat",
            ),
            (
                format!("{MINIMAL}\n[store]\nredis_heartbeat = \"1h\""),
                "store.redis_heartbeat",
            ),
            (
                format!("{MINIMAL}\n[store]\nredis_resync_interval = \"0s\""),
                "store.redis_resync_interval",
            ),
            (
                format!("{MINIMAL}\n[store]\nredis_resubscribe_min_delay = \"0s\""),
                "store.redis_resubscribe_min_delay",
            ),
            (
                format!("{MINIMAL}\n[store]\nredis_resubscribe_min_delay = \"3s\""),
                "store.redis_resubscribe_max_delay",
            ),
            (
                format!("{MINIMAL}\n[store]\nredis_subscription_stable_after = \"2h\""),
                "store.redis_subscription_stable_after",
            ),
            (
                format!("{MINIMAL}\n[mobile_auth]\njwt_hs256_secret = \"short\""),
                "jwt_hs256_secret",
            ),
            (
                format!("{MINIMAL}\n[limits]\nqr_per_minute_per_ip = 0"),
                "limits.qr_per_minute_per_ip",
            ),
            (
                format!("{MINIMAL}\n[audit]\nrefusals_per_minute_per_ip = 0"),
                "audit.refusals_per_minute_per_ip",
            ),
            (
                format!("{MINIMAL}\n[audit]\nrefusals_per_second = 0"),
                "audit.refusals_per_second",
            ),
            (
                format!("{MINIMAL}\n[[users]]\ntoken = \"demo-alice\"\nid = \"bob\"\nname = \"B\""),
                "users[1].token",
            ),
            (
                format!("{MINIMAL}\n[[users]]\ntoken = \"other\"\nid = \"alice\"\nname = \"B\""),
                "users[1].id",
            ),
            (MINIMAL.replace("demo-alice", "a.b.c"), "users[0].token"),
        ];
        for (text, key) in cases {
            let msg = err(&text);
            assert!(msg.contains(key), "expected {key:?} in {msg:?}");
        }
    }

    #[test]
    fn shutdown_and_held_connection_keys_are_read_and_checked() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.server.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(c.limits.max_held_connections, None, "derived at start-up");
        let with = |server: &str, limits: &str| {
            MINIMAL.replacen("[server]\n", &format!("[server]\n{server}\n"), 1)
                + &format!("\n[limits]\n{limits}\n")
        };
        let c = Config::parse(&with(
            "shutdown_timeout = \"1m 30s\"",
            "max_held_connections = 20000",
        ))
        .unwrap();
        assert_eq!(c.server.shutdown_timeout, Duration::from_secs(90));
        assert_eq!(c.limits.max_held_connections, Some(20_000));
        for (text, key) in [
            (
                with("shutdown_timeout = \"0s\"", ""),
                "server.shutdown_timeout",
            ),
            (
                with("shutdown_timeout = \"1h\"", ""),
                "server.shutdown_timeout",
            ),
            (with("shutdown_timeout = 10", ""), "shutdown_timeout"),
            (
                with("", "max_held_connections = 0"),
                "limits.max_held_connections",
            ),
            (
                with("", "max_held_connections = -1"),
                "max_held_connections",
            ),
        ] {
            let msg = err(&text);
            assert!(msg.contains(key), "expected {key:?} in {msg:?}");
        }
    }

    #[test]
    fn some_way_to_verify_phones_is_required() {
        let text = "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://x\"\n";
        assert!(err(text).contains("mobile_auth"));
        let ok = format!(
            "{text}[mobile_auth]\njwt_hs256_secret = \"{}\"\n",
            "k".repeat(32)
        );
        assert!(Config::parse(&ok).is_ok());
    }

    #[test]
    fn secrets_never_print() {
        let text = format!(
            "{MINIMAL}\n[store]\nbackend = \"redis\"\nredis_url = \"redis://:hunter2@localhost\""
        );
        let c = Config::parse(&text).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("demo-alice"));
        assert!(!debug.contains("hunter2"));
    }

    /// MINIMAL on `login.example.com` with the cookie on `domain`, then `extra`.
    fn on_example_com(domain: &str, extra: &str) -> String {
        let text = MINIMAL.replace("http://localhost:8080", "https://login.example.com");
        let text = text.replace(
            "[server]",
            &format!("[server]\ncookie_domain = \"{domain}\""),
        );
        format!("{text}\n{extra}")
    }

    #[test]
    fn forward_auth_keys_are_read() {
        let c = Config::parse(&on_example_com(
            "Example.COM",
            r#"
            [forward_auth]
            allowed_redirect_hosts = ["grafana.internal", "10.0.0.5:3000"]
            [forward_auth.headers]
            "Remote-User" = "id"
            "X-Auth-Avatar" = "avatar"
            [[forward_auth.policies]]
            name = "admins"
            users = ["alice"]
            "#,
        ))
        .unwrap();
        assert_eq!(c.server.cookie_domain.unwrap().as_str(), "example.com");
        let fa = &c.forward_auth;
        assert_eq!(fa.allowed_redirect_hosts.len(), 2);
        let headers: Vec<_> = fa
            .headers
            .iter()
            .map(|(h, f)| (h.as_written(), *f))
            .collect();
        assert_eq!(
            headers,
            [
                ("Remote-User", UserField::Id),
                ("X-Auth-Avatar", UserField::Avatar)
            ]
        );
        assert_eq!(fa.policies[0].users, ["alice"]);

        // The parent domain itself may be the login host; unset, nothing changes.
        let c = Config::parse(
            &on_example_com("example.com", "").replace("login.example.com", "example.com"),
        );
        assert!(c.is_ok());
        let c = Config::parse(MINIMAL).unwrap();
        assert!(c.server.cookie_domain.is_none() && c.forward_auth.headers.is_empty());
    }

    #[test]
    fn bad_forward_auth_keys_name_their_key() {
        let policy = |name: &str, users: &str| {
            format!("[[forward_auth.policies]]\nname = \"{name}\"\nusers = {users}\n")
        };
        let cases = [
            (on_example_com("com", ""), "server.cookie_domain"),
            (on_example_com("127.0.0.1", ""), "server.cookie_domain"),
            (
                on_example_com("example.com:443", ""),
                "server.cookie_domain",
            ),
            (on_example_com("example.com.", ""), "server.cookie_domain"),
            // It must cover public_url's host, or browsers drop the cookie.
            (on_example_com("other.com", ""), "server.cookie_domain"),
            (
                on_example_com("app.example.com", ""),
                "server.cookie_domain",
            ),
            (
                on_example_com("example.com", "").replace("login.example.com", "127.0.0.1"),
                "server.cookie_domain",
            ),
            (
                on_example_com("example.com", "").replace("login.example.com", "login.example.org"),
                "server.cookie_domain",
            ),
            (
                on_example_com(
                    "example.com",
                    "[forward_auth]\nallowed_redirect_hosts = [\"https://x.org\"]",
                ),
                "forward_auth.allowed_redirect_hosts",
            ),
            (
                on_example_com(
                    "example.com",
                    "[forward_auth.headers]\n\"Set-Cookie\" = \"id\"",
                ),
                "forward_auth.headers",
            ),
            (
                on_example_com(
                    "example.com",
                    "[forward_auth.headers]\n\"X-A\" = \"id\"\n\"x-a\" = \"name\"",
                ),
                "forward_auth.headers",
            ),
            (
                on_example_com(
                    "example.com",
                    "[forward_auth.headers]\n\"X-Mail\" = \"email\"",
                ),
                "forward_auth.headers.X-Mail: unknown variant, expected one of `id`, `name`, `avatar`",
            ),
            (
                on_example_com("example.com", "[forward_auth]\ntypo = 1"),
                "typo",
            ),
            (
                on_example_com("example.com", &policy("a,b", "[\"alice\"]")),
                "forward_auth.policies[0].name",
            ),
            (
                on_example_com("example.com", &policy("", "[\"alice\"]")),
                "forward_auth.policies[0].name",
            ),
            (
                on_example_com(
                    "example.com",
                    &format!(
                        "{}{}",
                        policy("admins", "[\"alice\"]"),
                        policy("admins", "[\"bob\"]")
                    ),
                ),
                "forward_auth.policies[1].name",
            ),
            (
                on_example_com("example.com", &policy("admins", "[]")),
                "forward_auth.policies[0].users",
            ),
            (
                on_example_com("example.com", &policy("admins", "[\"alice\", \"\"]")),
                "forward_auth.policies[0].users[1]",
            ),
        ];
        for (text, key) in cases {
            let msg = err(&text);
            assert!(msg.contains(key), "expected {key:?} in {msg:?}");
        }
    }

    const SHOP: &str = r#"
        [[clients]]
        client_id = "shop"
        name = "Example Shop"
        redirect_uris = ["https://shop.example/callback", "http://127.0.0.1:3000/cb"]
        client_secret_sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
    "#;

    #[test]
    fn clients_are_read_with_defaults() {
        let c = Config::parse(&format!("{MINIMAL}{SHOP}")).unwrap();
        assert_eq!(c.clients.len(), 1);
        assert_eq!(c.clients[0].id_token_signed_response_alg, "RS256");
        assert!(!c.clients[0].public);
        assert_eq!(c.oidc.code_ttl, Duration::from_secs(600));
        assert_eq!(c.oidc.access_token_ttl, Duration::from_secs(3600));
    }

    #[test]
    fn device_clients_need_no_redirect_uris() {
        let tv = r#"
            [[clients]]
            client_id = "tv"
            name = "TV"
            public = true
            grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
        "#;
        let c = Config::parse(&format!("{MINIMAL}{tv}")).unwrap();
        assert!(c.clients[0].redirect_uris.is_empty());
        assert_eq!(c.oidc.device_code_ttl, Duration::from_secs(600));
        assert_eq!(c.oidc.device_poll_interval, Duration::from_secs(5));
        assert_eq!(
            Config::parse(&format!("{MINIMAL}{SHOP}")).unwrap().clients[0].grant_types,
            ["authorization_code", "refresh_token"]
        );
        let cases = [
            (
                tv.replace("\"refresh_token\"", "\"implicit\""),
                "clients[0].grant_types[1]",
            ),
            (
                tv.replace(
                    r#"["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]"#,
                    "[]",
                ),
                "clients[0].grant_types",
            ),
            (
                tv.replace("\"refresh_token\"", "\"authorization_code\""),
                "clients[0].redirect_uris",
            ),
            (
                tv.replace(
                    r#"["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]"#,
                    r#"["refresh_token"]"#,
                ),
                "clients[0].grant_types",
            ),
            (
                format!("{tv}\n[oidc]\ndevice_code_ttl = \"2h\""),
                "oidc.device_code_ttl",
            ),
            (
                format!("{tv}\n[oidc]\ndevice_poll_interval = \"0s\""),
                "oidc.device_poll_interval",
            ),
            (
                format!("{tv}\n[limits]\nuser_code_per_minute_per_ip = 0"),
                "limits.user_code_per_minute_per_ip",
            ),
        ];
        for (text, key) in cases {
            let e = err(&format!("{MINIMAL}{text}"));
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn bad_clients_are_refused_naming_the_key() {
        let with = |from: &str, to: &str| format!("{MINIMAL}{}", SHOP.replace(from, to));
        let cases = [
            (format!("{MINIMAL}{SHOP}{SHOP}"), "clients[1].client_id"),
            (with("\"shop\"", "\"sh op\""), "clients[0].client_id"),
            (with("\"Example Shop\"", "\" \""), "clients[0].name"),
            (
                with("https://shop.example/callback", "/callback"),
                "clients[0].redirect_uris[0]",
            ),
            (
                with("https://shop.example/callback", "https://shop.example/cb#x"),
                "clients[0].redirect_uris[0]",
            ),
            (
                with("https://shop.example/callback", "http://shop.example/cb"),
                "clients[0].redirect_uris[0]",
            ),
            (
                with("http://127.0.0.1:3000/cb", "javascript:alert(1)"),
                "clients[0].redirect_uris[1]",
            ),
            (
                with("http://127.0.0.1:3000/cb", "https://u:p@shop.example/cb"),
                "clients[0].redirect_uris[1]",
            ),
            (
                with(
                    "redirect_uris = [\"https://shop.example/callback\", \"http://127.0.0.1:3000/cb\"]",
                    "redirect_uris = []",
                ),
                "clients[0].redirect_uris",
            ),
            (
                with("5e884898", "zz884898"),
                "clients[0].client_secret_sha256",
            ),
            (
                with(
                    "client_secret_sha256",
                    "public = true\nclient_secret_sha256",
                ),
                "clients[0].client_secret_sha256",
            ),
            (
                with(
                    "client_secret_sha256 = \"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"",
                    "",
                ),
                "clients[0].client_secret_sha256",
            ),
            (
                with("name =", "id_token_signed_response_alg = \"HS256\"\nname ="),
                "clients[0].id_token_signed_response_alg",
            ),
            (
                format!("{MINIMAL}{SHOP}[oidc]\ncode_ttl = \"11m\"\n"),
                "oidc.code_ttl",
            ),
            (
                format!("{MINIMAL}{SHOP}[oidc]\naccess_token_ttl = \"2d\"\n"),
                "oidc.access_token_ttl",
            ),
        ];
        for (text, key) in cases {
            let msg = err(&text);
            assert!(msg.contains(key), "expected {key:?} in {msg:?}");
        }
    }

    #[test]
    fn pages_links_are_checked_and_the_app_link_is_filled_in() {
        for (table, key) in [
            (
                "other_login_url = \"ftp://x.example/\"",
                "pages.other_login_url",
            ),
            (
                "app_store_url = \"javascript:alert(1)\"",
                "pages.app_store_url",
            ),
            ("app_link = \"myapp://qrlogin\"", "pages.app_link"),
            ("app_link = \"javascript:go({url})\"", "pages.app_link"),
            ("app_link = \"no scheme {url}\"", "pages.app_link"),
        ] {
            let msg = err(&format!("{MINIMAL}[pages]\n{table}\n"));
            assert!(msg.contains(key), "expected {key:?} in {msg:?}");
        }
        let config = Config::parse(&format!(
            "{MINIMAL}[pages]\napp_link = \"myapp://qrlogin?url={{url}}\"\n\
             other_login_url = \"https://sso.example/login\"\n"
        ))
        .unwrap();
        assert_eq!(
            config
                .pages
                .app_link_for("https://a.example/l/AbC?x=1&y")
                .as_deref(),
            Some("myapp://qrlogin?url=https%3A%2F%2Fa.example%2Fl%2FAbC%3Fx%3D1%26y")
        );
    }

    #[test]
    fn loopback_redirects_may_be_http() {
        for ok in [
            "http://localhost:8000/cb",
            "http://[::1]/cb",
            "http://127.0.0.1/cb",
            "https://a.example/cb?x=1",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/cb",
            "http://localhost.evil.example/cb",
            "ftp://a.example/",
            "urn:x",
            "https://a.example/#",
            "https://a.example/cb?state=x",
            "https://a.example/cb?a=1&code=2",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
