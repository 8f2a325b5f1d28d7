//! The pages' strings, read from `static/i18n.js` (its `STRINGS` tables,
//! one `'key': 'text',` entry per line) so the server can paint a page in
//! the reader's language before any script runs, without a second copy of
//! the texts.

use std::collections::HashMap;

/// The two languages of the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageLang {
    En,
    Zh,
}

impl PageLang {
    /// The BCP 47 tag for `<html lang>`, as i18n.js's `locale()` gives it.
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh-CN",
        }
    }

    /// The name of its table in `STRINGS` (and the value of the language cookie).
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Self::En),
            "zh" => Some(Self::Zh),
            _ => None,
        }
    }
}

/// Both tables of `STRINGS`.
#[derive(Debug, Default)]
pub struct PageStrings {
    en: HashMap<String, String>,
    zh: HashMap<String, String>,
}

impl PageStrings {
    /// Parses the tables out of i18n.js's source. Everything outside
    /// `en: {` … `},` and `zh: {` … `},` is script and is skipped; inside, a
    /// line is blank, a `//` comment or an entry, and anything else is an
    /// error naming the line (the file's own test checks the same format).
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut strings = Self::default();
        let mut current: Option<PageLang> = None;
        for (n, line) in source.lines().enumerate() {
            let trimmed = line.trim();
            let Some(lang) = current else {
                current = trimmed.strip_suffix(": {").and_then(PageLang::from_code);
                continue;
            };
            if trimmed == "}," || trimmed == "}" {
                current = None;
            } else if !(trimmed.is_empty() || trimmed.starts_with("//")) {
                let (key, text) = entry(trimmed)
                    .ok_or_else(|| format!("i18n.js:{}: not `'key': 'text',`", n + 1))?;
                let table = match lang {
                    PageLang::En => &mut strings.en,
                    PageLang::Zh => &mut strings.zh,
                };
                table.insert(key, text);
            }
        }
        if current.is_some() {
            return Err("i18n.js: a table is not closed".into());
        }
        if strings.en.is_empty() {
            return Err("i18n.js: no `en: {` table".into());
        }
        Ok(strings)
    }

    /// The text of `key` in `lang`, falling back to English as `t()` does.
    pub fn get(&self, lang: PageLang, key: &str) -> Option<&str> {
        let table = match lang {
            PageLang::En => &self.en,
            PageLang::Zh => &self.zh,
        };
        table
            .get(key)
            .or_else(|| self.en.get(key))
            .map(String::as_str)
    }
}

/// `'key': 'text',` (the comma optional on the last entry).
fn entry(line: &str) -> Option<(String, String)> {
    let (key, rest) = quoted(line)?;
    let rest = rest.strip_prefix(':')?.trim_start();
    let (text, rest) = quoted(rest)?;
    matches!(rest.trim(), "," | "").then_some((key, text))
}

/// A single-quoted JavaScript string at the start of `s` and what follows
/// it. Knows the escapes a text may need (`\'`, `\\`, `\"`, `\n`) and
/// refuses any other, rather than show a reader a mangled text.
fn quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => return Some((out, &body[i + 1..])),
            '\\' => match chars.next()?.1 {
                e @ ('\'' | '\\' | '"') => out.push(e),
                'n' => out.push('\n'),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "export const STRINGS = {\n  en: {\n    'a.title': 'Hello',\n\n    // a comment\n    \
                          'a.quote': 'It\\'s {name}',\n    'a.only_en': 'English only'\n  },\n  zh: {\n    \
                          'a.title': '你好',\n    'a.quote': '是 {name}',\n  },\n};\nconst x = { en: 1 };\n";

    #[test]
    fn reads_both_tables_with_escapes_and_falls_back_to_english() {
        let s = PageStrings::parse(SOURCE).unwrap();
        assert_eq!(s.get(PageLang::En, "a.title"), Some("Hello"));
        assert_eq!(s.get(PageLang::Zh, "a.title"), Some("你好"));
        assert_eq!(s.get(PageLang::En, "a.quote"), Some("It's {name}"));
        assert_eq!(s.get(PageLang::Zh, "a.only_en"), Some("English only"));
        assert_eq!(s.get(PageLang::Zh, "a.missing"), None);
    }

    #[test]
    fn a_line_it_cannot_read_is_an_error_naming_it() {
        let bad = SOURCE.replace("'a.title': 'Hello',", "'a.title': \"Hello\",");
        assert_eq!(
            PageStrings::parse(&bad).unwrap_err(),
            "i18n.js:3: not `'key': 'text',`"
        );
        let unknown_escape = SOURCE.replace("It\\'s", "It\\u0027s");
        assert!(PageStrings::parse(&unknown_escape).is_err());
        assert!(PageStrings::parse("  en: {\n 'a': 'b',\n").is_err());
        assert!(PageStrings::parse("nothing here").is_err());
    }

    #[test]
    fn reads_the_shipped_file() {
        let source = include_str!("../../static/i18n.js");
        let s = PageStrings::parse(source).unwrap();
        assert_eq!(s.get(PageLang::Zh, "login.title"), Some("扫码登录"));
        assert_eq!(s.get(PageLang::En, "login.title"), Some("Scan to log in"));
    }
}
