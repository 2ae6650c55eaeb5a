//! admitd's SCEP issuance policy, tried as an attacker would and judged by peers' tools:
//! a certificate from our CA is no licence to mint more (the RA's own key, a device certificate
//! asking for another name, a renewal outside the window, a revoked certificate), the server's
//! own names are never issued, weak keys are refused, the issued certificate is the first one
//! `openssl pkcs7 -print_certs` shows, and certmonger's `scep-submit` reads our FAILUREs
//! (exit status 2, with the failInfo) instead of failing to verify them.

mod common;
mod scep_support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{ADMITD, Admitd, openssl};
use pki::cert::issue::{Template, issue};
use pki::der::Encode;
use pki::key::{KeySpec, PrivateKey};
use pki::x509_cert::Certificate;
use scep::{CertRepOptions, CertRepOutcome, Client, FailInfo};
use scep_support::*;
use testkit::rng;

const PATH: &str = "/scep";
/// certmonger's SCEP helper (Debian `certmonger`).
const SCEP_SUBMIT: &str = "/usr/lib/certmonger/scep-submit";

fn failure(outcome: &CertRepOutcome) -> (FailInfo, String) {
    match outcome {
        CertRepOutcome::Failure { fail_info, text } => {
            (*fail_info, text.clone().unwrap_or_default())
        }
        other => panic!("expected FAILURE, got {other:?}"),
    }
}

/// A device with `key` and a self-signed certificate for it.
fn device_with(cn: &str, key: Arc<dyn PrivateKey>, seed: u64) -> Device {
    let p = client_provider();
    let now = SystemTime::now();
    let cert = issue(
        p,
        &*key,
        None,
        key.spki(),
        &Template::end_entity(
            now - Duration::from_secs(60),
            now + Duration::from_secs(86400),
        )
        .with_subject(format!("CN={cn}").parse().unwrap()),
        &mut rng(seed),
    )
    .unwrap();
    Device {
        key,
        cert,
        cn: cn.to_owned(),
    }
}

/// `device` signing with `cert` (one our CA issued), asking for `CN=<cn>`.
fn signed_by(device: &Device, cert: &Certificate, cn: &str) -> Device {
    Device {
        key: device.key.clone(),
        cert: cert.clone(),
        cn: cn.to_owned(),
    }
}

/// Send a PKCSReq for `device` with `challenge`; returns the raw reply and its outcome.
fn enrol_raw(
    client: &Client,
    server: &Admitd,
    device: &Device,
    challenge: Option<&str>,
    seed: u64,
) -> (Vec<u8>, CertRepOutcome) {
    let tx = client
        .pkcs_req(
            device.identity(),
            &device.csr(challenge, seed),
            None,
            &mut rng(seed),
        )
        .unwrap();
    let resp = exchange(
        server.http,
        &tx.to_request(&scep_uri(server.http, PATH), true).unwrap(),
    );
    assert_eq!(
        resp.status(),
        200,
        "{}",
        String::from_utf8_lossy(resp.body())
    );
    let out = client
        .read_cert_rep(
            &tx,
            device.identity(),
            resp.body(),
            &CertRepOptions::default(),
            &mut rng(seed + 1),
        )
        .unwrap();
    (resp.body().clone(), out)
}

