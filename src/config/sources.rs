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
//!
//! Every value replaces whole what lies below it: a variable's table
//! replaces the file's table (it is not merged key by key), and a variable
//! for a key inside a table another variable sets (`QRLOGIN_LOGIN__QR_TTL`
//! inside `QRLOGIN_LOGIN={…}`) wins over that one, whatever the order of
//! the environment. So each key's value comes from exactly one place: the
//! variable with the longest name that covers it, or else the file.
//!
//! An error about a value that cannot be read (TOML syntax, a wrong type)
//! never quotes it, from the file or a variable: it may be a secret, and
//! errors go to logs.

use super::{Config, ConfigError};
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
    value: Value,
}

impl EnvVar {
    /// The variable `name`, setting `key` to `text` read as a string, or
    /// as an array or inline table if it starts with `[` or `{`.
    fn new(name: String, key: String, text: &str) -> Result<Self, ConfigError> {
        let value = if text.trim_start().starts_with(['[', '{']) {
            // figment's parser falls back to the whole text, as a string,
            // when it cannot read it: an error about that string would
            // quote it, secrets and all.
            match text.parse::<Value>().unwrap_or_else(|never| match never {}) {
                Value::String(..) => {
                    return Err(ConfigError::new(
                        &key,
                        "not valid TOML inline syntax (a value starting with [ or { is an array \
                         or inline table, its strings in quotes)",
                    )
                    .with_origin(origin_of(&name)));
                }
                value => value,
            }
        } else {
            Value::from(text.to_owned())
        };
        Ok(Self { name, key, value })
    }

    /// How many levels down its key is (`login.qr_ttl`: 2).
    fn depth(&self) -> usize {
        self.key.split('.').count()
    }
}

impl Provider for EnvVar {
    fn metadata(&self) -> Metadata {
        Metadata::named(origin_of(&self.name))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = figment::util::nest(&self.key, self.value.clone())
            .into_dict()
            .ok_or_else(|| figment::Error::from(format!("{}: not a config key", self.name)))?;
        Ok(Profile::Default.collect(dict))
    }
}

/// The config file's tables, as figment's lowest layer.
struct FileLayer {
    name: String,
    dict: Dict,
}

impl Provider for FileLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// How an error names a variable.
pub(super) fn origin_of(var: &str) -> String {
    format!("environment variable {var}")
}

/// Removes the value at the dotted `path` below `dict`, if there is one.
fn remove_path(dict: &mut Dict, path: &str) {
    match path.split_once('.') {
        None => {
            dict.remove(path);
        }
        Some((first, rest)) => {
            if let Some(Value::Dict(_, inner)) = dict.get_mut(first) {
                remove_path(inner, rest);
            }
        }
    }
}

/// The tables of the TOML `text`. A syntax error says where (line and
/// column) and what toml makes of it, but not the text there: the line may
/// hold a secret (`redis_url = redis://:password@…` without its quotes),
/// and `serve` logs the error.
fn parse_toml(text: &str) -> Result<Dict, ConfigError> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|span| {
                let (line, column) = line_and_column(text, span.start);
                format!("line {line}, column {column}: ")
            })
            .unwrap_or_default();
        let why = e.message().lines().collect::<Vec<_>>().join("; ");
        ConfigError::other(format!("{at}TOML syntax: {why}"))
    })
}

/// The line and column (from 1; columns in characters) of byte `at` of `text`.
fn line_and_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// What a figment error says, with any value it quotes replaced by its
/// kind ("a string"): the value may be a secret, or a whole variable
/// figment could not read as TOML.
fn describe(kind: &figment::error::Kind) -> String {
    use figment::error::{Actual, Kind};
    let what = |actual: &Actual| match actual {
        Actual::Bool(_) => "a boolean".to_owned(),
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer".to_owned(),
        Actual::Float(_) => "a float".to_owned(),
        Actual::Char(_) => "a character".to_owned(),
        Actual::Str(_) => "a string".to_owned(),
        Actual::Bytes(_) => "bytes".to_owned(),
        Actual::Other(_) => "a value".to_owned(),
        // The rest are kinds, holding no value.
        other => other.to_string(),
    };
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!("invalid type: found {}, expected {expected}", what(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value: found {}, expected {expected}", what(actual))
        }
        Kind::UnknownVariant(_, expected) => {
            let one_of: Vec<String> = expected.iter().map(|v| format!("`{v}`")).collect();
            format!("unknown variant, expected one of {}", one_of.join(", "))
        }
        Kind::Unsupported(actual) => format!("unsupported type: {}", what(actual)),
        Kind::UnsupportedKey(actual, expected) => {
            format!(
                "unsupported key: found {}, expected {expected}",
                what(actual)
            )
        }
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "integer out of range".to_owned(),
        // Messages, lengths and field names, not values.
        other => other.to_string(),
    }
}

