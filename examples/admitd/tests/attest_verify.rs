//! `admitd attest verify` and `admitd inspect` on attestation evidence: the real Touch ID
//! (`apple`) and Windows Hello (`tpm`) WebAuthn registrations from the vectors, and an ACME
//! device-attest-01 `apple` payload over a three-level P-384 MDA chain built by `openssl`.
//! Known answers come from `openssl` (key fingerprints, SAN contents) and `tpm2_print`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use serde_json::Value;
use sha2::Digest as _;
use testkit::openssl;

const ADMITD: &str = env!("CARGO_BIN_EXE_admitd");

fn vectors() -> PathBuf {
    testkit::vectors().join("attestation")
}

fn admitd(args: &[&str]) -> Output {
    Command::new(ADMITD).args(args).output().expect("admitd")
}

/// Exit code and JSON stdout of `admitd attest verify ...`.
fn verify(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["attest", "verify"];
    all.extend_from_slice(args);
    let out = admitd(&all);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), json)
}

fn inspect(args: &[&str]) -> Value {
    let mut all = vec!["inspect"];
    all.extend_from_slice(args);
    let out = admitd(&all);
    assert!(
        out.status.success(),
        "inspect {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// SHA-256 of a certificate's DER SubjectPublicKeyInfo, extracted by openssl.
fn openssl_spki_sha256(dir: &Path, cert_der: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(testkit::openssl_spki_der(
        dir, cert_der,
    )))
}

/// `attStmt.x5c` of a CBOR attestation object, read with ciborium.
fn x5c(cbor: &[u8]) -> Vec<Vec<u8>> {
    let v: ciborium::Value = ciborium::de::from_reader(cbor).unwrap();
    let stmt = v
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some("attStmt"))
        .unwrap()
        .1
        .clone();
    let x5c = stmt
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some("x5c"))
        .unwrap()
        .1
        .clone();
    x5c.as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_bytes().unwrap().clone())
        .collect()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn touch_id_apple_attestation_verifies_and_tampering_fails() {
    let dir = tempfile::tempdir().unwrap();
    let v = vectors().join("apple/webauthn-rs");
    let obj = v.join("touchid-apple-anonymous.attobj.cbor");
    let cd = v.join("touchid-apple-anonymous.clientDataJSON");
    let at = "2020-12-09T00:00:00Z";
    let (code, out) = verify(&["--webauthn", p(&obj), "--client-data", p(&cd), "--time", at]);
    assert_eq!(code, 0, "{out}");
    let ok = &out["verified"];
    assert_eq!(ok["protocol"], "webauthn");
    assert_eq!(ok["format"], "apple");
    // The credential key is the credCert's key (WebAuthn section 8.8).
    let leaf = &x5c(&std::fs::read(&obj).unwrap())[0];
    assert_eq!(ok["keyFingerprint"], openssl_spki_sha256(dir.path(), leaf));
    assert_eq!(ok["chain"].as_array().unwrap().len(), 3);
    assert!(
        ok["chain"][2]["subject"]
            .as_str()
            .unwrap()
            .contains("Apple WebAuthn Root CA")
    );

    // Any change to clientDataJSON changes the nonce.
    let mut tampered = std::fs::read(&cd).unwrap();
    tampered[20] ^= 1;
    let bad = dir.path().join("cd.json");
    std::fs::write(&bad, &tampered).unwrap();
    let (code, out) = verify(&[
        "--webauthn",
        p(&obj),
        "--client-data",
        p(&bad),
        "--time",
        at,
    ]);
    assert_eq!(code, 1);
    assert_eq!(out["error"]["kind"], "WebAuthn::NonceMismatch", "{out}");
    // Now, the credential certificate (three days long) has expired.
    let (code, out) = verify(&["--webauthn", p(&obj), "--client-data", p(&cd)]);
    assert_eq!(code, 1);
    assert_eq!(
        out["error"]["kind"], "WebAuthn::Chain::Path::CertExpired",
        "{out}"
    );
    // A root of our own instead of Apple's: no path.
    let other = vectors().join("tpm-ca/microsoft-tpm-root-ca-2014.pem");
    let (code, out) = verify(&[
        "--webauthn",
        p(&obj),
        "--client-data",
        p(&cd),
        "--time",
        at,
        "--root",
        p(&other),
    ]);
    assert_eq!(code, 1);
    assert!(
        out["error"]["kind"]
            .as_str()
            .unwrap()
            .starts_with("WebAuthn::Chain"),
        "{out}"
    );
    // Usage errors exit 2 without JSON.
    let o = admitd(&["attest", "verify", "--webauthn", p(&obj)]);
    assert_eq!(o.status.code(), Some(2));
    let o = admitd(&[
        "attest",
        "verify",
        "--webauthn",
        p(&obj),
        "--client-data",
        p(&cd),
        "--time",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("RFC 3339"));
}

#[test]
fn windows_hello_tpm_attestation_verifies_with_rs1_and_the_microsoft_root() {
    let dir = tempfile::tempdir().unwrap();
    let v = vectors().join("tpm-attest/webauthn-rs");
    let obj = v.join("win-hello-tpm-rsa.attobj.cbor");
    let cd = v.join("win-hello-tpm-rsa.clientDataJSON");
    let root = vectors().join("tpm-ca/microsoft-tpm-root-ca-2014.pem");
    let base = [
        "--webauthn",
        p(&obj),
        "--client-data",
        p(&cd),
        "--time",
        "2021-01-01T00:00:00Z",
    ];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        verify(&a)
    };
    let (code, out) = with(&["--root", p(&root), "--allow-rs1"]);
    assert_eq!(code, 0, "{out}");
    let ok = &out["verified"];
    assert_eq!(ok["format"], "tpm");
    // The AIK certificate's SAN as openssl prints it names the same TPM.
    let aik = v.join("win-hello-tpm-rsa.split/x5c-0.der");
    let san = String::from_utf8(openssl(
        dir.path(),
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            p(&aik),
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    ))
    .unwrap();
    for field in ["tpmManufacturer", "tpmModel", "tpmVersion"] {
        let value = ok["aik"][field].as_str().unwrap();
        assert!(san.contains(value), "{field} {value} not in {san}");
    }
    assert_eq!(ok["chain"].as_array().unwrap().len(), 3);

    let (code, out) = with(&["--root", p(&root)]);
    assert_eq!(code, 1);
    assert_eq!(
        out["error"]["kind"], "WebAuthn::AlgorithmNotAllowed",
        "{out}"
    );
    // No root at all is the caller's mistake; a wrong root is a chain failure.
    let (code, out) = with(&["--allow-rs1"]);
    assert_eq!(code, 1);
    assert_eq!(out["error"]["kind"], "ApiMisuse", "{out}");
    let apple = vectors().join("apple/apple-webauthn-root-ca.pem");
    let (code, out) = with(&["--allow-rs1", "--root", p(&apple)]);
    assert_eq!(code, 1);
    assert!(
        out["error"]["kind"]
            .as_str()
            .unwrap()
            .starts_with("WebAuthn::Chain"),
        "{out}"
    );
}

