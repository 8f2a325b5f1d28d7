//! Who is calling: the phone's bearer token, verified by the server itself.

pub mod mobile;

pub use mobile::{AuthError, MobileVerifier};
