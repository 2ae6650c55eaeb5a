//! `pki::public_key::from_der` on any bytes: a `Result`, never a panic; a key that parses also
//! yields its kind (or a typed error) and its fingerprint.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spki) = pki::public_key::from_der(data) {
        let _ = pki::public_key::kind(&spki);
        let _ = pki::public_key::fingerprint_sha256(&spki);
        let _ = pki::public_key::key_identifier(&spki);
    }
});
