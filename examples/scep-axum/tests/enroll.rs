//! Runs the `scep-axum` binary on 127.0.0.1:0 and enrolls against it over real HTTP (curl).
//!
//! The device's key, CSR (with its challengePassword) and self-signed certificate are made by
//! the `openssl` CLI; the `scep` crate's `Client` only wraps the CSR in a PKCSReq and opens the
//! CertRep (micromdm's `scepclient` cannot enroll here: it encrypts to every certificate of
//! GetCACert and only knows RSA, and this CA is P-256). The issued certificate is then checked
//! by `openssl verify` against the CA the server wrote with `--ca-pem`, and its key by
//! `openssl pkey`. A wrong challenge gets a signed FAILURE CertRep that `openssl cms` reads;
//! garbage, an oversized body and a wrong content type get the protocol's HTTP answers.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use pki::der::{Decode, EncodePem};
use pki::x509_cert::Certificate;
use rand_core::UnwrapErr;
use scep::{CaCerts, Capabilities, CertRepOptions, CertRepOutcome, Client, FailInfo, Identity};

const CHALLENGE: &str = "s3cret";

/// The running example; killed (by its PID) and reaped when dropped, whatever the test did.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(ca_pem: &Path) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_scep-axum"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--challenge",
                CHALLENGE,
                "--ca-pem",
            ])
            .arg(ca_pem)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn scep-axum");
        // The guard exists from here on, so a failed start still kills the child.
        let mut server = Server {
            child,
            addr: String::new(),
        };
        let stdout = server.child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        // EOF (an empty line) means the server exited before listening; its stderr says why.
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        let addr = line.trim().strip_prefix("listening ");
        server.addr = addr
            .unwrap_or_else(|| panic!("first line {line:?}"))
            .to_owned();
        server
    }

    fn url(&self, operation: &str) -> String {
        format!("http://{}/scep?operation={operation}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// curl `url` (POSTing `body` as `content_type` when given): status, content type, body.
fn curl(dir: &Path, url: &str, post: Option<(&str, &[u8])>) -> (u16, String, Vec<u8>) {
    let (out_file, in_file) = (dir.join("curl.out"), dir.join("curl.in"));
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "60",
        "-w",
        "%{http_code} %{content_type}",
        "-o",
    ])
    .arg(&out_file);
    if let Some((content_type, body)) = post {
        std::fs::write(&in_file, body).unwrap();
        cmd.args([
            "-H",
            &format!("Content-Type: {content_type}"),
            "--data-binary",
        ])
        .arg(format!("@{}", in_file.display()));
    }
    let out = run(cmd.arg(url));
    let written = String::from_utf8(out.stdout).unwrap();
    let (status, content_type) = written.split_once(' ').unwrap();
    (
        status.parse().unwrap(),
        content_type.to_owned(),
        std::fs::read(&out_file).unwrap(),
    )
}

/// A device made by openssl: RSA key, CSR asking for CN=`cn` with `challenge`, self-signed
/// certificate. Returns (key, CSR DER, certificate).
fn device(
    dir: &Path,
    cn: &str,
    challenge: &str,
) -> (
    std::sync::Arc<dyn pki::key::PrivateKey>,
    Vec<u8>,
    Certificate,
) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "key.pem",
        ],
    );
    let config = format!(
        "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n\
         [dn]\nCN = {cn}\n[attrs]\nchallengePassword = {challenge}\n"
    );
    std::fs::write(dir.join("req.cnf"), config).unwrap();
    openssl(
        dir,
        &[
            "req", "-new", "-key", "key.pem", "-config", "req.cnf", "-outform", "DER", "-out",
            "csr.der",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-key",
            "key.pem",
            "-subj",
            &format!("/CN={cn}"),
            "-days",
            "1",
            "-outform",
            "DER",
            "-out",
            "self.der",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.der",
        ],
    );
    let provider = pki::provider::compiled()[0];
    let key = provider
        .private_key_from_pkcs8_der(&std::fs::read(dir.join("key.der")).unwrap())
        .unwrap();
    let own = Certificate::from_der(&std::fs::read(dir.join("self.der")).unwrap()).unwrap();
    (key, std::fs::read(dir.join("csr.der")).unwrap(), own)
}

