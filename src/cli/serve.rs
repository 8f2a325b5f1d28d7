//! `qrlogin serve` (the default): load the config, set up logging as it
//! says, build the application and run it until Ctrl-C or SIGTERM.

use super::{Cli, EXIT_CONFIG};
use crate::Application;
use crate::config::LogConfig;
use crate::startup::shutdown_signal;
use std::process::ExitCode;

pub(super) async fn serve(cli: &Cli) -> ExitCode {
    let config = match cli.load_config(None) {
        Ok(config) => config,
        Err(e) => {
            // Logged as the server would log it (JSON for a collector), with
            // the default log settings: the config's own could not be read.
            crate::telemetry::init(&LogConfig::default());
            tracing::error!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    crate::telemetry::init(&config.log);
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
        Ok(addr) => {
            tracing::info!(%addr, %public_url, version = env!("CARGO_PKG_VERSION"), "qrlogin listening");
        }
        Err(e) => tracing::warn!(error = %e, "cannot tell the listening address"),
    }
    if let Err(e) = app.run_until_stopped(stop).await {
        tracing::error!("{e}");
        return ExitCode::FAILURE;
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}
