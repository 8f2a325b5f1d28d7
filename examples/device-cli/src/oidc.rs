//! The OAuth side, all through `openidconnect`: discovery (with the JWKS),
//! the device authorization request, the token polling loop (with qrlogin's
//! `wait` extension, or plain RFC 8628), and ID token verification.

use crate::{Error, Settings};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreDeviceAuthorizationResponse, CoreGrantType, CoreIdTokenClaims, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AdditionalProviderMetadata, ClientId, ClientSecret, DeviceAuthorizationUrl,
    DeviceCodeErrorResponseType, EndpointMaybeSet, EndpointNotSet, EndpointSet, ErrorResponseType,
    HttpClientError, IssuerUrl, Nonce, OAuth2TokenResponse, ProviderMetadata, RequestTokenError,
    Scope, StandardErrorResponse, TokenResponse, reqwest,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// How long the provider may hold a token request, asked with `wait`. The
/// provider caps it at its own hold (25 s by default in qrlogin), so asking
/// for more gains nothing and asking for less only costs requests.
pub const WAIT: Duration = Duration::from_secs(25);

/// The one discovery field beyond the core ones that the client needs
/// (RFC 8628 section 4; the Okta example in `openidconnect` does the same).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DeviceMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<DeviceAuthorizationUrl>,
}
impl AdditionalProviderMetadata for DeviceMetadata {}

/// The provider's discovery document with RFC 8628's endpoint.
pub type Metadata = ProviderMetadata<
    DeviceMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A client built from discovery with the device authorization endpoint
/// set; the token URL is set when the document has one.
type Client = CoreClient<
    EndpointSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The HTTP client every request goes through.
pub fn http_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        // openidconnect's advice: following redirects opens the client up to SSRF.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        // Longer than a held token request, which answers within WAIT.
        .timeout(WAIT + Duration::from_secs(15))
        .build()
        .map_err(|e| Error::Usage(format!("cannot build the HTTP client: {e}")))
}

/// The provider, discovered, with this client's registration.
#[derive(Debug)]
pub struct Provider {
    client: Client,
    issuer: String,
}

