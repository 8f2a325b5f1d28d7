//! QR content and ids: what a phone scans (`/l/{id}` links, bare ids),
//! tickets, device user codes and state names. Each parser accepts exactly
//! its own shape; whatever it accepts must print back as it came.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qrlogin::oidc::UserCode;
use qrlogin::secret::ticket_qr_id;
use qrlogin::session::{PublicState, QrId};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(id) = QrId::parse(text) {
        assert_eq!(id.as_str(), text);
    }
    if let Some(id) = ticket_qr_id(text) {
        assert!(text.starts_with(id.as_str()));
    }
    if let Some(code) = UserCode::parse(text) {
        // A typed code may differ in case and dashes; it parses to itself.
        assert_eq!(
            UserCode::parse(code.as_str())
                .as_ref()
                .map(UserCode::as_str),
            Some(code.as_str())
        );
    }
    if let Some(state) = PublicState::parse(text) {
        assert_eq!(state.as_str(), text);
    }
});
