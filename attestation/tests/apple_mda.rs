//! Apple Managed Device Attestation: the real root, and three-level P-384 chains built by
//! `openssl` carrying the MDA extensions in their documented encodings.

mod apple_support;

use std::time::{Duration, SystemTime};

use apple_support::{TestCa, der_line, mda_lines, providers, sha256};
use attestation::Error;
use attestation::apple::{self, FreshnessCode, MdaError, MdaExtensions, Options};
use attestation::pki::cert::Cert;
use attestation::pki::{Error as PkiError, PathError};
use testkit::vector;

const SERIAL: &str = "C02XK1ABJGH5";
const UDID: &str = "00008103-000A1B2C3D4E5F60";
const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";

/// The MDA failure inside a crate error (panics on any other error, failing the test).
fn mda(e: Error) -> MdaError {
    match e {
        Error::Mda(m) => m,
        other => panic!("expected an MDA error, got {other:?}"),
    }
}

fn now() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

#[test]
fn real_root_has_the_documented_fingerprint() {
    let der = vector("attestation/apple/apple-enterprise-attestation-root-ca.der");
    let want =
        hex::decode("CCF59EF8FCB3017D97F8B5FA6FA90E7A3F9283F76B55AC6CF6EDA8B8B949F05B").unwrap();
    assert_eq!(sha256(&der).to_vec(), want);
    assert_eq!(apple::ENTERPRISE_ATTESTATION_ROOT_SHA256.to_vec(), want);
    let root = apple::enterprise_attestation_root();
    assert_eq!(root.der(), der.as_slice());
    assert_eq!(root.fingerprint_sha256().to_vec(), want);
    let pem = Cert::from_pem(&vector(
        "attestation/apple/apple-enterprise-attestation-root-ca.pem",
    ))
    .unwrap();
    assert_eq!(pem.der(), der.as_slice());
    // The root is self-signed with P-384: it validates as its own path in its lifetime.
    for p in providers() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let anchors = [root.clone()];
        let opts = attestation::pki::cert::path::Options::new(&anchors, t);
        attestation::pki::cert::path::validate(p, root, &opts).unwrap();
    }
}

