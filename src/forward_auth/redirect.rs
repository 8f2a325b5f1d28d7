//! Where a browser may be sent after logging in: `?rd=` on the login page,
//! `next` of `/api/login/complete`, and the login link `/auth/verify` hands
//! nginx. One check for all three, so an attacker's link cannot turn this
//! server into an open redirect.

use crate::config::Config;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Longest target accepted: a URL is carried in a query string and, for
/// nginx, in a response header, both of which have size limits.
pub const MAX_TARGET_LEN: usize = 4096;

/// Longest login link handed to nginx (`X-Auth-Redirect`): percent-encoding
/// can triple a URL, and nginx answers 500 to a response header past its
/// `proxy_buffer_size` (4 KB by default). Past this the link carries no
/// `rd`: the browser logs in and lands on the login server's page instead.
pub const MAX_LOGIN_LINK_LEN: usize = 2048;

/// What a query value must escape: everything but RFC 3986's unreserved set.
const QUERY_VALUE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `raw` as a place to send the browser, or `None` when it is not one:
///
/// - a same-origin path (`/…`, not `//…`, no backslash, only printable
///   ASCII), kept as given; or
/// - an absolute `https` URL (or `http` when `public_url` is http) without
///   credentials, whose host is `server.cookie_domain` or below it (any
///   port: the login cookie reaches them all), or is listed in
///   `forward_auth.allowed_redirect_hosts`, or which is on this server's
///   own origin.
///
/// Absolute URLs are parsed as browsers parse them (the URL Standard, via
/// the `url` crate) and answered in that parsed form, so the host checked
/// is the host the browser goes to: percent-encoded, upper-case or
/// dot-separated tricks in the host are judged after the decoding a
/// browser would do. Spaces, tabs, newlines and other control or non-ASCII
/// characters are refused outright rather than stripped, since browsers
/// silently drop some of them.
pub fn redirect_target(raw: &str, config: &Config) -> Option<String> {
    if raw.starts_with('/') {
        return same_origin_path(raw).map(str::to_owned);
    }
    absolute_target(raw, config).map(String::from)
}

/// Whether the browser's login cookie goes along to `target` (a value
/// [`redirect_target`] returned): a path here, this origin, or a host under
/// `server.cookie_domain`. A listed host outside the domain never receives
/// it, so sending an already logged-in browser there at once would only
/// bounce it back (a loop, with forward auth in front of that host).
pub fn carries_login(target: &str, config: &Config) -> bool {
    if target.starts_with('/') {
        return true;
    }
    let Ok(url) = url::Url::parse(target) else {
        return false;
    };
    if url.origin() == config.server.public_url.origin() {
        return true;
    }
    match (url.host(), &config.server.cookie_domain) {
        (Some(url::Host::Domain(host)), Some(domain)) => domain.covers(host),
        _ => false,
    }
}

/// The login page's address, carrying `return_to` as `?rd=` when given
/// (the caller has checked it with [`redirect_target`]).
pub fn login_url(config: &Config, return_to: Option<&str>) -> String {
    let base = config.public_base();
    match return_to {
        Some(target) => format!("{base}/?rd={}", query_value(target)),
        None => format!("{base}/"),
    }
}

/// `text` percent-encoded to be one value in a query string.
pub fn query_value(text: &str) -> String {
    utf8_percent_encode(text, QUERY_VALUE_SET).to_string()
}

/// A same-origin relative path, or `None`.
fn same_origin_path(path: &str) -> Option<&str> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && path.len() <= MAX_TARGET_LEN
        // Browsers drop tabs and newlines from URLs, turning "/\t/x" into "//x".
        && path.bytes().all(|b| b.is_ascii_graphic())
        && stays_a_path(path);
    ok.then_some(path)
}

/// Whether `path`, once a browser resolves its dot segments (`/.//x` is
/// `//x`), is still a path on this origin and not a scheme-relative URL.
fn stays_a_path(path: &str) -> bool {
    let Ok(base) = url::Url::parse("http://origin.invalid/") else {
        return false;
    };
    base.join(path).is_ok_and(|resolved| {
        resolved.origin() == base.origin()
            && !resolved[url::Position::BeforePath..].starts_with("//")
    })
}

