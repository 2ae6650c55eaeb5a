//! In-memory flows: our client against our responder, no sockets, a fixed `now`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{CM, days, key, now, providers};
use pki::alg::KeyTransport;
use pki::cert::issue::{self, Template};
use pki::key::{Decrypter, PrivateKey, Signer};
use pki::provider::CryptoProvider;
use pki::x509_cert::Certificate;
use scep::challenge::{
    ChallengePolicy, MemoryOneTimeStore, OneTimeChallenge, OneTimeStore, StaticChallenge,
};
use scep::issuance::{Decision, IssuedRecord, Records, TransactionRecord};
use scep::message::{FailInfo, TransactionId};
use scep::{
    CaCerts, Capabilities, CertRepOptions, CertRepOutcome, Client, Identity, Incoming, RequestBody,
    Responder, Transaction, VerifiedRequest, http,
};
use testkit::rng;

struct Ca {
    cert: Certificate,
    key: Arc<dyn PrivateKey>,
}

fn name(s: &str) -> pki::x509_cert::name::Name {
    s.parse().unwrap()
}

fn ca(provider: &'static dyn CryptoProvider, key_file: &str, cn: &str) -> Ca {
    let key = key(provider, &format!("{CM}/{key_file}"));
    let cert = issue::self_signed_ca(
        provider,
        &*key,
        name(cn),
        now() - days(365),
        now() + days(3650),
        None,
        &mut rng(1),
    )
    .unwrap();
    Ca { cert, key }
}

/// An end-entity certificate for `key`, issued by `by` (self-signed when `None`).
fn ee(
    provider: &dyn CryptoProvider,
    key: &dyn PrivateKey,
    by: Option<&Ca>,
    cn: &str,
    from: std::time::SystemTime,
    to: std::time::SystemTime,
) -> Certificate {
    let t = Template::end_entity(from, to).with_subject(name(cn));
    match by {
        Some(ca) => issue::issue(
            provider,
            &*ca.key,
            Some(&ca.cert),
            key.spki(),
            &t,
            &mut rng(2),
        ),
        None => issue::issue(provider, key, None, key.spki(), &t, &mut rng(2)),
    }
    .unwrap()
}

struct Setup {
    provider: &'static dyn CryptoProvider,
    ca: Ca,
    responder: Responder,
    client: Client,
    /// transactionID → what the "server" recorded.
    log: Mutex<HashMap<TransactionId, TransactionRecord>>,
    /// One-time challenges the "server" holds.
    otp: MemoryOneTimeStore,
    /// Serials of certificates the "server" issued over SCEP, and whether each is revoked.
    issued: Mutex<HashMap<Vec<u8>, bool>>,
}

fn setup(provider: &'static dyn CryptoProvider, challenge: Arc<dyn ChallengePolicy>) -> Setup {
    let ca = ca(provider, "ca.key.pem", "CN=flow CA");
    // A separate RA identity (RSA-2048) for both signing and decryption.
    let ra_key = key(provider, &format!("{CM}/certmonger-key2-after-rekey.pem"));
    let ra_cert = ee(
        provider,
        &*ra_key,
        Some(&ca),
        "CN=flow RA",
        now() - days(1),
        now() + days(365),
    );
    let signer: Arc<dyn Signer> = ra_key.clone();
    let decrypter: Arc<dyn Decrypter> = ra_key;
    let responder = Responder::new(
        provider,
        std::slice::from_ref(&ca.cert),
        (signer, ra_cert.clone()),
        (decrypter, ra_cert),
        challenge,
    )
    .unwrap();
    // The client learns the server through GetCACaps and GetCACert.
    let get = |op: &str| {
        let req = http::Request::get(format!("/scep?operation={op}"))
            .body(Vec::new())
            .unwrap();
        match responder.handle(&req, now(), &mut rng(3)) {
            Incoming::Answer(r) => r,
            other => panic!("{op}: {other:?}"),
        }
    };
    let caps = Capabilities::parse(get("GetCACaps").body());
    let ca_certs = CaCerts::from_response(&get("GetCACert")).unwrap();
    assert_eq!(ca_certs.certificates().len(), 2);
    let client = Client::new(provider, caps, ca_certs);
    Setup {
        provider,
        ca,
        responder,
        client,
        log: Mutex::new(HashMap::new()),
        otp: MemoryOneTimeStore::default(),
        issued: Mutex::new(HashMap::new()),
    }
}

