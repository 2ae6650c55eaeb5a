//! `kill -9` of admitd at each step of a SCEP enrollment, then a restart: the client ends with
//! exactly one certificate, the store holds exactly the certificates clients received (or could
//! fetch), and a one-time challenge is spent only if its certificate was committed.
//!
//! The kill comes from the process itself at a failpoint (`ADMITD_FAILPOINT`): it sends itself
//! SIGKILL just before the SQLite transaction commits, or just after (reply not yet sent).

mod common;
mod scep_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::{ADMITD, Admitd};
use pki::x509_cert::Certificate;
use scep::{CertRepOptions, CertRepOutcome, Client, http};
use scep_support::*;
use testkit::rng;

const PATH: &str = "/scep";

fn scep_rows(data: &Path) -> i64 {
    let db = rusqlite::Connection::open(data.join("admit.sqlite3")).unwrap();
    db.query_row(
        "SELECT COUNT(*) FROM issued_certificates WHERE purpose = 'scep'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn challenges_left(data: &Path) -> i64 {
    let db = rusqlite::Connection::open(data.join("admit.sqlite3")).unwrap();
    db.query_row("SELECT COUNT(*) FROM scep_challenges", [], |r| r.get(0))
        .unwrap()
}

fn stored_der(data: &Path) -> Vec<u8> {
    let db = rusqlite::Connection::open(data.join("admit.sqlite3")).unwrap();
    db.query_row(
        "SELECT der FROM issued_certificates WHERE purpose = 'scep'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// Send `req` and read whatever comes back: `None` when the connection closes without an
/// HTTP answer (the server died).
fn try_exchange(addr: SocketAddr, req: &http::Request<Vec<u8>>) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST {PATH}?operation=PKIOperation HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-pki-message\r\nContent-Length: {}\r\n\r\n",
        req.body().len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(req.body()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    (!buf.is_empty()).then_some(buf)
}

fn success(client: &Client, tx: &scep::Transaction, d: &Device, body: &[u8]) -> Certificate {
    let out = client
        .read_cert_rep(
            tx,
            d.identity(),
            body,
            &CertRepOptions::default(),
            &mut rng(9),
        )
        .unwrap();
    match &out {
        CertRepOutcome::Success(_) => out.certificate_for(d.key.spki()).unwrap().clone(),
        other => panic!("expected SUCCESS, got {other:?}"),
    }
}

#[test]
fn sigkill_around_the_commit_loses_nothing() {
    use pki::der::{Decode, Encode};
    for point in ["scep-before-commit", "scep-after-commit"] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let server = Admitd::start(&data, &[]);
        server.stop();
        let challenge = new_challenge(ADMITD, &data);

        let mut server = Admitd::start_env(&data, &[], &[("ADMITD_FAILPOINT", point)]);
        let client = client(server.http, PATH);
        let d = Device::new("crash device", 1);
        let tx = client
            .pkcs_req(d.identity(), &d.csr(Some(&challenge), 2), None, &mut rng(2))
            .unwrap();
        let req = tx.to_request(&scep_uri(server.http, PATH), true).unwrap();
        assert_eq!(try_exchange(server.http, &req), None, "{point}: answered");
        let status = server.wait_exit(Duration::from_secs(20));
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{point}: {status}"
        );
        let log = server.log_text();
        assert!(log.contains("failpoint reached"), "{log}");

        let server = Admitd::start(&data, &[]);
        let client = scep_support::client(server.http, PATH);
        let cert = match point {
            "scep-before-commit" => {
                // Nothing was committed: no certificate, the challenge unspent. The client
                // sends its request again and gets one.
                assert_eq!(scep_rows(&data), 0);
                assert_eq!(challenges_left(&data), 1);
                let rep = exchange(server.http, &req);
                success(&client, &tx, &d, rep.body())
            }
            _ => {
                // Committed but never sent: the certificate is recorded and the challenge
                // spent. A CertPoll (GetCertInitial) fetches it; so does the request again.
                assert_eq!(scep_rows(&data), 1);
                assert_eq!(challenges_left(&data), 0);
                let device_ca = Certificate::from_der(&testkit::pem_to_der(
                    &std::fs::read(data.join("ca/device.pem")).unwrap(),
                ))
                .unwrap();
                let poll = client
                    .cert_poll(
                        d.identity(),
                        device_ca.tbs_certificate().subject(),
                        &format!("CN={}", d.cn).parse().unwrap(),
                        tx.transaction_id().clone(),
                        &mut rng(3),
                    )
                    .unwrap();
                let rep = exchange(
                    server.http,
                    &poll.to_request(&scep_uri(server.http, PATH), true).unwrap(),
                );
                let polled = success(&client, &poll, &d, rep.body());
                let rep = exchange(server.http, &req);
                assert_eq!(success(&client, &tx, &d, rep.body()), polled);
                polled
            }
        };
        // Exactly one certificate, and it is the one the client holds.
        assert_eq!(scep_rows(&data), 1, "{point}");
        assert_eq!(stored_der(&data), cert.to_der().unwrap(), "{point}");
        server.stop();
    }
}
