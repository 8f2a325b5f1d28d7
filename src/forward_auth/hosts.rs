//! Host names in the configuration: the login cookie's domain
//! (`server.cookie_domain`) and the extra hosts `?rd=` may send browsers to
//! (`forward_auth.allowed_redirect_hosts`). Both are validated on
//! construction and kept in the form the `url` crate gives a parsed URL's
//! host (lower-case ASCII, IDNs in punycode), so checking a URL against them
//! is a plain comparison.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The domain the login cookie is set for (`Domain=`): browsers send it to
/// that host and to every host below it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct CookieDomain(String);

impl CookieDomain {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `host` (a parsed URL's host) is this domain or below it, as
    /// browsers match a cookie's `Domain` (RFC 6265 §5.1.3).
    pub fn covers(&self, host: &str) -> bool {
        host == self.0
            || host
                .strip_suffix(self.0.as_str())
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
    }
}

impl FromStr for CookieDomain {
    type Err = String;

    /// A leading dot is dropped, as browsers drop it (RFC 6265 §5.2.3), so
    /// `.example.com` from another tool's config means `example.com`.
    fn from_str(text: &str) -> Result<Self, String> {
        let why = |why: &str| format!("server.cookie_domain: {text:?} {why}");
        let domain = domain_name(text.strip_prefix('.').unwrap_or(text)).map_err(why)?;
        // A cookie for `com` would go to every site under it: browsers
        // refuse it, so the login would silently never stick.
        if !domain.contains('.') {
            return Err(why("must have at least two labels (example.com, not com)"));
        }
        // Nor for `co.uk` or `github.io`: browsers refuse that cookie too,
        // and every host under it (anyone's) would pass as a return address.
        if psl::suffix_str(&domain) == Some(domain.as_str()) {
            return Err(why(
                "is a public suffix (like co.uk or github.io): use your own domain under it",
            ));
        }
        Ok(Self(domain))
    }
}

impl Serialize for CookieDomain {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl TryFrom<String> for CookieDomain {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

/// A host that `?rd=` may send browsers to although it is not under the
/// cookie domain: exactly this host, on the given port, or on the scheme's
/// default port (80, 443) when none is given.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AllowedHost {
    host: url::Host<String>,
    port: Option<u16>,
}

impl AllowedHost {
    /// Whether `url`'s host and port are this entry.
    pub fn matches(&self, url: &url::Url) -> bool {
        let same_host = match (url.host(), &self.host) {
            (Some(url::Host::Domain(a)), url::Host::Domain(b)) => a == b,
            (Some(url::Host::Ipv4(a)), url::Host::Ipv4(b)) => a == *b,
            (Some(url::Host::Ipv6(a)), url::Host::Ipv6(b)) => a == *b,
            _ => false,
        };
        // `Url::port` is `None` exactly when the URL is on its scheme's default port.
        same_host && url.port() == self.port
    }
}

impl FromStr for AllowedHost {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let why = |why: &str| format!("forward_auth.allowed_redirect_hosts: {text:?} {why}");
        let shape = "must be a host name or IP address, optionally with :port (no scheme or path)";
        // `[v6]:port`, `host:port`, or a bare host.
        let (host, port) = match text.strip_prefix('[') {
            Some(rest) => {
                let (v6, after) = rest.split_once(']').ok_or_else(|| why(shape))?;
                let port = match after {
                    "" => None,
                    _ => Some(after.strip_prefix(':').ok_or_else(|| why(shape))?),
                };
                (format!("[{v6}]"), port)
            }
            None => match text.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (text.to_owned(), None),
            },
        };
        let port = match port {
            None => None,
            // Digits only: `u16::from_str` would take "+80".
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
                _ => return Err(why("has a port that is not a number from 1 to 65535")),
            },
        };
        // `010.0.0.5` would be read as octal (8.0.0.5) by the URL Standard.
        if looks_like_ipv4(&host)
            && host
                .split('.')
                .any(|octet| octet.len() > 1 && octet.starts_with('0'))
        {
            return Err(why(
                "has an IPv4 octet with a leading zero (write 10.0.0.5, not 010.0.0.5)",
            ));
        }
        let host = if host.starts_with('[') || looks_like_ipv4(&host) {
            match url::Host::parse(&host) {
                Ok(ip @ (url::Host::Ipv4(_) | url::Host::Ipv6(_))) => ip,
                _ => return Err(why(shape)),
            }
        } else {
            url::Host::Domain(domain_name(&host).map_err(why)?)
        };
        Ok(Self { host, port })
    }
}

/// As written in the config: `host` or `host:port` (IPv6 in brackets).
impl Serialize for AllowedHost {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.port {
            Some(port) => serializer.collect_str(&format_args!("{}:{port}", self.host)),
            None => serializer.collect_str(&self.host),
        }
    }
}