enum Step {
    Request(Box<VerifiedRequest>),
    Answered(http::Response<Vec<u8>>),
}

impl Setup {
    /// Send `tx` over HTTP (POST) to the responder.
    fn send(&self, tx: &Transaction, seed: u64) -> Step {
        let base: http::Uri = "http://127.0.0.1/scep".parse().unwrap();
        let req = tx.to_request(&base, self.client_posts()).unwrap();
        self.send_http(&req, seed)
    }

    fn client_posts(&self) -> bool {
        self.responder.capabilities().post()
    }

    /// What an embedding server does: verify, read the records, decide, and for an issuance
    /// commit its conditions (the certificate itself is left to the test). CertPolls are left
    /// to the test too.
    fn send_http(&self, req: &http::Request<Vec<u8>>, seed: u64) -> Step {
        let r = match self.responder.handle(req, now(), &mut rng(seed)) {
            Incoming::Request(r) => r,
            Incoming::Refused { response, .. } => return Step::Answered(response),
            Incoming::Answer(r) => return Step::Answered(r),
        };
        if r.certification_request().is_none() {
            return Step::Request(r);
        }
        let records = Records {
            approved: false,
            transaction: self.log.lock().unwrap().get(r.transaction_id()).cloned(),
            signer: r.signer().issued_serial().and_then(|serial| {
                self.issued
                    .lock()
                    .unwrap()
                    .get(&serial)
                    .map(|&revoked| IssuedRecord {
                        for_scep: true,
                        revoked,
                    })
            }),
        };
        let fail = |e: &scep::Error| {
            Step::Answered(
                self.responder
                    .failure(&r, e.fail_info(), Some(&e.to_string()), &mut rng(seed))
                    .unwrap(),
            )
        };
        match self.responder.decide(&r, &records, now()) {
            Decision::Refuse(e) => fail(&e),
            Decision::Resend { .. } => Step::Request(r),
            Decision::Issue(iss) => {
                if let Some(c) = &iss.conditions.consume_challenge
                    && !self.otp.consume(c)
                {
                    return fail(&scep::Error::ChallengeRefused);
                }
                self.log.lock().unwrap().insert(
                    r.transaction_id().clone(),
                    TransactionRecord {
                        key_sha256: r.key_fingerprint(),
                        signer_cert_sha256: Some(r.signer_cert_fingerprint()),
                        issued_serial: None,
                    },
                );
                Step::Request(r)
            }
            other => panic!("{other:?}"),
        }
    }

    fn issue(&self, req: &VerifiedRequest) -> Certificate {
        let csr = req.certification_request().unwrap();
        let t = Template::end_entity(now(), now() + days(30));
        issue::issue(
            self.provider,
            &*self.ca.key,
            Some(&self.ca.cert),
            csr.public_key(),
            &t.with_subject(csr.subject().clone()),
            &mut rng(4),
        )
        .unwrap()
    }

    fn read(
        &self,
        tx: &Transaction,
        id: Identity<'_>,
        resp: &http::Response<Vec<u8>>,
    ) -> CertRepOutcome {
        assert_eq!(
            resp.status(),
            200,
            "{}",
            String::from_utf8_lossy(resp.body())
        );
        assert_eq!(resp.headers()["content-type"], "application/x-pki-message");
        self.client
            .read_cert_rep(tx, id, resp.body(), &CertRepOptions::default(), &mut rng(5))
            .unwrap()
    }
}

fn csr(key: &dyn PrivateKey, cn: &str, challenge: Option<&str>) -> Vec<u8> {
    let mut b = pki::cert::csr::CsrBuilder::new(name(cn));
    if let Some(c) = challenge {
        b = b.with_challenge_password(c);
    }
    b.build(key, &mut rng(6)).unwrap()
}

struct Device {
    key: Arc<dyn PrivateKey>,
    cert: Certificate,
}