/// openssl's view of a SUCCESS reply: verify the CertRep up to the root, open the envelope
/// with the device key, and list the certificates in the order they travel.
fn openssl_reply_certs(dir: &Path, data: &Path, reply: &[u8], device: &Device) -> Vec<Vec<u8>> {
    let chain = [
        std::fs::read_to_string(data.join("ca/device.pem")).unwrap(),
        std::fs::read_to_string(data.join("ca/root.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("cas.pem"), chain).unwrap();
    std::fs::write(dir.join("rep.der"), reply).unwrap();
    std::fs::write(
        dir.join("dev.key"),
        pem("PRIVATE KEY", &device.key.to_pkcs8_der().unwrap()),
    )
    .unwrap();
    std::fs::write(
        dir.join("dev.pem"),
        pem("CERTIFICATE", &device.cert.to_der().unwrap()),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "cms", "-verify", "-binary", "-inform", "DER", "-in", "rep.der", "-CAfile", "cas.pem",
            "-out", "env.der",
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
            "env.der",
            "-recip",
            "dev.pem",
            "-inkey",
            "dev.key",
            "-out",
            "certs.der",
        ],
    );
    let printed = openssl(
        dir,
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "certs.der",
            "-print_certs",
        ],
    );
    testkit::pem_all(printed.as_bytes())
}

fn issued_cert(out: &CertRepOutcome, device: &Device) -> Certificate {
    match out {
        CertRepOutcome::Success(_) => out
            .certificate_for(device.key.spki())
            .expect("the issued certificate holds the device key")
            .clone(),
        other => panic!("expected SUCCESS, got {other:?}"),
    }
}

/// `scep-submit -p` with our request as PEM: its exit status and everything it printed.
fn scep_submit(dir: &Path, data: &Path, server: &Admitd, message: &[u8]) -> (Option<i32>, String) {
    std::fs::write(dir.join("req.pem"), pem("PKCS7", message)).unwrap();
    let url = format!("http://127.0.0.1:{}{PATH}", server.http.port());
    let run = testkit::run_bounded(
        Command::new(SCEP_SUBMIT)
            .args(["-u", &url, "-r"])
            .arg(data.join("scep/ra.pem"))
            .arg("-I")
            .arg(data.join("ca/device.pem"))
            .arg("-N")
            .arg(data.join("ca/root.pem"))
            .args(["-p", "req.pem"])
            .env_remove("OPENSSL_CONF"),
        dir,
        Duration::from_secs(60),
    );
    (
        run.code,
        format!("{}{}", String::from_utf8_lossy(&run.stdout), run.stderr),
    )
}

/// The default policy: nothing signed by one of our certificates gets a certificate without a
/// challenge unless it is a renewal inside the window; the server's names and weak keys are
/// refused whatever admits them; refusals write nothing.
#[test]
fn certificates_from_our_ca_cannot_mint_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let server = Admitd::start(&data, &[]);
    let client = client(server.http, PATH);
    let p = client_provider();

    // The RA's own key and certificate (valid, issued by our device CA), asking for any
    // name without a challenge: refused, and the reason says why.
    let ra_key = p
        .private_key_from_pkcs8_der(&testkit::pem_to_der(
            &std::fs::read(data.join("scep/ra.key")).unwrap(),
        ))
        .unwrap();
    let ra_cert = Certificate::load_pem_chain(&std::fs::read(data.join("scep/ra.pem")).unwrap())
        .unwrap()
        .remove(0);
    let ra = Device {
        key: ra_key,
        cert: ra_cert,
        cn: "anything".into(),
    };
    let (_, out) = enrol_raw(&client, &server, &ra, None, 1);
    let (fail, text) = failure(&out);
    assert_eq!(fail, FailInfo::BadRequest);
    assert!(text.contains("not issued over SCEP"), "{text}");
    assert_eq!(scep_rows(&data), 0);
    // The same abuse with the CSR made by openssl from the RA's key file, judged by certmonger's
    // scep-submit: rejected (exit 2), nothing issued.
    let ra_key_file = data.join("scep/ra.key");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            ra_key_file.to_str().unwrap(),
            "-subj",
            "/CN=anything else",
            "-outform",
            "DER",
            "-out",
            "ra-csr.der",
        ],
    );
    let ra_csr = std::fs::read(dir.join("ra-csr.der")).unwrap();
    let tx = client
        .pkcs_req(ra.identity(), &ra_csr, None, &mut rng(9))
        .unwrap();
    let (code, out) = scep_submit(dir, &data, &server, tx.message());
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(scep_rows(&data), 0);

    // With a valid challenge it is an enrollment like any other, and the challenge is spent.
    let c = new_challenge(ADMITD, &data);
    let (_, out) = enrol_raw(&client, &server, &ra, Some(&c), 2);
    let minted = issued_cert(&out, &ra);
    assert_eq!(
        minted.tbs_certificate().subject().to_string(),
        "CN=anything"
    );
    let other = Device::new("challenge thief", 3);
    let (fail, _) = failure(&enrol_raw(&client, &server, &other, Some(&c), 4).1);
    assert_eq!(fail, FailInfo::BadRequest);

    // A device certificate issued over SCEP, asking for another name without a challenge:
    // refused. Asking for its own name: a year-long certificate is outside the 14-day window.
    let d = Device::new("device-a", 5);
    let c = new_challenge(ADMITD, &data);
    let (reply, out) = enrol_raw(&client, &server, &d, Some(&c), 6);
    let cert_a = issued_cert(&out, &d);
    // openssl sees the issued certificate first, then the issuing CA.
    let certs = openssl_reply_certs(dir, &data, &reply, &d);
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0], cert_a.to_der().unwrap());
    assert_eq!(
        certs[1],
        testkit::pem_to_der(&std::fs::read(data.join("ca/device.pem")).unwrap())
    );
    let (fail, text) = failure(
        &enrol_raw(
            &client,
            &server,
            &signed_by(&d, &cert_a, "device-b"),
            None,
            7,
        )
        .1,
    );
    assert_eq!(fail, FailInfo::BadRequest);
    assert!(
        text.contains("subject of the certificate it renews"),
        "{text}"
    );
    let (fail, text) = failure(
        &enrol_raw(
            &client,
            &server,
            &signed_by(&d, &cert_a, "device-a"),
            None,
            8,
        )
        .1,
    );
    assert_eq!(fail, FailInfo::BadRequest);
    assert!(text.contains("last 14 days"), "{text}");

    // The server's own names, even with a valid challenge (which stays unspent).
    let c = new_challenge(ADMITD, &data);
    for (i, name) in [
        "admitd SCEP RA,O=admit",
        "admitd Issuing CA,O=admit",
        "admitd Device CA,O=admit",
        "ADMITD ROOT CA,O=admit",
    ]
    .into_iter()
    .enumerate()
    {
        let impostor = Device::new(name, 20 + i as u64);
        let (fail, text) =
            failure(&enrol_raw(&client, &server, &impostor, Some(&c), 30 + i as u64).1);
        assert_eq!(fail, FailInfo::BadRequest);
        assert!(text.contains("server's own names"), "{text}");
    }
    // A 1024-bit key, with the same challenge: refused for the key.
    let weak_key = pki::provider::by_name("rustcrypto")
        .unwrap_or(p)
        .generate_key(KeySpec::Rsa(1024), &mut rng(40))
        .unwrap();
    let weak = device_with("weak", weak_key, 41);
    let (fail, text) = failure(&enrol_raw(&client, &server, &weak, Some(&c), 42).1);
    assert_eq!(fail, FailInfo::BadRequest);
    assert!(text.contains("RSA-1024"), "{text}");
    // The challenge survived all of that.
    let fine = Device::new("device-c", 43);
    issued_cert(&enrol_raw(&client, &server, &fine, Some(&c), 44).1, &fine);

    // Issued so far: the challenge-admitted RA request, device-a and device-c.
    assert_eq!(scep_rows(&data), 3);

    // Device identities come from the device CA, not from the intermediate that issues the
    // server's TLS certificate: openssl chains device-a only through the device CA.
    std::fs::write(
        dir.join("a.pem"),
        pem("CERTIFICATE", &cert_a.to_der().unwrap()),
    )
    .unwrap();
    let root = data.join("ca/root.pem");
    let verify = |untrusted: &str| {
        testkit::openssl_status(
            dir,
            &[
                "verify",
                "-CAfile",
                root.to_str().unwrap(),
                "-untrusted",
                data.join(untrusted).to_str().unwrap(),
                "a.pem",
            ],
        )
    };
    assert!(verify("ca/device.pem").0);
    assert!(!verify("ca/intermediate.pem").0);
    server.stop();
}

