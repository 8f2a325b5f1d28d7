//! Request headers the server interprets: the client IP behind trusted
//! proxies (`X-Forwarded-For`, `X-Real-IP`), an event stream's
//! `Last-Event-ID` and the pages' `Accept-Language` (and language cookie).
//! The input is split into header values at newlines; the client IP is
//! always the peer or an address a header named, never a trusted proxy
//! chosen by the client.
#![no_main]

use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use qrlogin::http::client_ip::client_ip;
use qrlogin::http::events::last_event_id;
use qrlogin::http::language;
use std::net::{IpAddr, Ipv4Addr};

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    let names = [
        "x-forwarded-for",
        "x-real-ip",
        "last-event-id",
        "accept-language",
        "cookie",
        "x-forwarded-for",
    ];
    for (i, value) in data.split(|&b| b == b'\n').enumerate() {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(names[i % names.len()], value);
        }
    }
    let trusted: [IpNet; 2] = ["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    let peer = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
    let ip = client_ip(peer, &headers, &trusted);
    let untrusted = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    assert_eq!(client_ip(untrusted, &headers, &trusted), untrusted);
    let _ = ip;
    let _ = last_event_id(&headers);
    let _ = language::for_request(&headers);
    let _ = language::from_accept_language(&headers);
});
