//! The client's IP address, as shown on the phone and used for rate limits.
//!
//! `X-Forwarded-For` / `X-Real-IP` are believed only when the TCP peer is a
//! configured trusted proxy; otherwise anyone could spoof the IP the phone
//! user relies on to recognise their own login.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The client address for a request that arrived from `peer`.
///
/// Walks `X-Forwarded-For` from the right (each proxy appends the address it
/// saw), skipping trusted proxies, and takes the first address that is not
/// one: entries further left were written by the client. An entry that does
/// not parse ends the walk at the last trusted hop, so garbage cannot steer
/// the result. `X-Real-IP` is only consulted when there is no `X-Forwarded-For`.
///
/// Runs for every request behind a proxy (rate limits, the audit log), so
/// it walks the headers in place rather than collecting them.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    let peer = canonical(peer);
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded = headers.get_all(X_FORWARDED_FOR);
    if forwarded.iter().next().is_none() {
        return headers
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_hop)
            .unwrap_or(peer);
    }
    // Later headers were appended later: the last entry of the last header
    // is the closest hop.
    let entries = forwarded
        .iter()
        .rev()
        .flat_map(|v| v.to_str().unwrap_or("garbage").rsplit(','));
    let mut closest = peer;
    for entry in entries {
        match parse_hop(entry) {
            Some(ip) if is_trusted(ip) => closest = ip,
            Some(ip) => return ip,
            None => return closest,
        }
    }
    closest
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Whether `peer` (the TCP peer) is one of the `trusted` proxies, whose
/// forwarding headers are believed.
pub fn is_trusted_proxy(peer: IpAddr, trusted: &[IpNet]) -> bool {
    let peer = canonical(peer);
    trusted.iter().any(|net| net.contains(&peer))
}

/// One forwarded address: `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:443`.
fn parse_hop(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|sa| sa.ip()))?;
    Some(canonical(ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) compare as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn untrusted_peers_cannot_spoof_their_address() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-real-ip", "5.6.7.8")]);
        assert_eq!(client_ip(ip("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &nets(&["10.0.0.0/8"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_proxy_forwarded_for_is_believed_rightmost_first() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        // The client claimed 6.6.6.6; the proxy appended the real peer 198.51.100.1.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.1, 10.1.1.1")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.1"));
    }

    #[test]
    fn multiple_forwarded_for_headers_are_one_list() {
        let trusted = nets(&["127.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.2"),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.2"));
    }

    #[test]
    fn entries_are_walked_from_the_last_header_backwards() {
        let trusted = nets(&["127.0.0.0/8", "10.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.2"),
            ("x-forwarded-for", "10.0.0.1,10.0.0.2"),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.2"));
        // Nothing but trusted hops: the farthest of them.
        let h = headers(&[
            ("x-forwarded-for", "10.0.0.9"),
            ("x-forwarded-for", "10.0.0.1"),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("10.0.0.9"));
        // An empty header is garbage next to the proxy: the proxy it is.
        let h = headers(&[("x-forwarded-for", "198.51.100.2"), ("x-forwarded-for", "")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn real_ip_is_used_when_forwarded_for_is_absent() {
        let trusted = nets(&["127.0.0.0/8"]);
        let h = headers(&[("x-real-ip", "198.51.100.3")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.3"));
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers(&[]), &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn garbage_headers_fall_back_to_the_peer() {
        let trusted = nets(&["127.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "not an ip"), ("x-real-ip", "nope")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn client_garbage_cannot_switch_to_a_spoofed_real_ip() {
        let trusted = nets(&["127.0.0.0/8"]);
        // The client sent "x" and a fake X-Real-IP; the proxy appended the truth.
        let h = headers(&[
            ("x-forwarded-for", "x, 198.51.100.7"),
            ("x-real-ip", "1.2.3.4"),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.7"));
        // Garbage right next to the proxy: stop at the last trusted hop.
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7, unknown"),
            ("x-real-ip", "1.2.3.4"),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn forwarded_entries_with_ports_are_understood() {
        let trusted = nets(&["127.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.8:51234")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.8"));
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let trusted = nets(&["127.0.0.0/8"]);
        let h = headers(&[("x-real-ip", "198.51.100.4")]);
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &h, &trusted),
            ip("198.51.100.4")
        );
        assert_eq!(
            client_ip(ip("::ffff:192.0.2.1"), &h, &trusted),
            ip("192.0.2.1")
        );
    }
}
