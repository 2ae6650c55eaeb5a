//! admitd's `/scep`: the RA identity, GetCACaps/GetCACert over HTTP and HTTPS, enrolment with
//! one-time and static challenges, the conditional-delete race, the replay rule, renewal, an
//! openssl-assembled OAEP request, and `admitd inspect` on SCEP messages.

mod common;
mod scep_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use common::{ADMITD, Admitd, openssl};
use pki::der::Encode;
use pki::x509_cert::Certificate;
use scep::{CertRepOptions, CertRepOutcome, FailInfo, TransactionId, http};
use scep_support::*;
use testkit::rng;

const PATH: &str = "/scep";

fn write_cert(path: &Path, c: &Certificate) {
    std::fs::write(path, pem("CERTIFICATE", &c.to_der().unwrap())).unwrap();
}

fn issued(outcome: &CertRepOutcome, device: &Device) -> Certificate {
    match outcome {
        CertRepOutcome::Success(_) => outcome
            .certificate_for(device.key.spki())
            .expect("the issued certificate holds the device key")
            .clone(),
        other => panic!("expected SUCCESS, got {other:?}"),
    }
}

fn failed(outcome: &CertRepOutcome) -> FailInfo {
    match outcome {
        CertRepOutcome::Failure { fail_info, .. } => *fail_info,
        other => panic!("expected FAILURE, got {other:?}"),
    }
}

/// openssl verifies `cert` up to the data directory's root.
fn openssl_verifies(dir: &Path, data: &Path, cert: &Certificate) {
    write_cert(&dir.join("leaf.pem"), cert);
    let out = openssl(
        dir,
        &[
            "verify",
            "-CAfile",
            data.join("ca/root.pem").to_str().unwrap(),
            "-untrusted",
            data.join("ca/device.pem").to_str().unwrap(),
            "leaf.pem",
        ],
    );
    assert!(out.contains("leaf.pem: OK"), "{out}");
}

