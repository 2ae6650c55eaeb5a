//! Revocation seen by openssl: certificates issued over SCEP name the CRL at
//! `/crl/device.crl`; after `admitd scep revoke` that CRL lists the serial, openssl verifies the
//! CRL against the device CA and `openssl verify -crl_check` refuses the revoked certificate
//! and accepts the other. SCEP GetCRL answers the same CRL, which openssl reads out of the
//! decrypted CertRep.

mod common;
mod scep_support;

use std::path::Path;
use std::process::Command;

use common::{ADMITD, Admitd, openssl};
use pki::der::Encode;
use pki::x509_cert::Certificate;
use scep::{CertRepOptions, CertRepOutcome, MessageType, TransactionId, http};
use scep_support::*;
use testkit::rng;

const PATH: &str = "/scep";

fn issued(out: &CertRepOutcome, d: &Device) -> Certificate {
    out.certificate_for(d.key.spki())
        .unwrap_or_else(|| panic!("expected SUCCESS, got {out:?}"))
        .clone()
}

fn serial_hex(dir: &Path, file: &str) -> String {
    openssl(dir, &["x509", "-noout", "-serial", "-in", file])
        .trim()
        .trim_start_matches("serial=")
        .to_owned()
}

#[test]
fn revoked_certificates_are_on_the_crl_openssl_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let server = Admitd::start(&data, &[]);
    let client = client(server.http, PATH);
    let url = format!("http://127.0.0.1:{}/crl/device.crl", server.http.port());

    let mut certs = Vec::new();
    for (i, cn) in ["to revoke", "to keep"].iter().enumerate() {
        let d = Device::new(cn, 10 + i as u64);
        let c = new_challenge(ADMITD, &data);
        let cert = issued(
            &enrol(
                &client,
                server.http,
                PATH,
                &d,
                Some(&c),
                true,
                20 + i as u64,
            ),
            &d,
        );
        let file = format!("{i}.pem");
        std::fs::write(dir.join(&file), pem("CERTIFICATE", &cert.to_der().unwrap())).unwrap();
        let text = openssl(dir, &["x509", "-noout", "-text", "-in", &file]);
        assert!(text.contains("X509v3 CRL Distribution Points"), "{text}");
        assert!(text.contains(&format!("URI:{url}")), "{text}");
        certs.push((d, cert, file));
    }
    let revoked_serial = serial_hex(dir, &certs[0].2);
    let kept_serial = serial_hex(dir, &certs[1].2);
    let out = common::run(
        Command::new(ADMITD)
            .args(["--data-dir", data.to_str().unwrap(), "scep", "revoke"])
            .arg(&revoked_serial),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The CRL over HTTP, from the URL the certificates name.
    let get = http::Request::get("/crl/device.crl")
        .body(Vec::new())
        .unwrap();
    let resp = exchange(server.http, &get);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pkix-crl");
    std::fs::write(dir.join("crl.der"), resp.body()).unwrap();
    openssl(
        dir,
        &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"],
    );
    let (ok, text) = testkit::openssl_status(
        dir,
        &[
            "crl",
            "-in",
            "crl.pem",
            "-noout",
            "-CAfile",
            data.join("ca/device.pem").to_str().unwrap(),
        ],
    );
    assert!(ok && text.contains("verify OK"), "{text}");
    let listed = openssl(dir, &["crl", "-in", "crl.pem", "-noout", "-text"]);
    assert!(
        listed.contains(&format!("Serial Number: {revoked_serial}")),
        "{listed}"
    );
    assert!(!listed.contains(&kept_serial), "{listed}");
    assert!(listed.contains("X509v3 CRL Number"), "{listed}");
    assert!(
        listed.contains("X509v3 Authority Key Identifier"),
        "{listed}"
    );

    let verify = |file: &str| {
        testkit::openssl_status(
            dir,
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                data.join("ca/root.pem").to_str().unwrap(),
                "-untrusted",
                data.join("ca/device.pem").to_str().unwrap(),
                "-CRLfile",
                "crl.pem",
                file,
            ],
        )
    };
    let (ok, text) = verify(&certs[0].2);
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    let (ok, text) = verify(&certs[1].2);
    assert!(ok, "{text}");

    // GetCRL over SCEP, by the device that was not revoked: the same CRL, read by openssl.
    let (d, cert, _) = &certs[1];
    let device_ca = std::fs::read(data.join("ca/device.pem")).unwrap();
    let device_ca = Certificate::load_pem_chain(&device_ca).unwrap().remove(0);
    let iasn = {
        use pki::der::asn1::AnyRef;
        let mut body = device_ca.tbs_certificate().subject().to_der().unwrap();
        body.extend(cert.tbs_certificate().serial_number().to_der().unwrap());
        AnyRef::new(pki::der::Tag::Sequence, &body)
            .unwrap()
            .to_der()
            .unwrap()
    };
    let me = scep::Identity {
        signer: &*d.key,
        decrypter: &*d.key,
        certificate: cert,
    };
    let tx = client
        .request(
            MessageType::GetCrl,
            me,
            &iasn,
            TransactionId("get-crl-1".into()),
            &mut rng(30),
        )
        .unwrap();
    let resp = exchange(
        server.http,
        &tx.to_request(&scep_uri(server.http, PATH), true).unwrap(),
    );
    assert_eq!(resp.status(), 200);
    // Our client checks signature and nonces and hands back the CRL; openssl reads it too.
    let out = client
        .read_cert_rep(
            &tx,
            me,
            resp.body(),
            &CertRepOptions::default(),
            &mut rng(31),
        )
        .unwrap();
    let CertRepOutcome::Crl(crl) = &out else {
        panic!("expected a CRL, got {out:?}")
    };
    std::fs::write(dir.join("scep-crl.der"), crl).unwrap();
    let from_scep = openssl(
        dir,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "scep-crl.der",
            "-noout",
            "-text",
        ],
    );
    assert!(
        from_scep.contains(&format!("Serial Number: {revoked_serial}")),
        "{from_scep}"
    );
    std::fs::write(dir.join("getcrl.der"), resp.body()).unwrap();
    std::fs::write(
        dir.join("me.key"),
        pem("PRIVATE KEY", &d.key.to_pkcs8_der().unwrap()),
    )
    .unwrap();
    std::fs::write(
        dir.join("me.pem"),
        pem("CERTIFICATE", &cert.to_der().unwrap()),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-noverify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "getcrl.der",
            "-out",
            "getcrl-env.der",
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
            "getcrl-env.der",
            "-recip",
            "me.pem",
            "-inkey",
            "me.key",
            "-out",
            "getcrl-inner.der",
        ],
    );
    let printed = openssl(
        dir,
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "getcrl-inner.der",
            "-print_certs",
            "-noout",
        ],
    );
    assert!(printed.contains("Certificate Revocation List"), "{printed}");
    assert!(
        printed.contains(&format!("Serial Number: {revoked_serial}")),
        "{printed}"
    );
    // Only GET and HEAD on the CRL; revoke refuses what is not a serial, or not ours.
    let post = http::Request::post("/crl/device.crl")
        .body(b"x".to_vec())
        .unwrap();
    assert_eq!(exchange(server.http, &post).status(), 405);
    for (serial, says) in [
        ("not-hex", "not a hexadecimal serial number"),
        ("0123abcd", "no unrevoked certificate"),
        (revoked_serial.as_str(), "no unrevoked certificate"),
    ] {
        let out = common::run(Command::new(ADMITD).args([
            "--data-dir",
            data.to_str().unwrap(),
            "scep",
            "revoke",
            serial,
        ]));
        assert!(!out.status.success(), "{serial}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{serial}: {err}");
    }
    server.stop();
}
