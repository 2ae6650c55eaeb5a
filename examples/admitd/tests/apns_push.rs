//! APNs pushes against a local HTTP/2 TLS endpoint that requires the push certificate as its
//! client certificate (verified against a test CA), on both storage backends.
//!
//! Certificates come from openssl: a test CA (standing in for Apple's), the endpoint's server
//! certificate from it, and a push certificate from it whose subject carries
//! `UID=com.apple.mgmt.External.<uuid>`, exported as a `.p12` the way Keychain Access or
//! `openssl pkcs12 -export` does. The endpoint records each request; scripted answers (410,
//! 429, 503) follow Apple's documented statuses and `reason` bodies.

mod backend;
mod common;
mod push_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use admitd::mdm::push::{
    ApnsEndpoint, MemTargets, PushResults, PushSettings, Pusher, cert::import,
};
use admitd::mdm::{PushTarget, Wake as _};
use backend::Backend;
use push_support::{Certs, TOPIC, start_apns, wait_for};

fn results_store(backend: &Backend, data: &Path) -> Arc<dyn PushResults> {
    match backend {
        Backend::Sqlite => {
            Arc::new(admitd::storage::Storage::open(&data.join("admit.sqlite3")).unwrap())
        }
        Backend::Postgres(_, url) => {
            Arc::new(admitd::scep::postgres::PgStore::open(url, 2).unwrap())
        }
    }
}

/// Wait until the channel has no push pending and at least `n` results.
fn settled(pusher: &Pusher, ch: &str, n: usize) {
    wait_for(&format!("{n} results for {ch}"), || {
        !pusher.is_pending(ch) && pusher.results(ch, 50).unwrap().len() >= n
    })
}

fn target(channel: &str, token: &[u8]) -> PushTarget {
    PushTarget {
        channel_id: channel.into(),
        token: token.to_vec(),
        push_magic: format!("magic-{channel}"),
        topic: TOPIC.into(),
    }
}

fn path_of(token: &[u8]) -> String {
    format!("/3/device/{}", hex::encode(token))
}

fn provider() -> &'static dyn pki::provider::CryptoProvider {
    pki::provider::compiled()[0]
}

fn settings(addr: SocketAddr, ca: PathBuf) -> PushSettings {
    PushSettings {
        endpoint: ApnsEndpoint::parse(&format!("https://{addr}")).unwrap(),
        ca_file: Some(ca),
        max_attempts: 3,
        retry_base: Duration::from_millis(20),
        timeout: Duration::from_secs(20),
    }
}

#[test]
fn pushes_reach_an_endpoint_that_requires_the_push_certificate() {
    let certs = Certs::make();
    for backend in Backend::both() {
        pushes_on(&backend, &certs);
    }
}

