//! ACME device-attest-01 `apple`: payloads assembled by the test (ciborium, base64, serde_json)
//! around three-level P-384 chains made by `openssl`.

mod apple_support;

use std::time::{Duration, SystemTime};

use apple_support::{TestCa, mda_lines, providers, sha256};
use attestation::Error;
use attestation::acme::{self, AcmeError, Challenge, Options, Payload};
use attestation::apple::MdaError;
use attestation::pki::cert::Cert;
use attestation::pki::{Error as PkiError, PathError};
use attestation::webauthn::WebAuthnError;
use base64::Engine as _;
use ciborium::Value;

const SERIAL: &str = "C02XK1ABJGH5";
const UDID: &str = "00008103-000A1B2C3D4E5F60";
const TOKEN: &str = "DGyRejmCefe7v4NfDGDKfA";

fn now() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

fn att_obj(fmt: &str, x5c: &[&Cert]) -> Vec<u8> {
    let stmt = Value::Map(vec![(
        Value::Text("x5c".into()),
        Value::Array(x5c.iter().map(|c| Value::Bytes(c.der().to_vec())).collect()),
    )]);
    let obj = Value::Map(vec![
        (Value::Text("fmt".into()), Value::Text(fmt.into())),
        (Value::Text("attStmt".into()), stmt),
    ]);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&obj, &mut out).unwrap();
    out
}

fn payload(cbor: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cbor);
    serde_json::to_vec(&serde_json::json!({ "attObj": b64 })).unwrap()
}

fn challenge(id: &str) -> Challenge<'_> {
    Challenge {
        token: TOKEN,
        key_authorization: "unused-for-apple",
        permanent_identifier: id,
    }
}

fn acme_err(e: Error) -> AcmeError {
    match e {
        Error::Acme(a) => a,
        other => panic!("expected an ACME error, got {other:?}"),
    }
}

fn mda_err(e: Error) -> MdaError {
    match e {
        Error::Mda(m) => m,
        other => panic!("expected an MDA error, got {other:?}"),
    }
}

#[test]
fn apple_payload_verifies_by_serial_and_udid() {
    let ca = TestCa::new("Test Enterprise Attestation Root CA");
    let leaf = ca.leaf(
        "leaf",
        "P-384",
        7,
        &mda_lines(SERIAL, UDID, Some(&sha256(TOKEN.as_bytes()))),
    );
    let body = payload(&att_obj("apple", &[&leaf.cert, &ca.sub]));
    let roots = [ca.root.clone()];
    for p in providers() {
        let opts = Options::new(now(), &[]).with_apple_roots(&roots);
        for id in [SERIAL, UDID] {
            let v = acme::verify(p, &body, &challenge(id), &opts).unwrap();
            assert_eq!(v.format(), "apple");
            assert_eq!(v.permanent_identifier(), id);
            assert_eq!(v.key_fingerprint(), leaf.spki_sha256);
            let leaf_spki = leaf
                .cert
                .certificate()
                .tbs_certificate()
                .subject_public_key_info();
            assert!(v.matches_key(leaf_spki).unwrap());
            assert!(
                !v.matches_key(
                    ca.sub
                        .certificate()
                        .tbs_certificate()
                        .subject_public_key_info()
                )
                .unwrap()
            );
            assert_eq!(v.mda().unwrap().serial_number.as_deref(), Some(SERIAL));
            assert!(v.ek_uri().is_none());
        }
        // Padding on the base64url is tolerated.
        let cbor = att_obj("apple", &[&leaf.cert, &ca.sub]);
        let padded = base64::engine::general_purpose::URL_SAFE.encode(&cbor);
        let body2 = serde_json::to_vec(&serde_json::json!({ "attObj": padded })).unwrap();
        acme::verify(p, &body2, &challenge(SERIAL), &opts).unwrap();
    }
}

