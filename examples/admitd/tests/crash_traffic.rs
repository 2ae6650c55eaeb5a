//! `kill -9` of admitd at an arbitrary moment during concurrent SCEP enrollments and device-auth
//! requests, then a restart, on SQLite and on PostgreSQL: every certificate and every token a
//! client received is in the store and still honoured, and nothing is half-written (each
//! device that got a token is accepted, the SQLite file passes its integrity check).
//!
//! The kill moment is drawn from a seeded generator, several rounds per backend, so the process
//! dies wherever its requests happen to be: before, inside or after a commit.

mod backend;
mod common;
mod devauth_support;
mod scep_support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backend::Backend;
use common::Admitd;
use devauth_support::{Api, DeviceKey};
use pki::der::Encode as _;
use rand_core::Rng as _;
use scep::{CertRepOptions, CertRepOutcome};
use scep_support::{Device, client, parse_response, scep_uri, try_exchange};
use testkit::rng;

const CHALLENGE: &str = "crash-traffic-secret";
const ROUNDS: u64 = 2;
const PER_ROUND: usize = 12;

/// The flags of one run: the backend's, and the static challenge.
fn args(backend: &Backend) -> Vec<&str> {
    let mut a = vec!["--scep-challenge", CHALLENGE];
    a.extend(backend.args());
    a
}

impl Backend {
    fn holds_certificate(&self, data: &Path, der: &[u8]) -> bool {
        let hex = hex::encode(der);
        let sql = match self {
            Backend::Sqlite => format!(
                "SELECT COUNT(*) FROM issued_certificates WHERE der = X'{hex}' AND purpose = 'scep'"
            ),
            Backend::Postgres(..) => format!(
                "SELECT COUNT(*) FROM issued_certificates \
                 WHERE der = decode('{hex}', 'hex') AND purpose = 'scep'"
            ),
        };
        self.count(data, &sql) == 1
    }
}

fn round(backend: &Backend, data: &Path, dir: &Path, round: u64) {
    let server = Admitd::start(data, &args(backend));
    let api = Api::new(&server, data, dir);
    // Devices for device auth: preauthorized, so their first request is accepted and answered
    // with a token (a write in the store).
    let mut devauth = Vec::new();
    for i in 0..PER_ROUND {
        let key = DeviceKey::ed25519(dir);
        let id = format!(r#"{{"serial":"crash-{round}-{i}"}}"#);
        let pre = serde_json::json!({
            "identity_data": serde_json::from_str::<serde_json::Value>(&id).unwrap(),
            "pubkey": key.pubkey_pem,
        });
        assert_eq!(
            api.call("POST", "/devices", Some(&pre.to_string())).status,
            201
        );
        devauth.push(key.request(&id));
    }
    // SCEP enrollments, prepared in advance so the traffic is only requests.
    let scep_client = client(server.http, "/scep");
    let mut enrollments = Vec::new();
    for i in 0..PER_ROUND {
        let seed = 10_000 * (round + 1) + i as u64;
        let d = Device::new(&format!("crash-{round}-{i}"), seed);
        let tx = scep_client
            .pkcs_req(
                d.identity(),
                &d.csr(Some(CHALLENGE), seed),
                None,
                &mut rng(seed),
            )
            .unwrap();
        enrollments.push((d, tx, seed));
    }

    let kill_after = Duration::from_millis(150 + rng(round).next_u64() % 900);
    let stop = AtomicBool::new(false);
    let (tokens, certs) = std::thread::scope(|s| {
        let devauth_traffic = s.spawn(|| {
            let mut tokens = Vec::new();
            for (body, sig) in &devauth {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // A failed transfer: the server is gone.
                let Ok(a) = api.try_auth_request(body, sig) else {
                    break;
                };
                match a.status {
                    200 => tokens.push(a.body.clone()),
                    // curl saw the connection close before a status line.
                    0 => break,
                    other => panic!("unexpected device-auth answer {other}: {a:?}"),
                }
            }
            tokens
        });
        let scep_traffic = s.spawn(|| {
            let mut certs = Vec::new();
            for (d, tx, seed) in &enrollments {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let req = tx
                    .to_request(&scep_uri(server.http, "/scep"), true)
                    .unwrap();
                let Some(raw) = try_exchange(server.http, "/scep", &req) else {
                    break;
                };
                let resp = parse_response(&raw);
                assert_eq!(resp.status(), 200);
                let out = scep_client
                    .read_cert_rep(
                        tx,
                        d.identity(),
                        resp.body(),
                        &CertRepOptions::default(),
                        &mut rng(seed + 1),
                    )
                    .unwrap();
                match &out {
                    CertRepOutcome::Success(_) => {
                        certs.push(out.certificate_for(d.key.spki()).unwrap().to_der().unwrap())
                    }
                    other => panic!("expected SUCCESS, got {other:?}"),
                }
            }
            certs
        });
        std::thread::sleep(kill_after);
        let st = std::process::Command::new("kill")
            .args(["-KILL", &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        stop.store(true, Ordering::Relaxed);
        (
            devauth_traffic.join().unwrap(),
            scep_traffic.join().unwrap(),
        )
    });
    drop(api);
    let mut server = server;
    let status = server.wait_exit(Duration::from_secs(20));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    eprintln!(
        "round {round}: killed after {kill_after:?}; {} tokens, {} certificates received",
        tokens.len(),
        certs.len()
    );

    // Restart: every certificate received is stored, every token received still verifies.
    if let Backend::Sqlite = backend {
        let db = rusqlite::Connection::open(data.join("admit.sqlite3")).unwrap();
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
    let server = Admitd::start(data, &args(backend));
    let api = Api::new(&server, data, dir);
    for der in &certs {
        assert!(
            backend.holds_certificate(data, der),
            "round {round}: certificate lost"
        );
    }
    for t in &tokens {
        let a = api.verify_token(t);
        assert_eq!(
            a.status, 200,
            "round {round}: a token a device received is refused: {a:?}"
        );
    }
    // Each device that got a token is accepted (it may be accepted without having seen its
    // token, when the kill came between commit and answer).
    let accepted = backend.count(
        data,
        "SELECT COUNT(*) FROM devauth_auth_sets WHERE status = 'accepted'",
    );
    assert!(accepted as usize >= tokens.len(), "round {round}");
    server.stop();
}

#[test]
fn sigkill_during_scep_and_device_auth_traffic_loses_nothing() {
    for backend in Backend::both() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        for r in 0..ROUNDS {
            round(&backend, &data, tmp.path(), r);
        }
    }
}