impl Device {
    fn new(provider: &dyn CryptoProvider, key_file: &str) -> Self {
        let key = key(provider, &format!("{CM}/{key_file}"));
        let cert = ee(
            provider,
            &*key,
            None,
            "CN=device",
            now() - days(1),
            now() + days(1),
        );
        Device { key, cert }
    }
    fn id(&self) -> Identity<'_> {
        Identity {
            signer: &*self.key,
            decrypter: &*self.key,
            certificate: &self.cert,
        }
    }
}

fn expect_failure(s: &Setup, tx: &Transaction, id: Identity<'_>, step: Step, want: FailInfo) {
    let resp = match step {
        Step::Answered(r) => r,
        Step::Request(r) => panic!("accepted: {r:?}"),
    };
    match s.read(tx, id, &resp) {
        CertRepOutcome::Failure { fail_info, text } => {
            assert_eq!(fail_info, want, "{text:?}");
            assert!(text.is_some());
        }
        other => panic!("expected FAILURE, got {other:?}"),
    }
}

#[test]
fn enrollment_success() {
    for provider in providers() {
        let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
        let dev = Device::new(provider, "certmonger-key1.pem");
        let tx = s
            .client
            .pkcs_req(
                dev.id(),
                &csr(&*dev.key, "CN=device", Some("s3cret")),
                None,
                &mut rng(7),
            )
            .unwrap();
        let Step::Request(req) = s.send(&tx, 8) else {
            panic!("refused")
        };
        assert!(matches!(req.body(), RequestBody::PkcsReq(_)));
        assert!(!req.is_renewal());
        let issued = s.issue(&req);
        let resp = s
            .responder
            .success(&req, &[issued.clone(), s.ca.cert.clone()], &mut rng(9))
            .unwrap();
        let out = s.read(&tx, dev.id(), &resp);
        assert_eq!(out.certificate_for(dev.key.spki()), Some(&issued));
        // A CertRep for another transaction's nonce is refused by the client.
        let tx2 = s
            .client
            .pkcs_req(
                dev.id(),
                &csr(&*dev.key, "CN=device", Some("s3cret")),
                None,
                &mut rng(10),
            )
            .unwrap();
        assert!(
            s.client
                .read_cert_rep(
                    &tx2,
                    dev.id(),
                    resp.body(),
                    &CertRepOptions::default(),
                    &mut rng(1)
                )
                .is_err()
        );
    }
}

#[test]
fn pending_then_poll_then_success() {
    for provider in providers() {
        let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
        let dev = Device::new(provider, "certmonger-key1.pem");
        let tx = s
            .client
            .pkcs_req(
                dev.id(),
                &csr(&*dev.key, "CN=device", Some("s3cret")),
                None,
                &mut rng(11),
            )
            .unwrap();
        let Step::Request(req) = s.send(&tx, 12) else {
            panic!("refused")
        };
        let resp = s.responder.pending(&req, &mut rng(13)).unwrap();
        assert_eq!(s.read(&tx, dev.id(), &resp), CertRepOutcome::Pending);
        let issued = s.issue(&req);

        let poll = s
            .client
            .cert_poll(
                dev.id(),
                s.ca.cert.tbs_certificate().subject(),
                &name("CN=device"),
                tx.transaction_id().clone(),
                &mut rng(14),
            )
            .unwrap();
        let Step::Request(p) = s.send(&poll, 15) else {
            panic!("poll refused")
        };
        match p.body() {
            RequestBody::CertPoll { subject, .. } => assert_eq!(subject, &name("CN=device")),
            other => panic!("{other:?}"),
        }
        assert_eq!(p.transaction_id(), tx.transaction_id());
        let resp = s
            .responder
            .success(&p, std::slice::from_ref(&issued), &mut rng(16))
            .unwrap();
        assert_eq!(
            s.read(&poll, dev.id(), &resp)
                .certificate_for(dev.key.spki()),
            Some(&issued)
        );
    }
}

#[test]
fn bad_challenge_is_bad_request() {
    for provider in providers() {
        let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
        let dev = Device::new(provider, "certmonger-key1.pem");
        for ch in [Some("wrong"), None] {
            let tx = s
                .client
                .pkcs_req(
                    dev.id(),
                    &csr(&*dev.key, "CN=device", ch),
                    None,
                    &mut rng(17),
                )
                .unwrap();
            let step = s.send(&tx, 18);
            expect_failure(&s, &tx, dev.id(), step, FailInfo::BadRequest);
        }
    }
}