/// For each provider: the RA identity on disk, GetCACert over HTTP and HTTPS, enrolment with
/// one-time challenges (POST and GET), challenge reuse, the replay rule, records in SQLite.
#[test]
fn ra_identity_enrolment_and_one_time_challenges() {
    for provider in common::providers() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let data = dir.join("data");
        let server = Admitd::start(&data, &["--crypto-provider", provider]);

        // The RA: RSA-2048, digitalSignature + keyEncipherment, issued by the (ECDSA)
        // device CA; its key is 0600.
        let mode = std::fs::metadata(data.join("scep/ra.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = openssl(
            dir,
            &[
                "x509",
                "-noout",
                "-text",
                "-in",
                data.join("scep/ra.pem").to_str().unwrap(),
            ],
        );
        assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
        assert!(
            text.contains("Digital Signature, Key Encipherment"),
            "{text}"
        );
        assert!(
            text.contains("Issuer: O = admit, CN = admitd Device CA"),
            "{text}"
        );
        let int_text = openssl(
            dir,
            &[
                "x509",
                "-noout",
                "-text",
                "-in",
                data.join("ca/device.pem").to_str().unwrap(),
            ],
        );
        assert!(int_text.contains("id-ecPublicKey"), "{int_text}");
        let ra_out = openssl(
            dir,
            &[
                "verify",
                "-CAfile",
                data.join("ca/root.pem").to_str().unwrap(),
                "-untrusted",
                data.join("ca/device.pem").to_str().unwrap(),
                data.join("scep/ra.pem").to_str().unwrap(),
            ],
        );
        assert!(ra_out.contains(": OK"), "{ra_out}");

        // GetCACert: the RA form, the RA first and the one requests are encrypted to.
        let get = http::Request::get("/scep?operation=GetCACert")
            .body(Vec::new())
            .unwrap();
        let ca = exchange(server.http, &get);
        assert_eq!(
            ca.headers()["content-type"],
            "application/x-x509-ca-ra-cert"
        );
        let certs = scep::CaCerts::from_response(&ca).unwrap();
        let ra_pem = std::fs::read(data.join("scep/ra.pem")).unwrap();
        let ra = Certificate::load_pem_chain(&ra_pem).unwrap().remove(0);
        assert_eq!(certs.certificates().len(), 3);
        assert_eq!(certs.recipient(), Some(&ra));
        // The same over HTTPS, checked by curl against the root.
        let https_out = dir.join("cacert-https.der");
        let (ok, msg) = common::curl(&[
            "--cacert",
            data.join("ca/root.pem").to_str().unwrap(),
            "-o",
            https_out.to_str().unwrap(),
            &format!(
                "https://localhost:{}/scep?operation=GetCACert",
                server.https.port()
            ),
        ]);
        assert!(ok, "{msg}");
        assert_eq!(std::fs::read(&https_out).unwrap(), ca.body().as_slice());
        // openssl reads the degenerate SignedData too.
        std::fs::write(dir.join("cacert.der"), ca.body()).unwrap();
        let printed = openssl(
            dir,
            &[
                "pkcs7",
                "-inform",
                "DER",
                "-in",
                "cacert.der",
                "-print_certs",
                "-noout",
            ],
        );
        assert!(printed.contains("CN = admitd SCEP RA"), "{printed}");

        let client = client(server.http, PATH);
        let c1 = new_challenge(ADMITD, &data);
        let d1 = Device::new("device-1", 1);
        let out = enrol(&client, server.http, PATH, &d1, Some(&c1), true, 10);
        let cert1 = issued(&out, &d1);
        assert_eq!(cert1.tbs_certificate().subject().to_string(), "CN=device-1");
        openssl_verifies(dir, &data, &cert1);

        // The challenge is gone: a second device using it gets FAILURE badRequest.
        let d2 = Device::new("device-2", 2);
        let out = enrol(&client, server.http, PATH, &d2, Some(&c1), true, 20);
        assert_eq!(failed(&out), FailInfo::BadRequest);
        // No challenge, or one never issued: refused too.
        assert_eq!(
            failed(&enrol(&client, server.http, PATH, &d2, None, true, 21)),
            FailInfo::BadRequest
        );
        assert_eq!(
            failed(&enrol(
                &client,
                server.http,
                PATH,
                &d2,
                Some("0123456789abcdef0123456789abcdef"),
                true,
                22
            )),
            FailInfo::BadRequest
        );
        // A fresh challenge over GET (base64 message parameter) works.
        let c2 = new_challenge(ADMITD, &data);
        let cert2 = issued(
            &enrol(&client, server.http, PATH, &d2, Some(&c2), false, 23),
            &d2,
        );
        openssl_verifies(dir, &data, &cert2);

        // Replay rule: device-1's transactionID with device-3's key is refused, even with a
        // valid challenge (which stays unused).
        let d3 = Device::new("device-3", 3);
        let c3 = new_challenge(ADMITD, &data);
        let tx1 = TransactionId(
            client
                .pkcs_req(d1.identity(), &d1.csr(None, 1), None, &mut rng(30))
                .unwrap()
                .transaction_id()
                .as_str()
                .to_owned(),
        );
        let tx = client
            .pkcs_req(
                d3.identity(),
                &d3.csr(Some(&c3), 31),
                Some(tx1),
                &mut rng(31),
            )
            .unwrap();
        let out = send(
            &client,
            server.http,
            PATH,
            &d3,
            &tx,
            true,
            32,
            &CertRepOptions::default(),
        );
        assert_eq!(failed(&out), FailInfo::BadRequest);
        let CertRepOutcome::Failure { text, .. } = &out else {
            unreachable!()
        };
        assert!(
            text.as_deref().unwrap_or("").contains("used before"),
            "{text:?}"
        );
        let cert3 = issued(
            &enrol(&client, server.http, PATH, &d3, Some(&c3), true, 33),
            &d3,
        );
        openssl_verifies(dir, &data, &cert3);

        // Renewal without a challenge: a PKCSReq signed by the year-long certificate just
        // issued is outside the default window (its last 14 days), so it is refused and says so.
        let renewing = Device {
            key: d1.key.clone(),
            cert: cert1.clone(),
            cn: d1.cn.clone(),
        };
        let out = enrol(&client, server.http, PATH, &renewing, None, true, 40);
        assert_eq!(failed(&out), FailInfo::BadRequest);
        let CertRepOutcome::Failure { text, .. } = &out else {
            unreachable!()
        };
        assert!(
            text.as_deref().unwrap_or("").contains("last 14 days"),
            "{text:?}"
        );

        assert_eq!(scep_rows(&data), 3);
        server.stop();
    }
}

