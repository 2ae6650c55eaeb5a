//! TPM attestation end to end: an imported device whose instance ID is its EK URI becomes
//! high-assurance after `swtpm` + `tpm2-tools` answer admitd's MakeCredential challenge
//! (`tpm2_activatecredential`) and quote its nonce (`tpm2_quote`); a second TPM is refused.
//! The EK URI is computed by `openssl` from the EK certificate in NV, independently of admitd.

mod backend;
mod common;
mod inventory_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use inventory_support::{Server, enc};
use serde_json::{Value, json};
use testkit::swtpm::Swtpm;

/// The RSA EK certificate's NV index.
const RSA_EK_CERT_NV: &str = "0x01c00002";

struct Agent {
    tpm: Swtpm,
    ek_uri: String,
}

impl Agent {
    /// A TPM with its RSA EK, an RSA AK under it, and its EK certificate read from NV.
    fn new() -> Agent {
        let tpm = Swtpm::start();
        tpm.create_rsa_ek();
        tpm.create_ak("ek.ctx", "rsa", "rsassa");
        tpm.tool(&["tpm2_nvread", RSA_EK_CERT_NV, "-o", "ekcert.der"]);
        let ek_uri = testkit::openssl_ek_uri(&tpm.work(), &tpm.read("ekcert.der"));
        Agent { tpm, ek_uri }
    }

    fn challenge_body(&self, instance_id: &str, with_cert: bool) -> Value {
        let mut b = json!({
            "instance_id": instance_id,
            "ek_public": B64.encode(self.tpm.read("ek.pub")),
            "ak_public": B64.encode(self.tpm.read("ak.pub")),
        });
        if with_cert {
            b["ek_cert"] = json!(B64.encode(self.tpm.read("ekcert.der")));
        }
        b
    }

    /// `tpm2_activatecredential` under an EK policy session; the secret, or the tool's error.
    fn activate(&self, credential_b64: &str) -> Result<Vec<u8>, String> {
        self.tpm
            .write("cred.out", &B64.decode(credential_b64).unwrap());
        self.tpm.tool(&[
            "tpm2_startauthsession",
            "--policy-session",
            "-S",
            "session.ctx",
        ]);
        self.tpm
            .tool(&["tpm2_policysecret", "-S", "session.ctx", "-c", "e"]);
        let r = self.tpm.try_tool(&[
            "tpm2_activatecredential",
            "-c",
            "ak.ctx",
            "-C",
            "ek.ctx",
            "-i",
            "cred.out",
            "-o",
            "secret.out",
            "-P",
            "session:session.ctx",
        ]);
        let _ = self.tpm.try_tool(&["tpm2_flushcontext", "session.ctx"]);
        if r.ok {
            Ok(self.tpm.read("secret.out"))
        } else {
            Err(r.stderr)
        }
    }

    /// `tpm2_quote` by the AK over `nonce_hex`: (attest, signature, pcrs) as base64.
    fn quote(&self, nonce_hex: &str) -> (String, String, String) {
        self.tpm.tool(&[
            "tpm2_quote",
            "-c",
            "ak.ctx",
            "-l",
            "sha256:0,7",
            "-q",
            nonce_hex,
            "-m",
            "quote.msg",
            "-s",
            "quote.sig",
            "-o",
            "quote.pcrs",
            "-g",
            "sha256",
        ]);
        (
            B64.encode(self.tpm.read("quote.msg")),
            B64.encode(self.tpm.read("quote.sig")),
            B64.encode(self.tpm.read("quote.pcrs")),
        )
    }
}

