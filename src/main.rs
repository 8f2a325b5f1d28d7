//! The `qrlogin` binary: parse the command line, load the config, serve.

use clap::Parser;
use qrlogin::clock::Clock;
use qrlogin::config::{Backend, Config};
use qrlogin::startup::{Server, shutdown_signal};
use qrlogin::store::{MemoryStore, RedisSettings, RedisStore, Retention};
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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    qrlogin::telemetry::init("qrlogin=info,tower_http=warn");
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    if !config.users.is_empty() {
        tracing::warn!(
            count = config.users.len(),
            "demo [[users]] are configured: anyone who can reach /api/demo/users can log in as them. \
             Remove them in production."
        );
    }
    let retention = Retention {
        expired_grace: config.login.expired_grace,
    };
    let result = match config.store.backend {
        Backend::Memory => {
            let store = MemoryStore::new(retention, config.limits.max_live_sessions);
            serve(config, store, cli.listen).await
        }
        Backend::Redis => match RedisSettings::from_config(&config.store) {
            Ok(settings) => match RedisStore::connect(&settings, retention).await {
                Ok(store) => serve(config, store, cli.listen).await,
                Err(e) => Err(format!("store.redis_url: cannot reach redis: {e}").into()),
            },
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve<S: qrlogin::store::SessionStore>(
    config: Config,
    store: S,
    listen: Option<SocketAddr>,
) -> Result<(), Box<dyn std::error::Error>> {
    let public_url = config.server.public_url.clone();
    let server = Server::bind(config, store, Clock::system(), listen)?;
    tracing::info!(addr = %server.local_addr()?, %public_url, "qrlogin listening");
    server.run(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
