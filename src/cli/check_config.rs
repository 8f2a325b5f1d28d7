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
    let checked = cli.load_config(path).and_then(|config| {
        check_key_files(&config)?;
        Ok(config)
    });
    let config = match checked {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match config.to_redacted_toml() {
        Ok(text) => {
            print!("{text}");
            eprintln!("The configuration is valid (secrets shown as \"<redacted>\").");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot print the configuration: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What start-up reads beyond the config, short of binding and reaching
/// Redis: the phone-token key, the id_token signing keys, and whether each
/// client's signing algorithm has a key.
fn check_key_files(config: &Config) -> Result<(), ConfigError> {
    MobileVerifier::from_config(config)?;
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
