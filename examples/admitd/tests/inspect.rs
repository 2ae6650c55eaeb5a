//! `admitd inspect` against certificates, CSRs and CMS messages made by openssl, comparing
//! the JSON with what openssl itself prints about the same files.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn inspect_ok(dir: &Path, file: &str) -> Value {
    let out = inspect(file, dir, None);
    assert!(
        out.status.success(),
        "inspect {file} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value after `key=` in openssl's `key=value` output line.
fn field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
        .trim()
        .to_owned()
}

/// openssl's `Nov 24 22:18:18 2026 GMT` as RFC 3339.
fn openssl_date(s: &str) -> String {
    let p: Vec<&str> = s.split_whitespace().collect();
    assert_eq!(p.len(), 5, "{s}");
    assert_eq!(p[4], "GMT");
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|m| *m == p[0]).unwrap() + 1;
    let d: u32 = p[1].parse().unwrap();
    format!("{}-{m:02}-{d:02}T{}Z", p[3], p[2])
}

fn colon_hex(s: &str) -> String {
    s.replace(':', "").to_lowercase()
}

/// SHA-256 of the DER SubjectPublicKeyInfo in PEM file `pub_pem`, via openssl.
fn spki_sha256(dir: &Path, pub_pem: &str) -> String {
    openssl(
        dir,
        &[
            "pkey", "-pubin", "-in", pub_pem, "-outform", "DER", "-out", "spki.der",
        ],
    );
    let out = openssl(dir, &["dgst", "-sha256", "-r", "spki.der"]);
    out.split_whitespace().next().unwrap().to_owned()
}

fn ext<'a>(cert: &'a Value, oid: &str) -> &'a Value {
    cert["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["extnID"] == oid)
        .unwrap_or_else(|| panic!("no extension {oid}"))
}

#[test]
fn certificate_fields_match_openssl() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "30",
            "-set_serial",
            "0xF1E2D3C4B5A69788",
            "-subj",
            "/C=DE/O=Example, Inc./CN=dev 42",
            "-addext",
            "subjectAltName=DNS:dev42.example,IP:192.0.2.7,email:a@example.com,URI:urn:x:y",
            "-addext",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "-addext",
            "extendedKeyUsage=clientAuth",
        ],
    );
    openssl(
        dir,
        &[
            "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
        ],
    );
    let o = openssl(
        dir,
        &[
            "x509",
            "-noout",
            "-nameopt",
            "RFC2253",
            "-subject",
            "-issuer",
            "-serial",
            "-dates",
            "-fingerprint",
            "-sha256",
            "-in",
            "cert.pem",
        ],
    );
    openssl(
        dir,
        &[
            "x509", "-noout", "-pubkey", "-in", "cert.pem", "-out", "pub.pem",
        ],
    );
    let spki_fp = spki_sha256(dir, "pub.pem");
    let ski = openssl(
        dir,
        &[
            "x509",
            "-noout",
            "-ext",
            "subjectKeyIdentifier",
            "-in",
            "cert.pem",
        ],
    );
    let ski = colon_hex(ski.lines().nth(1).unwrap().trim());

    let stdin_pem = std::fs::read(dir.join("cert.pem")).unwrap();
    let from_stdin = inspect("-", dir, Some(&stdin_pem));
    assert!(from_stdin.status.success());
    let from_stdin: Value = serde_json::from_slice(&from_stdin.stdout).unwrap();

    for v in [
        inspect_ok(dir, "cert.pem"),
        inspect_ok(dir, "cert.der"),
        from_stdin,
    ] {
        let c = &v["certificate"];
        assert_eq!(c["subject"], field(&o, "subject"));
        assert_eq!(c["subject"], "CN=dev 42,O=Example\\, Inc.,C=DE");
        assert_eq!(c["issuer"], field(&o, "issuer"));
        assert_eq!(c["serialNumber"], field(&o, "serial").to_lowercase());
        assert_eq!(c["notBefore"], openssl_date(&field(&o, "notBefore")));
        assert_eq!(c["notAfter"], openssl_date(&field(&o, "notAfter")));
        assert_eq!(
            c["sha256Fingerprint"],
            colon_hex(&field(&o, "sha256 Fingerprint"))
        );
        let spki = &c["subjectPublicKeyInfo"];
        assert_eq!(spki["sha256Fingerprint"], spki_fp);
        assert_eq!(spki["algorithm"]["algorithm"], "1.2.840.10045.2.1");
        assert_eq!(spki["algorithm"]["parameters"], "1.2.840.10045.3.1.7");
        assert_eq!(c["signatureAlgorithm"]["algorithm"], "1.2.840.10045.4.3.2");
        assert_eq!(c["version"], "v3");

        assert_eq!(ext(c, "2.5.29.14")["extnValue"], ski);
        assert_eq!(
            ext(c, "2.5.29.17")["extnValue"],
            serde_json::json!([
                {"dNSName": "dev42.example"},
                {"iPAddress": "192.0.2.7"},
                {"rfc822Name": "a@example.com"},
                {"uniformResourceIdentifier": "urn:x:y"},
            ])
        );
        let ku = ext(c, "2.5.29.15");
        assert_eq!(ku["critical"], true);
        assert_eq!(
            ku["extnValue"],
            serde_json::json!(["digitalSignature", "keyEncipherment"])
        );
        assert_eq!(
            ext(c, "2.5.29.37")["extnValue"],
            serde_json::json!(["1.3.6.1.5.5.7.3.2"])
        );
        // openssl's default self-signed certificate is a CA with AKI = SKI.
        assert_eq!(ext(c, "2.5.29.19")["extnValue"]["cA"], true);
        assert_eq!(ext(c, "2.5.29.35")["extnValue"]["keyIdentifier"], ski);
    }
}