fn absolute_target(raw: &str, config: &Config) -> Option<url::Url> {
    if raw.len() > MAX_TARGET_LEN
        || !raw.bytes().all(|b| b.is_ascii_graphic())
        // The URL Standard reads `\` as `/` in http(s) URLs; other parsers
        // (and people reading the link) do not.
        || raw.contains('\\')
    {
        return None;
    }
    let url = url::Url::parse(raw).ok()?;
    match url.scheme() {
        "https" => {}
        "http" if !config.is_https() => {}
        _ => return None,
    }
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let under_cookie_domain = match (url.host(), &config.server.cookie_domain) {
        (Some(url::Host::Domain(host)), Some(domain)) => domain.covers(host),
        _ => false,
    };
    let allowed = under_cookie_domain
        || url.origin() == config.server.public_url.origin()
        || config
            .forward_auth
            .allowed_redirect_hosts
            .iter()
            .any(|h| h.matches(&url));
    allowed.then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(public_url: &str, extra: &str) -> Config {
        let text = crate::config::tests::MINIMAL.replace("http://localhost:8080", public_url);
        Config::parse(&format!("{text}\n{extra}")).unwrap()
    }

    /// `login.example.com` with the cookie on `example.com`, two listed hosts.
    fn https_config() -> Config {
        let text = crate::config::tests::MINIMAL
            .replace("http://localhost:8080", "https://login.example.com")
            .replace("[server]", "[server]\ncookie_domain = \"example.com\"");
        Config::parse(&format!(
            "{text}\n[forward_auth]\nallowed_redirect_hosts = [\"grafana.internal\", \"10.0.0.5:3000\"]\n"
        ))
        .unwrap()
    }

    #[test]
    fn same_origin_paths_are_kept_as_given() {
        let c = https_config();
        for ok in ["/", "/dashboard", "/a/b?c=d#e", "/%2F%2Fevil.example"] {
            assert_eq!(redirect_target(ok, &c).as_deref(), Some(ok));
        }
        for bad in [
            "https://evil.example",
            "javascript:alert(1)",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/ /evil.example",
            "evil.example",
            "/ä",
            "",
            // Dot segments a browser resolves into a scheme-relative URL.
            "/.//evil.example",
            "/a/..//evil.example",
            "/%2e%2e//evil.example",
            "/./%2e//evil.example",
        ] {
            assert_eq!(redirect_target(bad, &c), None, "{bad:?}");
        }
        assert_eq!(
            redirect_target(&format!("/{}", "a".repeat(MAX_TARGET_LEN)), &c),
            None
        );
    }

    #[test]
    fn only_hosts_the_cookie_reaches_carry_the_login() {
        let c = https_config();
        for yes in [
            "/x",
            "https://login.example.com/x",
            "https://app.example.com/",
            "https://example.com/",
        ] {
            assert!(carries_login(yes, &c), "{yes}");
        }
        for no in ["https://grafana.internal/d", "https://10.0.0.5:3000/"] {
            assert!(redirect_target(no, &c).is_some());
            assert!(!carries_login(no, &c), "{no}");
        }
    }

    #[test]
    fn login_links_too_long_for_nginx_carry_no_return_address() {
        let c = https_config();
        // Slashes triple when encoded: 1300 of them fit MAX_TARGET_LEN, not a header.
        let long = format!("https://app.example.com/a?{}", "/".repeat(1300));
        assert!(redirect_target(&long, &c).is_some());
        assert_eq!(
            crate::forward_auth::login_link(Some(&long), &c),
            "https://login.example.com/"
        );
        let short = "https://app.example.com/a?x=1&y=2";
        assert_eq!(
            crate::forward_auth::login_link(Some(short), &c),
            "https://login.example.com/?rd=https%3A%2F%2Fapp.example.com%2Fa%3Fx%3D1%26y%3D2"
        );
    }

    #[test]
    fn hosts_under_the_cookie_domain_and_listed_hosts_are_allowed() {
        let c = https_config();
        for (given, sent) in [
            ("https://app.example.com/", "https://app.example.com/"),
            (
                "https://app.example.com/path?a=1&b=2#top",
                "https://app.example.com/path?a=1&b=2#top",
            ),
            ("https://example.com/", "https://example.com/"),
            ("https://a.b.example.com/x", "https://a.b.example.com/x"),
            ("https://login.example.com/", "https://login.example.com/"),
            (
                "https://app.example.com:8443/x",
                "https://app.example.com:8443/x",
            ),
            // Normalised as a browser would, and answered in that form.
            (
                "HTTPS://APP.Example.COM/Path",
                "https://app.example.com/Path",
            ),
            ("https://%61pp.example.com/", "https://app.example.com/"),
            ("https:app.example.com/x", "https://app.example.com/x"),
            ("https://grafana.internal/d", "https://grafana.internal/d"),
            (
                "https://GRAFANA.internal:443/d",
                "https://grafana.internal/d",
            ),
            ("https://10.0.0.5:3000/", "https://10.0.0.5:3000/"),
        ] {
            assert_eq!(redirect_target(given, &c).as_deref(), Some(sent), "{given}");
        }
    }

    #[test]
    fn attacker_encodings_are_refused() {
        let c = https_config();
        for bad in [
            "//evil.com",
            "https://evil.com",
            "https://example.com.evil.com",
            "https://evilexample.com",
            "https://app.example.com.evil.com/",
            "https://example.com@evil.com",
            "https://app.example.com:pw@evil.com",
            "https://user@app.example.com/",
            "https://:pw@app.example.com/",
            "https://evil.com\\@example.com",
            "https:/\\evil.com",
            "https:\\\\evil.com",
            "/\\evil.com",
            "https://evil.com%2F.example.com",
            "https://evil.com%2f.example.com",
            "https://evil.com#.example.com",
            "https://evil.com?.example.com",
            "https://evil.com/.example.com",
            "https://evil.com%00.example.com",
            "https://evil.com%09.example.com",
            "https://evil.com%20.example.com",
            "https://evil.com%40app.example.com",
            "https://app.example.com\t.evil.com",
            "https://app.exam\tple.com/",
            "https://app.example.com\r\n.evil.com",
            "https://app.example.com/\nx",
            " https://app.example.com/",
            "https://app.example.com/ x",
            "javascript:alert(1)",
            "JavaScript://app.example.com/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "ftp://app.example.com/",
            "ws://app.example.com/",
            "file:///etc/passwd",
            "app.example.com/x",
            // A trailing dot is another host to browsers (and to cookies).
            "https://app.example.com./",
            // IDN look-alikes, as Unicode and as punycode.
            "https://app.exаmple.com/",
            "https://аpp.example.com/",
            "https://xn--exmple-cua.com/",
            "https://app.xn--exmple-cua.com/",
            "https://example。com/",
            // http is a downgrade when the login server is https.
            "http://app.example.com/",
            "http://login.example.com/",
            // IP literals, unless listed (with their port).
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://[::1]/",
            "https://10.0.0.5/",
            "https://10.0.0.5:3001/",
            // Listed hosts match exactly, on the listed (or default) port.
            "https://grafana.internal:8443/",
            "https://x.grafana.internal/",
            "https://grafana.internal.evil.com/",
            "",
        ] {
            assert_eq!(redirect_target(bad, &c), None, "{bad:?}");
        }
        let long = format!("https://app.example.com/{}", "a".repeat(MAX_TARGET_LEN));
        assert_eq!(redirect_target(&long, &c), None);
    }

    #[test]
    fn without_a_cookie_domain_only_this_origin_and_listed_hosts() {
        let c = config("http://127.0.0.1:8080", "");
        assert_eq!(
            redirect_target("http://127.0.0.1:8080/x", &c).as_deref(),
            Some("http://127.0.0.1:8080/x")
        );
        for bad in [
            "http://127.0.0.1:8081/x",
            "http://localhost:8080/x",
            "https://127.0.0.1:8080/x",
            "http://app.example.com/",
        ] {
            assert_eq!(redirect_target(bad, &c), None, "{bad:?}");
        }
        // An http login server may send browsers to http hosts.
        let c = config(
            "http://login.example.com:8080",
            "[forward_auth]\nallowed_redirect_hosts = [\"127.0.0.1:3000\"]",
        );
        assert_eq!(
            redirect_target("http://127.0.0.1:3000/", &c).as_deref(),
            Some("http://127.0.0.1:3000/")
        );
    }

    #[test]
    fn the_login_url_carries_the_target_encoded() {
        let c = https_config();
        assert_eq!(login_url(&c, None), "https://login.example.com/");
        assert_eq!(
            login_url(&c, Some("https://app.example.com/p?a=1&b=2#f")),
            "https://login.example.com/?rd=https%3A%2F%2Fapp.example.com%2Fp%3Fa%3D1%26b%3D2%23f"
        );
        // What the encoding gives back is what was put in.
        let url = url::Url::parse(&login_url(
            &c,
            Some("https://app.example.com/x?q=a+b&r=%2F"),
        ))
        .unwrap();
        let rd: Vec<_> = url.query_pairs().collect();
        assert_eq!(rd.len(), 1);
        assert_eq!(rd[0].1, "https://app.example.com/x?q=a+b&r=%2F");
    }
}
