//! SCEP bytes captured from real peers (`../shared/vectors/scep/`).

use scep::{Capabilities, Capability};

/// micromdm's scepserver 2.1.0 GetCACaps answer, captured on loopback.
#[test]
fn scepserver_capabilities() {
    let path = testkit::vectors()
        .join("scep/local-capture/certmonger-0.79.17_scepserver-2.1.0/getcacaps.txt");
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let caps = Capabilities::parse(&body);
    assert_eq!(
        caps.0,
        vec![
            Capability::Renewal,
            Capability::Sha1,
            Capability::Sha256,
            Capability::Aes,
            Capability::Des3,
            Capability::ScepStandard,
            Capability::PostPkiOperation,
        ]
    );
    // Re-encoding gives the same bytes: LF-separated, no trailing LF.
    assert_eq!(caps.encode().as_bytes(), &body[..]);
    assert_eq!(caps.digest(), pki::alg::HashAlg::Sha256);
    assert_eq!(
        caps.content_cipher(),
        Some(pki::alg::ContentCipher::Aes128Cbc)
    );
    assert!(caps.post());
}

mod common;

use std::sync::Arc;

use common::{CM, cert_pem, key, now, providers};
use pki::alg::{ContentCipher, HashAlg};
use pki::cms::{EnvelopedData, SignedData, VerifyOptions};
use pki::der::Decode;
use pki::key::{Decrypter, PrivateKey, Signer};
use pki::provider::CryptoProvider;
use pki::x509_cert::Certificate;
use scep::challenge::{CallerVerified, ChallengeContext, StaticChallenge};
use scep::message::{FailInfo, MessageType, PkiStatus};
use scep::{
    CaCerts, CertRepOptions, CertRepOutcome, CertificationRequest, Client, Error, Identity,
    PkiMessage, Responder, SignerStanding, Transaction, VerifiedRequest,
};
use testkit::{rng, vector, vector_file};

/// Every pkiMessage in the vectors parses structurally, with the messageType its README gives.
#[test]
fn every_pki_message_parses() {
    let cases: &[(&str, MessageType)] = &[
        ("scep/jscep/src/samples/scep_req2.der", MessageType::PkcsReq),
        (
            "scep/jscep/src/samples/scep_resp2.der",
            MessageType::CertRep,
        ),
        (
            "scep/smallstep-scep/testdata/PKCSReq.der",
            MessageType::PkcsReq,
        ),
        (
            "scep/smallstep-scep/testdata/CertRep.der",
            MessageType::CertRep,
        ),
        (
            "scep/smallstep-scep/testdata/testca2/CertRep_NoCertificatesForSigners.der",
            MessageType::CertRep,
        ),
        (
            &format!("{CM}/certmonger-pkcsreq.der"),
            MessageType::PkcsReq,
        ),
        (
            &format!("{CM}/certmonger-renew-pkcsreq-signed-by-old-cert.der"),
            MessageType::PkcsReq,
        ),
        (
            &format!("{CM}/certmonger-rekey-pkcsreq-signed-by-old-cert.der"),
            MessageType::PkcsReq,
        ),
        (
            &format!("{CM}/peer-openssl-pkcsreq.der"),
            MessageType::PkcsReq,
        ),
        (
            &format!("{CM}/peer-openssl-pkcsreq-badchallenge.der"),
            MessageType::PkcsReq,
        ),
        (
            &format!("{CM}/peer-openssl-renewalreq.der"),
            MessageType::RenewalReq,
        ),
        (
            &format!("{CM}/scepserver-certrep-success-des.der"),
            MessageType::CertRep,
        ),
        (
            &format!("{CM}/scepserver-certrep-failure-badrequest.der"),
            MessageType::CertRep,
        ),
        (
            &format!("{CM}/scepserver-certrep-renewal-success-des.der"),
            MessageType::CertRep,
        ),
    ];
    for (path, ty) in cases {
        let m = PkiMessage::parse(&vector(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(m.message_type(), *ty, "{path}");
        assert!(!m.transaction_id().as_str().is_empty(), "{path}");
        // Every truncation is a typed error, never a panic.
        let bytes = vector(path);
        for cut in [1, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                PkiMessage::parse(&bytes[..cut]).is_err(),
                "{path} cut at {cut}"
            );
        }
    }
    // The GetCACert answer of scepserver: one DER certificate.
    let ca = CaCerts::from_body(
        "application/x-x509-ca-cert",
        &vector(&format!("{CM}/getcacert.der")),
    )
    .unwrap();
    assert_eq!(ca.certificates(), &[cert_pem(&format!("{CM}/ca.pem"))]);
}

/// The transactionID as `openssl asn1parse` prints it: the string after the id-transactionID
/// OID. An independent reading of the same bytes.
fn openssl_transaction_id(path: &std::path::Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = testkit::openssl(
        dir.path(),
        &["asn1parse", "-inform", "DER", "-in", path.to_str().unwrap()],
    );
    let text = String::from_utf8(out).unwrap();
    let mut lines = text
        .lines()
        .skip_while(|l| !l.ends_with(":2.16.840.1.113733.1.9.7"));
    lines.next().expect("transactionID OID");
    let value = lines.find(|l| l.contains("STRING")).unwrap();
    value.rsplit_once(':').unwrap().1.to_owned()
}

fn openssl_pkcs8(dir: &std::path::Path, legacy_pem: &std::path::Path) -> Vec<u8> {
    testkit::openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-passin",
            "pass:",
            "-outform",
            "DER",
            "-in",
            legacy_pem.to_str().unwrap(),
        ],
    )
}

