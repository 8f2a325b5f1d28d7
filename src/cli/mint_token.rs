//! `qrlogin mint-token --user alice`: a phone token (HS256 JWT) signed with
//! `mobile_auth.jwt_hs256_secret`, carrying the claims the phone API reads
//! ([`crate::auth::mobile`]), for trying the API with curl.

use super::{Cli, EXIT_CONFIG};
use crate::clock::Clock;
use crate::config::Config;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Duration;

/// Longest `--ttl`: a demo token, not a credential to keep.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// Longest user id the phone API accepts.
const MAX_USER_LEN: usize = 256;

#[derive(Debug, clap::Args)]
pub struct MintToken {
    /// The user id (`sub`).
    #[arg(long)]
    pub user: String,
    /// The display name (`name`) the login page shows; default: the user id.
    #[arg(long)]
    pub name: Option<String>,
    /// An avatar URL (`picture`): https://… or this server's /static/… file.
    #[arg(long)]
    pub avatar: Option<String>,
    /// How long the token is valid (1s to 24h).
    #[arg(long, default_value = "10m", value_parser = parse_ttl)]
    pub ttl: Duration,
}

/// A `--ttl` within 1 s and [`MAX_TTL`].
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if ttl < Duration::from_secs(1) || ttl > MAX_TTL {
        return Err("must be between 1s and 24h".into());
    }
    Ok(ttl)
}

/// The claims of a phone token.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    picture: Option<&'a str>,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

#[allow(
    clippy::print_stdout,
    reason = "the token is the command's output, for curl or a script"
)]
pub(super) fn mint_token(cli: &Cli, args: &MintToken) -> ExitCode {
    let config = match cli.load_config(None) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match mint(&config, args, Clock::system()) {
        Ok(token) => {
            println!("{token}");
            eprintln!(
                "A phone token for {:?}, valid for {}. Try: curl -H \"Authorization: Bearer $TOKEN\" \
                 -H 'Content-Type: application/json' -d '{{\"qr\":\"<QR id>\"}}' {}/api/mobile/scan",
                args.user,
                humantime::format_duration(args.ttl),
                config.public_base(),
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("mint-token: {why}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// The token `args` describes, signed with the configured HS256 secret.
fn mint(config: &Config, args: &MintToken, clock: Clock) -> Result<String, String> {
    let auth = &config.mobile_auth;
    let Some(secret) = &auth.jwt_hs256_secret else {
        return Err(
            "mobile_auth.jwt_hs256_secret is not configured (nor jwt_hs256_secret_file): \
                    mint-token signs with it. RS256 tokens come from your account system."
                .into(),
        );
    };
    if args.user.trim().is_empty() || args.user.len() > MAX_USER_LEN {
        return Err(format!(
            "--user must be 1 to {MAX_USER_LEN} bytes, not blank"
        ));
    }
    let now = clock.now().as_secs();
    let ttl = i64::try_from(args.ttl.as_secs()).unwrap_or(i64::MAX);
    let claims = Claims {
        sub: &args.user,
        name: args.name.as_deref(),
        picture: args.avatar.as_deref(),
        iat: now,
        exp: now.saturating_add(ttl),
        iss: auth.jwt_issuer.as_deref(),
        aud: auth.jwt_audience.as_deref(),
    };
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .map_err(|e| format!("cannot sign the token: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthError, MobileVerifier};
    use crate::config::tests::MINIMAL;

    fn config(extra: &str) -> Config {
        Config::parse(&format!(
            "{MINIMAL}\n[mobile_auth]\njwt_hs256_secret = \"{}\"\n{extra}",
            "s".repeat(32)
        ))
        .unwrap()
    }

    fn args(user: &str, ttl: &str) -> MintToken {
        MintToken {
            user: user.into(),
            name: Some("Carol".into()),
            avatar: Some("https://cdn.example/c.png".into()),
            ttl: parse_ttl(ttl).unwrap(),
        }
    }

    #[test]
    fn minted_tokens_verify_as_the_user_until_they_expire() {
        let config =
            config("jwt_issuer = \"https://accounts.example\"\njwt_audience = \"qrlogin\"");
        let clock = Clock::manual();
        let token = mint(&config, &args("carol", "10m"), clock.clone()).unwrap();
        let verifier = MobileVerifier::from_config(&config).unwrap();
        let user = verifier.verify(&token, clock.now()).unwrap();
        assert_eq!((user.id.as_str(), user.name.as_str()), ("carol", "Carol"));
        assert_eq!(user.avatar.as_deref(), Some("https://cdn.example/c.png"));
        clock.advance(Duration::from_secs(11 * 60));
        assert_eq!(
            verifier.verify(&token, clock.now()),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn without_an_hs256_secret_or_a_user_nothing_is_minted() {
        let demo_only = Config::parse(MINIMAL).unwrap();
        let why = mint(&demo_only, &args("carol", "10m"), Clock::manual()).unwrap_err();
        assert!(why.contains("jwt_hs256_secret"), "{why}");
        let why = mint(&config(""), &args(" ", "10m"), Clock::manual()).unwrap_err();
        assert!(why.contains("--user"), "{why}");
    }

    #[test]
    fn ttls_are_bounded() {
        assert_eq!(parse_ttl("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("25h").is_err());
        assert!(parse_ttl("soon").is_err());
    }
}
