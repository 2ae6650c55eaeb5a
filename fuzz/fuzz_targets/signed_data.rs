//! `pki::cms::SignedData::from_der` on any bytes, then `verify` with the default options (no
//! extra certificates): both return a `Result`, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki::cms::{SignedData, VerifyOptions};
use pki::provider::rustcrypto::PROVIDER;
use pki::verify::Policy;

fuzz_target!(|data: &[u8]| {
    if let Ok(sd) = SignedData::from_der(data) {
        let _ = sd.verify(&PROVIDER, &VerifyOptions::new(Policy::default()));
    }
});