#[test]
fn one_time_challenge_used_twice_is_refused() {
    for provider in providers() {
        let s = setup(provider, Arc::new(OneTimeChallenge));
        s.otp.insert("otp-1");
        let a = Device::new(provider, "certmonger-key1.pem");
        let b = Device::new(provider, "peer-openssl-pkcsreq.key.pem");
        let tx = s
            .client
            .pkcs_req(
                a.id(),
                &csr(&*a.key, "CN=a", Some("otp-1")),
                None,
                &mut rng(19),
            )
            .unwrap();
        assert!(matches!(s.send(&tx, 20), Step::Request(_)));
        let tx = s
            .client
            .pkcs_req(
                b.id(),
                &csr(&*b.key, "CN=b", Some("otp-1")),
                None,
                &mut rng(21),
            )
            .unwrap();
        let step = s.send(&tx, 22);
        expect_failure(&s, &tx, b.id(), step, FailInfo::BadRequest);
    }
}

fn ident<'a>(k: &'a dyn PrivateKey, cert: &'a Certificate) -> Identity<'a> {
    Identity {
        signer: k,
        decrypter: k,
        certificate: cert,
    }
}

fn serial_of(c: &Certificate) -> Vec<u8> {
    c.tbs_certificate().serial_number().as_bytes().to_vec()
}

/// The abuse the issuance policy exists for: a certificate from our CA is not a licence to mint
/// more. Only a live certificate we issued over SCEP, asking for its own names, inside the
/// renewal window, renews without a challenge.
#[test]
fn renewal_needs_a_live_scep_certificate_inside_the_window() {
    for provider in providers() {
        let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
        let k = key(provider, &format!("{CM}/certmonger-key1.pem"));
        let same = csr(&*k, "CN=device", None);
        let renew = |cert: &Certificate, csr: &[u8], seed: u64| {
            let tx = s
                .client
                .renewal_req(ident(&*k, cert), csr, None, &mut rng(seed))
                .unwrap();
            (tx.clone(), s.send(&tx, seed + 1))
        };
        let inside = ee(
            provider,
            &*k,
            Some(&s.ca),
            "CN=device",
            now() - days(300),
            now() + days(10),
        );

        // Issued by our CA but not over SCEP (as the RA's or the TLS certificate are): refused.
        let (tx, step) = renew(&inside, &same, 30);
        expect_failure(&s, &tx, ident(&*k, &inside), step, FailInfo::BadRequest);

        // Recorded as issued over SCEP, inside the last 14 days, same subject: a renewal.
        s.issued.lock().unwrap().insert(serial_of(&inside), false);
        let (_, step) = renew(&inside, &same, 32);
        let Step::Request(req) = step else {
            panic!("renewal refused")
        };
        assert!(req.is_renewal() && req.signer().is_issued_by_us());
        let records = Records {
            approved: false,
            transaction: None,
            signer: Some(IssuedRecord {
                for_scep: true,
                revoked: false,
            }),
        };
        match s.responder.decide(&req, &records, now()) {
            Decision::Issue(iss) => {
                assert_eq!(iss.admission, scep::issuance::Admission::Renewal);
                assert_eq!(iss.conditions.signer_unrevoked, Some(serial_of(&inside)));
                assert!(iss.conditions.consume_challenge.is_none());
                assert_eq!(iss.template.subject, Some(name("CN=device")));
                assert_eq!(
                    iss.template.ext_key_usage,
                    vec![scep::issuance::CLIENT_AUTH]
                );
            }
            other => panic!("{other:?}"),
        }

        // The same certificate asking for another name: refused; with the challenge it is a new
        // enrollment like any other.
        let other_name = csr(&*k, "CN=someone else", None);
        let (tx, step) = renew(&inside, &other_name, 34);
        expect_failure(&s, &tx, ident(&*k, &inside), step, FailInfo::BadRequest);
        let with_challenge = csr(&*k, "CN=someone else", Some("s3cret"));
        let (_, step) = renew(&inside, &with_challenge, 36);
        assert!(matches!(step, Step::Request(_)));

        // Before the window opens: refused.
        let early = ee(
            provider,
            &*k,
            Some(&s.ca),
            "CN=device",
            now() - days(1),
            now() + days(30),
        );
        s.issued.lock().unwrap().insert(serial_of(&early), false);
        let (tx, step) = renew(&early, &same, 38);
        expect_failure(&s, &tx, ident(&*k, &early), step, FailInfo::BadRequest);

        // Revoked: refused.
        s.issued.lock().unwrap().insert(serial_of(&inside), true);
        let (tx, step) = renew(&inside, &same, 40);
        expect_failure(&s, &tx, ident(&*k, &inside), step, FailInfo::BadRequest);

        // Expired, from another CA, or self-signed: refused.
        let expired = ee(
            provider,
            &*k,
            Some(&s.ca),
            "CN=device",
            now() - days(20),
            now() - days(1),
        );
        s.issued.lock().unwrap().insert(serial_of(&expired), false);
        let other = ca(provider, "peer-openssl-renewalreq.key.pem", "CN=other CA");
        let foreign = ee(
            provider,
            &*k,
            Some(&other),
            "CN=device",
            now() - days(1),
            now() + days(1),
        );
        let own = ee(
            provider,
            &*k,
            None,
            "CN=device",
            now() - days(1),
            now() + days(1),
        );
        for (cert, seed) in [(&expired, 42), (&foreign, 44), (&own, 46)] {
            let (tx, step) = renew(cert, &same, seed);
            expect_failure(&s, &tx, ident(&*k, cert), step, FailInfo::BadRequest);
        }
    }
}

