//! Who may pass one nginx location: the rules its `auth_request` URI
//! carries in its query (`/auth/verify?allow=alice,bob&policy=admins`).

use crate::config::PolicyConfig;

/// The conditions of one request to `/auth/verify`. Every `allow` and
/// `policy` parameter is one condition and all must hold: adding a rule
/// only ever narrows who passes, so a rule added by mistake locks people
/// out rather than letting them in. No parameter: every logged-in user.
#[derive(Debug, Default)]
pub struct Access<'a> {
    conditions: Vec<Condition<'a>>,
}

#[derive(Debug)]
enum Condition<'a> {
    /// `allow=alice,bob`: one of these user ids.
    Users(Vec<String>),
    /// `policy=admins,ops`: a member of one of these configured policies.
    Policies(Vec<&'a PolicyConfig>),
}

/// A rule that cannot be what the operator meant. The request is refused
/// (403): nginx turns any other answer than 2xx/401/403 into a 500 for
/// everybody, and letting the request through would ignore the rule.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// A parameter other than `allow` and `policy`: a typo such as `alow`
    /// would otherwise let every logged-in user through.
    #[error("unknown parameter {0:?} (only allow and policy)")]
    UnknownParameter(String),
    /// A name no `[[forward_auth.policies]]` entry has.
    #[error("unknown policy {0:?} (not in [[forward_auth.policies]])")]
    UnknownPolicy(String),
    /// `allow=` or `policy=` with nothing in it.
    #[error("{0}= lists nobody")]
    Empty(&'static str),
}

impl<'a> Access<'a> {
    /// Reads the rules from a query string (`None`: no query at all).
    pub fn parse(query: Option<&str>, policies: &'a [PolicyConfig]) -> Result<Self, RuleError> {
        let mut conditions = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let names: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            let condition = match key.as_ref() {
                "allow" if names.is_empty() => return Err(RuleError::Empty("allow")),
                "allow" => Condition::Users(names.into_iter().map(str::to_owned).collect()),
                "policy" if names.is_empty() => return Err(RuleError::Empty("policy")),
                "policy" => Condition::Policies(
                    names
                        .into_iter()
                        .map(|name| {
                            policies
                                .iter()
                                .find(|p| p.name == name)
                                .ok_or_else(|| RuleError::UnknownPolicy(name.to_owned()))
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => return Err(RuleError::UnknownParameter(truncated(other))),
            };
            conditions.push(condition);
        }
        Ok(Self { conditions })
    }

    /// Whether the user with this id satisfies every condition.
    pub fn admits(&self, user_id: &str) -> bool {
        self.conditions.iter().all(|c| match c {
            Condition::Users(ids) => ids.iter().any(|id| id == user_id),
            Condition::Policies(policies) => policies
                .iter()
                .any(|p| p.users.iter().any(|id| id == user_id)),
        })
    }
}

/// A client-chosen name, short enough for a log line.
fn truncated(name: &str) -> String {
    name.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies() -> Vec<PolicyConfig> {
        vec![
            PolicyConfig {
                name: "admins".into(),
                users: vec!["alice".into()],
            },
            PolicyConfig {
                name: "ops".into(),
                users: vec!["bob".into(), "carol".into()],
            },
        ]
    }

    /// Who of alice, bob, carol and dave passes `query`.
    fn admitted(query: Option<&str>) -> Vec<&'static str> {
        let policies = policies();
        let access = Access::parse(query, &policies).unwrap();
        ["alice", "bob", "carol", "dave"]
            .into_iter()
            .filter(|id| access.admits(id))
            .collect()
    }

    #[test]
    fn no_rules_admit_every_logged_in_user() {
        assert_eq!(admitted(None), ["alice", "bob", "carol", "dave"]);
        assert_eq!(admitted(Some("")), ["alice", "bob", "carol", "dave"]);
    }

    #[test]
    fn allow_lists_user_ids_and_policy_names_groups() {
        assert_eq!(admitted(Some("allow=alice,bob")), ["alice", "bob"]);
        assert_eq!(admitted(Some("allow=alice%2C%20dave")), ["alice", "dave"]);
        assert_eq!(admitted(Some("allow=+carol+,")), ["carol"]);
        assert_eq!(admitted(Some("policy=admins")), ["alice"]);
        assert_eq!(
            admitted(Some("policy=admins,ops")),
            ["alice", "bob", "carol"]
        );
        // Ids are compared exactly.
        assert_eq!(admitted(Some("allow=Alice")), Vec::<&str>::new());
    }

    #[test]
    fn every_rule_must_hold() {
        assert_eq!(admitted(Some("allow=alice,bob&policy=ops")), ["bob"]);
        assert_eq!(admitted(Some("policy=ops&allow=carol,dave")), ["carol"]);
        assert_eq!(admitted(Some("allow=alice&allow=bob")), Vec::<&str>::new());
    }

    #[test]
    fn rules_that_cannot_be_meant_are_errors() {
        let policies = policies();
        let err = |q: &str| Access::parse(Some(q), &policies).unwrap_err();
        assert_eq!(
            err("alow=alice"),
            RuleError::UnknownParameter("alow".into())
        );
        assert_eq!(
            err("allow=alice&x"),
            RuleError::UnknownParameter("x".into())
        );
        assert_eq!(
            err("group=admins"),
            RuleError::UnknownParameter("group".into())
        );
        assert_eq!(
            err("policy=admin"),
            RuleError::UnknownPolicy("admin".into())
        );
        assert_eq!(
            err("policy=ops,nope"),
            RuleError::UnknownPolicy("nope".into())
        );
        assert_eq!(err("allow="), RuleError::Empty("allow"));
        assert_eq!(err("allow=,+,"), RuleError::Empty("allow"));
        assert_eq!(err("policy"), RuleError::Empty("policy"));
        let long = format!("{}=1", "k".repeat(1000));
        assert!(matches!(err(&long), RuleError::UnknownParameter(k) if k.len() == 64));
        // Invalid percent-encoding and bytes are read leniently, never a panic.
        assert_eq!(
            err("%FF%FE=1"),
            RuleError::UnknownParameter("\u{FFFD}\u{FFFD}".into())
        );
    }
}
