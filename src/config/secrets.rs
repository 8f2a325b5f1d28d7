//! Secrets kept out of the config file: read at start-up from the files the
//! `*_file` keys name, and left out of the effective config when it is
//! printed (`qrlogin check-config`).

use super::sources::origin_of;
use super::{Config, ConfigError, RedactedString, StoreConfig};
use figment::value::{Dict, Value};
use std::path::{Path, PathBuf};

/// The secrets a `<key>_file` can hold, by table; and each `[[clients]]`
/// entry's.
const SECRETS: [(&str, &str); 4] = [
    ("mobile_auth", "jwt_hs256_secret"),
    ("store", "redis_url"),
    ("store", "redis_password"),
    ("store", "redis_sentinel_password"),
];
const CLIENT_SECRET: &str = "client_secret_sha256";

/// Refuses a config file (its tables, before the environment is laid over
/// them) that sets a secret and its file both.
pub(super) fn check_layer(file: &Dict) -> Result<(), ConfigError> {
    let both = |table: &Dict, key: &str| {
        table.contains_key(key) && table.contains_key(&format!("{key}_file"))
    };
    for (table, key) in SECRETS {
        if let Some(Value::Dict(_, values)) = file.get(table)
            && both(values, key)
        {
            return Err(set_together(&format!("{table}.{key}"), None));
        }
    }
    if let Some(Value::Array(_, clients)) = file.get("clients") {
        for (i, client) in clients.iter().enumerate() {
            if let Value::Dict(_, values) = client
                && both(values, CLIENT_SECRET)
            {
                return Err(set_together(&format!("clients[{i}].{CLIENT_SECRET}"), None));
            }
        }
    }
    Ok(())
}

/// Reads every `*_file` key into the value it stands for. `set_by(key)` is
/// the environment variable that set `key`, if one did. A value and its
/// file from different layers (one from the file, the other from the
/// environment): the environment's wins, the other is dropped. Both from
/// the environment is an error, as both in the file is ([`check_layer`]);
/// so is a file that cannot be read (the message names the key and the
/// path, never the content).
pub(super) fn read_files<'a>(
    config: &mut Config,
    set_by: impl Fn(&str) -> Option<&'a str>,
) -> Result<(), ConfigError> {
    let auth = &mut config.mobile_auth;
    let key = "mobile_auth.jwt_hs256_secret";
    settle(
        key,
        &mut auth.jwt_hs256_secret,
        &mut auth.jwt_hs256_secret_file,
        &set_by,
    )?;
    if let Some(secret) = read(key, auth.jwt_hs256_secret_file.as_deref())? {
        auth.jwt_hs256_secret = Some(RedactedString::from(secret));
    }
    for (key, value, file) in store_secrets(&mut config.store) {
        settle(key, value, file, &set_by)?;
        if let Some(secret) = read(key, file.as_deref())? {
            *value = Some(RedactedString::from(secret));
        }
    }
    for (i, client) in config.clients.iter_mut().enumerate() {
        let key = format!("clients[{i}].{CLIENT_SECRET}");
        settle(
            &key,
            &mut client.client_secret_sha256,
            &mut client.client_secret_sha256_file,
            &set_by,
        )?;
        if let Some(hash) = read(&key, client.client_secret_sha256_file.as_deref())? {
            client.client_secret_sha256 = Some(hash);
        }
    }
    Ok(())
}

/// The store's secrets that a `<key>_file` can hold: key, value, file.
fn store_secrets(
    store: &mut StoreConfig,
) -> [(
    &'static str,
    &mut Option<RedactedString>,
    &mut Option<PathBuf>,
); 3] {
    [
        (
            "store.redis_url",
            &mut store.redis_url,
            &mut store.redis_url_file,
        ),
        (
            "store.redis_password",
            &mut store.redis_password,
            &mut store.redis_password_file,
        ),
        (
            "store.redis_sentinel_password",
            &mut store.redis_sentinel_password,
            &mut store.redis_sentinel_password_file,
        ),
    ]
}

/// Keeps one of `value` (at `key`) and its `file` if both are set: the one
/// the environment set, over the file's.
fn settle<'a, T>(
    key: &str,
    value: &mut Option<T>,
    file: &mut Option<PathBuf>,
    set_by: &impl Fn(&str) -> Option<&'a str>,
) -> Result<(), ConfigError> {
    if value.is_none() || file.is_none() {
        return Ok(());
    }
    match (set_by(key), set_by(&format!("{key}_file"))) {
        (Some(_), None) => *file = None,
        (None, Some(_)) => *value = None,
        // Two variables, or one table with both in it.
        (Some(value_var), Some(file_var)) if value_var != file_var => {
            return Err(set_together(key, Some(value_var)));
        }
        _ => return Err(set_together(key, None)),
    }
    Ok(())
}