/// Several clients race for one challenge through the server: exactly one is issued a
/// certificate, each time.
#[test]
fn concurrent_uses_of_one_challenge_exactly_one_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &[]);
    let client = Arc::new(client(server.http, PATH));
    for round in 0..4u64 {
        // New devices each round: a device that won before would send the same transactionID
        // and key again, which is a resend and gets its first certificate back.
        let devices: Vec<Arc<Device>> = (0..3)
            .map(|i| {
                Arc::new(Device::new(
                    &format!("racer-{round}-{i}"),
                    100 + 10 * round + i,
                ))
            })
            .collect();
        let challenge = new_challenge(ADMITD, &data);
        let barrier = Arc::new(Barrier::new(devices.len()));
        let handles: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let (client, d, barrier, c) = (
                    client.clone(),
                    d.clone(),
                    barrier.clone(),
                    challenge.clone(),
                );
                let addr = server.http;
                std::thread::spawn(move || {
                    let seed = 1000 * round + i as u64;
                    let tx = client
                        .pkcs_req(d.identity(), &d.csr(Some(&c), seed), None, &mut rng(seed))
                        .unwrap();
                    barrier.wait();
                    send(
                        &client,
                        addr,
                        PATH,
                        &d,
                        &tx,
                        true,
                        seed,
                        &CertRepOptions::default(),
                    )
                })
            })
            .collect();
        let outcomes: Vec<CertRepOutcome> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = outcomes
            .iter()
            .filter(|o| matches!(o, CertRepOutcome::Success(_)))
            .count();
        assert_eq!(wins, 1, "round {round}: {outcomes:?}");
        for o in &outcomes {
            if !matches!(o, CertRepOutcome::Success(_)) {
                assert_eq!(failed(o), FailInfo::BadRequest);
            }
        }
    }
    assert_eq!(scep_rows(&data), 4);
    server.stop();
}

/// `scep_challenge` in the config file selects the static policy.
#[test]
fn static_challenge_from_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("admitd.toml");
    std::fs::write(&cfg, "scep_challenge = \"s3cret\"\n").unwrap();
    let server = Admitd::start(&data, &["--config", cfg.to_str().unwrap()]);
    let client = client(server.http, PATH);
    let d = Device::new("static-1", 7);
    issued(
        &enrol(&client, server.http, PATH, &d, Some("s3cret"), true, 1),
        &d,
    );
    // Static means reusable (by another device: the same device and transaction again would
    // be a resend), but only the right one.
    let d2 = Device::new("static-2", 8);
    issued(
        &enrol(&client, server.http, PATH, &d2, Some("s3cret"), true, 2),
        &d2,
    );
    let d3 = Device::new("static-3", 9);
    assert_eq!(
        failed(&enrol(
            &client,
            server.http,
            PATH,
            &d3,
            Some("s3cret "),
            true,
            3
        )),
        FailInfo::BadRequest
    );
    // An empty secret is refused at start.
    std::fs::write(&cfg, "scep_challenge = \"\"\n").unwrap();
    let out = std::process::Command::new(ADMITD)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must not be empty"));
    server.stop();
}

fn write_key(path: &Path, key: &dyn pki::key::PrivateKey) {
    std::fs::write(path, pem("PRIVATE KEY", &key.to_pkcs8_der().unwrap())).unwrap();
}

