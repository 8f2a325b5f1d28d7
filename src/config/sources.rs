//! Where the configuration comes from: the TOML file, then `QRLOGIN_*`
//! environment variables over it (figment layers, one per variable, so an
//! error names the variable), then secrets from files and the clients'
//! secret hashes from the environment.
//!
//! A variable `QRLOGIN_<SECTION>__<KEY>` sets `<section>.<key>` (lower
//! case; `__` separates levels, a single `_` stays part of the name):
//! `QRLOGIN_LOGIN__QR_TTL=2m` is `[login] qr_ttl = "2m"`. A value is taken
//! as written, as a string; numbers and booleans are read from it where the
//! key wants one. A value that starts with `[` or `{` is an array or inline
//! table in TOML syntax (strings in quotes): `QRLOGIN_SERVER__TRUSTED_PROXIES=["10.0.0.0/8"]`.

use super::{Config, ConfigError};
use figment::providers::{Format as _, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use std::path::Path;

/// Every variable that starts with this is a config key, unless it is one
/// of [`CLI_ENV_VARS`] or starts with [`CLIENT_SECRET_ENV_PREFIX`].
pub const ENV_PREFIX: &str = "QRLOGIN_";

/// Variables the command line reads (`--config`, `--listen`): not config keys.
pub const CLI_ENV_VARS: &[&str] = &["QRLOGIN_CONFIG", "QRLOGIN_LISTEN"];

/// `QRLOGIN_CLIENT_SECRET_SHA256__<CLIENT_ID>` sets that client's
/// `client_secret_sha256`. `<CLIENT_ID>` is the client id in upper case
/// with every character other than A-Z and 0-9 written as `_`
/// (`example-site` → `EXAMPLE_SITE`): `[[clients]]` is an array, which a
/// `<SECTION>__<KEY>` name cannot index.
pub const CLIENT_SECRET_ENV_PREFIX: &str = "QRLOGIN_CLIENT_SECRET_SHA256__";

/// The config file to read.
#[derive(Clone, Copy, Debug)]
pub enum ConfigFile<'a> {
    /// This file, which must exist.
    Required(&'a Path),
    /// This file if it exists; if not, the environment alone is the config.
    IfPresent(&'a Path),
    /// No file: the environment alone.
    None,
}

/// The `QRLOGIN_*` variables of this process (values not in UTF-8 are
/// read lossily).
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            name.starts_with(ENV_PREFIX)
                .then(|| (name, value.to_string_lossy().into_owned()))
        })
        .collect()
}

/// One variable that sets a config key.
#[derive(Clone, Debug)]
struct EnvVar {
    name: String,
    /// The dotted key it sets (`login.qr_ttl`).
    key: String,
    value: String,
}

impl Provider for EnvVar {
    fn metadata(&self) -> Metadata {
        Metadata::named(origin_of(&self.name))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let value = match self.value.trim_start().as_bytes().first() {
            Some(b'[' | b'{') => self
                .value
                .parse::<Value>()
                .unwrap_or_else(|never| match never {}),
            _ => Value::from(self.value.clone()),
        };
        let dict = figment::util::nest(&self.key, value)
            .into_dict()
            .ok_or_else(|| figment::Error::from(format!("{}: not a config key", self.name)))?;
        Ok(Profile::Default.collect(dict))
    }
}

/// How an error names a variable.
fn origin_of(var: &str) -> String {
    format!("environment variable {var}")
}

/// The environment's share of the config: variables that set keys, and
/// clients' secret hashes.
#[derive(Debug, Default)]
struct Environment {
    vars: Vec<EnvVar>,
    client_secrets: Vec<(String, String)>,
    /// (dotted key, variable) for every key the environment set, to say
    /// where a refused value came from.
    set_keys: Vec<(String, String)>,
}

impl Environment {
    fn new(env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut this = Self::default();
        for (name, value) in env {
            if !name.starts_with(ENV_PREFIX) || CLI_ENV_VARS.contains(&name.as_str()) {
                continue;
            }
            if name.starts_with(CLIENT_SECRET_ENV_PREFIX) {
                this.client_secrets.push((name, value));
                continue;
            }
            let segments: Vec<String> = name[ENV_PREFIX.len()..]
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect();
            if segments.iter().any(|s| s.is_empty() || s.contains('.')) {
                return Err(ConfigError::other(format!(
                    "{}: not a config key (QRLOGIN_<SECTION>__<KEY>, e.g. QRLOGIN_LOGIN__QR_TTL)",
                    origin_of(&name)
                )));
            }
            let key = segments.join(".");
            this.set_keys.push((key.clone(), name.clone()));
            this.vars.push(EnvVar { name, key, value });
        }
        Ok(this)
    }

