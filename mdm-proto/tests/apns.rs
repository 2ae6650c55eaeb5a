//! APNs push requests and responses; the topic of a push certificate made by openssl.

use mdm_proto::apns::{Environment, Outcome, Push, Reason, topic};

#[test]
fn request() {
    let mut p = Push::new(
        vec![0xDE, 0xAD, 0x00, 0x01],
        "6AB2A5D3-6F6F-4F47-8B4A-4C5EABC5C2F1",
    );
    assert_eq!(
        p.body(),
        br#"{"mdm":"6AB2A5D3-6F6F-4F47-8B4A-4C5EABC5C2F1"}"#
    );
    let r = p.to_request(Environment::Production).unwrap();
    assert_eq!(r.method(), "POST");
    assert_eq!(r.uri(), "https://api.push.apple.com/3/device/dead0001");
    assert!(r.headers().get("apns-topic").is_none());
    p.expiration = Some(0);
    p.priority = Some(10);
    p.push_type = true;
    p.topic = Some("com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9".into());
    let r = p.to_request(Environment::Development).unwrap();
    assert_eq!(r.uri().host(), Some("api.sandbox.push.apple.com"));
    assert_eq!(r.headers()["apns-expiration"], "0");
    assert_eq!(r.headers()["apns-priority"], "10");
    assert_eq!(r.headers()["apns-push-type"], "mdm");
    assert_eq!(
        r.headers()["apns-topic"],
        "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9"
    );
    // A push magic needing JSON escapes stays one JSON string.
    let odd = Push::new(vec![1], "a\"b\\c");
    let v: serde_json::Value = serde_json::from_slice(&odd.body()).unwrap();
    assert_eq!(v["mdm"], "a\"b\\c");
    p.topic = Some("bad\ntopic".into());
    assert!(p.to_request(Environment::Production).is_err());
}

#[test]
fn responses() {
    let ok = Outcome::parse(200, b"", Some("EC1BF194-B3B2-424A-89A9-5A918A6E6B5E"));
    assert_eq!(
        ok,
        Outcome::Delivered {
            apns_id: Some("EC1BF194-B3B2-424A-89A9-5A918A6E6B5E".into())
        }
    );
    let gone = Outcome::parse(
        410,
        br#"{"reason":"Unregistered","timestamp":1700000000000}"#,
        None,
    );
    assert!(gone.token_dead() && !gone.retry_later());
    assert_eq!(
        gone,
        Outcome::Failed {
            status: 410,
            reason: Reason::Unregistered,
            timestamp: Some(1_700_000_000_000)
        }
    );
    let busy = Outcome::parse(429, br#"{"reason":"TooManyRequests"}"#, None);
    assert!(busy.retry_later() && !busy.token_dead());
    let down = Outcome::parse(503, br#"{"reason":"ServiceUnavailable"}"#, None);
    assert!(down.retry_later());
    let bad = Outcome::parse(400, br#"{"reason":"BadDeviceToken"}"#, None);
    assert!(!bad.retry_later() && !bad.token_dead());
    assert!(matches!(
        bad,
        Outcome::Failed {
            reason: Reason::BadDeviceToken,
            ..
        }
    ));
    let junk = Outcome::parse(400, b"\xff not json", None);
    assert!(matches!(
        junk,
        Outcome::Failed {
            reason: Reason::Other(_),
            ..
        }
    ));
}

#[test]
fn topic_from_push_certificate() {
    let dir = tempfile::tempdir().unwrap();
    testkit::openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/UID=com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9/CN=APSP:e0bd1eac/C=US",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ],
    );
    let pem = std::fs::read(dir.path().join("cert.pem")).unwrap();
    assert_eq!(
        mdm_proto::apns::topic_from_pem(&pem).unwrap(),
        "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9"
    );
    let cert = pki::cert::Cert::from_pem(&pem).unwrap();
    assert_eq!(
        topic(cert.certificate()).unwrap(),
        "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9"
    );
}

/// The push certificate and key from `.p12` files made by `openssl pkcs12 -export`, in the
/// OpenSSL 3 default form and the `-legacy` form Keychain Access exports, with RSA and P-256
/// keys: the topic is the UID given to openssl, the certificate and key are the PEM files
/// openssl started from.
#[test]
fn push_certificate_from_p12() {
    use mdm_proto::apns::PushCertificate;
    use pki::pkcs12::Pkcs12Error;
    const TOPIC: &str = "com.apple.mgmt.External.5d1c7a0e-9b7f-4a4e-b1f2-0c6f3f2f8e11";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let provider = pki::provider::compiled()[0];
    let subj = format!("/UID={TOPIC}/CN=APSP:5d1c7a0e/C=US");
    for (tag, newkey) in [("rsa", "rsa:2048"), ("ec", "ec")] {
        let key = format!("{tag}-key.pem");
        let cert = format!("{tag}-cert.pem");
        let mut req = vec![
            "req", "-x509", "-newkey", newkey, "-nodes", "-days", "1", "-subj", &subj, "-keyout",
            &key, "-out", &cert,
        ];
        if tag == "ec" {
            req.extend_from_slice(&["-pkeyopt", "ec_paramgen_curve:P-256"]);
        }
        testkit::openssl(d, &req);
        let key_der = testkit::openssl(
            d,
            &[
                "pkcs8", "-topk8", "-nocrypt", "-in", &key, "-outform", "DER",
            ],
        );
        let cert_der = testkit::pem_to_der(&std::fs::read(d.join(&cert)).unwrap());
        for (form, extra) in [("default", None), ("legacy", Some("-legacy"))] {
            let out = format!("{tag}-{form}.p12");
            let mut args = vec![
                "pkcs12",
                "-export",
                "-inkey",
                &key,
                "-in",
                &cert,
                "-passout",
                "pass:push secret",
                "-out",
                &out,
            ];
            args.extend(extra);
            testkit::openssl(d, &args);
            let p12 = std::fs::read(d.join(&out)).unwrap();
            let push = PushCertificate::from_pkcs12(&p12, "push secret", provider)
                .unwrap_or_else(|e| panic!("{out}: {e}"));
            assert_eq!(push.topic(), TOPIC, "{out}");
            assert_eq!(push.certificate().der(), &cert_der[..], "{out}");
            assert_eq!(push.private_key_pkcs8_der(), &key_der[..], "{out}");
            assert!(push.chain().is_empty());
            let err = PushCertificate::from_pkcs12(&p12, "wrong", provider).unwrap_err();
            assert_eq!(
                err,
                mdm_proto::Error::PushCertificate(pki::Error::Pkcs12(Pkcs12Error::WrongPassword)),
                "{out}"
            );
            assert_eq!(err.http_status(), 500);
            assert!(matches!(
                PushCertificate::from_pkcs12(&p12[..p12.len() / 2], "push secret", provider),
                Err(mdm_proto::Error::PushCertificate(_))
            ));
        }
    }
}