#[test]
fn inspect_renders_the_windows_hello_object_like_tpm2_print() {
    let v = vectors().join("tpm-attest/webauthn-rs");
    let ours = inspect(&[p(&v.join("win-hello-tpm-rsa.attobj.cbor"))]);
    let obj = &ours["attestationObject"];
    assert_eq!(obj["fmt"], "tpm");
    assert_eq!(obj["attStmt"]["ver"], "2.0");
    assert_eq!(obj["attStmt"]["alg"], -65535);
    assert_eq!(obj["attStmt"]["x5c"].as_array().unwrap().len(), 2);
    assert!(obj["attStmt"]["x5c"][0]["certificate"]["aik"]["tpmManufacturer"].is_string());
    // The raw RSA signature Windows sends is shown as bytes.
    let sig = std::fs::read(v.join("win-hello-tpm-rsa.split/sig.bin")).unwrap();
    assert_eq!(obj["attStmt"]["sig"], hex::encode(sig));
    // certInfo and pubArea: the same fields tpm2_print prints for the split-out bytes.
    let print = |ty: &str, file: &str| -> String {
        let out = Command::new("timeout")
            .args(["30", "tpm2_print", "-t", ty])
            .arg(v.join("win-hello-tpm-rsa.split").join(file))
            .output()
            .expect("tpm2_print");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let attest = print("TPMS_ATTEST", "certInfo.bin");
    let a = &obj["attStmt"]["certInfo"]["TPMS_ATTEST"];
    for (ours, theirs) in [
        ("qualifiedSigner", "qualifiedSigner"),
        ("extraData", "extraData"),
    ] {
        let line = format!("{theirs}: {}", a[ours].as_str().unwrap());
        assert!(attest.contains(&line), "{line} not in {attest}");
    }
    assert!(attest.contains("type: 8017"), "TPM_ST_ATTEST_CERTIFY");
    assert_eq!(a["type"], "certify");
    let public = print("TPMT_PUBLIC", "pubArea.bin");
    let pa = &obj["attStmt"]["pubArea"]["TPMT_PUBLIC"];
    for line in [
        format!("rsa: {}", pa["unique"]["rsa"].as_str().unwrap()),
        format!(
            "  value: {}",
            pa["objectAttributes"]["set"].as_str().unwrap()
        ),
        format!("bits: {}", pa["parameters"]["keyBits"]),
        format!("  value: {}", pa["nameAlg"].as_str().unwrap()),
    ] {
        assert!(public.contains(&line), "{line} not in {public}");
    }
    // authData: the attested credential's AAGUID (Windows Hello's) and the flags.
    assert_eq!(
        obj["authData"]["attestedCredentialData"]["aaguid"],
        "08987058cadc4b81b6e130de50dcbe96"
    );
    assert_eq!(obj["authData"]["flags"], "0x45");
}

/// A P-384 root, Sub CA and MDA leaf built by openssl with the MDA extensions.
struct MdaChain {
    dir: tempfile::TempDir,
}

const SERIAL: &str = "C02XK1ABJG5J";
const UDID: &str = "00008103-001A2B3C4D5E6F70";
const TOKEN: &str = "Z2y2r0ZBHTu2bVjBr2Zq3w";

fn der_line(oid: &str, value: &[u8]) -> String {
    format!("{oid}=DER:{}\n", hex::encode(value))
}

impl MdaChain {
    fn new(freshness: &[u8]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
        ];
        std::fs::write(
            d.join("req.cnf"),
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n\
             [v3_root]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign\n\
             subjectKeyIdentifier = hash\n",
        )
        .unwrap();
        std::fs::write(
            d.join("sub.ext"),
            "basicConstraints = critical,CA:TRUE,pathlen:0\nkeyUsage = critical,keyCertSign\n\
             subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
        )
        .unwrap();
        let mut leaf_ext = String::from("keyUsage = critical,digitalSignature\n");
        leaf_ext += &der_line("1.2.840.113635.100.8.9.1", SERIAL.as_bytes());
        leaf_ext += &der_line("1.2.840.113635.100.8.9.2", UDID.as_bytes());
        leaf_ext += &der_line("1.2.840.113635.100.8.10.1", b"14.4");
        leaf_ext += &der_line("1.2.840.113635.100.8.10.2", b"23.4.4");
        leaf_ext += &der_line("1.2.840.113635.100.8.13.2", b"Full Security");
        // INTEGER 1 (X.690), third-party kexts allowed.
        leaf_ext += "1.2.840.113635.100.8.13.3=DER:020101\n";
        leaf_ext += &der_line("1.2.840.113635.100.8.11.1", freshness);
        std::fs::write(d.join("leaf.ext"), leaf_ext).unwrap();
        let mut root = vec!["req", "-x509", "-new"];
        root.extend_from_slice(&ec);
        root.extend_from_slice(&[
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=Test Enterprise Attestation Root CA",
            "-days",
            "30",
            "-sha384",
            "-config",
            "req.cnf",
            "-extensions",
            "v3_root",
        ]);
        openssl(d, &root);
        for (name, issuer, ext, subj) in [
            (
                "sub",
                "root",
                "sub.ext",
                "/CN=Test Enterprise Attestation Sub CA 1",
            ),
            ("leaf", "sub", "leaf.ext", "/CN=device"),
        ] {
            let mut req = vec!["req", "-new"];
            req.extend_from_slice(&ec);
            let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
            req.extend_from_slice(&[
                "-keyout", &key, "-out", &csr, "-subj", subj, "-config", "req.cnf",
            ]);
            openssl(d, &req);
            let (ca, ca_key, out) = (
                format!("{issuer}.pem"),
                format!("{issuer}.key"),
                format!("{name}.pem"),
            );
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &ca,
                    "-CAkey",
                    &ca_key,
                    "-set_serial",
                    "7",
                    "-days",
                    "10",
                    "-sha384",
                    "-extfile",
                    ext,
                    "-out",
                    &out,
                ],
            );
            openssl(
                d,
                &[
                    "x509",
                    "-in",
                    &out,
                    "-outform",
                    "DER",
                    "-out",
                    &format!("{name}.der"),
                ],
            );
        }
        Self { dir }
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    fn der(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(&format!("{name}.der"))).unwrap()
    }

    /// `{"attObj": base64url(CBOR {fmt: "apple", attStmt: {x5c: [leaf, sub]}})}`.
    fn payload(&self) -> PathBuf {
        use ciborium::Value as C;
        let obj = C::Map(vec![
            (C::Text("fmt".into()), C::Text("apple".into())),
            (
                C::Text("attStmt".into()),
                C::Map(vec![(
                    C::Text("x5c".into()),
                    C::Array(vec![C::Bytes(self.der("leaf")), C::Bytes(self.der("sub"))]),
                )]),
            ),
        ]);
        let mut cbor = Vec::new();
        ciborium::ser::into_writer(&obj, &mut cbor).unwrap();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&cbor);
        let path = self.path("payload.json");
        std::fs::write(&path, serde_json::json!({ "attObj": b64 }).to_string()).unwrap();
        path
    }
}

