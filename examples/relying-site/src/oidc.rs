//! The OpenID Connect side of the site, all through `openidconnect`:
//! discovery, the authorization request, the callback's checks, the code
//! exchange, ID token and userinfo verification, and the logout URL.

use crate::sessions::{LoggedIn, PendingLogin, Sessions, constant_time_eq};
use crate::{Settings, SetupError};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreIdToken, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, LogoutProviderMetadata,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl,
    ProviderMetadata, RedirectUrl, Scope, TokenResponse, reqwest,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use url::Url;

/// Discovery fields beyond the core ones that the site acts on.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExtraMetadata {
    /// RFC 9207: the provider puts `iss` in its authorization responses, so
    /// a response without it (or with another) is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

/// The provider's discovery document, with RP-initiated logout's
/// `end_session_endpoint` and RFC 9207's flag.
pub type Metadata = ProviderMetadata<
    LogoutProviderMetadata<ExtraMetadata>,
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

/// A client built from discovery: authorization URL set, token and userinfo
/// URLs set when the document has them.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a login or logout did not go through. The `Display` text is for the
/// log; the page shows only [`OidcError::page_text`].
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// The provider answered the authorization request with an error
    /// (e.g. `access_denied` when the user cancelled on the phone).
    #[error("the provider refused: {error} {description:?}")]
    Provider {
        error: String,
        description: Option<String>,
    },
    #[error("no login in progress for this browser, or its state does not match")]
    StaleLogin,
    #[error("authorization response: {0}")]
    BadResponse(String),
    #[error("token exchange failed: {0}")]
    Token(String),
    #[error("ID token refused: {0}")]
    IdToken(String),
    #[error("userinfo failed: {0}")]
    UserInfo(String),
    #[error("too many sessions")]
    Busy,
}

impl OidcError {
    /// Whether the provider (or the way to it) failed, rather than this
    /// browser's request.
    pub fn is_upstream(&self) -> bool {
        matches!(
            self,
            Self::Discovery(_) | Self::Token(_) | Self::IdToken(_) | Self::UserInfo(_)
        )
    }

    /// What the visitor is told; detail stays in the log.
    pub fn page_text(&self) -> String {
        match self {
            Self::Discovery(_) => "The login provider cannot be reached. Try again shortly.".into(),
            Self::Provider { error, description } => {
                let why = match error.as_str() {
                    "access_denied" => "the login was cancelled",
                    "login_required" | "consent_required" | "interaction_required" => {
                        "the provider needs you to log in there"
                    }
                    _ => "the provider refused the login",
                };
                match description {
                    Some(description) => format!("Not logged in: {why} ({error}: {description})."),
                    None => format!("Not logged in: {why} ({error})."),
                }
            }
            Self::StaleLogin => {
                "This login has expired or was started in another browser. Please log in again."
                    .into()
            }
            Self::BadResponse(why) => format!("The provider's answer was refused: {why}."),
            Self::Token(_) | Self::IdToken(_) | Self::UserInfo(_) => {
                "The provider's answer did not verify, so you are not logged in.".into()
            }
            Self::Busy => "The site is busy. Try again shortly.".into(),
        }
    }
}

/// The query string the provider sends the browser back with.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The provider as this site sees it, and the site's sessions.
#[derive(Debug)]
pub struct Provider {
    settings: Settings,
    issuer: IssuerUrl,
    redirect_uri: RedirectUrl,
    post_logout_redirect_uri: PostLogoutRedirectUrl,
    http: reqwest::Client,
    /// Filled by the first successful discovery; emptied when an ID token
    /// fails to verify, so the next login fetches the JWKS again (the
    /// provider may have rotated its keys).
    metadata: Mutex<Option<Arc<Metadata>>>,
    pub sessions: Sessions,
}

impl Provider {
    pub fn new(settings: Settings) -> Result<Self, SetupError> {
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| SetupError::Issuer(e.to_string()))?;
        let redirect_uri = RedirectUrl::new(settings.redirect_uri())
            .map_err(|e| SetupError::PublicUrl(e.to_string()))?;
        let post_logout_redirect_uri =
            PostLogoutRedirectUrl::new(settings.post_logout_redirect_uri())
                .map_err(|e| SetupError::PublicUrl(e.to_string()))?;
        let http = reqwest::Client::builder()
            // openidconnect's advice: following redirects opens the client up to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SetupError::HttpClient(e.to_string()))?;
        Ok(Self {
            settings,
            issuer,
            redirect_uri,
            post_logout_redirect_uri,
            http,
            metadata: Mutex::new(None),
            sessions: Sessions::default(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The discovery document, fetched (with the JWKS) on first use and
    /// after a failure. openidconnect checks that its `issuer` is exactly
    /// ours. It takes http issuers as they are: there is no https-only
    /// switch to turn off for a loopback provider.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, OidcError> {
        // A tokio Mutex held across the fetch: concurrent first visitors
        // wait for one discovery rather than each starting their own.
        let mut cached = self.metadata.lock().await;
        if let Some(metadata) = cached.as_ref() {
            return Ok(metadata.clone());
        }
        let metadata = Metadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| OidcError::Discovery(error_chain(&e)))?;
        let metadata = Arc::new(metadata);
        *cached = Some(metadata.clone());
        Ok(metadata)
    }

    async fn forget_metadata(&self) {
        *self.metadata.lock().await = None;
    }

    fn client(&self, metadata: &Metadata) -> Client {
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect_uri.clone())
    }

