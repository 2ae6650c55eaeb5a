//! `devauth::auth_request::AuthRequestVerifier::verify_bytes` on any body with a fixed
//! (well-formed base64) signature: the body's JSON and its public key PEM are parsed before the
//! signature is checked, so both parsers are reached. Also `devauth::identity::normalize` on
//! the body as text. `Result`s, never panics.
#![no_main]

use devauth::auth_request::AuthRequestVerifier;
use libfuzzer_sys::fuzz_target;
use pki::provider::rustcrypto::PROVIDER;

fuzz_target!(|data: &[u8]| {
    let verifier = AuthRequestVerifier::new(&PROVIDER);
    let _ = verifier.verify_bytes(b"AAAA", data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(normal) = devauth::identity::normalize(text)
    {
        // Normal form is a fixed point.
        assert_eq!(
            devauth::identity::normalize(&normal).expect("a normal form normalizes"),
            normal
        );
    }
});
