//! Issuance: certificates we issue validate with `openssl verify` and with our own path
//! validation; CSRs from `openssl req` become certificates openssl accepts.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pki::Error;
use pki::cert::csr::Csr;
use pki::cert::issue::{self, Template};
use pki::cert::path::{self, Options};
use pki::cert::{Cert, SubjectAltNames};
use pki::der::Encode;
use pki::key::{KeySpec, PrivateKey};
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use pki::x509_cert::Certificate;
use pki::x509_cert::name::Name;
use proptest::prelude::*;

fn at(y: u16, m: u8, d: u8) -> SystemTime {
    pki::der::DateTime::new(y, m, d, 0, 0, 0)
        .unwrap()
        .to_system_time()
}

fn unix(t: SystemTime) -> String {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

fn p256(provider: &dyn CryptoProvider, seed: u64) -> Arc<dyn PrivateKey> {
    provider
        .generate_key(KeySpec::Ec(pki::alg::Curve::P256), &mut testkit::rng(seed))
        .unwrap()
}

fn write_pem(dir: &Path, name: &str, cert: &Certificate) {
    let pem = pki::der::pem::encode_string(
        "CERTIFICATE",
        pki::der::pem::LineEnding::LF,
        &cert.to_der().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join(name), pem).unwrap();
}

fn text(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(testkit::openssl(dir, args)).unwrap()
}

struct Ca {
    root_key: Arc<dyn PrivateKey>,
    root: Certificate,
    inter_key: Arc<dyn PrivateKey>,
    inter: Certificate,
}

fn ca(provider: &dyn CryptoProvider) -> Ca {
    let mut rng = testkit::rng(1);
    let root_key = p256(provider, 10);
    let root = issue::self_signed_ca(
        provider,
        root_key.as_ref(),
        Name::from_str("O=Admit,CN=Admit Test Root").unwrap(),
        at(2030, 1, 1),
        at(2040, 1, 1),
        Some(1),
        &mut rng,
    )
    .unwrap();
    let inter_key = p256(provider, 11);
    let inter = issue::intermediate_ca(
        provider,
        root_key.as_ref(),
        &root,
        inter_key.spki(),
        Name::from_str("O=Admit,CN=Admit Test Issuing CA").unwrap(),
        at(2030, 1, 1),
        at(2035, 1, 1),
        Some(0),
        &mut rng,
    )
    .unwrap();
    Ca {
        root_key,
        root,
        inter_key,
        inter,
    }
}

#[test]
fn chain_we_issue_passes_openssl_verify() {
    let when = at(2030, 6, 1);
    for provider in common::providers() {
        let ca = ca(provider);
        let leaf_key = p256(provider, 12);
        let san = SubjectAltNames::new()
            .with_dns("device-7.example")
            .with_ip(IpAddr::from([10, 0, 0, 7]))
            .with_email("device7@example.com")
            .with_uri("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66");
        let template = Template::end_entity(at(2030, 1, 1), at(2031, 1, 1))
            .with_subject(Name::from_str("CN=device-7").unwrap())
            .with_san(san.clone())
            .with_eku(path::EKU_CLIENT_AUTH);
        let leaf = issue::issue(
            provider,
            ca.inter_key.as_ref(),
            Some(&ca.inter),
            leaf_key.spki(),
            &template,
            &mut testkit::rng(2),
        )
        .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_pem(d, "root.pem", &ca.root);
        write_pem(d, "inter.pem", &ca.inter);
        write_pem(d, "leaf.pem", &leaf);
        let attime = unix(when);
        let out = text(
            d,
            &[
                "verify",
                "-attime",
                &attime,
                "-purpose",
                "sslclient",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "inter.pem",
                "leaf.pem",
            ],
        );
        assert!(out.contains("leaf.pem: OK"), "{out}");
        // Before notBefore openssl refuses it too.
        let early = unix(at(2029, 12, 1));
        let (ok, _) = testkit::openssl_status(
            d,
            &[
                "verify",
                "-attime",
                &early,
                "-CAfile",
                "root.pem",
                "-untrusted",
                "inter.pem",
                "leaf.pem",
            ],
        );
        assert!(!ok);

        // What openssl reads in the leaf.
        let t = text(d, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
        assert!(t.contains("Signature Algorithm: ecdsa-with-SHA256"), "{t}");
        assert!(
            t.contains("Issuer: CN = Admit Test Issuing CA, O = Admit"),
            "{t}"
        );
        assert!(t.contains("Subject: CN = device-7"), "{t}");
        assert!(t.contains("DNS:device-7.example, IP Address:10.0.0.7, email:device7@example.com, URI:urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"), "{t}");
        assert!(t.contains("TLS Web Client Authentication"), "{t}");
        assert!(t.contains("CA:FALSE"), "{t}");
        let serial = text(d, &["x509", "-in", "leaf.pem", "-noout", "-serial"]);
        let hex = serial.trim().strip_prefix("serial=").unwrap();
        assert_eq!(hex.len(), 32, "{serial}");
        assert!(u8::from_str_radix(&hex[..2], 16).unwrap() < 0x80);
        // AKI of the leaf = SKI of the intermediate, as openssl prints them.
        let ski = text(
            d,
            &[
                "x509",
                "-in",
                "inter.pem",
                "-noout",
                "-ext",
                "subjectKeyIdentifier",
            ],
        );
        let aki = text(
            d,
            &[
                "x509",
                "-in",
                "leaf.pem",
                "-noout",
                "-ext",
                "authorityKeyIdentifier",
            ],
        );
        let ski_hex = ski.lines().nth(1).unwrap().trim();
        assert!(aki.contains(ski_hex), "{ski} / {aki}");
        let it = text(d, &["x509", "-in", "inter.pem", "-noout", "-text"]);
        assert!(it.contains("CA:TRUE, pathlen:0"), "{it}");
        assert!(it.contains("Certificate Sign, CRL Sign"), "{it}");

        // Our own validation agrees, and the SANs read back.
        let anchors = [Cert::from_certificate(&ca.root).unwrap()];
        let inters = [Cert::from_certificate(&ca.inter).unwrap()];
        let leaf = Cert::from_certificate(&leaf).unwrap();
        let opts = Options::new(&anchors, when)
            .with_intermediates(&inters)
            .with_required_eku(path::EKU_CLIENT_AUTH);
        let p = path::validate(provider, &leaf, &opts).unwrap();
        assert_eq!(p.chain().len(), 3);
        assert_eq!(leaf.subject_alt_names().unwrap(), Some(san));
        // The root's pathLen 1 and the intermediate's pathLen 0 are respected: a CA below the
        // intermediate cannot issue.
        let sub_key = p256(provider, 13);
        let sub = issue::intermediate_ca(
            provider,
            ca.inter_key.as_ref(),
            &ca.inter,
            sub_key.spki(),
            Name::from_str("CN=Too Deep").unwrap(),
            at(2030, 1, 1),
            at(2031, 1, 1),
            None,
            &mut testkit::rng(3),
        )
        .unwrap();
        let leaf2 = issue::issue(
            provider,
            sub_key.as_ref(),
            Some(&sub),
            leaf_key.spki(),
            &template,
            &mut testkit::rng(4),
        )
        .unwrap();
        let inters = [inters[0].clone(), Cert::from_certificate(&sub).unwrap()];
        let e = path::validate(
            provider,
            &Cert::from_certificate(&leaf2).unwrap(),
            &Options::new(&anchors, when).with_intermediates(&inters),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Path(pki::PathError::PathLenExceeded { path_len: 0, .. })
            ),
            "{e}"
        );

        // The issuer key must be the issuer certificate's.
        assert!(matches!(
            issue::issue(
                provider,
                ca.root_key.as_ref(),
                Some(&ca.inter),
                leaf_key.spki(),
                &template,
                &mut testkit::rng(5),
            ),
            Err(Error::ApiMisuse(_))
        ));
        assert!(matches!(
            issue::issue(
                provider,
                ca.root_key.as_ref(),
                None,
                leaf_key.spki(),
                &template,
                &mut testkit::rng(5),
            ),
            Err(Error::ApiMisuse(_))
        ));
    }
}

#[test]
fn rsa_issuer_signs_sha256_with_rsa() {
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
            "rsa.pem",
        ],
    );
    testkit::openssl(
        d,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "rsa.pem", "-outform", "DER", "-out", "rsa.der",
        ],
    );
    let pkcs8 = std::fs::read(d.join("rsa.der")).unwrap();
    for provider in common::providers() {
        let key = provider.private_key_from_pkcs8_der(&pkcs8).unwrap();
        let root = issue::self_signed_ca(
            provider,
            key.as_ref(),
            Name::from_str("CN=RSA Root").unwrap(),
            at(2030, 1, 1),
            at(2031, 1, 1),
            None,
            &mut testkit::rng(6),
        )
        .unwrap();
        let leaf_key = p256(provider, 14);
        let leaf = issue::issue(
            provider,
            key.as_ref(),
            Some(&root),
            leaf_key.spki(),
            &Template::end_entity(at(2030, 1, 1), at(2030, 2, 1))
                .with_subject(Name::from_str("CN=leaf").unwrap()),
            &mut testkit::rng(7),
        )
        .unwrap();
        write_pem(d, "root.pem", &root);
        write_pem(d, "leaf.pem", &leaf);
        let t = text(d, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
        assert!(
            t.contains("Signature Algorithm: sha256WithRSAEncryption"),
            "{t}"
        );
        let attime = unix(at(2030, 1, 15));
        let out = text(
            d,
            &[
                "verify", "-attime", &attime, "-CAfile", "root.pem", "leaf.pem",
            ],
        );
        assert!(out.contains("OK"), "{out}");
    }
}