/// The value at figment's `path` below `value`.
fn find<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |value, segment| match value {
        Value::Dict(_, dict) => dict.get(segment),
        Value::Array(_, array) => array.get(segment.parse::<usize>().ok()?),
        _ => None,
    })
}

/// `message` with every string at or below `value` that it quotes
/// (`"text"`) replaced by `"…"`.
fn redact(mut message: String, value: Option<&Value>) -> String {
    fn strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
        match value {
            Value::String(_, text) => out.push(text),
            Value::Dict(_, dict) => dict.values().for_each(|v| strings(v, out)),
            Value::Array(_, array) => array.iter().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut quoted = Vec::new();
    if let Some(value) = value {
        strings(value, &mut quoted);
    }
    // Longest first, so a string inside another goes with it.
    quoted.sort_by_key(|text| std::cmp::Reverse(text.len()));
    for text in quoted.into_iter().filter(|text| !text.is_empty()) {
        message = message.replace(&format!("{text:?}"), "\"…\"");
    }
    message
}

/// The environment's share of the config: variables that set keys, and
/// clients' secret hashes.
#[derive(Debug, Default)]
struct Environment {
    /// Outermost key first (then by key and name): the order they are
    /// laid on.
    vars: Vec<EnvVar>,
    client_secrets: Vec<(String, String)>,
    /// (dotted key, variable) for every key the environment set, to say
    /// where a value came from.
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
            this.vars
                .push(EnvVar::new(name, segments.join("."), &value)?);
        }
        // The process's environment has no order worth keeping: lay the
        // variables on from the outermost key, so the innermost wins.
        // Two names for one key (`QRLOGIN_login__qr_ttl` beside
        // `QRLOGIN_LOGIN__QR_TTL`) would leave the choice to that order.
        this.vars
            .sort_by(|a, b| (a.depth(), &a.key, &a.name).cmp(&(b.depth(), &b.key, &b.name)));
        for pair in this.vars.windows(2) {
            if let [a, b] = pair
                && a.key == b.key
            {
                return Err(ConfigError::new(
                    &a.key,
                    format!(
                        "set by both {} and {}: unset one",
                        origin_of(&a.name),
                        origin_of(&b.name)
                    ),
                ));
            }
        }
        // Each variable replaces whole what an outer one set around it.
        for later in 1..this.vars.len() {
            let (before, after) = this.vars.split_at_mut(later);
            let key = &after[0].key;
            for var in before {
                if let Some(rest) = key.strip_prefix(&format!("{}.", var.key))
                    && let Value::Dict(_, dict) = &mut var.value
                {
                    remove_path(dict, rest);
                }
            }
        }
        this.set_keys = this
            .vars
            .iter()
            .map(|var| (var.key.clone(), var.name.clone()))
            .collect();
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
    /// variable or file its value came from. `merged` is the config figment
    /// read, to take the values the message might quote out of it.
    fn explain(
        &self,
        e: figment::Error,
        merged: Option<&Value>,
        file: Option<&Path>,
    ) -> ConfigError {
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
            // A type's own message may quote the value (url's does).
            kind => redact(describe(kind), merged.and_then(|m| find(m, &path))),
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
/// validates. Relative paths in the file are resolved against its
/// directory; those from variables (and all of them without a file) are
/// left as written: relative to the working directory.
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
    let in_file = |e: ConfigError| match file {
        Some(path) => e.with_origin(path.display().to_string()),
        None => e,
    };
    let mut figment = Figment::new();
    if let Some(text) = text {
        let mut dict = parse_toml(text).map_err(in_file)?;
        super::secrets::check_layer(&dict).map_err(in_file)?;
        // What a variable sets, it sets whole: a table is not merged
        // into the file's key by key.
        for var in &env.vars {
            remove_path(&mut dict, &var.key);
        }
        let name = file.map_or_else(|| "the config text".to_owned(), |p| p.display().to_string());
        figment = figment.merge(FileLayer { name, dict });
    }
    for var in &env.vars {
        figment = figment.merge(var.clone());
    }
    // Lossy: a variable's "60" or "true" is read as the number or boolean
    // its key wants.
    let mut config: Config = figment.extract_lossy().map_err(|e| {
        let merged = figment.extract::<Value>().ok();
        env.explain(e, merged.as_ref(), file)
    })?;
    env.apply_client_secrets(&mut config)?;
    if let Some(base) = file.and_then(Path::parent) {
        // A variable's relative path means what it would to a program
        // reading it: relative to the working directory.
        config.resolve_paths(base, |key| env.var_setting(key).is_none());
    }
    let locate = |e| env.locate(e, file);
    super::secrets::read_files(&mut config, |key| env.var_setting(key)).map_err(locate)?;
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

    /// `text` as `config.toml` in a new temp dir.
    fn write_file(text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("qrlogin-cfg-{}", crate::secret::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `text` as a file in a temp dir, with `env` over it.
    fn load_file_with(text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load_from(ConfigFile::Required(&write_file(text)), env(pairs))
    }

    /// MINIMAL as a file in a temp dir, with `env` over it.
    fn load_with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load_file_with(MINIMAL, pairs)
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
    fn toml_syntax_errors_say_where_but_never_quote_the_line() {
        // Line 2 of the file, where the secret sits, at column 13.
        let cases = [
            "redis_url = redis://:hunter2@r:6379",
            "redis_url = \"redis://:hunter2@r:6379",
            "redis_url = 'hunter2",
            "redis_url = hunter2 hunter2",
        ];
        for line in cases {
            let text = format!("[store]\n{line}\n{MINIMAL}");
            let path = write_file(&text);
            let msg = Config::load_from(ConfigFile::Required(&path), [])
                .unwrap_err()
                .to_string();
            assert!(
                msg.starts_with(&format!("config: {}: line 2, column ", path.display()))
                    && msg.contains("TOML syntax: "),
                "{line}: {msg}"
            );
            assert!(!msg.contains("hunter2"), "{line}: {msg}");
            // Config text alone: the same, without a file name.
            let msg = Config::parse(&text).unwrap_err().to_string();
            assert!(msg.starts_with("config: line 2, column "), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        let msg = Config::parse("[store]\nredis_url = redis://:hunter2@r:6379")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 2, column 13"), "{msg}");
    }

    #[test]
    fn lines_and_columns_count_characters() {
        assert_eq!(line_and_column("ab", 0), (1, 1));
        assert_eq!(line_and_column("a\nbc", 3), (2, 2));
        assert_eq!(line_and_column("é = x", 5), (1, 5));
        assert_eq!(line_and_column("é", 1), (1, 1), "inside a character");
        assert_eq!(line_and_column("a\n", 9), (2, 1), "past the end");
    }

    /// No error quotes a value, secrets included: ones that are not TOML
    /// where TOML was meant, or of the wrong type, from a variable or the file.
    #[test]
    fn errors_never_quote_a_value() {
        let env_cases = [
            (
                "QRLOGIN_STORE",
                r#"{backend="redis", redis_url="redis://:hunter2@r:6379""#,
                "not valid TOML inline syntax",
            ),
            (
                "QRLOGIN_USERS",
                r#"[{token="hunter2", id="carol", name="Carol"}"#,
                "not valid TOML inline syntax",
            ),
            (
                "QRLOGIN_SERVER__TRUSTED_PROXIES",
                r#"  ["10.0.0.0/8", "hunter2"] trailing"#,
                "not valid TOML inline syntax",
            ),
            (
                "QRLOGIN_STORE",
                "redis://:hunter2@r:6379",
                "invalid type: found a string, expected",
            ),
            (
                "QRLOGIN_LOGIN__QR_TTL",
                "hunter2",
                "invalid value: found a string, expected",
            ),
            (
                "QRLOGIN_STORE__BACKEND",
                "redis://:hunter2@r:6379",
                "unknown variant, expected one of `memory`, `redis`, `redis-cluster`",
            ),
            (
                "QRLOGIN_STORE__REDIS_URL",
                r#"["redis://:hunter2@r:6379"]"#,
                "invalid type: found sequence, expected a string",
            ),
        ];
        for (var, value, why) in env_cases {
            let msg = err_with(&[(var, value)]);
            assert!(
                msg.contains(&format!("environment variable {var}")) && msg.contains(why),
                "{var}={value}: expected {why:?} in {msg:?}"
            );
            assert!(!msg.contains("hunter2"), "{var}={value}: {msg}");
        }
        let file_cases = [
            ("[login]\nqr_ttl = \"hunter2\"", "login.qr_ttl"),
            ("[store]\nbackend = \"hunter2\"", "store.backend"),
            ("[server]\npublic_url = \"hunter2\"", "server.public_url"),
            (
                "[mobile_auth]\njwt_hs256_secret = 12345",
                "jwt_hs256_secret",
            ),
        ];
        for (extra, key) in file_cases {
            let text = if extra.starts_with("[server]") {
                MINIMAL
                    .replace("public_url = \"http://localhost:8080\"", "")
                    .replace("[server]", extra)
            } else {
                format!("{MINIMAL}\n{extra}")
            };
            let msg = load_file_with(&text, &[]).unwrap_err().to_string();
            assert!(msg.contains("config.toml") && msg.contains(key), "{msg}");
            assert!(!msg.contains("hunter2") && !msg.contains("12345"), "{msg}");
        }
    }

    #[test]
    fn a_variables_table_replaces_the_files_whole() {
        let text = format!("{MINIMAL}\n[login]\nqr_ttl = \"10m\"\npoll_hold = \"30s\"\n");
        let c = load_file_with(&text, &[]).unwrap();
        assert_eq!(c.login.poll_hold, Duration::from_secs(30));
        let c = load_file_with(&text, &[("QRLOGIN_LOGIN", r#"{qr_ttl = "2m"}"#)]).unwrap();
        assert_eq!(c.login.qr_ttl, Duration::from_secs(120));
        assert_eq!(
            c.login.poll_hold,
            Duration::from_secs(25),
            "the default, not the file's 30s"
        );
        // A key's own variable still merges into the file's table.
        let c = load_file_with(&text, &[("QRLOGIN_LOGIN__QR_TTL", "2m")]).unwrap();
        assert_eq!(c.login.poll_hold, Duration::from_secs(30));

        // Tables within tables too: the file's headers are gone.
        let text = format!("{MINIMAL}\n[forward_auth.headers]\n\"X-File\" = \"id\"\n");
        let c = load_file_with(
            &text,
            &[("QRLOGIN_FORWARD_AUTH__HEADERS", r#"{"X-Env" = "name"}"#)],
        )
        .unwrap();
        let headers: Vec<_> = c
            .forward_auth
            .headers
            .keys()
            .map(|h| h.as_written())
            .collect();
        assert_eq!(headers, ["X-Env"]);
    }

    #[test]
    fn the_longest_variable_wins_whatever_the_order_of_the_environment() {
        let table = ("QRLOGIN_LOGIN", r#"{qr_ttl = "2m", poll_hold = "20s"}"#);
        let key = ("QRLOGIN_LOGIN__QR_TTL", "3m");
        for pairs in [[table, key], [key, table]] {
            let c = load_with(&pairs).unwrap();
            assert_eq!(c.login.qr_ttl, Duration::from_secs(180), "{pairs:?}");
            assert_eq!(c.login.poll_hold, Duration::from_secs(20), "{pairs:?}");
        }
        // A table inside a variable's table is replaced whole as well.
        let outer = (
            "QRLOGIN_FORWARD_AUTH",
            r#"{headers = {"X-Outer" = "id"}, allowed_redirect_hosts = ["a.example"]}"#,
        );
        let inner = ("QRLOGIN_FORWARD_AUTH__HEADERS", r#"{"X-Inner" = "name"}"#);
        for pairs in [[outer, inner], [inner, outer]] {
            let c = load_with(&pairs).unwrap();
            let headers: Vec<_> = c
                .forward_auth
                .headers
                .keys()
                .map(|h| h.as_written())
                .collect();
            assert_eq!(headers, ["X-Inner"], "{pairs:?}");
            assert_eq!(c.forward_auth.allowed_redirect_hosts.len(), 1);
        }
        // Two names for one key: no order to choose by.
        let msg = err_with(&[
            ("QRLOGIN_LOGIN__QR_TTL", "2m"),
            ("QRLOGIN_login__qr_ttl", "3m"),
        ]);
        assert!(
            msg.contains("login.qr_ttl: set by both environment variable QRLOGIN_LOGIN__QR_TTL and environment variable QRLOGIN_login__qr_ttl"),
            "{msg}"
        );
    }

    #[test]
    fn relative_paths_from_variables_stay_relative_to_the_working_directory() {
        let text = format!(
            "{MINIMAL}\n[audit]\npath = \"audit.log\"\n[geoip]\npath = \"City.mmdb\"\n[oidc]\nsigning_keys = [\"a.pem\", \"/abs/b.pem\"]\n"
        );
        let path = write_file(&text);
        let dir = path.parent().unwrap();
        let c = Config::load_from(ConfigFile::Required(&path), []).unwrap();
        assert_eq!(c.audit.path.unwrap(), dir.join("audit.log"));
        assert_eq!(c.geoip.path.unwrap(), dir.join("City.mmdb"));
        assert_eq!(
            c.oidc.signing_keys,
            [dir.join("a.pem"), "/abs/b.pem".into()]
        );

        let c = Config::load_from(
            ConfigFile::Required(&path),
            env(&[
                ("QRLOGIN_AUDIT__PATH", "logs/audit.log"),
                ("QRLOGIN_OIDC__SIGNING_KEYS", r#"["keys/a.pem"]"#),
            ]),
        )
        .unwrap();
        assert_eq!(c.audit.path.unwrap(), Path::new("logs/audit.log"));
        assert_eq!(c.oidc.signing_keys, [Path::new("keys/a.pem")]);
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
