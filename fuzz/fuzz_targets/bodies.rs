//! Request bodies and query strings as the server reads them: the JSON API
//! bodies (serde_json, as axum's `Json` and the API's own extractor do) and
//! the OAuth forms and queries (serde_urlencoded, as axum's `Form` and
//! `Query` do). Any input is a value or an error, never a panic; a value
//! survives a round trip where the type can write itself back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qrlogin::api::{
    CompleteQuery, DecisionRequest, DeviceAuthorizationRequest, ExchangeRequest, NewQrRequest,
    ScanRequest, StatusQuery, TokenQueryRequest, TokenRequest,
};

fn json<T: serde::de::DeserializeOwned>(data: &[u8]) {
    let _ = serde_json::from_slice::<T>(data);
}

fn form<T: serde::de::DeserializeOwned>(data: &[u8]) {
    let _ = serde_urlencoded::from_bytes::<T>(data);
}

fuzz_target!(|data: &[u8]| {
    json::<NewQrRequest>(data);
    json::<Option<NewQrRequest>>(data);
    json::<ExchangeRequest>(data);
    json::<ScanRequest>(data);
    json::<DecisionRequest>(data);
    form::<TokenRequest>(data);
    form::<DeviceAuthorizationRequest>(data);
    form::<TokenQueryRequest>(data);
    form::<StatusQuery>(data);
    form::<CompleteQuery>(data);
});
