//! Where a login may send the browser: forward auth's `rd`/`next`, and the
//! query string of an OAuth authorization request (its `redirect_uri`,
//! PKCE, scope, state). A target that is accepted stays on this server or
//! an allowed host; an accepted authorization request names a registered
//! client and one of its registered redirect URIs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qrlogin::config::Config;
use qrlogin::forward_auth::redirect::{carries_login, redirect_target};
use qrlogin::oidc::{AuthorizationRequest, Clients};
use std::sync::LazyLock;

static CONFIG: LazyLock<Config> = LazyLock::new(|| {
    Config::parse(
        "[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"https://login.example.com\"\ncookie_domain = \"example.com\"\n\
         [forward_auth]\nallowed_redirect_hosts = [\"grafana.internal\"]\n\
         [[users]]\ntoken = \"demo-alice\"\nid = \"alice\"\nname = \"Alice\"\n\
         [[clients]]\nclient_id = \"shop\"\nname = \"Shop\"\npublic = true\n\
         redirect_uris = [\"https://shop.example.org/cb\"]\n",
    )
    .expect("the fuzz config is valid")
});

static CLIENTS: LazyLock<Clients> = LazyLock::new(|| {
    Clients::from_config(&CONFIG.clients, |_| true).expect("the fuzz clients build")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(target) = redirect_target(text, &CONFIG) {
        let url = url::Url::parse(&target).or_else(|_| {
            url::Url::parse("https://login.example.com").and_then(|b| b.join(&target))
        });
        let url = url.expect("an accepted target is a URL or a path");
        let host = url.host_str().unwrap_or_default();
        assert!(
            host == "example.com" || host.ends_with(".example.com") || host == "grafana.internal",
            "{text:?} -> {target:?}"
        );
        let _ = carries_login(&target, &CONFIG);
    }
    if let Ok((request, client)) = AuthorizationRequest::parse(text, &CLIENTS) {
        assert_eq!(client.id, "shop");
        assert_eq!(request.redirect_uri, "https://shop.example.org/cb");
    }
});
