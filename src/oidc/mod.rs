//! The OpenID Connect provider.

pub mod keys;
