//! WebAuthn attestation statements over real captures: a Touch ID `apple` anonymous
//! attestation and a Windows Hello `tpm` attestation (raw RSA signature, RS1), plus the GCE
//! AK/EK certificates against the AIK profile.

mod apple_support;

use std::time::{Duration, SystemTime};

use apple_support::{providers, sha256};
use attestation::Error;
use attestation::pki::cert::Cert;
use attestation::pki::cert::path;
use attestation::pki::{Error as PkiError, PathError};
use attestation::webauthn::{
    self, AikError, AttestationObject, Format, Options, WebAuthnError, check_aik_profile,
};
use testkit::vector;

const APPLE_OBJ: &str = "attestation/apple/webauthn-rs/touchid-apple-anonymous.attobj.cbor";
const APPLE_CD: &str = "attestation/apple/webauthn-rs/touchid-apple-anonymous.clientDataJSON";
const WIN_OBJ: &str = "attestation/tpm-attest/webauthn-rs/win-hello-tpm-rsa.attobj.cbor";
const WIN_CD: &str = "attestation/tpm-attest/webauthn-rs/win-hello-tpm-rsa.clientDataJSON";
const WIN_SPLIT: &str = "attestation/tpm-attest/webauthn-rs/win-hello-tpm-rsa.split";

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}
/// 2020-12-09T00:00:00Z, inside the Touch ID credential certificate's three days.
fn apple_time() -> SystemTime {
    at(1_607_472_000)
}
/// 2021-01-01T00:00:00Z, inside the Windows Hello AIK certificate's validity.
fn win_time() -> SystemTime {
    at(1_609_459_200)
}

fn microsoft_root() -> Vec<Cert> {
    vec![Cert::from_pem(&vector("attestation/tpm-ca/microsoft-tpm-root-ca-2014.pem")).unwrap()]
}

fn webauthn_err(e: Error) -> WebAuthnError {
    match e {
        Error::WebAuthn(w) => w,
        other => panic!("expected a WebAuthn error, got {other:?}"),
    }
}

/// SHA-256 of the DER SubjectPublicKeyInfo of a DER certificate, as openssl extracts it.
fn openssl_spki_sha256(cert_der: &[u8]) -> [u8; 32] {
    let dir = tempfile::tempdir().unwrap();
    sha256(&testkit::openssl_spki_der(dir.path(), cert_der))
}

fn offset_of(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("sub-slice present")
}

#[test]
fn embedded_apple_webauthn_root_is_the_vector() {
    let v = Cert::from_pem(&vector("attestation/apple/apple-webauthn-root-ca.pem")).unwrap();
    assert_eq!(webauthn::apple_webauthn_root().der(), v.der());
}

#[test]
fn apple_anonymous_attestation_verifies() {
    let obj = vector(APPLE_OBJ);
    let cd = vector(APPLE_CD);
    let parsed = AttestationObject::from_cbor(&obj).unwrap();
    assert_eq!(parsed.fmt, "apple");
    assert_eq!(parsed.att_stmt.x5c.len(), 2);
    let want_fp = openssl_spki_sha256(&parsed.att_stmt.x5c[0]);
    for p in providers() {
        let opts = Options::new(apple_time(), &[]);
        let v = webauthn::verify(p, &obj, &cd, &opts).unwrap();
        assert_eq!(v.format(), Format::Apple);
        assert_eq!(v.path().chain().len(), 3);
        assert_eq!(
            v.path().anchor().der(),
            webauthn::apple_webauthn_root().der()
        );
        assert_eq!(v.key_fingerprint(), want_fp);
        assert!(v.aik().is_none());

        // Outside the credential certificate's three days.
        let late = Options::new(apple_time() + Duration::from_secs(10 * 86400), &[]);
        let err = webauthn_err(webauthn::verify(p, &obj, &cd, &late).unwrap_err());
        assert!(
            matches!(
                err,
                WebAuthnError::Chain(PkiError::Path(PathError::CertExpired { .. }))
            ),
            "{err:?}"
        );
        // Another client data: the nonce no longer matches.
        let mut cd2 = cd.clone();
        cd2[20] ^= 1;
        assert_eq!(
            webauthn_err(webauthn::verify(p, &obj, &cd2, &opts).unwrap_err()),
            WebAuthnError::NonceMismatch("the nonce extension")
        );
        // Trusting the TPM root instead of Apple's.
        let ms = microsoft_root();
        let wrong = opts.clone().with_apple_roots(&ms);
        let err = webauthn_err(webauthn::verify(p, &obj, &cd, &wrong).unwrap_err());
        assert!(
            matches!(
                err,
                WebAuthnError::Chain(PkiError::Path(PathError::UnknownIssuer { .. }))
            ),
            "{err:?}"
        );
    }
}

