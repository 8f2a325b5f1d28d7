//! What every handler gets: the login service and the HTTP-side parts built
//! once from the config. A plain struct of cheap handles, cloned per request.

use super::rate_limit::RateLimits;
use crate::auth::MobileVerifier;
use crate::config::{Config, ConfigError};
use crate::login::LoginService;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct AppState {
    pub login: LoginService,
    /// Verifies the phone app's bearer tokens.
    pub phones: Arc<MobileVerifier>,
    pub limits: Arc<RateLimits>,
    pub config: Arc<Config>,
}

impl AppState {
    /// Builds the HTTP side around `login`; fails on config the verifier
    /// cannot use (e.g. an unreadable key file), naming the key.
    pub fn new(config: Config, login: LoginService) -> Result<Self, ConfigError> {
        Ok(Self {
            login,
            phones: Arc::new(MobileVerifier::from_config(&config)?),
            limits: Arc::new(RateLimits::new(&config.limits)),
            config: Arc::new(config),
        })
    }
}
