//! The headers `/auth/verify` answers a logged-in request with, for nginx
//! to pass on to the app (`auth_request_set`): which header carries which
//! field of the user, and how a value is made safe to be a header.
//!
//! Values are UTF-8 bytes as they are ("Bob 小明"), as nginx, Authelia and
//! oauth2-proxy pass them: apps read them as UTF-8 (some frameworks decode
//! header bytes as Latin-1 and need to re-encode). The user id is passed
//! exactly or not at all: an id a header cannot carry unchanged refuses the
//! request, since two ids must never reach an app as the same value.

use crate::session::User;
use axum::http::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Longest header value sent. nginx must fit `/auth/verify`'s whole answer
/// head into `proxy_buffer_size` (4 KiB by default) or it fails the request.
pub const MAX_VALUE_BYTES: usize = 1024;

/// A field of the logged-in user a header can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserField {
    /// The user id (the phone token's `sub`), exactly.
    Id,
    /// The display name, without control characters.
    Name,
    /// The avatar as an absolute URL (this server's own files made absolute).
    Avatar,
}

/// What is answered when `[forward_auth.headers]` is not configured.
pub const DEFAULT_HEADERS: [(&str, UserField); 2] = [
    ("x-auth-user", UserField::Id),
    ("x-auth-name", UserField::Name),
];

/// Headers whose meaning is not "who is logged in": framing, caching,
/// cookies, redirects, and those of this server's own answers. Naming one in
/// `[forward_auth.headers]` is refused.
const RESERVED: &[&str] = &[
    "authorization",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "cookie",
    "date",
    "expires",
    "host",
    "keep-alive",
    "location",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "referrer-policy",
    "retry-after",
    "server",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "vary",
    "www-authenticate",
    "x-auth-redirect",
    "x-content-type-options",
    "x-request-id",
];

/// A header name of `[forward_auth.headers]`, as written (for messages) and
/// parsed. Ordered by the text as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct IdentityHeader {
    written: String,
    name: HeaderName,
}

impl IdentityHeader {
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    pub fn as_written(&self) -> &str {
        &self.written
    }
}

impl TryFrom<String> for IdentityHeader {
    type Error = String;

    fn try_from(written: String) -> Result<Self, String> {
        let why = |why: &str| format!("forward_auth.headers: {written:?} {why}");
        let name = HeaderName::from_bytes(written.as_bytes())
            .map_err(|_| why("is not a header name (letters, digits and -)"))?;
        // Underscores: nginx drops such headers from clients by default,
        // and CGI-style apps read `X_User` and `X-User` as one variable.
        if written.contains('_') {
            return Err(why("must not contain '_' (use '-')"));
        }
        if RESERVED.contains(&name.as_str()) {
            return Err(why("is a header with another meaning; pick another name"));
        }
        Ok(Self { written, name })
    }
}

impl Serialize for IdentityHeader {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.written)
    }
}

impl PartialEq for IdentityHeader {
    fn eq(&self, other: &Self) -> bool {
        self.written == other.written
    }
}
impl Eq for IdentityHeader {}
impl PartialOrd for IdentityHeader {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for IdentityHeader {
    fn cmp(&self, other: &Self) -> Ordering {
        self.written.cmp(&other.written)
    }
}

/// The user id cannot be passed unchanged: it has control characters, or
/// white space at either end (which header parsers strip), or is too long.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the user id cannot be passed unchanged in a header")]
pub struct UnrepresentableId;

/// The headers for `user`: `mapping`'s (header, field) pairs, or the
/// defaults when it is empty. A name or avatar that ends up empty or too
/// long is left out; an id that cannot be passed exactly is an error.
pub fn identity_headers<'a>(
    user: &User,
    mapping: impl ExactSizeIterator<Item = (&'a IdentityHeader, &'a UserField)>,
    public_base: &str,
) -> Result<Vec<(HeaderName, HeaderValue)>, UnrepresentableId> {
    let pairs: Vec<(HeaderName, UserField)> = if mapping.len() == 0 {
        DEFAULT_HEADERS
            .iter()
            .map(|(name, field)| (HeaderName::from_static(name), *field))
            .collect()
    } else {
        mapping.map(|(h, f)| (h.name().clone(), *f)).collect()
    };
    let mut headers = Vec::with_capacity(pairs.len());
    for (name, field) in pairs {
        let value = match field {
            UserField::Id => Some(exact(&user.id)?),
            UserField::Name => display(&user.name),
            UserField::Avatar => user
                .avatar
                .as_deref()
                .and_then(|a| absolute_avatar(a, public_base))
                .and_then(|url| limited(&url)),
        };
        if let Some(value) = value {
            headers.push((name, value));
        }
    }
    Ok(headers)
}

/// `id` as a header value byte for byte, or why not.
fn exact(id: &str) -> Result<HeaderValue, UnrepresentableId> {
    let padded = id.starts_with([' ', '\t']) || id.ends_with([' ', '\t']);
    if id.is_empty() || padded || id.chars().any(char::is_control) {
        return Err(UnrepresentableId);
    }
    limited(id).ok_or(UnrepresentableId)
}

