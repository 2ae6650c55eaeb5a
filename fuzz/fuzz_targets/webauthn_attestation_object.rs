//! `attestation::webauthn::AttestationObject::from_cbor` on any bytes: a `Result`, never a
//! panic.
#![no_main]

use attestation::webauthn::AttestationObject;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(obj) = AttestationObject::from_cbor(data) {
        let _ = format!("{obj:?}");
    }
});
