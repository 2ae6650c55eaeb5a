//! Helpers shared by the integration tests of `scep` (the crate-independent ones are in
//! `testkit`).
#![allow(dead_code, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pki::key::PrivateKey;
use pki::provider::CryptoProvider;
use pki::x509_cert::Certificate;
use testkit::{pem_to_der, vector};

pub const CM: &str = "scep/local-capture/certmonger-0.79.17_scepserver-2.1.0";

/// Every provider compiled into this build, checked against this crate's features.
pub fn providers() -> Vec<&'static dyn CryptoProvider> {
    testkit::providers!(pki)
}

pub fn cert_pem(rel: &str) -> Certificate {
    use pki::der::Decode;
    Certificate::from_der(&pem_to_der(&vector(rel))).unwrap()
}

/// A PKCS#8 PEM key from the vectors, loaded by `provider`.
pub fn key(provider: &dyn CryptoProvider, rel: &str) -> Arc<dyn PrivateKey> {
    provider
        .private_key_from_pkcs8_der(&pem_to_der(&vector(rel)))
        .unwrap()
}

/// 2026-11-30T00:00:00Z: inside the validity of the certmonger capture's CA and certificates.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_996_800)
}

pub fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

pub fn cert_from_file(p: &Path) -> Certificate {
    use pki::der::Decode;
    Certificate::from_der(&pem_to_der(&std::fs::read(p).unwrap())).unwrap()
}
