//! What the provider stores, each under the SHA-256 of its secret (or, for
//! a grant, its random id) with its own expiry, in the one `SessionStore`.
//!
//! A *grant* is one user's consent to one client, made by one QR login. The
//! code, and every access and refresh token, names its grant; deleting the
//! grant kills them all at their next use (revocation from the phone, code
//! reuse, refresh-token reuse), without an index of tokens to chase.

use super::request::AuthorizationRequest;
use super::scope::Scope;
use crate::clock::Timestamp;
use crate::session::{RequestInfo, User};
use crate::store::{PutMode, RecordKind, SessionStore, Store, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// An authorization code, until it is exchanged (and after, marked used,
/// so a second use can be recognised and punished).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodeRecord {
    pub request: AuthorizationRequest,
    pub grant_id: String,
    pub expires_at: Timestamp,
}

/// One user's consent to one client.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantRecord {
    pub id: String,
    pub client_id: String,
    /// The user as the phone vouched for them at the login.
    pub user: User,
    pub scope: Scope,
    /// When the user confirmed on the phone (`auth_time`).
    pub auth_time: Timestamp,
    /// The browser that logged in, as the phone saw it.
    pub browser: RequestInfo,
    pub created_at: Timestamp,
    /// When a token was last issued under it.
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Timestamp,
}

/// An opaque access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessTokenRecord {
    pub grant_id: String,
    pub client_id: String,
    pub scope: Scope,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A refresh token: single use; the next one replaces it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RefreshTokenRecord {
    pub grant_id: String,
    pub client_id: String,
    pub scope: Scope,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// Spent by a refresh: kept only so that a reuse revokes the grant.
    #[serde(default)]
    pub rotated: bool,
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Unavailable(format!("corrupt oauth record: {e}"))
}

/// Stores `record` as JSON.
pub async fn put<T: Serialize>(
    store: &Store,
    kind: RecordKind,
    key: &str,
    record: &T,
    expires_at: Timestamp,
    mode: PutMode,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let json = serde_json::to_string(record).map_err(corrupt)?;
    store
        .put_record(kind, key, &json, expires_at, mode, now)
        .await
}

/// The live record under `key`, if any.
pub async fn get<T: DeserializeOwned>(
    store: &Store,
    kind: RecordKind,
    key: &str,
    now: Timestamp,
) -> Result<Option<T>, StoreError> {
    match store.get_record(kind, key, now).await? {
        Some(json) => serde_json::from_str(&json).map(Some).map_err(corrupt),
        None => Ok(None),
    }
}

/// Marks the record under `key` used; returns it and whether this was its
/// first use (exactly one caller ever sees `true`).
pub async fn take<T: DeserializeOwned>(
    store: &Store,
    kind: RecordKind,
    key: &str,
    now: Timestamp,
) -> Result<Option<(T, bool)>, StoreError> {
    match store.use_record(kind, key, now).await? {
        Some(used) => {
            let record = serde_json::from_str(&used.json).map_err(corrupt)?;
            Ok(Some((record, used.first_use)))
        }
        None => Ok(None),
    }
}