/// A resend of an issued transaction is answered from the records, and a renewal window of zero
/// accepts renewals at any time.
#[test]
fn resend_and_window_zero() {
    let provider = providers()[0];
    let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
    let s = Setup {
        responder: s.responder.with_issuance(
            scep::IssuancePolicy::default().with_renewal_window(std::time::Duration::ZERO),
        ),
        ..s
    };
    let k = key(provider, &format!("{CM}/certmonger-key1.pem"));
    let early = ee(
        provider,
        &*k,
        Some(&s.ca),
        "CN=device",
        now() - days(1),
        now() + days(300),
    );
    s.issued.lock().unwrap().insert(serial_of(&early), false);
    let id = Identity {
        signer: &*k,
        decrypter: &*k,
        certificate: &early,
    };
    let tx = s
        .client
        .renewal_req(id, &csr(&*k, "CN=device", None), None, &mut rng(50))
        .unwrap();
    let Step::Request(req) = s.send(&tx, 51) else {
        panic!("renewal with window 0 refused")
    };
    let signer = Some(IssuedRecord {
        for_scep: true,
        revoked: false,
    });
    // Recorded as issued in this transaction by this very request (same key, same signer): a
    // resend, answered with that certificate.
    let records = Records {
        approved: false,
        transaction: Some(TransactionRecord {
            key_sha256: req.key_fingerprint(),
            signer_cert_sha256: Some(req.signer_cert_fingerprint()),
            issued_serial: Some(vec![1, 2, 3]),
        }),
        signer,
    };
    match s.responder.decide(&req, &records, now()) {
        Decision::Resend { serial } => assert_eq!(serial, vec![1, 2, 3]),
        other => panic!("{other:?}"),
    }
    // The same transaction and key, but the earlier issuance was signed by another
    // certificate (the self-signed one of the first enrollment): this is a renewal, and the
    // commit must find the record's serial unchanged.
    let records = Records {
        approved: false,
        transaction: Some(TransactionRecord {
            key_sha256: req.key_fingerprint(),
            signer_cert_sha256: Some([0; 32]),
            issued_serial: Some(vec![1, 2, 3]),
        }),
        signer,
    };
    match s.responder.decide(&req, &records, now()) {
        Decision::Issue(iss) => {
            assert_eq!(
                iss.conditions.transaction.issued_serial,
                Some(vec![1, 2, 3])
            );
            assert_eq!(
                iss.conditions.transaction.signer_cert_sha256,
                req.signer_cert_fingerprint()
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tampered_signature_is_bad_message_check() {
    for provider in providers() {
        let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
        let dev = Device::new(provider, "certmonger-key1.pem");
        let tx = s
            .client
            .pkcs_req(
                dev.id(),
                &csr(&*dev.key, "CN=device", Some("s3cret")),
                None,
                &mut rng(40),
            )
            .unwrap();
        let mut bytes = tx.message().to_vec();
        // The signature is the last element of the message.
        let n = bytes.len();
        bytes[n - 5] ^= 0x40;
        let tampered = Transaction::from_message(&bytes).unwrap();
        let step = s.send(&tampered, 41);
        expect_failure(&s, &tx, dev.id(), step, FailInfo::BadMessageCheck);
    }
}

#[test]
fn replayed_transaction_id_with_another_key_is_refused() {
    for provider in providers() {
        let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
        let a = Device::new(provider, "certmonger-key1.pem");
        let b = Device::new(provider, "peer-openssl-pkcsreq.key.pem");
        let id = TransactionId("shared-id".into());
        let tx = s
            .client
            .pkcs_req(
                a.id(),
                &csr(&*a.key, "CN=a", Some("s3cret")),
                Some(id.clone()),
                &mut rng(42),
            )
            .unwrap();
        assert!(matches!(s.send(&tx, 43), Step::Request(_)));
        // The same device may send it again (a retry).
        assert!(matches!(s.send(&tx, 44), Step::Request(_)));
        let tx = s
            .client
            .pkcs_req(
                b.id(),
                &csr(&*b.key, "CN=b", Some("s3cret")),
                Some(id),
                &mut rng(45),
            )
            .unwrap();
        let step = s.send(&tx, 46);
        expect_failure(&s, &tx, b.id(), step, FailInfo::BadRequest);
    }
}

#[test]
fn bad_bytes_get_4xx() {
    let provider = providers()[0];
    let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
    let dev = Device::new(provider, "certmonger-key1.pem");
    let tx = s
        .client
        .pkcs_req(
            dev.id(),
            &csr(&*dev.key, "CN=device", Some("s3cret")),
            None,
            &mut rng(47),
        )
        .unwrap();
    let post = |body: Vec<u8>| {
        http::Request::post("/scep?operation=PKIOperation")
            .header("content-type", "application/x-pki-message")
            .body(body)
            .unwrap()
    };
    let status = |body: Vec<u8>| match s.send_http(&post(body), 48) {
        Step::Answered(r) => r.status().as_u16(),
        Step::Request(_) => 0,
    };
    let msg = tx.message().to_vec();
    assert_eq!(status(msg[..msg.len() / 2].to_vec()), 400);
    let mut trailing = msg.clone();
    trailing.extend([0x05, 0x00]);
    assert_eq!(status(trailing), 400);
    // The same message in BER (indefinite outer length) with trailing data.
    let mut ber = vec![0x30, 0x80];
    let hdr = if msg[1] & 0x80 != 0 {
        2 + usize::from(msg[1] & 0x7f)
    } else {
        2
    };
    ber.extend(&msg[hdr..]);
    ber.extend([0, 0]);
    assert!(
        matches!(s.send_http(&post(ber.clone()), 49), Step::Request(_)),
        "BER is accepted"
    );
    ber.extend([0x04, 0x00]);
    assert_eq!(status(ber), 400);
    assert_eq!(status(vec![0x30; 300 * 1024]), 413);
    // A GET with the message base64-encoded is accepted like the POST.
    let base: http::Uri = "http://127.0.0.1/scep".parse().unwrap();
    assert!(matches!(
        s.send_http(&tx.to_request(&base, false).unwrap(), 51),
        Step::Request(_)
    ));
}

/// Requests whose envelopes come from `openssl cms -encrypt`: single DES gets badAlg; RSA-OAEP
/// key transport is answered, and openssl verifies and opens the CertRep.
#[test]
fn openssl_envelopes_single_des_and_oaep() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for provider in providers() {
        let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
        let ra = s.client_ra_pem(d);
        let key_pem = testkit::vector_file(&format!("{CM}/peer-openssl-pkcsreq.key.pem"));
        let kp = key_pem.to_str().unwrap();
        std::fs::write(
            d.join("req.cnf"),
            "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n\
             [dn]\nCN = openssl device\n[attrs]\nchallengePassword = s3cret\n",
        )
        .unwrap();
        testkit::openssl(
            d,
            &[
                "req", "-new", "-key", kp, "-config", "req.cnf", "-outform", "DER", "-out",
                "csr.der",
            ],
        );
        testkit::openssl(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                kp,
                "-subj",
                "/CN=openssl device",
                "-days",
                "3650",
                "-out",
                "self.pem",
            ],
        );
        let self_cert = common::cert_from_file(&d.join("self.pem"));
        let k = key(provider, &format!("{CM}/peer-openssl-pkcsreq.key.pem"));
        let id = Identity {
            signer: &*k,
            decrypter: &*k,
            certificate: &self_cert,
        };

        for (args, want) in [
            (
                vec!["-des", "-provider", "legacy", "-provider", "default"],
                Some(FailInfo::BadAlg),
            ),
            (
                vec!["-aes-256-cbc", "-keyopt", "rsa_padding_mode:oaep"],
                None,
            ),
        ] {
            let mut a = vec![
                "cms",
                "-encrypt",
                "-binary",
                "-in",
                "csr.der",
                "-outform",
                "DER",
                "-out",
                "env.der",
                "-recip",
                ra.to_str().unwrap(),
            ];
            a.extend(args.iter().copied());
            testkit::openssl(d, &a);
            let env = std::fs::read(d.join("env.der")).unwrap();
            let tx = sign_request(provider, &*k, &self_cert, &env);
            let step = s.send(&tx, 52);
            match want {
                Some(fail) => expect_failure(&s, &tx, id, step, fail),
                None => {
                    let Step::Request(req) = step else {
                        panic!("OAEP request refused")
                    };
                    let issued = s.issue(&req);
                    let resp = s
                        .responder
                        .success(&req, std::slice::from_ref(&issued), &mut rng(53))
                        .unwrap();
                    assert_eq!(
                        s.read(&tx, id, &resp).certificate_for(k.spki()),
                        Some(&issued)
                    );
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
                            "repenv.der",
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
                            "repenv.der",
                            "-inkey",
                            kp,
                            "-recip",
                            "self.pem",
                            "-out",
                            "deg.der",
                        ],
                    );
                    let pem = testkit::openssl(
                        d,
                        &["pkcs7", "-inform", "DER", "-in", "deg.der", "-print_certs"],
                    );
                    assert_eq!(Certificate::load_pem_chain(&pem).unwrap(), vec![issued]);
                }
            }
        }
    }
}

