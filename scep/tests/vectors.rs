//! SCEP bytes captured from real peers (`../shared/vectors/scep/`).

use std::path::{Path, PathBuf};

use scep::{Capabilities, Capability};

fn vectors() -> PathBuf {
    if let Some(dir) = std::env::var_os("ADMIT_VECTORS") {
        return PathBuf::from(dir);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    assert!(
        dir.is_dir(),
        "test vectors not found: looked at $ADMIT_VECTORS (unset) and {}",
        dir.display()
    );
    dir
}

/// micromdm's scepserver 2.1.0 GetCACaps answer, captured on loopback.
#[test]
fn scepserver_capabilities() {
    let path =
        vectors().join("scep/local-capture/certmonger-0.79.17_scepserver-2.1.0/getcacaps.txt");
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let caps = Capabilities::parse(&body);
    assert_eq!(
        caps.0,
        vec![
            Capability::Renewal,
            Capability::Sha1,
            Capability::Sha256,
            Capability::Aes,
            Capability::Des3,
            Capability::ScepStandard,
            Capability::PostPkiOperation,
        ]
    );
    // Re-encoding gives the same bytes: LF-separated, no trailing LF.
    assert_eq!(caps.encode().as_bytes(), &body[..]);
    assert_eq!(caps.digest(), pki::alg::HashAlg::Sha256);
    assert_eq!(
        caps.content_cipher(),
        Some(pki::alg::ContentCipher::Aes128Cbc)
    );
    assert!(caps.post());
}