const REQ_CONF: &str = "\
[req]
distinguished_name = dn
attributes = attrs
prompt = no

[dn]
CN = scep-device

[attrs]
challengePassword = enroll-me
";

#[test]
fn certificate_from_openssl_csr_passes_openssl_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("req.cnf"), REQ_CONF).unwrap();
    testkit::openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "k.pem",
        ],
    );
    testkit::openssl(
        d,
        &[
            "req",
            "-new",
            "-config",
            "req.cnf",
            "-key",
            "k.pem",
            "-addext",
            "subjectAltName=DNS:scep-device.example,IP:192.0.2.9",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-outform",
            "DER",
            "-out",
            "req.der",
        ],
    );
    let der = std::fs::read(d.join("req.der")).unwrap();
    let csr = Csr::from_der(&der).unwrap();
    assert_eq!(csr.challenge_password(), Some("enroll-me"));
    let when = at(2030, 6, 1);
    for provider in common::providers() {
        let ca = ca(provider);
        write_pem(d, "root.pem", &ca.root);
        write_pem(d, "inter.pem", &ca.inter);
        let template = Template::end_entity(at(2030, 1, 1), at(2031, 1, 1));
        // Without the option the requested SANs (and the requested CA flag) are not copied.
        let plain = issue::from_csr(
            provider,
            &Policy::default(),
            ca.inter_key.as_ref(),
            &ca.inter,
            &csr,
            &template,
            &mut testkit::rng(8),
        )
        .unwrap();
        write_pem(d, "plain.pem", &plain);
        let t = text(d, &["x509", "-in", "plain.pem", "-noout", "-text"]);
        assert!(!t.contains("Subject Alternative Name"), "{t}");
        assert!(t.contains("Subject: CN = scep-device"), "{t}");
        assert!(t.contains("CA:FALSE"), "{t}");

        let copied = issue::from_csr(
            provider,
            &Policy::default(),
            ca.inter_key.as_ref(),
            &ca.inter,
            &csr,
            &template.clone().with_requested_san(true),
            &mut testkit::rng(9),
        )
        .unwrap();
        write_pem(d, "leaf.pem", &copied);
        let t = text(d, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
        assert!(
            t.contains("DNS:scep-device.example, IP Address:192.0.2.9"),
            "{t}"
        );
        // The certified key is the one openssl put in the request.
        let want = text(d, &["pkey", "-in", "k.pem", "-pubout"]);
        let got = text(d, &["x509", "-in", "leaf.pem", "-noout", "-pubkey"]);
        assert_eq!(want, got);
        let attime = unix(when);
        let out = text(
            d,
            &[
                "verify",
                "-attime",
                &attime,
                "-CAfile",
                "root.pem",
                "-untrusted",
                "inter.pem",
                "leaf.pem",
            ],
        );
        assert!(out.contains("leaf.pem: OK"), "{out}");

        // A tampered request is refused before anything is signed.
        let mut bad = der.clone();
        let pos = bad.windows(11).position(|w| w == b"scep-device").unwrap();
        bad[pos] = b'S';
        let bad = Csr::from_der(&bad).unwrap();
        assert_eq!(
            issue::from_csr(
                provider,
                &Policy::default(),
                ca.inter_key.as_ref(),
                &ca.inter,
                &bad,
                &template,
                &mut testkit::rng(10),
            )
            .unwrap_err(),
            Error::BadSignature
        );
    }
}

fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,10}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn issued_certificates_round_trip(
        cn in "[A-Za-z0-9][A-Za-z0-9 .-]{0,30}[A-Za-z0-9]",
        dns in proptest::collection::vec((label(), label()), 0..4),
        ips in proptest::collection::vec(any::<[u8; 4]>(), 0..3),
        seed in any::<u64>(),
    ) {
        for provider in common::providers() {
            let ca = ca(provider);
            let key = p256(provider, seed);
            let mut san = SubjectAltNames::new();
            for (a, b) in &dns {
                san = san.with_dns(format!("{a}.{b}.example"));
            }
            for ip in &ips {
                san = san.with_ip(IpAddr::from(*ip));
            }
            let subject = Name::from_str(&format!("CN={cn}")).unwrap();
            let template = Template::end_entity(at(2030, 1, 1), at(2030, 3, 1))
                .with_subject(subject.clone())
                .with_san(san.clone());
            let cert = issue::issue(
                provider,
                ca.inter_key.as_ref(),
                Some(&ca.inter),
                key.spki(),
                &template,
                &mut testkit::rng(seed),
            )
            .unwrap();
            let back = Cert::from_der(&cert.to_der().unwrap()).unwrap();
            let tbs = back.certificate().tbs_certificate();
            prop_assert_eq!(tbs.subject(), &subject);
            prop_assert_eq!(
                tbs.subject().common_name().unwrap().unwrap().value().into_owned(),
                cn.clone()
            );
            prop_assert_eq!(tbs.subject_public_key_info(), key.spki());
            let got = back.subject_alt_names().unwrap();
            if san.is_empty() {
                prop_assert_eq!(got, None);
            } else {
                prop_assert_eq!(got, Some(san));
            }
            prop_assert_eq!(
                tbs.validity().not_after.to_system_time(),
                at(2030, 3, 1)
            );
            let anchors = [Cert::from_certificate(&ca.root).unwrap()];
            let inters = [Cert::from_certificate(&ca.inter).unwrap()];
            let opts = Options::new(&anchors, at(2030, 2, 1) + Duration::from_secs(seed % 1000))
                .with_intermediates(&inters);
            prop_assert_eq!(path::validate(provider, &back, &opts).unwrap().chain().len(), 3);
        }
    }
}
