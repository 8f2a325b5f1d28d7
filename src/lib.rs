//! qrlogin: log in on a computer by scanning a QR code with a phone that is
//! already logged in — WeChat's long-poll protocol (408/201/200/202/400).
//!
//! A tour of the crate, from the inside out:
//!
//! - [`session`]: the QR login session as plain data and pure transitions
//!   (`pending → scanned → confirmed → redeemed`, `→ cancelled`, `→ expired`).
//! - [`secret`]: tokens from the OS CSPRNG, stored only as hashes, compared in
//!   constant time; the one-time ticket derivation.
//! - [`clock`]: time is read once at the edge and passed down.
//! - [`store`]: the [`store::SessionStore`] trait (compare-and-set writes and
//!   "wait until this session changes"), the optional [`store::Sweep`] of
//!   expired entries, and the in-memory and Redis implementations (both pass
//!   one conformance suite, which lives in the integration tests).
//! - [`auth`]: verifying the phone's bearer token (demo tokens, HS256/RS256 JWTs).
//! - [`login`]: the operations (create, poll, scan, confirm, cancel, redeem),
//!   each read → transition → compare-and-set.
//! - [`error`]: the one error type, mapped to JSON responses.
//! - [`http`]: the router, extractors and handlers (thin delegations to [`login`]).
//! - [`config`]: typed TOML configuration validated at start-up.
//! - [`startup`]: binding with a large backlog, serving, graceful shutdown.
//!
//! The binary (`src/main.rs`) parses the command line, loads the config and
//! calls [`startup::Server`].

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod login;
pub mod secret;
pub mod session;
pub mod startup;
pub mod store;
pub mod telemetry;

pub use app::App;
pub use error::Error;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, std::io::Error),
}
