//! `attestation::apple::MdaExtensions::from_certificate_der` on any bytes: a `Result`, never a
//! panic.
#![no_main]

use attestation::apple::MdaExtensions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ext) = MdaExtensions::from_certificate_der(data) {
        let _ = ext.is_empty();
    }
});