/// A responder whose decryption identity is (`ca_key`, `ca`) and whose CertRep signer is a
/// self-signed end-entity certificate for `ra_key`.
fn responder(
    provider: &'static dyn CryptoProvider,
    ca: &Certificate,
    ca_key: Arc<dyn PrivateKey>,
    ra_key: Arc<dyn PrivateKey>,
    challenge: Arc<dyn scep::challenge::ChallengePolicy>,
) -> Responder {
    let template =
        pki::cert::issue::Template::end_entity(now() - common::days(1), now() + common::days(365))
            .with_subject("CN=test RA".parse().unwrap());
    let ra = pki::cert::issue::issue(
        provider,
        &*ra_key,
        None,
        ra_key.spki(),
        &template,
        &mut rng(9),
    )
    .unwrap();
    let signer: Arc<dyn Signer> = ra_key;
    let decrypter: Arc<dyn Decrypter> = ca_key;
    Responder::new(
        provider,
        std::slice::from_ref(ca),
        (signer, ra),
        (decrypter, ca.clone()),
        challenge,
    )
    .unwrap()
}

fn open(r: &Responder, bytes: &[u8], seed: u64) -> Result<VerifiedRequest, scep::Rejection> {
    r.verify_request(bytes, now(), &mut rng(seed))
}