#[test]
fn apple_flipped_bytes_fail() {
    let obj = vector(APPLE_OBJ);
    let cd = vector(APPLE_CD);
    let parsed = AttestationObject::from_cbor(&obj).unwrap();
    let auth = parsed.auth_data.clone().unwrap();
    let leaf = &parsed.att_stmt.x5c[0];
    let p = providers()[0];
    let opts = Options::new(apple_time(), &[]);
    let flip = |i: usize| {
        let mut o = obj.clone();
        o[i] ^= 0x01;
        webauthn::verify(p, &o, &cd, &opts)
    };
    // Targeted regions, each with its own error.
    let auth_at = offset_of(&obj, &auth);
    assert_eq!(
        webauthn_err(flip(auth_at + 3).unwrap_err()),
        WebAuthnError::NonceMismatch("the nonce extension"),
        "rpIdHash"
    );
    let leaf_at = offset_of(&obj, leaf);
    let err = webauthn_err(flip(leaf_at + leaf.len() - 5).unwrap_err());
    assert!(
        matches!(
            err,
            WebAuthnError::Chain(PkiError::Path(PathError::BadSignature { .. }))
        ),
        "credCert signature: {err:?}"
    );
    // The nonce inside the credential certificate: the certificate's signature breaks first.
    let nonce_hex =
        hex::decode("A8E2A0C53D920FEA647C161D2212AB5BFD7A51F1B669F0D182B0B33D54B74EBE").unwrap();
    let err = webauthn_err(flip(offset_of(&obj, &nonce_hex)).unwrap_err());
    assert!(matches!(err, WebAuthnError::Chain(_)), "{err:?}");
    // Every byte: always an error, never a panic.
    for i in (0..obj.len()).step_by(1) {
        assert!(flip(i).is_err(), "flipping byte {i} still verified");
    }
}

#[test]
fn windows_hello_tpm_attestation_verifies() {
    let obj = vector(WIN_OBJ);
    let cd = vector(WIN_CD);
    let roots = microsoft_root();
    let parsed = AttestationObject::from_cbor(&obj).unwrap();
    assert_eq!(parsed.fmt, "tpm");
    assert_eq!(parsed.att_stmt.ver.as_deref(), Some("2.0"));
    assert_eq!(parsed.att_stmt.alg, Some(-65535));
    // The statement's fields are the split files.
    assert_eq!(
        parsed.att_stmt.sig.as_deref(),
        Some(&vector(&format!("{WIN_SPLIT}/sig.bin"))[..])
    );
    assert_eq!(
        parsed.att_stmt.cert_info.as_deref(),
        Some(&vector(&format!("{WIN_SPLIT}/certInfo.bin"))[..])
    );
    assert_eq!(
        parsed.att_stmt.pub_area.as_deref(),
        Some(&vector(&format!("{WIN_SPLIT}/pubArea.bin"))[..])
    );
    assert_eq!(
        parsed.att_stmt.x5c[0],
        vector(&format!("{WIN_SPLIT}/x5c-0.der"))
    );
    assert_eq!(
        parsed.att_stmt.x5c[1],
        vector(&format!("{WIN_SPLIT}/x5c-1.der"))
    );
    assert_eq!(
        parsed.auth_data.as_deref(),
        Some(&vector(&format!("{WIN_SPLIT}/authData.bin"))[..])
    );

    for p in providers() {
        let opts = Options::new(win_time(), &roots).allowing_rs1();
        let v = webauthn::verify(p, &obj, &cd, &opts).unwrap();
        assert_eq!(v.format(), Format::Tpm);
        assert_eq!(v.path().chain().len(), 3);
        let aik = v.aik().unwrap();
        assert_eq!(aik.tpm_manufacturer(), "id:494E5443");
        assert_eq!(aik.tpm_model(), "SPT");
        assert_eq!(aik.tpm_version(), "id:00020000");
        assert!(aik.aaguid().is_none());
        let cred = v.auth_data().attested_credential.as_ref().unwrap();
        assert_eq!(v.credential_key(), cred.public_key.spki());

        // RS1 only with the opt-in.
        let strict = Options::new(win_time(), &roots);
        assert_eq!(
            webauthn_err(webauthn::verify(p, &obj, &cd, &strict).unwrap_err()),
            WebAuthnError::AlgorithmNotAllowed(-65535)
        );
        // No roots is the caller's mistake.
        let none = Options::new(win_time(), &[]).allowing_rs1();
        assert!(matches!(
            webauthn::verify(p, &obj, &cd, &none).unwrap_err(),
            Error::ApiMisuse(_)
        ));
        // After the AIK certificate expired (2025-03-21).
        let late = Options::new(at(1_760_000_000), &roots).allowing_rs1();
        let err = webauthn_err(webauthn::verify(p, &obj, &cd, &late).unwrap_err());
        assert!(
            matches!(
                err,
                WebAuthnError::Chain(PkiError::Path(PathError::CertExpired { .. }))
            ),
            "{err:?}"
        );
        // Another client data.
        let mut cd2 = cd.clone();
        cd2[30] ^= 1;
        assert_eq!(
            webauthn::verify(p, &obj, &cd2, &opts).unwrap_err(),
            Error::NonceMismatch
        );
    }
}

