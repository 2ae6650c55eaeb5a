//! Over-the-air enrollment (Profile Service): phase 1 through an invite, phase 2 with the
//! device attributes signed by `openssl cms` as a device would, phase 3's profile read by
//! `openssl cms -verify`; a replayed, malformed, truncated or oversized phase 2 is refused.
//! On SQLite and PostgreSQL.

mod backend;
mod common;
mod mdm_support;
mod scep_support;

use backend::Backend;
use mdm_proto::plist::Value;
use mdm_support::{Server, dict, payload, raw, s, xml};

/// Verify a signed profile with OpenSSL against the root; the plist inside.
fn openssl_read(srv: &Server, der: &[u8], name: &str) -> mdm_proto::plist::Dictionary {
    std::fs::write(srv.work.join(format!("{name}.der")), der).unwrap();
    testkit::openssl(
        &srv.work,
        &[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            &format!("{name}.der"),
            "-CAfile",
            srv.root.to_str().unwrap(),
            "-purpose",
            "any",
            "-out",
            &format!("{name}.xml"),
        ],
    );
    Value::from_file(srv.work.join(format!("{name}.xml")))
        .unwrap()
        .into_dictionary()
        .unwrap()
}

fn post(srv: &Server, file: &str) -> (u16, Vec<u8>) {
    // HTTP/1.1: an oversized body is refused before it is read, which HTTP/2 shows to curl as
    // a reset stream rather than the 413.
    let data = format!("@{}", srv.work.join(file).display());
    raw(
        srv,
        &format!("{}/mdm/ota/phase2", srv.base()),
        &[
            "--http1.1",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/pkcs7-signature",
            "--data-binary",
            &data,
        ],
    )
}

#[test]
fn over_the_air_enrollment() {
    for backend in Backend::both() {
        let dir = tempfile::tempdir().unwrap();
        let srv = Server::start(dir.path(), &backend, "", &[]);
        let ctx = backend.name();
        let url = srv.invite(None, 1).replace("/mdm/enroll?", "/mdm/ota?");
        let (st, _) = srv.get(&format!("{}/mdm/ota", srv.base()));
        assert_eq!(st, 403, "{ctx}: phase 1 without an invite");

        // Phase 1: a signed Profile Service payload, as OpenSSL reads it.
        let (st, body) = srv.get(&url);
        assert_eq!(st, 200, "{ctx}: {}", String::from_utf8_lossy(&body));
        let p1 = openssl_read(&srv, &body, "phase1");
        assert_eq!(
            p1["PayloadType"].as_string(),
            Some("Profile Service"),
            "{ctx}"
        );
        let content = p1["PayloadContent"].as_dictionary().unwrap();
        assert_eq!(
            content["URL"].as_string().unwrap(),
            format!("{}/mdm/ota/phase2", srv.base()),
            "{ctx}"
        );
        let challenge = content["Challenge"].as_string().unwrap().to_owned();
        // The invite was for one use.
        assert_eq!(srv.get(&url).0, 403, "{ctx}");

        // Phase 2: the attributes, signed with a device key (openssl plays the device).
        let attrs = dict(&[
            ("UDID", s("OTA-UDID-0001")),
            ("SERIAL", s("C02OTA00001")),
            ("PRODUCT", s("iPhone15,2")),
            ("VERSION", s("21E236")),
            ("CHALLENGE", s(&challenge)),
        ]);
        std::fs::write(srv.work.join("attrs.plist"), xml(&attrs)).unwrap();
        testkit::openssl(
            &srv.work,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=device",
                "-days",
                "1",
                "-keyout",
                "device.key",
                "-out",
                "device.pem",
            ],
        );
        testkit::openssl(
            &srv.work,
            &[
                "cms",
                "-sign",
                "-nodetach",
                "-binary",
                "-in",
                "attrs.plist",
                "-signer",
                "device.pem",
                "-inkey",
                "device.key",
                "-outform",
                "DER",
                "-out",
                "phase2.der",
            ],
        );
        let (st, body) = post(&srv, "phase2.der");
        assert_eq!(st, 200, "{ctx}: {}", String::from_utf8_lossy(&body));
        let profile = openssl_read(&srv, &body, "phase3");
        payload(&profile, "com.apple.mdm");
        payload(&profile, "com.apple.security.scep");

        // The phase-2 secret is spent: a replay gets nothing.
        let (st, _) = post(&srv, "phase2.der");
        assert_eq!(st, 403, "{ctx}: replayed phase 2");
        // Not CMS, truncated CMS, too large: refused before anything is stored.
        std::fs::write(srv.work.join("junk"), b"not a signed message").unwrap();
        assert_eq!(post(&srv, "junk").0, 400, "{ctx}");
        let signed = std::fs::read(srv.work.join("phase2.der")).unwrap();
        std::fs::write(srv.work.join("truncated"), &signed[..signed.len() / 2]).unwrap();
        assert_eq!(post(&srv, "truncated").0, 400, "{ctx}");
        std::fs::write(srv.work.join("big"), vec![0x30u8; 70 * 1024]).unwrap();
        assert_eq!(post(&srv, "big").0, 413, "{ctx}");
        // Wrong method, plain listener.
        let (st, _) = raw(&srv, &format!("{}/mdm/ota/phase2", srv.base()), &[]);
        assert_eq!(st, 405, "{ctx}");
        let (ok, out) = common::curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "--data-binary",
            "x",
            &format!("http://{}/mdm/ota/phase2", srv.admitd.http),
        ]);
        assert!(ok && out.trim() == "403", "{ctx}: {out}");
        srv.admitd.stop();
    }
}
