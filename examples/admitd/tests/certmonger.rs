//! certmonger (Debian `certmonger`, its own requests built by `scep-submit`) against admitd's
//! `/scep`: enrolment with a one-time challenge, renewal (`getcert resubmit`) and rekey
//! (`getcert rekey`) each reach MONITORING with a new certificate. The daemon is private: its
//! state lives in a temporary directory, it listens on its own unix socket, and it is stopped
//! by the PID from its pidfile.

mod common;
mod scep_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMITD, Admitd};
use pki::x509_cert::Certificate;

/// A certmonger daemon with all its state under one directory.
struct Certmonger {
    dir: PathBuf,
    /// The PID from the daemon's pidfile.
    pid: Option<u32>,
    child: Option<std::process::Child>,
}

impl Certmonger {
    fn env(&self, cmd: &mut Command) {
        let d = &self.dir;
        cmd.env("CERTMONGER_CONFIG_DIR", d.join("config"))
            .env("CERTMONGER_REQUESTS_DIR", d.join("requests"))
            .env("CERTMONGER_CAS_DIR", d.join("cas"))
            .env("CERTMONGER_LOCAL_CA_DIR", d.join("local"))
            .env("CERTMONGER_TMPDIR", d.join("tmp"))
            .env(
                "CERTMONGER_PVT_ADDRESS",
                format!("unix:path={}", d.join("sock").display()),
            )
            // No legacy OpenSSL provider anywhere.
            .env_remove("OPENSSL_CONF")
            .env_remove("OPENSSL_MODULES");
    }

