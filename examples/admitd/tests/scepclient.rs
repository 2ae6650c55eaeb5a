//! micromdm's `scepclient` (Debian `scep`) against admitd's `/scep`, as its users would run it.
//! It encrypts its request to every certificate GetCACert returns and seals with single DES
//! when the CA does not advertise AES in a way it uses. What it does, seen from its own output:
//!
//! - admitd with an RSA CA: scepclient sends a single-DES PKCSReq and reads our signed FAILURE
//!   `badAlg` (it prints the failInfo; it still exits 0, which is scepclient's choice).
//! - admitd with the default P-256 CA: scepclient stops before sending anything, because its
//!   PKCS#7 library can only encrypt to RSA keys. Nothing reaches PKIOperation.

mod common;
mod scep_support;

use std::process::Command;
use std::time::Duration;

use common::{ADMITD, Admitd};

fn scepclient(dir: &std::path::Path, server: &Admitd, challenge: &str) -> String {
    let url = format!("http://127.0.0.1:{}/scep", server.http.port());
    let run = testkit::run_bounded(
        Command::new("scepclient").args([
            "-server-url",
            &url,
            "-challenge",
            challenge,
            "-private-key",
            "key.pem",
            "-certificate",
            "cert.pem",
            "-cn",
            "scepclient device",
            "-debug",
        ]),
        dir,
        Duration::from_secs(60),
    );
    format!("{}{}", String::from_utf8_lossy(&run.stdout), run.stderr)
}

#[test]
fn scepclient_gets_bad_alg_from_an_rsa_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &["--ca-key-type", "rsa"]);
    let challenge = scep_support::new_challenge(ADMITD, &data);
    let out = scepclient(tmp.path(), &server, &challenge);
    assert!(out.contains("failInfo: badAlg"), "{out}");
    assert!(!tmp.path().join("cert.pem").exists());
    let log = server.log_text();
    assert!(log.contains("single DES-CBC"), "{log}");
    assert!(
        log.contains("method=POST path=\"/scep\" status=200"),
        "{log}"
    );
    server.stop();
}

#[test]
fn scepclient_cannot_encrypt_to_a_p256_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &[]);
    let challenge = scep_support::new_challenge(ADMITD, &data);
    let out = scepclient(tmp.path(), &server, &challenge);
    assert!(out.contains("ecdsa.PublicKey, not *rsa.PublicKey"), "{out}");
    let log = server.log_text();
    assert!(
        log.contains("operation") || log.contains("path=\"/scep\""),
        "{log}"
    );
    assert!(!log.contains("method=POST"), "{log}");
    server.stop();
}
