//! What every handler gets: the login service and the HTTP-side parts built
//! once from the config, behind one `Arc`. Axum clones the state into every
//! request's future, and a held long poll keeps that future alive for its
//! whole hold: one pointer there instead of a struct of handles keeps memory
//! per held poll down (BENCHMARKS.md).

use super::rate_limit::RateLimits;
use crate::auth::MobileVerifier;
use crate::config::{Config, ConfigError};
use crate::login::LoginService;
use crate::oidc::{DeviceFlow, OidcService};
use crate::relay::GeoIp;
use crate::user_sessions::UserSessions;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct AppState(Arc<Parts>);

#[derive(Debug)]
struct Parts {
    login: LoginService,
    oidc: OidcService,
    device: DeviceFlow,
    sessions: UserSessions,
    phones: MobileVerifier,
    limits: RateLimits,
    /// `[geoip]`'s database, if configured.
    geoip: Option<GeoIp>,
    config: Config,
}

impl AppState {
    /// Builds the HTTP side around `login`; fails on config the verifier
    /// cannot use (e.g. an unreadable key file), naming the key.
    pub fn new(
        config: Config,
        login: LoginService,
        oidc: OidcService,
    ) -> Result<Self, ConfigError> {
        Ok(Self(Arc::new(Parts {
            limits: RateLimits::new(&config.limits).with_observer(login.observer().clone()),
            sessions: UserSessions::new(login.store().clone(), oidc.clone()),
            device: DeviceFlow::new(login.clone(), oidc.clone()),
            login,
            oidc,
            phones: MobileVerifier::from_config(&config)?,
            geoip: open_geoip(&config)?,
            config,
        })))
    }

    /// The login operations.
    pub fn login(&self) -> &LoginService {
        &self.0.login
    }

    /// The OpenID Connect provider.
    pub fn oidc(&self) -> &OidcService {
        &self.0.oidc
    }

    /// The Device Authorization Grant (RFC 8628).
    pub fn device(&self) -> &DeviceFlow {
        &self.0.device
    }

    /// A user's logins and grants, for the phone.
    pub fn sessions(&self) -> &UserSessions {
        &self.0.sessions
    }

    /// Verifies the phone app's bearer tokens.
    pub fn phones(&self) -> &MobileVerifier {
        &self.0.phones
    }

    /// The per-IP request budgets.
    pub fn limits(&self) -> &RateLimits {
        &self.0.limits
    }

    /// Where requests and steps are reported (metrics, audit log).
    pub fn observer(&self) -> &crate::observe::Observer {
        self.0.login.observer()
    }

    /// The GeoIP database, with `[geoip] path` set.
    pub fn geoip(&self) -> Option<&GeoIp> {
        self.0.geoip.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }
}

/// Opens `geoip.path`, if set: a missing or malformed file stops the start.
pub fn open_geoip(config: &Config) -> Result<Option<GeoIp>, ConfigError> {
    config
        .geoip
        .path
        .as_deref()
        .map(|path| GeoIp::open(path).map_err(|e| ConfigError::new("geoip.path", e)))
        .transpose()
}