fn pushes_on(backend: &Backend, certs: &Certs) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, apns) = start_apns(&rt, certs);
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let imported = import(
        &data,
        &certs.path("push.p12"),
        Some("p12-secret"),
        None,
        provider(),
        std::time::SystemTime::now(),
    )
    .unwrap();
    assert_eq!(imported.topic, TOPIC);
    let results = rt.block_on(async { results_store(backend, &data) });
    let targets = Arc::new(MemTargets::default());
    let pusher = Pusher::start(
        rt.handle(),
        settings(addr, certs.path("ca.pem")),
        data.clone(),
        provider(),
        targets.clone(),
        results.clone(),
    );
    let name = backend.name();

    // Delivered, and coalesced: twenty wakes while the first push waits for its answer.
    let tok_a = [0xab, 0xcd, 0x01, 0x23, 0x45, 0x67, 0x89, 0xef];
    targets.set(target("A", &tok_a));
    apns.hold.store(true, Ordering::SeqCst);
    pusher.wake(&["A".into()]);
    wait_for("the first push to A", || {
        apns.seen_for(&path_of(&tok_a)).len() == 1
    });
    for _ in 0..20 {
        pusher.wake(&["A".into()]);
    }
    assert!(pusher.is_pending("A"));
    apns.hold.store(false, Ordering::SeqCst);
    settled(&pusher, "A", 1);
    let seen = apns.seen_for(&path_of(&tok_a));
    assert_eq!(
        seen.len(),
        1,
        "{name}: wakes while pending coalesce into one push"
    );
    let s = &seen[0];
    assert_eq!(s.method, "POST");
    assert_eq!(s.path, "/3/device/abcd0123456789ef");
    assert_eq!(s.headers.get("apns-topic").map(String::as_str), Some(TOPIC));
    assert_eq!(
        s.headers.get("apns-push-type").map(String::as_str),
        Some("mdm")
    );
    assert_eq!(
        s.headers.get("apns-priority").map(String::as_str),
        Some("10")
    );
    assert_eq!(s.body, br#"{"mdm":"magic-A"}"#);
    assert_eq!(
        s.client_cert.as_deref(),
        Some(&certs.der("push.pem")[..]),
        "the push certificate is the TLS client certificate"
    );
    let r = pusher.results("A", 10).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 200);
    assert_eq!(
        r[0].apns_id.as_deref(),
        Some("00000000-0000-4000-8000-000000000000")
    );
    // Once settled, the next wake pushes again.
    pusher.wake(&["A".into()]);
    settled(&pusher, "A", 2);
    assert_eq!(apns.seen_for(&path_of(&tok_a)).len(), 2);

    // 410: the token is marked dead and gets no more pushes.
    let tok_b = [0x10; 32];
    targets.set(target("B", &tok_b));
    apns.script(
        &path_of(&tok_b),
        &[(
            410,
            r#"{"reason":"Unregistered","timestamp":1700000000000}"#,
        )],
    );
    pusher.wake(&["B".into()]);
    settled(&pusher, "B", 1);
    assert!(
        targets.is_dead("B", &tok_b),
        "{name}: 410 marks the token dead"
    );
    let r = pusher.results("B", 10).unwrap();
    assert_eq!(
        (r[0].status, r[0].reason.as_deref()),
        (410, Some("Unregistered"))
    );
    pusher.wake(&["B".into()]);
    wait_for("B to settle", || !pusher.is_pending("B"));
    assert_eq!(
        apns.seen_for(&path_of(&tok_b)).len(),
        1,
        "{name}: no push to a dead token"
    );

    // 429 then 200: retried.
    let tok_c = [0x20; 32];
    targets.set(target("C", &tok_c));
    apns.script(
        &path_of(&tok_c),
        &[(429, r#"{"reason":"TooManyRequests"}"#)],
    );
    pusher.wake(&["C".into()]);
    settled(&pusher, "C", 2);
    assert_eq!(
        apns.seen_for(&path_of(&tok_c)).len(),
        2,
        "{name}: 429 is retried"
    );
    let r = pusher.results("C", 10).unwrap();
    let statuses: Vec<u16> = r.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 429], "newest first");
    assert_eq!(r[1].reason.as_deref(), Some("TooManyRequests"));

    // 503 every time: at most max_attempts (3) tries.
    let tok_d = [0x30; 32];
    targets.set(target("D", &tok_d));
    let busy = (503, r#"{"reason":"ServiceUnavailable"}"#);
    apns.script(&path_of(&tok_d), &[busy; 5]);
    pusher.wake(&["D".into()]);
    settled(&pusher, "D", 3);
    assert_eq!(apns.seen_for(&path_of(&tok_d)).len(), 3);
    assert!(
        pusher
            .results("D", 10)
            .unwrap()
            .iter()
            .all(|r| r.status == 503)
    );

    // 400 BadDeviceToken: not retried, the token stays.
    let tok_e = [0x40; 32];
    targets.set(target("E", &tok_e));
    apns.script(&path_of(&tok_e), &[(400, r#"{"reason":"BadDeviceToken"}"#)]);
    pusher.wake(&["E".into()]);
    settled(&pusher, "E", 1);
    assert_eq!(apns.seen_for(&path_of(&tok_e)).len(), 1);
    assert!(!targets.is_dead("E", &tok_e));

    // One connection carried everything.
    assert_eq!(pusher.connections_opened(), 1, "{name}");
    assert_eq!(apns.accepted.load(Ordering::SeqCst), 1, "{name}");
    // The database holds every attempt (read by the database itself).
    assert_eq!(
        backend.count(&data, "SELECT COUNT(*) FROM mdm_push_results"),
        2 + 1 + 2 + 3 + 1,
        "{name}"
    );
    drop(pusher);

    // A certificate the endpoint's CA did not issue: the endpoint refuses the connection,
    // the attempt is recorded without an HTTP status.
    let rogue = work.path().join("rogue");
    std::fs::create_dir(&rogue).unwrap();
    std::fs::write(
        rogue.join("rogue.p8"),
        common::openssl(
            work.path(),
            &[
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                certs.path("rogue.key").to_str().unwrap(),
            ],
        ),
    )
    .unwrap();
    import(
        &rogue,
        &certs.path("rogue.pem"),
        None,
        Some(&rogue.join("rogue.p8")),
        provider(),
        std::time::SystemTime::now(),
    )
    .unwrap();
    let before = apns.seen.lock().unwrap().len();
    let pusher = Pusher::start(
        rt.handle(),
        PushSettings {
            max_attempts: 1,
            ..settings(addr, certs.path("ca.pem"))
        },
        rogue.clone(),
        provider(),
        targets.clone(),
        results.clone(),
    );
    let tok_f = [0x50; 32];
    targets.set(target("F", &tok_f));
    pusher.wake(&["F".into()]);
    settled(&pusher, "F", 1);
    let r = pusher.results("F", 10).unwrap();
    assert_eq!(r[0].status, 0, "{name}: {r:?}");
    assert_eq!(
        apns.seen.lock().unwrap().len(),
        before,
        "no request got through"
    );
    drop(pusher);

    // No push certificate at all: recorded, nothing sent.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let pusher = Pusher::start(
        rt.handle(),
        PushSettings {
            max_attempts: 1,
            ..settings(addr, certs.path("ca.pem"))
        },
        empty,
        provider(),
        targets.clone(),
        results,
    );
    let tok_g = [0x60; 32];
    targets.set(target("G", &tok_g));
    pusher.wake(&["G".into()]);
    settled(&pusher, "G", 1);
    let r = pusher.results("G", 10).unwrap();
    assert_eq!(r[0].status, 0);
    assert!(
        r[0].reason.as_deref().unwrap().contains("push certificate"),
        "{r:?}"
    );
    drop(pusher);
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// `admitd mdm push-cert import` and the admin routes of a running server.
#[test]
fn push_cert_import_command_and_admin_routes() {
    let certs = Certs::make();
    for backend in Backend::both() {
        let work = tempfile::tempdir().unwrap();
        let data = work.path().join("data");
        let data_s = data.to_str().unwrap();
        let name = backend.name();
        // A wrong password and a PEM certificate without its key are refused, nothing stored.
        let run = |args: &[&str]| {
            testkit::run_bounded(
                std::process::Command::new(common::ADMITD)
                    .args(["--data-dir", data_s])
                    .args(args),
                work.path(),
                Duration::from_secs(60),
            )
        };
        std::fs::create_dir(&data).unwrap();
        let p12 = certs.path("push.p12");
        let bad = run(&[
            "mdm",
            "push-cert",
            "import",
            p12.to_str().unwrap(),
            "--password",
            "nope",
        ]);
        assert!(!bad.ok, "{name}: wrong password accepted");
        let pem = certs.path("push.pem");
        let bad = run(&["mdm", "push-cert", "import", pem.to_str().unwrap()]);
        assert!(!bad.ok && bad.stderr.contains("--key"), "{}", bad.stderr);
        let wrong_key = certs.path("server.key");
        let bad = run(&[
            "mdm",
            "push-cert",
            "import",
            pem.to_str().unwrap(),
            "--key",
            wrong_key.to_str().unwrap(),
        ]);
        assert!(
            !bad.ok && bad.stderr.contains("does not belong"),
            "{}",
            bad.stderr
        );
        assert!(!data.join("mdm/push.pem").exists());
        let ok = run(&[
            "mdm",
            "push-cert",
            "import",
            p12.to_str().unwrap(),
            "--password",
            "p12-secret",
        ]);
        assert!(ok.ok, "{name}: {}", ok.stderr);
        let shown: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
        assert_eq!(shown["topic"], TOPIC);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.join("mdm/push.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The stored certificate is the one openssl made.
        assert_eq!(
            testkit::pem_to_der(&std::fs::read(data.join("mdm/push.pem")).unwrap()),
            certs.der("push.pem")
        );
        // Its expiry as openssl reads it.
        let end = common::openssl(
            work.path(),
            &[
                "x509",
                "-in",
                pem.to_str().unwrap(),
                "-noout",
                "-enddate",
                "-dateopt",
                "iso_8601",
            ],
        );
        let end = end
            .trim()
            .strip_prefix("notAfter=")
            .unwrap()
            .replace(' ', "T");

        let server = common::Admitd::start(&data, &backend.args());
        let token = std::fs::read_to_string(data.join("devauth/admin-token")).unwrap();
        let auth = format!("Authorization: Bearer {}", token.trim());
        let root = data.join("ca/root.pem");
        let url = |p: &str| format!("https://127.0.0.1:{}{p}", server.https.port());
        let (ok, out) = common::curl(&[
            "--cacert",
            root.to_str().unwrap(),
            "-H",
            &auth,
            &url("/api/v1/mdm/push-cert"),
        ]);
        assert!(ok, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["topic"], TOPIC, "{name}");
        assert_eq!(v["not_after_rfc3339"].as_str().unwrap(), end, "{name}");
        // No token: 401.
        let (_, out) = common::curl(&[
            "--cacert",
            root.to_str().unwrap(),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url("/api/v1/mdm/push-cert"),
        ]);
        assert_eq!(out.trim(), "401");
        // No push target for an unknown device: 409; its push list is empty.
        let (_, out) = common::curl(&[
            "--cacert",
            root.to_str().unwrap(),
            "-H",
            &auth,
            "-X",
            "POST",
            "-w",
            " %{http_code}",
            &url("/api/v1/mdm/devices/UNKNOWN-UDID/push"),
        ]);
        assert!(out.ends_with(" 409"), "{out}");
        let (ok, out) = common::curl(&[
            "--cacert",
            root.to_str().unwrap(),
            "-H",
            &auth,
            &url("/api/v1/mdm/devices/UNKNOWN-UDID/pushes?limit=5"),
        ]);
        assert!(ok);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap(),
            serde_json::json!({"pushes": []})
        );
        let (_, out) = common::curl(&[
            "--cacert",
            root.to_str().unwrap(),
            "-H",
            &auth,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url("/api/v1/mdm/devices/X/pushes?limit=100000"),
        ]);
        assert_eq!(out.trim(), "400");
        server.stop();
    }
}