/// An envelope from `openssl cms -encrypt` with RSA-OAEP key transport and AES-256, signed
/// into a PKCSReq: admitd issues, our client and openssl both read the CertRep.
#[test]
fn openssl_oaep_request_is_answered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let server = Admitd::start(&data, &[]);
    let client = client(server.http, PATH);
    let challenge = new_challenge(ADMITD, &data);
    let d = Device::new("oaep device", 9);
    write_key(&dir.join("dev.key"), &*d.key);
    write_cert(&dir.join("dev.pem"), &d.cert);
    std::fs::write(
        dir.join("req.cnf"),
        format!(
            "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n\
             [dn]\nCN = oaep device\n[attrs]\nchallengePassword = {challenge}\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req", "-new", "-key", "dev.key", "-config", "req.cnf", "-outform", "DER", "-out",
            "csr.der",
        ],
    );
    openssl(
        dir,
        &[
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
            data.join("scep/ra.pem").to_str().unwrap(),
            "-aes-256-cbc",
            "-keyopt",
            "rsa_padding_mode:oaep",
        ],
    );
    let env = std::fs::read(dir.join("env.der")).unwrap();
    // The envelope really is OAEP.
    let parsed = pki::cms::EnvelopedData::from_der(&env).unwrap();
    assert!(matches!(
        parsed.recipients()[0].key_transport().unwrap(),
        pki::alg::KeyTransport::RsaOaep { .. }
    ));
    let sign = |transaction: &str, nonce: u8| {
        let attrs = scep::attributes::ScepAttributes {
            message_type: scep::MessageType::PkcsReq,
            transaction_id: TransactionId(transaction.into()),
            sender_nonce: Some(scep::Nonce::from_array([nonce; 16])),
            recipient_nonce: None,
            pki_status: None,
            fail_info: None,
            fail_info_text: None,
        };
        let mut si = pki::cms::SignerInfoBuilder::new(
            &*d.key,
            &d.cert,
            pki::alg::SignatureScheme::RsaPkcs1v15(pki::alg::HashAlg::Sha256),
        );
        for a in attrs.to_attributes().unwrap() {
            si = si.signed_attribute(a);
        }
        pki::cms::SignedDataBuilder::new(pki::alg::oid::DATA, &env)
            .certificate(d.cert.clone())
            .signer(si)
            .build(client_provider(), &mut rng(5))
            .unwrap()
    };
    let msg = sign("openssl-oaep-1", 7);
    let tx = scep::Transaction::from_message(&msg).unwrap();
    std::fs::write(dir.join("req.der"), &msg).unwrap();
    let rep = exchange(
        server.http,
        &tx.to_request(&scep_uri(server.http, PATH), true).unwrap(),
    );
    assert_eq!(rep.status(), 200);
    std::fs::write(dir.join("rep.der"), rep.body()).unwrap();
    let out = client
        .read_cert_rep(
            &tx,
            d.identity(),
            rep.body(),
            &CertRepOptions::default(),
            &mut rng(6),
        )
        .unwrap();
    let cert = issued(&out, &d);
    assert_eq!(
        cert.tbs_certificate().subject().to_string(),
        "CN=oaep device"
    );
    openssl_verifies(dir, &data, &cert);

    // openssl checks the CertRep's signature up to the root (the RA's chain in a CAfile:
    // the CertRep carries only the RA certificate), opens the envelope with the device key.
    let chain = [
        std::fs::read_to_string(data.join("ca/device.pem")).unwrap(),
        std::fs::read_to_string(data.join("ca/root.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("cas.pem"), chain).unwrap();
    openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "rep.der",
            "-CAfile",
            "cas.pem",
            "-out",
            "env-rep.der",
        ],
    );
    openssl(
        dir,
        &[
            "cms",
            "-decrypt",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "env-rep.der",
            "-recip",
            "dev.pem",
            "-inkey",
            "dev.key",
            "-out",
            "certs.der",
        ],
    );
    let printed = openssl(
        dir,
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "certs.der",
            "-print_certs",
            "-noout",
        ],
    );
    // The issued certificate comes first (RFC 8894 section 3.3.2.1), then the issuing CA.
    let subjects: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("subject="))
        .collect();
    assert_eq!(
        subjects,
        [
            "subject=CN = oaep device",
            "subject=O = admit, CN = admitd Device CA"
        ],
        "{printed}"
    );

    // admitd inspect: the request opens with the RA key, the CertRep with the device key.
    let ra_key = data.join("scep/ra.key");
    let v = inspect_json(dir, &dir.join("req.der"), Some(&ra_key));
    let m = &v["pkiMessage"];
    assert_eq!(m["messageType"]["name"], "PKCSReq");
    assert_eq!(m["transactionID"], "openssl-oaep-1");
    assert_eq!(m["senderNonce"], "07".repeat(16));
    assert_eq!(m["signer"]["subject"], "CN=oaep device");
    assert_eq!(m["envelope"]["contentEncryptionAlgorithm"], "Aes256Cbc");
    assert!(
        m["envelope"]["recipientInfos"][0]["keyTransport"]
            .as_str()
            .unwrap()
            .contains("Oaep")
    );
    assert_eq!(
        m["decrypted"]["content"]["certificationRequest"]["subject"],
        "CN=oaep device"
    );
    let v = inspect_json(dir, &dir.join("rep.der"), Some(&dir.join("dev.key")));
    let m = &v["pkiMessage"];
    assert_eq!(m["messageType"]["name"], "CertRep");
    assert_eq!(m["pkiStatus"]["name"], "SUCCESS");
    assert_eq!(m["recipientNonce"], "07".repeat(16));
    assert_eq!(m["transactionID"], "openssl-oaep-1");
    assert_eq!(m["signer"]["subject"], "CN=admitd SCEP RA,O=admit");
    let certs = m["decrypted"]["content"]["signedData"]["certificates"]
        .as_array()
        .unwrap();
    assert!(
        certs.iter().any(|c| c["subject"] == "CN=oaep device"),
        "{v}"
    );
    // The wrong key opens nothing, and says so.
    let out = std::process::Command::new(ADMITD)
        .arg("inspect")
        .arg(dir.join("rep.der"))
        .arg("--key")
        .arg(&ra_key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("opens none"));

    // The same request again (a client that lost the reply): the same certificate, not a
    // second one.
    let rep = exchange(
        server.http,
        &tx.to_request(&scep_uri(server.http, PATH), true).unwrap(),
    );
    let again = client
        .read_cert_rep(
            &tx,
            d.identity(),
            rep.body(),
            &CertRepOptions::default(),
            &mut rng(7),
        )
        .unwrap();
    assert_eq!(issued(&again, &d), cert);
    assert_eq!(scep_rows(&data), 1);

    // A new transaction with the spent challenge: a signed FAILURE. openssl verifies it (it
    // carries an empty eContent, not none), and inspect shows its failInfo.
    let msg2 = sign("openssl-oaep-2", 8);
    let tx2 = scep::Transaction::from_message(&msg2).unwrap();
    let rep = exchange(
        server.http,
        &tx2.to_request(&scep_uri(server.http, PATH), true).unwrap(),
    );
    std::fs::write(dir.join("fail.der"), rep.body()).unwrap();
    openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "fail.der",
            "-CAfile",
            "cas.pem",
            "-out",
            "fail-content.der",
        ],
    );
    assert_eq!(std::fs::read(dir.join("fail-content.der")).unwrap(), b"");
    assert_eq!(scep_rows(&data), 1);
    let v = inspect_json(dir, &dir.join("fail.der"), None);
    assert_eq!(v["pkiMessage"]["pkiStatus"]["name"], "FAILURE");
    assert_eq!(v["pkiMessage"]["failInfo"]["name"], "badRequest");
    assert!(
        v["pkiMessage"]["failInfoText"]
            .as_str()
            .unwrap()
            .contains("challenge")
    );
    assert_eq!(v["pkiMessage"]["envelope"], serde_json::Value::Null);
    server.stop();
}

