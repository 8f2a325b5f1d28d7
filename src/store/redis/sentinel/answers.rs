//! Asking every sentinel at once where the primary is, and reading one
//! verdict out of their answers.
//!
//! Each sentinel is asked `SENTINEL MASTER <name>` concurrently, each
//! within its own timeout, so a sentinel that drops packets delays no
//! answer beyond that bound and blocks none. Their answers are weighed as
//! Sentinel itself weighs configurations: the highest `config-epoch` wins
//! (a sentinel partitioned away with an old primary still names it, under
//! an older epoch), and the primary counts as down when any sentinel says
//! it is objectively down (`o_down`) or at least `quorum` of them say it is
//! subjectively down (`s_down`) — the point at which they start failing it
//! over. Only when no sentinel answers at all is the verdict
//! [`Verdict::Unreachable`]: the caller may then stay on a primary it
//! already has.

use crate::store::redis::connect::is_refusal;
use redis::{ErrorKind, RedisResult};
use std::collections::HashMap;
use std::time::Duration;

/// What one sentinel said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Answer {
    /// It did not answer in time, or the connection failed.
    Unreachable(String),
    /// It refused our login.
    Refused(String),
    /// It answered but knows no primary by that name.
    NoMaster(String),
    /// It names a primary.
    Master(Named),
}

/// A primary as one sentinel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Named {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) epoch: u64,
    pub(super) s_down: bool,
    pub(super) o_down: bool,
    pub(super) quorum: usize,
}

/// What the sentinels, together, say.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// This is the primary.
    Primary { host: String, port: u16 },
    /// Some sentinel answered, and none names a primary that is up.
    Down(String),
    /// Every sentinel that answered refused our login.
    Refused(String),
    /// No sentinel answered.
    Unreachable(String),
}

/// Asks `sentinel` for `master_name`, within `timeout`.
pub(super) async fn ask(sentinel: &redis::Client, master_name: &str, timeout: Duration) -> Answer {
    let query = async {
        let mut conn = sentinel.get_multiplexed_async_connection().await?;
        redis::cmd("SENTINEL")
            .arg("MASTER")
            .arg(master_name)
            .query_async::<HashMap<String, String>>(&mut conn)
            .await
    };
    match tokio::time::timeout(timeout, query).await {
        Err(_) => Answer::Unreachable("did not answer in time".into()),
        Ok(result) => read_answer(result),
    }
}

fn read_answer(result: RedisResult<HashMap<String, String>>) -> Answer {
    let fields = match result {
        Ok(fields) => fields,
        Err(e) if is_refusal(&e) => return Answer::Refused(e.to_string()),
        // An error reply ("No such master with that name"): it answered.
        Err(e) if matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension) => {
            return Answer::NoMaster(e.to_string());
        }
        Err(e) => return Answer::Unreachable(e.to_string()),
    };
    let field = |name: &str| fields.get(name).map(String::as_str);
    let parsed = (|| {
        let flags: Vec<&str> = field("flags")?.split(',').collect();
        Some(Named {
            host: field("ip")?.to_owned(),
            port: field("port")?.parse().ok()?,
            epoch: field("config-epoch")?.parse().ok()?,
            s_down: flags.contains(&"s_down"),
            o_down: flags.contains(&"o_down"),
            quorum: field("quorum")?.parse().ok()?,
        })
    })();
    parsed.map_or_else(
        || Answer::NoMaster("an answer without ip, port, flags, config-epoch or quorum".into()),
        Answer::Master,
    )
}