/// Sign an openssl-made envelope as a PKCSReq with our SignedData builder and SCEP attributes.
fn sign_request(
    provider: &dyn CryptoProvider,
    key: &dyn PrivateKey,
    cert: &Certificate,
    env: &[u8],
) -> Transaction {
    let attrs = scep::attributes::ScepAttributes {
        message_type: scep::MessageType::PkcsReq,
        transaction_id: TransactionId("openssl-1".into()),
        sender_nonce: Some(scep::Nonce::from_array([9; 16])),
        recipient_nonce: None,
        pki_status: None,
        fail_info: None,
        fail_info_text: None,
    };
    let mut si = pki::cms::SignerInfoBuilder::new(
        key,
        cert,
        pki::alg::SignatureScheme::RsaPkcs1v15(pki::alg::HashAlg::Sha256),
    );
    for a in attrs.to_attributes().unwrap() {
        si = si.signed_attribute(a);
    }
    let der = pki::cms::SignedDataBuilder::new(pki::alg::oid::DATA, env)
        .certificate(cert.clone())
        .signer(si)
        .build(provider, &mut rng(54))
        .unwrap();
    Transaction::from_message(&der).unwrap()
}

impl Setup {
    /// The RA certificate the client encrypts to, written as PEM for openssl.
    fn client_ra_pem(&self, d: &std::path::Path) -> std::path::PathBuf {
        use pki::der::EncodePem;
        let ra = self.ca_certs_recipient();
        let p = d.join("ra.pem");
        std::fs::write(&p, ra.to_pem(pki::der::pem::LineEnding::LF).unwrap()).unwrap();
        p
    }