impl TryFrom<String> for AllowedHost {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

/// Dotted digits only: what the config means as an IPv4 address. (The URL
/// standard also reads `0x7f.1` as one; a config entry must say it plainly.)
fn looks_like_ipv4(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// `text` as a DNS host name in the form a parsed URL carries it
/// (lower-case, IDNs in punycode), or why it is not one: letters, digits
/// and hyphens in dot-separated labels of 1-63 characters, no IP address,
/// no trailing dot (browsers treat `example.com.` as another host).
pub(crate) fn domain_name(text: &str) -> Result<String, &'static str> {
    if text.is_empty() {
        return Err("must not be empty");
    }
    if text.ends_with('.') {
        return Err("must not end with a dot");
    }
    // Anything but letters, digits, '-' and '.' (before IDN mapping):
    // the URL parser would percent-decode `%`, accept `*` and `_`, and
    // read `:`/`/` as a port or path.
    if text
        .chars()
        .any(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    {
        return Err("must be a plain host name (letters, digits, '-' and '.')");
    }
    let ascii = match url::Host::parse(text) {
        Ok(url::Host::Domain(d)) => d,
        Ok(_) => return Err("must be a domain name, not an IP address"),
        Err(_) => return Err("is not a valid domain name"),
    };
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if ascii.len() > 253 || !ascii.split('.').all(label_ok) {
        return Err("is not a valid domain name");
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_domains_are_normalised_or_refused() {
        for (given, kept) in [
            ("example.com", "example.com"),
            ("Example.COM", "example.com"),
            (".example.com", "example.com"),
            ("login.example.co.uk", "login.example.co.uk"),
            ("bücher.example", "xn--bcher-kva.example"),
        ] {
            assert_eq!(given.parse::<CookieDomain>().unwrap().as_str(), kept);
        }
        for bad in [
            "",
            ".",
            "com",
            ".com",
            "localhost",
            "..example.com",
            "example.com.",
            "127.0.0.1",
            "[::1]",
            "::1",
            "0x7f.0.0.1",
            "example.com:443",
            "https://example.com",
            "example.com/",
            "*.example.com",
            "ex ample.com",
            "exa_mple.com",
            "example%2Ecom",
            "-example.com",
            "example-.com",
            "a..com",
            // Public suffixes: anyone's hosts are under them.
            "co.uk",
            ".co.uk",
            "github.io",
            "com.cn",
        ] {
            let err = bad.parse::<CookieDomain>().unwrap_err();
            assert!(err.starts_with("server.cookie_domain: "), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_cookie_domain_covers_itself_and_hosts_below_it() {
        let d: CookieDomain = "example.com".parse().unwrap();
        for host in ["example.com", "app.example.com", "a.b.example.com"] {
            assert!(d.covers(host), "{host}");
        }
        for host in [
            "evilexample.com",
            "example.com.evil.com",
            "example.co",
            "com",
            ".example.com",
            "app.example.com.",
            "xample.com",
        ] {
            assert!(!d.covers(host), "{host}");
        }
    }

    #[test]
    fn allowed_hosts_name_a_host_and_maybe_a_port() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        let host: AllowedHost = "Grafana.Internal".parse().unwrap();
        assert!(host.matches(&url("https://grafana.internal/d")));
        assert!(host.matches(&url("http://grafana.internal/d")));
        assert!(host.matches(&url("https://grafana.internal:443/d")));
        assert!(!host.matches(&url("https://grafana.internal:8443/d")));
        assert!(!host.matches(&url("https://grafana.internal.evil/d")));

        let with_port: AllowedHost = "127.0.0.1:3000".parse().unwrap();
        assert!(with_port.matches(&url("http://127.0.0.1:3000/")));
        assert!(!with_port.matches(&url("http://127.0.0.1/")));
        assert!(!with_port.matches(&url("http://127.0.0.2:3000/")));

        let v6: AllowedHost = "[::1]:8080".parse().unwrap();
        assert!(v6.matches(&url("http://[::1]:8080/")));
        assert!(!v6.matches(&url("http://[::2]:8080/")));
        let v6: AllowedHost = "[::1]".parse().unwrap();
        assert!(v6.matches(&url("https://[::1]/")));

        for bad in [
            "",
            "https://grafana.internal",
            "grafana.internal/",
            "grafana.internal:",
            "grafana.internal:0",
            "grafana.internal:65536",
            "grafana.internal:+80",
            "grafana.internal:80:80",
            "010.0.0.5",
            "10.0.0.05:3000",
            "*.example.com",
            "user@grafana.internal",
            "grafana.internal.",
            "0x7f.1",
            "[::1",
            "[::1]80",
            "[not-v6]",
            "1.2.3.4.5",
        ] {
            let err = bad.parse::<AllowedHost>().unwrap_err();
            assert!(
                err.starts_with("forward_auth.allowed_redirect_hosts: "),
                "{bad:?}: {err}"
            );
        }
    }
}