#[test]
fn tpm_attestation_raises_assurance_and_refuses_another_tpm() {
    let a = Agent::new();
    let other = Agent::new();
    assert_ne!(a.ek_uri, other.ek_uri);
    let tmp = tempfile::tempdir().unwrap();
    // The swtpm local CA that signed both EK certificates is the configured vendor root.
    let roots = a.tpm.dir().join("ca/issuercert.pem");
    let backend = backend::Backend::Sqlite;
    let s = Server::start(
        tmp.path(),
        &backend,
        &format!(
            "tpm_roots = [\"{}\"]\nhigh_assurance_for = [\"device_auth_token\"]",
            roots.display()
        ),
    );
    // The administrator imports the device by its EK URI.
    let path = format!("/api/v1/collections/default/instances/{}", enc(&a.ek_uri));
    let r = s.admin(
        "PUT",
        &path,
        Some(&json!({"data": {"acme:identity": "ada@example.com"}})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["assurance"], json!("normal"));

    // Challenge, activation, quote, verification.
    let r = s.call(
        "POST",
        "/api/v1/attest/tpm/challenge",
        "",
        Some((
            "application/json",
            &a.challenge_body(&a.ek_uri, true).to_string(),
        )),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.admitd.log_text());
    let ch = r.json();
    let secret = a
        .activate(ch["credential"].as_str().unwrap())
        .expect("the TPM activates its own credential");
    assert_eq!(secret.len(), 32);
    let (attest, sig, pcrs) = a.quote(ch["nonce"].as_str().unwrap());
    let verify = |challenge: &str, secret: &[u8], attest: &str| {
        let body = json!({"challenge_id": challenge, "secret": B64.encode(secret), "attest": attest, "signature": sig, "pcrs": pcrs});
        s.call(
            "POST",
            "/api/v1/attest/tpm/verify",
            "",
            Some(("application/json", &body.to_string())),
        )
    };
    let r = verify(ch["challenge_id"].as_str().unwrap(), &secret, &attest);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["assurance"], json!("high"));
    assert!(r.json()["attested_at"].is_string());
    // The challenge was one use.
    let r = verify(ch["challenge_id"].as_str().unwrap(), &secret, &attest);
    assert_eq!(r.status, 404, "{}", r.body);
    let dash = s.admin("GET", "/api/v1/inventory/dashboard", None).json();
    assert_eq!(dash["by_assurance"]["high"], json!(1));

    // Another TPM claiming the device: its EK URI is not the record's; refused and logged.
    let r = s.call(
        "POST",
        "/api/v1/attest/tpm/challenge",
        "",
        Some((
            "application/json",
            &other.challenge_body(&a.ek_uri, true).to_string(),
        )),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        s.admitd.log_text().contains("TPM attestation refused"),
        "not logged"
    );
    // Another TPM cannot open a challenge made for this one's EK and AK...
    let r = s.call(
        "POST",
        "/api/v1/attest/tpm/challenge",
        "",
        Some((
            "application/json",
            &a.challenge_body(&a.ek_uri, true).to_string(),
        )),
    );
    let ch = r.json();
    assert!(
        other.activate(ch["credential"].as_str().unwrap()).is_err(),
        "another TPM activated the credential"
    );
    // ...and guessing the secret, or quoting another nonce, is refused.
    let (attest2, _, _) = a.quote(ch["nonce"].as_str().unwrap());
    let r = verify(ch["challenge_id"].as_str().unwrap(), &[0u8; 32], &attest2);
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.call(
        "POST",
        "/api/v1/attest/tpm/challenge",
        "",
        Some((
            "application/json",
            &a.challenge_body(&a.ek_uri, true).to_string(),
        )),
    );
    let ch = r.json();
    let secret = a.activate(ch["credential"].as_str().unwrap()).unwrap();
    let (stale, _, _) = a.quote("00112233445566778899aabbccddeeff");
    let r = verify(ch["challenge_id"].as_str().unwrap(), &secret, &stale);
    assert_eq!(r.status, 403, "{}", r.body);

    // An EK certificate that does not chain to the configured roots is refused: the other
    // TPM's CA is a different local CA.
    let other_path = format!(
        "/api/v1/collections/default/instances/{}",
        enc(&other.ek_uri)
    );
    assert_eq!(
        s.admin("PUT", &other_path, Some(&json!({"data": {}})))
            .status,
        201
    );
    let r = s.call(
        "POST",
        "/api/v1/attest/tpm/challenge",
        "",
        Some((
            "application/json",
            &other.challenge_body(&other.ek_uri, true).to_string(),
        )),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("EK certificate"),
        "{}",
        r.body
    );

    // Bad input: not base64, not a TPM2B_PUBLIC, missing fields.
    for body in [
        json!({"instance_id": a.ek_uri, "ek_public": "!!", "ak_public": "AA=="}),
        json!({"instance_id": a.ek_uri, "ek_public": "AAAA", "ak_public": "AAAA"}),
        json!({"instance_id": a.ek_uri}),
    ] {
        let r = s.call(
            "POST",
            "/api/v1/attest/tpm/challenge",
            "",
            Some(("application/json", &body.to_string())),
        );
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
}
