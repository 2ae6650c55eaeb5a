//! ACME device-attest-01 `tpm` end to end with a real (software) TPM: `swtpm` on 127.0.0.1,
//! driven by `tpm2-tools`. The AK certificate is minted by the test's CA with `openssl` in the
//! AIK profile (empty subject, EKU 2.23.133.8.3, critical SAN with the TPM attributes, a
//! permanentIdentifier and the EK URI openssl computes from the TPM's EK); the TPM itself runs
//! TPM2_Certify over an attested key with qualifyingData = SHA-256(keyAuthorization). As
//! `tpm2_certify` (tpm2-tools 5.4) cannot set qualifyingData, the test marshals the command
//! from TPM 2.0 Part 3, section 18.2 and sends it with `tpm2_send`.

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime};

use attestation::Error;
use attestation::acme::{self, AcmeError, Challenge, Options};
use attestation::pki::cert::Cert;
use attestation::webauthn::WebAuthnError;
use base64::Engine as _;
use ciborium::Value;
use sha2::Digest as _;
use testkit::swtpm::Swtpm;

const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const KEY_AUTH: &str =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
const PERM_ID: &str = "SWTPM-0000-0001";
/// Persistent handles for the attested key and the AK (owner range, Part 2 section 7.5).
const KEY_HANDLE: u32 = 0x8100_0010;
const AK_HANDLE: u32 = 0x8100_0011;

/// A password session with an empty password (TPMS_AUTH_COMMAND, Part 1 section 19.8.4):
/// sessionHandle TPM_RS_PW, nonceCaller empty, sessionAttributes 0, hmac empty.
fn password_session() -> Vec<u8> {
    let mut v = 0x4000_0009u32.to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0]); // nonceCaller
    v.push(0); // sessionAttributes
    v.extend_from_slice(&[0, 0]); // hmac
    v
}

