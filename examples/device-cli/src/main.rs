//! `qrlogin-device-login`: logs this terminal in with a provider's device
//! grant. Parses its flags into `Settings`, runs the library on stdout, and
//! exits with the code the crate docs list.

use clap::Parser;
use device_cli::{Colours, Settings};
use std::process::ExitCode;

/// Log in to an OpenID provider (qrlogin) from a TV or a terminal: scan the
/// QR code printed here with your phone, confirm there, and the verified
/// id_token's claims are printed.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    after_help = "Exit codes: 0 logged in; 1 declined on the phone or the code expired; \
                  2 usage or configuration (bad flags, client unknown to the provider or not \
                  allowed the device grant, provider without it); 3 provider unreachable or \
                  failed (an id_token that does not verify included).\n\
                  NO_COLOR=1 draws the QR code without colours (then it scans as drawn only on \
                  a light terminal)."
)]
struct Cli {
    /// The provider's issuer identifier (e.g. http://127.0.0.1:8080).
    #[arg(long, env = "DEVICE_ISSUER")]
    issuer: String,
    /// This device's client_id at the provider.
    #[arg(long, env = "DEVICE_CLIENT_ID")]
    client_id: String,
    /// The client secret of a confidential client; leave it out for a
    /// public one (a TV app usually is).
    #[arg(long, env = "DEVICE_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// The scopes to ask for, space-separated; openid is always asked for.
    #[arg(long, default_value = "openid profile")]
    scope: String,
    /// Poll as plain RFC 8628 (every `interval` seconds) instead of having
    /// qrlogin hold each request until the phone answers.
    #[arg(long)]
    no_wait: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = Settings {
        issuer: cli.issuer,
        client_id: cli.client_id,
        client_secret: cli.client_secret,
        scopes: cli.scope.split_whitespace().map(str::to_owned).collect(),
        wait: !cli.no_wait,
        // https://no-color.org: set and not empty turns colours off.
        colours: match std::env::var_os("NO_COLOR") {
            Some(v) if !v.is_empty() => Colours::None,
            _ => Colours::BlackOnWhite,
        },
    };
    match device_cli::run(&settings, &mut std::io::stdout()).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qrlogin-device-login: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