/// `admitd inspect` on the captured vectors: every pkiMessage is recognised, and the
/// certmonger request and the scepserver single-DES CertRep open with their keys.
#[test]
fn inspect_recognises_the_vectors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let v = vectors();
    let cap = v.join("local-capture/certmonger-0.79.17_scepserver-2.1.0");
    let expect = [
        ("certmonger-pkcsreq.der", "PKCSReq"),
        ("certmonger-renew-pkcsreq-signed-by-old-cert.der", "PKCSReq"),
        ("certmonger-rekey-pkcsreq-signed-by-old-cert.der", "PKCSReq"),
        ("peer-openssl-pkcsreq.der", "PKCSReq"),
        ("peer-openssl-pkcsreq-badchallenge.der", "PKCSReq"),
        ("peer-openssl-renewalreq.der", "RenewalReq"),
        ("scepserver-certrep-success-des.der", "CertRep"),
        ("scepserver-certrep-failure-badrequest.der", "CertRep"),
        ("scepserver-certrep-renewal-success-des.der", "CertRep"),
    ];
    for (file, name) in expect {
        let j = inspect_json(dir, &cap.join(file), None);
        assert_eq!(j["pkiMessage"]["messageType"]["name"], name, "{file}");
        assert!(j["pkiMessage"]["transactionID"].is_string(), "{file}");
    }
    let j = inspect_json(
        dir,
        &cap.join("scepserver-certrep-failure-badrequest.der"),
        None,
    );
    assert_eq!(j["pkiMessage"]["failInfo"]["name"], "badRequest");
    for (file, name) in [
        ("jscep/src/samples/scep_req2.der", "PKCSReq"),
        ("jscep/src/samples/scep_resp2.der", "CertRep"),
        ("smallstep-scep/testdata/PKCSReq.der", "PKCSReq"),
        ("smallstep-scep/testdata/CertRep.der", "CertRep"),
        (
            "smallstep-scep/testdata/testca2/CertRep_NoCertificatesForSigners.der",
            "CertRep",
        ),
    ] {
        let j = inspect_json(dir, &v.join(file), None);
        assert_eq!(j["pkiMessage"]["messageType"]["name"], name, "{file}");
    }
    // Not SCEP: no pkiMessage.
    let j = inspect_json(dir, &cap.join("getcacert.der"), None);
    assert!(j.get("pkiMessage").is_none());

    // certmonger's request opens with the server CA key: its CSR.
    let j = inspect_json(
        dir,
        &cap.join("certmonger-pkcsreq.der"),
        Some(&cap.join("ca.key.pem")),
    );
    let csr = &j["pkiMessage"]["decrypted"]["content"]["certificationRequest"];
    assert!(csr["subject"].is_string(), "{j}");
    assert_eq!(
        j["pkiMessage"]["envelope"]["contentEncryptionAlgorithm"],
        "Aes256Cbc"
    );
    // The single-DES CertRep opens with the requester's key and shows the issued certificate
    // (the same one openssl printed into the capture).
    let j = inspect_json(
        dir,
        &cap.join("scepserver-certrep-success-des.der"),
        Some(&cap.join("peer-openssl-pkcsreq.key.pem")),
    );
    assert_eq!(
        j["pkiMessage"]["envelope"]["contentEncryptionAlgorithm"],
        "DesCbc"
    );
    let issued_pem = std::fs::read(cap.join("peer-openssl-pkcsreq.issued.pem")).unwrap();
    let issued = Certificate::load_pem_chain(&issued_pem).unwrap().remove(0);
    let fp = pki::cert::fingerprint_sha256(&issued).unwrap();
    let certs = j["pkiMessage"]["decrypted"]["content"]["signedData"]["certificates"]
        .as_array()
        .unwrap();
    assert!(
        certs
            .iter()
            .any(|c| c["sha256Fingerprint"] == hex::encode(fp)),
        "{j}"
    );
}

fn vectors() -> PathBuf {
    testkit::vector_dir("scep")
}

fn inspect_json(dir: &Path, file: &Path, key: Option<&Path>) -> serde_json::Value {
    let mut cmd = std::process::Command::new(ADMITD);
    cmd.current_dir(dir).arg("inspect").arg(file);
    if let Some(k) = key {
        cmd.arg("--key").arg(k);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
