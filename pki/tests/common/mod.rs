//! Helpers shared by the integration tests of `pki`.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The shared vectors folder: `$ADMIT_VECTORS`, else `../shared/vectors` beside the repo root.
/// Panics (never skips) with the places it looked when the folder is missing.
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("../shared/vectors");
    assert!(
        dir.is_dir(),
        "test vectors not found: looked at $ADMIT_VECTORS (unset) and {}",
        dir.display()
    );
    dir
}

/// Read a file below the vectors folder.
pub fn vector(rel: &str) -> Vec<u8> {
    let path = vectors().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading vector {}: {e}", path.display()))
}

/// A deterministic RNG for tests (one fixed seed per call site).
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Every provider compiled into this build. Tests loop over it; `ran_providers` asserts which
/// ones actually ran.
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

/// Run `openssl` with `args` in `dir`, panicking with its stderr on failure; returns stdout.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl (install the Debian package `openssl`)");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Run `openssl` and return whether it succeeded, with its stderr.
pub fn openssl_status(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Decode the first PEM block of `pem` (any label) to DER.
pub fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).expect("PEM is text");
    let begin = text.find("-----BEGIN ").expect("a PEM block");
    let (_, doc) = pem_rfc7468_decode(&text[begin..]);
    doc
}

fn pem_rfc7468_decode(text: &str) -> (String, Vec<u8>) {
    let end_marker = "-----END ";
    let end = text.find(end_marker).expect("PEM end");
    let tail = &text[end..];
    let end_line = tail.find('\n').map(|i| end + i + 1).unwrap_or(text.len());
    let block = &text[..end_line];
    let (label, der) = pki::der::pem::decode_vec(block.as_bytes()).expect("valid PEM");
    (label.to_string(), der)
}