    fn ca_certs_recipient(&self) -> Certificate {
        let req = http::Request::get("/scep?operation=GetCACert")
            .body(Vec::new())
            .unwrap();
        let Incoming::Answer(r) = self.responder.handle(&req, now(), &mut rng(3)) else {
            panic!()
        };
        CaCerts::from_response(&r)
            .unwrap()
            .recipient()
            .unwrap()
            .clone()
    }
}

#[test]
fn oaep_from_our_client() {
    for provider in providers() {
        let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
        let s = Setup {
            client: s.client.with_key_transport(KeyTransport::RsaOaep {
                hash: pki::alg::HashAlg::Sha256,
                mgf_hash: pki::alg::HashAlg::Sha256,
            }),
            ..s
        };
        let dev = Device::new(provider, "certmonger-key1.pem");
        let tx = s
            .client
            .pkcs_req(
                dev.id(),
                &csr(&*dev.key, "CN=device", Some("s3cret")),
                None,
                &mut rng(60),
            )
            .unwrap();
        assert!(matches!(s.send(&tx, 61), Step::Request(_)));
    }
}

/// A transactionID over the cap is refused before anything else is looked at (a plain 400),
/// and GetNextCACert is advertised only with a next CA.
#[test]
fn long_transaction_ids_and_next_ca_advertising() {
    let provider = providers()[0];
    let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
    let dev = Device::new(provider, "certmonger-key1.pem");
    let long = TransactionId("7".repeat(scep::attributes::MAX_TRANSACTION_ID + 1));
    let tx = s
        .client
        .pkcs_req(
            dev.id(),
            &csr(&*dev.key, "CN=device", Some("s3cret")),
            Some(long),
            &mut rng(70),
        )
        .unwrap();
    match s.send(&tx, 71) {
        Step::Answered(r) => assert_eq!(r.status(), 400),
        Step::Request(_) => panic!("accepted"),
    }
    let at_cap = TransactionId("7".repeat(scep::attributes::MAX_TRANSACTION_ID));
    let tx = s
        .client
        .pkcs_req(
            dev.id(),
            &csr(&*dev.key, "CN=device", Some("s3cret")),
            Some(at_cap),
            &mut rng(72),
        )
        .unwrap();
    assert!(matches!(s.send(&tx, 73), Step::Request(_)));

    let caps = |r: &Responder| {
        let req = http::Request::get("/scep?operation=GetCACaps")
            .body(Vec::new())
            .unwrap();
        match r.handle(&req, now(), &mut rng(74)) {
            Incoming::Answer(a) => String::from_utf8(a.into_body()).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    assert!(!caps(&s.responder).contains("GetNextCACert"));
    let next = s.responder.with_next_ca_chain(vec![s.ca.cert.clone()]);
    assert!(caps(&next).ends_with("\nGetNextCACert"));
}

/// A request an administrator approved needs no challenge; without the approval the same
/// request is refused.
#[test]
fn approved_requests_need_no_challenge() {
    let provider = providers()[0];
    let s = setup(provider, Arc::new(StaticChallenge::new("s3cret")));
    let dev = Device::new(provider, "certmonger-key1.pem");
    let tx = s
        .client
        .pkcs_req(
            dev.id(),
            &csr(&*dev.key, "CN=held", None),
            None,
            &mut rng(80),
        )
        .unwrap();
    let base: http::Uri = "http://127.0.0.1/scep".parse().unwrap();
    let req = match s
        .responder
        .handle(&tx.to_request(&base, true).unwrap(), now(), &mut rng(81))
    {
        Incoming::Request(r) => r,
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        s.responder.decide(&req, &Records::default(), now()),
        Decision::Refuse(scep::Error::ChallengeRefused)
    ));
    let approved = Records {
        approved: true,
        ..Records::default()
    };
    match s.responder.decide(&req, &approved, now()) {
        Decision::Issue(iss) => {
            assert_eq!(iss.admission, scep::issuance::Admission::Approved);
            assert!(iss.conditions.consume_challenge.is_none());
            assert_eq!(iss.template.subject, Some(name("CN=held")));
        }
        other => panic!("{other:?}"),
    }
}
