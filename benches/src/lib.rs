//! Benchmarks of the CMS/signature core: fixtures shared by the bench binaries.
//!
//! The benches live in `benches/benches/`: `primitives` (every compiled provider: RSA-2048,
//! P-256, Ed25519, SHA-256), `cms` (SignedData verify, EnvelopedData open) and `openssl` (the
//! RSA rows `openssl speed` does not print, measured in-process with the `openssl` crate).
//! `cargo xtask bench-compare` runs them in release and prints them beside `openssl speed`.
//!
//! Criterion groups are named after [`op`]; the function inside a group is the provider's name
//! (`rustcrypto`, `aws-lc`) or `openssl`. `cargo xtask bench-compare` reads them by these names.
//!
//! Keys are made once per bench process by the `openssl` tool in a temporary directory, so every
//! provider and OpenSSL itself work on the same keys.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub use pki;

/// Criterion group names, one per operation.
pub mod op {
    /// RSA-2048 RSASSA-PKCS1-v1_5 with SHA-256, sign.
    pub const RSA_SIGN: &str = "rsa2048_sign_pkcs1v15_sha256";
    /// RSA-2048 RSASSA-PKCS1-v1_5 with SHA-256, verify.
    pub const RSA_VERIFY: &str = "rsa2048_verify_pkcs1v15_sha256";
    /// RSA-2048 RSAES-PKCS1-v1_5 decrypt of a 32-byte key.
    pub const RSA_DECRYPT_PKCS1: &str = "rsa2048_decrypt_pkcs1v15";
    /// RSA-2048 RSAES-OAEP (SHA-256, MGF1-SHA-256) decrypt of a 32-byte key.
    pub const RSA_DECRYPT_OAEP: &str = "rsa2048_decrypt_oaep_sha256";
    /// RSA-2048 RSAES-PKCS1-v1_5 public-key encrypt of a 32-byte key.
    pub const RSA_ENCRYPT_PKCS1: &str = "rsa2048_encrypt_pkcs1v15";
    /// ECDSA P-256 with SHA-256, sign.
    pub const P256_SIGN: &str = "p256_sign_sha256";
    /// ECDSA P-256 with SHA-256, verify.
    pub const P256_VERIFY: &str = "p256_verify_sha256";
    /// Ed25519 verify.
    pub const ED25519_VERIFY: &str = "ed25519_verify";
    /// SHA-256 of 1 KiB.
    pub const SHA256_1K: &str = "sha256_1KiB";
    /// SHA-256 of 16 KiB.
    pub const SHA256_16K: &str = "sha256_16KiB";
    /// CMS SignedData verify (RSA-2048 signer, 1 KiB content).
    pub const CMS_SIGNED_VERIFY: &str = "cms_signed_data_verify_1KiB";
    /// CMS EnvelopedData open (RSA-2048 PKCS#1 v1.5 key transport, AES-128-CBC, 1 KiB).
    pub const CMS_ENVELOPED_OPEN: &str = "cms_enveloped_data_open_1KiB";
    /// The whole SCEP server PKIOperation for an RSA-2048 client: parse and verify the
    /// request, open its envelope, verify the CSR, issue the certificate, sign the CertRep and
    /// seal it to the client.
    pub const SCEP_PKIOPERATION: &str = "scep_pkioperation_rsa2048";
    /// devauth: verify a captured mender-client 3.4 auth request (RSA-3072 device key) and
    /// mint its token (RSA-2048 RS256 server key).
    pub const DEVAUTH_RSA3072: &str = "devauth_auth_rsa3072_mint_rs256";
    /// As [`DEVAUTH_RSA3072`] with a P-256 device key.
    pub const DEVAUTH_P256: &str = "devauth_auth_p256_mint_rs256";
    /// As [`DEVAUTH_RSA3072`] with an Ed25519 device key.
    pub const DEVAUTH_ED25519: &str = "devauth_auth_ed25519_mint_rs256";
    /// TPM2_Quote verify of keylime's tpm2-tools quote (RSA-2048 AK, 3 SHA-256 PCRs).
    pub const TPM_QUOTE_VERIFY: &str = "tpm_quote_verify_rsa2048";
    /// TPM2_Certify check of the Windows Hello registration: parse the TPMS_ATTEST, match the
    /// certified Name, verify the AIK's RSA-2048 SHA-1 signature.
    pub const TPM_CERTIFY_VERIFY: &str = "tpm_certify_verify_rsa2048";
    /// ACME device-attest-01 `apple` verify: a payload whose MDA leaf chains to a P-384 root
    /// through a Sub CA (built by `openssl` at bench start).
    pub const ACME_APPLE_VERIFY: &str = "acme_apple_verify_p384";
    /// ACME device-attest-01 `tpm` verify: an RSA-2048 AIK certificate (AIK profile, issued
    /// by an RSA-2048 CA, both by `openssl` at bench start) and its RSASSA-PKCS1-v1_5 SHA-256
    /// signature over a TPM2_Certify certInfo of a P-256 key.
    pub const ACME_TPM_VERIFY: &str = "acme_tpm_verify_rsa2048";
    /// TPM2_MakeCredential for keylime's RSA-2048 EK and AK Name.
    pub const TPM_MAKE_CREDENTIAL: &str = "tpm_make_credential_rsa2048";
}

/// The shared vectors folder: `$ADMIT_VECTORS`, or `../shared/vectors` beside the repository.
pub fn vectors() -> std::path::PathBuf {
    match std::env::var_os("ADMIT_VECTORS") {
        Some(d) => d.into(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
    }
}

/// One file of the shared vectors.
///
/// # Panics
/// When it is missing (set `ADMIT_VECTORS`): benches never run on made-up inputs instead.
pub fn vector(rel: &str) -> Vec<u8> {
    let p = vectors().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("vector {}: {e}", p.display()))
}

