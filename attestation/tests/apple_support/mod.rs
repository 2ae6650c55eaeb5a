//! Helpers shared by the Apple, ACME and WebAuthn integration tests of `attestation`: the
//! provider list, SHA-256, and three-level P-384 chains built by `openssl`.
#![allow(dead_code, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};

use attestation::pki::cert::Cert;
use sha2::Digest as _;
use testkit::openssl;

/// Every provider compiled into this build.
///
/// Not `testkit::providers!`: this module is also compiled into the `benches` crate, which has
/// no provider features of its own. The check that the providers match attestation's features
/// runs in `tests/vectors.rs` through `common::providers()`.
pub fn providers() -> Vec<&'static dyn attestation::pki::provider::CryptoProvider> {
    let v = attestation::pki::provider::compiled();
    assert!(!v.is_empty(), "no crypto provider compiled in");
    v
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// `1.2.3=DER:<hex>` for an extfile.
pub fn der_line(oid: &str, value: &[u8]) -> String {
    format!("{oid}=DER:{}", hex::encode(value))
}

const REQ_CNF: &str = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n\
[v3_root]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
subjectKeyIdentifier = hash\n";

const SUB_EXT: &str = "basicConstraints = critical,CA:TRUE,pathlen:0\n\
keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n\
authorityKeyIdentifier = keyid\n";

static SERIAL: AtomicU64 = AtomicU64::new(1000);

/// A test root and a Sub CA (both P-384), in a temporary directory, made by `openssl`.
pub struct TestCa {
    pub dir: tempfile::TempDir,
    pub root: Cert,
    pub sub: Cert,
}

/// A leaf made by [`TestCa::leaf`]: the certificate and the SHA-256 of its public key's DER
/// SubjectPublicKeyInfo as `openssl pkey -pubout` writes it.
pub struct Leaf {
    pub cert: Cert,
    pub spki_sha256: [u8; 32],
}

impl TestCa {
    /// A root named `root_cn` and a Sub CA below it.
    pub fn new(root_cn: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("req.cnf"), REQ_CNF).unwrap();
        std::fs::write(d.join("sub.ext"), SUB_EXT).unwrap();
        let subj = format!("/CN={root_cn}/O=Test");
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-nodes",
                "-keyout",
                "root.key",
                "-out",
                "root.pem",
                "-subj",
                &subj,
                "-days",
                "3650",
                "-sha384",
                "-config",
                "req.cnf",
                "-extensions",
                "v3_root",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-nodes",
                "-keyout",
                "sub.key",
                "-out",
                "sub.csr",
                "-subj",
                "/CN=Test Enterprise Attestation Sub CA 1/O=Test",
                "-config",
                "req.cnf",
            ],
        );
        let serial = next_serial();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "sub.csr",
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-set_serial",
                &serial,
                "-out",
                "sub.pem",
                "-days",
                "3650",
                "-sha384",
                "-extfile",
                "sub.ext",
            ],
        );
        let root = Cert::from_pem(&std::fs::read(d.join("root.pem")).unwrap()).unwrap();
        let sub = Cert::from_pem(&std::fs::read(d.join("sub.pem")).unwrap()).unwrap();
        Self { dir, root, sub }
    }

    /// A leaf issued by the Sub CA with a fresh key on `curve` (`P-384`, `P-256`), valid for
    /// `days`, carrying `ext_lines` (extfile syntax) besides a critical digitalSignature key
    /// usage.
    pub fn leaf(&self, name: &str, curve: &str, days: u32, ext_lines: &[String]) -> Leaf {
        let d = self.dir.path();
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let ext = format!("{name}.ext");
        let pubder = format!("{name}.pub.der");
        let mut text = String::from("keyUsage = critical,digitalSignature\n");
        for l in ext_lines {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(d.join(&ext), text).unwrap();
        let curve_opt = format!("ec_paramgen_curve:{curve}");
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                &curve_opt,
                "-out",
                &key,
            ],
        );
        openssl(
            d,
            &[
                "pkey", "-in", &key, "-pubout", "-outform", "DER", "-out", &pubder,
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
                "-config",
                "req.cnf",
            ],
        );
        let serial = next_serial();
        let days = days.to_string();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "sub.pem",
                "-CAkey",
                "sub.key",
                "-set_serial",
                &serial,
                "-out",
                &pem,
                "-days",
                &days,
                "-sha384",
                "-extfile",
                &ext,
            ],
        );
        let cert = Cert::from_pem(&std::fs::read(d.join(&pem)).unwrap()).unwrap();
        let spki_sha256 = sha256(&std::fs::read(d.join(&pubder)).unwrap());
        Leaf { cert, spki_sha256 }
    }
}

fn next_serial() -> String {
    format!("{}", SERIAL.fetch_add(1, Ordering::Relaxed))
}

/// The MDA extension lines of a typical macOS attestation, with `freshness` as the code.
pub fn mda_lines(serial: &str, udid: &str, freshness: Option<&[u8]>) -> Vec<String> {
    let mut v = vec![
        der_line("1.2.840.113635.100.8.9.1", serial.as_bytes()),
        der_line("1.2.840.113635.100.8.9.2", udid.as_bytes()),
        der_line("1.2.840.113635.100.8.9.4", b"0000FE00-5C9B5E1A2B3C4D5E"),
        der_line("1.2.840.113635.100.8.10.1", b"14.4"),
        der_line("1.2.840.113635.100.8.10.2", b"23.4.4"),
        der_line("1.2.840.113635.100.8.10.3", b"10151.101.3"),
        // INTEGER 0, INTEGER 1 (X.690 encodings written by hand).
        "1.2.840.113635.100.8.13.1=DER:020100".to_string(),
        der_line("1.2.840.113635.100.8.13.2", b"Full Security"),
        "1.2.840.113635.100.8.13.3=DER:020101".to_string(),
    ];
    if let Some(code) = freshness {
        v.push(der_line("1.2.840.113635.100.8.11.1", code));
    }
    v
}