#[test]
fn full_chain_verifies_with_every_field() {
    let ca = TestCa::new("Test Enterprise Attestation Root CA");
    let code = sha256(TOKEN.as_bytes());
    let mut lines = mda_lines(SERIAL, UDID, Some(&code));
    lines.push(der_line("1.2.840.113635.100.8.99.7", &[0x05, 0x00]));
    let leaf = ca.leaf("leaf", "P-384", 7, &lines);
    let anchors = [ca.root.clone()];
    for p in providers() {
        let opts = Options::new(now(), FreshnessCode::from_acme_token(TOKEN))
            .with_anchors(&anchors)
            .with_expected_serial(SERIAL)
            .with_expected_udid(UDID);
        // The device sends the leaf and the Sub CA.
        let v = apple::verify(p, &[leaf.cert.clone(), ca.sub.clone()], &opts).unwrap();
        assert_eq!(v.path().chain().len(), 3);
        assert_eq!(v.path().anchor().der(), ca.root.der());
        assert!(v.freshness_checked());
        assert_eq!(v.key_fingerprint(), leaf.spki_sha256);
        let e = v.extensions();
        assert_eq!(e.serial_number.as_deref(), Some(SERIAL));
        assert_eq!(e.udid.as_deref(), Some(UDID));
        assert_eq!(
            e.software_update_device_id.as_deref(),
            Some("0000FE00-5C9B5E1A2B3C4D5E")
        );
        assert_eq!(e.os_version.as_deref(), Some("14.4"));
        assert_eq!(e.sepos_version.as_deref(), Some("23.4.4"));
        assert_eq!(e.llb_version.as_deref(), Some("10151.101.3"));
        assert_eq!(e.freshness_code.as_deref(), Some(&code[..]));
        assert_eq!(e.sip_status, Some(0));
        assert_eq!(e.secure_boot.as_deref(), Some("Full Security"));
        assert_eq!(e.third_party_kexts, Some(1));
        assert_eq!(e.other.len(), 1);
        assert_eq!(e.other[0].oid.to_string(), "1.2.840.113635.100.8.99.7");
        assert_eq!(e.other[0].value, vec![0x05, 0x00]);

        // The same through DER (an ACME x5c array).
        let der = [leaf.cert.der().to_vec(), ca.sub.der().to_vec()];
        let v2 = apple::verify_der(p, &der, &opts).unwrap();
        assert_eq!(v2.extensions(), e);
    }
    // The parse entry point sees the same fields without any chain.
    let parsed = MdaExtensions::from_certificate_der(leaf.cert.der()).unwrap();
    assert_eq!(parsed.serial_number.as_deref(), Some(SERIAL));
    assert!(!parsed.is_empty());
    assert!(
        MdaExtensions::from_certificate_der(ca.sub.der())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn chain_failures() {
    let ca = TestCa::new("Test Enterprise Attestation Root CA");
    // A second root with the same name and another key.
    let impostor = TestCa::new("Test Enterprise Attestation Root CA");
    let code = sha256(TOKEN.as_bytes());
    let leaf = ca.leaf("leaf", "P-384", 7, &mda_lines(SERIAL, UDID, Some(&code)));
    let short = ca.leaf("short", "P-384", 1, &mda_lines(SERIAL, UDID, Some(&code)));
    let chain = [leaf.cert.clone(), ca.sub.clone()];
    for p in providers() {
        let fresh = FreshnessCode::from_acme_token(TOKEN);
        // Default anchor: the real Apple root, which did not issue the test chain.
        let err = apple::verify(p, &chain, &Options::new(now(), fresh.clone()))
            .map_err(mda)
            .unwrap_err();
        assert!(
            matches!(
                err,
                MdaError::Chain(PkiError::Path(PathError::UnknownIssuer { .. }))
            ),
            "{err:?}"
        );
        // A root with the right name and the wrong key.
        let wrong = [impostor.root.clone()];
        let err = apple::verify(
            p,
            &chain,
            &Options::new(now(), fresh.clone()).with_anchors(&wrong),
        )
        .map_err(mda)
        .unwrap_err();
        assert!(
            matches!(
                err,
                MdaError::Chain(PkiError::Path(PathError::BadSignature { .. }))
            ),
            "{err:?}"
        );
        // Sub CA missing.
        let anchors = [ca.root.clone()];
        let opts = Options::new(now(), fresh.clone()).with_anchors(&anchors);
        let err = apple::verify(p, &chain[..1], &opts)
            .map_err(mda)
            .unwrap_err();
        assert!(
            matches!(
                err,
                MdaError::Chain(PkiError::Path(PathError::UnknownIssuer { .. }))
            ),
            "{err:?}"
        );
        // Expired leaf: valid one day, checked three days on (the CAs are still valid).
        let later = Options::new(now() + Duration::from_secs(3 * 86400), fresh.clone())
            .with_anchors(&anchors);
        let err = apple::verify(p, &[short.cert.clone(), ca.sub.clone()], &later)
            .map_err(mda)
            .unwrap_err();
        assert!(
            matches!(
                err,
                MdaError::Chain(PkiError::Path(PathError::CertExpired { .. }))
            ),
            "{err:?}"
        );
        // Not yet valid.
        let before =
            Options::new(now() - Duration::from_secs(86400), fresh.clone()).with_anchors(&anchors);
        let err = apple::verify(p, &chain, &before).map_err(mda).unwrap_err();
        assert!(
            matches!(
                err,
                MdaError::Chain(PkiError::Path(PathError::NotYetValid { .. }))
            ),
            "{err:?}"
        );
        // Empty and oversized chains.
        assert_eq!(
            apple::verify(p, &[], &opts).map_err(mda).unwrap_err(),
            MdaError::EmptyChain
        );
        let many: Vec<Cert> = std::iter::repeat_n(ca.sub.clone(), 9).collect();
        assert_eq!(
            apple::verify(p, &many, &opts).map_err(mda).unwrap_err(),
            MdaError::TooManyCertificates { count: 9, limit: 8 }
        );
        // A truncated DER certificate.
        let der = leaf.cert.der();
        let err = apple::verify_der(p, &[&der[..der.len() - 1]], &opts)
            .map_err(mda)
            .unwrap_err();
        assert!(
            matches!(err, MdaError::Chain(PkiError::Malformed { .. })),
            "{err:?}"
        );
    }
}

#[test]
fn freshness_failures() {
    let ca = TestCa::new("Test Enterprise Attestation Root CA");
    let anchors = [ca.root.clone()];
    let old_token = "old-token-issued-last-week";
    let stale = ca.leaf(
        "stale",
        "P-384",
        7,
        &mda_lines(SERIAL, UDID, Some(&sha256(old_token.as_bytes()))),
    );
    let none = ca.leaf("none", "P-384", 7, &mda_lines(SERIAL, UDID, None));
    // MDM: the freshness code is the raw DeviceAttestationNonce.
    let nonce: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(7)).collect();
    let mdm = ca.leaf("mdm", "P-384", 7, &mda_lines(SERIAL, UDID, Some(&nonce)));
    for p in providers() {
        let fresh = FreshnessCode::from_acme_token(TOKEN);
        let opts = Options::new(now(), fresh.clone()).with_anchors(&anchors);
        let chain = |l: &apple_support::Leaf| [l.cert.clone(), ca.sub.clone()];

        // Missing: refused by default, accepted only when the caller relaxes it.
        assert_eq!(
            apple::verify(p, &chain(&none), &opts)
                .map_err(mda)
                .unwrap_err(),
            MdaError::FreshnessMissing
        );
        let relaxed = opts.clone().allowing_missing_freshness();
        let v = apple::verify(p, &chain(&none), &relaxed).unwrap();
        assert!(!v.freshness_checked());
        // No freshness asked at all.
        let unchecked = Options::without_freshness(now()).with_anchors(&anchors);
        assert!(
            !apple::verify(p, &chain(&none), &unchecked)
                .unwrap()
                .freshness_checked()
        );

        // Wrong code.
        assert_eq!(
            apple::verify(p, &chain(&stale), &opts)
                .map_err(mda)
                .unwrap_err(),
            MdaError::FreshnessMismatch
        );
        // The same code, now recognised as an earlier nonce: stale, with its index.
        let earlier = [
            FreshnessCode::from_acme_token("another-old-token"),
            FreshnessCode::from_acme_token(old_token),
        ];
        let with_earlier = opts.clone().with_earlier(&earlier);
        assert_eq!(
            apple::verify(p, &chain(&stale), &with_earlier)
                .map_err(mda)
                .unwrap_err(),
            MdaError::StaleAttestation { index: 1 }
        );
        // Stale even when the caller relaxed freshness.
        let relaxed_earlier = relaxed.clone().with_earlier(&earlier);
        assert_eq!(
            apple::verify(p, &chain(&stale), &relaxed_earlier)
                .map_err(mda)
                .unwrap_err(),
            MdaError::StaleAttestation { index: 1 }
        );

        // MDM nonce: raw bytes match; the ACME hashing of the same bytes does not.
        let mdm_opts =
            Options::new(now(), FreshnessCode::from_mdm_nonce(&nonce)).with_anchors(&anchors);
        assert!(
            apple::verify(p, &chain(&mdm), &mdm_opts)
                .unwrap()
                .freshness_checked()
        );
        let hashed = Options::new(now(), FreshnessCode::from_mdm_nonce(&sha256(&nonce)))
            .with_anchors(&anchors);
        assert_eq!(
            apple::verify(p, &chain(&mdm), &hashed)
                .map_err(mda)
                .unwrap_err(),
            MdaError::FreshnessMismatch
        );
    }
}

#[test]
fn identifier_and_key_failures() {
    let ca = TestCa::new("Test Enterprise Attestation Root CA");
    let anchors = [ca.root.clone()];
    let code = sha256(TOKEN.as_bytes());
    let leaf = ca.leaf("leaf", "P-384", 7, &mda_lines(SERIAL, UDID, Some(&code)));
    let no_ids = ca.leaf(
        "noids",
        "P-384",
        7,
        &[der_line("1.2.840.113635.100.8.11.1", &code)],
    );
    let p256 = ca.leaf("p256", "P-256", 7, &mda_lines(SERIAL, UDID, Some(&code)));
    for p in providers() {
        let opts =
            Options::new(now(), FreshnessCode::from_acme_token(TOKEN)).with_anchors(&anchors);
        let chain = |l: &apple_support::Leaf| [l.cert.clone(), ca.sub.clone()];
        assert_eq!(
            apple::verify(
                p,
                &chain(&leaf),
                &opts.clone().with_expected_serial("C02OTHER")
            )
            .map_err(mda)
            .unwrap_err(),
            MdaError::SerialMismatch {
                expected: "C02OTHER".into(),
                found: Some(SERIAL.into())
            }
        );
        assert_eq!(
            apple::verify(
                p,
                &chain(&no_ids),
                &opts.clone().with_expected_serial(SERIAL)
            )
            .map_err(mda)
            .unwrap_err(),
            MdaError::SerialMismatch {
                expected: SERIAL.into(),
                found: None
            }
        );
        assert_eq!(
            apple::verify(
                p,
                &chain(&leaf),
                &opts.clone().with_expected_udid("0000-OTHER")
            )
            .map_err(mda)
            .unwrap_err(),
            MdaError::UdidMismatch {
                expected: "0000-OTHER".into(),
                found: Some(UDID.into())
            }
        );
        let err = apple::verify(p, &chain(&p256), &opts)
            .map_err(mda)
            .unwrap_err();
        assert!(matches!(err, MdaError::LeafKeyNotP384 { .. }), "{err:?}");
    }
}

#[test]
fn malformed_extensions() {
    let ca = TestCa::new("Test Enterprise Attestation Root CA");
    let cases: [(&str, String, &str); 4] = [
        (
            "long",
            der_line("1.2.840.113635.100.8.11.1", &[7u8; 33]),
            "freshness code",
        ),
        (
            "badutf8",
            der_line("1.2.840.113635.100.8.9.2", &[0xff, 0xfe]),
            "UDID",
        ),
        // A UTF8String where an INTEGER belongs.
        (
            "notint",
            "1.2.840.113635.100.8.13.1=DER:0c0131".to_string(),
            "SIP status",
        ),
        // INTEGER with trailing bytes.
        (
            "trailing",
            "1.2.840.113635.100.8.13.3=DER:02010100".to_string(),
            "third-party kexts",
        ),
    ];
    for (name, line, what) in cases {
        let leaf = ca.leaf(name, "P-384", 7, &[line]);
        let err = MdaExtensions::from_certificate_der(leaf.cert.der())
            .map_err(mda)
            .unwrap_err();
        assert!(
            matches!(&err, MdaError::MalformedExtension { name, .. } if *name == what),
            "{name}: {err:?}"
        );
        // verify reports the same error after the chain validated.
        let anchors = [ca.root.clone()];
        let opts = Options::without_freshness(now()).with_anchors(&anchors);
        for p in providers() {
            assert_eq!(
                apple::verify(p, &[leaf.cert.clone(), ca.sub.clone()], &opts)
                    .map_err(mda)
                    .unwrap_err(),
                err
            );
        }
    }
    // Extensions built in memory: an empty serial and a duplicate UDID.
    use attestation::pki::der::asn1::OctetString;
    use attestation::pki::x509_cert::ext::Extension;
    let ext = |oid: &str, v: &[u8]| Extension {
        extn_id: oid.parse().unwrap(),
        critical: false,
        extn_value: OctetString::new(v.to_vec()).unwrap(),
    };
    let err = MdaExtensions::from_extensions(&[ext("1.2.840.113635.100.8.9.1", b"")])
        .map_err(mda)
        .unwrap_err();
    assert!(matches!(
        err,
        MdaError::MalformedExtension {
            name: "serial number",
            ..
        }
    ));
    let err = MdaExtensions::from_extensions(&[
        ext("1.2.840.113635.100.8.9.2", b"a"),
        ext("1.2.840.113635.100.8.9.2", b"b"),
    ])
    .map_err(mda)
    .unwrap_err();
    assert_eq!(
        err,
        MdaError::DuplicateExtension {
            oid: "1.2.840.113635.100.8.9.2".into()
        }
    );
    // Garbage is an error, never a panic.
    for n in 0..64 {
        let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
        assert!(MdaExtensions::from_certificate_der(&junk).is_err());
    }
}