    fn start(dir: &Path) -> Certmonger {
        for sub in ["config", "requests", "cas", "local", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let mut cm = Certmonger {
            dir: dir.to_owned(),
            pid: None,
            child: None,
        };
        let mut cmd = Command::new("certmonger");
        cm.env(&mut cmd);
        let sock = dir.join("sock");
        let pidfile = dir.join("pid");
        cmd.args(["-n", "-L", "-P"])
            .arg(&sock)
            .arg("-p")
            .arg(&pidfile)
            .args(["-d", "1"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("log")).unwrap())
            .stderr(std::fs::File::create(dir.join("log.err")).unwrap());
        cm.child = Some(cmd.spawn().expect("spawn certmonger"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(sock.exists() && pidfile.exists()) {
            assert!(
                Instant::now() < deadline,
                "certmonger did not start: {}",
                cm.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        cm.pid = Some(pid);
        cm
    }

    fn getcert(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("getcert");
        self.env(&mut cmd);
        cmd.args(args);
        let out = common::run(&mut cmd);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "getcert {args:?}: {text}");
        text
    }

    /// Poll `getcert list -i id` until its status is one of `want` (bounded); returns it.
    fn wait_status(&self, id: &str, want: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let list = self.getcert(&["list", "-i", id]);
            let status = list
                .lines()
                .find_map(|l| l.trim().strip_prefix("status: "))
                .unwrap_or("")
                .to_owned();
            if want.contains(&status.as_str()) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "status {status}, waiting for {want:?}:\n{list}\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Poll `getcert list -i id` until its status is MONITORING (bounded).
    fn wait_monitoring(&self, id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let list = self.getcert(&["list", "-i", id]);
            let status = list
                .lines()
                .find_map(|l| l.trim().strip_prefix("status: "))
                .unwrap_or("")
                .to_owned();
            if status == "MONITORING" {
                return list;
            }
            assert!(
                !["CA_REJECTED", "CA_UNREACHABLE", "CA_UNCONFIGURED"].contains(&status.as_str())
                    && Instant::now() < deadline,
                "status {status}:\n{list}\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
            + &std::fs::read_to_string(self.dir.join("log.err")).unwrap_or_default()
    }
}

impl Drop for Certmonger {
    fn drop(&mut self) {
        // Stopped by the PID it wrote (with -n it does not fork, so that is our child).
        if let Some(pid) = self.pid.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn read_cert(path: &Path) -> Certificate {
    let pem = std::fs::read(path).unwrap();
    Certificate::load_pem_chain(&pem).unwrap().remove(0)
}

fn openssl_verify(dir: &Path, data: &Path, cert: &Path) {
    let out = common::openssl(
        dir,
        &[
            "verify",
            "-CAfile",
            data.join("ca/root.pem").to_str().unwrap(),
            "-untrusted",
            data.join("ca/device.pem").to_str().unwrap(),
            cert.to_str().unwrap(),
        ],
    );
    assert!(out.contains(": OK"), "{out}");
}

#[test]
fn certmonger_enrols_renews_and_rekeys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    // Ten-minute certificates renewable in their last twenty minutes: every renewal below falls
    // inside the window.
    let server = Admitd::start(
        &data,
        &[
            "--scep-cert-validity-s",
            "600",
            "--scep-renewal-window-s",
            "1200",
        ],
    );
    let cm = Certmonger::start(&dir.join("cm"));
    let url = format!("http://127.0.0.1:{}/scep", server.http.port());
    // GetCACert answers the RA form; certmonger encrypts to the RA (-r) and verifies CertReps
    // up to the root, its trust anchor (-N), through the device CA (-I).
    let ra = data.join("scep/ra.pem");
    let root = data.join("ca/root.pem");
    let int = data.join("ca/device.pem");
    cm.getcert(&[
        "add-scep-ca",
        "-c",
        "admitd",
        "-u",
        &url,
        "-r",
        ra.to_str().unwrap(),
        "-N",
        root.to_str().unwrap(),
        "-I",
        int.to_str().unwrap(),
    ]);
    let challenge = scep_support::new_challenge(ADMITD, &data);
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    cm.getcert(&[
        "request",
        "-c",
        "admitd",
        "-I",
        "dev1",
        "-f",
        cert_path.to_str().unwrap(),
        "-k",
        key_path.to_str().unwrap(),
        "-N",
        "CN=certmonger device",
        "-L",
        &challenge,
    ]);
    cm.wait_monitoring("dev1");
    let first = read_cert(&cert_path);
    assert_eq!(
        first.tbs_certificate().subject().to_string(),
        "CN=certmonger device"
    );
    openssl_verify(dir, &data, &cert_path);
    let key1 = std::fs::read(&key_path).unwrap();

    // Renewal: same key, new certificate; the challenge is spent, so the server took it as a
    // renewal signed by the first certificate.
    cm.getcert(&["resubmit", "-i", "dev1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let renewed = loop {
        cm.wait_monitoring("dev1");
        let c = read_cert(&cert_path);
        if c.tbs_certificate().serial_number() != first.tbs_certificate().serial_number() {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "no renewed certificate:\n{}",
            cm.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        renewed.tbs_certificate().subject_public_key_info(),
        first.tbs_certificate().subject_public_key_info()
    );
    openssl_verify(dir, &data, &cert_path);
    assert_eq!(std::fs::read(&key_path).unwrap(), key1);

    // Rekey: a new key and a certificate for it.
    cm.getcert(&["rekey", "-i", "dev1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let rekeyed = loop {
        cm.wait_monitoring("dev1");
        let c = read_cert(&cert_path);
        if c.tbs_certificate().subject_public_key_info()
            != first.tbs_certificate().subject_public_key_info()
        {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "no rekeyed certificate:\n{}",
            cm.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_ne!(std::fs::read(&key_path).unwrap(), key1);
    assert_eq!(
        rekeyed.tbs_certificate().subject().to_string(),
        "CN=certmonger device"
    );
    openssl_verify(dir, &data, &cert_path);

    // Revoked, the certificate can no longer renew: certmonger keeps it (still MONITORING)
    // and records the CA's refusal as its ca-error.
    let serial = common::openssl(
        dir,
        &[
            "x509",
            "-noout",
            "-serial",
            "-in",
            cert_path.to_str().unwrap(),
        ],
    );
    let serial = serial.trim().trim_start_matches("serial=");
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
    let before = std::fs::read(&cert_path).unwrap();
    cm.getcert(&["resubmit", "-i", "dev1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let list = loop {
        let list = cm.getcert(&["list", "-i", "dev1"]);
        if list.contains("ca-error:") && list.contains("status: MONITORING") {
            break list;
        }
        assert!(Instant::now() < deadline, "{list}\n{}", cm.log());
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(list.contains("not permitted"), "{list}");
    assert_eq!(std::fs::read(&cert_path).unwrap(), before);

    // Three certificates issued over SCEP; the server saw two renewals.
    let db = rusqlite::Connection::open(data.join("admit.sqlite3")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM issued_certificates WHERE purpose = 'scep'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 3);
    let log = server.log_text();
    assert_eq!(log.matches("admission=Renewal").count(), 2, "{log}");
    drop(cm);
    server.stop();
}

/// Manual approval: certmonger's requests wait as PENDING (CA_WORKING) until an administrator
/// decides; after `admitd scep approve` a re-poll reaches MONITORING with a certificate, after
/// `admitd scep reject` CA_REJECTED.
#[test]
fn certmonger_waits_for_approval_then_is_issued_or_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let server = Admitd::start(&data, &["--scep-manual-approval"]);
    let cm = Certmonger::start(&dir.join("cm"));
    let url = format!("http://127.0.0.1:{}/scep", server.http.port());
    let ra = data.join("scep/ra.pem");
    let root = data.join("ca/root.pem");
    let device_ca = data.join("ca/device.pem");
    cm.getcert(&[
        "add-scep-ca",
        "-c",
        "admitd",
        "-u",
        &url,
        "-r",
        ra.to_str().unwrap(),
        "-N",
        root.to_str().unwrap(),
        "-I",
        device_ca.to_str().unwrap(),
    ]);
    for (id, cn) in [("ok", "CN=approve me"), ("no", "CN=reject me")] {
        let challenge = scep_support::new_challenge(ADMITD, &data);
        cm.getcert(&[
            "request",
            "-c",
            "admitd",
            "-I",
            id,
            "-f",
            dir.join(format!("{id}.pem")).to_str().unwrap(),
            "-k",
            dir.join(format!("{id}.key")).to_str().unwrap(),
            "-N",
            cn,
            "-L",
            &challenge,
        ]);
        assert_eq!(cm.wait_status(id, &["CA_WORKING"]), "CA_WORKING");
    }
    let admin = |args: &[&str]| {
        let out = common::run(
            Command::new(ADMITD)
                .args(["--data-dir", data.to_str().unwrap(), "scep"])
                .args(args),
        );
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed: Vec<serde_json::Value> = admin(&["pending"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let tx_of = |cn: &str| {
        listed
            .iter()
            .find(|v| v["subject"] == cn)
            .unwrap_or_else(|| panic!("{cn} not pending: {listed:?}"))["transactionID"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(listed.iter().all(|v| v["status"] == "pending"));
    admin(&["approve", &tx_of("CN=approve me")]);
    admin(&["reject", &tx_of("CN=reject me"), "--reason", "not ours"]);

    cm.getcert(&["resubmit", "-i", "ok"]);
    cm.wait_monitoring("ok");
    let cert = read_cert(&dir.join("ok.pem"));
    assert_eq!(
        cert.tbs_certificate().subject().to_string(),
        "CN=approve me"
    );
    openssl_verify(dir, &data, &dir.join("ok.pem"));
    cm.getcert(&["resubmit", "-i", "no"]);
    assert_eq!(cm.wait_status("no", &["CA_REJECTED"]), "CA_REJECTED");
    assert!(!dir.join("no.pem").exists());
    // The approved request left the list when its certificate was issued; the rejected one
    // stays, marked so. One certificate was issued.
    let left = admin(&["pending"]);
    assert_eq!(left.lines().count(), 1, "{left}");
    assert!(
        left.contains("\"rejected\"") && left.contains("not ours"),
        "{left}"
    );
    let db = rusqlite::Connection::open(data.join("admit.sqlite3")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM issued_certificates WHERE purpose = 'scep'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(cm);
    server.stop();
}
