//! Paints a page in one language before it leaves the server: `<html
//! lang>`, the text of every `data-i18n` element and the attributes named by
//! `data-i18n-attr` (the same markup static/i18n.js translates in the
//! browser), and the `[pages]` links as `<meta name="qrl-…">` for the
//! scripts. Done with an HTML rewriter, so the markup is parsed, not
//! searched, and every value is escaped on the way in.

use super::page_strings::{PageLang, PageStrings};
use crate::config::PagesConfig;
use lol_html::html_content::{ContentType, Element};
use lol_html::{RewriteStrSettings, element, rewrite_str};

/// The `[pages]` links, by the name of the `<meta>` the pages carry for each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PageLinks(Vec<(&'static str, String)>);

impl PageLinks {
    /// The meta names; a page holds `<meta name="…">` placeholders for them,
    /// given their `content` when configured and removed otherwise.
    pub const OTHER_LOGIN_URL: &'static str = "qrl-other-login-url";
    pub const APP_LINK: &'static str = "qrl-app-link";
    pub const APP_STORE_URL: &'static str = "qrl-app-store-url";

    pub fn from_config(pages: &PagesConfig) -> Self {
        let set = [
            (
                Self::OTHER_LOGIN_URL,
                pages.other_login_url.as_ref().map(|u| u.to_string()),
            ),
            // The template, `{url}` and all: the page fills it in with its
            // own phone link (the same substitution as `app_link_for`).
            (Self::APP_LINK, pages.app_link.clone()),
            (
                Self::APP_STORE_URL,
                pages.app_store_url.as_ref().map(|u| u.to_string()),
            ),
        ];
        Self(
            set.into_iter()
                .filter_map(|(name, v)| Some((name, v?)))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Folded into the page's ETag: another config is another page.
    pub fn fingerprint(&self) -> String {
        self.0.iter().map(|(n, v)| format!("{n}={v}\n")).collect()
    }
}

/// `html` in `lang`, with `links`, and `body_data` as `data-*` attributes
/// of `<body>` (what the server knows that the script should). Keys missing
/// from `strings` keep the page's own (English) text; an element with
/// `data-i18n-vars` is left to the script, which knows its values.
pub fn render(
    html: &str,
    strings: &PageStrings,
    lang: PageLang,
    links: &PageLinks,
    body_data: &[(&str, &str)],
) -> Result<String, lol_html::errors::RewritingError> {
    let text = |key: &str| strings.get(lang, key.trim());
    let settings = RewriteStrSettings::new()
        .append_element_content_handler(element!("html", |el| {
            el.set_attribute("lang", lang.tag())?;
            Ok(())
        }))
        .append_element_content_handler(element!("body", |el| {
            for (name, value) in body_data {
                el.set_attribute(&format!("data-{name}"), &literal(value))?;
            }
            Ok(())
        }))
        .append_element_content_handler(element!("[data-i18n]", |el: &mut Element| {
            if el.has_attribute("data-i18n-vars") {
                return Ok(());
            }
            if let Some(s) = el.get_attribute("data-i18n").as_deref().and_then(text) {
                el.set_inner_content(s, ContentType::Text);
            }
            Ok(())
        }))
        .append_element_content_handler(element!("[data-i18n-attr]", |el: &mut Element| {
            let pairs = el.get_attribute("data-i18n-attr").unwrap_or_default();
            for (name, key) in pairs.split(';').filter_map(|p| p.split_once(':')) {
                if let Some(s) = text(key) {
                    el.set_attribute(name.trim(), &literal(s))?;
                }
            }
            Ok(())
        }))
        .append_element_content_handler(element!("meta[name^='qrl-']", |el: &mut Element| {
            let name = el.get_attribute("name").unwrap_or_default();
            match links.get(&name) {
                Some(value) => el.set_attribute("content", &literal(value))?,
                None => el.remove(),
            }
            Ok(())
        }));
    rewrite_str(html, settings)
}

/// `value` for `set_attribute`, which takes entities as written and escapes
/// only `"`: its `&`s escaped, so `&amp;` in a URL stays `&amp;`.
fn literal(value: &str) -> String {
    value.replace('&', "&amp;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings() -> PageStrings {
        PageStrings::parse(
            "  en: {\n    'p.title': 'Hello',\n    'p.alt': 'Code',\n    'p.x': 'X',\n  },\n  \
             zh: {\n    'p.title': '你好 <b>&',\n    'p.alt': '二维码 \"q\" &amp;',\n  },\n",
        )
        .unwrap()
    }

    const PAGE: &str = "<!doctype html><html lang=\"en\"><head>\
        <meta name=\"qrl-app-link\"><meta name=\"qrl-app-store-url\"></head><body>\
        <h1 data-i18n=\"p.title\">Hello</h1><img alt=\"Code\" data-i18n-attr=\"alt:p.alt; title:p.x\">\
        <p data-i18n=\"p.missing\">Kept</p><p data-i18n=\"p.title\" data-i18n-vars=\"{}\">Script's</p>\
        </body></html>";

    #[test]
    fn text_attributes_and_lang_are_translated_escaped() {
        let page = render(PAGE, &strings(), PageLang::Zh, &PageLinks::default(), &[]).unwrap();
        assert!(page.contains("<html lang=\"zh-CN\">"), "{page}");
        assert!(
            page.contains("<h1 data-i18n=\"p.title\">你好 &lt;b&gt;&amp;</h1>"),
            "{page}"
        );
        assert!(
            page.contains("alt=\"二维码 &quot;q&quot; &amp;amp;\""),
            "{page}"
        );
        // English fallback for a key zh lacks; a missing key keeps the markup's text.
        assert!(page.contains("title=\"X\""), "{page}");
        assert!(page.contains(">Kept</p>"), "{page}");
        assert!(page.contains(">Script's</p>"), "{page}");
    }

    #[test]
    fn configured_links_fill_their_metas_and_the_others_go() {
        let pages: PagesConfig =
            toml::from_str("app_link = \"myapp://open?u={url}&x=\\\"1\\\"\"").unwrap();
        let page = render(
            PAGE,
            &strings(),
            PageLang::En,
            &PageLinks::from_config(&pages),
            &[("code", "expired")],
        )
        .unwrap();
        assert!(
            page.contains(
                "<meta name=\"qrl-app-link\" content=\"myapp://open?u={url}&amp;x=&quot;1&quot;\">"
            ),
            "{page}"
        );
        assert!(!page.contains("qrl-app-store-url"), "{page}");
        assert!(page.contains("<html lang=\"en\">"));
        assert!(page.contains("<body data-code=\"expired\">"), "{page}");
    }
}