/// TPM2_Certify (Part 3 section 18.2.2): TPM_ST_SESSIONS, TPM_CC_Certify, @objectHandle,
/// @signHandle, authorization area (two password sessions), qualifyingData TPM2B_DATA,
/// inScheme TPMT_SIG_SCHEME { TPM_ALG_NULL } (the signing key's own scheme).
fn certify_command(object: u32, sign: u32, qualifying_data: &[u8]) -> Vec<u8> {
    let mut auth = password_session();
    auth.extend_from_slice(&password_session());
    let mut body = Vec::new();
    body.extend_from_slice(&0x0000_0148u32.to_be_bytes());
    body.extend_from_slice(&object.to_be_bytes());
    body.extend_from_slice(&sign.to_be_bytes());
    body.extend_from_slice(&u32::try_from(auth.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&auth);
    body.extend_from_slice(&u16::try_from(qualifying_data.len()).unwrap().to_be_bytes());
    body.extend_from_slice(qualifying_data);
    body.extend_from_slice(&0x0010u16.to_be_bytes());
    let mut cmd = 0x8002u16.to_be_bytes().to_vec();
    cmd.extend_from_slice(&u32::try_from(6 + body.len()).unwrap().to_be_bytes());
    cmd.extend_from_slice(&body);
    cmd
}

/// The response (Part 3 section 18.2.3): tag, responseSize, responseCode, parameterSize,
/// certifyInfo TPM2B_ATTEST, signature TPMT_SIGNATURE, then the session responses.
/// Returns (certifyInfo contents, signature bytes).
fn parse_certify_response(resp: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let be32 = |i: usize| u32::from_be_bytes(resp[i..i + 4].try_into().unwrap()) as usize;
    assert_eq!(&resp[..2], &[0x80, 0x02], "TPM_ST_SESSIONS response");
    assert_eq!(be32(2), resp.len(), "responseSize");
    assert_eq!(be32(6), 0, "responseCode: 0x{:08x}", be32(6));
    let param_size = be32(10);
    let params = &resp[14..14 + param_size];
    let attest_len = usize::from(u16::from_be_bytes([params[0], params[1]]));
    let attest = params[2..2 + attest_len].to_vec();
    let sig = params[2 + attest_len..].to_vec();
    (attest, sig)
}

const CA_CNF: &str = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n\
[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign\n\
subjectKeyIdentifier = hash\n";

/// The AIK profile extensions (TCG EK Credential Profile / Smallstep's checks): not a CA,
/// digitalSignature, EKU tcg-kp-AIKCertificate, a critical SAN with the TPM manufacturer,
/// model and version, a permanentIdentifier and the EK URI.
fn aik_ext(ek_uri: &str) -> String {
    format!(
        "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
extendedKeyUsage = 2.23.133.8.3\n\
subjectAltName = critical,dirName:tpm_dn,otherName:1.3.6.1.5.5.7.8.3;SEQUENCE:permid,URI:{ek_uri}\n\
[tpm_dn]\na.2.23.133.2.1 = id:00001014\na.2.23.133.2.2 = swtpm\na.2.23.133.2.3 = id:20191023\n\
[permid]\nvalue = UTF8:{PERM_ID}\n"
    )
}

/// Everything the device and the CA produced for one AK type.
struct Evidence {
    ak_cert: Vec<u8>,
    sig: Vec<u8>,
    cert_info: Vec<u8>,
    pub_area: Vec<u8>,
    alg: i64,
    /// SHA-256 of the attested key's DER SPKI as `tpm2_readpublic -f der` writes it.
    key_spki_sha256: [u8; 32],
    ek_uri: String,
    root: Cert,
    other_root: Cert,
}

fn payload(alg: i64, x5c: &[u8], sig: &[u8], ci: &[u8], pa: &[u8]) -> Vec<u8> {
    let t = |s: &str| Value::Text(s.into());
    let stmt = Value::Map(vec![
        (t("ver"), t("2.0")),
        (t("alg"), Value::Integer(alg.into())),
        (t("x5c"), Value::Array(vec![Value::Bytes(x5c.to_vec())])),
        (t("sig"), Value::Bytes(sig.to_vec())),
        (t("certInfo"), Value::Bytes(ci.to_vec())),
        (t("pubArea"), Value::Bytes(pa.to_vec())),
    ]);
    let obj = Value::Map(vec![(t("fmt"), t("tpm")), (t("attStmt"), stmt)]);
    let mut cbor = Vec::new();
    ciborium::ser::into_writer(&obj, &mut cbor).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&cbor);
    serde_json::to_vec(&serde_json::json!({ "attObj": b64 })).unwrap()
}

impl Evidence {
    fn payload(&self) -> Vec<u8> {
        payload(
            self.alg,
            &self.ak_cert,
            &self.sig,
            &self.cert_info,
            &self.pub_area,
        )
    }
}

/// Build the evidence with an AK of `key` / `scheme` (`tpm2_createak -G key -s scheme`).
fn make_evidence(tpm: &Swtpm, key: &str, scheme: &str, alg: i64) -> Evidence {
    // The CA (and a second, unrelated one).
    tpm.write("ca.cnf", CA_CNF.as_bytes());
    for name in ["ca", "other"] {
        tpm.openssl(&[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN=Test AIK CA {name}"),
            "-days",
            "30",
            "-config",
            "ca.cnf",
            "-extensions",
            "v3_ca",
        ]);
    }
    // The TPM: EK, AK, and an attested (unrestricted) P-256 key, both made persistent.
    tpm.create_rsa_ek();
    tpm.tool(&[
        "tpm2_readpublic",
        "-c",
        "ek.ctx",
        "-f",
        "der",
        "-o",
        "ek.spki",
    ]);
    tpm.openssl(&["dgst", "-sha256", "-binary", "-out", "ek.h", "ek.spki"]);
    let b64 = tpm.openssl(&["base64", "-A", "-in", "ek.h"]);
    let ek_uri = format!("urn:ek:sha256:{}", String::from_utf8(b64).unwrap().trim());
    tpm.create_ak("ek.ctx", key, scheme);
    tpm.tool(&[
        "tpm2_readpublic",
        "-c",
        "ak.ctx",
        "-f",
        "pem",
        "-o",
        "ak.pem",
    ]);
    tpm.tool(&[
        "tpm2_createprimary",
        "-C",
        "o",
        "-G",
        "ecc",
        "-c",
        "prim.ctx",
    ]);
    tpm.tool(&[
        "tpm2_create",
        "-C",
        "prim.ctx",
        "-G",
        "ecc256",
        "-u",
        "key.pub",
        "-r",
        "key.priv",
    ]);
    tpm.tool(&[
        "tpm2_load",
        "-C",
        "prim.ctx",
        "-u",
        "key.pub",
        "-r",
        "key.priv",
        "-c",
        "key.ctx",
    ]);
    for h in [KEY_HANDLE, AK_HANDLE] {
        // A handle left from an earlier AK type is evicted first.
        let tcti = tpm.tcti();
        let _ = testkit::run_bounded(
            Command::new("tpm2_evictcontrol")
                .args(["-C", "o", "-c", &format!("0x{h:08x}")])
                .env("TPM2TOOLS_TCTI", &tcti),
            &tpm.work(),
            testkit::swtpm::TOOL_TIMEOUT,
        );
    }
    tpm.tool(&[
        "tpm2_evictcontrol",
        "-C",
        "o",
        "-c",
        "key.ctx",
        &format!("0x{KEY_HANDLE:08x}"),
    ]);
    tpm.tool(&[
        "tpm2_evictcontrol",
        "-C",
        "o",
        "-c",
        "ak.ctx",
        &format!("0x{AK_HANDLE:08x}"),
    ]);
    tpm.tool(&[
        "tpm2_readpublic",
        "-c",
        &format!("0x{KEY_HANDLE:08x}"),
        "-f",
        "der",
        "-o",
        "key.spki",
    ]);
    let key_spki_sha256: [u8; 32] = sha2::Sha256::digest(tpm.read("key.spki")).into();

    // The AK certificate: the AK's public key (PEM from tpm2-tools) forced into a certificate
    // from a throwaway CSR whose subject is empty.
    tpm.openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "dummy.key",
        "-out",
        "dummy.csr",
        "-subj",
        "/",
        "-config",
        "ca.cnf",
    ]);
    tpm.write("aik.ext", aik_ext(&ek_uri).as_bytes());
    tpm.openssl(&[
        "x509",
        "-req",
        "-in",
        "dummy.csr",
        "-force_pubkey",
        "ak.pem",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "4242",
        "-days",
        "5",
        "-sha256",
        "-extfile",
        "aik.ext",
        "-outform",
        "DER",
        "-out",
        "aik.der",
    ]);

    // TPM2_Certify by the AK over the key, qualifyingData = SHA-256(keyAuthorization).
    let qualifying: [u8; 32] = sha2::Sha256::digest(KEY_AUTH.as_bytes()).into();
    tpm.write(
        "certify.cmd",
        &certify_command(KEY_HANDLE, AK_HANDLE, &qualifying),
    );
    tpm.tool(&["tpm2_send", "-o", "certify.rsp", "certify.cmd"]);
    let (cert_info, sig) = parse_certify_response(&tpm.read("certify.rsp"));
    // pubArea: the TPMT_PUBLIC inside the TPM2B_PUBLIC tpm2_create wrote.
    let pub_area = tpm.read("key.pub")[2..].to_vec();
    let root = Cert::from_pem(&tpm.read("ca.pem")).unwrap();
    let other_root = Cert::from_pem(&tpm.read("other.pem")).unwrap();
    Evidence {
        ak_cert: tpm.read("aik.der"),
        sig,
        cert_info,
        pub_area,
        alg,
        key_spki_sha256,
        ek_uri,
        root,
        other_root,
    }
}