/// A data directory from before the device CA gets one at its next start, and the RA is
/// reissued under it. With the root key offline admitd runs, but cannot add a missing device CA,
/// and says so.
#[test]
fn device_ca_is_added_to_an_older_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &[]);
    server.stop();
    let ra_before = std::fs::read(data.join("scep/ra.pem")).unwrap();
    std::fs::remove_file(data.join("ca/device.pem")).unwrap();
    std::fs::remove_file(data.join("ca/device.key")).unwrap();
    let server = Admitd::start(&data, &[]);
    server.stop();
    assert!(data.join("ca/device.pem").exists());
    assert_ne!(std::fs::read(data.join("scep/ra.pem")).unwrap(), ra_before);
    let (ok, out) = testkit::openssl_status(
        &data,
        &[
            "verify",
            "-CAfile",
            "ca/root.pem",
            "-untrusted",
            "ca/device.pem",
            "scep/ra.pem",
        ],
    );
    assert!(ok, "{out}");

    // The root key kept offline: admitd runs without it.
    std::fs::rename(
        data.join("ca/root.key"),
        tmp.path().join("root.key.offline"),
    )
    .unwrap();
    let server = Admitd::start(&data, &[]);
    server.stop();
    // But it cannot make a missing device CA without it.
    std::fs::remove_file(data.join("ca/device.pem")).unwrap();
    std::fs::remove_file(data.join("ca/device.key")).unwrap();
    let out = common::run(Command::new(ADMITD).args([
        "--data-dir",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--https",
        "127.0.0.1:0",
    ]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("device CA"), "{err}");
}

