//! qrlogin: log in on a computer by scanning a QR code with a phone that is
//! already logged in — WeChat's long-poll protocol (408/201/200/202/400).
//!
//! A tour of the crate, from the inside out:
//!
//! - [`session`]: the QR login session as plain data and pure transitions
//!   (`pending → scanned → confirmed → redeemed`, `→ cancelled`, `→ expired`).
//!   Every who-may-do-what decision (poll token, confirm token, ticket,
//!   browser binding) is made here.
//! - [`number_match`]: the two-digit number a login page shows and the
//!   phone must pick among three (`login.number_matching`).
//! - [`secret`]: tokens from the OS CSPRNG, stored only as hashes (a distinct
//!   type per kind), compared in constant time; the one-time ticket derivation.
//! - [`clock`]: time is read once at the edge and passed down.
//! - [`store`]: the [`store::SessionStore`] trait (compare-and-set writes and
//!   "wait until this session changes"), the optional [`store::Sweep`] of
//!   expired entries, the in-memory and Redis backends (both pass one
//!   conformance suite, which lives in the integration tests), and
//!   [`store::Store`], the one chosen by the config.
//! - [`login`]: the [`login::LoginService`] — create, poll, scan, confirm,
//!   cancel, redeem, each read → transition → compare-and-set — and its
//!   domain error [`login::LoginError`], which knows nothing of HTTP.
//! - [`oidc`]: the OpenID Connect provider — relying sites log users in
//!   through a QR login; codes, grants and tokens live in the same store.
//! - [`relay`]: what the phone is told to spot a relayed login — how near
//!   the asking browser is, where (GeoIP), and what device it says it is.
//! - [`user_sessions`]: what a user is logged in to (browser logins, client
//!   grants), for the phone to list and end.
//! - [`observe`]: the services emit one stream of typed events into an
//!   [`observe::Observer`], which feeds the Prometheus metrics and the audit log.
//! - [`auth`]: verifying the phone's bearer token (demo tokens, HS256/RS256 JWTs).
//! - [`forward_auth`]: nginx `auth_request` — a location's rules, the
//!   headers naming the user, and where a browser may return after logging
//!   in (`?rd=`).
//! - [`api`]: the JSON contract — every body as a type, every path.
//! - [`http`]: the router (and the OpenAPI document generated from it),
//!   extractors, rate limits, thin handlers, and [`http::ApiError`], the one
//!   table from failures to statuses.
//! - [`config`]: typed configuration from a TOML file and `QRLOGIN_*`
//!   environment variables, secrets from files, validated at start-up.
//! - [`telemetry`]: log lines (JSON or pretty), each carrying the id of the
//!   request it was written for.
//! - [`startup`]: [`startup::Application`] builds all of it from a `Config`,
//!   binds with a large backlog, serves, shuts down gracefully.
//!
//! The binary (`src/main.rs`) parses the command line and runs one of the
//! [`cli`] commands: `serve` loads the config and runs an
//! [`startup::Application`].

pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod forward_auth;
pub mod http;
pub mod login;
pub mod number_match;
pub mod observe;
pub mod oidc;
pub mod relay;
pub mod secret;
pub mod session;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod user_sessions;

pub use startup::{Application, StartError};