fn challenge() -> Challenge<'static> {
    Challenge {
        token: TOKEN,
        key_authorization: KEY_AUTH,
        permanent_identifier: PERM_ID,
    }
}

fn now() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

fn flip(b: &[u8], i: usize) -> Vec<u8> {
    let mut v = b.to_vec();
    v[i] ^= 0x01;
    v
}

#[test]
fn acme_tpm_certify_from_swtpm_verifies_and_any_change_fails() {
    let tpm = Swtpm::start_without_ek_certs();
    for (key, scheme, alg) in [("rsa", "rsassa", -257i64), ("ecc256", "ecdsa", -7)] {
        let ev = make_evidence(&tpm, key, scheme, alg);
        let roots = [ev.root.clone()];
        let body = ev.payload();
        for p in common::providers() {
            let opts = Options::new(now(), &roots);
            let ok = acme::verify(p, &body, &challenge(), &opts)
                .unwrap_or_else(|e| panic!("{key}/{}: {e}", p.name()));
            assert_eq!(ok.format(), "tpm");
            assert_eq!(ok.permanent_identifier(), PERM_ID);
            assert_eq!(ok.key_fingerprint(), ev.key_spki_sha256, "{key}");
            assert_eq!(ok.ek_uri(), Some(ev.ek_uri.as_str()));
            let spki = attestation::pki::spki::SubjectPublicKeyInfoOwned::try_from(
                &tpm.read("key.spki")[..],
            )
            .unwrap();
            assert!(ok.matches_key(&spki).unwrap(), "the CSR's key would match");

            // Another keyAuthorization: the TPM certified a different qualifyingData.
            let other = Challenge {
                key_authorization: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.other",
                ..challenge()
            };
            assert!(
                matches!(
                    acme::verify(p, &body, &other, &opts),
                    Err(Error::NonceMismatch)
                        | Err(Error::WebAuthn(WebAuthnError::NonceMismatch(_)))
                ),
                "{:?}",
                acme::verify(p, &body, &other, &opts)
            );
            // Another identifier.
            let other = Challenge {
                permanent_identifier: "SWTPM-0000-0002",
                ..challenge()
            };
            assert!(matches!(
                acme::verify(p, &body, &other, &opts),
                Err(Error::Acme(AcmeError::IdentifierMismatch { .. }))
            ));
            // Another root; no time in the AK certificate's validity.
            let other_roots = [ev.other_root.clone()];
            assert!(
                acme::verify(p, &body, &challenge(), &Options::new(now(), &other_roots)).is_err()
            );
            let later = SystemTime::now() + Duration::from_secs(10 * 86_400);
            assert!(acme::verify(p, &body, &challenge(), &Options::new(later, &roots)).is_err());
            // The other alg than the AK signed with.
            let wrong_alg = if alg == -7 { -257 } else { -7 };
            let b = payload(wrong_alg, &ev.ak_cert, &ev.sig, &ev.cert_info, &ev.pub_area);
            assert!(acme::verify(p, &b, &challenge(), &opts).is_err());

            // Any byte of certInfo, sig or pubArea.
            for i in 0..ev.cert_info.len() {
                let ci = flip(&ev.cert_info, i);
                let b = payload(alg, &ev.ak_cert, &ev.sig, &ci, &ev.pub_area);
                assert!(
                    acme::verify(p, &b, &challenge(), &opts).is_err(),
                    "certInfo byte {i}"
                );
            }
            for i in 0..ev.sig.len() {
                let s = flip(&ev.sig, i);
                let b = payload(alg, &ev.ak_cert, &s, &ev.cert_info, &ev.pub_area);
                assert!(
                    acme::verify(p, &b, &challenge(), &opts).is_err(),
                    "sig byte {i}"
                );
            }
            for i in 0..ev.pub_area.len() {
                let pa = flip(&ev.pub_area, i);
                let b = payload(alg, &ev.ak_cert, &ev.sig, &ev.cert_info, &pa);
                assert!(
                    acme::verify(p, &b, &challenge(), &opts).is_err(),
                    "pubArea byte {i}"
                );
            }
            // Any byte of the AK certificate (every byte is signed or is the signature).
            for i in 0..ev.ak_cert.len() {
                let c = flip(&ev.ak_cert, i);
                let b = payload(alg, &c, &ev.sig, &ev.cert_info, &ev.pub_area);
                assert!(
                    acme::verify(p, &b, &challenge(), &opts).is_err(),
                    "AK certificate byte {i}"
                );
            }
        }
    }
}