/// A short-lived certificate inside its renewal window renews without a challenge (openssl
/// sees the new certificate first); once revoked with `admitd scep revoke`, it cannot.
#[test]
fn renewal_inside_the_window_and_revocation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let server = Admitd::start(
        &data,
        &[
            "--scep-cert-validity-s",
            "600",
            "--scep-renewal-window-s",
            "1200",
        ],
    );
    let client = client(server.http, PATH);
    let d = Device::new("renewer", 50);
    let c = new_challenge(ADMITD, &data);
    let first = issued_cert(&enrol_raw(&client, &server, &d, Some(&c), 51).1, &d);

    let renewing = signed_by(&d, &first, "renewer");
    let (reply, out) = enrol_raw(&client, &server, &renewing, None, 52);
    let second = issued_cert(&out, &renewing);
    assert_ne!(
        second.tbs_certificate().serial_number(),
        first.tbs_certificate().serial_number()
    );
    let certs = openssl_reply_certs(dir, &data, &reply, &renewing);
    assert_eq!(certs[0], second.to_der().unwrap());
    // openssl agrees it is a client certificate chaining to our root.
    std::fs::write(
        dir.join("second.pem"),
        pem("CERTIFICATE", &second.to_der().unwrap()),
    )
    .unwrap();
    let text = openssl(dir, &["x509", "-noout", "-text", "-in", "second.pem"]);
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );

    // Revoke the renewed certificate by its serial as openssl prints it.
    let serial_line = openssl(dir, &["x509", "-noout", "-serial", "-in", "second.pem"]);
    let serial = serial_line.trim().trim_start_matches("serial=");
    let out = common::run(Command::new(ADMITD).args([
        "--data-dir",
        data.to_str().unwrap(),
        "scep",
        "revoke",
        serial,
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = common::run(Command::new(ADMITD).args([
        "--data-dir",
        data.to_str().unwrap(),
        "scep",
        "revoke",
        serial,
    ]));
    assert!(!again.status.success());

    let revoked = signed_by(&d, &second, "renewer");
    let (fail, text) = failure(&enrol_raw(&client, &server, &revoked, None, 53).1);
    assert_eq!(fail, FailInfo::BadRequest);
    assert!(text.contains("revoked"), "{text}");
    assert_eq!(scep_rows(&data), 2);
    server.stop();
}

/// certmonger's `scep-submit` reads our FAILUREs: exit status 2 (rejected) for a wrong
/// challenge and for a renewal outside the window, not a verification error.
#[test]
fn scep_submit_reads_our_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let server = Admitd::start(&data, &[]);
    let client = client(server.http, PATH);

    let d = Device::new("submitter", 60);
    let tx = client
        .pkcs_req(
            d.identity(),
            &d.csr(Some("0123456789abcdef0123456789abcdef"), 61),
            None,
            &mut rng(61),
        )
        .unwrap();
    let (code, out) = scep_submit(dir, &data, &server, tx.message());
    // scep-submit names the failInfo in its own words: badRequest is "not permitted or not
    // supported".
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("not permitted or is not supported"), "{out}");

    // Enrolled for a year, then a renewal now: outside the window.
    let c = new_challenge(ADMITD, &data);
    let tx = client
        .pkcs_req(d.identity(), &d.csr(Some(&c), 62), None, &mut rng(62))
        .unwrap();
    let (code, out) = scep_submit(dir, &data, &server, tx.message());
    assert_eq!(code, Some(0), "{out}");
    let cert = {
        let resp = exchange(
            server.http,
            &tx.to_request(&scep_uri(server.http, PATH), true).unwrap(),
        );
        let o = client
            .read_cert_rep(
                &tx,
                d.identity(),
                resp.body(),
                &CertRepOptions::default(),
                &mut rng(63),
            )
            .unwrap();
        issued_cert(&o, &d)
    };
    let renewing = signed_by(&d, &cert, "submitter");
    let tx = client
        .renewal_req(
            renewing.identity(),
            &renewing.csr(None, 64),
            None,
            &mut rng(64),
        )
        .unwrap();
    let (code, out) = scep_submit(dir, &data, &server, tx.message());
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("not permitted or is not supported"), "{out}");
    assert_eq!(scep_rows(&data), 1);
    server.stop();
}

/// With manual approval, scep-submit reads our PENDING reply as "the CA is still thinking"
/// (exit 1 or 5), and after `admitd scep reject` as rejected (exit 2).
#[test]
fn scep_submit_reads_pending_and_rejection() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let server = Admitd::start(&data, &["--scep-manual-approval"]);
    let client = client(server.http, PATH);
    let d = Device::new("waiting", 70);
    let c = new_challenge(ADMITD, &data);
    let tx = client
        .pkcs_req(d.identity(), &d.csr(Some(&c), 71), None, &mut rng(71))
        .unwrap();
    let (code, out) = scep_submit(dir, &data, &server, tx.message());
    assert!(matches!(code, Some(1 | 5)), "{code:?}: {out}");
    let (code, out) = scep_submit(dir, &data, &server, tx.message());
    assert!(matches!(code, Some(1 | 5)), "{code:?}: {out}");
    let out = common::run(Command::new(ADMITD).args([
        "--data-dir",
        data.to_str().unwrap(),
        "scep",
        "reject",
        tx.transaction_id().as_str(),
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, out) = scep_submit(dir, &data, &server, tx.message());
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(scep_rows(&data), 0);
    server.stop();
}