/// Apple's PKCSReq (1024-bit RSA signer, SHA-1, 3DES, CSR version 2) opens with the test CA's
/// key (legacy encrypted PEM, converted by openssl at test time).
#[test]
fn apple_pkcsreq_opens_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let req_path = vector_file("scep/smallstep-scep/testdata/PKCSReq.der");
    let pkcs8 = openssl_pkcs8(
        dir.path(),
        &vector_file("scep/smallstep-scep/testdata/testca/ca.key"),
    );
    let ca = cert_pem("scep/smallstep-scep/testdata/testca/ca.pem");
    let want_tx = openssl_transaction_id(&req_path);
    assert_eq!(want_tx.len(), 40);
    for provider in providers() {
        let ca_key = provider.private_key_from_pkcs8_der(&pkcs8).unwrap();
        let seen = Arc::new(std::sync::Mutex::new(None::<Option<String>>));
        let seen2 = Arc::clone(&seen);
        let policy = CallerVerified(move |c: Option<&str>, ctx: &ChallengeContext<'_>| {
            assert!(!ctx.signed_by_issued_cert);
            *seen2.lock().unwrap() = Some(c.map(str::to_owned));
            scep::challenge::Verdict::Admitted
        });
        let r = responder(
            provider,
            &ca,
            ca_key,
            key(provider, &format!("{CM}/certmonger-key1.pem")),
            Arc::new(policy),
        );
        let req = open(&r, &vector("scep/smallstep-scep/testdata/PKCSReq.der"), 1).unwrap();
        assert_eq!(req.message_type(), MessageType::PkcsReq);
        assert_eq!(req.transaction_id().as_str(), want_tx);
        assert_eq!(req.digest(), HashAlg::Sha1);
        assert_eq!(req.content_cipher(), ContentCipher::DesEde3Cbc);
        assert!(matches!(
            req.signer().standing(),
            SignerStanding::SelfSigned
        ));
        assert!(!req.is_renewal());
        let csr = req.certification_request().unwrap();
        assert_eq!(csr.version_as_received(), 2);
        assert!(
            csr.subject()
                .to_string()
                .starts_with("CN=com.apple.security.scep.")
        );
        // Verification consults no challenge policy; deciding does. Apple's device asks for a
        // 1024-bit key (the SCEP payload's default Keysize), which the default issuance policy
        // refuses before the challenge is looked at; a legacy policy admits it.
        assert!(seen.lock().unwrap().is_none());
        let refused = r.decide(&req, &scep::Records::default(), now());
        assert!(
            matches!(
                refused,
                scep::Decision::Refuse(scep::Error::KeyNotAllowed(_))
            ),
            "{refused:?}"
        );
        assert!(seen.lock().unwrap().is_none());
        let legacy = scep::IssuancePolicy::default()
            .with_keys(scep::issuance::KeyRules::default().with_min_rsa_bits(1024))
            .with_sha1_csr(true);
        let r = r.with_issuance(legacy);
        let d = r.decide(&req, &scep::Records::default(), now());
        assert!(matches!(d, scep::Decision::Issue(_)), "{d:?}");
        assert!(seen.lock().unwrap().is_some());

        // The default policy of pki (2048-bit minimum) would refuse Apple's signer: the SCEP
        // policy accepts it explicitly.
        let strict = responder(
            provider,
            &ca,
            provider.private_key_from_pkcs8_der(&pkcs8).unwrap(),
            key(provider, &format!("{CM}/certmonger-key1.pem")),
            Arc::new(StaticChallenge::new("x")),
        )
        .with_policy(
            scep::RequestPolicy::default().with_signatures(pki::verify::Policy::allowing_sha1()),
        );
        let err = open(
            &strict,
            &vector("scep/smallstep-scep/testdata/PKCSReq.der"),
            1,
        )
        .unwrap_err();
        assert_eq!(err.fail_info(), FailInfo::BadAlg);
    }
}

/// Take the signer certificate out of a pkiMessage with `openssl cms -verify -signer`.
fn openssl_signer(dir: &std::path::Path, msg: &std::path::Path) -> std::path::PathBuf {
    testkit::openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-noverify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            msg.to_str().unwrap(),
            "-signer",
            "signer.pem",
            "-out",
            "/dev/null",
        ],
    );
    dir.join("signer.pem")
}