/// The one verdict `answers` (one per sentinel) add up to.
pub(super) fn verdict(answers: &[Answer]) -> Verdict {
    let named: Vec<&Named> = answers
        .iter()
        .filter_map(|a| match a {
            Answer::Master(n) => Some(n),
            _ => None,
        })
        .collect();
    let Some(newest) = named.iter().max_by_key(|n| n.epoch) else {
        let first = |pick: fn(&Answer) -> Option<&String>| answers.iter().find_map(pick);
        if let Some(why) = first(|a| match a {
            Answer::NoMaster(why) => Some(why),
            _ => None,
        }) {
            return Verdict::Down(format!("the sentinels know no such primary: {why}"));
        }
        if let Some(why) = first(|a| match a {
            Answer::Refused(why) => Some(why),
            _ => None,
        }) {
            return Verdict::Refused(why.clone());
        }
        let why = first(|a| match a {
            Answer::Unreachable(why) => Some(why),
            _ => None,
        });
        return Verdict::Unreachable(match why {
            Some(why) => format!("no sentinel answered: {why}"),
            None => "no sentinel is configured".into(),
        });
    };
    let same_epoch = named.iter().filter(|n| n.epoch == newest.epoch);
    if same_epoch
        .clone()
        .any(|n| (&n.host, n.port) != (&newest.host, newest.port))
    {
        return Verdict::Down(format!(
            "the sentinels name different primaries under epoch {}",
            newest.epoch
        ));
    }
    let on_it = || {
        named
            .iter()
            .filter(|n| (&n.host, n.port) == (&newest.host, newest.port))
    };
    let subjectively_down = on_it().filter(|n| n.s_down).count();
    if on_it().any(|n| n.o_down) || subjectively_down >= newest.quorum.max(1) {
        return Verdict::Down(format!(
            "the sentinels flag the primary {}:{} down",
            newest.host, newest.port
        ));
    }
    Verdict::Primary {
        host: newest.host.clone(),
        port: newest.port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(port: u16, epoch: u64, flags: &str) -> Answer {
        Answer::Master(Named {
            host: "10.0.0.1".into(),
            port,
            epoch,
            s_down: flags.contains("s_down"),
            o_down: flags.contains("o_down"),
            quorum: 2,
        })
    }

    fn primary(port: u16) -> Verdict {
        Verdict::Primary {
            host: "10.0.0.1".into(),
            port,
        }
    }

    fn unreachable() -> Answer {
        Answer::Unreachable("timed out".into())
    }

    #[test]
    fn the_newest_epoch_wins_over_a_stale_sentinel_listed_first() {
        let answers = [named(6379, 0, ""), named(6380, 1, ""), named(6380, 1, "")];
        assert_eq!(verdict(&answers), primary(6380));
    }

    #[test]
    fn one_reachable_sentinel_is_enough() {
        let answers = [unreachable(), unreachable(), named(6379, 3, "")];
        assert_eq!(verdict(&answers), primary(6379));
    }

    #[test]
    fn a_primary_objectively_down_is_down_even_if_a_sentinel_still_sees_it() {
        let answers = [named(6379, 0, ""), named(6379, 0, "s_down,o_down")];
        assert!(matches!(verdict(&answers), Verdict::Down(_)));
    }

    #[test]
    fn a_quorum_of_subjective_downs_is_down() {
        let answers = [
            named(6379, 0, ""),
            named(6379, 0, "s_down"),
            named(6379, 0, "s_down"),
        ];
        assert!(matches!(verdict(&answers), Verdict::Down(_)));
    }

    #[test]
    fn one_sentinel_cut_off_from_a_healthy_primary_does_not_take_it_down() {
        let answers = [
            named(6379, 0, "s_down"),
            named(6379, 0, ""),
            named(6379, 0, ""),
        ];
        assert_eq!(verdict(&answers), primary(6379));
    }

    #[test]
    fn the_old_primary_down_under_an_old_epoch_does_not_hide_the_new_one() {
        let answers = [named(6379, 0, "s_down,o_down"), named(6380, 1, "")];
        assert_eq!(verdict(&answers), primary(6380));
    }

    #[test]
    fn sentinels_that_answer_without_a_primary_mean_down_not_unreachable() {
        let answers = [unreachable(), Answer::NoMaster("No such master".into())];
        assert!(matches!(verdict(&answers), Verdict::Down(_)));
    }

    #[test]
    fn only_silence_from_every_sentinel_is_unreachable() {
        assert!(matches!(
            verdict(&[unreachable(), unreachable()]),
            Verdict::Unreachable(_)
        ));
        assert!(matches!(verdict(&[]), Verdict::Unreachable(_)));
    }

    #[test]
    fn a_refused_login_is_reported_as_such() {
        let answers = [unreachable(), Answer::Refused("WRONGPASS".into())];
        assert!(matches!(verdict(&answers), Verdict::Refused(_)));
    }

    #[test]
    fn two_primaries_under_one_epoch_are_not_guessed_between() {
        let answers = [named(6379, 2, ""), named(6380, 2, "")];
        assert!(matches!(verdict(&answers), Verdict::Down(_)));
    }

    #[test]
    fn a_sentinel_reply_is_read_by_field_name() {
        let reply: HashMap<String, String> = [
            ("name", "qrlogin"),
            ("ip", "10.0.0.7"),
            ("port", "6381"),
            ("flags", "master,s_down"),
            ("config-epoch", "4"),
            ("quorum", "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            read_answer(Ok(reply)),
            Answer::Master(Named {
                host: "10.0.0.7".into(),
                port: 6381,
                epoch: 4,
                s_down: true,
                o_down: false,
                quorum: 2,
            })
        );
    }
}
