//! The pages' strings (`static/i18n.js`): both languages have the same keys,
//! every key the pages use exists, none is dead, and every error code the
//! API can answer has a text of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn manifest_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The string tables of `i18n.js` (`en: { 'key': '…', … }`, one entry per
/// line), and the script with the tables left out.
fn tables() -> (BTreeMap<String, BTreeSet<String>>, String) {
    let source = std::fs::read_to_string(manifest_path("static/i18n.js")).unwrap();
    let mut tables = BTreeMap::<String, BTreeSet<String>>::new();
    let mut code = String::new();
    let mut current: Option<String> = None;
    for (n, line) in source.lines().enumerate() {
        let trimmed = line.trim();
        match &current {
            None => {
                if let Some(lang) = trimmed.strip_suffix(": {")
                    && matches!(lang, "en" | "zh")
                {
                    current = Some(lang.to_owned());
                } else {
                    code.push_str(line);
                    code.push('\n');
                }
            }
            Some(lang) => {
                if trimmed == "}," || trimmed == "}" {
                    current = None;
                } else if !(trimmed.is_empty() || trimmed.starts_with("//")) {
                    let key = trimmed
                        .strip_prefix('\'')
                        .and_then(|rest| rest.split_once("': "))
                        .map(|(key, _)| key)
                        .unwrap_or_else(|| {
                            panic!("i18n.js:{}: expected `'key': 'text',`: {line}", n + 1)
                        });
                    let fresh = tables.entry(lang.clone()).or_default().insert(key.into());
                    assert!(fresh, "i18n.js:{}: {key} twice in {lang}", n + 1);
                }
            }
        }
    }
    assert!(current.is_none(), "i18n.js: a table is not closed");
    (tables, code)
}

/// Every `namespace.name` written as a key in the pages and scripts (and in
/// the server's page code, which paints some texts itself): quoted
/// (`'login.title'`, `data-i18n="login.title"`) or after a colon in
/// `data-i18n-attr="alt:login.qr_alt"`, and only in the namespaces the
/// tables use (so the storage key `'qrlogin.lang'` is not taken for one).
fn used_keys(namespaces: &BTreeSet<String>, i18n_code: &str) -> BTreeSet<String> {
    let mut sources = vec![i18n_code.to_owned()];
    for entry in std::fs::read_dir(manifest_path("static")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let is_page_or_script = name.ends_with(".html") || name.ends_with(".js");
        if is_page_or_script && name != "i18n.js" {
            sources.push(std::fs::read_to_string(&path).unwrap());
        }
    }
    // Not all of src/: file names such as "phone.html" would pass for keys.
    let painter = manifest_path("src/http/phone_page.rs");
    sources.push(std::fs::read_to_string(painter).unwrap());
    let key_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut keys = BTreeSet::new();
    for source in &sources {
        for namespace in namespaces {
            for (start, _) in source.match_indices(&format!("{namespace}.")) {
                let opens = source[..start].ends_with(['\'', '"', ':']);
                let rest = &source[start + namespace.len() + 1..];
                let name_len = rest.find(|c| !key_char(c)).unwrap_or(rest.len());
                let closes = rest[name_len..].starts_with(['\'', '"', ';']);
                if opens && closes && name_len > 0 {
                    keys.insert(format!("{namespace}.{}", &rest[..name_len]));
                }
            }
        }
    }
    keys
}

/// The `error` codes the server can answer with, found in `src/`: the
/// snake_case literals of the file that defines the error type's
/// `fn code(&self)` (but `error` and `message`, the body's field names),
/// and the codes passed to `bad_request`.
fn api_error_codes() -> BTreeSet<String> {
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let is_code = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && !matches!(s, "error" | "message")
    };
    let mut files = Vec::new();
    rust_files(&manifest_path("src"), &mut files);
    let mut codes = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        if source.contains("fn code(&self)") {
            let literals = source.split('"').skip(1).step_by(2);
            codes.extend(literals.filter(|l| is_code(l)).map(str::to_owned));
        }
        for call in source.split("bad_request(").skip(1) {
            if let Some(literal) = call.trim_start().strip_prefix('"')
                && let Some((code, _)) = literal.split_once('"')
                && is_code(code)
            {
                codes.insert(code.to_owned());
            }
        }
    }
    // Guard the scan itself with codes the README documents.
    for known in [
        "already_claimed",
        "expired",
        "invalid_qr",
        "not_found",
        "rate_limited",
    ] {
        assert!(
            codes.contains(known),
            "found no {known:?} in src/: {codes:?}"
        );
    }
    codes
}

#[test]
fn both_languages_have_the_same_keys() {
    let (tables, _) = tables();
    let en = &tables["en"];
    let zh = &tables["zh"];
    assert!(
        en.len() > 50,
        "only {} keys in en: did the parse go wrong?",
        en.len()
    );
    let only_en: Vec<_> = en.difference(zh).collect();
    let only_zh: Vec<_> = zh.difference(en).collect();
    assert!(
        only_en.is_empty() && only_zh.is_empty(),
        "only in en: {only_en:?}; only in zh: {only_zh:?}"
    );
}

/// Keys used and keys defined are the same set: `api.<code>` keys are
/// looked up from the answer's `error` code at run time, so they count as
/// used when the server has that code; every other key must appear
/// literally in a page or script.
#[test]
fn every_key_used_exists_and_every_key_is_used() {
    let (tables, i18n_code) = tables();
    let defined = &tables["en"];
    let namespaces: BTreeSet<String> = defined
        .iter()
        .map(|k| k.split('.').next().unwrap().to_owned())
        .collect();
    let mut used = used_keys(&namespaces, &i18n_code);
    used.extend(api_error_codes().iter().map(|code| format!("api.{code}")));

    let missing: Vec<_> = used.difference(defined).collect();
    assert!(missing.is_empty(), "used but not in i18n.js: {missing:?}");
    let dead: Vec<_> = defined.difference(&used).collect();
    assert!(dead.is_empty(), "in i18n.js but used nowhere: {dead:?}");
}
