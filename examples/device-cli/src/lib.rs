//! An example OAuth 2.0 device client (RFC 8628): how a TV app, or a CLI on
//! a server, logs in with qrlogin (or any OpenID provider with the device
//! grant) by a scan of a QR code printed in the terminal.
//!
//! [`run`] discovers the provider, starts the device authorization, prints
//! the QR code of `verification_uri_complete` (and the URL and user code for
//! people who type them), waits for the phone, and prints the verified
//! id_token's claims:
//!
//! - [`oidc`]: everything OAuth, through the maintained `openidconnect`
//!   crate: discovery and the JWKS, the device authorization request, the
//!   token polling loop (holding each request with qrlogin's `wait`
//!   extension, or plain RFC 8628 polling), the ID token's verification.
//! - [`terminal`]: the QR code as Unicode half blocks, black on white.
//!
//! `main.rs` (the `qrlogin-device-login` binary) is a thin shell that parses
//! flags into [`Settings`], runs [`run`] with stdout, and turns an [`Error`]
//! into its exit code; the tests run [`run`] in-process with a buffer.
//!
//! Exit codes: 0 logged in; 1 declined on the phone or the code expired;
//! 2 usage or configuration (bad flags, a client the provider does not
//! know or does not allow the device grant, a provider without it);
//! 3 the provider could not be reached or failed (including an id_token
//! that does not verify).

pub mod oidc;
pub mod terminal;

/// The `openidconnect` whose types [`LoggedIn`] holds, for callers to name them.
pub use openidconnect;

use openidconnect::OAuth2TokenResponse;
use openidconnect::core::{CoreIdTokenClaims, CoreTokenResponse};
use std::fmt;
use std::io::Write;
pub use terminal::Colours;

/// What the client needs to know: who the provider is, who the client is
/// there, what to ask for and how to wait.
#[derive(Clone)]
pub struct Settings {
    /// The provider's issuer identifier, exactly as its discovery document
    /// states it (e.g. `http://127.0.0.1:8080`).
    pub issuer: String,
    pub client_id: String,
    /// `None` for a public client, the usual case for a device: a secret
    /// shipped in every TV is no secret.
    pub client_secret: Option<String>,
    /// The scopes to ask for; `openid` is always asked for.
    pub scopes: Vec<String>,
    /// Send qrlogin's `wait` extension so the provider holds each token
    /// request until the phone answers; `false` polls as plain RFC 8628.
    pub wait: bool,
    /// How to colour the QR code.
    pub colours: Colours,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("scopes", &self.scopes)
            .field("wait", &self.wait)
            .field("colours", &self.colours)
            .finish()
    }
}

/// Why the login did not happen; `Display` is the message for the user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("declined on the phone")]
    Declined,
    #[error("the code expired; run again")]
    Expired,
    #[error("{0}")]
    Usage(String),
    #[error(
        "{0} does not offer the device grant: its discovery document has no \
         device_authorization_endpoint"
    )]
    NoDeviceGrant(String),
    #[error(
        "the provider refused this client ({0}); check --client-id, the secret and \
         --scope against its registration"
    )]
    Client(String),
    #[error("cannot reach the provider at {issuer}: {detail}")]
    Unreachable { issuer: String, detail: String },
    #[error("the provider failed: {0}")]
    Provider(String),
    #[error("the id_token did not verify, so you are not logged in: {0}")]
    IdToken(String),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    /// The process exit code for this failure (see the crate docs).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Declined | Self::Expired => 1,
            Self::Usage(_) | Self::NoDeviceGrant(_) | Self::Client(_) => 2,
            Self::Unreachable { .. } | Self::Provider(_) | Self::IdToken(_) | Self::Output(_) => 3,
        }
    }
}

/// A finished login: the verified claims and the tokens (an app keeps the
/// access token to call APIs, the refresh token to stay logged in).
pub struct LoggedIn {
    pub claims: CoreIdTokenClaims,
    pub tokens: CoreTokenResponse,
}

impl fmt::Debug for LoggedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggedIn")
            .field("sub", &self.claims.subject().as_str())
            .field("scopes", &self.tokens.scopes())
            .field("refresh_token", &self.tokens.refresh_token().is_some())
            .finish_non_exhaustive()
    }
}

/// Logs in: discovery, device authorization, the QR code and instructions
/// on `out`, the wait for the phone, and the verified claims as pretty JSON
/// on `out`.
pub async fn run<W: Write + Send>(settings: &Settings, out: &mut W) -> Result<LoggedIn, Error> {
    let http = oidc::http_client()?;
    let provider = oidc::Provider::discover(settings, &http).await?;
    let device = provider.start(&settings.scopes, &http).await?;

    let verification_uri = device.verification_uri().as_str();
    // The complete URI is optional in RFC 8628; without it the QR code
    // opens the page and the user types the code there.
    let scan_target = device
        .verification_uri_complete()
        .map_or(verification_uri, |uri| uri.secret().as_str());
    let qr = terminal::qr_lines(scan_target, settings.colours)
        .map_err(|e| Error::Provider(format!("cannot draw {scan_target:?} as a QR code: {e}")))?;
    writeln!(out, "To log in, scan this code with your phone:\n")?;
    write!(out, "{qr}")?;
    writeln!(
        out,
        "\nOr open {verification_uri} and enter the code {}",
        device.user_code().secret()
    )?;
    if scan_target != verification_uri {
        writeln!(out, "(the code's link: {scan_target})")?;
    }
    writeln!(
        out,
        "\nWaiting for you to confirm on the phone (the code expires in {} min)...",
        device.expires_in().as_secs().div_ceil(60)
    )?;
    out.flush()?;

    let tokens = provider.poll(&device, settings.wait, &http).await?;
    let claims = provider.verify(&tokens)?;

    let json = serde_json::to_string_pretty(&claims)
        .map_err(|e| Error::Provider(format!("cannot print the claims: {e}")))?;
    writeln!(
        out,
        "\nLogged in as {}. The id_token verified (signature against the provider's keys, \
         iss, aud, exp); its claims:\n{json}",
        claims.subject().as_str()
    )?;
    out.flush()?;
    Ok(LoggedIn { claims, tokens })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phone_s_answers_exit_1_configuration_2_the_rest_3() {
        assert_eq!(Error::Declined.exit_code(), 1);
        assert_eq!(Error::Expired.exit_code(), 1);
        assert_eq!(Error::Client("invalid_client".into()).exit_code(), 2);
        assert_eq!(Error::NoDeviceGrant("x".into()).exit_code(), 2);
        let unreachable = Error::Unreachable {
            issuer: "http://127.0.0.1:9".into(),
            detail: "connection refused".into(),
        };
        assert_eq!(unreachable.exit_code(), 3);
        assert_eq!(Error::Declined.to_string(), "declined on the phone");
        assert_eq!(Error::Expired.to_string(), "the code expired; run again");
    }

    #[test]
    fn settings_debug_hides_the_secret() {
        let settings = Settings {
            issuer: "http://127.0.0.1:8080".into(),
            client_id: "tv".into(),
            client_secret: Some("hunter2".into()),
            scopes: vec!["openid".into()],
            wait: true,
            colours: Colours::BlackOnWhite,
        };
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
}