/// A display name without control characters (CR/LF could otherwise end
/// the header), trimmed and cut on a character boundary; `None` if empty.
fn display(name: &str) -> Option<HeaderValue> {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    let mut text = clean.trim();
    if text.len() > MAX_VALUE_BYTES {
        let mut end = MAX_VALUE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text = text[..end].trim_end();
    }
    if text.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

/// A header value of at most [`MAX_VALUE_BYTES`] without control characters.
fn limited(text: &str) -> Option<HeaderValue> {
    if text.len() > MAX_VALUE_BYTES || text.chars().any(char::is_control) {
        return None;
    }
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

/// The avatar as an absolute URL, as userinfo's `picture`: relative ones
/// are this server's own files.
fn absolute_avatar(avatar: &str, public_base: &str) -> Option<String> {
    if avatar.starts_with("https://") || avatar.starts_with("http://") {
        Some(avatar.to_owned())
    } else if avatar.starts_with('/') && !avatar.starts_with("//") {
        Some(format!("{public_base}{avatar}"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn user(id: &str, name: &str, avatar: Option<&str>) -> User {
        User {
            id: id.into(),
            name: name.into(),
            avatar: avatar.map(str::to_owned),
        }
    }

    const BASE: &str = "https://login.example.com";

    /// The headers as (name, raw bytes as text) pairs.
    fn answered(
        user: &User,
        mapping: &BTreeMap<IdentityHeader, UserField>,
    ) -> Result<Vec<(String, String)>, UnrepresentableId> {
        Ok(identity_headers(user, mapping.iter(), BASE)?
            .into_iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8(v.as_bytes().to_vec()).unwrap(),
                )
            })
            .collect())
    }

    fn mapping(pairs: &[(&str, UserField)]) -> BTreeMap<IdentityHeader, UserField> {
        pairs
            .iter()
            .map(|(n, f)| (IdentityHeader::try_from(n.to_string()).unwrap(), *f))
            .collect()
    }

    #[test]
    fn the_default_headers_carry_id_and_name() {
        let alice = user("alice", "Alice", Some("/static/avatars/alice.svg"));
        assert_eq!(
            answered(&alice, &BTreeMap::new()).unwrap(),
            [
                ("x-auth-user".to_owned(), "alice".to_owned()),
                ("x-auth-name".to_owned(), "Alice".to_owned())
            ]
        );
    }

    #[test]
    fn configured_headers_replace_the_defaults() {
        let m = mapping(&[
            ("Remote-User", UserField::Id),
            ("X-Auth-Avatar", UserField::Avatar),
            ("Remote-Name", UserField::Name),
        ]);
        let alice = user("alice", "Alice", Some("/static/avatars/alice.svg"));
        assert_eq!(
            answered(&alice, &m).unwrap(),
            [
                ("remote-name".to_owned(), "Alice".to_owned()),
                ("remote-user".to_owned(), "alice".to_owned()),
                (
                    "x-auth-avatar".to_owned(),
                    format!("{BASE}/static/avatars/alice.svg")
                ),
            ]
        );
        // No avatar, or one that is no URL: the header is left out.
        let plain = user("bob", "Bob", None);
        assert_eq!(answered(&plain, &m).unwrap().len(), 2);
        let odd = user("bob", "Bob", Some("data:image/png;base64,AAAA"));
        assert_eq!(answered(&odd, &m).unwrap().len(), 2);
        let remote = user("bob", "Bob", Some("https://cdn.example/b.png"));
        assert!(answered(&remote, &m).unwrap().contains(&(
            "x-auth-avatar".to_owned(),
            "https://cdn.example/b.png".to_owned()
        )));
    }

    #[test]
    fn names_go_as_utf8_without_control_characters() {
        let none = BTreeMap::new();
        let bob = user("bob", "Bob 小明", None);
        assert_eq!(answered(&bob, &none).unwrap()[1].1, "Bob 小明");
        let hostile = user(
            "mallory",
            " Mal\r\nX-Auth-User: alice\u{0}\u{85}lory\t",
            None,
        );
        assert_eq!(
            answered(&hostile, &none).unwrap()[1].1,
            "MalX-Auth-User: alicelory"
        );
        let blank = user("mallory", "\r\n", None);
        assert_eq!(
            answered(&blank, &none).unwrap().len(),
            1,
            "no empty name header"
        );
        let long = user("carol", &"卡".repeat(1000), None);
        let name = &answered(&long, &none).unwrap()[1].1;
        assert!(name.len() <= MAX_VALUE_BYTES && name.chars().all(|c| c == '卡'));
    }

    #[test]
    fn ids_go_exactly_or_not_at_all() {
        let none = BTreeMap::new();
        assert_eq!(
            answered(&user("小明", "x", None), &none).unwrap()[0].1,
            "小明"
        );
        assert_eq!(
            answered(&user("a b", "x", None), &none).unwrap()[0].1,
            "a b"
        );
        for bad in [
            "alice\r\nX-Auth-User: bob",
            "alice\n",
            "al\0ice",
            "alice\t",
            " alice",
            "alice ",
            "\u{85}",
            "",
        ] {
            assert_eq!(
                answered(&user(bad, "Name", None), &none),
                Err(UnrepresentableId),
                "{bad:?}"
            );
        }
        let long = "a".repeat(MAX_VALUE_BYTES + 1);
        assert_eq!(
            answered(&user(&long, "x", None), &none),
            Err(UnrepresentableId)
        );
    }

    #[test]
    fn header_names_are_checked() {
        for ok in ["X-Auth-User", "Remote-User", "x-forwarded-user", "X-Email"] {
            assert!(IdentityHeader::try_from(ok.to_owned()).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "X Auth",
            "X-Auth:",
            "X-Auth\r\n",
            "X_Auth_User",
            "Set-Cookie",
            "content-length",
            "Location",
            "X-Auth-Redirect",
            "Transfer-Encoding",
            "Ünïcode",
        ] {
            let err = IdentityHeader::try_from(bad.to_owned()).unwrap_err();
            assert!(err.starts_with("forward_auth.headers: "), "{bad:?}: {err}");
        }
    }
}
