//! PKCS#10: requests from `openssl req` parse and verify; requests we build pass
//! `openssl req -verify`.

mod common;

use std::net::IpAddr;
use std::str::FromStr;

use pki::Error;
use pki::cert::SubjectAltNames;
use pki::cert::csr::{Csr, CsrBuilder};
use pki::key::KeySpec;
use pki::verify::Policy;
use pki::x509_cert::name::Name;

const REQ_CONF: &str = "\
[req]
distinguished_name = dn
attributes = attrs
prompt = no
string_mask = STRING_MASK

[dn]
CN = device-42
O = Admit Test

[attrs]
challengePassword = PASSWORD
";

fn openssl_csr(dir: &std::path::Path, key_alg: &[&str], mask: &str, password: &str) -> Vec<u8> {
    let mut args = vec!["genpkey"];
    args.extend_from_slice(key_alg);
    args.extend_from_slice(&["-out", "key.pem"]);
    testkit::openssl(dir, &args);
    let conf = REQ_CONF
        .replace("STRING_MASK", mask)
        .replace("PASSWORD", password);
    std::fs::write(dir.join("req.cnf"), conf).unwrap();
    testkit::openssl(
        dir,
        &[
            "req",
            "-new",
            "-utf8",
            "-config",
            "req.cnf",
            "-key",
            "key.pem",
            "-addext",
            "subjectAltName=DNS:device-42.example,IP:192.0.2.7,email:ops@example.com,URI:urn:dev:42",
            "-outform",
            "DER",
            "-out",
            "req.der",
        ],
    );
    std::fs::read(dir.join("req.der")).unwrap()
}

fn expected_san() -> SubjectAltNames {
    SubjectAltNames::new()
        .with_dns("device-42.example")
        .with_ip(IpAddr::from([192, 0, 2, 7]))
        .with_email("ops@example.com")
        .with_uri("urn:dev:42")
}

#[test]
fn openssl_csr_with_challenge_password_parses_and_verifies() {
    let ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let rsa = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
    // A long password: there is no length cap.
    let long = "x".repeat(300);
    let cases: [(&[&str], &str, &str, &str); 3] = [
        (&ec, "default", "secret-Pa55 word", "PRINTABLESTRING"),
        (&rsa, "utf8only", "pässwörd-ü", "UTF8STRING"),
        (&ec, "default", &long, "PRINTABLESTRING"),
    ];
    for (alg, mask, password, asn1_type) in cases {
        let dir = tempfile::tempdir().unwrap();
        let der = openssl_csr(dir.path(), alg, mask, password);
        // The string type on the wire, as openssl itself reports it.
        let dump = String::from_utf8(testkit::openssl(
            dir.path(),
            &["asn1parse", "-inform", "DER", "-in", "req.der"],
        ))
        .unwrap();
        assert!(dump.contains(asn1_type), "{dump}");
        let csr = Csr::from_der(&der).unwrap();
        assert_eq!(csr.challenge_password(), Some(password));
        assert_eq!(csr.subject().to_string(), "O=Admit Test,CN=device-42");
        assert_eq!(csr.requested_san().unwrap(), Some(expected_san()));
        assert!(csr.other_attributes().is_empty());
        for provider in common::providers() {
            let v = csr.verify(provider, &Policy::default()).unwrap();
            assert_eq!(v.public_key(), csr.public_key());
        }

        // PEM form of the same request.
        testkit::openssl(
            dir.path(),
            &["req", "-in", "req.der", "-inform", "DER", "-out", "req.pem"],
        );
        let pem = std::fs::read(dir.path().join("req.pem")).unwrap();
        assert_eq!(Csr::from_pem(&pem).unwrap(), csr);
    }
}

#[test]
fn truncated_and_tampered_requests_fail_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let der = openssl_csr(
        dir.path(),
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "default",
        "pw",
    );
    for n in 0..der.len() {
        assert!(
            matches!(Csr::from_der(&der[..n]), Err(Error::Malformed { .. })),
            "prefix {n}"
        );
    }
    // Flip a byte of the subject's CN: still parses, no longer verifies.
    let mut bad = der.clone();
    let pos = bad.windows(9).position(|w| w == b"device-42").unwrap();
    bad[pos] = b'D';
    let csr = Csr::from_der(&bad).unwrap();
    for provider in common::providers() {
        assert_eq!(
            csr.verify(provider, &Policy::default()).unwrap_err(),
            Error::BadSignature
        );
    }
    // SHA-1 request: refused unless the policy allows it.
    testkit::openssl(
        dir.path(),
        &[
            "req", "-new", "-config", "req.cnf", "-key", "key.pem", "-sha1", "-outform", "DER",
            "-out", "sha1.der",
        ],
    );
    let sha1 = Csr::from_der(&std::fs::read(dir.path().join("sha1.der")).unwrap()).unwrap();
    for provider in common::providers() {
        assert!(matches!(
            sha1.verify(provider, &Policy::default()),
            Err(Error::AlgorithmNotAllowed { .. })
        ));
        sha1.verify(provider, &Policy::allowing_sha1()).unwrap();
    }
    // Wrong PEM label.
    assert!(matches!(
        Csr::from_pem(b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn csr_we_build_passes_openssl_req_verify() {
    for provider in common::providers() {
        let mut rng = testkit::rng(7);
        let key = provider
            .generate_key(KeySpec::Ec(pki::alg::Curve::P256), &mut rng)
            .unwrap();
        let san = expected_san().with_ip(IpAddr::from_str("2001:db8::1").unwrap());
        let der = CsrBuilder::new(Name::from_str("O=Admit,CN=built-by-admit").unwrap())
            .with_san(san.clone())
            .with_challenge_password("one-time 123")
            .build(key.as_ref(), &mut rng)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("csr.der"), &der).unwrap();
        let (ok, err) = testkit::openssl_status(
            dir.path(),
            &[
                "req", "-verify", "-in", "csr.der", "-inform", "DER", "-noout",
            ],
        );
        assert!(ok, "openssl req -verify: {err}");
        let text = String::from_utf8(testkit::openssl(
            dir.path(),
            &["req", "-text", "-noout", "-in", "csr.der", "-inform", "DER"],
        ))
        .unwrap();
        assert!(text.contains("challengePassword"), "{text}");
        assert!(text.contains("one-time 123"), "{text}");
        assert!(
            text.contains("DNS:device-42.example, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:1, email:ops@example.com, URI:urn:dev:42"),
            "{text}"
        );
        assert!(
            text.contains("Subject: CN = built-by-admit, O = Admit"),
            "{text}"
        );
        assert!(text.contains("ecdsa-with-SHA256"), "{text}");

        // And our own reading of it.
        let csr = Csr::from_der(&der).unwrap();
        csr.verify(provider, &Policy::default()).unwrap();
        assert_eq!(csr.challenge_password(), Some("one-time 123"));
        assert_eq!(csr.requested_san().unwrap(), Some(san));

        // A non-printable password goes out as UTF8String.
        let der = CsrBuilder::new(Name::from_str("CN=x").unwrap())
            .with_challenge_password("ñ@pw")
            .build(key.as_ref(), &mut rng)
            .unwrap();
        std::fs::write(dir.path().join("u.der"), &der).unwrap();
        let dump = String::from_utf8(testkit::openssl(
            dir.path(),
            &["asn1parse", "-inform", "DER", "-in", "u.der"],
        ))
        .unwrap();
        assert!(dump.contains("UTF8STRING"), "{dump}");
        assert_eq!(
            Csr::from_der(&der).unwrap().challenge_password(),
            Some("ñ@pw")
        );
    }
}
