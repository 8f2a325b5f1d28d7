//! A readable name for the browser asking to log in ("Chrome on Windows
//! 10"), from its User-Agent, for the phone to show beside the raw string.

use woothee::parser::Parser;
use woothee::woothee::VALUE_UNKNOWN;

/// "Browser on OS", or whichever of the two the User-Agent names; `None`
/// when it names neither (the phone shows the raw string then). It is only
/// what the browser claims, so it helps an honest user recognise their own
/// computer and is never a security check.
pub fn describe_device(user_agent: &str) -> Option<String> {
    let parsed = Parser::new().parse(user_agent)?;
    let known = |s: &str| (!s.is_empty() && s != VALUE_UNKNOWN).then(|| s.to_owned());
    match (known(parsed.name), known(parsed.os)) {
        (Some(browser), Some(os)) => Some(format!("{browser} on {os}")),
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_read_as_browser_on_os() {
        let chrome_windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
            (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(
            describe_device(chrome_windows).as_deref(),
            Some("Chrome on Windows 10")
        );
        let firefox_linux =
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(
            describe_device(firefox_linux).as_deref(),
            Some("Firefox on Linux")
        );
        let safari_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 \
            (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
        assert_eq!(
            describe_device(safari_mac).as_deref(),
            Some("Safari on Mac OSX")
        );
    }

    #[test]
    fn an_unrecognised_agent_has_no_description() {
        assert_eq!(describe_device(""), None);
        assert_eq!(describe_device("curl-ish/0.1"), None);
        assert_eq!(describe_device("\u{202e}garbage\0"), None);
    }
}
