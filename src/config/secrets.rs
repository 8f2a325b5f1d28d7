//! Secrets kept out of the config file: read at start-up from the files the
//! `*_file` keys name, and left out of the effective config when it is
//! printed (`qrlogin check-config`).

use super::{Config, ConfigError, RedactedString};
use std::path::Path;

/// Reads every `*_file` key into the value it stands for. Setting both the
/// value and its file is an error; so is a file that cannot be read (the
/// message names the key and the path, never the content).
pub(super) fn read_files(config: &mut Config) -> Result<(), ConfigError> {
    let auth = &mut config.mobile_auth;
    if let Some(secret) = read(
        "mobile_auth.jwt_hs256_secret",
        auth.jwt_hs256_secret.is_some(),
        auth.jwt_hs256_secret_file.as_deref(),
    )? {
        auth.jwt_hs256_secret = Some(RedactedString::from(secret));
    }
    let store = &mut config.store;
    if let Some(url) = read(
        "store.redis_url",
        store.redis_url.is_some(),
        store.redis_url_file.as_deref(),
    )? {
        store.redis_url = Some(RedactedString::from(url));
    }
    for (i, client) in config.clients.iter_mut().enumerate() {
        if let Some(hash) = read(
            &format!("clients[{i}].client_secret_sha256"),
            client.client_secret_sha256.is_some(),
            client.client_secret_sha256_file.as_deref(),
        )? {
            client.client_secret_sha256 = Some(hash);
        }
    }
    Ok(())
}