/// certmonger's requests open with the capture CA's key; the renewal and rekey (PKCSReq signed
/// by the old certificate) are recognised as renewals while the old certificate is valid, and
/// refused once it expired or against another CA.
#[test]
fn certmonger_requests_and_renewals() {
    let ca = cert_pem(&format!("{CM}/ca.pem"));
    for provider in providers() {
        let mk = |ca: &Certificate, ca_key: &str| {
            responder(
                provider,
                ca,
                key(provider, ca_key),
                key(provider, &format!("{CM}/certmonger-key2-after-rekey.pem")),
                Arc::new(StaticChallenge::new("secret")),
            )
        };
        let r = mk(&ca, &format!("{CM}/ca.key.pem"));
        let req = open(&r, &vector(&format!("{CM}/certmonger-pkcsreq.der")), 2).unwrap();
        assert_eq!(req.message_type(), MessageType::PkcsReq);
        assert_eq!(req.transaction_id().as_str().len(), 77);
        assert_eq!(req.content_cipher(), ContentCipher::Aes256Cbc);
        assert!(matches!(
            req.signer().standing(),
            SignerStanding::SelfSigned
        ));
        // The 33-octet serial keeps it out of the RFC 5280 profile.
        assert!(req.signer().certificate().is_none());

        for (file, new_key) in [
            (
                "certmonger-renew-pkcsreq-signed-by-old-cert.der",
                "certmonger-key1.pem",
            ),
            (
                "certmonger-rekey-pkcsreq-signed-by-old-cert.der",
                "certmonger-key2-after-rekey.pem",
            ),
        ] {
            let bytes = vector(&format!("{CM}/{file}"));
            let req = open(&r, &bytes, 3).unwrap();
            assert_eq!(req.message_type(), MessageType::PkcsReq, "{file}");
            assert!(req.is_renewal(), "{file}");
            assert!(req.signer().is_issued_by_us());
            let new_spki = key(provider, &format!("{CM}/{new_key}")).spki().clone();
            assert_eq!(req.certification_request().unwrap().public_key(), &new_spki);

            // After the old certificate expired: refused, answerable with a FAILURE.
            let old = req.signer().certificate().unwrap().clone();
            let after =
                old.tbs_certificate().validity().not_after.to_system_time() + common::days(1);
            let err = r.verify_request(&bytes, after, &mut rng(4)).unwrap_err();
            assert!(
                matches!(err.error(), Error::UntrustedSigner(_)),
                "{:?}",
                err.error()
            );
            assert!(err.answerable());
            assert_eq!(err.fail_info(), FailInfo::BadRequest);

            // A responder for another CA does not know the signer.
            let foreign = mk(
                &cert_pem(&format!("{CM}/peer-openssl-pkcsreq.signer.pem")),
                &format!("{CM}/peer-openssl-pkcsreq.key.pem"),
            );
            let err = foreign
                .verify_request(&bytes, now(), &mut rng(5))
                .unwrap_err();
            assert!(
                matches!(err.error(), Error::UntrustedSigner(_)),
                "{:?}",
                err.error()
            );
        }
    }
}

/// A SUCCESS to certmonger's request is sealed to its self-signed certificate (33-octet
/// serial) and opens with `openssl cms -decrypt`; the CertRep verifies with `openssl cms`.
#[test]
fn success_to_certmonger_opens_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let req_path = vector_file(&format!("{CM}/certmonger-pkcsreq.der"));
    let signer_pem = openssl_signer(d, &req_path);
    let ca = cert_pem(&format!("{CM}/ca.pem"));
    for provider in providers() {
        let ca_key = key(provider, &format!("{CM}/ca.key.pem"));
        let r = responder(
            provider,
            &ca,
            Arc::clone(&ca_key),
            key(provider, &format!("{CM}/certmonger-key2-after-rekey.pem")),
            Arc::new(StaticChallenge::new("secret")),
        );
        let req = open(&r, &std::fs::read(&req_path).unwrap(), 6).unwrap();
        let csr = req.certification_request().unwrap();
        let template = pki::cert::issue::Template::end_entity(now(), now() + common::days(30));
        let issued = pki::cert::issue::from_csr(
            provider,
            &pki::verify::Policy::default(),
            &*ca_key,
            &ca,
            csr.csr(),
            &template,
            &mut rng(7),
        )
        .unwrap();
        let resp = r
            .success(&req, &[issued.clone(), ca.clone()], &mut rng(8))
            .unwrap();
        assert_eq!(resp.status(), 200);
        std::fs::write(d.join("rep.der"), resp.body()).unwrap();
        testkit::openssl(
            d,
            &[
                "cms",
                "-verify",
                "-noverify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "rep.der",
                "-out",
                "env.der",
            ],
        );
        testkit::openssl(
            d,
            &[
                "cms",
                "-decrypt",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "env.der",
                "-inkey",
                vector_file(&format!("{CM}/certmonger-key1.pem"))
                    .to_str()
                    .unwrap(),
                "-recip",
                signer_pem.to_str().unwrap(),
                "-out",
                "degenerate.der",
            ],
        );
        let pem = testkit::openssl(
            d,
            &[
                "pkcs7",
                "-inform",
                "DER",
                "-in",
                "degenerate.der",
                "-print_certs",
            ],
        );
        let certs = Certificate::load_pem_chain(&pem).unwrap();
        assert!(certs.contains(&issued), "{}", provider.name());
        // Same cipher as the request (AES-256), as openssl reads it.
        let dump = testkit::openssl(d, &["asn1parse", "-inform", "DER", "-in", "env.der"]);
        assert!(String::from_utf8(dump).unwrap().contains(":aes-256-cbc"));
    }
}

