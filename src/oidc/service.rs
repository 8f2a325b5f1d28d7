//! The provider's operations: issue a code when a QR login for a client
//! completes, and the back-channel grants, userinfo, revocation,
//! introspection and logout. It knows nothing of HTTP.

use super::clients::{Client, ClientCredentials, Clients, GrantType};
use super::error::{ErrorCode, OAuthError, invalid_grant, invalid_request};
use super::keys::SigningKeys;
use super::records::{self, AccessTokenRecord, CodeRecord, GrantRecord, RefreshTokenRecord};
use super::request::{AuthorizationRequest, AuthorizeRefusal};
use super::scope::Scope;
use crate::clock::{Clock, Timestamp};
use crate::config::OidcConfig;
use crate::observe::{Event, Observer, Revoked, RevokedBy};
use crate::secret::{Secret, random_id};
use crate::session::{RequestInfo, User};
use crate::store::{PutMode, RecordKind, SessionStore as _, Store, StoreError};
use crate::user_sessions::Member;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The provider. A cheap-to-clone handle; the second field is where it
/// reports codes, tokens and revocations.
#[derive(Clone, Debug)]
pub struct OidcService(Arc<Inner>, Observer);

#[derive(Debug)]
struct Inner {
    store: Store,
    clock: Clock,
    clients: Clients,
    keys: SigningKeys,
    config: OidcConfig,
    issuer: String,
    /// `public_url` without a trailing slash, for absolute picture URLs.
    public_base: String,
}

/// Tokens issued by the token endpoint.
#[derive(Debug)]
pub struct IssuedTokens {
    pub access_token: Secret,
    pub expires_in: Duration,
    pub id_token: String,
    pub scope: Scope,
    pub refresh_token: Option<Secret>,
}

/// What userinfo tells about the token's user (OpenID Connect Core §5.3).
#[derive(Debug, Serialize)]
pub struct UserInfo {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
}

/// A live token, as introspection describes it (RFC 7662 §2.2).
#[derive(Debug)]
pub struct Introspection {
    pub client_id: String,
    pub sub: String,
    pub username: String,
    pub scope: Scope,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// `access_token` or `refresh_token`.
    pub token_type: &'static str,
}

/// The claims of an id_token (OpenID Connect Core §2).
#[derive(Debug, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// How the user authenticated: a QR scan confirmed on a logged-in phone.
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
}

/// Where `/oauth/logout` goes, once checked.
#[derive(Debug)]
pub struct LogoutPlan {
    /// `post_logout_redirect_uri` (with `state`), if one was asked for.
    pub redirect: Option<String>,
    /// The user named by a valid `id_token_hint`.
    pub hinted_user: Option<String>,
}

type Result<T, E = OAuthError> = std::result::Result<T, E>;

/// The store key of a secret: its SHA-256, so a dump of the store holds no
/// usable code or token.
pub(super) fn key_of(secret: &Secret) -> String {
    secret.hash().to_hex()
}

impl OidcService {
    pub fn new(
        store: Store,
        clock: Clock,
        clients: Clients,
        keys: SigningKeys,
        config: OidcConfig,
        public_base: &str,
    ) -> Self {
        Self(
            Arc::new(Inner {
                store,
                clock,
                clients,
                keys,
                config,
                issuer: public_base.to_owned(),
                public_base: public_base.to_owned(),
            }),
            Observer::disabled(),
        )
    }

    /// The same provider, reporting to `observer`.
    pub fn with_observer(self, observer: Observer) -> Self {
        Self(self.0, observer)
    }

    /// Where the provider reports its steps.
    pub fn observer(&self) -> &Observer {
        &self.1
    }

