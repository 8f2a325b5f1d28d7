//! `relying-site`: the example "Log in with qrlogin" site. Parses its flags,
//! binds, and serves the library's router until Ctrl-C or SIGTERM.

use clap::Parser;
use std::net::SocketAddr;
use url::Url;

/// An example OpenID Connect relying party for qrlogin.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The provider's issuer identifier (e.g. http://127.0.0.1:8080).
    #[arg(long, env = "RP_ISSUER")]
    issuer: String,
    /// This site's client_id at the provider.
    #[arg(long, env = "RP_CLIENT_ID")]
    client_id: String,
    /// This site's client secret; leave it out for a public client.
    #[arg(long, env = "RP_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// The address to listen on.
    #[arg(long, env = "RP_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// The origin browsers reach this site at; the redirect URI registered at
    /// the provider is {public_url}/callback. Defaults to http://{listen}.
    #[arg(long, env = "RP_PUBLIC_URL")]
    public_url: Option<Url>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "relying_site=info".into()),
        )
        .init();
    let cli = Cli::parse();
    let public_url = match cli.public_url {
        Some(url) => url,
        None => Url::parse(&format!("http://{}", cli.listen))?,
    };
    let settings = relying_site::Settings {
        issuer: cli.issuer,
        client_id: cli.client_id,
        client_secret: cli.client_secret,
        public_url,
    };
    let router = relying_site::router(settings.clone())?;
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    tracing::info!(
        listen = %listener.local_addr()?,
        redirect_uri = %settings.redirect_uri(),
        issuer = %settings.issuer,
        "relying site up"
    );
    relying_site::run(listener, router, shutdown_signal()).await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
