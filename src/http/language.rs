//! Which of the pages' two languages a request gets: the one the page's
//! switch saved in a cookie, else the browser's `Accept-Language`, else
//! English. The server-rendered pages and the scripts decide alike, so the
//! first paint is already in the reader's language.

use super::page_strings::PageLang;
use axum::http::{HeaderMap, header};
use axum_extra::extract::CookieJar;

/// Set by `setLang` in static/i18n.js (`zh` or `en`); readable by scripts
/// on purpose, as it holds only the choice of language.
pub const LANG_COOKIE: &str = "qrl_lang";

/// The language for this request.
pub fn for_request(headers: &HeaderMap) -> PageLang {
    let chosen = CookieJar::from_headers(headers)
        .get(LANG_COOKIE)
        .and_then(|c| match c.value() {
            "zh" => Some(PageLang::Zh),
            "en" => Some(PageLang::En),
            _ => None,
        });
    chosen.unwrap_or_else(|| from_accept_language(headers))
}

/// The browser's preferred one of the two (English unless it prefers Chinese).
pub fn from_accept_language(headers: &HeaderMap) -> PageLang {
    let Some(accept) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return PageLang::En;
    };
    // Tags best first; the first in one of our two languages decides.
    for tag in accept_language::parse(accept) {
        let primary = tag.split('-').next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("zh") {
            return PageLang::Zh;
        }
        if primary.eq_ignore_ascii_case("en") {
            return PageLang::En;
        }
    }
    PageLang::En
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(pairs: &[(header::HeaderName, &str)]) -> PageLang {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name, value.parse().unwrap());
        }
        for_request(&headers)
    }

    #[test]
    fn chinese_only_when_the_browser_prefers_it() {
        let accept = |v| asking(&[(header::ACCEPT_LANGUAGE, v)]);
        assert_eq!(asking(&[]), PageLang::En);
        assert_eq!(accept("zh-CN,zh;q=0.9,en;q=0.8"), PageLang::Zh);
        assert_eq!(accept("zh-TW"), PageLang::Zh);
        assert_eq!(accept("en-US,en;q=0.9,zh-CN;q=0.8"), PageLang::En);
        assert_eq!(accept("fr-FR,zh;q=0.5"), PageLang::Zh);
        assert_eq!(accept("fr-FR"), PageLang::En);
        assert_eq!(accept("*"), PageLang::En);
    }

    #[test]
    fn the_switch_cookie_wins_over_the_browser() {
        let zh_browser = (header::ACCEPT_LANGUAGE, "zh-CN");
        assert_eq!(
            asking(&[zh_browser.clone(), (header::COOKIE, "a=1; qrl_lang=en")]),
            PageLang::En
        );
        assert_eq!(asking(&[(header::COOKIE, "qrl_lang=zh")]), PageLang::Zh);
        // A value of neither language is ignored, not an error.
        assert_eq!(
            asking(&[zh_browser, (header::COOKIE, "qrl_lang=fr")]),
            PageLang::Zh
        );
    }
}
