//! `attestation::acme::Payload::from_json` on any bytes: a `Result`, never a panic. A payload
//! that parses goes through `attestation::acme::verify_object` (no roots, fixed time), which
//! must refuse it without panicking.
#![no_main]

use std::time::{Duration, SystemTime};

use attestation::acme::{Challenge, Options, Payload, verify_object};
use libfuzzer_sys::fuzz_target;
use pki::provider::rustcrypto::PROVIDER;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Payload::from_json(data) else {
        return;
    };
    let challenge = Challenge {
        token: "fuzz-token",
        key_authorization: "fuzz-token.thumbprint",
        permanent_identifier: "fuzz-serial",
    };
    // 2025-01-01T00:00:00Z.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600);
    let opts = Options::new(now, &[]).with_apple_roots(&[]);
    let _ = verify_object(&PROVIDER, &p.attestation_object, &challenge, &opts);
});
