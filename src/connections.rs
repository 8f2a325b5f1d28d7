//! Caps on open connections, checked as each one is accepted.
//!
//! A black-box probe held 12,000 connections from one address (stalled
//! bodies), 12,012 of the process's 20,000 file descriptors. Two caps now
//! stand before hyper sees a connection: one per client address, and one
//! overall below the open-file limit, so the process sheds load with a fast
//! answer instead of failing `accept` (which only leaves connections queued
//! in the kernel, unanswered).
//!
//! The per-address cap counts the TCP peer, not the client address of
//! `X-Forwarded-For` (that is a per-request fact; a connection carries many
//! requests). Behind nginx the peer is nginx, whose connections carry every
//! client's requests: peers in `server.trusted_proxies` are therefore not
//! capped per address (the proxy caps its own clients; nginx's
//! `limit_conn` does this), only counted in the overall cap.

use crate::http::ApiError;
use crate::http::client_ip::is_trusted_proxy;
use crate::http::rate_limit::limit_key;
use dashmap::DashMap;
use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The open-connection counts and their caps. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ConnectionGate(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    open: AtomicUsize,
    max: usize,
    /// Open connections per client address (IPv6: per /64). An entry lives
    /// only while its address has a connection open: nothing to prune.
    per_ip: DashMap<IpAddr, usize>,
    max_per_ip: usize,
    exempt: Vec<IpNet>,
}

/// One admitted connection; its slots come back when it is dropped.
#[derive(Debug)]
pub struct Admitted {
    gate: ConnectionGate,
    key: Option<IpAddr>,
}

impl ConnectionGate {
    /// At most `max` connections, `max_per_ip` from one address unless it
    /// is one of `exempt` (the trusted proxies).
    pub fn new(max: usize, max_per_ip: usize, exempt: Vec<IpNet>) -> Self {
        Self(Arc::new(Shared {
            open: AtomicUsize::new(0),
            max,
            per_ip: DashMap::new(),
            max_per_ip,
            exempt,
        }))
    }

    /// Admits a connection from `peer`, or says why not: `ConnectionsFull`
    /// (503) or `TooManyConnections` (429).
    pub fn admit(&self, peer: IpAddr) -> Result<Admitted, ApiError> {
        let shared = &self.0;
        let taken = shared.open.fetch_add(1, Ordering::AcqRel);
        if taken >= shared.max {
            shared.open.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::ConnectionsFull);
        }
        let key = (!is_trusted_proxy(peer, &shared.exempt)).then(|| limit_key(canonical(peer)));
        if let Some(key) = key {
            // The entry's lock is released before anything else is done.
            let mut count = shared.per_ip.entry(key).or_insert(0);
            if *count >= shared.max_per_ip {
                drop(count);
                shared.open.fetch_sub(1, Ordering::AcqRel);
                return Err(ApiError::TooManyConnections);
            }
            *count += 1;
        }
        Ok(Admitted {
            gate: self.clone(),
            key,
        })
    }

    /// The overall cap.
    pub fn max(&self) -> usize {
        self.0.max
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Acquire)
    }

    /// Addresses with a connection open now (what the per-address map holds).
    pub fn addresses(&self) -> usize {
        self.0.per_ip.len()
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let shared = &self.gate.0;
        if let Some(key) = self.key {
            shared.per_ip.remove_if_mut(&key, |_, count| {
                *count -= 1;
                *count == 0
            });
        }
        shared.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// IPv4-mapped IPv6 peers (a dual-stack listener) count as their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The cap on open connections for `soft_limit` open files: seven eighths,
/// keeping at least 32 descriptors for the listener, Redis, files and the
/// audit log. Above the held-connection budget (three quarters), so a full
/// set of held polls still leaves room for the requests that end them.
pub fn budget_for_open_files(soft_limit: u64) -> usize {
    let soft = usize::try_from(soft_limit).unwrap_or(usize::MAX);
    let reserve = (soft / 8).max(32);
    soft.saturating_sub(reserve).max(1)
}

/// `server.max_connections`, or the budget of the process's open-file limit.
pub fn connection_budget(configured: Option<usize>) -> usize {
    configured.unwrap_or_else(|| {
        let soft = rlimit::Resource::NOFILE.get_soft().unwrap_or(1024);
        budget_for_open_files(soft)
    })
}

/// The raw HTTP/1.1 answer for a connection refused before hyper saw it:
/// the API's JSON error, `Connection: close`.
pub fn refusal_bytes(error: &ApiError) -> Vec<u8> {
    let (status, code) = error.status_and_code();
    let body = crate::api::ErrorBody {
        error: code.to_owned(),
        message: error.to_string(),
    };
    let body = serde_json::to_string(&body).unwrap_or_default();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nretry-after: 5\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_address_gets_its_share_and_slots_come_back() {
        let gate = ConnectionGate::new(10, 2, vec![]);
        let a1 = gate.admit(ip("192.0.2.1")).unwrap();
        let _a2 = gate.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert!(matches!(
            gate.admit(ip("192.0.2.1")),
            Err(ApiError::TooManyConnections)
        ));
        let _b = gate.admit(ip("192.0.2.2")).unwrap();
        assert_eq!(gate.open(), 3);
        drop(a1);
        let _a3 = gate.admit(ip("192.0.2.1")).unwrap();
        assert_eq!((gate.open(), gate.addresses()), (3, 2));
    }

    #[test]
    fn the_overall_cap_sheds_and_the_map_empties() {
        let gate = ConnectionGate::new(2, 5, vec![]);
        let a = gate.admit(ip("2001:db8::1")).unwrap();
        let b = gate.admit(ip("2001:db8::2")).unwrap();
        assert!(matches!(
            gate.admit(ip("192.0.2.9")),
            Err(ApiError::ConnectionsFull)
        ));
        drop((a, b));
        assert_eq!((gate.open(), gate.addresses()), (0, 0));
    }

    #[test]
    fn trusted_proxies_are_not_capped_per_address() {
        let gate = ConnectionGate::new(10, 1, vec!["10.0.0.0/8".parse().unwrap()]);
        let held: Vec<_> = (0..5)
            .map(|_| gate.admit(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!((gate.open(), gate.addresses()), (5, 0));
        drop(held);
        assert_eq!(gate.open(), 0);
    }

    #[test]
    fn the_budget_stays_below_the_open_file_limit_and_above_the_held_one() {
        for soft in [256, 1024, 20_000, 1 << 20] {
            let budget = budget_for_open_files(soft) as u64;
            assert!(budget < soft, "{soft}");
            assert!(
                budget > crate::login::budget_for_open_files(soft) as u64,
                "{soft}"
            );
        }
    }
}
