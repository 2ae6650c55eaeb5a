//! The ACME device-attest-01 `tpm` statement builder shared by attestation's `acme_tpm` test
//! and the `protocols` bench: AIK certificates minted by `openssl` in the AIK profile, a
//! TPMT_PUBLIC and a TPMS_ATTEST marshalled by hand from TPM 2.0 Part 2, the certInfo signed by
//! `openssl dgst -sign` with the AIK key and wrapped as a TPMT_SIGNATURE, the CBOR assembled
//! with ciborium.
#![allow(dead_code, missing_docs)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use attestation::acme::Challenge;
use attestation::pki::cert::Cert;
use base64::Engine as _;
use ciborium::Value;
use sha2::Digest as _;
use testkit::openssl;

pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

pub const KEY_AUTH: &str = "DGyRejmCefe7v4NfDGDKfA.lS2TrtMJgK-4lXbjfqtlFWo1bqqNb5pIwGWiUgKm3Fo";
pub const PERM_ID: &str = "TPM-SERIAL-0001";
pub const EK_URI: &str = "urn:ek:sha256:RFWsCAdKOHjbfgUyFoaagTwpjqBPqdi7Txe0vYW5ss4";

pub fn now() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

const CA_CNF: &str = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n\
[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign\n\
subjectKeyIdentifier = hash\n";

pub fn aik_ext(eku: &str) -> String {
    format!(
        "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
extendedKeyUsage = {eku}\n\
subjectAltName = critical,dirName:tpm_dn,otherName:1.3.6.1.5.5.7.8.3;SEQUENCE:permid,URI:{EK_URI}\n\
[tpm_dn]\na.2.23.133.2.1 = id:53575450\na.2.23.133.2.2 = swtpm\na.2.23.133.2.3 = id:20191023\n\
[permid]\nvalue = UTF8:{PERM_ID}\n"
    )
}

/// A CA and AIK certificates, and the attested key, all made by openssl.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub root: Cert,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ca.cnf"), CA_CNF).unwrap();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=Test AIK CA",
                "-days",
                "30",
                "-config",
                "ca.cnf",
                "-extensions",
                "v3_ca",
            ],
        );
        // The key the TPM certifies: P-256.
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "key.pem",
            ],
        );
        openssl(
            d,
            &[
                "pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "key.spki",
            ],
        );
        let root = Cert::from_pem(&std::fs::read(d.join("ca.pem")).unwrap()).unwrap();
        Self { dir, root }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// An AIK certificate over a new key of `alg` (`rsa` or `ec`), with `subject` and `eku`.
    pub fn aik(&self, name: &str, alg: &str, subject: &str, eku: &str) -> Cert {
        let d = self.path();
        let key = format!("{name}.key");
        match alg {
            "rsa" => openssl(
                d,
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    &key,
                ],
            ),
            _ => openssl(
                d,
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                    &key,
                ],
            ),
        };
        std::fs::write(d.join(format!("{name}.ext")), aik_ext(eku)).unwrap();
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-subj",
                subject,
                "-out",
                &format!("{name}.csr"),
                "-config",
                "ca.cnf",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "77",
                "-days",
                "5",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
        Cert::from_pem(&std::fs::read(d.join(format!("{name}.pem"))).unwrap()).unwrap()
    }

    pub fn key_spki(&self) -> Vec<u8> {
        std::fs::read(self.path().join("key.spki")).unwrap()
    }

    /// Sign `msg` with the AIK `name` (SHA-256), as openssl writes the signature.
    pub fn sign(&self, name: &str, msg: &[u8]) -> Vec<u8> {
        let d = self.path();
        std::fs::write(d.join("msg.bin"), msg).unwrap();
        openssl(
            d,
            &[
                "dgst",
                "-sha256",
                "-sign",
                &format!("{name}.key"),
                "-out",
                "sig.bin",
                "msg.bin",
            ],
        );
        std::fs::read(d.join("sig.bin")).unwrap()
    }
}

pub fn u16be(v: usize) -> [u8; 2] {
    u16::try_from(v).unwrap().to_be_bytes()
}

/// TPMT_PUBLIC of an ECC P-256 signing key (Part 2 section 12.2.4), from its SPKI's point.
pub fn tpmt_public_ecc(spki: &[u8]) -> Vec<u8> {
    let point = &spki[spki.len() - 64..];
    let mut v = Vec::new();
    v.extend_from_slice(&[0x00, 0x23]); // type TPM_ALG_ECC
    v.extend_from_slice(&[0x00, 0x0b]); // nameAlg TPM_ALG_SHA256
    // fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | sign
    v.extend_from_slice(&0x0004_0072u32.to_be_bytes());
    v.extend_from_slice(&[0x00, 0x00]); // authPolicy: empty TPM2B_DIGEST
    v.extend_from_slice(&[0x00, 0x10]); // symmetric: TPM_ALG_NULL
    v.extend_from_slice(&[0x00, 0x18, 0x00, 0x0b]); // scheme: ECDSA, SHA-256
    v.extend_from_slice(&[0x00, 0x03]); // curveID: NIST P-256
    v.extend_from_slice(&[0x00, 0x10]); // kdf: TPM_ALG_NULL
    v.extend_from_slice(&u16be(32));
    v.extend_from_slice(&point[..32]);
    v.extend_from_slice(&u16be(32));
    v.extend_from_slice(&point[32..]);
    v
}

