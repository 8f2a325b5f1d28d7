//! The phone's bearer token: a demo token or a JWT. Half the inputs go in as
//! they are; the other half become the claims of a correctly signed HS256
//! JWT, so the claim checks and the display-name cleaning behind the
//! signature are fuzzed too. A token that verifies yields a user whose name
//! is safe to show.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use qrlogin::auth::MobileVerifier;
use qrlogin::clock::Timestamp;
use qrlogin::config::Config;
use sha2::Sha256;
use std::sync::LazyLock;
use unicode_general_category::{GeneralCategory as G, get_general_category};

const SECRET: &str = "fuzzing-secret-of-at-least-32-bytes!!";

static VERIFIER: LazyLock<MobileVerifier> = LazyLock::new(|| {
    let config = Config::parse(&format!(
        "[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"http://127.0.0.1:8080\"\n[mobile_auth]\njwt_hs256_secret = \"{SECRET}\"\n\
         [[users]]\ntoken = \"demo-alice\"\nid = \"alice\"\nname = \"Alice\"\n"
    ))
    .expect("the fuzz config is valid");
    MobileVerifier::from_config(&config).expect("the fuzz verifier builds")
});

fn signed(claims: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(format!("{header}.{body}").as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header}.{body}.{sig}")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode % 2 == 0 {
        match std::str::from_utf8(rest) {
            Ok(text) => text.to_owned(),
            Err(_) => return,
        }
    } else {
        signed(rest)
    };
    let now = Timestamp::from_millis(1_700_000_000_000);
    if let Ok(user) = VERIFIER.verify(&token, now) {
        assert!(!user.id.is_empty());
        // What the server promises of a name it shows: no character of
        // the categories it removes (controls, formats such as every
        // bidi control and U+061C, line and paragraph separators).
        assert!(
            !user.name.chars().any(|c| matches!(
                get_general_category(c),
                G::Control | G::Format | G::LineSeparator | G::ParagraphSeparator | G::Surrogate
            )),
            "{:?}",
            user.name
        );
    }
});