/// The NDES CertRep carries no certificates: it verifies only with the RA certificate from
/// GetCACert.
#[test]
fn ndes_reply_verifies_with_its_ra_certificate() {
    let m = PkiMessage::parse(&vector(
        "scep/smallstep-scep/testdata/testca2/CertRep_NoCertificatesForSigners.der",
    ))
    .unwrap();
    assert_eq!(m.attributes().pki_status, Some(PkiStatus::Success));
    assert_eq!(
        m.envelope().unwrap().content_cipher(),
        ContentCipher::Aes128Cbc
    );
    let ra = Certificate::load_pem_chain(&vector("scep/smallstep-scep/testdata/testca2/ca2.pem"))
        .unwrap();
    for provider in providers() {
        let policy = pki::verify::Policy::allowing_sha1();
        assert!(matches!(
            m.signed_data()
                .verify(provider, &VerifyOptions::new(policy)),
            Err(pki::Error::NotFound(_))
        ));
        let v = m
            .signed_data()
            .verify(
                provider,
                &VerifyOptions::new(policy).with_extra_certificates(&ra),
            )
            .unwrap();
        assert_eq!(v.signers()[0].certificate(), Some(&ra[0]));
    }
}

/// jscep's RFC 8894 samples, at every layer: CSR, envelope, signed request; degenerate,
/// envelope, signed reply. Each layer is the content of the next.
#[test]
fn jscep_samples_at_every_layer() {
    let s = |n: &str| vector(&format!("scep/jscep/src/samples/{n}"));
    for provider in providers() {
        // jscep's sample keys are 1536-bit RSA.
        let policy = pki::verify::Policy::default().with_min_rsa_bits(1024);
        let csr = CertificationRequest::verify(provider, &policy, &s("scep_req0.der")).unwrap();
        assert_eq!(csr.challenge_password(), Some("NQ3C6-GS3ZN-2XPGL-SEJTQ"));
        // The subject as the dumpasn1 text beside the sample shows it.
        assert_eq!(
            csr.subject().to_string(),
            "CN=Test SCEP PKI user,OU=Procurement,O=Dave's Wetaburgers,C=NZ"
        );
        let env = EnvelopedData::from_der(&s("scep_req1.der")).unwrap();
        assert_eq!(env.content_cipher(), ContentCipher::Aes128Cbc);
        let req = PkiMessage::parse(&s("scep_req2.der")).unwrap();
        assert_eq!(req.signed_data().content(), Some(&s("scep_req1.der")[..]));
        let v = req
            .signed_data()
            .verify(provider, &VerifyOptions::new(policy))
            .unwrap();
        assert_eq!(v.signers()[0].digest_algorithm(), HashAlg::Sha256);

        let degenerate = SignedData::from_der(&s("scep_resp0.der")).unwrap();
        assert!(degenerate.is_degenerate());
        assert!(!degenerate.certificates().is_empty());
        let env = EnvelopedData::from_der(&s("scep_resp1.der")).unwrap();
        assert_eq!(env.content_cipher(), ContentCipher::Aes128Cbc);
        let rep = PkiMessage::parse(&s("scep_resp2.der")).unwrap();
        assert_eq!(rep.message_type(), MessageType::CertRep);
        assert_eq!(rep.attributes().pki_status, Some(PkiStatus::Success));
        assert_eq!(rep.signed_data().content(), Some(&s("scep_resp1.der")[..]));
        rep.signed_data()
            .verify(provider, &VerifyOptions::new(policy))
            .unwrap();
    }
}