/// The message signed in the signature benches: 256 bytes, about the size of a CMS
/// SignedAttributes set.
pub const SIGNED_MESSAGE_LEN: usize = 256;

/// The content-encryption key wrapped in the key-transport benches (an AES-256 key).
pub const WRAPPED_KEY: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

/// The length of the content in the CMS benches.
pub const CMS_CONTENT_LEN: usize = 1024;

/// PKCS#8 DER private keys made by `openssl genpkey`, and CMS messages made by `openssl cms`
/// with the RSA key.
#[derive(Debug)]
pub struct Keys {
    /// RSA, 2048 bits, e = 65537.
    pub rsa2048: Vec<u8>,
    /// A self-signed certificate (DER) for the RSA key.
    pub rsa2048_cert: Vec<u8>,
    /// `openssl cms -sign -nodetach -md sha256`: a ContentInfo(SignedData) over
    /// [`message`]`(`[`CMS_CONTENT_LEN`]`)`, signed by the RSA key, its certificate included.
    pub signed_data: Vec<u8>,
    /// `openssl cms -encrypt -aes128`: a ContentInfo(EnvelopedData) of
    /// [`message`]`(`[`CMS_CONTENT_LEN`]`)` for the RSA certificate (PKCS#1 v1.5 key
    /// transport, AES-128-CBC).
    pub enveloped_data: Vec<u8>,
    /// ECDSA P-256.
    pub p256: Vec<u8>,
    /// Ed25519.
    pub ed25519: Vec<u8>,
    /// A second RSA-2048 key (the SCEP client's).
    pub rsa2048_client: Vec<u8>,
}

/// The bench keys (made on first use, then shared by every bench in the process).
///
/// # Panics
/// When `openssl` cannot be run (install the Debian package `openssl`).
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let d = dir.path();
        let rsa2048 = genpkey(
            d,
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        );
        let (rsa2048_cert, signed_data, enveloped_data) = cms_fixtures(d);
        Keys {
            rsa2048,
            rsa2048_cert,
            signed_data,
            enveloped_data,
            p256: genpkey(
                d,
                "p256",
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            ),
            ed25519: genpkey(d, "ed25519", &["-algorithm", "ED25519"]),
            rsa2048_client: genpkey(
                d,
                "rsa-client",
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            ),
        }
    })
}

fn genpkey(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let pem = dir.join(format!("{name}.pem"));
    let der = dir.join(format!("{name}.p8.der"));
    openssl(&[&["genpkey"], args, &["-out", path_str(&pem)]].concat());
    // genpkey writes PKCS#1 / SEC1 when asked for DER; pkcs8 -topk8 gives PKCS#8.
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        path_str(&pem),
        "-outform",
        "DER",
        "-out",
        path_str(&der),
    ]);
    std::fs::read(&der).expect("reading the generated key")
}

/// Certificate, SignedData and EnvelopedData for the RSA key `genpkey` left in `d/rsa.pem`.
fn cms_fixtures(d: &Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let key = d.join("rsa.pem");
    let cert = d.join("rsa.crt");
    let cert_der = d.join("rsa.crt.der");
    let content = d.join("content.bin");
    let signed = d.join("signed.der");
    let enveloped = d.join("enveloped.der");
    std::fs::write(&content, message(CMS_CONTENT_LEN)).expect("writing the content");
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        path_str(&key),
        "-subj",
        "/CN=admit bench",
        "-days",
        "365",
        "-sha256",
        "-out",
        path_str(&cert),
    ]);
    openssl(&[
        "x509",
        "-in",
        path_str(&cert),
        "-outform",
        "DER",
        "-out",
        path_str(&cert_der),
    ]);
    openssl(&[
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-md",
        "sha256",
        "-in",
        path_str(&content),
        "-signer",
        path_str(&cert),
        "-inkey",
        path_str(&key),
        "-outform",
        "DER",
        "-out",
        path_str(&signed),
    ]);
    openssl(&[
        "cms",
        "-encrypt",
        "-binary",
        "-aes128",
        "-in",
        path_str(&content),
        "-outform",
        "DER",
        "-out",
        path_str(&enveloped),
        path_str(&cert),
    ]);
    let read = |p: &Path| std::fs::read(p).expect("reading an openssl output");
    (read(&cert_der), read(&signed), read(&enveloped))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("running openssl (install the Debian package `openssl`)");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A deterministic RNG (ChaCha20 from a fixed seed), so every run does the same work.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// `len` bytes of a fixed, non-trivial pattern.
pub fn message(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect()
}

/// Every provider compiled into this build.
pub fn providers() -> Vec<&'static dyn pki::provider::CryptoProvider> {
    pki::provider::compiled()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_keys_load_in_every_provider() {
        let k = keys();
        for p in providers() {
            for der in [&k.rsa2048, &k.p256, &k.ed25519] {
                p.private_key_from_pkcs8_der(der)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.name()));
            }
        }
    }

    #[test]
    fn both_providers_are_benched() {
        let names: Vec<&str> = providers().iter().map(|p| p.name()).collect();
        assert_eq!(names, ["rustcrypto", "aws-lc"]);
    }

    #[test]
    fn message_is_fixed() {
        assert_eq!(message(4), vec![0, 31, 62, 93]);
        assert_eq!(message(300), message(300));
    }
}