#[test]
fn acme_apple_payload_over_an_openssl_mda_chain() {
    let code: [u8; 32] = sha2::Sha256::digest(TOKEN.as_bytes()).into();
    let chain = MdaChain::new(&code);
    let payload = chain.payload();
    let root = chain.path("root.pem");
    let args = |token: &'static str, extra: &[&'static str]| {
        let mut a: Vec<String> = [
            "--acme",
            p(&payload),
            "--token",
            token,
            "--key-authorization",
            "unused-for-apple",
            "--root",
            p(&root),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| verify(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (code_, out) = run(args(TOKEN, &[]));
    assert_eq!(code_, 0, "{out}");
    let ok = &out["verified"];
    assert_eq!(ok["protocol"], "acme-device-attest-01");
    assert_eq!(ok["format"], "apple");
    assert_eq!(ok["permanentIdentifier"], SERIAL);
    assert_eq!(ok["identifiers"], serde_json::json!([SERIAL, UDID]));
    assert_eq!(ok["freshnessChecked"], true);
    let m = &ok["mdaExtensions"];
    assert_eq!(m["osVersion"], "14.4");
    assert_eq!(m["sepOSVersion"], "23.4.4");
    assert_eq!(m["secureBoot"], "Full Security");
    assert_eq!(m["thirdPartyKexts"], 1);
    assert_eq!(m["freshnessCode"], hex::encode(code));
    assert_eq!(
        ok["keyFingerprint"],
        openssl_spki_sha256(chain.dir.path(), &chain.der("leaf"))
    );
    // The UDID is attested too.
    let (c, _) = run(args(TOKEN, &["--permanent-identifier", UDID]));
    assert_eq!(c, 0);
    // Refusals, each with its own kind.
    let (c, out) = run(args("another-token", &[]));
    assert_eq!(c, 1);
    assert!(
        out["error"]["kind"].as_str().unwrap().starts_with("Mda::"),
        "{out}"
    );
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("freshness"),
        "{out}"
    );
    let (c, out) = run(args(TOKEN, &["--permanent-identifier", "OTHER"]));
    assert_eq!(c, 1);
    assert_eq!(out["error"]["kind"], "Acme::IdentifierMismatch", "{out}");
    let (c, out) = run(args(TOKEN, &["--time", "2001-01-01T00:00:00Z"]));
    assert_eq!(c, 1);
    assert!(
        out["error"]["kind"]
            .as_str()
            .unwrap()
            .contains("NotYetValid"),
        "{out}"
    );
    // Without --root, only Apple's root is trusted.
    let mut a = args(TOKEN, &[]);
    a.truncate(6);
    let (c, out) = run(a);
    assert_eq!(c, 1);
    assert!(
        out["error"]["kind"].as_str().unwrap().starts_with("Mda::"),
        "{out}"
    );

    // inspect: the leaf's MDA fields, and the payload's attestation object.
    let leaf = inspect(&[p(&chain.path("leaf.pem"))]);
    let m = &leaf["certificate"]["mdaExtensions"];
    assert_eq!(m["serialNumber"], SERIAL);
    assert_eq!(m["udid"], UDID);
    assert_eq!(m["freshnessCode"], hex::encode(code));
    let root_json = inspect(&[p(&root)]);
    assert!(root_json["certificate"].get("mdaExtensions").is_none());
    let pl = inspect(&[p(&payload)]);
    let obj = &pl["acmePayload"]["attObj"];
    assert_eq!(obj["fmt"], "apple");
    assert_eq!(
        obj["attStmt"]["x5c"][0]["certificate"]["mdaExtensions"]["serialNumber"],
        SERIAL
    );
}

#[test]
fn recognition_is_total_over_truncations_and_flips() {
    use admitd::attest::inspect::{KINDS, inspect_as};
    let v = vectors().join("tpm-attest/webauthn-rs");
    let mut inputs = Vec::new();
    for f in ["certInfo.bin", "pubArea.bin", "authData.bin"] {
        let b = std::fs::read(v.join("win-hello-tpm-rsa.split").join(f)).unwrap();
        for i in 0..b.len() {
            inputs.push(b[..i].to_vec());
            let mut x = b.clone();
            x[i] ^= 0x80;
            inputs.push(x);
        }
    }
    let obj = std::fs::read(v.join("win-hello-tpm-rsa.attobj.cbor")).unwrap();
    for i in (0..obj.len()).step_by(13) {
        inputs.push(obj[..i].to_vec());
        let mut x = obj.clone();
        x[i] ^= 0x01;
        inputs.push(x);
    }
    let mut recognised = 0;
    for input in &inputs {
        // Never a panic: a value or a typed error, for auto-detection and every forced type.
        if admitd::inspect::inspect(input).is_ok() {
            recognised += 1;
        }
        for (_, kind) in KINDS {
            let _ = inspect_as(input, *kind);
        }
    }
    // Flips in hashes and signatures keep the structure: some inputs still parse.
    assert!(recognised > 0 && recognised < inputs.len(), "{recognised}");
}
