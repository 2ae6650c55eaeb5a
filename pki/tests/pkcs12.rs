//! PKCS#12 reading against files made by `openssl pkcs12 -export` at test time: the OpenSSL 3
//! default (PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, HMAC-SHA256 MAC), the `-legacy`
//! form (RC2-40 certificates, 3DES key, SHA-1 MAC, as Keychain exports), an unencrypted file
//! without a MAC, for RSA and P-256 keys. The extracted certificate and key are compared with
//! the PEM files openssl started from and with what `openssl pkcs12` itself extracts.

mod common;

use std::path::Path;

use pki::pkcs12::{Pkcs12, Pkcs12Error};
use pki::{Error, provider::CryptoProvider};
use testkit::{openssl, openssl_status, pem_all, pem_to_der};

const PASSWORD: &str = "pässwörd 1";

/// A CA and a leaf signed by it, for one key type; writes `<tag>-ca.pem`, `<tag>-key.pem`,
/// `<tag>-leaf.pem`.
fn make_chain(dir: &Path, tag: &str, keyopts: &[&str]) {
    let ca_key = format!("{tag}-ca-key.pem");
    let ca = format!("{tag}-ca.pem");
    let key = format!("{tag}-key.pem");
    let csr = format!("{tag}-leaf.csr");
    let leaf = format!("{tag}-leaf.pem");
    let mut args = vec!["genpkey", "-out", &ca_key];
    args.extend_from_slice(keyopts);
    openssl(dir, &args);
    let mut args = vec!["genpkey", "-out", &key];
    args.extend_from_slice(keyopts);
    openssl(dir, &args);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-key",
            &ca_key,
            "-out",
            &ca,
            "-subj",
            "/CN=Test Push CA",
            "-days",
            "30",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-out",
            &csr,
            "-subj",
            "/UID=com.apple.mgmt.External.2f3bbf7e-14f4-4d5c-9c4f-3a2c2c8a1b0d/CN=APSP:test",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-out",
            &leaf,
            "-days",
            "30",
            "-set_serial",
            "7",
        ],
    );
}

fn export(dir: &Path, tag: &str, out: &str, extra: &[&str]) -> Vec<u8> {
    let key = format!("{tag}-key.pem");
    let leaf = format!("{tag}-leaf.pem");
    let ca = format!("{tag}-ca.pem");
    let pass = format!("pass:{PASSWORD}");
    let mut args = vec![
        "pkcs12",
        "-export",
        "-inkey",
        &key,
        "-in",
        &leaf,
        "-certfile",
        &ca,
        "-name",
        "Push Cert",
        "-passout",
        &pass,
        "-out",
        out,
    ];
    args.extend_from_slice(extra);
    openssl(dir, &args);
    std::fs::read(dir.join(out)).expect("p12 written")
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).expect("file written by openssl")
}

/// The private key as openssl writes unencrypted PKCS#8 DER, from a PEM key.
fn pkcs8_of(dir: &Path, key_pem: &str) -> Vec<u8> {
    openssl(
        dir,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", key_pem, "-outform", "DER",
        ],
    )
}

/// What `openssl pkcs12` extracts: (leaf certificate DER, CA certificate DER, PKCS#8 key DER).
fn openssl_extract(dir: &Path, p12: &str, legacy: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let pass = format!("pass:{PASSWORD}");
    let mut base = vec!["pkcs12", "-in", p12, "-passin", &pass];
    if legacy {
        base.push("-legacy");
    }
    let mut clcerts = base.clone();
    clcerts.extend_from_slice(&["-nokeys", "-clcerts"]);
    let leaf = pem_to_der(&openssl(dir, &clcerts));
    let mut cacerts = base.clone();
    cacerts.extend_from_slice(&["-nokeys", "-cacerts"]);
    let ca = pem_to_der(&openssl(dir, &cacerts));
    let mut keys = base;
    keys.extend_from_slice(&["-nocerts", "-nodes"]);
    let key_pem = openssl(dir, &keys);
    std::fs::write(dir.join("extracted-key.pem"), &key_pem).expect("write");
    let key = pkcs8_of(dir, "extracted-key.pem");
    (leaf, ca, key)
}

