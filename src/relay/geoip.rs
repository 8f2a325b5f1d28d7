//! Where an IP address is, from an offline MaxMind DB (`[geoip] path`: a
//! GeoLite2/GeoIP2 City or Country database, or any database of their
//! shape). Read into memory once at start-up; lookups are a tree walk, no IO.

use maxminddb::{Reader, geoip2};
use std::net::IpAddr;
use std::path::Path;

/// An opened GeoIP database.
pub struct GeoIp {
    reader: Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("database_type", &self.reader.metadata().database_type)
            .finish_non_exhaustive()
    }
}

/// A place: English names, and the country's ISO code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub country_code: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
}

impl GeoIp {
    /// Opens the database at `path`. A missing, unreadable or malformed
    /// file is refused here (the caller names the config key), so a typo
    /// never silently turns the location checks off.
    pub fn open(path: &Path) -> Result<Self, String> {
        let reader = Reader::open_readfile(path)
            .map_err(|e| format!("cannot open {} as a MaxMind DB: {e}", path.display()))?;
        let geoip = Self { reader };
        // The metadata parsed; make sure the tree and data section do too,
        // for both families, before any request depends on them.
        for probe in [
            IpAddr::from([8, 8, 8, 8]),
            IpAddr::from([0x2001, 0x4860, 0, 0, 0, 0, 0, 0x8888]),
        ] {
            geoip
                .try_locate(probe)
                .map_err(|e| format!("{} is not a readable GeoIP database: {e}", path.display()))?;
        }
        Ok(geoip)
    }

    /// Where `ip` is, if the database knows.
    pub fn locate(&self, ip: IpAddr) -> Option<Location> {
        match self.try_locate(ip) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "geoip lookup failed");
                None
            }
        }
    }

    fn try_locate(&self, ip: IpAddr) -> Result<Option<Location>, maxminddb::MaxMindDbError> {
        let Some(city) = self
            .reader
            .lookup(ip.to_canonical())?
            .decode::<geoip2::City>()?
        else {
            return Ok(None);
        };
        let location = Location {
            country_code: city.country.iso_code.map(str::to_owned),
            country: city.country.names.english.map(str::to_owned),
            city: city.city.names.english.map(str::to_owned),
        };
        Ok((location != Location::default()).then_some(location))
    }
}

impl Location {
    /// Whether two places are told apart by the database: different
    /// countries, or different cities of one country. What either does not
    /// say cannot differ.
    pub fn differs_from(&self, other: &Location) -> bool {
        let differ =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
        differ(&self.country_code, &other.country_code) || differ(&self.city, &other.city)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MaxMind's own test database (tests/fixtures/geoip/README.md).
    fn fixture() -> GeoIp {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/geoip/GeoIP2-City-Test.mmdb");
        GeoIp::open(&path).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn known_addresses_have_a_city_and_country() {
        let db = fixture();
        let london = db.locate(ip("81.2.69.142")).unwrap();
        assert_eq!(london.city.as_deref(), Some("London"));
        assert_eq!(london.country_code.as_deref(), Some("GB"));
        assert_eq!(london.country.as_deref(), Some("United Kingdom"));
        let linkoping = db.locate(ip("::ffff:89.160.20.112")).unwrap();
        assert_eq!(linkoping.country_code.as_deref(), Some("SE"));
        assert_eq!(db.locate(ip("127.0.0.1")), None);
    }

    #[test]
    fn places_differ_by_country_or_city_only_when_both_are_known() {
        let db = fixture();
        let london = db.locate(ip("81.2.69.142")).unwrap();
        let london_too = db.locate(ip("81.2.69.160")).unwrap();
        let boxford = db.locate(ip("2.125.160.216")).unwrap();
        let linkoping = db.locate(ip("89.160.20.112")).unwrap();
        assert!(!london.differs_from(&london_too));
        assert!(london.differs_from(&boxford), "same country, other city");
        assert!(london.differs_from(&linkoping));
        let country_only = Location {
            country_code: Some("GB".into()),
            ..Location::default()
        };
        assert!(!london.differs_from(&country_only));
        assert!(!Location::default().differs_from(&linkoping));
    }

    #[test]
    fn a_missing_or_malformed_file_is_refused() {
        let missing = GeoIp::open(Path::new("/nonexistent/city.mmdb")).unwrap_err();
        assert!(missing.contains("/nonexistent/city.mmdb"), "{missing}");
        let not_a_db = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/README.md");
        assert!(GeoIp::open(&not_a_db).is_err());
    }
}
