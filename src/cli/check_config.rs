//! `qrlogin check-config [PATH]`: load the config as `serve` would (file,
//! environment, secret files), check the key files start-up reads, and
//! print the effective config with every secret redacted.

use super::{Cli, EXIT_CONFIG};
use crate::auth::MobileVerifier;
use crate::config::{Config, ConfigError};
use crate::oidc::Clients;
use crate::oidc::keys::SigningKeys;
use jsonwebtoken::Algorithm;
use std::path::Path;
use std::process::ExitCode;

#[allow(
    clippy::print_stdout,
    reason = "the effective config is the command's output, for the operator or a script"
)]
pub(super) fn check_config(cli: &Cli, path: Option<&Path>) -> ExitCode {
    // Every problem is the config's (exit 2), printing it included: a path
    // that is not UTF-8 cannot be written as TOML.
    let printed = cli
        .load_config(path)
        .and_then(|config| {
            check_key_files(&config)?;
            Ok(config)
        })
        .map_err(|e| e.to_string())
        .and_then(|config| {
            config
                .to_redacted_toml()
                .map_err(|e| format!("config: cannot print the configuration: {e}"))
        });
    match printed {
        Ok(text) => {
            print!("{text}");
            eprintln!("The configuration is valid (secrets shown as \"<redacted>\").");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("{why}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// What start-up reads beyond the config, short of binding and reaching
/// Redis: the phone-token key, the id_token signing keys, whether each
/// client's signing algorithm has a key, and the GeoIP database.
fn check_key_files(config: &Config) -> Result<(), ConfigError> {
    MobileVerifier::from_config(config)?;
    crate::http::open_geoip(config)?;
    let paths = &config.oidc.signing_keys;
    if paths.is_empty() {
        // Start-up generates one RSA key (not worth doing here).
        Clients::from_config(&config.clients, |alg| alg == Algorithm::RS256)?;
    } else {
        let keys =
            SigningKeys::load(paths).map_err(|e| ConfigError::new("oidc.signing_keys", e))?;
        Clients::from_config(&config.clients, |alg| keys.supports(alg))?;
    }
    Ok(())
}
