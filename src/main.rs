//! The `qrlogin` binary: parse the command line, load the config, build the
//! application from it and run it until Ctrl-C or SIGTERM. `qrlogin
//! hash-secret` instead mints an OpenID Connect client secret.

use clap::{Parser, Subcommand};
use qrlogin::Application;
use qrlogin::config::Config;
use qrlogin::startup::shutdown_signal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Scan-the-QR-code-with-your-phone login server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, default_value = "config.toml", env = "QRLOGIN_CONFIG")]
    config: PathBuf,
    /// Listen on this address instead of `server.listen`.
    #[arg(long, env = "QRLOGIN_LISTEN")]
    listen: Option<SocketAddr>,
    /// What to do; without one, serve.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a new OpenID Connect client secret and the config line with its hash.
    HashSecret,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::HashSecret) = cli.command {
        hash_secret();
        return ExitCode::SUCCESS;
    }
    qrlogin::telemetry::init("qrlogin=info,tower_http=warn");
    let mut config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(listen) = cli.listen {
        config.server.listen = listen;
    }
    if !config.users.is_empty() {
        tracing::warn!(
            count = config.users.len(),
            "demo [[users]] are configured: anyone who can reach /api/demo/users can log in as them. \
             Remove them in production."
        );
    }
    let public_url = config.server.public_url.clone();
    // Listening for SIGTERM from here on: a stop during start-up is graceful.
    let stop = shutdown_signal();
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(e.exit_code());
        }
    };
    match app.local_addr() {
        Ok(addr) => tracing::info!(%addr, %public_url, "qrlogin listening"),
        Err(e) => tracing::warn!(error = %e, "cannot tell the listening address"),
    }
    if let Err(e) = app.run_until_stopped(stop).await {
        tracing::error!("{e}");
        return ExitCode::FAILURE;
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Prints a fresh client secret and the `[[clients]]` line that stores its hash.
#[allow(
    clippy::print_stdout,
    reason = "the output is for the operator to copy, not a log line; the hint goes \
              to stderr so stdout stays two lines a script can read"
)]
fn hash_secret() {
    let secret = qrlogin::secret::Secret::generate();
    let hash = qrlogin::oidc::client_secret_sha256(secret.expose());
    println!("{}", secret.expose());
    println!("client_secret_sha256 = \"{hash}\"");
    eprintln!(
        "The secret (first line) is shown only this once: give it to the client. \
         Paste the second line into the client's [[clients]] entry."
    );
}