impl Provider {
    /// Fetches the discovery document and the JWKS. openidconnect checks
    /// that the document's `issuer` is exactly `settings.issuer`.
    pub async fn discover(settings: &Settings, http: &reqwest::Client) -> Result<Self, Error> {
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| Error::Usage(format!("--issuer {:?}: {e}", settings.issuer)))?;
        let metadata = Metadata::discover_async(issuer, http)
            .await
            .map_err(|e| match &e {
                openidconnect::DiscoveryError::Request(request) if unreachable(request) => {
                    Error::Unreachable {
                        issuer: settings.issuer.clone(),
                        detail: error_chain(&e),
                    }
                }
                _ => Error::Provider(format!("discovery failed: {}", error_chain(&e))),
            })?;
        let device_endpoint = metadata
            .additional_metadata()
            .device_authorization_endpoint
            .clone()
            .ok_or_else(|| Error::NoDeviceGrant(settings.issuer.clone()))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_device_authorization_url(device_endpoint);
        Ok(Self {
            client,
            issuer: settings.issuer.clone(),
        })
    }

    /// RFC 8628 section 3.1: asks for a device code and a user code.
    /// openidconnect adds the `openid` scope itself.
    pub async fn start(
        &self,
        scopes: &[String],
        http: &reqwest::Client,
    ) -> Result<CoreDeviceAuthorizationResponse, Error> {
        self.client
            .exchange_device_code()
            .add_scopes(
                scopes
                    .iter()
                    .filter(|s| *s != "openid")
                    .map(|s| Scope::new(s.clone())),
            )
            .request_async(http)
            .await
            .map_err(|e| self.refusal(&e))
    }

    /// RFC 8628 section 3.4, polled by openidconnect's own loop: it waits
    /// `interval` after each `authorization_pending`, adds 5 s on
    /// `slow_down`, backs off on network errors, and gives up when the code
    /// expires. With `wait`, each request also carries `wait=25`, so
    /// qrlogin holds it until the phone answers: a confirm while a request
    /// is held (25 s of every 30) arrives within milliseconds, one during
    /// the loop's pause at the next request. The loop needs no change for
    /// it: a held request that times out answers `authorization_pending`
    /// like any other. (qrlogin counts `interval` from each request's
    /// arrival, so a client could follow a held answer at once; this loop
    /// pauses anyway, which is merely slower.) A provider that does not
    /// know `wait` ignores it (RFC 6749 section 3.2).
    pub async fn poll(
        &self,
        device: &CoreDeviceAuthorizationResponse,
        wait: bool,
        http: &reqwest::Client,
    ) -> Result<CoreTokenResponse, Error> {
        let mut request = self
            .client
            .exchange_device_access_token(device)
            .map_err(|e| Error::Provider(format!("the provider has no token endpoint: {e}")))?;
        if wait {
            request = request.add_extra_param("wait", WAIT.as_secs().to_string());
        }
        request
            .request_async(http, tokio::time::sleep, None)
            .await
            .map_err(|e| match &e {
                RequestTokenError::ServerResponse(refusal) => match refusal.error() {
                    DeviceCodeErrorResponseType::AccessDenied => Error::Declined,
                    DeviceCodeErrorResponseType::ExpiredToken => Error::Expired,
                    _ => self.refusal(&e),
                },
                _ => self.refusal(&e),
            })
    }

    /// The ID token's signature (against the JWKS from discovery), `iss`,
    /// `aud` (this client) and `exp`, then `at_hash` when present. There is
    /// no nonce to check: a device authorization request has no `nonce`
    /// parameter, and the token comes straight from the token endpoint.
    pub fn verify(&self, tokens: &CoreTokenResponse) -> Result<CoreIdTokenClaims, Error> {
        let id_token = tokens
            .id_token()
            .ok_or_else(|| Error::IdToken("the token response has no id_token".into()))?;
        let verifier = self.client.id_token_verifier();
        let bad = |e: &dyn std::error::Error| Error::IdToken(error_chain(e));
        let claims = id_token
            .claims(&verifier, |_: Option<&Nonce>| Ok(()))
            .map_err(|e| bad(&e))?;
        if let Some(expected) = claims.access_token_hash() {
            let actual = AccessTokenHash::from_token(
                tokens.access_token(),
                id_token.signing_alg().map_err(|e| bad(&e))?,
                id_token.signing_key(&verifier).map_err(|e| bad(&e))?,
            )
            .map_err(|e| bad(&e))?;
            if actual != *expected {
                return Err(Error::IdToken(
                    "at_hash does not match the access token".into(),
                ));
            }
        }
        Ok(claims.clone())
    }

    /// Maps a failed request: no answer is [`Error::Unreachable`], a
    /// refusal that names this client's registration is [`Error::Client`],
    /// anything else [`Error::Provider`].
    fn refusal<T>(
        &self,
        error: &RequestTokenError<HttpClientError<reqwest::Error>, StandardErrorResponse<T>>,
    ) -> Error
    where
        T: ErrorResponseType + AsRef<str> + fmt::Display + 'static,
    {
        match error {
            RequestTokenError::Request(request) if unreachable(request) => Error::Unreachable {
                issuer: self.issuer.clone(),
                detail: error_chain(error),
            },
            RequestTokenError::ServerResponse(refusal) => {
                let code = refusal.error().as_ref();
                let text = match refusal.error_description() {
                    Some(description) => format!("{code}: {description}"),
                    None => code.to_owned(),
                };
                if CLIENT_ERRORS.contains(&code) {
                    Error::Client(text)
                } else {
                    Error::Provider(text)
                }
            }
            _ => Error::Provider(error_chain(error)),
        }
    }
}

/// The refusals that mean the client is not registered (or not for this
/// grant or scope) at this provider: fixed by configuration, not by retrying.
const CLIENT_ERRORS: [&str; 3] = ["invalid_client", "unauthorized_client", "invalid_scope"];

/// Whether a request failed for want of an answer (refused connection,
/// unknown host, timeout) rather than with a bad one.
fn unreachable(error: &HttpClientError<reqwest::Error>) -> bool {
    match error {
        HttpClientError::Reqwest(e) => e.is_connect() || e.is_timeout(),
        _ => false,
    }
}

/// An error and its sources, one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
