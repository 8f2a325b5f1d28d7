//! Scopes: the three this provider knows. Unknown scope values are ignored,
//! as OpenID Connect Core §3.1.2.1 asks, so a client asking for more than we
//! offer still logs in with what we grant.

use serde::{Deserialize, Serialize};

/// A set of granted scopes. Serialised as the space-separated string OAuth uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub struct Scope {
    pub openid: bool,
    /// `name` and `picture` in the id_token and userinfo.
    pub profile: bool,
    /// A refresh token.
    pub offline_access: bool,
}

/// What discovery lists as `scopes_supported`.
pub const SUPPORTED: [&str; 3] = ["openid", "profile", "offline_access"];

impl Scope {
    /// The known values in `text` (space-separated); others are dropped.
    pub fn parse(text: &str) -> Self {
        let mut scope = Self::default();
        for value in text.split(' ') {
            match value {
                "openid" => scope.openid = true,
                "profile" => scope.profile = true,
                "offline_access" => scope.offline_access = true,
                _ => {}
            }
        }
        scope
    }

    /// Whether every scope in `self` is also in `granted`.
    pub fn within(self, granted: Scope) -> bool {
        (!self.openid || granted.openid)
            && (!self.profile || granted.profile)
            && (!self.offline_access || granted.offline_access)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values = [
            (self.openid, "openid"),
            (self.profile, "profile"),
            (self.offline_access, "offline_access"),
        ];
        let text: Vec<&str> = values
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, v)| *v)
            .collect();
        f.write_str(&text.join(" "))
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.to_string()
    }
}

impl From<String> for Scope {
    fn from(s: String) -> Scope {
        Scope::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_are_kept_in_a_canonical_order() {
        let s = Scope::parse("profile email openid  offline_access openid");
        assert_eq!(s.to_string(), "openid profile offline_access");
        assert_eq!(Scope::parse("email").to_string(), "");
        assert_eq!(Scope::parse(&s.to_string()), s);
    }

    #[test]
    fn narrowing_is_allowed_widening_is_not() {
        let granted = Scope::parse("openid profile");
        assert!(Scope::parse("openid").within(granted));
        assert!(Scope::parse("").within(granted));
        assert!(!Scope::parse("openid offline_access").within(granted));
    }
}
