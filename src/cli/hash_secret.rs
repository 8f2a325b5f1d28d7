//! `qrlogin hash-secret`: a fresh OpenID Connect client secret and the
//! `[[clients]]` line holding its hash.

/// Prints a fresh client secret and the `[[clients]]` line that stores its hash.
#[allow(
    clippy::print_stdout,
    reason = "the output is for the operator to copy, not a log line; the hint goes \
              to stderr so stdout stays two lines a script can read"
)]
pub(super) fn hash_secret() {
    let secret = crate::secret::Secret::generate();
    let hash = crate::oidc::client_secret_sha256(secret.expose());
    println!("{}", secret.expose());
    println!("client_secret_sha256 = \"{hash}\"");
    eprintln!(
        "The secret (first line) is shown only this once: give it to the client. \
         Paste the second line into the client's [[clients]] entry, or set it as \
         QRLOGIN_CLIENT_SECRET_SHA256__<CLIENT_ID>."
    );
}
