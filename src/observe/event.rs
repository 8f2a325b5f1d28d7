//! The security-relevant steps, as one typed enum the services emit: the
//! metrics count them and the audit log writes them down. Events borrow
//! what they name and carry public identifiers only (QR ids, user ids,
//! client ids, login and grant ids); a secret has no field to go in.

use crate::oidc::GrantType;
use crate::session::{LoginSession, QrId, RequestInfo};
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// What a QR session logs in: this server (a browser), a relying site
/// (OpenID Connect), or a device (RFC 8628).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QrKind {
    Browser,
    Site,
    Device,
}

impl QrKind {
    pub fn of(session: &LoginSession) -> Self {
        if session.device.is_some() {
            Self::Device
        } else if session.authorization.is_some() {
            Self::Site
        } else {
            Self::Browser
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Site => "site",
            Self::Device => "device",
        }
    }
}

/// Who cancelled a QR session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelledBy {
    /// The phone user tapped Cancel (or denied a device on `/device`).
    Phone,
    /// The page gave up its code.
    Browser,
    /// The phone picked a number other than the page's (number matching).
    WrongNumber,
}

impl CancelledBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Browser => "browser",
            Self::WrongNumber => "wrong_number",
        }
    }
}

/// The grant type tokens were issued for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenGrant {
    AuthorizationCode,
    RefreshToken,
    DeviceCode,
}

impl From<GrantType> for TokenGrant {
    fn from(g: GrantType) -> Self {
        match g {
            GrantType::AuthorizationCode => Self::AuthorizationCode,
            GrantType::RefreshToken => Self::RefreshToken,
            GrantType::DeviceCode => Self::DeviceCode,
        }
    }
}

impl TokenGrant {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "device_code",
        }
    }
}

/// What was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Revoked {
    /// A browser login here (its cookie stops working).
    Login,
    /// A client grant, with its code and every access and refresh token.
    Grant,
    /// One access token (RFC 7009).
    AccessToken,
}

impl Revoked {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Grant => "grant",
            Self::AccessToken => "access_token",
        }
    }
}

/// Why, or by whom, something was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevokedBy {
    /// The user, from the phone's list of sessions.
    Phone,
    /// The client, at the revocation endpoint.
    Client,
    /// An authorization code was presented a second time (RFC 6749 §4.1.2).
    CodeReuse,
    /// A rotated refresh token was presented again (RFC 9700 §4.14).
    RefreshTokenReuse,
}

impl RevokedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Client => "client",
            Self::CodeReuse => "code_reuse",
            Self::RefreshTokenReuse => "refresh_token_reuse",
        }
    }
}

/// A per-IP budget (`src/http/rate_limit.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// `limits.qr_per_minute_per_ip`
    Qr,
    /// `limits.mobile_per_minute_per_ip`
    Mobile,
    /// `limits.user_code_per_minute_per_ip`
    UserCode,
    /// `limits.redeem_per_minute_per_ip`
    Redeem,
    /// `limits.lookup_misses_per_minute_per_ip`
    LookupMiss,
    /// `limits.token_per_minute_per_ip`
    Token,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qr => "qr",
            Self::Mobile => "mobile",
            Self::UserCode => "user_code",
            Self::Redeem => "redeem",
            Self::LookupMiss => "lookup_miss",
            Self::Token => "token",
        }
    }
}

/// Label values are the snake_case names the audit log uses too.
macro_rules! label_values {
    ($($t:ty),*) => {$(
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    )*};
}
label_values!(QrKind, CancelledBy, TokenGrant, Revoked, RevokedBy, Limit);

/// One step. The request it happened in (client IP, route, request id) is
/// added by the sink from the request's context.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// A QR session was created; `request` is the asking browser or device.
    QrCreated {
        qr: &'a QrId,
        kind: QrKind,
        client: Option<&'a str>,
        request: &'a RequestInfo,
    },
    /// A phone user scanned (claimed) it.
    QrScanned {
        qr: &'a QrId,
        kind: QrKind,
        user: &'a str,
        client: Option<&'a str>,
    },
    /// The phone user confirmed (for a device: allowed it).
    QrConfirmed {
        qr: &'a QrId,
        kind: QrKind,
        user: &'a str,
    },
    /// Cancelled by the phone (for a device: denied) or by the page.
    QrCancelled {
        qr: &'a QrId,
        kind: QrKind,
        by: CancelledBy,
        user: Option<&'a str>,
    },
    /// A poll learned that the session's life (or its ticket window) ran
    /// out while the poller last saw it live.
    QrExpired { qr: &'a QrId, kind: QrKind },
    /// The confirmed login was taken: a ticket redeemed by its browser (a
    /// new browser login, `login`), or a device's code by its device.
    QrRedeemed {
        qr: &'a QrId,
        kind: QrKind,
        user: &'a str,
        login: Option<&'a str>,
    },
    /// A browser logged out (here, or RP-initiated).
    LoggedOut { user: &'a str, login: &'a str },
    /// An authorization code was issued to a relying site.
    CodeIssued {
        client: &'a str,
        user: &'a str,
        grant: &'a str,
    },
    /// The token endpoint issued tokens; `refresh`: a refresh token too.
    TokensIssued {
        grant_type: TokenGrant,
        client: &'a str,
        user: &'a str,
        grant: &'a str,
        refresh: bool,
    },
    /// A login, grant or access token was revoked.
    Revoked {
        what: Revoked,
        by: RevokedBy,
        user: Option<&'a str>,
        client: Option<&'a str>,
        grant: Option<&'a str>,
        login: Option<&'a str>,
    },
    /// A request was refused by a per-IP budget (counted; its refusal is
    /// what the audit log shows).
    RateLimited { limit: Limit },
    /// A request was answered with an error: its stable code and status.
    Refused { reason: &'static str, status: u16 },
}

impl Event<'_> {
    /// The event's name in the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::QrCreated { .. } => "qr_created",
            Self::QrScanned { .. } => "qr_scanned",
            Self::QrConfirmed { .. } => "qr_confirmed",
            Self::QrCancelled { .. } => "qr_cancelled",
            Self::QrExpired { .. } => "qr_expired",
            Self::QrRedeemed { .. } => "qr_redeemed",
            Self::LoggedOut { .. } => "logged_out",
            Self::CodeIssued { .. } => "code_issued",
            Self::TokensIssued { .. } => "tokens_issued",
            Self::Revoked { .. } => "revoked",
            Self::RateLimited { .. } => "rate_limited",
            Self::Refused { .. } => "refused",
        }
    }
}