#[test]
fn windows_hello_flipped_bytes_fail() {
    let obj = vector(WIN_OBJ);
    let cd = vector(WIN_CD);
    let roots = microsoft_root();
    let p = providers()[0];
    let opts = Options::new(win_time(), &roots).allowing_rs1();
    let flip = |i: usize| {
        let mut o = obj.clone();
        o[i] ^= 0x01;
        webauthn::verify(p, &o, &cd, &opts)
    };
    let split = |name: &str| vector(&format!("{WIN_SPLIT}/{name}"));
    let sig_err = |e: Error| {
        matches!(
            e,
            Error::WebAuthn(WebAuthnError::Signature(PkiError::BadSignature))
        )
    };
    let sig_at = offset_of(&obj, &split("sig.bin"));
    assert!(sig_err(flip(sig_at + 100).unwrap_err()), "sig");
    let ci_at = offset_of(&obj, &split("certInfo.bin"));
    assert!(sig_err(flip(ci_at + 40).unwrap_err()), "certInfo");
    // pubArea: a bit of the RSA modulus; its Name no longer matches the certified one.
    let pa = split("pubArea.bin");
    let pa_at = offset_of(&obj, &pa);
    assert!(
        matches!(
            flip(pa_at + pa.len() - 10).unwrap_err(),
            Error::NameMismatch { .. }
        ),
        "pubArea"
    );
    // authData: rpIdHash changes the hash the TPM had to certify.
    let ad_at = offset_of(&obj, &split("authData.bin"));
    assert_eq!(
        flip(ad_at + 2).unwrap_err(),
        Error::NonceMismatch,
        "authData"
    );
    // The AIK certificate's signature.
    let x0 = split("x5c-0.der");
    let x0_at = offset_of(&obj, &x0);
    let err = webauthn_err(flip(x0_at + x0.len() - 7).unwrap_err());
    assert!(
        matches!(
            err,
            WebAuthnError::Chain(PkiError::Path(PathError::BadSignature { .. }))
        ),
        "x5c[0]: {err:?}"
    );
    for i in (0..obj.len()).step_by(1) {
        assert!(flip(i).is_err(), "flipping byte {i} still verified");
    }
}