#[test]
fn rsa_certificate_and_chain_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "5",
            "-subj",
            "/CN=Test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=leaf/O=Org",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "1",
            "-days",
            "2",
            "-out",
            "leaf.pem",
        ],
    );
    let bundle = [
        std::fs::read_to_string(dir.join("leaf.pem")).unwrap(),
        std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("bundle.pem"), bundle).unwrap();
    let v = inspect_ok(dir, "bundle.pem");
    let arr = v.as_array().expect("two blocks give an array");
    assert_eq!(arr.len(), 2);
    let leaf = &arr[0]["certificate"];
    assert_eq!(leaf["serialNumber"], "01");
    assert_eq!(leaf["subject"], "O=Org,CN=leaf");
    assert_eq!(leaf["issuer"], "CN=Test CA");
    assert_eq!(
        leaf["signatureAlgorithm"]["algorithm"],
        "1.2.840.113549.1.1.11"
    );
    assert_eq!(
        leaf["subjectPublicKeyInfo"]["algorithm"]["algorithm"],
        "1.2.840.113549.1.1.1"
    );
    assert_eq!(arr[1]["certificate"]["subject"], "CN=Test CA");
}

#[test]
fn csr_fields_match_openssl() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("req.cnf"),
        "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\nreq_extensions = ext\n\
         [dn]\nC = US\nO = Acme\nCN = device 7\n\
         [attrs]\nchallengePassword = s3cret-pw\n\
         [ext]\nsubjectAltName = DNS:a.example\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-config",
            "req.cnf", "-out", "csr.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req", "-in", "csr.pem", "-outform", "DER", "-out", "csr.der",
        ],
    );
    let subject = openssl(
        dir,
        &[
            "req", "-noout", "-subject", "-nameopt", "RFC2253", "-in", "csr.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req", "-noout", "-pubkey", "-in", "csr.pem", "-out", "pub.pem",
        ],
    );
    let spki_fp = spki_sha256(dir, "pub.pem");
    for v in [inspect_ok(dir, "csr.pem"), inspect_ok(dir, "csr.der")] {
        let r = &v["certificationRequest"];
        assert_eq!(r["subject"], field(&subject, "subject"));
        assert_eq!(r["subject"], "CN=device 7,O=Acme,C=US");
        assert_eq!(r["subjectPublicKeyInfo"]["sha256Fingerprint"], spki_fp);
        let attrs = r["attributes"].as_array().unwrap();
        let pw = attrs
            .iter()
            .find(|a| a["type"] == "1.2.840.113549.1.9.7")
            .expect("challengePassword");
        assert_eq!(pw["values"], serde_json::json!(["s3cret-pw"]));
        let er = attrs
            .iter()
            .find(|a| a["type"] == "1.2.840.113549.1.9.14")
            .expect("extensionRequest");
        assert_eq!(er["values"][0][0]["extnID"], "2.5.29.17");
        assert_eq!(
            er["values"][0][0]["extnValue"],
            serde_json::json!([{"dNSName": "a.example"}])
        );
    }
}

fn signer(dir: &Path) -> (String, String) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "s.key",
            "-out",
            "s.pem",
            "-days",
            "2",
            "-subj",
            "/CN=signer/O=Test",
            "-set_serial",
            "0x0BADC0DE",
        ],
    );
    let o = openssl(
        dir,
        &[
            "x509", "-noout", "-serial", "-subject", "-nameopt", "RFC2253", "-in", "s.pem",
        ],
    );
    (field(&o, "serial").to_lowercase(), field(&o, "subject"))
}