/// micromdm scepserver's CertReps read through our client: SUCCESS (single DES, only with the
/// legacy option), FAILURE badRequest, and the renewal SUCCESS sealed to the old certificate.
#[test]
fn scepserver_cert_reps_through_our_client() {
    let ca = CaCerts::from_body(
        "application/x-x509-ca-cert",
        &vector(&format!("{CM}/getcacert.der")),
    )
    .unwrap();
    let caps = scep::Capabilities::parse(&vector(&format!("{CM}/getcacaps.txt")));
    let signer_cert = cert_pem(&format!("{CM}/peer-openssl-pkcsreq.signer.pem"));
    let issued = cert_pem(&format!("{CM}/peer-openssl-pkcsreq.issued.pem"));
    for provider in providers() {
        let client = Client::new(provider, caps.clone(), ca.clone());
        let k = key(provider, &format!("{CM}/peer-openssl-pkcsreq.key.pem"));
        let id = Identity {
            signer: &*k,
            decrypter: &*k,
            certificate: &signer_cert,
        };
        let tx =
            Transaction::from_message(&vector(&format!("{CM}/peer-openssl-pkcsreq.der"))).unwrap();
        let body = vector(&format!("{CM}/scepserver-certrep-success-des.der"));
        let err = client
            .read_cert_rep(&tx, id, &body, &CertRepOptions::default(), &mut rng(1))
            .unwrap_err();
        assert!(
            matches!(err, Error::Pki(pki::Error::AlgorithmNotAllowed { .. })),
            "{err}"
        );
        let out = client
            .read_cert_rep(
                &tx,
                id,
                &body,
                &CertRepOptions::default().allowing_single_des(true),
                &mut rng(1),
            )
            .unwrap();
        assert_eq!(out.certificate_for(k.spki()), Some(&issued));

        let tx = Transaction::from_message(&vector(&format!(
            "{CM}/peer-openssl-pkcsreq-badchallenge.der"
        )))
        .unwrap();
        let out = client
            .read_cert_rep(
                &tx,
                id,
                &vector(&format!("{CM}/scepserver-certrep-failure-badrequest.der")),
                &CertRepOptions::default(),
                &mut rng(1),
            )
            .unwrap();
        assert!(matches!(
            out,
            CertRepOutcome::Failure {
                fail_info: FailInfo::BadRequest,
                ..
            }
        ));
        // The same reply does not answer another transaction.
        let other =
            Transaction::from_message(&vector(&format!("{CM}/peer-openssl-pkcsreq.der"))).unwrap();
        assert!(matches!(
            client.read_cert_rep(
                &other,
                id,
                &vector(&format!("{CM}/scepserver-certrep-failure-badrequest.der")),
                &CertRepOptions::default(),
                &mut rng(1)
            ),
            Err(Error::NotOurTransaction(_))
        ));

        let renew_id = Identity {
            signer: &*k,
            decrypter: &*k,
            certificate: &issued,
        };
        let tx = Transaction::from_message(&vector(&format!("{CM}/peer-openssl-renewalreq.der")))
            .unwrap();
        assert_eq!(tx.message_type(), MessageType::RenewalReq);
        let out = client
            .read_cert_rep(
                &tx,
                renew_id,
                &vector(&format!("{CM}/scepserver-certrep-renewal-success-des.der")),
                &CertRepOptions::default().allowing_single_des(true),
                &mut rng(1),
            )
            .unwrap();
        let new_key = key(provider, &format!("{CM}/peer-openssl-renewalreq.key.pem"));
        assert!(out.certificate_for(new_key.spki()).is_some());
    }
}

/// The smallstep (micromdm) CertRep: SHA-1, single DES; structure and signature check.
#[test]
fn smallstep_cert_rep_verifies() {
    let m = PkiMessage::parse(&vector("scep/smallstep-scep/testdata/CertRep.der")).unwrap();
    assert_eq!(
        m.envelope().unwrap().content_cipher(),
        ContentCipher::DesCbc
    );
    for provider in providers() {
        m.signed_data()
            .verify(
                provider,
                &VerifyOptions::new(pki::verify::Policy::allowing_sha1()),
            )
            .unwrap();
    }
}

#[test]
fn certificate_unused_import_guard() {
    // Certificate::from_der of a CSR is an error (keeps the Decode import honest).
    assert!(Certificate::from_der(&vector("scep/jscep/src/samples/scep_req0.der")).is_err());
}
