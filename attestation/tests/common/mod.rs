//! Helpers shared by the integration tests of `attestation` (the crate-independent ones are in
//! `testkit`).
#![allow(dead_code, missing_docs)]

/// Every provider compiled into this build, checked against this crate's features.
pub fn providers() -> Vec<&'static dyn pki::provider::CryptoProvider> {
    testkit::providers!(pki)
}