    /// The authorization URL to send the browser to, and the checks to keep
    /// for its callback: PKCE S256, a nonce and a state, all random.
    pub async fn login(&self) -> Result<(Url, PendingLogin), OidcError> {
        let metadata = self.metadata().await?;
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client(&metadata)
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(pkce_challenge)
            .url();
        let pending = PendingLogin {
            state,
            nonce,
            pkce_verifier,
        };
        Ok((url, pending))
    }

    /// Checks the callback against `pending` (state, then RFC 9207 `iss`),
    /// exchanges the code, verifies the ID token and asks userinfo.
    pub async fn complete(
        &self,
        pending: PendingLogin,
        query: CallbackQuery,
    ) -> Result<LoggedIn, OidcError> {
        let state_ok = query
            .state
            .as_deref()
            .is_some_and(|state| constant_time_eq(pending.state.secret(), state));
        if !state_ok {
            return Err(OidcError::StaleLogin);
        }
        let metadata = self.metadata().await?;
        let iss_required = metadata
            .additional_metadata()
            .additional_metadata
            .authorization_response_iss_parameter_supported
            == Some(true);
        match query.iss.as_deref() {
            Some(iss) if iss != metadata.issuer().as_str() => {
                return Err(OidcError::BadResponse(format!(
                    "it came from issuer {iss:?}, not {:?}",
                    metadata.issuer().as_str()
                )));
            }
            None if iss_required => {
                return Err(OidcError::BadResponse(
                    "it has no iss parameter although the provider promises one".into(),
                ));
            }
            _ => {}
        }
        if let Some(error) = query.error {
            return Err(OidcError::Provider {
                error,
                description: query.error_description,
            });
        }
        let code = query
            .code
            .ok_or_else(|| OidcError::BadResponse("it has neither a code nor an error".into()))?;

        let client = self.client(&metadata);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| OidcError::Token(e.to_string()))?
            .set_pkce_verifier(pending.pkce_verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Token(error_chain(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::IdToken("the token response has no id_token".into()))?;
        let verified = self.verify(&client, id_token, tokens.access_token(), &pending.nonce);
        let claims = match verified {
            Ok(claims) => claims,
            Err(e) => {
                self.forget_metadata().await;
                return Err(e);
            }
        };

        let userinfo: CoreUserInfoClaims = client
            .user_info(tokens.access_token().clone(), Some(claims.sub.clone()))
            .map_err(|e| OidcError::UserInfo(e.to_string()))?
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::UserInfo(error_chain(&e)))?;
        let userinfo = serde_json::to_string_pretty(&userinfo)
            .map_err(|e| OidcError::UserInfo(e.to_string()))?;

        Ok(LoggedIn {
            sub: claims.sub.as_str().to_owned(),
            name: claims.name,
            picture: claims.picture,
            auth_time: claims.auth_time,
            amr: claims.amr,
            userinfo,
            id_token: id_token.clone(),
        })
    }

    /// The ID token's signature (against the JWKS), `iss`, `aud`, `exp`,
    /// `iat` and `nonce`, then `at_hash` when present (OIDC Core 3.1.3.8).
    fn verify(
        &self,
        client: &Client,
        id_token: &CoreIdToken,
        access_token: &openidconnect::AccessToken,
        nonce: &Nonce,
    ) -> Result<Claims, OidcError> {
        let verifier = client.id_token_verifier();
        let bad = |e: &dyn std::error::Error| OidcError::IdToken(error_chain(e));
        let claims = id_token.claims(&verifier, nonce).map_err(|e| bad(&e))?;
        if let Some(expected) = claims.access_token_hash() {
            let actual = AccessTokenHash::from_token(
                access_token,
                id_token.signing_alg().map_err(|e| bad(&e))?,
                id_token.signing_key(&verifier).map_err(|e| bad(&e))?,
            )
            .map_err(|e| bad(&e))?;
            if actual != *expected {
                return Err(OidcError::IdToken(
                    "at_hash does not match the access token".into(),
                ));
            }
        }
        Ok(Claims {
            sub: claims.subject().clone(),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            picture: claims
                .picture()
                .and_then(|p| p.get(None))
                .map(|p| p.as_str().to_owned()),
            auth_time: claims.auth_time().map(|t| t.to_rfc3339()),
            amr: claims
                .auth_method_refs()
                .map(|amr| amr.iter().map(|m| m.as_str().to_owned()).collect())
                .unwrap_or_default(),
        })
    }

    /// The provider's end-session URL for RP-initiated logout, with the ID
    /// token as hint, our post-logout redirect URI and `state`; `None` when
    /// the provider has no end_session_endpoint.
    pub async fn logout_url(
        &self,
        id_token: Option<&CoreIdToken>,
        state: CsrfToken,
    ) -> Result<Option<Url>, OidcError> {
        let metadata = self.metadata().await?;
        let Some(endpoint) = metadata.additional_metadata().end_session_endpoint.clone() else {
            return Ok(None);
        };
        let mut request = LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.settings.client_id.clone()))
            .set_post_logout_redirect_uri(self.post_logout_redirect_uri.clone())
            .set_state(state);
        if let Some(id_token) = id_token {
            request = request.set_id_token_hint(id_token);
        }
        Ok(Some(request.http_get_url()))
    }
}

/// The verified claims the site shows.
struct Claims {
    sub: openidconnect::SubjectIdentifier,
    name: Option<String>,
    picture: Option<String>,
    auth_time: Option<String>,
    amr: Vec<String>,
}

/// An error and its sources, one line, for the log.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
