//! Helpers shared by the integration tests of `scep`.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pki::key::PrivateKey;
use pki::provider::CryptoProvider;
use pki::x509_cert::Certificate;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const CM: &str = "scep/local-capture/certmonger-0.79.17_scepserver-2.1.0";

/// The shared vectors folder: `$ADMIT_VECTORS`, else `../shared/vectors` beside the repo root.
/// Panics (never skips) when it is missing.
pub fn vectors() -> PathBuf {
    if let Some(dir) = std::env::var_os("ADMIT_VECTORS") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_dir(),
            "ADMIT_VECTORS={} is not a directory",
            dir.display()
        );
        return dir;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    assert!(
        dir.is_dir(),
        "test vectors not found: looked at $ADMIT_VECTORS (unset) and {}",
        dir.display()
    );
    dir
}

pub fn vpath(rel: &str) -> PathBuf {
    let p = vectors().join(rel);
    assert!(p.is_file(), "missing vector {}", p.display());
    p
}

pub fn vector(rel: &str) -> Vec<u8> {
    std::fs::read(vpath(rel)).unwrap()
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn providers() -> Vec<&'static dyn CryptoProvider> {
    let v = pki::provider::compiled();
    assert_eq!(v.len(), 2, "both providers are compiled for the tests");
    v
}

/// Run `openssl` in `dir`, panicking with its stderr on failure; returns stdout.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).expect("PEM is text");
    let begin = text.find("-----BEGIN ").expect("a PEM block");
    let rest = &text[begin..];
    let end = rest.find("-----END ").expect("PEM end");
    let line_end = rest[end..].find('\n').map_or(rest.len(), |i| end + i + 1);
    pki::der::pem::decode_vec(&rest.as_bytes()[..line_end])
        .expect("valid PEM")
        .1
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