#[test]
fn signed_data_from_openssl_cms() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (serial, subject) = signer(dir);
    std::fs::write(dir.join("msg"), b"hello world\n").unwrap();
    openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-in",
            "msg",
            "-signer",
            "s.pem",
            "-inkey",
            "s.key",
            "-md",
            "sha384",
            "-binary",
            "-nodetach",
            "-outform",
            "DER",
            "-out",
            "sd.der",
        ],
    );
    openssl(
        dir,
        &[
            "cms", "-cmsout", "-inform", "DER", "-in", "sd.der", "-outform", "PEM", "-out",
            "sd.pem",
        ],
    );
    for v in [inspect_ok(dir, "sd.der"), inspect_ok(dir, "sd.pem")] {
        let sd = &v["signedData"];
        assert_eq!(sd["eContentType"], "1.2.840.113549.1.7.1");
        assert_eq!(sd["eContentLength"], 12);
        assert_eq!(
            sd["digestAlgorithms"][0]["algorithm"],
            "2.16.840.1.101.3.4.2.2"
        );
        let si = &sd["signerInfos"][0];
        assert_eq!(si["sid"]["issuerAndSerialNumber"]["serialNumber"], serial);
        assert_eq!(si["sid"]["issuerAndSerialNumber"]["issuer"], subject);
        assert_eq!(si["digestAlgorithm"]["algorithm"], "2.16.840.1.101.3.4.2.2");
        assert_eq!(
            si["signatureAlgorithm"]["algorithm"],
            "1.2.840.113549.1.1.1"
        );
        let attrs: Vec<&str> = si["signedAttrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["type"].as_str().unwrap())
            .collect();
        // contentType, signingTime, messageDigest (RFC 5652 section 11).
        for oid in [
            "1.2.840.113549.1.9.3",
            "1.2.840.113549.1.9.4",
            "1.2.840.113549.1.9.5",
        ] {
            assert!(attrs.contains(&oid), "{oid} missing from {attrs:?}");
        }
        assert_eq!(sd["certificates"][0]["serialNumber"], serial);
        assert_eq!(sd["certificates"][0]["subject"], subject);
    }
    // BER: openssl's streaming output uses indefinite lengths; the same fields come out.
    #[rustfmt::skip]
    openssl(dir, &[
        "cms", "-sign", "-in", "msg", "-signer", "s.pem", "-inkey", "s.key", "-md", "sha384",
        "-binary", "-nodetach", "-stream", "-outform", "DER", "-out", "sd-ber.der",
    ]);
    let ber = std::fs::read(dir.join("sd-ber.der")).unwrap();
    assert_eq!(
        &ber[..2],
        &[0x30, 0x80],
        "openssl did not write an indefinite length"
    );
    #[rustfmt::skip]
    openssl(dir, &[
        "cms", "-sign", "-in", "msg", "-signer", "s.pem", "-inkey", "s.key", "-md", "sha384",
        "-binary", "-nodetach", "-stream", "-outform", "PEM", "-out", "sd-ber.pem",
    ]);
    for file in ["sd-ber.der", "sd-ber.pem"] {
        let v = inspect_ok(dir, file);
        let sd = &v["signedData"];
        assert_eq!(sd["eContentType"], "1.2.840.113549.1.7.1", "{file}");
        assert_eq!(sd["eContentLength"], 12, "{file}");
        let sid = &sd["signerInfos"][0]["sid"]["issuerAndSerialNumber"];
        assert_eq!(sid["serialNumber"], serial, "{file}");
        assert_eq!(sd["certificates"][0]["subject"], subject, "{file}");
    }

    // Detached, signed by subjectKeyIdentifier.
    openssl(
        dir,
        &[
            "cms", "-sign", "-in", "msg", "-signer", "s.pem", "-inkey", "s.key", "-keyid",
            "-outform", "DER", "-out", "sd2.der",
        ],
    );
    let ski = openssl(
        dir,
        &[
            "x509",
            "-noout",
            "-ext",
            "subjectKeyIdentifier",
            "-in",
            "s.pem",
        ],
    );
    let ski = colon_hex(ski.lines().nth(1).unwrap().trim());
    let v = inspect_ok(dir, "sd2.der");
    assert_eq!(v["signedData"]["eContentLength"], Value::Null);
    assert_eq!(
        v["signedData"]["signerInfos"][0]["sid"]["subjectKeyIdentifier"],
        ski
    );
}