fn check_matches_openssl(
    provider: &dyn CryptoProvider,
    dir: &Path,
    tag: &str,
    p12: &str,
    legacy: bool,
) {
    let bytes = read(dir, p12);
    let got = Pkcs12::parse(&bytes, PASSWORD, provider)
        .unwrap_or_else(|e| panic!("{} {p12}: {e}", provider.name()));
    let leaf = pem_to_der(&read(dir, &format!("{tag}-leaf.pem")));
    let ca = pem_to_der(&read(dir, &format!("{tag}-ca.pem")));
    let key = pkcs8_of(dir, &format!("{tag}-key.pem"));
    assert_eq!(
        got.certificate().der(),
        &leaf[..],
        "{p12}: leaf certificate"
    );
    assert_eq!(got.chain().len(), 1, "{p12}: chain");
    assert_eq!(got.chain()[0].der(), &ca[..], "{p12}: CA certificate");
    assert_eq!(got.private_key_pkcs8_der(), &key[..], "{p12}: private key");
    assert_eq!(
        got.friendly_name(),
        Some("Push Cert"),
        "{p12}: friendlyName"
    );
    let (o_leaf, o_ca, o_key) = openssl_extract(dir, p12, legacy);
    assert_eq!(
        got.certificate().der(),
        &o_leaf[..],
        "{p12}: openssl's leaf"
    );
    assert_eq!(got.chain()[0].der(), &o_ca[..], "{p12}: openssl's CA");
    assert_eq!(
        got.private_key_pkcs8_der(),
        &o_key[..],
        "{p12}: openssl's key"
    );
    // The key loads and signs.
    let k = provider
        .private_key_from_pkcs8_der(got.private_key_pkcs8_der())
        .expect("key loads");
    assert!(
        k.sign(k.default_scheme(), b"x", &mut testkit::rng(1))
            .is_ok()
    );
}

fn p12_err(bytes: &[u8], password: &str, provider: &dyn CryptoProvider) -> Error {
    Pkcs12::parse(bytes, password, provider).expect_err("must fail")
}

#[test]
fn openssl_default_and_legacy_files_with_rsa_and_ec_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let kinds: [(&str, &[&str]); 2] = [
        (
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        ),
        (
            "ec",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
    ];
    for (tag, opts) in kinds {
        make_chain(d, tag, opts);
        let default = format!("{tag}-default.p12");
        let legacy = format!("{tag}-legacy.p12");
        let plain = format!("{tag}-plain.p12");
        export(d, tag, &default, &[]);
        export(d, tag, &legacy, &["-legacy"]);
        export(
            d,
            tag,
            &plain,
            &["-nomac", "-certpbe", "NONE", "-keypbe", "NONE"],
        );
        // What openssl says the files are, so the cases stay what their names claim.
        let pass = format!("pass:{PASSWORD}");
        let info = |f: &str, legacy: bool| {
            let mut a = vec!["pkcs12", "-info", "-noout", "-in", f, "-passin", &pass];
            if legacy {
                a.push("-legacy");
            }
            let (ok, stderr) = openssl_status(d, &a);
            assert!(ok, "{stderr}");
            stderr
        };
        let i = info(&default, false);
        assert!(
            i.contains("MAC: sha256") && i.contains("AES-256-CBC"),
            "{i}"
        );
        let i = info(&legacy, true);
        assert!(
            i.contains("MAC: sha1") && i.contains("40BitRC2") && i.contains("3-KeyTripleDES"),
            "{i}"
        );
        for provider in common::providers() {
            check_matches_openssl(provider, d, tag, &default, false);
            check_matches_openssl(provider, d, tag, &legacy, true);
            check_matches_openssl(provider, d, tag, &plain, false);
        }
    }
}

