//! CMS SignedData: interoperability with `openssl cms` both ways, real SCEP vectors, the `cms`
//! crate's published examples, and bad input.

mod common;

use std::path::{Path, PathBuf};

use pki::Error;
use pki::alg::{HashAlg, SignatureScheme, oid};
use pki::ber::Limits;
use pki::cms::{SignedData, SignedDataBuilder, SignerId, SignerInfoBuilder, VerifyOptions};
use pki::der::asn1::{ObjectIdentifier, PrintableStringRef};
use pki::der::{Decode, Encode};
use pki::key::PrivateKey;
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use pki::x509_cert::Certificate;

const CONTENT: &[u8] =
    b"admit SignedData test content\r\nwith a second line and \x00 binary \xff bytes\n";

/// A private OID for the custom signed attribute.
const CUSTOM_ATTR: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55555.1.1");

// ---------------------------------------------------------------------------------------------
// Fixtures made by openssl in a temporary directory.

struct Signer {
    name: &'static str,
    cert_pem: PathBuf,
    key_pem: PathBuf,
    cert: Certificate,
    key_pkcs8: Vec<u8>,
}

impl Signer {
    fn key(&self, provider: &dyn CryptoProvider) -> std::sync::Arc<dyn PrivateKey> {
        provider
            .private_key_from_pkcs8_der(&self.key_pkcs8)
            .expect("openssl's PKCS#8 key loads")
    }
}

fn make_signer(dir: &Path, name: &'static str, newkey: &[&str]) -> Signer {
    let key = format!("{name}.key");
    let cert = format!("{name}.pem");
    let subj = format!("/CN=admit test {name}");
    let mut args = vec!["req", "-x509", "-nodes", "-days", "3650", "-subj", &subj];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&["-keyout", &key, "-out", &cert]);
    testkit::openssl(dir, &args);
    let cert_der = testkit::pem_to_der(&std::fs::read(dir.join(&cert)).unwrap());
    let key_der = testkit::pem_to_der(&std::fs::read(dir.join(&key)).unwrap());
    Signer {
        name,
        cert_pem: dir.join(&cert),
        key_pem: dir.join(&key),
        cert: Certificate::from_der(&cert_der).unwrap(),
        key_pkcs8: key_der,
    }
}

fn rsa_signer(dir: &Path) -> Signer {
    make_signer(dir, "rsa", &["-newkey", "rsa:2048"])
}

fn ec_signer(dir: &Path) -> Signer {
    make_signer(
        dir,
        "ec",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    )
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `openssl cms -sign` with the given extra arguments; returns the DER.
fn openssl_sign(dir: &Path, signer: &Signer, md: &str, extra: &[&str]) -> Vec<u8> {
    std::fs::write(dir.join("content.bin"), CONTENT).unwrap();
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-in",
        "content.bin",
        "-signer",
        path_str(&signer.cert_pem),
        "-inkey",
        path_str(&signer.key_pem),
        "-md",
        md,
        "-outform",
        "DER",
        "-out",
        "openssl.der",
    ];
    args.extend_from_slice(extra);
    testkit::openssl(dir, &args);
    std::fs::read(dir.join("openssl.der")).unwrap()
}

/// `openssl cms -verify` of our DER against the signer as CA; returns the content it output.
fn openssl_verify(dir: &Path, der: &[u8], signer: &Signer, detached: bool) -> Vec<u8> {
    std::fs::write(dir.join("ours.der"), der).unwrap();
    std::fs::write(dir.join("content.bin"), CONTENT).unwrap();
    let mut args = vec![
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        "ours.der",
        "-CAfile",
        path_str(&signer.cert_pem),
        "-purpose",
        "any",
        "-out",
        "verified.bin",
    ];
    if detached {
        args.extend_from_slice(&["-content", "content.bin"]);
    }
    testkit::openssl(dir, &args);
    std::fs::read(dir.join("verified.bin")).unwrap()
}

fn custom_attribute() -> pki::x509_cert::attr::Attribute {
    let value = PrintableStringRef::new("custom value 42").unwrap();
    pki::cms::attribute(CUSTOM_ATTR, &value).unwrap()
}

