//! The command line, through the real binary: `check-config`, `mint-token`
//! (its token accepted by the phone API), `--version`, and the config from
//! the environment and from secret files reaching a served instance.
#![allow(clippy::disallowed_methods)]

use crate::helpers::{ALICE, HS256_SECRET, SHOP_SECRET, sha256_hex, test_config_text};
use crate::startup::{Binary, temp_dir, write_config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `qrlogin args…` in a new empty directory, with `env` on top of
/// this process's environment.
fn qrlogin(args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    qrlogin_in(&temp_dir(), &args, env)
}

/// Runs `qrlogin args…` in the working directory `dir`.
fn qrlogin_in(dir: &Path, args: &[&OsStr], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qrlogin"))
        .args(args)
        .env_remove("QRLOGIN_CONFIG")
        .env_remove("QRLOGIN_LISTEN")
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Environment variables for one run.
type Env<'a> = &'a [(&'a str, &'a str)];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check_config(path: &Path, env: &[(&str, &str)]) -> Output {
    qrlogin(&["check-config", path.to_str().unwrap()], env)
}

#[test]
fn check_config_prints_the_effective_config_with_every_secret_redacted() {
    let path = write_config(&test_config_text("http://127.0.0.1:1", ""));
    let out = check_config(
        &path,
        &[
            ("QRLOGIN_LOGIN__QR_TTL", "2m"),
            ("QRLOGIN_STORE__KEY_PREFIX", "123"),
            ("QRLOGIN_SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/8"]"#),
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let printed: toml::Table = toml::from_str(&stdout).unwrap();
    assert_eq!(printed["login"]["qr_ttl"].as_str(), Some("2m"));
    assert_eq!(printed["login"]["poll_hold"].as_str(), Some("25s"));
    assert_eq!(printed["store"]["key_prefix"].as_str(), Some("123"));
    assert_eq!(
        printed["server"]["trusted_proxies"][0].as_str(),
        Some("10.0.0.0/8")
    );
    for secret in [HS256_SECRET, ALICE, &sha256_hex(SHOP_SECRET)] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
    assert_eq!(
        printed["mobile_auth"]["jwt_hs256_secret"].as_str(),
        Some("<redacted>")
    );
    assert_eq!(printed["users"][0]["token"].as_str(), Some("<redacted>"));
    assert_eq!(
        printed["clients"][0]["client_secret_sha256"].as_str(),
        Some("<redacted>")
    );

    // The path may also come from --config.
    let out = qrlogin(&["--config", path.to_str().unwrap(), "check-config"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn check_config_refuses_bad_values_with_exit_code_2_naming_them() {
    let base = test_config_text("http://127.0.0.1:1", "");
    let bad_file = write_config(&format!("{base}\n[login]\npoll_hold = \"10m\""));
    let good = write_config(&base);
    let signing_key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc/rsa_a.pem");
    let lost_key = write_config(&base.replace(signing_key, "/nonexistent/key.pem"));
    let no_secret =
        write_config(&base.replace(&format!("jwt_hs256_secret = \"{HS256_SECRET}\""), ""));
    let cases: [(&Path, Env, &[&str]); 7] = [
        (&bad_file, &[], &["login.poll_hold", "config.toml"]),
        (
            &good,
            &[("QRLOGIN_LOGIN__QR_TTL", "five minutes")],
            &["QRLOGIN_LOGIN__QR_TTL", "login.qr_ttl"],
        ),
        (
            &good,
            &[("QRLOGIN_LOGIN__POLL_HOLD", "10m")],
            &["QRLOGIN_LOGIN__POLL_HOLD", "login.poll_hold"],
        ),
        (
            &good,
            &[("QRLOGIN_SERVE__LISTEN", "127.0.0.1:1")],
            &["QRLOGIN_SERVE__LISTEN", "unknown field"],
        ),
        (
            &no_secret,
            &[(
                "QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET_FILE",
                "/nonexistent/hs256",
            )],
            &[
                "QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET_FILE",
                "mobile_auth.jwt_hs256_secret_file",
                "/nonexistent/hs256",
            ],
        ),
        // Beyond the config's own values: the key files start-up reads.
        (
            &lost_key,
            &[],
            &["oidc.signing_keys", "/nonexistent/key.pem"],
        ),
        (
            &good,
            &[("QRLOGIN_GEOIP__PATH", "/nonexistent/GeoLite2-City.mmdb")],
            &["geoip.path", "/nonexistent/GeoLite2-City.mmdb"],
        ),
    ];
    for (path, env, expected) in cases {
        let out = check_config(path, env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{env:?}: nothing printed on error");
        for part in expected {
            assert!(
                stderr.contains(part),
                "{env:?}: expected {part:?} in {stderr}"
            );
        }
    }
    // A file named explicitly must exist.
    let out = check_config(Path::new("/nonexistent/qrlogin.toml"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/qrlogin.toml"));
}

/// What `check-config` and `serve` (which logs it) say about the config at
/// `path` with `env`: exit code 2 and the message.
fn refused(path: &Path, env: Env) -> Vec<String> {
    let path = path.to_str().unwrap();
    let mut said = Vec::new();
    for args in [&["check-config", path][..], &["serve", "--config", path]] {
        let out = qrlogin(args, env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        said.push(stderr);
    }
    said
}

#[test]
fn a_config_file_that_is_not_toml_is_refused_by_line_without_quoting_it() {
    // The quotes forgotten around a URL holding a password, on line 3.
    let base = test_config_text("http://127.0.0.1:1", "");
    let path = write_config(&format!(
        "# the store\n[store]\nredis_url = redis://:hunter2@redis:6379\n{base}"
    ));
    let at = format!("{}: line 3, column 13: TOML syntax: ", path.display());
    for stderr in refused(&path, &[]) {
        assert!(stderr.contains(&at), "expected {at:?} in {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[test]
fn environment_values_that_are_not_toml_are_refused_without_quoting_them() {
    let path = write_config(&test_config_text("http://127.0.0.1:1", ""));
    for (var, value) in [
        (
            "QRLOGIN_STORE",
            r#"{backend = "redis", redis_url = "redis://:hunter2@redis:6379""#,
        ),
        (
            "QRLOGIN_USERS",
            r#"[{token = "hunter2", id = "carol", name = "Carol"}"#,
        ),
    ] {
        let why = format!("environment variable {var}: ");
        for stderr in refused(&path, &[(var, value)]) {
            assert!(
                stderr.contains(&why) && stderr.contains("not valid TOML inline syntax"),
                "{var}: {stderr}"
            );
            assert!(!stderr.contains("hunter2"), "{stderr}");
        }
    }
}

#[test]
fn a_relative_secret_file_from_the_environment_is_read_from_the_working_directory() {
    let base = test_config_text("http://127.0.0.1:1", "");
    let config = write_config(&base.replace(&format!("jwt_hs256_secret = \"{HS256_SECRET}\""), ""));
    let work = temp_dir();
    std::fs::create_dir(work.join("secrets")).unwrap();
    std::fs::write(work.join("secrets/hs256"), format!("{HS256_SECRET}\n")).unwrap();
    let env = [(
        "QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET_FILE",
        "secrets/hs256",
    )];
    let args = [OsStr::new("check-config"), config.as_os_str()];

    let out = qrlogin_in(&work, &args, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("jwt_hs256_secret_file = \"secrets/hs256\""),
        "{stdout}"
    );
    // Run beside the config file, where there is no secrets/hs256.
    let out = qrlogin_in(config.parent().unwrap(), &args, &env);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "environment variable QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET_FILE: \
             mobile_auth.jwt_hs256_secret_file: cannot read secrets/hs256"
        ),
        "{stderr}"
    );
}

/// `check-config` cannot print a path that is not UTF-8 as TOML: a
/// config problem like any other, exit code 2.
#[cfg(unix)]
#[test]
fn check_config_exits_2_when_the_config_cannot_be_printed() {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = temp_dir().join(OsStr::from_bytes(b"not-utf-8-\xff"));
    std::fs::create_dir(&dir).unwrap();
    let config = dir.join("config.toml");
    let text_ = test_config_text("http://127.0.0.1:1", "[audit]\npath = \"audit.log\"");
    std::fs::write(&config, text_).unwrap();
    let out = qrlogin_in(
        &temp_dir(),
        &[OsStr::new("check-config"), config.as_os_str()],
        &[],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("config: cannot print the configuration"),
        "{stderr}"
    );
}

#[test]
fn without_a_config_file_the_environment_alone_is_the_config() {
    // Run where there is no config.toml, and none is named.
    let out = qrlogin(
        &["check-config"],
        &[
            ("QRLOGIN_SERVER__LISTEN", "127.0.0.1:0"),
            ("QRLOGIN_SERVER__PUBLIC_URL", "https://login.example.com"),
            ("QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET", HS256_SECRET),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("public_url = \"https://login.example.com/\""));

    let out = qrlogin(
        &["check-config"],
        &[("QRLOGIN_SERVER__PUBLIC_URL", "https://login.example.com")],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no config file at config.toml")
            && stderr.contains("QRLOGIN_SERVER__LISTEN"),
        "{stderr}"
    );
}

#[test]
fn version_is_printed() {
    let out = qrlogin(&["--version"], &[]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("qrlogin {}", env!("CARGO_PKG_VERSION"))
    );
}

/// A config whose HS256 secret is only in a file beside it (relative path).
fn config_with_secret_file(secret: &str) -> std::path::PathBuf {
    let text = test_config_text("http://127.0.0.1:1", "").replace(
        &format!("jwt_hs256_secret = \"{HS256_SECRET}\""),
        "jwt_hs256_secret_file = \"secrets/hs256\"",
    );
    assert!(!text.contains(HS256_SECRET));
    let path = write_config(&text);
    let secrets = path.parent().unwrap().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("hs256"), format!("{secret}\n")).unwrap();
    path
}

fn mint_token(config: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["mint-token", "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    qrlogin(&args, &[])
}

/// A QR code on `server` and the phone API's answer to scanning it with `token`.
async fn scan_with(server: &Binary, token: &str) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let qr: Value = client
        .post(format!("{base}/api/qr"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = client
        .post(format!("{base}/api/mobile/scan"))
        .bearer_auth(token)
        .json(&json!({ "qr": qr["id"] }))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}

#[tokio::test]
async fn mint_token_signs_with_a_secret_kept_in_a_file_and_the_phone_api_accepts_it() {
    let secret = "a-secret-only-in-a-file-0123456789abcdef";
    let config = config_with_secret_file(secret);
    let out = mint_token(
        &config,
        &["--user", "carol", "--name", "Carol", "--ttl", "5m"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    assert_eq!(token.matches('.').count(), 2, "a JWT: {token}");

    let server = Binary::start(&config);
    let (status, body) = scan_with(&server, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["confirm_token"].is_string(), "{body}");

    // Signed with another secret: refused, so the file's secret is the one in use.
    let other = config_with_secret_file("another-secret-0123456789abcdef-0123");
    let out = mint_token(&other, &["--user", "carol"]);
    let forged = text(&out.stdout).trim().to_owned();
    let (status, _) = scan_with(&server, &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn mint_token_refuses_without_an_hs256_secret_or_with_a_silly_ttl() {
    let demo_only = write_config(
        "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1:1\"\n\
         [[users]]\ntoken = \"demo-alice\"\nid = \"alice\"\nname = \"Alice\"\n",
    );
    let out = mint_token(&demo_only, &["--user", "carol"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("jwt_hs256_secret"),
        "{}",
        text(&out.stderr)
    );

    let config = write_config(&test_config_text("http://127.0.0.1:1", ""));
    for ttl in ["0s", "2d", "soon"] {
        let out = mint_token(&config, &["--user", "carol", "--ttl", ttl]);
        assert_eq!(out.status.code(), Some(2), "--ttl {ttl}");
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test]
async fn environment_overrides_reach_the_served_api() {
    let config = write_config(&test_config_text("http://127.0.0.1:1", ""));
    let server = Binary::start_with(&config, &[("QRLOGIN_LOGIN__QR_TTL", "2m")]);
    let created: Value = reqwest::Client::new()
        .post(format!("http://{}/api/qr", server.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["expires_in"], 120, "{created}");
}

/// A variable for a secret wins over the file's `*_file` for it: the
/// token `mint-token` signs with the variable's secret is the one the
/// server started with that variable accepts, and the file's is refused.
#[tokio::test]
async fn an_environment_secret_wins_over_the_config_files_secret_file() {
    let config = config_with_secret_file("a-secret-only-in-a-file-0123456789abcdef");
    let env = [(
        "QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET",
        "a-secret-from-the-environment-0123456789",
    )];
    let path = config.to_str().unwrap();
    let out = qrlogin(&["mint-token", "--config", path, "--user", "carol"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    let out = mint_token(&config, &["--user", "carol"]);
    let file_token = text(&out.stdout).trim().to_owned();

    let server = Binary::start_with(&config, &env);
    let (status, body) = scan_with(&server, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = scan_with(&server, &file_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A Redis Sentinel store through `check-config`: the sentinels (here from
/// the environment, as a TOML list) and the master name printed, both
/// passwords redacted; a `redis_url` beside them refused naming the key.
#[test]
fn check_config_shows_a_sentinel_store_and_refuses_it_beside_a_url() {
    let store = "[store]\nbackend = \"redis\"\nredis_master_name = \"qrlogin\"\n\
                 redis_password = \"data-secret\"\nredis_sentinel_password = \"watch-secret\"";
    let path = write_config(&test_config_text("http://127.0.0.1:1", store));
    let sentinels = (
        "QRLOGIN_STORE__REDIS_SENTINELS",
        r#"["10.0.0.11:26379", "s2:26379"]"#,
    );
    let out = check_config(&path, &[sentinels]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let printed: toml::Table = toml::from_str(&stdout).unwrap();
    let st = &printed["store"];
    assert_eq!(st["redis_sentinels"][1].as_str(), Some("s2:26379"));
    assert_eq!(st["redis_master_name"].as_str(), Some("qrlogin"));
    assert_eq!(st["redis_password"].as_str(), Some("<redacted>"));
    assert_eq!(st["redis_sentinel_password"].as_str(), Some("<redacted>"));
    assert!(!stdout.contains("data-secret") && !stdout.contains("watch-secret"));

    let url = ("QRLOGIN_STORE__REDIS_URL", "redis://127.0.0.1:6379");
    let out = check_config(&path, &[sentinels, url]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("store.redis_sentinels"), "{stderr}");
    assert!(stderr.contains("set one of them"), "{stderr}");
}