#[test]
fn wrong_password_altered_file_and_missing_parts_are_typed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    make_chain(
        d,
        "rsa",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let default = export(d, "rsa", "default.p12", &[]);
    let legacy = export(d, "rsa", "legacy.p12", &["-legacy"]);
    let provider = common::providers()[0];
    for (name, bytes) in [("default", &default), ("legacy", &legacy)] {
        for wrong in ["", "password", "pässwörd 2"] {
            assert_eq!(
                p12_err(bytes, wrong, provider),
                Error::Pkcs12(Pkcs12Error::WrongPassword),
                "{name} with {wrong:?}"
            );
        }
        // The key bag's friendlyName is in the clear: changing it leaves everything readable
        // but breaks the MAC.
        let mut altered = bytes.clone();
        let needle: Vec<u8> = "Push".encode_utf16().flat_map(u16::to_be_bytes).collect();
        let at = altered
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("friendlyName in the clear");
        altered[at + 1] = b'Q';
        assert_eq!(
            p12_err(&altered, PASSWORD, provider),
            Error::Pkcs12(Pkcs12Error::BadMac),
            "{name} altered"
        );
        // Truncations at every length and flipped bytes never panic and never succeed
        // silently with a different key.
        for len in (0..bytes.len()).step_by(7) {
            assert!(Pkcs12::parse(&bytes[..len], PASSWORD, provider).is_err());
        }
        for i in (0..bytes.len()).step_by(13) {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x55;
            if let Ok(p) = Pkcs12::parse(&flipped, PASSWORD, provider) {
                // A flip in a part nobody reads (such as an unused attribute) with a MAC that
                // still verifies cannot happen; a file that opens must be the original.
                panic!("flipped byte {i} still opened: {p:?}");
            }
        }
    }
    // Garbage.
    assert!(matches!(
        p12_err(b"not a pkcs12 file at all", PASSWORD, provider),
        Error::Malformed { .. }
    ));
    assert!(matches!(
        p12_err(&[], PASSWORD, provider),
        Error::Malformed { .. }
    ));

    // A certificate-only file and a key-only file.
    let pass = format!("pass:{PASSWORD}");
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-nokeys",
            "-in",
            "rsa-leaf.pem",
            "-passout",
            &pass,
            "-out",
            "nokey.p12",
        ],
    );
    assert_eq!(
        p12_err(&read(d, "nokey.p12"), PASSWORD, provider),
        Error::Pkcs12(Pkcs12Error::NoKey)
    );
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-nocerts",
            "-inkey",
            "rsa-key.pem",
            "-passout",
            &pass,
            "-out",
            "nocert.p12",
        ],
    );
    assert_eq!(
        p12_err(&read(d, "nocert.p12"), PASSWORD, provider),
        Error::Pkcs12(Pkcs12Error::NoCertificate)
    );
}

/// openssl refuses to export a key with a certificate for another key, so the mismatched file
/// is made by swapping, in an unencrypted file without a MAC, the certificate for another one
/// of the same length (same subject, serial and validity period, another RSA-2048 key).
#[test]
fn a_key_no_certificate_matches_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for k in ["k1.pem", "k2.pem"] {
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                k,
            ],
        );
    }
    for (k, c) in [("k1.pem", "c1.pem"), ("k2.pem", "c2.pem")] {
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-key",
                k,
                "-out",
                c,
                "-subj",
                "/CN=same",
                "-set_serial",
                "1",
                "-days",
                "30",
            ],
        );
    }
    let pass = format!("pass:{PASSWORD}");
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "k1.pem",
            "-in",
            "c1.pem",
            "-nomac",
            "-certpbe",
            "NONE",
            "-keypbe",
            "NONE",
            "-passout",
            &pass,
            "-out",
            "plain.p12",
        ],
    );
    let c1 = pem_all(&read(d, "c1.pem")).remove(0);
    let c2 = pem_all(&read(d, "c2.pem")).remove(0);
    assert_eq!(c1.len(), c2.len(), "same-length certificates");
    let mut bytes = read(d, "plain.p12");
    let at = bytes
        .windows(c1.len())
        .position(|w| w == &c1[..])
        .expect("certificate in the clear");
    bytes[at..at + c1.len()].copy_from_slice(&c2);
    for provider in common::providers() {
        assert!(Pkcs12::parse(&read(d, "plain.p12"), PASSWORD, provider).is_ok());
        assert_eq!(
            p12_err(&bytes, PASSWORD, provider),
            Error::Pkcs12(Pkcs12Error::KeyMismatch)
        );
    }
}
