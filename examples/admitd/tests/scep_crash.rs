//! `kill -9` of admitd at each step of a SCEP enrollment, then a restart, on SQLite and on
//! PostgreSQL: the client ends with exactly one certificate, the store holds exactly the
//! certificates clients received (or could fetch), and a one-time challenge is spent only if
//! its certificate was committed. And two admitd processes on one PostgreSQL database, given one
//! challenge at the same moment, issue exactly one certificate.
//!
//! The kill comes from the process itself at a failpoint (`ADMITD_FAILPOINT`): it sends itself
//! SIGKILL just before the database transaction commits, or just after (reply not yet sent).

mod backend;
mod common;
mod scep_support;

use std::path::Path;
use std::time::Duration;

use backend::Backend;
use common::{ADMITD, Admitd};
use pki::x509_cert::Certificate;
use scep::{CertRepOptions, CertRepOutcome, Client};
use scep_support::*;
use testkit::rng;

const PATH: &str = "/scep";

impl Backend {
    fn scep_rows(&self, data: &Path) -> i64 {
        self.count(
            data,
            "SELECT COUNT(*) FROM issued_certificates WHERE purpose = 'scep'",
        )
    }

    fn challenges_left(&self, data: &Path) -> i64 {
        self.count(data, "SELECT COUNT(*) FROM scep_challenges")
    }

    fn stored_der(&self, data: &Path) -> Vec<u8> {
        match self {
            Backend::Sqlite => {
                let db = rusqlite::Connection::open(data.join("admit.sqlite3")).unwrap();
                db.query_row(
                    "SELECT der FROM issued_certificates WHERE purpose = 'scep'",
                    [],
                    |r| r.get(0),
                )
                .unwrap()
            }
            Backend::Postgres(pg, _) => hex::decode(pg.query(
                "admit",
                "SELECT encode(der, 'hex') FROM issued_certificates WHERE purpose = 'scep'",
            ))
            .unwrap(),
        }
    }

    /// `admitd scep challenge` against this backend.
    fn challenge(&self, data: &Path) -> String {
        let out = common::run(
            std::process::Command::new(ADMITD)
                .args(["--data-dir", data.to_str().unwrap()])
                .args(self.args())
                .args(["scep", "challenge"]),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
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
    for backend in Backend::both() {
        for point in ["scep-before-commit", "scep-after-commit"] {
            let tag = format!("{} {point}", backend.name());
            // A fresh PostgreSQL database each time: start from empty tables.
            if let Backend::Postgres(pg, _) = &backend {
                // Every domain's tables (SCEP, device auth, MDM, ADE, ...) and the migrations.
                pg.query("admit", "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
            }
            let tmp = tempfile::tempdir().unwrap();
            let data = tmp.path().join("data");
            let server = Admitd::start(&data, &backend.args());
            server.stop();
            let challenge = backend.challenge(&data);

            let mut server =
                Admitd::start_env(&data, &backend.args(), &[("ADMITD_FAILPOINT", point)]);
            let client = client(server.http, PATH);
            let d = Device::new("crash device", 1);
            let tx = client
                .pkcs_req(d.identity(), &d.csr(Some(&challenge), 2), None, &mut rng(2))
                .unwrap();
            let req = tx.to_request(&scep_uri(server.http, PATH), true).unwrap();
            assert_eq!(
                try_exchange(server.http, PATH, &req),
                None,
                "{tag}: answered"
            );
            let status = server.wait_exit(Duration::from_secs(20));
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(9),
                "{tag}: {status}"
            );
            let log = server.log_text();
            assert!(log.contains("failpoint reached"), "{log}");

            let server = Admitd::start(&data, &backend.args());
            let client = scep_support::client(server.http, PATH);
            let cert = if point == "scep-before-commit" {
                // Nothing was committed: no certificate, the challenge unspent. The client
                // sends its request again and gets one.
                assert_eq!(backend.scep_rows(&data), 0, "{tag}");
                assert_eq!(backend.challenges_left(&data), 1, "{tag}");
                let rep = exchange(server.http, &req);
                success(&client, &tx, &d, rep.body())
            } else {
                // Committed but never sent: the certificate is recorded and the challenge
                // spent. A CertPoll (GetCertInitial) fetches it; so does the request again.
                assert_eq!(backend.scep_rows(&data), 1, "{tag}");
                assert_eq!(backend.challenges_left(&data), 0, "{tag}");
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
                assert_eq!(success(&client, &tx, &d, rep.body()), polled, "{tag}");
                polled
            };
            // Exactly one certificate, and it is the one the client holds.
            assert_eq!(backend.scep_rows(&data), 1, "{tag}");
            assert_eq!(backend.stored_der(&data), cert.to_der().unwrap(), "{tag}");
            server.stop();
        }
    }
}

/// Two admitd processes (each with its own data directory holding the same CA) on one
/// PostgreSQL database: three devices present one challenge through both at once, five times
/// over; exactly one certificate is issued each time.
#[test]
fn two_servers_on_one_postgres_spend_a_challenge_once() {
    use std::sync::{Arc, Barrier};
    let pg = testkit::postgres::Postgres::start();
    let url = pg.create_database("admit");
    let backend = Backend::Postgres(pg, url.clone());
    let tmp = tempfile::tempdir().unwrap();
    let a_data = tmp.path().join("a/data");
    let b_data = tmp.path().join("b/data");
    let a = Admitd::start(&a_data, &["--database", &url]);
    a.stop();
    // The second server shares the CA (and RA) directory; its own SQLite holds nothing SCEP.
    std::fs::create_dir_all(&b_data).unwrap();
    for sub in ["ca", "scep", "tls"] {
        let out = common::run(
            std::process::Command::new("cp")
                .arg("-a")
                .arg(a_data.join(sub))
                .arg(&b_data),
        );
        assert!(out.status.success());
    }
    let a = Admitd::start(&a_data, &["--database", &url]);
    let b = Admitd::start(&b_data, &["--database", &url]);
    let addrs = [a.http, b.http];
    for round in 0..5u64 {
        let challenge = backend.challenge(&a_data);
        let barrier = Arc::new(Barrier::new(3));
        let handles: Vec<_> = (0..3u64)
            .map(|i| {
                let (barrier, c) = (barrier.clone(), challenge.clone());
                let addr = addrs[(i % 2) as usize];
                std::thread::spawn(move || {
                    let client = scep_support::client(addr, PATH);
                    let d = Device::new(&format!("twin-{round}-{i}"), 200 + 10 * round + i);
                    let seed = 1000 + 10 * round + i;
                    let tx = client
                        .pkcs_req(d.identity(), &d.csr(Some(&c), seed), None, &mut rng(seed))
                        .unwrap();
                    barrier.wait();
                    send(
                        &client,
                        addr,
                        PATH,
                        &d,
                        &tx,
                        true,
                        seed,
                        &CertRepOptions::default(),
                    )
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|o| matches!(o, CertRepOutcome::Success(_)))
            .count();
        assert_eq!(wins, 1, "round {round}");
    }
    assert_eq!(backend.scep_rows(&a_data), 5);
    a.stop();
    b.stop();
}