    /// The variable that set `key` or a table or array holding it.
    fn var_setting(&self, key: &str) -> Option<&str> {
        let covers = |set: &str| {
            key.strip_prefix(set)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        };
        self.set_keys
            .iter()
            .filter(|(set, _)| covers(set))
            .max_by_key(|(set, _)| set.len())
            .map(|(_, var)| var.as_str())
    }

    /// Says where the value `e` is about came from: a variable, or the file.
    fn locate(&self, e: ConfigError, file: Option<&Path>) -> ConfigError {
        let var = e.key().and_then(|key| self.var_setting(key));
        match (var, file) {
            (Some(var), _) => e.with_origin(origin_of(var)),
            (None, Some(file)) => e.with_origin(file.display().to_string()),
            (None, None) => e,
        }
    }

    /// A figment error as a [`ConfigError`] naming the key, and the
    /// variable or file its value came from.
    fn explain(&self, e: figment::Error, file: Option<&Path>) -> ConfigError {
        use figment::error::Kind;
        let mut path = e.path.clone();
        let why = match &e.kind {
            Kind::MissingField(field) => {
                if path.last().map(String::as_str) != Some(field.as_ref()) {
                    path.push(field.to_string());
                }
                let var = format!("{ENV_PREFIX}{}", path.join("__").to_ascii_uppercase());
                if path.iter().any(|s| s.bytes().all(|b| b.is_ascii_digit())) {
                    "is required".to_owned()
                } else if let [table] = &path[..] {
                    format!(
                        "is required (a [{table}] table in the config file, or {var}__* variables)"
                    )
                } else {
                    format!("is required (in the config file, or as {var})")
                }
            }
            _ => e.kind.to_string(),
        };
        let error = match key_of(&path) {
            Some(key) => ConfigError::new(&key, why),
            None => ConfigError::other(why),
        };
        // figment knows which layer a wrong value came from. A missing key
        // has no value (figment names the layer of the table around it), so
        // the key itself says.
        let layer = e.metadata.as_ref().map(|m| m.name.as_ref());
        match layer {
            Some(name)
                if name.starts_with("environment variable ")
                    && !matches!(e.kind, Kind::MissingField(_)) =>
            {
                error.with_origin(name)
            }
            _ => self.locate(error, file),
        }
    }

    /// Sets each client's `client_secret_sha256` from its variable.
    fn apply_client_secrets(&mut self, config: &mut Config) -> Result<(), ConfigError> {
        for (var, value) in &self.client_secrets {
            let wanted = &var[CLIENT_SECRET_ENV_PREFIX.len()..];
            let mut matching = config
                .clients
                .iter_mut()
                .enumerate()
                .filter(|(_, c)| env_name_of(&c.client_id) == wanted);
            let Some((i, client)) = matching.next() else {
                return Err(ConfigError::other(format!(
                    "{}: no [[clients]] entry has a client_id that reads {wanted:?} in upper case with - . ~ as _",
                    origin_of(var)
                )));
            };
            if let Some((_, other)) = matching.next() {
                return Err(ConfigError::other(format!(
                    "{}: clients {:?} and {:?} both read {wanted:?}; rename one",
                    origin_of(var),
                    client.client_id,
                    other.client_id
                )));
            }
            client.client_secret_sha256 = Some(value.trim().to_owned());
            self.set_keys
                .push((format!("clients[{i}].client_secret_sha256"), var.clone()));
        }
        Ok(())
    }
}

/// figment's path of a value as the config names it: `clients[0].name`.
fn key_of(path: &[String]) -> Option<String> {
    let mut key = String::new();
    for segment in path {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            key.push_str(&format!("[{segment}]"));
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(segment);
        }
    }
    (!key.is_empty()).then_some(key)
}

/// A client id as the suffix of its secret's variable.
fn env_name_of(client_id: &str) -> String {
    client_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Reads `file` (if any), lays `env` over it, reads the secret files and
/// validates. Relative paths are resolved against the file's directory
/// (left as written without a file: relative to the working directory).
pub(super) fn load(
    file: ConfigFile<'_>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|e| ConfigError::other(format!("cannot read {}: {e}", path.display())))
    };
    let (path, text) = match file {
        ConfigFile::Required(path) => (Some(path), Some(read(path)?)),
        ConfigFile::IfPresent(path) if path.exists() => (Some(path), Some(read(path)?)),
        ConfigFile::IfPresent(_) | ConfigFile::None => (None, None),
    };
    assemble(text.as_deref(), path, Environment::new(env)?).map_err(|e| match file {
        // Most likely the server was started in the wrong directory.
        ConfigFile::IfPresent(absent) if path.is_none() => e.with_origin(format!(
            "no config file at {}, and the environment",
            absent.display()
        )),
        _ => e,
    })
}

