//! The command line: `qrlogin [serve]`, `check-config`, `mint-token`,
//! `hash-secret`, `self-test`. `src/main.rs` parses it and calls [`run`].

mod check_config;
mod hash_secret;
mod mint_token;
mod self_test;
mod serve;

use crate::config::{Config, ConfigError, ConfigFile, process_env};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use mint_token::MintToken;
pub use self_test::SelfTest;

/// The config file read when none is named. If it does not exist, the
/// `QRLOGIN_*` environment alone is the config (containers); a file named
/// with `--config`, `QRLOGIN_CONFIG` or `check-config PATH` must exist.
pub const DEFAULT_CONFIG: &str = "config.toml";

/// Exit code for a configuration the command refuses (fix it; retrying
/// will not help), as [`crate::StartError::exit_code`] has it.
pub const EXIT_CONFIG: u8 = 2;

/// Scan-the-QR-code-with-your-phone login server.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// The configuration file [default: ./config.toml, or none if that does
    /// not exist: the QRLOGIN_* environment alone]
    #[arg(long, short, global = true, env = "QRLOGIN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Listen on this address instead of `server.listen`.
    #[arg(long, global = true, env = "QRLOGIN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// What to do; without one, serve.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve (the default).
    Serve,
    /// Check the configuration (file, environment, key and secret files) and
    /// print it as TOML with every secret redacted; exit code 2 if it is bad.
    CheckConfig {
        /// The configuration file (instead of --config).
        path: Option<PathBuf>,
    },
    /// Print a phone token (a JWT signed with mobile_auth.jwt_hs256_secret),
    /// for trying the phone API with curl.
    MintToken(MintToken),
    /// Print a new OpenID Connect client secret and the config line with its hash.
    HashSecret,
    /// Check a running deployment (this one or any) from the outside for
    /// the known flaws of QR-code logins; exit code 1 if one is found.
    SelfTest(SelfTest),
}

/// Runs the command `cli` names and says how the process should exit.
pub async fn run(cli: Cli) -> ExitCode {
    match &cli.command {
        None | Some(Command::Serve) => serve::serve(&cli).await,
        Some(Command::CheckConfig { path }) => check_config::check_config(&cli, path.as_deref()),
        Some(Command::MintToken(args)) => mint_token::mint_token(&cli, args),
        Some(Command::HashSecret) => {
            hash_secret::hash_secret();
            ExitCode::SUCCESS
        }
        Some(Command::SelfTest(args)) => self_test::self_test(args).await,
    }
}

impl Cli {
    /// Loads the config `path` (or `--config`, or the default) names, with
    /// this process's environment over it and `--listen` over that.
    fn load_config(&self, path: Option<&Path>) -> Result<Config, ConfigError> {
        let file = match path.or(self.config.as_deref()) {
            Some(named) => ConfigFile::Required(named),
            None => ConfigFile::IfPresent(Path::new(DEFAULT_CONFIG)),
        };
        let mut config = Config::load_from(file, process_env())?;
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_and_listen_work_before_and_after_serve() {
        for args in [
            &[
                "qrlogin",
                "-c",
                "a.toml",
                "--listen",
                "127.0.0.1:1",
                "serve",
            ][..],
            &[
                "qrlogin",
                "serve",
                "--config",
                "a.toml",
                "--listen",
                "127.0.0.1:1",
            ],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert!(matches!(cli.command, Some(Command::Serve)));
            assert_eq!(cli.config.as_deref(), Some(Path::new("a.toml")));
            assert_eq!(cli.listen, Some("127.0.0.1:1".parse().unwrap()));
        }
        let cli = Cli::try_parse_from(["qrlogin", "check-config", "b.toml"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::CheckConfig { path: Some(_) })
        ));
    }
}
