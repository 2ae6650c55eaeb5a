//! Algorithm identifiers as real peers encode them.

mod common;

use pki::alg::{ContentCipher, HashAlg, KeyTransport, SignatureScheme};
use pki::der::{Decode, Encode};
use pki::x509_cert::Certificate;

/// A certificate signed by `openssl req -sigopt rsa_padding_mode:pss` names RSASSA-PSS with its
/// parameters; we read them, and the signature verifies with every provider.
#[test]
fn openssl_pss_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    testkit::openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "k.pem",
        ],
    );
    for (md, salt) in [("sha256", 32usize), ("sha384", 20), ("sha512", 64)] {
        testkit::openssl(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "k.pem",
                "-subj",
                "/CN=pss",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                &format!("rsa_pss_saltlen:{salt}"),
                &format!("-{md}"),
                "-outform",
                "DER",
                "-out",
                "c.der",
            ],
        );
        let der = std::fs::read(d.join("c.der")).unwrap();
        let cert = Certificate::from_der(&der).unwrap();
        let scheme =
            SignatureScheme::from_algorithm_identifier(cert.signature_algorithm(), None).unwrap();
        let hash = match md {
            "sha256" => HashAlg::Sha256,
            "sha384" => HashAlg::Sha384,
            _ => HashAlg::Sha512,
        };
        assert_eq!(
            scheme,
            SignatureScheme::RsaPss {
                hash,
                salt_len: salt
            }
        );

        // Our own encoding decodes back to the same scheme.
        let ours = scheme.algorithm_identifier().unwrap();
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&ours, None).unwrap(),
            scheme
        );

        let tbs = cert.tbs_certificate().to_der().unwrap();
        let sig = cert.signature().as_bytes().unwrap();
        let spki = cert.tbs_certificate().subject_public_key_info();
        for p in common::providers() {
            p.verify(spki, scheme, &tbs, sig)
                .unwrap_or_else(|e| panic!("{}: {e}", p.name()));
            let mut bad = sig.to_vec();
            bad[10] ^= 1;
            assert_eq!(
                p.verify(spki, scheme, &tbs, &bad),
                Err(pki::Error::BadSignature),
                "{}",
                p.name()
            );
        }
    }
}

#[test]
fn signature_schemes_round_trip_through_algorithm_identifiers() {
    let mut schemes = vec![SignatureScheme::Ed25519];
    for h in HashAlg::ALL {
        schemes.push(SignatureScheme::RsaPkcs1v15(h));
        schemes.push(SignatureScheme::ecdsa(h));
    }
    for s in schemes {
        let id = s.algorithm_identifier().unwrap();
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&id, None).unwrap(),
            s
        );
    }
}

#[test]
fn cms_style_signature_algorithms_take_the_digest_from_the_signer_info() {
    let rsa = pki::spki::AlgorithmIdentifierOwned {
        oid: pki::alg::oid::RSA_ENCRYPTION,
        parameters: None,
    };
    assert_eq!(
        SignatureScheme::from_algorithm_identifier(&rsa, Some(HashAlg::Sha384)).unwrap(),
        SignatureScheme::RsaPkcs1v15(HashAlg::Sha384)
    );
    assert!(matches!(
        SignatureScheme::from_algorithm_identifier(&rsa, None),
        Err(pki::Error::UnsupportedAlgorithm { .. })
    ));
    let unknown = pki::spki::AlgorithmIdentifierOwned {
        oid: pki::der::asn1::ObjectIdentifier::new_unwrap("1.2.3.4"),
        parameters: None,
    };
    assert!(matches!(
        SignatureScheme::from_algorithm_identifier(&unknown, None),
        Err(pki::Error::UnsupportedAlgorithm { .. })
    ));
}

/// RSAES-OAEP-params: absent and empty parameters mean SHA-1 (RFC 4055 section 4.1); the
/// encoding openssl writes for SHA-256 decodes to SHA-256.
#[test]
fn oaep_parameters() {
    let absent = pki::spki::AlgorithmIdentifierOwned {
        oid: pki::alg::oid::RSAES_OAEP,
        parameters: None,
    };
    assert_eq!(
        KeyTransport::from_algorithm_identifier(&absent).unwrap(),
        KeyTransport::OAEP_SHA1
    );
    // SEQUENCE {} as parameters.
    let empty = pki::spki::AlgorithmIdentifierOwned {
        oid: pki::alg::oid::RSAES_OAEP,
        parameters: Some(pki::der::Any::from_der(&[0x30, 0x00]).unwrap()),
    };
    assert_eq!(
        KeyTransport::from_algorithm_identifier(&empty).unwrap(),
        KeyTransport::OAEP_SHA1
    );
    for t in [KeyTransport::OAEP_SHA256, KeyTransport::RsaPkcs1v15] {
        let id = t.algorithm_identifier().unwrap();
        assert_eq!(KeyTransport::from_algorithm_identifier(&id).unwrap(), t);
    }
    // Trailing junk inside the parameters is refused.
    let junk = pki::spki::AlgorithmIdentifierOwned {
        oid: pki::alg::oid::RSAES_OAEP,
        parameters: Some(pki::der::Any::from_der(&[0x30, 0x02, 0x05, 0x00]).unwrap()),
    };
    assert!(KeyTransport::from_algorithm_identifier(&junk).is_err());
}

#[test]
fn content_cipher_iv_must_match_the_block_size() {
    for c in [
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes192Cbc,
        ContentCipher::Aes256Cbc,
        ContentCipher::DesEde3Cbc,
    ] {
        let iv = vec![7u8; c.block_len()];
        let id = c.algorithm_identifier(&iv).unwrap();
        assert_eq!(
            ContentCipher::from_algorithm_identifier(&id).unwrap(),
            (c, iv)
        );
        let short = c.algorithm_identifier(&[1, 2, 3]).unwrap();
        assert!(matches!(
            ContentCipher::from_algorithm_identifier(&short),
            Err(pki::Error::BadLength { what: "IV", .. })
        ));
    }
}