/// Parses TOML text alone (no environment), paths as written.
pub(super) fn load_text(text: &str) -> Result<Config, ConfigError> {
    assemble(Some(text), None, Environment::default())
}

fn assemble(
    text: Option<&str>,
    file: Option<&Path>,
    mut env: Environment,
) -> Result<Config, ConfigError> {
    let mut figment = Figment::new();
    if let Some(text) = text {
        figment = figment.merge(Toml::string(text));
    }
    for var in &env.vars {
        figment = figment.merge(var.clone());
    }
    // Lossy: a variable's "60" or "true" is read as the number or boolean
    // its key wants.
    let mut config: Config = figment.extract_lossy().map_err(|e| env.explain(e, file))?;
    env.apply_client_secrets(&mut config)?;
    if let Some(base) = file.and_then(Path::parent) {
        config.resolve_paths(base);
    }
    let locate = |e| env.locate(e, file);
    super::secrets::read_files(&mut config).map_err(locate)?;
    config.validate().map_err(locate)?;
    config.check_static_dir().map_err(locate)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::MINIMAL;
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// MINIMAL as a file in a temp dir, with `env` over it.
    fn load_with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("qrlogin-cfg-{}", crate::secret::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, MINIMAL).unwrap();
        Config::load_from(ConfigFile::Required(&path), env(pairs))
    }

    fn err_with(pairs: &[(&str, &str)]) -> String {
        load_with(pairs).unwrap_err().to_string()
    }

    #[test]
    fn variables_override_the_file() {
        let c = load_with(&[
            ("QRLOGIN_LOGIN__QR_TTL", "2m"),
            ("QRLOGIN_SERVER__LISTEN", "0.0.0.0:8081"),
            (
                "QRLOGIN_SERVER__TRUSTED_PROXIES",
                r#"["10.0.0.0/8", "::1/128"]"#,
            ),
            ("QRLOGIN_STORE__BACKEND", "redis"),
            (
                "QRLOGIN_STORE__REDIS_URL",
                "redis://:hunter2@127.0.0.1:6379/1",
            ),
            ("QRLOGIN_LIMITS__QR_PER_MINUTE_PER_IP", "7"),
            ("QRLOGIN_LOG__FORMAT", "json"),
            ("QRLOGIN_CONFIG", "/not/a/key.toml"),
            ("QRLOGIN_LISTEN", "also not a key"),
            ("RUST_LOG", "debug"),
        ])
        .unwrap();
        assert_eq!(c.login.qr_ttl, Duration::from_secs(120));
        assert_eq!(c.login.poll_hold, Duration::from_secs(25), "the rest stays");
        assert_eq!(c.server.listen.to_string(), "0.0.0.0:8081");
        assert_eq!(c.server.trusted_proxies.len(), 2);
        assert_eq!(
            c.store.redis_url.unwrap().expose(),
            "redis://:hunter2@127.0.0.1:6379/1"
        );
        assert_eq!(c.limits.qr_per_minute_per_ip, 7);
        assert_eq!(c.log.format, Some(crate::config::LogFormat::Json));
        assert_eq!(c.users.len(), 1, "the file's arrays stay");
    }

    #[test]
    fn numeric_looking_values_of_string_keys_stay_strings() {
        let c = load_with(&[
            ("QRLOGIN_STORE__KEY_PREFIX", "0123"),
            ("QRLOGIN_MOBILE_AUTH__JWT_AUDIENCE", "true"),
            ("QRLOGIN_MOBILE_AUTH__JWT_ISSUER", "1.5"),
        ])
        .unwrap();
        assert_eq!(c.store.key_prefix, "0123");
        assert_eq!(c.mobile_auth.jwt_audience.as_deref(), Some("true"));
        assert_eq!(c.mobile_auth.jwt_issuer.as_deref(), Some("1.5"));
    }

    #[test]
    fn arrays_of_tables_can_come_from_the_environment() {
        let c = load_with(&[(
            "QRLOGIN_USERS",
            r#"[{token = "t-1", id = "42", name = "Carol"}]"#,
        )])
        .unwrap();
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.users[0].id, "42");
    }

    #[test]
    fn errors_name_the_variable() {
        let cases = [
            (("QRLOGIN_LOGIN__QR_TTL", "five minutes"), "login.qr_ttl"),
            (("QRLOGIN_LOGIN__POLL_HOLD", "10m"), "login.poll_hold"),
            (("QRLOGIN_SERVER__LISTEN", "nope"), "server.listen"),
            (
                ("QRLOGIN_LIMITS__QR_PER_MINUTE_PER_IP", "lots"),
                "limits.qr_per_minute_per_ip",
            ),
            (
                ("QRLOGIN_SERVER__TRUSTED_PROXIES", "10.0.0.0/8"),
                "server.trusted_proxies",
            ),
            (
                ("QRLOGIN_SERVER__TRUSTED_PROXIES", r#"["nope"]"#),
                "server.trusted_proxies",
            ),
            (("QRLOGIN_FOO__BAR", "1"), "foo"),
            (("QRLOGIN_LOGIN__TYPO", "1"), "login.typo"),
            (("QRLOGIN_STORE__BACKEND", "mongo"), "store.backend"),
            (("QRLOGIN_LOGIN____QR_TTL", "2m"), "not a config key"),
        ];
        for ((var, value), key) in cases {
            let msg = err_with(&[(var, value)]);
            assert!(
                msg.contains(&format!("environment variable {var}")) && msg.contains(key),
                "{var}={value}: expected the variable and {key:?} in {msg:?}"
            );
        }
        // The file's poll_hold (25s) is refused against the variable's
        // qr_ttl: the refused key is the file's, and so is the blame.
        let msg = err_with(&[("QRLOGIN_LOGIN__QR_TTL", "20s")]);
        assert!(
            msg.contains("config.toml: login.poll_hold: must be shorter than login.qr_ttl")
                && !msg.contains("environment variable"),
            "{msg}"
        );
    }

    #[test]
    fn the_environment_alone_can_be_the_config() {
        let vars = env(&[
            ("QRLOGIN_SERVER__LISTEN", "127.0.0.1:0"),
            ("QRLOGIN_SERVER__PUBLIC_URL", "https://login.example.com"),
            ("QRLOGIN_MOBILE_AUTH__JWT_HS256_SECRET", &"k".repeat(32)),
        ]);
        let missing = Path::new("/nonexistent/qrlogin/config.toml");
        let c = Config::load_from(ConfigFile::IfPresent(missing), vars.clone()).unwrap();
        assert_eq!(c.public_base(), "https://login.example.com");
        assert!(Config::load_from(ConfigFile::None, vars.clone()).is_ok());

        // Named explicitly, a missing file is an error.
        let msg = Config::load_from(ConfigFile::Required(missing), vars.clone())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("cannot read /nonexistent/qrlogin/config.toml"),
            "{msg}"
        );

        // Without a file, a missing required key names its variable.
        let msg = Config::load_from(ConfigFile::None, vars[1..].to_vec())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("server.listen") && msg.contains("QRLOGIN_SERVER__LISTEN"),
            "{msg}"
        );
    }

    #[test]
    fn client_secret_hashes_come_from_their_variables() {
        let site = r#"
            [[clients]]
            client_id = "example-site.v2"
            name = "Example"
            redirect_uris = ["https://example.com/cb"]
        "#;
        let dir = std::env::temp_dir().join(format!("qrlogin-cfg-{}", crate::secret::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, format!("{MINIMAL}{site}")).unwrap();
        let hash = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
        let load =
            |pairs: &[(&str, &str)]| Config::load_from(ConfigFile::Required(&path), env(pairs));

        let c = load(&[("QRLOGIN_CLIENT_SECRET_SHA256__EXAMPLE_SITE_V2", hash)]).unwrap();
        assert_eq!(c.clients[0].client_secret_sha256.as_deref(), Some(hash));

        let msg = load(&[]).unwrap_err().to_string();
        assert!(msg.contains("clients[0].client_secret_sha256"), "{msg}");
        let msg = load(&[("QRLOGIN_CLIENT_SECRET_SHA256__EXAMPLE_SITE_V2", "zz")])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("QRLOGIN_CLIENT_SECRET_SHA256__EXAMPLE_SITE_V2")
                && msg.contains("clients[0].client_secret_sha256"),
            "{msg}"
        );
        let msg = load(&[("QRLOGIN_CLIENT_SECRET_SHA256__NOBODY", hash)])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("QRLOGIN_CLIENT_SECRET_SHA256__NOBODY"),
            "{msg}"
        );
    }

    #[test]
    fn client_ids_map_to_variable_names() {
        assert_eq!(env_name_of("example-site"), "EXAMPLE_SITE");
        assert_eq!(env_name_of("a.b~c_d9"), "A_B_C_D9");
    }
}
