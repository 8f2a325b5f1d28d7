//! What the phone is told so its user can spot a relayed login
//! (QRLjacking: an attacker shows a victim the QR code of the attacker's
//! own login): how near the asking browser is ([`proximity`]), where it is
//! ([`geoip`], with a database configured), and what it is ([`device`]).

pub mod device;
pub mod geoip;
pub mod proximity;

pub use device::describe_device;
pub use geoip::{GeoIp, Location};
pub use proximity::Proximity;