    /// `iss` of every token and answer: the server's public URL.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    pub fn clients(&self) -> &Clients {
        &self.0.clients
    }

    pub fn keys(&self) -> &SigningKeys {
        &self.0.keys
    }

    pub fn config(&self) -> &OidcConfig {
        &self.0.config
    }

    /// Checks an authorization request's query string.
    pub fn authorize(
        &self,
        query: &str,
    ) -> Result<(AuthorizationRequest, &Client), AuthorizeRefusal> {
        AuthorizationRequest::parse(query, &self.0.clients)
    }

    /// The user confirmed on the phone and the browser redeemed its ticket:
    /// records the grant, mints a code, and answers the URL to send the
    /// browser to.
    #[tracing::instrument(skip_all, fields(client = %request.client_id, user = %user.id))]
    pub async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        user: &User,
        auth_time: Timestamp,
        browser: &RequestInfo,
    ) -> Result<String, StoreError> {
        let now = self.0.clock.now();
        let grant = self
            .create_grant(
                &request.client_id,
                user,
                request.scope,
                auth_time,
                browser,
                now,
            )
            .await?;
        let cfg = &self.0.config;
        let store = &self.0.store;
        let code = Secret::generate();
        let record = CodeRecord {
            request: request.clone(),
            grant_id: grant.id,
            expires_at: now.plus(cfg.code_ttl),
        };
        records::put(
            store,
            RecordKind::Code,
            &key_of(&code),
            &record,
            record.expires_at,
            PutMode::Create,
            now,
        )
        .await?;
        tracing::info!("authorization code issued");
        self.1.emit(Event::CodeIssued {
            client: &request.client_id,
            user: &user.id,
            grant: &record.grant_id,
        });
        Ok(request.success_url(code.expose(), self.issuer()))
    }

    /// Records one user's consent to one client, made by one QR login, in
    /// the store and in the user's index (the phone lists and ends it there).
    pub(super) async fn create_grant(
        &self,
        client_id: &str,
        user: &User,
        scope: Scope,
        auth_time: Timestamp,
        browser: &RequestInfo,
        now: Timestamp,
    ) -> Result<GrantRecord, StoreError> {
        let cfg = &self.0.config;
        // Without offline_access nothing outlives the last access token.
        let life = if scope.offline_access {
            cfg.refresh_token_ttl
        } else {
            cfg.code_ttl + cfg.access_token_ttl
        };
        let grant = GrantRecord {
            id: random_id(),
            client_id: client_id.to_owned(),
            user: user.clone(),
            scope,
            auth_time,
            browser: browser.clone(),
            created_at: now,
            last_used_at: None,
            expires_at: now.plus(life),
        };
        let store = &self.0.store;
        records::put(
            store,
            RecordKind::Grant,
            &grant.id,
            &grant,
            grant.expires_at,
            PutMode::Create,
            now,
        )
        .await?;
        let member = Member::Grant {
            id: grant.id.clone(),
        }
        .to_string();
        store.index_add(&user.id, &member, grant.expires_at).await?;
        Ok(grant)
    }

    /// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6).
    #[tracing::instrument(skip_all)]
    pub async fn exchange_code(
        &self,
        creds: &ClientCredentials,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<IssuedTokens> {
        let client = self
            .0
            .clients
            .authenticate_for(creds, GrantType::AuthorizationCode)?;
        let code = code.ok_or_else(|| invalid_request("code is required"))?;
        let redirect_uri =
            redirect_uri.ok_or_else(|| invalid_request("redirect_uri is required"))?;
        let store = &self.0.store;
        let key = key_of(&Secret::from_client(code));
        let now = self.0.clock.now();
        // Checks that need no write come first, so a wrong client or
        // verifier cannot burn the code of the right one.
        let record: CodeRecord = records::get(store, RecordKind::Code, &key, now)
            .await?
            .ok_or_else(|| invalid_grant("the code is invalid, expired or used"))?;
        let request = &record.request;
        if request.client_id != client.id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        if request.redirect_uri != redirect_uri {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        match (&request.code_challenge, verifier) {
            (Some(challenge), Some(v)) => {
                if !super::pkce::verifies(v, challenge) {
                    return Err(invalid_grant(
                        "the code_verifier does not match the code_challenge",
                    ));
                }
            }
            (Some(_), None) => return Err(invalid_grant("code_verifier is required")),
            // A verifier for a code issued without a challenge: whoever sends
            // it expected PKCE to protect them; refuse (PKCE downgrade).
            (None, Some(_)) => {
                return Err(invalid_grant(
                    "the code was issued without a code_challenge",
                ));
            }
            (None, None) => {}
        }
        let Some((_, first)) =
            records::take::<CodeRecord>(store, RecordKind::Code, &key, now).await?
        else {
            return Err(invalid_grant("the code is invalid, expired or used"));
        };
        if !first {
            // RFC 6749 §4.1.2: a code used twice was probably stolen; revoke
            // everything issued from it.
            tracing::warn!(client = %client.id, "authorization code reused; revoking its grant");
            self.revoke_grant(&record.grant_id, RevokedBy::CodeReuse)
                .await?;
            return Err(invalid_grant("the code is invalid, expired or used"));
        }
        let grant: GrantRecord = records::get(store, RecordKind::Grant, &record.grant_id, now)
            .await?
            .ok_or_else(|| invalid_grant("the grant was revoked"))?;
        let refresh_scope = request.scope.offline_access.then_some(request.scope);
        self.issue_tokens(
            GrantType::AuthorizationCode,
            client,
            grant,
            request.scope,
            refresh_scope,
            request.nonce.clone(),
            now,
        )
        .await
    }

    /// `grant_type=refresh_token` with rotation and reuse detection (RFC 6749
    /// §6, RFC 9700 §4.14.2).
    #[tracing::instrument(skip_all)]
    pub async fn refresh(
        &self,
        creds: &ClientCredentials,
        refresh_token: Option<&str>,
        scope: Option<&str>,
    ) -> Result<IssuedTokens> {
        let client = self
            .0
            .clients
            .authenticate_for(creds, GrantType::RefreshToken)?;
        let token = refresh_token.ok_or_else(|| invalid_request("refresh_token is required"))?;
        let store = &self.0.store;
        let key = key_of(&Secret::from_client(token));
        let now = self.0.clock.now();
        let record: RefreshTokenRecord = records::get(store, RecordKind::RefreshToken, &key, now)
            .await?
            .ok_or_else(|| invalid_grant("the refresh token is invalid, expired or revoked"))?;
        if record.client_id != client.id {
            return Err(invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        // A narrower scope narrows this access token and id_token only; the
        // new refresh token keeps the presented one's (RFC 6749 §6).
        let scope = match scope {
            None => record.scope,
            Some(text) => {
                let asked = Scope::parse(text);
                if !asked.within(record.scope) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "a refresh cannot add scopes the user did not grant",
                    ));
                }
                if !asked.openid {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "scope must keep openid",
                    ));
                }
                asked
            }
        };
        let Some((_, first)) =
            records::take::<RefreshTokenRecord>(store, RecordKind::RefreshToken, &key, now).await?
        else {
            return Err(invalid_grant(
                "the refresh token is invalid, expired or revoked",
            ));
        };
        if !first {
            tracing::warn!(client = %client.id, "refresh token reused; revoking its grant");
            self.revoke_grant(&record.grant_id, RevokedBy::RefreshTokenReuse)
                .await?;
            return Err(invalid_grant(
                "the refresh token is invalid, expired or revoked",
            ));
        }
        // Spent: introspection and revocation no longer see it as live; kept
        // (marked used) so that its reuse is recognised.
        let spent = RefreshTokenRecord {
            rotated: true,
            ..record.clone()
        };
        records::put(
            store,
            RecordKind::RefreshToken,
            &key,
            &spent,
            spent.expires_at,
            PutMode::Replace,
            now,
        )
        .await?;
        let grant: GrantRecord = records::get(store, RecordKind::Grant, &record.grant_id, now)
            .await?
            .ok_or_else(|| invalid_grant("the grant was revoked"))?;
        // Refreshed id_tokens carry no nonce (OpenID Connect Core §12.2).
        self.issue_tokens(
            GrantType::RefreshToken,
            client,
            grant,
            scope,
            Some(record.scope),
            None,
            now,
        )
        .await
    }

    /// Access token and id_token with `scope`; a refresh token with
    /// `refresh_scope`, when there is one. `grant_type`: what the client
    /// presented (for the metrics and the audit log).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn issue_tokens(
        &self,
        grant_type: GrantType,
        client: &Client,
        mut grant: GrantRecord,
        scope: Scope,
        refresh_scope: Option<Scope>,
        nonce: Option<String>,
        now: Timestamp,
    ) -> Result<IssuedTokens> {
        let cfg = &self.0.config;
        let store = &self.0.store;
        // A revoked grant is never brought back by this write (Replace).
        grant.last_used_at = Some(now);
        if !records::put(
            store,
            RecordKind::Grant,
            &grant.id,
            &grant,
            grant.expires_at,
            PutMode::Replace,
            now,
        )
        .await?
        {
            return Err(invalid_grant("the grant was revoked"));
        }
        let access_expires = now.plus(cfg.access_token_ttl).min(grant.expires_at);
        let access_token = Secret::generate();
        let access = AccessTokenRecord {
            grant_id: grant.id.clone(),
            client_id: client.id.clone(),
            scope,
            issued_at: now,
            expires_at: access_expires,
        };
        records::put(
            store,
            RecordKind::AccessToken,
            &key_of(&access_token),
            &access,
            access_expires,
            PutMode::Create,
            now,
        )
        .await?;
        // A client not registered for refresh_token gets none to hold.
        let refresh_scope = refresh_scope.filter(|_| client.allows(GrantType::RefreshToken));
        let refresh_token = if let Some(refresh_scope) = refresh_scope {
            let token = Secret::generate();
            let refresh = RefreshTokenRecord {
                grant_id: grant.id.clone(),
                client_id: client.id.clone(),
                scope: refresh_scope,
                rotated: false,
                issued_at: now,
                expires_at: grant.expires_at,
            };
            records::put(
                store,
                RecordKind::RefreshToken,
                &key_of(&token),
                &refresh,
                grant.expires_at,
                PutMode::Create,
                now,
            )
            .await?;
            Some(token)
        } else {
            None
        };
        let claims = IdTokenClaims {
            iss: self.issuer().to_owned(),
            sub: grant.user.id.clone(),
            aud: client.id.clone(),
            exp: access_expires.as_secs(),
            iat: now.as_secs(),
            auth_time: grant.auth_time.as_secs(),
            nonce,
            amr: vec!["qr".into()],
            name: scope.profile.then(|| grant.user.name.clone()),
            picture: if scope.profile {
                self.picture(&grant.user)
            } else {
                None
            },
        };
        let id_token = self
            .0
            .keys
            .sign(client.id_token_alg, &claims)
            .map_err(|e| OAuthError::Unavailable(format!("signing the id_token: {e}")))?;
        tracing::info!(client = %client.id, user = %grant.user.id, "tokens issued");
        self.1.emit(Event::TokensIssued {
            grant_type: grant_type.into(),
            client: &client.id,
            user: &grant.user.id,
            grant: &grant.id,
            refresh: refresh_token.is_some(),
        });
        Ok(IssuedTokens {
            access_token,
            expires_in: now.until(access_expires),
            id_token,
            scope,
            refresh_token,
        })
    }

    /// The avatar as an absolute URL: relative ones are this server's files.
    fn picture(&self, user: &User) -> Option<String> {
        let avatar = user.avatar.as_deref()?;
        if avatar.starts_with("https://") || avatar.starts_with("http://") {
            Some(avatar.to_owned())
        } else if avatar.starts_with('/') && !avatar.starts_with("//") {
            Some(format!("{}{avatar}", self.0.public_base))
        } else {
            None
        }
    }

    /// Deletes a grant: its code, access and refresh tokens die with it.
    /// `by`: who asked, or which reuse made it necessary.
    pub async fn revoke_grant(&self, grant_id: &str, by: RevokedBy) -> Result<(), StoreError> {
        let store = &self.0.store;
        let now = self.0.clock.now();
        let grant: Option<GrantRecord> =
            records::get(store, RecordKind::Grant, grant_id, now).await?;
        store.delete_record(RecordKind::Grant, grant_id).await?;
        // Reported once the grant is gone (its tokens with it), whatever
        // happens to the index below; and even when the grant was already
        // gone: a reuse detected after a revocation is still worth an
        // audit line.
        self.1.emit(Event::Revoked {
            what: Revoked::Grant,
            by,
            user: grant.as_ref().map(|g| g.user.id.as_str()),
            client: grant.as_ref().map(|g| g.client_id.as_str()),
            grant: Some(grant_id),
            login: None,
        });
        if let Some(grant) = &grant {
            tracing::info!(client = %grant.client_id, user = %grant.user.id, "grant revoked");
            let member = Member::Grant {
                id: grant.id.clone(),
            }
            .to_string();
            store.index_remove(&grant.user.id, &member).await?;
        }
        Ok(())
    }

    /// The live access token stored under `key` (its hash), with its grant.
    async fn live_access(
        &self,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<(AccessTokenRecord, GrantRecord)>, StoreError> {
        let store = &self.0.store;
        let Some(access) =
            records::get::<AccessTokenRecord>(store, RecordKind::AccessToken, key, now).await?
        else {
            return Ok(None);
        };
        let grant =
            records::get::<GrantRecord>(store, RecordKind::Grant, &access.grant_id, now).await?;
        Ok(grant.map(|g| (access, g)))
    }

    /// The live refresh token (not yet rotated) stored under `key` (its
    /// hash), with its grant.
    async fn live_refresh(
        &self,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<(RefreshTokenRecord, GrantRecord)>, StoreError> {
        let store = &self.0.store;
        let Some(refresh) =
            records::get::<RefreshTokenRecord>(store, RecordKind::RefreshToken, key, now)
                .await?
                .filter(|r| !r.rotated)
        else {
            return Ok(None);
        };
        let grant =
            records::get::<GrantRecord>(store, RecordKind::Grant, &refresh.grant_id, now).await?;
        Ok(grant.map(|g| (refresh, g)))
    }

    /// The userinfo endpoint: who the access token's user is.
    pub async fn userinfo(&self, access_token: &str) -> Result<UserInfo> {
        let now = self.0.clock.now();
        let key = key_of(&Secret::from_client(access_token));
        let (access, grant) = self.live_access(&key, now).await?.ok_or_else(|| {
            OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token is invalid, expired or revoked",
            )
        })?;
        if !access.scope.openid {
            return Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "the token was not granted openid",
            ));
        }
        let profile = access.scope.profile;
        Ok(UserInfo {
            sub: grant.user.id.clone(),
            name: profile.then(|| grant.user.name.clone()),
            picture: if profile {
                self.picture(&grant.user)
            } else {
                None
            },
        })
    }

    /// RFC 7009: revokes an access token, or a refresh token and its whole
    /// grant. Unknown tokens are not an error (the answer must not tell).
    pub async fn revoke(&self, creds: &ClientCredentials, token: Option<&str>) -> Result<()> {
        let client = self.0.clients.authenticate(creds)?;
        let token = token.ok_or_else(|| invalid_request("token is required"))?;
        let now = self.0.clock.now();
        let store = &self.0.store;
        let key = key_of(&Secret::from_client(token));
        // The hint only says where to look first; both are cheap reads.
        if let Some((refresh, grant)) = self.live_refresh(&key, now).await? {
            if refresh.client_id != client.id {
                return Err(invalid_request("the token was issued to another client"));
            }
            store.delete_record(RecordKind::RefreshToken, &key).await?;
            self.revoke_grant(&grant.id, RevokedBy::Client).await?;
        } else if let Some((access, grant)) = self.live_access(&key, now).await? {
            if access.client_id != client.id {
                return Err(invalid_request("the token was issued to another client"));
            }
            store.delete_record(RecordKind::AccessToken, &key).await?;
            tracing::info!(client = %client.id, "access token revoked");
            self.1.emit(Event::Revoked {
                what: Revoked::AccessToken,
                by: RevokedBy::Client,
                user: Some(&grant.user.id),
                client: Some(&client.id),
                grant: Some(&grant.id),
                login: None,
            });
        }
        Ok(())
    }

    /// RFC 7662, for confidential clients (resource servers): what a token is.
    pub async fn introspect(
        &self,
        creds: &ClientCredentials,
        token: Option<&str>,
    ) -> Result<Option<Introspection>> {
        let client = self.0.clients.authenticate(creds)?;
        if client.is_public() {
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                "introspection is for confidential clients",
            ));
        }
        let token = token.ok_or_else(|| invalid_request("token is required"))?;
        let now = self.0.clock.now();
        let key = key_of(&Secret::from_client(token));
        if let Some((a, g)) = self.live_access(&key, now).await? {
            return Ok(Some(Introspection {
                client_id: a.client_id,
                sub: g.user.id,
                username: g.user.name,
                scope: a.scope,
                issued_at: a.issued_at,
                expires_at: a.expires_at,
                token_type: "access_token",
            }));
        }
        if let Some((r, g)) = self.live_refresh(&key, now).await? {
            return Ok(Some(Introspection {
                client_id: r.client_id,
                sub: g.user.id,
                username: g.user.name,
                scope: r.scope,
                issued_at: r.issued_at,
                expires_at: r.expires_at,
                token_type: "refresh_token",
            }));
        }
        Ok(None)
    }

    /// Checks an RP-initiated logout request (OpenID Connect RP-Initiated
    /// Logout 1.0 §2). Refusals are for the person, on a page.
    pub fn plan_logout(
        &self,
        id_token_hint: Option<&str>,
        client_id: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<LogoutPlan, &'static str> {
        let hint = match id_token_hint {
            Some(token) => Some(
                self.0
                    .keys
                    .verify_hint::<IdTokenClaims>(token, self.issuer())
                    .ok_or("The id_token_hint is not an id_token of this server.")?,
            ),
            None => None,
        };
        if let (Some(hint), Some(id)) = (&hint, client_id)
            && hint.aud != id
        {
            return Err("client_id does not match the id_token_hint's audience.");
        }
        let redirect = match post_logout_redirect_uri {
            None => None,
            Some(uri) => {
                let id = hint
                    .as_ref()
                    .map(|h| h.aud.as_str())
                    .or(client_id)
                    .ok_or("post_logout_redirect_uri needs an id_token_hint or a client_id.")?;
                let client = self.0.clients.get(id).ok_or("Unknown client.")?;
                if !client.allows_post_logout_redirect(uri) {
                    return Err("This post_logout_redirect_uri is not registered for the client.");
                }
                let pairs: Vec<(&str, &str)> = state.map(|s| ("state", s)).into_iter().collect();
                Some(super::request::with_query(uri, &pairs))
            }
        };
        Ok(LogoutPlan {
            redirect,
            hinted_user: hint.map(|h| h.sub),
        })
    }

    /// The live grant `id`, if any (for the phone's list).
    pub async fn grant(&self, id: &str) -> Result<Option<GrantRecord>, StoreError> {
        records::get(&self.0.store, RecordKind::Grant, id, self.0.clock.now()).await
    }
}
