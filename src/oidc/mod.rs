//! The OpenID Connect provider.

pub mod client_secret;
pub mod keys;

pub use client_secret::client_secret_sha256;