#[test]
fn apple_payload_failures() {
    let ca = TestCa::new("Test Enterprise Attestation Root CA");
    let good = ca.leaf(
        "good",
        "P-384",
        7,
        &mda_lines(SERIAL, UDID, Some(&sha256(TOKEN.as_bytes()))),
    );
    let old_token = "an-earlier-challenge-token";
    let stale = ca.leaf(
        "stale",
        "P-384",
        7,
        &mda_lines(SERIAL, UDID, Some(&sha256(old_token.as_bytes()))),
    );
    let none = ca.leaf("none", "P-384", 7, &mda_lines(SERIAL, UDID, None));
    let roots = [ca.root.clone()];
    let body = |l: &apple_support::Leaf| payload(&att_obj("apple", &[&l.cert, &ca.sub]));
    for p in providers() {
        let opts = Options::new(now(), &[]).with_apple_roots(&roots);
        // Identifier neither serial nor UDID.
        assert_eq!(
            acme_err(acme::verify(p, &body(&good), &challenge("OTHER"), &opts).unwrap_err()),
            AcmeError::IdentifierMismatch {
                requested: "OTHER".into(),
                attested: vec![SERIAL.into(), UDID.into()]
            }
        );
        // Freshness: wrong, stale, missing (refused unless relaxed).
        assert_eq!(
            mda_err(acme::verify(p, &body(&stale), &challenge(SERIAL), &opts).unwrap_err()),
            MdaError::FreshnessMismatch
        );
        let earlier = [old_token];
        let with_earlier = opts.clone().with_earlier_tokens(&earlier);
        assert_eq!(
            mda_err(acme::verify(p, &body(&stale), &challenge(SERIAL), &with_earlier).unwrap_err()),
            MdaError::StaleAttestation { index: 0 }
        );
        assert_eq!(
            mda_err(acme::verify(p, &body(&none), &challenge(SERIAL), &opts).unwrap_err()),
            MdaError::FreshnessMissing
        );
        let relaxed = opts.clone().allowing_missing_freshness();
        acme::verify(p, &body(&none), &challenge(SERIAL), &relaxed).unwrap();
        // Default anchor: Apple's root did not issue the test chain.
        let apple = Options::new(now(), &[]);
        let err = mda_err(acme::verify(p, &body(&good), &challenge(SERIAL), &apple).unwrap_err());
        assert!(
            matches!(
                err,
                MdaError::Chain(PkiError::Path(PathError::UnknownIssuer { .. }))
            ),
            "{err:?}"
        );
        // Other formats and an empty x5c.
        let none_fmt = payload(&att_obj("none", &[&good.cert]));
        assert_eq!(
            acme_err(acme::verify(p, &none_fmt, &challenge(SERIAL), &opts).unwrap_err()),
            AcmeError::UnsupportedFormat("none".into())
        );
        let empty = payload(&att_obj("apple", &[]));
        assert_eq!(
            acme::verify(p, &empty, &challenge(SERIAL), &opts).unwrap_err(),
            Error::WebAuthn(WebAuthnError::NoCertificates)
        );
    }
}

#[test]
fn payload_parsing_failures() {
    let bad = |body: &[u8]| acme_err(Payload::from_json(body).unwrap_err());
    assert!(matches!(bad(b"not json"), AcmeError::Payload(_)));
    assert!(matches!(bad(b"{}"), AcmeError::Payload(_)));
    assert!(matches!(bad(br#"{"attObj": 7}"#), AcmeError::Payload(_)));
    assert!(matches!(
        bad(br#"{"attObj": "***"}"#),
        AcmeError::Payload(_)
    ));
    let big = vec![b' '; acme::MAX_PAYLOAD + 1];
    assert!(matches!(bad(&big), AcmeError::TooLarge { .. }));
    // Valid base64url of something that is not an attestation object.
    let junk = payload(&[0xa0]);
    assert_eq!(
        Payload::from_json(&junk).unwrap_err(),
        Error::WebAuthn(WebAuthnError::MissingField("fmt"))
    );
    let truncated = payload(&[0xa2, 0x63]);
    assert!(matches!(
        Payload::from_json(&truncated).unwrap_err(),
        Error::WebAuthn(WebAuthnError::Cbor { .. })
    ));
}