#[test]
fn enveloped_data_from_openssl_cms() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (serial, subject) = signer(dir);
    std::fs::write(dir.join("msg"), b"secret\n").unwrap();
    openssl(
        dir,
        &[
            "cms",
            "-encrypt",
            "-in",
            "msg",
            "-recip",
            "s.pem",
            "-aes-256-cbc",
            "-outform",
            "DER",
            "-out",
            "ed.der",
        ],
    );
    let v = inspect_ok(dir, "ed.der");
    let ed = &v["envelopedData"];
    assert_eq!(ed["contentType"], "1.2.840.113549.1.7.1");
    assert_eq!(
        ed["contentEncryptionAlgorithm"]["algorithm"],
        "2.16.840.1.101.3.4.1.42"
    );
    let ri = &ed["recipientInfos"][0];
    assert_eq!(ri["type"], "ktri");
    assert_eq!(ri["rid"]["issuerAndSerialNumber"]["serialNumber"], serial);
    assert_eq!(ri["rid"]["issuerAndSerialNumber"]["issuer"], subject);
    assert_eq!(
        ri["keyEncryptionAlgorithm"]["algorithm"],
        "1.2.840.113549.1.1.1"
    );
    openssl(
        dir,
        &[
            "cms",
            "-encrypt",
            "-in",
            "msg",
            "-recip",
            "s.pem",
            "-keyopt",
            "rsa_padding_mode:oaep",
            "-aes-128-cbc",
            "-outform",
            "DER",
            "-out",
            "ed2.der",
        ],
    );
    let v = inspect_ok(dir, "ed2.der");
    let ed = &v["envelopedData"];
    assert_eq!(
        ed["contentEncryptionAlgorithm"]["algorithm"],
        "2.16.840.1.101.3.4.1.2"
    );
    assert_eq!(
        ed["recipientInfos"][0]["keyEncryptionAlgorithm"]["algorithm"],
        "1.2.840.113549.1.1.7"
    );
}

#[test]
fn garbage_exits_1_with_a_typed_message() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-subj",
            "/CN=x",
            "-outform",
            "PEM",
        ],
    );
    openssl(
        dir,
        &["x509", "-in", "c.pem", "-outform", "DER", "-out", "c.der"],
    );
    let der = std::fs::read(dir.join("c.der")).unwrap();
    let pem = std::fs::read_to_string(dir.join("c.pem")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("text", b"hello, world\n".to_vec(), "neither PEM nor DER"),
        ("empty", Vec::new(), "input is empty"),
        (
            "truncated DER",
            der[..der.len() - 10].to_vec(),
            "not a certificate",
        ),
        (
            "trailing byte",
            [der.clone(), vec![0]].concat(),
            "not a certificate",
        ),
        ("SEQUENCE of nothing", vec![0x30, 0x00], "empty SEQUENCE"),
        (
            "unknown PEM label",
            pem.replace("CERTIFICATE", "FOO").into_bytes(),
            "PEM label \"FOO\"",
        ),
        (
            "bad base64",
            pem.replacen("MII", "M*I", 1).into_bytes(),
            "PEM block 0",
        ),
        (
            "no END",
            pem.as_bytes()[..pem.len() - 27].to_vec(),
            "PEM block 0",
        ),
        (
            "CMS of another type",
            // ContentInfo { id-data, [0] OCTET STRING "" }
            vec![
                0x30, 0x0f, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0,
                0x02, 0x04, 0x00,
            ],
            "1.2.840.113549.1.7.1 is not SignedData",
        ),
    ];
    for (what, input, message) in cases {
        let out = inspect("-", dir, Some(&input));
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(out.stdout.is_empty(), "{what}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("admitd inspect: -: "), "{what}: {err}");
        assert!(err.contains(message), "{what}: {err}");
    }
    let out = inspect("no-such-file", dir, None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such file"));
}

#[test]
fn inspect_is_total_on_truncations_and_bit_flips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    signer(dir);
    std::fs::write(dir.join("msg"), b"m").unwrap();
    openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-in",
            "msg",
            "-signer",
            "s.pem",
            "-inkey",
            "s.key",
            "-binary",
            "-nodetach",
            "-outform",
            "DER",
            "-out",
            "sd.der",
        ],
    );
    openssl(
        dir,
        &["x509", "-in", "s.pem", "-outform", "DER", "-out", "s.der"],
    );
    for file in ["s.der", "sd.der"] {
        let der = std::fs::read(dir.join(file)).unwrap();
        assert!(admitd::inspect::inspect(&der).is_ok());
        for len in 0..der.len() {
            // Every strict prefix is refused, with an error rather than a panic.
            assert!(
                admitd::inspect::inspect(&der[..len]).is_err(),
                "{file} prefix {len}"
            );
        }
        for i in 0..der.len() {
            for bit in [0x01u8, 0x80] {
                let mut d = der.clone();
                d[i] ^= bit;
                // May decode (a flipped bit inside a value) or not; must not panic.
                let _ = admitd::inspect::inspect(&d);
            }
        }
    }
}
