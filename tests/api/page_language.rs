//! The login and phone pages leave the server in the reader's language
//! (the switch's `qrl_lang` cookie, else `Accept-Language`, else English),
//! each language with its own ETag, and carry the `[pages]` links.

use crate::helpers::*;
use reqwest::StatusCode;

struct Page {
    status: StatusCode,
    etag: String,
    vary: String,
    body: String,
}

async fn get(t: &TestApp, path: &str, headers: &[(&str, &str)]) -> Page {
    // No cookie store: the cookie is exactly the one given here.
    let mut request = reqwest::Client::new().get(t.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let resp = request.send().await.unwrap();
    let header = |name| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    Page {
        status: resp.status(),
        etag: header("etag"),
        vary: header("vary"),
        body: resp.text().await.unwrap(),
    }
}

const ZH: (&str, &str) = ("accept-language", "zh-CN,zh;q=0.9,en;q=0.8");
const EN: (&str, &str) = ("accept-language", "en-US,en;q=0.9");

#[tokio::test]
async fn the_login_page_is_painted_in_the_browser_language() {
    let t = spawn_app().await;
    let zh = get(&t, "/", &[ZH]).await;
    assert_eq!(zh.status, StatusCode::OK);
    assert!(zh.body.contains("<html lang=\"zh-CN\">"), "{}", zh.body);
    assert!(zh.body.contains(">扫码登录</h1>"), "the heading");
    assert!(
        zh.body
            .contains("<title data-i18n=\"login.doc_title\">登录 · qrlogin</title>")
    );
    assert!(zh.body.contains("alt=\"登录二维码\""), "an attribute");
    assert!(!zh.body.contains("Scan to log in"), "no English left");

    let en = get(&t, "/", &[EN]).await;
    assert!(en.body.contains("<html lang=\"en\">"));
    assert!(en.body.contains(">Scan to log in</h1>"));
    let none = get(&t, "/", &[]).await;
    assert!(
        none.body.contains(">Scan to log in</h1>"),
        "English by default"
    );

    for page in [&zh, &en] {
        let vary = page.vary.to_ascii_lowercase();
        assert!(
            vary.contains("accept-language") && vary.contains("cookie"),
            "{vary}"
        );
    }
    assert_ne!(zh.etag, en.etag, "one ETag per language");
    assert_eq!(en.etag, none.etag, "the same English page, the same ETag");
}

#[tokio::test]
async fn each_language_revalidates_only_against_its_own_etag() {
    let t = spawn_app().await;
    let zh = get(&t, "/", &[ZH]).await;
    let again = get(&t, "/", &[ZH, ("if-none-match", &zh.etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.etag, zh.etag);
    // A cache holding the Chinese page must not be told it fits an English reader.
    let other = get(&t, "/", &[EN, ("if-none-match", &zh.etag)]).await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(other.body.contains(">Scan to log in</h1>"));
}

#[tokio::test]
async fn the_switch_cookie_wins_over_the_browser_language() {
    let t = spawn_app().await;
    let en = get(&t, "/", &[ZH, ("cookie", "qrl_lang=en")]).await;
    assert!(en.body.contains("<html lang=\"en\">"));
    assert!(en.body.contains(">Scan to log in</h1>"));
    let zh = get(&t, "/", &[EN, ("cookie", "x=1; qrl_lang=zh")]).await;
    assert!(zh.body.contains(">扫码登录</h1>"));
    assert_ne!(zh.etag, en.etag);
    let odd = get(&t, "/", &[ZH, ("cookie", "qrl_lang=<b>")]).await;
    assert!(
        odd.body.contains(">扫码登录</h1>"),
        "an unknown value is ignored"
    );
}

#[tokio::test]
async fn the_phone_page_is_painted_too() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let zh = get(&t, &format!("/l/{}", qr.id), &[ZH]).await;
    assert_eq!(zh.status, StatusCode::OK);
    assert!(zh.body.contains("<html lang=\"zh-CN\">"));
    assert!(zh.body.contains(">确认登录 · qrlogin</title>"));
    assert!(zh.body.contains(">选择演示账号</h1>"));
    let en = get(&t, &format!("/l/{}", qr.id), &[("cookie", "qrl_lang=en")]).await;
    assert!(en.body.contains(">Choose a demo account</h1>"));
    assert!(en.vary.to_ascii_lowercase().contains("cookie"));
}

#[tokio::test]
async fn the_pages_links_are_given_to_the_pages_only_when_configured() {
    let t = spawn_app().await;
    for path in ["/", "/l/abc"] {
        let page = get(&t, path, &[]).await;
        assert!(!page.body.contains("qrl-"), "{path}: {}", page.body);
    }
    let plain_etag = get(&t, "/", &[]).await.etag;

    let t = spawn_app_with(|c| {
        c.pages.other_login_url = Some("https://sso.example/login?a=1&b=2".parse().unwrap());
        c.pages.app_link = Some("myapp://qrlogin?url={url}&from=\"web\"".into());
        c.pages.app_store_url = Some("https://apps.example/qrlogin".parse().unwrap());
    })
    .await;
    for path in ["/", "/l/abc"] {
        let page = get(&t, path, &[]).await;
        for meta in [
            r#"<meta name="qrl-other-login-url" content="https://sso.example/login?a=1&amp;b=2">"#,
            r#"<meta name="qrl-app-link" content="myapp://qrlogin?url={url}&amp;from=&quot;web&quot;">"#,
            r#"<meta name="qrl-app-store-url" content="https://apps.example/qrlogin">"#,
        ] {
            assert!(page.body.contains(meta), "{path}: {meta} in {}", page.body);
        }
    }
    assert_ne!(
        get(&t, "/", &[]).await.etag,
        plain_etag,
        "other links, another ETag"
    );
}

/// A branded `static_dir` paints its pages with its own i18n.js.
#[tokio::test]
async fn a_static_dir_paints_with_its_own_strings() {
    let root = crate::startup::temp_dir();
    let brand = root.join("brand");
    std::fs::create_dir_all(&brand).unwrap();
    let page = "<!doctype html><html lang=\"en\"><title data-i18n=\"t.title\">ACME</title>\
                <h1 data-i18n=\"t.title\">ACME</h1></html>";
    std::fs::write(brand.join("index.html"), page).unwrap();
    std::fs::write(brand.join("phone.html"), page).unwrap();
    let strings = |zh: &str| {
        format!(
            "export const STRINGS = {{\n  en: {{\n    't.title': 'ACME',\n  }},\n  zh: {{\n    't.title': '{zh}',\n  }},\n}};\n"
        )
    };
    std::fs::write(brand.join("i18n.js"), strings("艾克米")).unwrap();
    let text = test_config_text("http://127.0.0.1:1", "").replacen(
        "[server]\n",
        "[server]\nstatic_dir = \"brand\"\n",
        1,
    );
    std::fs::write(root.join("config.toml"), text).unwrap();
    let config = qrlogin::config::Config::load(&root.join("config.toml")).unwrap();
    let listener = qrlogin::startup::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let t = spawn_server(config, listener).await;

    let first = get(&t, "/", &[ZH]).await;
    assert!(
        first.body.contains("<h1 data-i18n=\"t.title\">艾克米</h1>"),
        "{}",
        first.body
    );
    // An edited i18n.js shows without a restart, under a new ETag.
    std::fs::write(brand.join("i18n.js"), strings("新艾克米")).unwrap();
    let edited = get(&t, "/", &[ZH, ("if-none-match", &first.etag)]).await;
    assert_eq!(edited.status, StatusCode::OK);
    assert!(edited.body.contains(">新艾克米</h1>"), "{}", edited.body);
}

/// The first paint of a Chinese browser is Chinese: with every script
/// blocked, the page the browser built from the server's HTML alone has
/// the Chinese heading and `lang` (and no script ran: the language switch,
/// which i18n.js fills, is empty).
#[tokio::test]
async fn a_chinese_browser_paints_chinese_before_any_script_runs() {
    let t = spawn_app().await;
    let mut browser = crate::chromium::Chromium::start_in("zh-CN");
    let tab = browser.open("about:blank").await;
    browser.emulate_desktop(&tab).await;
    browser.block_urls(&tab, &["*/static/*.js"]).await;
    browser.navigate(&tab, &t.url("/")).await;
    browser
        .wait_for(
            &tab,
            "document.readyState === 'complete'",
            "the page loaded",
        )
        .await;
    let seen = browser
        .eval(
            &tab,
            "({lang: document.documentElement.lang, title: document.title, \
              h1: document.querySelector('h1').textContent, \
              switches: document.querySelectorAll('[data-lang-choice]').length})",
        )
        .await;
    assert_eq!(seen["switches"], 0, "a script ran: {seen}");
    assert_eq!(seen["lang"], "zh-CN", "{seen}");
    assert_eq!(seen["h1"], "扫码登录", "{seen}");
    assert_eq!(seen["title"], "登录 · qrlogin", "{seen}");
    browser.screenshot(&tab, "login-first-paint-zh").await;
}

/// The switch's choice reaches the server: an English browser that chose
/// 中文 gets the next page painted in Chinese, scripts or not.
#[tokio::test]
async fn the_language_switch_is_remembered_by_the_server() {
    let t = spawn_app().await;
    let mut browser = crate::chromium::Chromium::start();
    let tab = browser.open("about:blank").await;
    browser.emulate_desktop(&tab).await;
    browser.navigate(&tab, &t.url("/")).await;
    browser
        .wait_for(
            &tab,
            "document.querySelector('h1').textContent === 'Scan to log in'",
            "English",
        )
        .await;
    browser.click(&tab, "[data-lang-choice=zh]").await;
    browser
        .wait_for(
            &tab,
            "document.querySelector('h1').textContent === '扫码登录'",
            "Chinese",
        )
        .await;
    assert_eq!(
        browser
            .eval(&tab, "document.cookie.includes('qrl_lang=zh')")
            .await,
        true
    );
    browser.block_urls(&tab, &["*/static/*.js"]).await;
    // Marks this document, so the wait below sees only the next one.
    browser.eval(&tab, "window.oldPage = true").await;
    browser.navigate(&tab, &t.url("/")).await;
    let seen = browser
        .wait_for(
            &tab,
            "!window.oldPage && document.readyState === 'complete' && \
             ({h1: document.querySelector('h1').textContent, \
               switches: document.querySelectorAll('[data-lang-choice]').length})",
            "the page again",
        )
        .await;
    assert_eq!(seen["switches"], 0, "a script ran: {seen}");
    assert_eq!(seen["h1"], "扫码登录", "{seen}");
}