#[test]
fn gce_certificates_validate_as_chains_but_are_not_aik_certificates() {
    let dir = "attestation/tpm-ca/go-tpm-tools-gce";
    let load = |f: &str| {
        let bytes = vector(&format!("{dir}/{f}"));
        Cert::from_pem(&bytes)
            .or_else(|_| Cert::from_der(&bytes))
            .unwrap()
    };
    let anchors = [load("gcp_ek_ak_ca_root.crt"), load("tpm_ek_root_1.cer")];
    let intermediates = [
        load("gcp_ek_ak_ca_intermediate_v3.crt"),
        load("tpm_ek_intermediate_2.crt"),
        load("tpm_ek_intermediate_3.crt"),
    ];
    // 2024-01-01.
    let now = at(1_704_067_200);
    let cases = [
        (
            "pca_tpm_rsa_sign_cert.pem",
            AikError::SubjectNotEmpty {
                subject: String::new(),
            },
        ),
        (
            "pca_tpm_ecc_sign_cert.pem",
            AikError::SubjectNotEmpty {
                subject: String::new(),
            },
        ),
        ("uca_tpm_rsa_sign_cert.pem", AikError::EkuLacksAik),
        ("uca_tpm_ecc_sign_cert.pem", AikError::EkuLacksAik),
    ];
    for p in providers() {
        for (file, want) in &cases {
            let cert = Cert::from_pem(&vector(&format!(
                "attestation/tpm-ek-certs/go-tpm-tools-gce/{file}"
            )))
            .unwrap();
            let opts = path::Options::new(&anchors, now).with_intermediates(&intermediates);
            path::validate(p, &cert, &opts).unwrap_or_else(|e| panic!("{file}: {e}"));
            let err = check_aik_profile(&cert).unwrap_err();
            match (want, &err) {
                (AikError::SubjectNotEmpty { .. }, AikError::SubjectNotEmpty { subject }) => {
                    assert!(subject.contains("Google Compute Engine"), "{subject}")
                }
                _ => assert_eq!(&err, want, "{file}"),
            }
            assert!(!err.to_string().is_empty());
        }
    }
}

#[test]
fn attestation_object_rejects_bad_cbor() {
    let obj = vector(WIN_OBJ);
    // Truncations at every length are errors.
    for n in 0..obj.len() {
        assert!(
            AttestationObject::from_cbor(&obj[..n]).is_err(),
            "prefix {n}"
        );
    }
    // Trailing bytes.
    let mut long = obj.clone();
    long.push(0);
    assert!(matches!(
        AttestationObject::from_cbor(&long).unwrap_err(),
        WebAuthnError::Cbor { .. }
    ));
    // Oversized input.
    let big = vec![0u8; webauthn::MAX_ATTESTATION_OBJECT + 1];
    assert!(matches!(
        AttestationObject::from_cbor(&big).unwrap_err(),
        WebAuthnError::TooLarge { .. }
    ));
    // Hand-written CBOR (RFC 8949 encodings): {"fmt": "none"} lacks attStmt.
    let no_stmt = hex::decode("a163666d74646e6f6e65").unwrap();
    assert_eq!(
        AttestationObject::from_cbor(&no_stmt).unwrap_err(),
        WebAuthnError::MissingField("attStmt")
    );
    // {"fmt": "none", "fmt": "none"}: duplicate key.
    let dup = hex::decode("a263666d74646e6f6e6563666d74646e6f6e65").unwrap();
    assert_eq!(
        AttestationObject::from_cbor(&dup).unwrap_err(),
        WebAuthnError::DuplicateKey("fmt".into())
    );
    // {"fmt": 1, "attStmt": {}}: fmt not text.
    let bad_fmt = hex::decode("a263666d74016761747453746d74a0").unwrap();
    assert!(matches!(
        AttestationObject::from_cbor(&bad_fmt).unwrap_err(),
        WebAuthnError::Cbor { what: "fmt", .. }
    ));
    // An array nested 1000 deep is refused by the depth limit, not the stack.
    let mut deep = vec![0x81u8; 1000];
    deep.push(0x00);
    assert!(AttestationObject::from_cbor(&deep).is_err());
    // {"fmt": "none", "attStmt": {}} parses; it has no authData, so WebAuthn verification
    // refuses it, and an unknown format is named.
    let none = hex::decode("a263666d74646e6f6e656761747453746d74a0").unwrap();
    let parsed = AttestationObject::from_cbor(&none).unwrap();
    assert_eq!(parsed.fmt, "none");
    let p = providers()[0];
    let opts = Options::new(win_time(), &[]);
    assert_eq!(
        webauthn_err(webauthn::verify_object(p, &parsed, &[0; 32], &opts).unwrap_err()),
        WebAuthnError::MissingField("authData")
    );
}
