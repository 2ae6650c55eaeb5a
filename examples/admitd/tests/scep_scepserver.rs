//! Our `scep::Client` against Debian's `scepserver` (micromdm/scep 2.1.0). The server listens
//! on every interface, so it runs in a private network namespace (`unshare -n`, loopback
//! brought up inside); the test's HTTP requests are made there too, by curl under
//! `nsenter --net=/proc/PID/ns/net`. Nothing is reachable from outside the namespace.

mod common;
mod scep_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pki::x509_cert::Certificate;
use scep::{CaCerts, Capabilities, Capability, CertRepOptions, CertRepOutcome, Client, FailInfo};
use scep_support::Device;
use testkit::rng;

/// scepserver in its own network namespace; killed by PID when dropped.
struct ScepServer {
    child: Child,
    dir: PathBuf,
}

impl ScepServer {
    fn start(dir: &Path) -> ScepServer {
        let depot = dir.join("depot");
        let out = common::run(
            Command::new("scepserver")
                .args(["ca", "-init", "-keySize", "2048", "-depot"])
                .arg(&depot),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // `exec`: the PID we hold becomes scepserver's, inside the new namespace.
        let child = Command::new("unshare")
            .args(["-n", "sh", "-c"])
            .arg(format!(
                "ip link set lo up && exec scepserver -depot '{}' -port 8080 -challenge s3cret \
                 -allowrenew 0",
                depot.display()
            ))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("scepserver.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("scepserver.err")).unwrap())
            .spawn()
            .expect("spawn unshare");
        let s = ScepServer {
            child,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, _, _) = s.get("GetCACaps");
            if status == 200 {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "scepserver did not start: {}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("scepserver.log")).unwrap_or_default()
            + &std::fs::read_to_string(self.dir.join("scepserver.err")).unwrap_or_default()
    }

    /// curl inside the namespace: (status, content type, body). `post` is a file to POST.
    fn curl(&self, query: &str, post: Option<&Path>) -> (u16, String, Vec<u8>) {
        let headers = self.dir.join("headers.txt");
        let body = self.dir.join("body.bin");
        let _ = std::fs::remove_file(&headers);
        let _ = std::fs::remove_file(&body);
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/proc/{}/ns/net", self.child.id()))
            .args(["curl", "-s", "--max-time", "20", "-D"])
            .arg(&headers)
            .arg("-o")
            .arg(&body);
        if let Some(file) = post {
            cmd.args([
                "-H",
                "Content-Type: application/x-pki-message",
                "--data-binary",
            ])
            .arg(format!("@{}", file.display()));
        }
        cmd.arg(format!("http://127.0.0.1:8080/scep?{query}"));
        let out = common::run(&mut cmd);
        if !out.status.success() {
            return (0, String::new(), Vec::new());
        }
        let head = std::fs::read_to_string(&headers).unwrap_or_default();
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let ct = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default();
        (status, ct, std::fs::read(&body).unwrap_or_default())
    }

    fn get(&self, op: &str) -> (u16, String, Vec<u8>) {
        self.curl(&format!("operation={op}"), None)
    }
}

impl Drop for ScepServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn our_client_against_micromdm_scepserver() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = ScepServer::start(dir);

    let (status, ct, caps_body) = server.get("GetCACaps");
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain"), "{ct}");
    let caps = Capabilities::parse(&caps_body);
    for c in [
        Capability::Aes,
        Capability::PostPkiOperation,
        Capability::Renewal,
    ] {
        assert!(caps.has(&c), "{caps:?}");
    }
    let (status, ct, ca_body) = server.get("GetCACert");
    assert_eq!(status, 200);
    let ca = CaCerts::from_body(&ct, &ca_body).unwrap();
    let depot_ca = {
        let pem = std::fs::read(dir.join("depot/ca.pem")).unwrap();
        Certificate::load_pem_chain(&pem).unwrap().remove(0)
    };
    assert_eq!(ca.certificates(), std::slice::from_ref(&depot_ca));

    for (i, provider) in pki::provider::compiled().into_iter().enumerate() {
        let client = Client::new(provider, caps.clone(), ca.clone());
        let device = Device::new(&format!("scepserver device {i}"), 50 + i as u64);
        let seed = 60 + 10 * i as u64;
        let csr = device.csr(Some("s3cret"), seed);
        let tx = client
            .pkcs_req(device.identity(), &csr, None, &mut rng(seed))
            .unwrap();
        let req = dir.join("req.der");
        std::fs::write(&req, tx.message()).unwrap();
        let (status, ct, rep) = server.curl("operation=PKIOperation", Some(&req));
        assert_eq!(status, 200, "{}", server.log());
        assert_eq!(ct, "application/x-pki-message");

        // scepserver seals its reply with single DES: refused by default...
        let refused = client.read_cert_rep(
            &tx,
            device.identity(),
            &rep,
            &CertRepOptions::default(),
            &mut rng(seed + 1),
        );
        assert!(
            matches!(
                refused,
                Err(scep::Error::Pki(pki::Error::AlgorithmNotAllowed { .. }))
            ),
            "{refused:?}"
        );
        // ...and opened when the caller asks for it.
        let out = client
            .read_cert_rep(
                &tx,
                device.identity(),
                &rep,
                &CertRepOptions::default().allowing_single_des(true),
                &mut rng(seed + 2),
            )
            .unwrap();
        let cert = out
            .certificate_for(device.key.spki())
            .unwrap_or_else(|| panic!("{out:?}"))
            .clone();
        assert_eq!(
            cert.tbs_certificate().subject().to_string(),
            format!("CN=scepserver device {i}")
        );
        // openssl confirms scepserver's CA issued it.
        let pem = pki::der::pem::encode_string(
            "CERTIFICATE",
            pki::der::pem::LineEnding::LF,
            &pki::der::Encode::to_der(&cert).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.join("issued.pem"), pem).unwrap();
        let v = common::openssl(dir, &["verify", "-CAfile", "depot/ca.pem", "issued.pem"]);
        assert!(v.contains("issued.pem: OK"), "{v}");

        // A wrong challenge: a signed FAILURE with badRequest (no envelope, so no DES).
        let other = Device::new(&format!("scepserver stranger {i}"), 80 + i as u64);
        let csr = other.csr(Some("wrong"), seed + 3);
        let tx = client
            .pkcs_req(other.identity(), &csr, None, &mut rng(seed + 3))
            .unwrap();
        std::fs::write(&req, tx.message()).unwrap();
        let (status, _, rep) = server.curl("operation=PKIOperation", Some(&req));
        assert_eq!(status, 200);
        let out = client
            .read_cert_rep(
                &tx,
                other.identity(),
                &rep,
                &CertRepOptions::default(),
                &mut rng(seed + 4),
            )
            .unwrap();
        assert!(
            matches!(
                out,
                CertRepOutcome::Failure {
                    fail_info: FailInfo::BadRequest,
                    ..
                }
            ),
            "{out:?}"
        );
    }
}
