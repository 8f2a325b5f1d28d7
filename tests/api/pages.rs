//! The pages and the operational endpoints.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn login_and_phone_pages_are_served_with_security_headers() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    for path in [
        "/".to_owned(),
        format!("/l/{}", qr.id),
        "/static/login.js".to_owned(),
        "/static/style.css".to_owned(),
    ] {
        let resp = t.client.get(t.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let h = resp.headers();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
    }
    let page = t
        .client
        .get(t.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/static/login.js"));
    let phone = t
        .client
        .get(t.url(&format!("/l/{}", qr.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(phone.contains("/static/phone.js"));
}

#[tokio::test]
async fn api_answers_are_not_cached_and_carry_a_request_id() {
    let t = spawn_app().await;
    let resp = t.client.post(t.url("/api/qr")).send().await.unwrap();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(!resp.headers()["x-request-id"].is_empty());
}

#[tokio::test]
async fn demo_users_are_listed_only_when_configured() {
    let t = spawn_app().await;
    let body = json(t.client.get(t.url("/api/demo/users")).send().await.unwrap()).await;
    let users = body["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["token"], ALICE);
    assert_eq!(users[0]["name"], "Alice");

    // A config with JWTs only has no demo accounts.
    let t = spawn_app_with(|c| c.users.clear()).await;
    let resp = t.client.get(t.url("/api/demo/users")).send().await.unwrap();
    expect_error(resp, 404, "not_found").await;
}

#[tokio::test]
async fn health_and_readiness() {
    let t = spawn_app().await;
    let resp = t.client.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json(resp).await["status"], "ok");
    let resp = t.client.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// The release artefact is one file: started beside nothing but its config
/// (no `static_dir`), the binary serves both pages and every asset they
/// load, found by following the pages' `src`/`href`, the scripts' `import`s
/// and the style sheet's `url()`s; with the demo avatars, that must be every
/// file of `static/`.
#[tokio::test]
async fn the_binary_alone_serves_the_pages_and_every_asset_they_load() {
    let config = crate::startup::write_config(&test_config_text("http://127.0.0.1:1", ""));
    let server = crate::startup::Binary::start(&config);
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();

    let mut to_fetch = Vec::new();
    let created = client.post(format!("{base}/api/qr")).send().await.unwrap();
    let phone = format!("/l/{}", json(created).await["id"].as_str().unwrap());
    for page in ["/", phone.as_str()] {
        let text = fetch_typed(&client, &base, page, "text/html; charset=utf-8").await;
        to_fetch.extend(html_references(&text));
    }
    let users = json(
        client
            .get(format!("{base}/api/demo/users"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    for user in users["users"].as_array().unwrap() {
        to_fetch.push(user["avatar"].as_str().unwrap().to_owned());
    }

    let mut served = std::collections::BTreeSet::new();
    while let Some(path) = to_fetch.pop() {
        if !served.insert(path.clone()) {
            continue;
        }
        let text = fetch_typed(&client, &base, &path, expected_type(&path)).await;
        if path.ends_with(".js") {
            to_fetch.extend(js_imports(&path, &text));
        } else if path.ends_with(".css") {
            to_fetch.extend(css_urls(&text));
        }
    }

    let mut shipped = std::collections::BTreeSet::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    files_below(&root, &root, &mut shipped);
    for page in [
        qrlogin::http::pages::LOGIN_PAGE,
        qrlogin::http::pages::PHONE_PAGE,
    ] {
        assert!(shipped.remove(&format!("/static/{page}")), "{page}");
    }
    assert_eq!(
        served, shipped,
        "what the pages load must be exactly what static/ holds"
    );
}

#[tokio::test]
async fn pages_and_assets_revalidate_with_their_etag() {
    let t = spawn_app().await;
    // A live code's page (an unknown one is a 404 page, not cached).
    let phone_path = format!("/l/{}", t.create_qr().await.id);
    for path in [
        "/",
        &phone_path,
        "/static/login.js",
        "/static/avatars/bob.svg",
    ] {
        let resp = t.client.get(t.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-cache", "{path}");
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"'), "a strong ETag");

        let again = conditional_get(&t, path, &etag).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert_eq!(again.headers()["cache-control"], "no-cache");
        assert!(again.bytes().await.unwrap().is_empty());

        let stale = conditional_get(&t, path, "\"an-older-version\"").await;
        assert_eq!(stale.status(), StatusCode::OK, "{path}");
    }
    // Different files, different tags.
    let login = t.client.get(t.url("/")).send().await.unwrap();
    let phone = t.client.get(t.url(&phone_path)).send().await.unwrap();
    assert_ne!(login.headers()["etag"], phone.headers()["etag"]);
}

#[tokio::test]
async fn unknown_assets_answer_the_json_404() {
    let t = spawn_app().await;
    let unknown = [
        "/static/nope.js",
        "/static/avatars",
        "/static/avatars/",
        "/static/",
        "/static/..%2fCargo.toml",
        "/static/%2e%2e/Cargo.toml",
    ];
    expect_not_found(&t, &unknown).await;
    let resp = t
        .client
        .post(t.url("/static/login.js"))
        .send()
        .await
        .unwrap();
    expect_error(resp, 405, "method_not_allowed").await;
}

/// `server.static_dir` puts a directory in place of the embedded files, read
/// on each request (edits show without a restart), and nothing outside it.
#[tokio::test]
async fn a_static_dir_replaces_the_embedded_files() {
    let root = crate::startup::temp_dir();
    let brand = root.join("brand");
    std::fs::create_dir_all(brand.join("img")).unwrap();
    std::fs::write(
        brand.join("index.html"),
        "<!doctype html><title>ACME login</title>",
    )
    .unwrap();
    std::fs::write(
        brand.join("phone.html"),
        "<!doctype html><title>ACME phone</title>",
    )
    .unwrap();
    std::fs::write(
        brand.join("img/logo.svg"),
        "<svg xmlns='http://www.w3.org/2000/svg'/>",
    )
    .unwrap();
    std::fs::write(brand.join(".env"), "SECRET=1").unwrap();
    std::fs::write(root.join("secret.txt"), "outside").unwrap();
    // A link inside the directory that leads out of it, and one that stays in.
    std::os::unix::fs::symlink(root.join("secret.txt"), brand.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(brand.join("img/logo.svg"), brand.join("logo.svg")).unwrap();
    let text = test_config_text("http://127.0.0.1:1", "").replacen(
        "[server]\n",
        "[server]\nstatic_dir = \"brand\"\n",
        1,
    );
    std::fs::write(root.join("config.toml"), text).unwrap();
    let config = qrlogin::config::Config::load(&root.join("config.toml")).unwrap();
    let listener = qrlogin::startup::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let t = spawn_server(config, listener).await;

    let page = t.client.get(t.url("/")).send().await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.headers().contains_key("content-security-policy"));
    let etag = page.headers()["etag"].to_str().unwrap().to_owned();
    assert!(page.text().await.unwrap().contains("ACME login"));
    let phone = t.client.get(t.url("/l/abc")).send().await.unwrap();
    assert!(phone.text().await.unwrap().contains("ACME phone"));
    let logo = t
        .client
        .get(t.url("/static/img/logo.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(logo.status(), StatusCode::OK);
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");

    // Not mixed with the embedded files, and nothing hidden or outside.
    let unknown = [
        "/static/login.js",
        "/static/.env",
        "/static/..%2fsecret.txt",
        "/static/leak.txt",
        "/static/img",
    ];
    expect_not_found(&t, &unknown).await;
    let linked = t
        .client
        .get(t.url("/static/logo.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        linked.status(),
        StatusCode::OK,
        "a link within the directory is fine"
    );

    let cached = conditional_get(&t, "/", &etag).await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    std::fs::write(
        brand.join("index.html"),
        "<!doctype html><title>ACME, rebranded</title>",
    )
    .unwrap();
    let edited = conditional_get(&t, "/", &etag).await;
    assert_eq!(edited.status(), StatusCode::OK);
    assert_ne!(edited.headers()["etag"], etag.as_str());
    assert!(edited.text().await.unwrap().contains("rebranded"));
}

/// GET with `If-None-Match: <etag>`.
async fn conditional_get(t: &TestApp, path: &str, etag: &str) -> reqwest::Response {
    t.client
        .get(t.url(path))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap()
}

async fn expect_not_found(t: &TestApp, paths: &[&str]) {
    for path in paths {
        let resp = t.client.get(t.url(path)).send().await.unwrap();
        expect_error(resp, 404, "not_found").await;
    }
}

/// GETs `path`, asserting 200 and the content type; returns the body.
async fn fetch_typed(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    content_type: &str,
) -> String {
    let resp = client.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    assert_eq!(resp.headers()["content-type"], content_type, "{path}");
    resp.text().await.unwrap()
}

fn expected_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => panic!("{path}: which content type should it have? Add it here."),
    }
}

/// The `src="…"` and `href="…"` values of a page, which must all be
/// absolute `/static/` paths: a relative one would resolve against
/// `/l/{id}` on the phone page.
fn html_references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in [" src=\"", " href=\""] {
        for (i, _) in html.match_indices(attribute) {
            let rest = &html[i + attribute.len()..];
            let value = &rest[..rest.find('"').unwrap()];
            assert!(
                value.starts_with("/static/"),
                "{attribute}{value}\": expected a /static/ path"
            );
            found.push(value.to_owned());
        }
    }
    assert!(
        !found.is_empty(),
        "no src/href found: did the markup change?"
    );
    found
}

/// The modules a script imports (`import … from './x.js'`, `import './x.js'`,
/// also spread over several lines), as absolute paths.
fn js_imports(path: &str, script: &str) -> Vec<String> {
    let dir = &path[..=path.rfind('/').unwrap()];
    let mut found = Vec::new();
    for line in script.lines().map(str::trim) {
        let spec = if let Some(rest) = line.strip_prefix("import ") {
            // `import './x.js'` has no `from`.
            rest.split(" from ").nth(1).unwrap_or(rest)
        } else if let Some(rest) = line.strip_prefix("} from ") {
            rest
        } else if line.starts_with("export ") {
            line.split(" from ").nth(1).unwrap_or("")
        } else {
            continue;
        };
        // Not a quoted module name: the first line of a multi-line import.
        let Some(spec) = spec.trim().strip_prefix(['\'', '"']) else {
            continue;
        };
        let spec = &spec[..spec.find(['\'', '"']).unwrap()];
        let resolved = if let Some(relative) = spec.strip_prefix("./") {
            format!("{dir}{relative}")
        } else {
            assert!(
                spec.starts_with("/static/"),
                "{path}: import {spec:?}: expected ./x.js or /static/x.js"
            );
            spec.to_owned()
        };
        found.push(resolved);
    }
    found
}

/// The `url(…)`s of a style sheet.
fn css_urls(css: &str) -> Vec<String> {
    css.split("url(")
        .skip(1)
        .map(|rest| {
            rest[..rest.find(')').unwrap()]
                .trim_matches(['\'', '"', ' '])
                .to_owned()
        })
        .filter(|url| !url.starts_with("data:"))
        .inspect(|url| {
            assert!(
                url.starts_with("/static/"),
                "url({url}): expected a /static/ path"
            )
        })
        .collect()
}

fn files_below(
    root: &std::path::Path,
    dir: &std::path::Path,
    out: &mut std::collections::BTreeSet<String>,
) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_below(root, &path, out);
        } else {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(format!("/static/{relative}"));
        }
    }
}
