//! Helpers for the SCEP tests: a device identity, a tiny HTTP/1.1 client, and enrolment
//! through `scep::Client`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pki::cert::issue::{Template, issue};
use pki::key::{KeySpec, PrivateKey};
use pki::x509_cert::Certificate;
use scep::{CaCerts, Capabilities, CertRepOptions, CertRepOutcome, Client, Identity, http};
use testkit::rng;

/// The provider client keys are made with (aws-lc when compiled: RSA key generation is
/// slow in unoptimised RustCrypto).
pub fn client_provider() -> &'static dyn pki::provider::CryptoProvider {
    pki::provider::by_name("aws-lc").unwrap_or(pki::provider::compiled()[0])
}

/// A device: an RSA-2048 key and a self-signed certificate for it.
pub struct Device {
    /// The key.
    pub key: Arc<dyn PrivateKey>,
    /// Self-signed certificate (subject `CN=<cn>`).
    pub cert: Certificate,
    /// The subject CN.
    pub cn: String,
}

impl Device {
    /// A new device called `cn`.
    pub fn new(cn: &str, seed: u64) -> Device {
        let p = client_provider();
        let mut r = rng(seed);
        let key = p.generate_key(KeySpec::Rsa(2048), &mut r).unwrap();
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
            &mut r,
        )
        .unwrap();
        Device {
            key,
            cert,
            cn: cn.to_owned(),
        }
    }

    /// Its identity for `scep::Client`.
    pub fn identity(&self) -> Identity<'_> {
        Identity {
            signer: &*self.key,
            decrypter: &*self.key,
            certificate: &self.cert,
        }
    }

    /// A PKCS#10 for its key with `challenge`.
    pub fn csr(&self, challenge: Option<&str>, seed: u64) -> Vec<u8> {
        let mut b = pki::cert::csr::CsrBuilder::new(format!("CN={}", self.cn).parse().unwrap());
        if let Some(c) = challenge {
            b = b.with_challenge_password(c);
        }
        b.build(&*self.key, &mut rng(seed)).unwrap()
    }
}

/// Send `req` to `addr` over a new HTTP/1.1 connection and read the whole answer.
pub fn exchange(addr: SocketAddr, req: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let mut head = format!(
        "{} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        req.method(),
        req.body().len()
    );
    for (k, v) in req.headers() {
        head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(req.body()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    parse_response(&buf)
}

/// POST the PKIOperation `req` to `addr` and read whatever comes back: `None` when the
/// connection closes without an answer (the server died) or cannot be made.
pub fn try_exchange(addr: SocketAddr, path: &str, req: &http::Request<Vec<u8>>) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let head = format!(
        "POST {path}?operation=PKIOperation HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-pki-message\r\nContent-Length: {}\r\n\r\n",
        req.body().len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(req.body()).ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    (!buf.is_empty()).then_some(buf)
}

/// Parse an HTTP/1.1 response with a Content-Length body.
pub fn parse_response(buf: &[u8]) -> http::Response<Vec<u8>> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of head");
    let head = std::str::from_utf8(&buf[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
    let mut resp = http::Response::builder().status(status);
    for l in lines {
        let (k, v) = l.split_once(':').unwrap();
        resp = resp.header(k.trim(), v.trim());
    }
    resp.body(buf[end + 4..].to_vec()).unwrap()
}

/// The SCEP URL of a server.
pub fn scep_uri(addr: SocketAddr, path: &str) -> http::Uri {
    format!("http://{addr}{path}").parse().unwrap()
}

/// GetCACaps and GetCACert from the server at `addr`, as a client.
pub fn client(addr: SocketAddr, path: &str) -> Client {
    let get = |op: &str| {
        http::Request::get(format!("{path}?operation={op}"))
            .body(Vec::new())
            .unwrap()
    };
    let caps = exchange(addr, &get("GetCACaps"));
    assert_eq!(caps.status(), 200);
    let ca = exchange(addr, &get("GetCACert"));
    Client::new(
        client_provider(),
        Capabilities::parse(caps.body()),
        CaCerts::from_response(&ca).unwrap(),
    )
}

/// Enrol `device` with `challenge`; returns the CertRep's outcome.
pub fn enrol(
    client: &Client,
    addr: SocketAddr,
    path: &str,
    device: &Device,
    challenge: Option<&str>,
    post: bool,
    seed: u64,
) -> CertRepOutcome {
    let mut r = rng(seed);
    let csr = device.csr(challenge, seed);
    let tx = client
        .pkcs_req(device.identity(), &csr, None, &mut r)
        .unwrap();
    send(
        client,
        addr,
        path,
        device,
        &tx,
        post,
        seed,
        &CertRepOptions::default(),
    )
}

/// Send a prepared transaction and read its CertRep.
#[allow(clippy::too_many_arguments)]
pub fn send(
    client: &Client,
    addr: SocketAddr,
    path: &str,
    device: &Device,
    tx: &scep::Transaction,
    post: bool,
    seed: u64,
    opts: &CertRepOptions,
) -> CertRepOutcome {
    let req = tx.to_request(&scep_uri(addr, path), post).unwrap();
    let resp = exchange(addr, &req);
    assert_eq!(
        resp.status(),
        200,
        "{}",
        String::from_utf8_lossy(resp.body())
    );
    client
        .read_cert_rep(tx, device.identity(), resp.body(), opts, &mut rng(seed + 1))
        .unwrap()
}

/// `admitd --data-dir DIR scep challenge`: a fresh one-time challenge.
pub fn new_challenge(admitd: &str, data_dir: &Path) -> String {
    let out = Command::new(admitd)
        .args([
            "--data-dir",
            data_dir.to_str().unwrap(),
            "scep",
            "challenge",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(c.len(), 32, "{c:?}");
    c
}

/// `der` as PEM text under `label`.
pub fn pem(label: &str, der: &[u8]) -> String {
    pki::der::pem::encode_string(label, pki::der::pem::LineEnding::LF, der).unwrap()
}

/// How many certificates the data directory's SQLite database records as issued over SCEP.
pub fn scep_rows(data: &Path) -> i64 {
    let db = rusqlite::Connection::open(data.join("admit.sqlite3")).unwrap();
    db.query_row(
        "SELECT COUNT(*) FROM issued_certificates WHERE purpose = 'scep'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}