fn build_ours(
    provider: &dyn CryptoProvider,
    signer: &Signer,
    scheme: SignatureScheme,
    detached: bool,
    ski: bool,
    seed: u64,
) -> Vec<u8> {
    let key = signer.key(provider);
    let mut sib = SignerInfoBuilder::new(key.as_ref(), &signer.cert, scheme)
        .signed_attribute(custom_attribute())
        .signing_time(pki::der::DateTime::new(2025, 1, 2, 3, 4, 5).unwrap());
    if ski {
        sib = sib.subject_key_identifier();
    }
    let mut b = SignedDataBuilder::new(oid::DATA, CONTENT)
        .certificate(signer.cert.clone())
        .signer(sib);
    if detached {
        b = b.detached();
    }
    b.build(provider, &mut testkit::rng(seed)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// openssl → ours

#[test]
fn openssl_signed_verifies_with_ours() {
    let dir = tempfile::tempdir().unwrap();
    let signers = [rsa_signer(dir.path()), ec_signer(dir.path())];
    for provider in common::providers() {
        for signer in &signers {
            for md in ["sha256", "sha1"] {
                for detached in [false, true] {
                    let extra: &[&str] = if detached { &[] } else { &["-nodetach"] };
                    let der = openssl_sign(dir.path(), signer, md, extra);
                    let sd = SignedData::from_der(&der).unwrap();
                    assert_eq!(sd.content_type(), oid::DATA);
                    assert_eq!(sd.content().is_none(), detached);
                    assert_eq!(sd.certificates(), std::slice::from_ref(&signer.cert));
                    let base = if detached {
                        VerifyOptions::default().with_detached_content(CONTENT)
                    } else {
                        VerifyOptions::default()
                    };
                    let ctx = format!(
                        "{} {} {md} detached={detached}",
                        provider.name(),
                        signer.name
                    );
                    if md == "sha1" {
                        let err = sd.verify(provider, &base).unwrap_err();
                        assert!(
                            matches!(err, Error::AlgorithmNotAllowed { .. }),
                            "{ctx}: {err:?}"
                        );
                    }
                    let mut opts = base;
                    if md == "sha1" {
                        opts.policy = Policy::allowing_sha1();
                    }
                    let v = sd
                        .verify(provider, &opts)
                        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!(v.content(), CONTENT, "{ctx}");
                    assert_eq!(v.signers().len(), 1);
                    let s = &v.signers()[0];
                    assert_eq!(s.certificate(), Some(&signer.cert));
                    let want = if md == "sha1" {
                        HashAlg::Sha1
                    } else {
                        HashAlg::Sha256
                    };
                    assert_eq!(s.digest_algorithm(), want);
                    // openssl always adds signingTime.
                    assert!(
                        s.signed_attributes()
                            .unwrap()
                            .get(&oid::SIGNING_TIME)
                            .is_some()
                    );
                }
            }
        }
    }
}

#[test]
fn openssl_without_signed_attributes_and_with_keyid_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let signers = [rsa_signer(dir.path()), ec_signer(dir.path())];
    for provider in common::providers() {
        for signer in &signers {
            // -noattr: the signature covers the content itself.
            let der = openssl_sign(dir.path(), signer, "sha256", &["-nodetach", "-noattr"]);
            let sd = SignedData::from_der(&der).unwrap();
            assert!(sd.signer_infos()[0].signed_attributes().is_none());
            let v = sd.verify(provider, &VerifyOptions::default()).unwrap();
            assert_eq!(v.content(), CONTENT);
            assert!(v.signed_attributes().is_none());

            // -keyid: the signer is named by subjectKeyIdentifier.
            let der = openssl_sign(dir.path(), signer, "sha256", &["-nodetach", "-keyid"]);
            let sd = SignedData::from_der(&der).unwrap();
            assert!(matches!(
                sd.signer_infos()[0].sid(),
                SignerId::SubjectKeyIdentifier(_)
            ));
            sd.verify(provider, &VerifyOptions::default()).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ours → openssl

#[test]
fn ours_verifies_with_openssl_and_ours() {
    let dir = tempfile::tempdir().unwrap();
    let signers = [rsa_signer(dir.path()), ec_signer(dir.path())];
    let mut seed = 1;
    for provider in common::providers() {
        for signer in &signers {
            let scheme = if signer.name == "rsa" {
                SignatureScheme::RsaPkcs1v15(HashAlg::Sha256)
            } else {
                SignatureScheme::ecdsa(HashAlg::Sha256)
            };
            for detached in [false, true] {
                for ski in [false, true] {
                    seed += 1;
                    let ctx = format!(
                        "{} {} detached={detached} ski={ski}",
                        provider.name(),
                        signer.name
                    );
                    let der = build_ours(provider, signer, scheme, detached, ski, seed);
                    let out = openssl_verify(dir.path(), &der, signer, detached);
                    assert_eq!(out, CONTENT, "{ctx}");

                    // openssl sees our custom attribute among the signed attributes.
                    let printed = testkit::openssl(
                        dir.path(),
                        &[
                            "cms", "-cmsout", "-print", "-inform", "DER", "-in", "ours.der",
                        ],
                    );
                    let printed = String::from_utf8_lossy(&printed);
                    let signed = printed.split("signedAttrs:").nth(1).unwrap_or("");
                    let signed = signed.split("signatureAlgorithm").next().unwrap_or("");
                    assert!(signed.contains("1.3.6.1.4.1.55555.1.1"), "{ctx}: {printed}");
                    assert!(signed.contains("custom value 42"), "{ctx}");

                    // And ours reads it back.
                    let sd = SignedData::from_der(&der).unwrap();
                    let opts = if detached {
                        VerifyOptions::default().with_detached_content(CONTENT)
                    } else {
                        VerifyOptions::default()
                    };
                    let v = sd.verify(provider, &opts).unwrap();
                    assert_eq!(v.content(), CONTENT);
                    let attrs = v.signed_attributes().unwrap();
                    let value = attrs.single(&CUSTOM_ATTR).unwrap().unwrap();
                    assert_eq!(
                        PrintableStringRef::from_der(value).unwrap().as_str(),
                        "custom value 42"
                    );
                    // Signed attributes go out DER-sorted (X.690 11.6): read them in wire order
                    // (as a SEQUENCE OF, which keeps order) and compare the encodings.
                    let mut seq = attrs.as_received().to_vec();
                    seq[0] = 0x30;
                    let wire: Vec<pki::der::Any> = Vec::from_der(&seq).unwrap();
                    let encodings: Vec<Vec<u8>> =
                        wire.iter().map(|a| a.to_der().unwrap()).collect();
                    let mut sorted = encodings.clone();
                    sorted.sort();
                    assert_eq!(encodings, sorted, "{ctx}");
                    assert_eq!(encodings.len(), 4, "{ctx}"); // type, digest, time, custom
                    let si = &sd.signer_infos()[0];
                    let sid_is_ski = matches!(si.sid(), SignerId::SubjectKeyIdentifier(_));
                    assert_eq!(sid_is_ski, ski, "{ctx}");
                }
            }
        }
    }
}

#[test]
fn ours_rsa_pss_and_sha384_verify_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = rsa_signer(dir.path());
    for provider in common::providers() {
        for scheme in [
            SignatureScheme::RsaPkcs1v15(HashAlg::Sha384),
            SignatureScheme::RsaPss {
                hash: HashAlg::Sha256,
                salt_len: 32,
            },
        ] {
            let der = build_ours(provider, &rsa, scheme, false, false, 7);
            assert_eq!(openssl_verify(dir.path(), &der, &rsa, false), CONTENT);
            let sd = SignedData::from_der(&der).unwrap();
            sd.verify(provider, &VerifyOptions::default()).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Degenerate (certs-only) SignedData

#[test]
fn degenerate_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = rsa_signer(dir.path());
    let ec = ec_signer(dir.path());

    // openssl → ours.
    testkit::openssl(
        dir.path(),
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            "rsa.pem",
            "-certfile",
            "ec.pem",
            "-outform",
            "DER",
            "-out",
            "deg.der",
        ],
    );
    let der = std::fs::read(dir.path().join("deg.der")).unwrap();
    let sd = SignedData::from_der(&der).unwrap();
    assert!(sd.is_degenerate());
    let mut got: Vec<Vec<u8>> = sd.certificates_der().map(<[u8]>::to_vec).collect();
    let mut want = vec![rsa.cert.to_der().unwrap(), ec.cert.to_der().unwrap()];
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(sd.certificates().len(), 2);
    for provider in common::providers() {
        assert_eq!(
            sd.verify(provider, &VerifyOptions::default()).unwrap_err(),
            Error::NotFound("SignerInfo")
        );
        let v = sd
            .verify(provider, &VerifyOptions::default().allowing_degenerate())
            .unwrap();
        assert!(v.signers().is_empty());
        assert!(v.content().is_empty());
    }

    // ours → openssl.
    let ours = pki::cms::degenerate(&[rsa.cert.clone(), ec.cert.clone()]).unwrap();
    std::fs::write(dir.path().join("ours-deg.der"), &ours).unwrap();
    let printed = testkit::openssl(
        dir.path(),
        &[
            "pkcs7",
            "-print_certs",
            "-inform",
            "DER",
            "-in",
            "ours-deg.der",
        ],
    );
    let printed = String::from_utf8(printed).unwrap();
    let mut from_openssl: Vec<Vec<u8>> = printed
        .split("-----END CERTIFICATE-----")
        .filter(|s| s.contains("-----BEGIN CERTIFICATE-----"))
        .map(|s| testkit::pem_to_der(format!("{s}-----END CERTIFICATE-----\n").as_bytes()))
        .collect();
    from_openssl.sort();
    assert_eq!(from_openssl, want);
    assert!(printed.contains("admit test rsa") && printed.contains("admit test ec"));
    // And ours parses its own.
    let back = SignedData::from_der(&ours).unwrap();
    assert!(back.is_degenerate());
    assert_eq!(back.certificates().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// The `cms` crate's published examples, found through `cargo metadata`.

fn cms_examples_dir() -> PathBuf {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cms")
        .expect("package cms in cargo metadata")["manifest_path"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = Path::new(&manifest)
        .parent()
        .unwrap()
        .join("tests/examples");
    assert!(
        dir.is_dir(),
        "the cms package has no tests/examples at {}",
        dir.display()
    );
    dir
}

#[test]
fn cms_crate_examples() {
    let dir = cms_examples_dir();
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();

    // scep_der.bin: a SCEP request; openssl verifies it.
    let scep = SignedData::from_der(&read("scep_der.bin")).unwrap();
    // cms_ber.bin is BER (indefinite lengths, constructed OCTET STRING): strict DER refuses it,
    // the BER intake accepts it, and its content equals that of cms_der.bin.
    let ber = read("cms_ber.bin");
    assert!(matches!(
        SignedData::from_der(&ber),
        Err(Error::Malformed { .. })
    ));
    let ber = SignedData::from_ber(&ber, &Limits::default()).unwrap();
    let der = SignedData::from_der(&read("cms_der.bin")).unwrap();
    assert_eq!(ber.content(), der.content());
    assert!(ber.content().unwrap().starts_with(b"Inizio contenuto."));

    // apple_mdm_signature_der.bin: SHA-1, no certificates, and its eContent is a certificate
    // (the signer's, by issuer and serial) rather than the body that was signed.
    let apple = SignedData::from_der(&read("apple_mdm_signature_der.bin")).unwrap();
    assert!(apple.certificates().is_empty());
    let embedded = Certificate::from_der(
        // The eContent is a SEQUENCE; content() gives its contents octets, so re-wrap them.
        &pki::der::asn1::AnyRef::new(pki::der::Tag::Sequence, apple.content().unwrap())
            .unwrap()
            .to_der()
            .unwrap(),
    )
    .unwrap();

    for provider in common::providers() {
        let v = scep
            .verify(provider, &VerifyOptions::new(Policy::allowing_sha1()))
            .unwrap();
        assert_eq!(Some(v.content()), scep.content());
        ber.verify(provider, &VerifyOptions::default()).unwrap();
        der.verify(provider, &VerifyOptions::default()).unwrap();

        let sha1 = VerifyOptions::new(Policy::allowing_sha1());
        assert_eq!(
            apple.verify(provider, &sha1).unwrap_err(),
            Error::NotFound("signer certificate")
        );
        let with_cert = std::slice::from_ref(&embedded);
        assert_eq!(
            apple
                .verify(provider, &sha1.clone().with_extra_certificates(with_cert))
                .unwrap_err(),
            Error::DigestMismatch { alg: HashAlg::Sha1 }
        );
        // The signature over the signed attributes is still the embedded certificate's.
        let si = &apple.signer_infos()[0];
        let scheme =
            SignatureScheme::from_algorithm_identifier(si.signature_algorithm(), None).unwrap();
        pki::verify::signature(
            provider,
            &Policy::allowing_sha1(),
            embedded.tbs_certificate().subject_public_key_info(),
            scheme,
            &si.signed_attributes().unwrap().signed_bytes(),
            si.signature(),
        )
        .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Real SCEP vectors.

fn verify_vector(rel: &str, policy: Policy) -> pki::cms::VerifiedSignedData {
    let sd = SignedData::from_der(&testkit::vector(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let mut last = None;
    for provider in common::providers() {
        last = Some(
            sd.verify(provider, &VerifyOptions::new(policy))
                .unwrap_or_else(|e| panic!("{rel} with {}: {e}", provider.name())),
        );
    }
    last.unwrap()
}

/// SCEP messageType (RFC 8894 section 3.2.1.2), a PrintableString.
fn message_type(v: &pki::cms::VerifiedSignedData) -> String {
    let mt = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.2");
    let raw = v.signed_attributes().unwrap().single(&mt).unwrap().unwrap();
    PrintableStringRef::from_der(raw).unwrap().to_string()
}

#[test]
fn jscep_vectors_verify() {
    // Both jscep signers have 1536-bit RSA keys: the default policy (2048)
    // refuses it by name, and lowering the minimum to 1536 is what this vector needs.
    let rel = "scep/jscep/src/samples/scep_req2.der";
    let sd = SignedData::from_der(&testkit::vector(rel)).unwrap();
    for provider in common::providers() {
        let err = sd.verify(provider, &VerifyOptions::default()).unwrap_err();
        assert!(
            matches!(&err, Error::AlgorithmNotAllowed { what } if what.contains("1536-bit")),
            "{err:?}"
        );
    }
    let req = verify_vector(rel, Policy::default().with_min_rsa_bits(1536));
    assert_eq!(message_type(&req), "19");
    // The non-SCEP randomNonce attribute is there and simply not ours to interpret.
    let random_nonce = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.25.3");
    assert!(
        req.signed_attributes()
            .unwrap()
            .get(&random_nonce)
            .is_some()
    );
    // eContent is the EnvelopedData of scep_req1.der.
    assert_eq!(
        req.content(),
        testkit::vector("scep/jscep/src/samples/scep_req1.der")
    );
    // The CA's response is signed with a 1536-bit key too.
    let resp = verify_vector(
        "scep/jscep/src/samples/scep_resp2.der",
        Policy::default().with_min_rsa_bits(1536),
    );
    assert_eq!(message_type(&resp), "3");
    assert_eq!(
        resp.content(),
        testkit::vector("scep/jscep/src/samples/scep_resp1.der")
    );
}

#[test]
fn smallstep_vectors_verify_with_sha1_allowed() {
    for rel in [
        "scep/smallstep-scep/testdata/PKCSReq.der",
        "scep/smallstep-scep/testdata/CertRep.der",
    ] {
        let sd = SignedData::from_der(&testkit::vector(rel)).unwrap();
        for provider in common::providers() {
            assert!(matches!(
                sd.verify(provider, &VerifyOptions::default()),
                Err(Error::AlgorithmNotAllowed { .. })
            ));
        }
        // Both signers have RSA keys of 2048 bits or more: only SHA-1 needs allowing.
        verify_vector(rel, Policy::allowing_sha1());
    }
    assert_eq!(
        message_type(&verify_vector(
            "scep/smallstep-scep/testdata/PKCSReq.der",
            Policy::allowing_sha1()
        )),
        "19"
    );
}

#[test]
fn ndes_certrep_needs_the_ra_certificate() {
    let rel = "scep/smallstep-scep/testdata/testca2/CertRep_NoCertificatesForSigners.der";
    let sd = SignedData::from_der(&testkit::vector(rel)).unwrap();
    assert!(sd.certificates_der().next().is_none());
    let ra = Certificate::from_der(&testkit::pem_to_der(&testkit::vector(
        "scep/smallstep-scep/testdata/testca2/ca2.pem",
    )))
    .unwrap();
    let ms_attr = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.21.38");
    for provider in common::providers() {
        let opts = VerifyOptions::new(Policy::allowing_sha1());
        assert_eq!(
            sd.verify(provider, &opts).unwrap_err(),
            Error::NotFound("signer certificate")
        );
        let extra = std::slice::from_ref(&ra);
        let v = sd
            .verify(provider, &opts.with_extra_certificates(extra))
            .unwrap();
        assert_eq!(v.signers()[0].certificate(), Some(&ra));
        assert_eq!(message_type(&v), "3");
        let issued = v.signed_attributes().unwrap().single(&ms_attr).unwrap();
        assert_eq!(
            pki::der::asn1::Utf8StringRef::from_der(issued.unwrap())
                .unwrap()
                .as_str(),
            "Issued"
        );
    }
}

#[test]
fn certmonger_and_scepserver_capture_verifies() {
    let base = "scep/local-capture/certmonger-0.79.17_scepserver-2.1.0/";
    let cases = [
        ("certmonger-pkcsreq.der", "19"),
        ("certmonger-renew-pkcsreq-signed-by-old-cert.der", "19"),
        ("certmonger-rekey-pkcsreq-signed-by-old-cert.der", "19"),
        ("peer-openssl-pkcsreq.der", "19"),
        ("peer-openssl-pkcsreq-badchallenge.der", "19"),
        ("peer-openssl-renewalreq.der", "17"),
        ("scepserver-certrep-success-des.der", "3"),
        ("scepserver-certrep-failure-badrequest.der", "3"),
        ("scepserver-certrep-renewal-success-des.der", "3"),
    ];
    for (file, mt) in cases {
        let v = verify_vector(&format!("{base}{file}"), Policy::allowing_sha1());
        assert_eq!(message_type(&v), mt, "{file}");
    }
    // certmonger's self-signed request certificate has a 33-octet serial number, which the
    // RFC 5280 profile of x509-cert refuses: the signer is still found and verified, and its
    // DER and key are available.
    let v = verify_vector(&format!("{base}certmonger-pkcsreq.der"), Policy::default());
    let s = &v.signers()[0];
    assert!(s.certificate().is_none());
    let key_pem = testkit::vector(&format!("{base}certmonger-key1.pem"));
    let key = common::providers()[0]
        .private_key_from_pkcs8_der(&testkit::pem_to_der(&key_pem))
        .unwrap();
    assert_eq!(s.public_key(), pki::key::PublicKey::spki(key.as_ref()));
    // The failure CertRep carries an empty eContent, which is content all the same.
    let failure = verify_vector(
        &format!("{base}scepserver-certrep-failure-badrequest.der"),
        Policy::allowing_sha1(),
    );
    assert!(failure.content().is_empty());
}

#[test]
fn indefinite_length_ber_vector() {
    let ber = testkit::pem_to_der(&testkit::vector(
        "scep/smallstep-pkcs7/ber_test.go.testPKCS7.pem",
    ));
    assert!(matches!(
        SignedData::from_der(&ber),
        Err(Error::Malformed { .. })
    ));
    let sd = SignedData::from_ber(&ber, &Limits::default()).unwrap();
    assert!(
        sd.content()
            .unwrap()
            .starts_with(b"{\"AgentActionOverrides\"")
    );
    for provider in common::providers() {
        let v = sd.verify(provider, &VerifyOptions::default()).unwrap();
        assert_eq!(v.signers()[0].digest_algorithm(), HashAlg::Sha256);
    }
    // Too small limits are refused with typed errors.
    let tight = Limits {
        max_len: 100,
        ..Limits::default()
    };
    assert!(matches!(
        SignedData::from_ber(&ber, &tight),
        Err(Error::TooLarge { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Bad input.

fn flip_byte_of(der: &mut [u8], needle: &[u8], offset: usize) {
    let at = der
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present");
    der[at + offset] ^= 0x01;
}

#[test]
fn bad_input_gets_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = rsa_signer(dir.path());
    for provider in common::providers() {
        let scheme = SignatureScheme::RsaPkcs1v15(HashAlg::Sha256);
        let good = build_ours(provider, &rsa, scheme, false, false, 99);
        let opts = VerifyOptions::default();
        SignedData::from_der(&good)
            .unwrap()
            .verify(provider, &opts)
            .unwrap();

        // Tampered content.
        let mut bad = good.clone();
        flip_byte_of(&mut bad, CONTENT, 3);
        assert_eq!(
            SignedData::from_der(&bad)
                .unwrap()
                .verify(provider, &opts)
                .unwrap_err(),
            Error::DigestMismatch {
                alg: HashAlg::Sha256
            }
        );

        // Tampered signature (the last octets of the message).
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        assert_eq!(
            SignedData::from_der(&bad)
                .unwrap()
                .verify(provider, &opts)
                .unwrap_err(),
            Error::BadSignature
        );

        // eContentType changed to id-envelopedData: the contentType attribute disagrees.
        let mut bad = good.clone();
        let data_oid = oid::DATA.to_der().unwrap();
        let at = bad
            .windows(data_oid.len())
            .position(|w| w == data_oid)
            .unwrap();
        bad[at + data_oid.len() - 1] = 0x03;
        let err = SignedData::from_der(&bad)
            .unwrap()
            .verify(provider, &opts)
            .unwrap_err();
        assert!(matches!(err, Error::WrongContentType { .. }), "{err:?}");

        // Detached content missing, or supplied twice.
        let detached = build_ours(provider, &rsa, scheme, true, false, 100);
        let sd = SignedData::from_der(&detached).unwrap();
        assert!(matches!(sd.verify(provider, &opts), Err(Error::Content(_))));
        let attached = SignedData::from_der(&good).unwrap();
        assert!(matches!(
            attached.verify(provider, &opts.clone().with_detached_content(CONTENT)),
            Err(Error::Content(_))
        ));
        // Wrong detached content.
        assert!(matches!(
            sd.verify(provider, &opts.clone().with_detached_content(b"other")),
            Err(Error::DigestMismatch { .. })
        ));

        // Every truncation is a typed error, for both entry points.
        for len in 0..good.len() {
            assert!(SignedData::from_der(&good[..len]).is_err(), "len {len}");
            assert!(
                SignedData::from_ber(&good[..len], &Limits::default()).is_err(),
                "len {len}"
            );
        }

        // Trailing garbage after the DER.
        let mut bad = good.clone();
        bad.extend_from_slice(&[0x00, 0x01]);
        assert!(matches!(
            SignedData::from_der(&bad),
            Err(Error::TrailingData { len: 2, .. })
        ));
        assert!(matches!(
            SignedData::from_ber(&bad, &Limits::default()),
            Err(Error::TrailingData { len: 2, .. })
        ));
    }

    // A ContentInfo of another type.
    let enveloped = testkit::vector("scep/jscep/src/samples/scep_req1.der");
    assert!(matches!(
        SignedData::from_der(&enveloped),
        Err(Error::WrongContentType { .. })
    ));

    // BER given to from_der: non-shortest length on the outer SEQUENCE of a good message.
    let good = testkit::vector("scep/jscep/src/samples/scep_req2.der");
    assert_eq!(good[1], 0x82);
    let mut ber = vec![0x30, 0x83, 0x00];
    ber.extend_from_slice(&good[2..]);
    assert!(matches!(
        SignedData::from_der(&ber),
        Err(Error::Malformed { .. })
    ));
    assert_eq!(
        SignedData::from_ber(&ber, &Limits::default())
            .unwrap()
            .as_der(),
        &good[..]
    );
}

#[test]
fn signature_algorithm_naming_only_the_key_type() {
    use pki::cms_types::content_info::ContentInfo;
    use pki::spki::AlgorithmIdentifierOwned;

    let dir = tempfile::tempdir().unwrap();
    let ec = ec_signer(dir.path());
    let der = openssl_sign(dir.path(), &ec, "sha256", &["-nodetach"]);
    let sd = SignedData::from_der(&der).unwrap();
    // Rewrite signatureAlgorithm through the `cms` types. Re-encoding sorts the signed
    // attributes, which openssl already sent sorted, so the signature still covers them.
    let rewrite = |alg: AlgorithmIdentifierOwned| {
        let mut typed = sd.to_cms().unwrap();
        let mut infos: Vec<_> = typed.signer_infos.0.into_vec();
        infos[0].signature_algorithm = alg;
        typed.signer_infos = pki::cms_types::signed_data::SignerInfos(infos.try_into().unwrap());
        let ci = ContentInfo {
            content_type: oid::SIGNED_DATA,
            content: pki::der::Any::encode_from(&typed).unwrap(),
        };
        SignedData::from_der(&ci.to_der().unwrap()).unwrap()
    };
    // id-ecPublicKey: the digest comes from digestAlgorithm (SHA-256).
    let key_only = rewrite(AlgorithmIdentifierOwned {
        oid: oid::EC_PUBLIC_KEY,
        parameters: None,
    });
    // ecdsa-with-SHA384 against a SHA-256 digestAlgorithm: refused as inconsistent.
    let mismatch = rewrite(
        SignatureScheme::ecdsa(HashAlg::Sha384)
            .algorithm_identifier()
            .unwrap(),
    );
    for provider in common::providers() {
        let v = key_only
            .verify(provider, &VerifyOptions::default())
            .unwrap();
        assert_eq!(
            v.signers()[0].signature_scheme(),
            SignatureScheme::ecdsa(HashAlg::Sha256)
        );
        assert!(matches!(
            mismatch.verify(provider, &VerifyOptions::default()),
            Err(Error::Malformed { .. })
        ));
    }
}

#[test]
fn builder_refuses_misuse() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = rsa_signer(dir.path());
    let ec = ec_signer(dir.path());
    for provider in common::providers() {
        let ec_key = ec.key(provider);
        let mut rng = testkit::rng(5);
        // A key that is not the certificate's.
        let err = SignedDataBuilder::new(oid::DATA, CONTENT)
            .signer(SignerInfoBuilder::new(
                ec_key.as_ref(),
                &rsa.cert,
                SignatureScheme::ecdsa(HashAlg::Sha256),
            ))
            .build(provider, &mut rng)
            .unwrap_err();
        assert!(matches!(err, Error::ApiMisuse(_)), "{err:?}");
        // A caller attribute that repeats one of the builder's own.
        let err = SignedDataBuilder::new(oid::DATA, CONTENT)
            .signer(
                SignerInfoBuilder::new(
                    ec_key.as_ref(),
                    &ec.cert,
                    SignatureScheme::ecdsa(HashAlg::Sha256),
                )
                .signed_attribute(pki::cms::attribute(oid::CONTENT_TYPE, &oid::DATA).unwrap()),
            )
            .build(provider, &mut rng)
            .unwrap_err();
        assert!(matches!(err, Error::ApiMisuse(_)), "{err:?}");
        // No signer at all.
        assert!(matches!(
            SignedDataBuilder::new(oid::DATA, CONTENT).build(provider, &mut rng),
            Err(Error::ApiMisuse(_))
        ));
    }
}