/// The content of `file`, the `<key>_file` of a value that is `set` or not,
/// without its trailing line break.
fn read(key: &str, set: bool, file: Option<&Path>) -> Result<Option<String>, ConfigError> {
    let Some(path) = file else {
        return Ok(None);
    };
    let file_key = format!("{key}_file");
    if set {
        return Err(ConfigError::new(
            &file_key,
            format!("set together with {key}: set one of them"),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(&file_key, format!("cannot read {}: {e}", path.display())))?;
    let value = text.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        return Err(ConfigError::new(
            &file_key,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(Some(value.to_owned()))
}

impl Config {
    /// Whether a `*_file` key names a file whose content is not in its
    /// value: a config built in code rather than loaded. [`Config::validate`]
    /// refuses it rather than run without the secret.
    pub(super) fn unread_secret_file(&self) -> Option<&'static str> {
        let auth = &self.mobile_auth;
        if auth.jwt_hs256_secret_file.is_some() && auth.jwt_hs256_secret.is_none() {
            return Some("mobile_auth.jwt_hs256_secret_file");
        }
        if self.store.redis_url_file.is_some() && self.store.redis_url.is_none() {
            return Some("store.redis_url_file");
        }
        self.clients
            .iter()
            .any(|c| c.client_secret_sha256_file.is_some() && c.client_secret_sha256.is_none())
            .then_some("clients[].client_secret_sha256_file")
    }

    /// The effective config as TOML, every secret `<redacted>`, and those
    /// read from files shown by their `*_file` key alone (so the output,
    /// with the secrets filled in, is a valid config).
    pub fn to_redacted_toml(&self) -> Result<String, toml::ser::Error> {
        let mut shown = self.clone();
        if shown.mobile_auth.jwt_hs256_secret_file.is_some() {
            shown.mobile_auth.jwt_hs256_secret = None;
        }
        if shown.store.redis_url_file.is_some() {
            shown.store.redis_url = None;
        }
        for client in &mut shown.clients {
            if client.client_secret_sha256_file.is_some() {
                client.client_secret_sha256 = None;
            }
        }
        toml::to_string(&shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::MINIMAL;
    use crate::config::{ConfigFile, REDACTED};
    use std::path::PathBuf;

    /// A new directory holding `config.toml` = MINIMAL + `extra`, and `files`.
    fn dir_with(extra: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qrlogin-sec-{}", crate::secret::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), format!("{MINIMAL}\n{extra}")).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        dir
    }

    fn load(dir: &Path) -> Result<Config, ConfigError> {
        Config::load_from(ConfigFile::Required(&dir.join("config.toml")), [])
    }

    const HS256: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn secrets_are_read_from_files_relative_to_the_config() {
        let dir = dir_with(
            "[mobile_auth]\njwt_hs256_secret_file = \"hs256.key\"\n\
             [store]\nredis_url_file = \"secrets/redis-url\"",
            &[("hs256.key", &format!("{HS256}\r\n"))],
        );
        std::fs::create_dir(dir.join("secrets")).unwrap();
        std::fs::write(
            dir.join("secrets/redis-url"),
            "redis://:pw@127.0.0.1:6379\n",
        )
        .unwrap();
        let c = load(&dir).unwrap();
        assert_eq!(
            c.mobile_auth.jwt_hs256_secret.as_ref().unwrap().expose(),
            HS256
        );
        assert_eq!(
            c.store.redis_url.as_ref().unwrap().expose(),
            "redis://:pw@127.0.0.1:6379"
        );
        assert!(c.unread_secret_file().is_none());

        // Printed: the file keys, no secret.
        let shown = c.to_redacted_toml().unwrap();
        assert!(!shown.contains(HS256) && !shown.contains(":pw@"), "{shown}");
        assert!(shown.contains("jwt_hs256_secret_file"), "{shown}");
        assert!(!shown.contains("jwt_hs256_secret ="), "{shown}");
    }

    #[test]
    fn bad_secret_files_name_the_key_and_path_but_not_the_content() {
        let cases = [
            (
                "[mobile_auth]\njwt_hs256_secret_file = \"missing.key\"",
                vec![],
                "mobile_auth.jwt_hs256_secret_file",
            ),
            (
                "[mobile_auth]\njwt_hs256_secret_file = \"short.key\"",
                vec![("short.key", "too-short-secret\n")],
                "mobile_auth.jwt_hs256_secret_file",
            ),
            (
                "[mobile_auth]\njwt_hs256_secret_file = \"empty.key\"",
                vec![("empty.key", "\n")],
                "mobile_auth.jwt_hs256_secret_file",
            ),
            (
                &*format!(
                    "[mobile_auth]\njwt_hs256_secret = \"{HS256}\"\njwt_hs256_secret_file = \"k\""
                ),
                vec![("k", HS256)],
                "mobile_auth.jwt_hs256_secret_file",
            ),
            (
                "[store]\nbackend = \"redis\"\nredis_url_file = \"url\"",
                vec![("url", "http://:too-short-secret@secret-host/")],
                "store.redis_url_file",
            ),
            (
                "[[clients]]\nclient_id = \"shop\"\nname = \"Shop\"\n\
                 redirect_uris = [\"https://shop.example/cb\"]\n\
                 client_secret_sha256_file = \"hash\"",
                vec![("hash", "too-short-secret")],
                "clients[0].client_secret_sha256_file",
            ),
        ];
        for (extra, files, key) in cases {
            let dir = dir_with(extra, &files);
            let msg = load(&dir).unwrap_err().to_string();
            assert!(msg.contains(key), "expected {key:?} in {msg:?}");
            assert!(!msg.contains("too-short-secret"), "{msg}");
            if extra.contains("missing.key") {
                let path = dir.join("missing.key");
                assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
            }
        }
    }

    #[test]
    fn client_secret_hashes_can_come_from_files() {
        let hash = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
        let client = "[[clients]]\nclient_id = \"shop\"\nname = \"Shop\"\n\
                      redirect_uris = [\"https://shop.example/cb\"]\n\
                      client_secret_sha256_file = \"shop.sha256\"";
        let c = load(&dir_with(client, &[("shop.sha256", &format!("{hash}\n"))])).unwrap();
        assert_eq!(c.clients[0].client_secret_sha256.as_deref(), Some(hash));
        let shown = c.to_redacted_toml().unwrap();
        assert!(
            !shown.contains(hash) && shown.contains("client_secret_sha256_file"),
            "{shown}"
        );
    }

    /// The printed config reads back as the same config: every type prints
    /// as it would be written (durations, hosts, header names, enums).
    #[test]
    fn the_printed_config_reads_back_the_same() {
        let extra = r#"
            [login]
            qr_ttl = "2m 30s"
            session_ttl = "7d"
            [store]
            key_prefix = "123"
            [oidc]
            refresh_token_ttl = "30d"
            [forward_auth]
            allowed_redirect_hosts = ["grafana.internal", "10.0.0.5:3000", "[::1]:8443"]
            [forward_auth.headers]
            "Remote-User" = "id"
            "X-Auth-Avatar" = "avatar"
            [[forward_auth.policies]]
            name = "admins"
            users = ["alice"]
            [log]
            format = "json"
            filter = "qrlogin=debug"
        "#;
        let text = format!(
            "{MINIMAL}
{extra}"
        )
        .replace("http://localhost:8080", "https://login.example.com")
        .replace(
            "[server]",
            "[server]\ncookie_domain = \"example.com\"\ntrusted_proxies = [\"10.0.0.0/8\"]",
        );
        let printed = Config::parse(&text).unwrap().to_redacted_toml().unwrap();
        assert!(!printed.contains("demo-alice"), "{printed}");
        // The one secret here is the demo user's token.
        let again = Config::parse(&printed.replace(REDACTED, "demo-alice")).unwrap();
        assert_eq!(again.to_redacted_toml().unwrap(), printed);
        assert_eq!(again.login.qr_ttl, std::time::Duration::from_secs(150));
        assert_eq!(again.forward_auth.allowed_redirect_hosts.len(), 3);
        assert_eq!(again.log.format, Some(crate::config::LogFormat::Json));
        assert_eq!(again.store.key_prefix, "123");
    }

    #[test]
    fn a_config_built_in_code_with_an_unread_file_is_refused() {
        let mut c = Config::parse(MINIMAL).unwrap();
        c.mobile_auth.jwt_hs256_secret_file = Some("/run/secrets/hs256".into());
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains("mobile_auth.jwt_hs256_secret_file"), "{msg}");
    }
}