/// The error for `key` set together with its file; `value_var` is the
/// variable that set `key`, when not the one that set the file.
fn set_together(key: &str, value_var: Option<&str>) -> ConfigError {
    let by = value_var
        .map(|var| format!(" (by {})", origin_of(var)))
        .unwrap_or_default();
    ConfigError::new(
        &format!("{key}_file"),
        format!("set together with {key}{by}: set one of them"),
    )
}

/// The content of `file`, the `<key>_file` of a value, without its
/// trailing line break.
fn read(key: &str, file: Option<&Path>) -> Result<Option<String>, ConfigError> {
    let Some(path) = file else {
        return Ok(None);
    };
    let file_key = format!("{key}_file");
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
        let st = &self.store;
        for (key, unread) in [
            (
                "store.redis_url_file",
                st.redis_url_file.is_some() && st.redis_url.is_none(),
            ),
            (
                "store.redis_password_file",
                st.redis_password_file.is_some() && st.redis_password.is_none(),
            ),
            (
                "store.redis_sentinel_password_file",
                st.redis_sentinel_password_file.is_some() && st.redis_sentinel_password.is_none(),
            ),
        ] {
            if unread {
                return Some(key);
            }
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
        for (_, value, file) in store_secrets(&mut shown.store) {
            if file.is_some() {
                *value = None;
            }
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
        load_env(dir, &[])
    }

    /// `dir`'s config with these environment variables over it.
    fn load_env(dir: &Path, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::load_from(ConfigFile::Required(&dir.join("config.toml")), env)
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
    fn sentinel_passwords_are_read_from_files_and_never_printed() {
        let dir = dir_with(
            "[store]\nbackend = \"redis\"\nredis_sentinels = [\"127.0.0.1:26379\"]\n\
             redis_master_name = \"qrlogin\"\nredis_password_file = \"redis.pw\"\n\
             redis_sentinel_password_file = \"sentinel.pw\"",
            &[("redis.pw", "hunter2\n"), ("sentinel.pw", "swordfish\n")],
        );
        let c = load(&dir).unwrap();
        let st = &c.store;
        assert_eq!(st.redis_password.as_ref().unwrap().expose(), "hunter2");
        assert_eq!(
            st.redis_sentinel_password.as_ref().unwrap().expose(),
            "swordfish"
        );
        let shown = c.to_redacted_toml().unwrap();
        assert!(
            !shown.contains("hunter2") && !shown.contains("swordfish"),
            "{shown}"
        );
        assert!(shown.contains("redis_password_file"), "{shown}");
        assert!(!shown.contains("redis_password ="), "{shown}");
        assert!(shown.contains("redis_sentinel_password_file"), "{shown}");

        let both = dir_with(
            "[store]\nredis_password = \"x\"\nredis_password_file = \"redis.pw\"",
            &[("redis.pw", "hunter2\n")],
        );
        let err = load(&both).unwrap_err();
        assert_eq!(err.key(), Some("store.redis_password_file"), "{err}");
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

    /// A value and its file from different layers: the environment's wins,
    /// whichever of the two it sets.
    #[test]
    fn the_environment_wins_over_the_files_value_or_file() {
        const OTHER: &str = "fedcba9876543210fedcba9876543210";
        let dir = dir_with(
            "[mobile_auth]\njwt_hs256_secret_file = \"hs256.key\"",
            &[("hs256.key", HS256), ("other.key", OTHER)],
        );
        let c = load_env(&dir, &[("QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET", OTHER)]).unwrap();
        assert_eq!(
            c.mobile_auth.jwt_hs256_secret.as_ref().unwrap().expose(),
            OTHER
        );
        assert_eq!(c.mobile_auth.jwt_hs256_secret_file, None);
        let shown = c.to_redacted_toml().unwrap();
        assert!(
            shown.contains("jwt_hs256_secret = \"<redacted>\""),
            "{shown}"
        );

        let dir = dir_with(
            &format!("[mobile_auth]\njwt_hs256_secret = \"{HS256}\""),
            &[],
        );
        let other = dir.join("other.key");
        std::fs::write(&other, OTHER).unwrap();
        let c = load_env(
            &dir,
            &[(
                "QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET_FILE",
                other.to_str().unwrap(),
            )],
        )
        .unwrap();
        assert_eq!(
            c.mobile_auth.jwt_hs256_secret.as_ref().unwrap().expose(),
            OTHER
        );

        // A client's hash from its variable, over the file's hash file.
        let hash = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
        let dir = dir_with(
            "[[clients]]\nclient_id = \"shop\"\nname = \"Shop\"\n\
             redirect_uris = [\"https://shop.example/cb\"]\n\
             client_secret_sha256_file = \"missing.sha256\"",
            &[],
        );
        let c = load_env(&dir, &[("QRLOGIN_CLIENT_SECRET_SHA256__SHOP", hash)]).unwrap();
        assert_eq!(c.clients[0].client_secret_sha256.as_deref(), Some(hash));
        assert_eq!(c.clients[0].client_secret_sha256_file, None);
    }

    /// Both in one layer is refused, blaming that layer.
    #[test]
    fn a_value_and_its_file_in_one_layer_are_refused_naming_it() {
        let key =
            "mobile_auth.jwt_hs256_secret_file: set together with mobile_auth.jwt_hs256_secret";
        let dir = dir_with("", &[("k", HS256)]);
        let file = dir.join("k");
        let file = file.to_str().unwrap();
        let both_table =
            format!("{{jwt_hs256_secret = \"{HS256}\", jwt_hs256_secret_file = \"{file}\"}}");
        let value_table = format!("{{jwt_hs256_secret = \"{HS256}\"}}");
        let both_in_file =
            format!("[mobile_auth]\njwt_hs256_secret = \"{HS256}\"\njwt_hs256_secret_file = \"k\"");
        // (config file extra, environment, expected message)
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);
        let cases: [Case; 4] = [
            (
                "",
                vec![
                    ("QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET", HS256),
                    ("QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET_FILE", file),
                ],
                format!(
                    "config: environment variable QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET_FILE: {key} \
                     (by environment variable QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET): set one of them"
                ),
            ),
            (
                "",
                vec![("QRLOGIN_MOBILE_AUTH", &both_table)],
                format!("config: environment variable QRLOGIN_MOBILE_AUTH: {key}: set one of them"),
            ),
            // The file has both: the file is wrong, whatever the
            // environment does to one of them.
            (
                &both_in_file,
                vec![("QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET", HS256)],
                format!(
                    "{}: {key}: set one of them",
                    dir.join("config.toml").display()
                ),
            ),
            (
                &both_in_file,
                vec![("QRLOGIN_MOBILE_AUTH", &value_table)],
                format!(
                    "{}: {key}: set one of them",
                    dir.join("config.toml").display()
                ),
            ),
        ];
        for (extra, env, expected) in cases {
            std::fs::write(dir.join("config.toml"), format!("{MINIMAL}\n{extra}")).unwrap();
            let msg = load_env(&dir, &env).unwrap_err().to_string();
            assert!(
                msg.contains(&expected),
                "{env:?}: expected {expected:?} in {msg:?}"
            );
            assert!(!msg.contains(HS256), "{msg}");
        }

        // A client's whole array from one variable, its hash from another:
        // both from the environment.
        let hash = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
        std::fs::write(dir.join("config.toml"), MINIMAL).unwrap();
        let clients = format!(
            "[{{client_id = \"shop\", name = \"Shop\", redirect_uris = [\"https://shop.example/cb\"], \
             client_secret_sha256_file = \"{file}\"}}]"
        );
        let msg = load_env(
            &dir,
            &[
                ("QRLOGIN_CLIENTS", &clients),
                ("QRLOGIN_CLIENT_SECRET_SHA256__SHOP", hash),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains(
                "environment variable QRLOGIN_CLIENTS: clients[0].client_secret_sha256_file: \
                 set together with clients[0].client_secret_sha256 \
                 (by environment variable QRLOGIN_CLIENT_SECRET_SHA256__SHOP)"
            ),
            "{msg}"
        );
    }

    /// A relative `*_file` from a variable is relative to the working
    /// directory, not to the config file.
    #[test]
    fn relative_secret_files_from_variables_are_not_looked_for_beside_the_config() {
        let dir = dir_with("", &[("hs256.key", HS256)]);
        let msg = load_env(
            &dir,
            &[("QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET_FILE", "hs256.key")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains(
                "environment variable QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET_FILE: \
                 mobile_auth.jwt_hs256_secret_file: cannot read hs256.key:"
            ),
            "{msg}"
        );
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
