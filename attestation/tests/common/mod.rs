//! Helpers shared by the integration tests of `attestation` (the crate-independent ones are in
//! `testkit`).
#![allow(dead_code, missing_docs)]

/// Every provider compiled into this build.
pub fn providers() -> Vec<&'static dyn pki::provider::CryptoProvider> {
    let v = pki::provider::compiled();
    assert!(!v.is_empty());
    v
}

/// The provider names this build must have compiled, from the enabled cargo features.
pub fn expected_provider_names() -> Vec<&'static str> {
    let mut v = vec!["rustcrypto"];
    if cfg!(feature = "aws-lc") {
        v.push("aws-lc");
    }
    v
}
