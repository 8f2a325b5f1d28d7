//! How close two client IPs are: the phone's, as it scans, and the
//! browser's, stored with the session when it asked for the code.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The browser's network compared with the phone's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Proximity {
    /// The same IP address: most likely the same network (a home or
    /// office behind one NAT).
    SameNetwork,
    /// The same /24 (IPv4) or /48 (IPv6, one site's allocation).
    Nearby,
    /// Elsewhere — or not comparable: the user should be warned.
    Different,
}

/// IPv4 networks this long count as one neighbourhood.
const V4_PREFIX: u32 = 24;
/// IPv6 networks this long count as one neighbourhood (a site).
const V6_PREFIX: u32 = 48;

impl Proximity {
    /// Compares the two addresses. IPv4-mapped IPv6 addresses compare as
    /// IPv4; an IPv4 and an IPv6 address are always `Different` (a
    /// dual-stack home may show both, but nothing ties them together).
    pub fn between(phone: IpAddr, browser: IpAddr) -> Self {
        let (phone, browser) = (phone.to_canonical(), browser.to_canonical());
        if phone == browser {
            return Self::SameNetwork;
        }
        let near = match (phone, browser) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX << (32 - V4_PREFIX);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX << (128 - V6_PREFIX);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        };
        if near { Self::Nearby } else { Self::Different }
    }

    /// Compares the phone's address with the browser's as stored with the
    /// session (text): one that does not parse is never near.
    pub fn to_stored(phone: IpAddr, browser: &str) -> Self {
        browser
            .parse::<IpAddr>()
            .map_or(Self::Different, |b| Self::between(phone, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &str, b: &str) -> Proximity {
        Proximity::between(a.parse().unwrap(), b.parse().unwrap())
    }

    #[test]
    fn the_same_address_is_the_same_network() {
        assert_eq!(p("203.0.113.7", "203.0.113.7"), Proximity::SameNetwork);
        assert_eq!(p("2001:db8::1", "2001:db8::1"), Proximity::SameNetwork);
        assert_eq!(
            p("::ffff:203.0.113.7", "203.0.113.7"),
            Proximity::SameNetwork
        );
    }

    #[test]
    fn the_same_slash_24_or_slash_48_is_nearby() {
        assert_eq!(p("203.0.113.7", "203.0.113.250"), Proximity::Nearby);
        assert_eq!(p("203.0.113.7", "203.0.112.7"), Proximity::Different);
        assert_eq!(
            p("2001:db8:aa:1::1", "2001:db8:aa:ffff::9"),
            Proximity::Nearby
        );
        assert_eq!(p("2001:db8:aa::1", "2001:db8:ab::1"), Proximity::Different);
    }

    #[test]
    fn other_families_and_unreadable_addresses_are_different() {
        assert_eq!(p("203.0.113.7", "2001:db8::1"), Proximity::Different);
        let phone = "203.0.113.7".parse().unwrap();
        assert_eq!(
            Proximity::to_stored(phone, "203.0.113.9"),
            Proximity::Nearby
        );
        assert_eq!(Proximity::to_stored(phone, ""), Proximity::Different);
        assert_eq!(
            Proximity::to_stored(phone, "not an ip"),
            Proximity::Different
        );
    }
}