/// GetCACaps and GetCACert over curl, as a client starts.
fn client(dir: &Path, server: &Server) -> Client {
    let (status, _, caps) = curl(dir, &server.url("GetCACaps"), None);
    assert_eq!(status, 200);
    let (status, content_type, certs) = curl(dir, &server.url("GetCACert"), None);
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/x-x509-ca-ra-cert")
    );
    let ca = CaCerts::from_body(&content_type, &certs).unwrap();
    Client::new(pki::provider::compiled()[0], Capabilities::parse(&caps), ca)
}

/// Send a PKCSReq for `csr` signed by the device; the decoded CertRep and its raw bytes.
fn enroll(
    dir: &Path,
    server: &Server,
    key: &dyn pki::key::PrivateKey,
    own: &Certificate,
    csr: &[u8],
) -> (CertRepOutcome, Vec<u8>) {
    let client = client(dir, server);
    let me = Identity {
        signer: key,
        decrypter: key,
        certificate: own,
    };
    let mut rng = UnwrapErr(getrandom::SysRng);
    let tx = client.pkcs_req(me, csr, None, &mut rng).unwrap();
    let (status, content_type, body) = curl(
        dir,
        &server.url("PKIOperation"),
        Some(("application/x-pki-message", tx.message())),
    );
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/x-pki-message")
    );
    let outcome = client
        .read_cert_rep(&tx, me, &body, &CertRepOptions::default(), &mut rng)
        .unwrap();
    (outcome, body)
}

#[test]
fn an_openssl_made_device_enrolls_and_its_certificate_chains_to_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = Server::start(&dir.join("ca.pem"));
    let (key, csr, own) = device(dir, "device-1", CHALLENGE);

    let (outcome, _) = enroll(dir, &server, &*key, &own, &csr);
    let cert = outcome
        .certificate_for(key.spki())
        .expect("SUCCESS with our key's certificate")
        .clone();
    let pem = cert.to_pem(pki::der::pem::LineEnding::LF).unwrap();
    std::fs::write(dir.join("cert.pem"), pem).unwrap();
    assert_eq!(
        openssl(dir, &["verify", "-CAfile", "ca.pem", "cert.pem"]).trim(),
        "cert.pem: OK"
    );
    let subject = openssl(dir, &["x509", "-in", "cert.pem", "-noout", "-subject"]);
    assert_eq!(subject.trim(), "subject=CN = device-1");
    assert_eq!(
        openssl(dir, &["x509", "-in", "cert.pem", "-noout", "-pubkey"]),
        openssl(dir, &["pkey", "-in", "key.pem", "-pubout"])
    );

    // The same request again (a lost reply): the same certificate, never a second one.
    let (again, _) = enroll(dir, &server, &*key, &own, &csr);
    assert_eq!(again.certificate_for(key.spki()), Some(&cert));
}

#[test]
fn a_wrong_challenge_gets_a_signed_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = Server::start(&dir.join("ca.pem"));
    let (key, csr, own) = device(dir, "device-2", "not-the-challenge");

    let (outcome, body) = enroll(dir, &server, &*key, &own, &csr);
    let CertRepOutcome::Failure { fail_info, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(fail_info, FailInfo::BadRequest);
    // openssl reads the CertRep too: signed by the RA, pkiStatus FAILURE ("2"), failInfo
    // badRequest ("2").
    std::fs::write(dir.join("rep.der"), &body).unwrap();
    let printed = openssl(
        dir,
        &[
            "cms", "-cmsout", "-print", "-inform", "DER", "-in", "rep.der",
        ],
    );
    assert!(printed.contains("CN=scep-axum example RA"), "{printed}");
    for oid in ["2.16.840.1.113733.1.9.3", "2.16.840.1.113733.1.9.4"] {
        let at = printed
            .find(oid)
            .unwrap_or_else(|| panic!("no {oid} in {printed}"));
        let value = printed[at..]
            .lines()
            .find(|l| l.contains("PRINTABLESTRING"))
            .unwrap();
        assert!(value.trim_end().ends_with(":2"), "{oid}: {value}");
    }
}

#[test]
fn bad_input_gets_the_protocols_http_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = Server::start(&dir.join("ca.pem"));
    let url = server.url("PKIOperation");

    let (status, _, body) = curl(dir, &url, Some(("application/x-pki-message", b"garbage")));
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = curl(
        dir,
        &url,
        Some(("application/x-pki-message", &vec![0x30; 100_000])),
    );
    assert_eq!(status, 413);
    let (status, _, _) = curl(dir, &url, Some(("text/plain", b"garbage")));
    assert_eq!(status, 415);
    let (status, _, _) = curl(dir, &server.url("NoSuchOperation"), None);
    assert_eq!(status, 400);
}