/// TPMS_ATTEST of type TPM_ST_ATTEST_CERTIFY (Part 2 section 10.12.12).
pub fn tpms_attest_certify(extra: &[u8], pub_area: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xff54_4347u32.to_be_bytes()); // magic TPM_GENERATED_VALUE
    v.extend_from_slice(&[0x80, 0x17]); // type TPM_ST_ATTEST_CERTIFY
    // qualifiedSigner: a SHA-256 Name (arbitrary here).
    v.extend_from_slice(&u16be(34));
    v.extend_from_slice(&[0x00, 0x0b]);
    v.extend_from_slice(&[0x11; 32]);
    v.extend_from_slice(&u16be(extra.len()));
    v.extend_from_slice(extra);
    v.extend_from_slice(&123_456u64.to_be_bytes()); // clock
    v.extend_from_slice(&3u32.to_be_bytes()); // resetCount
    v.extend_from_slice(&0u32.to_be_bytes()); // restartCount
    v.push(1); // safe
    v.extend_from_slice(&0x2019_1023_0016_3636u64.to_be_bytes()); // firmwareVersion
    // attested.name = nameAlg || H(pubArea)
    v.extend_from_slice(&u16be(34));
    v.extend_from_slice(&[0x00, 0x0b]);
    v.extend_from_slice(&sha256(pub_area));
    // attested.qualifiedName (arbitrary here)
    v.extend_from_slice(&u16be(34));
    v.extend_from_slice(&[0x00, 0x0b]);
    v.extend_from_slice(&[0x22; 32]);
    v
}

/// Read r and s out of a DER ECDSA-Sig-Value (two short INTEGERs in a SEQUENCE).
pub fn der_ecdsa_rs(sig: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(sig[0], 0x30);
    let mut i = 2;
    let mut take = || {
        assert_eq!(sig[i], 0x02);
        let len = sig[i + 1] as usize;
        let v = sig[i + 2..i + 2 + len].to_vec();
        i += 2 + len;
        v
    };
    (take(), take())
}

/// TPMT_SIGNATURE (Part 2 section 11.3.4) around an openssl signature.
pub fn tpmt_signature(alg: &str, sig: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    match alg {
        "rsa" => {
            v.extend_from_slice(&[0x00, 0x14, 0x00, 0x0b]); // RSASSA, SHA-256
            v.extend_from_slice(&u16be(sig.len()));
            v.extend_from_slice(sig);
        }
        _ => {
            v.extend_from_slice(&[0x00, 0x18, 0x00, 0x0b]); // ECDSA, SHA-256
            let (r, s) = der_ecdsa_rs(sig);
            for part in [r, s] {
                v.extend_from_slice(&u16be(part.len()));
                v.extend_from_slice(&part);
            }
        }
    }
    v
}

pub struct Stmt {
    pub ver: &'static str,
    pub alg: i64,
    pub x5c: Vec<Vec<u8>>,
    pub sig: Vec<u8>,
    pub cert_info: Vec<u8>,
    pub pub_area: Vec<u8>,
}

impl Stmt {
    pub fn payload(&self) -> Vec<u8> {
        let t = |s: &str| Value::Text(s.into());
        let stmt = Value::Map(vec![
            (t("ver"), t(self.ver)),
            (t("alg"), Value::Integer(self.alg.into())),
            (
                t("x5c"),
                Value::Array(self.x5c.iter().map(|c| Value::Bytes(c.clone())).collect()),
            ),
            (t("sig"), Value::Bytes(self.sig.clone())),
            (t("certInfo"), Value::Bytes(self.cert_info.clone())),
            (t("pubArea"), Value::Bytes(self.pub_area.clone())),
        ]);
        let obj = Value::Map(vec![(t("fmt"), t("tpm")), (t("attStmt"), stmt)]);
        let mut cbor = Vec::new();
        ciborium::ser::into_writer(&obj, &mut cbor).unwrap();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&cbor);
        serde_json::to_vec(&serde_json::json!({ "attObj": b64 })).unwrap()
    }
}

/// A complete, valid statement from the AIK `name` (key type `alg`).
pub fn statement(fx: &Fixture, name: &str, alg: &str, aik: &Cert, key_auth: &str) -> Stmt {
    let pub_area = tpmt_public_ecc(&fx.key_spki());
    let cert_info = tpms_attest_certify(&sha256(key_auth.as_bytes()), &pub_area);
    let sig = tpmt_signature(alg, &fx.sign(name, &cert_info));
    Stmt {
        ver: "2.0",
        alg: if alg == "rsa" { -257 } else { -7 },
        x5c: vec![aik.der().to_vec()],
        sig,
        cert_info,
        pub_area,
    }
}

pub fn challenge() -> Challenge<'static> {
    Challenge {
        token: "DGyRejmCefe7v4NfDGDKfA",
        key_authorization: KEY_AUTH,
        permanent_identifier: PERM_ID,
    }
}

pub fn clone(s: &Stmt) -> Stmt {
    Stmt {
        ver: s.ver,
        alg: s.alg,
        x5c: s.x5c.clone(),
        sig: s.sig.clone(),
        cert_info: s.cert_info.clone(),
        pub_area: s.pub_area.clone(),
    }
}
