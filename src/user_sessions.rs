//! What a user is logged in to: browser logins (the `qrl_session` cookie)
//! and client grants (OpenID Connect). Each is listed in a per-user index in
//! the store, so the phone can show them and end any of them.

use crate::clock::Timestamp;
use crate::observe::{Event, Revoked, RevokedBy};
use crate::oidc::OidcService;
use crate::secret::SecretHash;
use crate::session::RequestInfo;
use crate::store::{SessionStore as _, Store, StoreError};

/// One entry of a user's index. Its text form is what the store keeps; the
/// public `id` is what the phone sees (never the cookie hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Member {
    /// A browser login: its public id and the hash of its cookie (the store key).
    Login { id: String, cookie: SecretHash },
    /// A client grant, by id.
    Grant { id: String },
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Login { id, cookie } => write!(f, "login:{id}:{}", cookie.to_hex()),
            Self::Grant { id } => write!(f, "grant:{id}"),
        }
    }
}

impl Member {
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let member = match (parts.next()?, parts.next()?, parts.next()) {
            ("login", id, Some(hex)) => Self::Login {
                id: id.to_owned(),
                cookie: SecretHash::from_hex(hex)?,
            },
            ("grant", id, None) => Self::Grant { id: id.to_owned() },
            _ => return None,
        };
        parts.next().is_none().then_some(member)
    }

    /// The id the phone sees.
    pub fn public_id(&self) -> &str {
        match self {
            Self::Login { id, .. } | Self::Grant { id } => id,
        }
    }
}

/// One thing a user is logged in to, as the phone lists it.
#[derive(Clone, Debug)]
pub struct UserSession {
    pub id: String,
    /// The client, for a grant; `None` for a login to this server itself.
    pub client: Option<(String, String)>,
    pub browser: RequestInfo,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Timestamp,
}

/// Lists and ends a user's logins and grants.
#[derive(Clone, Debug)]
pub struct UserSessions {
    store: Store,
    oidc: OidcService,
}

impl UserSessions {
    pub fn new(store: Store, oidc: OidcService) -> Self {
        Self { store, oidc }
    }

    /// Everything `user_id` is logged in to at `now`, oldest first. Index
    /// entries whose login or grant is gone (logged out, revoked) are
    /// dropped from the index on the way.
    pub async fn list(
        &self,
        user_id: &str,
        now: Timestamp,
    ) -> Result<Vec<UserSession>, StoreError> {
        let mut out = Vec::new();
        for text in self.store.index_members(user_id, now).await? {
            let found = match Member::parse(&text) {
                Some(Member::Login { id, cookie }) => self
                    .store
                    .get_account(&cookie, now)
                    .await?
                    .filter(|a| a.user.id == user_id)
                    .map(|a| UserSession {
                        id,
                        client: None,
                        browser: a.browser,
                        created_at: a.created_at,
                        last_used_at: None,
                        expires_at: a.expires_at,
                    }),
                Some(Member::Grant { id }) => self
                    .oidc
                    .grant(&id)
                    .await?
                    .filter(|g| g.user.id == user_id)
                    .map(|g| {
                        let name = self
                            .oidc
                            .clients()
                            .get(&g.client_id)
                            .map_or_else(|| g.client_id.clone(), |c| c.name.clone());
                        UserSession {
                            id,
                            client: Some((g.client_id, name)),
                            browser: g.browser,
                            created_at: g.created_at,
                            last_used_at: g.last_used_at,
                            expires_at: g.expires_at,
                        }
                    }),
                None => None,
            };
            match found {
                Some(session) => out.push(session),
                None => {
                    self.store.index_remove(user_id, &text).await?;
                }
            }
        }
        Ok(out)
    }

    /// Ends the login or grant `id` of `user_id`. `Ok(false)`: the user has
    /// no such entry (another user's ids are not found either).
    pub async fn revoke(
        &self,
        user_id: &str,
        id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        for text in self.store.index_members(user_id, now).await? {
            let Some(member) = Member::parse(&text) else {
                continue;
            };
            if member.public_id() != id {
                continue;
            }
            match &member {
                Member::Login { id, cookie } => {
                    self.store.delete_account(cookie).await?;
                    tracing::info!(user = %user_id, "browser login ended from the phone");
                    self.oidc.observer().emit(Event::Revoked {
                        what: Revoked::Login,
                        by: RevokedBy::Phone,
                        user: Some(user_id),
                        client: None,
                        grant: None,
                        login: Some(id),
                    });
                }
                Member::Grant { id } => self.oidc.revoke_grant(id, RevokedBy::Phone).await?,
            }
            self.store.index_remove(user_id, &text).await?;
            return Ok(true);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn members_round_trip_and_refuse_garbage() {
        let login = Member::Login {
            id: "abc".into(),
            cookie: Secret::generate().hash(),
        };
        let grant = Member::Grant { id: "g1".into() };
        for m in [&login, &grant] {
            assert_eq!(Member::parse(&m.to_string()).as_ref(), Some(m));
        }
        for bad in [
            "",
            "login:abc",
            "login:abc:zz",
            "grant",
            "grant:a:b",
            "other:x",
        ] {
            assert_eq!(Member::parse(bad), None, "{bad}");
        }
    }
}
