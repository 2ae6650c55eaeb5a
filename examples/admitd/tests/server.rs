//! The admitd binary end to end: TLS with its own CA, restart, file modes, graceful shutdown,
//! and request limits. Clients are curl, openssl and raw sockets, all on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::*;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn sha256_fingerprint(dir: &Path, pem: &str) -> String {
    // "sha256 Fingerprint=AB:CD:..."
    let out = openssl(
        dir,
        &["x509", "-noout", "-fingerprint", "-sha256", "-in", pem],
    );
    out.trim()
        .split_once('=')
        .unwrap()
        .1
        .replace(':', "")
        .to_lowercase()
}

#[test]
fn healthz_over_https_verifies_with_the_root_and_openssl_verifies_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &[]);
    let root = data.join("ca/root.pem");
    let root = root.to_str().unwrap();

    // curl trusts only the root: the server must present leaf + intermediate, with SANs
    // matching both localhost and 127.0.0.1.
    let url = format!("https://localhost:{}/healthz", server.https.port());
    let (ok, body) = curl(&["--cacert", root, &url]);
    assert!(ok, "curl failed: {body}");
    assert_eq!(body, "ok");
    let url = format!("https://127.0.0.1:{}/healthz", server.https.port());
    let (ok, body) = curl(&["--cacert", root, "--http2", &url]);
    assert!(ok, "curl over HTTP/2 failed: {body}");
    assert_eq!(body, "ok");
    // Without the root, verification fails: the chain is really checked.
    let (ok, _) = curl(&[&url]);
    assert!(!ok);

    // Plain HTTP: health check and 404.
    let (ok, body) = curl(&[&format!("http://127.0.0.1:{}/healthz", server.http.port())]);
    assert!(ok && body == "ok", "{body}");
    let (ok, code) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{}/no/such/route", server.http.port()),
    ]);
    assert!(ok);
    assert_eq!(code, "404");
    let (ok, code) = curl(&[
        "--cacert",
        root,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("https://localhost:{}/nope", server.https.port()),
    ]);
    assert!(ok);
    assert_eq!(code, "404");

    // openssl checks the files: root -> intermediate -> server, for TLS server use.
    let out = openssl(
        &data,
        &[
            "verify",
            "-purpose",
            "sslserver",
            "-CAfile",
            "ca/root.pem",
            "-untrusted",
            "ca/intermediate.pem",
            "tls/server.pem",
        ],
    );
    assert_eq!(out.trim(), "tls/server.pem: OK");
    let out = openssl(&data, &["verify", "-CAfile", "ca/root.pem", "ca/chain.pem"]);
    assert_eq!(out.trim(), "ca/chain.pem: OK");
    let san = openssl(
        &data,
        &[
            "x509",
            "-noout",
            "-ext",
            "subjectAltName",
            "-in",
            "tls/server.pem",
        ],
    );
    assert!(san.contains("DNS:localhost"), "{san}");
    assert!(san.contains("IP Address:127.0.0.1"), "{san}");
    // Default CA key: ECDSA P-256.
    let text = openssl(&data, &["x509", "-noout", "-text", "-in", "ca/root.pem"]);
    assert!(
        text.contains("prime256v1") || text.contains("P-256"),
        "{text}"
    );
    server.stop();
}

#[test]
fn restart_reuses_the_same_ca_and_tls_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let names = providers();
    // Created with the first provider compiled in, reloaded with the last.
    let first = Admitd::start(&data, &["--crypto-provider", names[0]]);
    let root_fp = sha256_fingerprint(&data, "ca/root.pem");
    let int_fp = sha256_fingerprint(&data, "ca/intermediate.pem");
    let tls_pem = std::fs::read(data.join("tls/server.pem")).unwrap();
    let root_copy = tmp.path().join("root-before.pem");
    std::fs::copy(data.join("ca/root.pem"), &root_copy).unwrap();
    first.stop();

    let second = Admitd::start(&data, &["--crypto-provider", names[names.len() - 1]]);
    assert_eq!(sha256_fingerprint(&data, "ca/root.pem"), root_fp);
    assert_eq!(sha256_fingerprint(&data, "ca/intermediate.pem"), int_fp);
    assert_eq!(std::fs::read(data.join("tls/server.pem")).unwrap(), tls_pem);
    // A client holding the root from the first run still trusts the restarted server.
    let url = format!("https://localhost:{}/healthz", second.https.port());
    let (ok, body) = curl(&["--cacert", root_copy.to_str().unwrap(), &url]);
    assert!(ok && body == "ok", "{body}");
    assert!(second.log_text().contains("loaded CA"));
    second.stop();
}

#[test]
fn rsa_ca_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &["--ca-key-type", "rsa"]);
    let text = openssl(
        &data,
        &["x509", "-noout", "-text", "-in", "ca/intermediate.pem"],
    );
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
    let out = openssl(
        &data,
        &[
            "verify",
            "-CAfile",
            "ca/root.pem",
            "-untrusted",
            "ca/intermediate.pem",
            "tls/server.pem",
        ],
    );
    assert_eq!(out.trim(), "tls/server.pem: OK");
    let url = format!("https://localhost:{}/healthz", server.https.port());
    let (ok, body) = curl(&["--cacert", data.join("ca/root.pem").to_str().unwrap(), &url]);
    assert!(ok && body == "ok", "{body}");
    server.stop();
}

#[test]
fn private_keys_and_database_are_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &[]);
    for key in [
        "ca/root.key",
        "ca/intermediate.key",
        "ca/device.key",
        "scep/ra.key",
        "tls/server.key",
    ] {
        let p = data.join(key);
        assert_eq!(mode(&p), 0o600, "{key}");
        // PKCS#8 PEM, readable by openssl.
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");
        openssl(&data, &["pkey", "-noout", "-in", key]);
    }
    assert_eq!(mode(&data.join("admit.sqlite3")), 0o600);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("ca")), 0o700);
    // The key in root.key belongs to root.pem.
    let a = openssl(&data, &["pkey", "-pubout", "-in", "ca/root.key"]);
    let b = openssl(&data, &["x509", "-noout", "-pubkey", "-in", "ca/root.pem"]);
    assert_eq!(a, b);
    server.stop();
}

#[test]
fn sigterm_during_a_slow_request_lets_it_finish_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Admitd::start(&data, &[]);
    let mut s = TcpStream::connect(server.http).unwrap();
    s.write_all(b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.sigterm();
    std::thread::sleep(Duration::from_millis(500));
    // Shut down for new connections...
    assert!(
        TcpStream::connect(server.http).is_err(),
        "listener still accepting after SIGTERM"
    );
    // ...no answer yet on the in-flight one (the body is incomplete)...
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut one = [0u8; 1];
    assert!(
        matches!(s.read(&mut one), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "the server answered before the body was complete"
    );
    // ...and once the body is complete the request is answered (405: /healthz is GET only,
    // which the server decides only after reading the whole body).
    s.write_all(b"world").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    assert_eq!(status_of(&resp), Some(405), "{resp}");
    let st = server.wait_exit(Duration::from_secs(10));
    assert!(st.success(), "exit status {st}");
    assert!(server.log_text().contains("SIGTERM received"));
}

#[test]
fn drain_timeout_bounds_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Admitd::start(&data, &["--drain-timeout-ms", "300"]);
    // A request that never completes.
    let mut s = TcpStream::connect(server.http).unwrap();
    s.write_all(b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhel")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.sigterm();
    let st = server.wait_exit(Duration::from_secs(5));
    assert!(st.success(), "exit status {st}");
    assert!(server.log_text().contains("drain timeout passed"));
}

#[test]
fn oversized_body_gets_413() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &["--max-body-bytes", "1024"]);
    let big = vec![b'a'; 2048];

    // Declared by Content-Length.
    let mut req = b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\n\r\n".to_vec();
    req.extend_from_slice(&big);
    let resp = raw_exchange(server.http, &req, Duration::from_secs(10));
    assert_eq!(status_of(&resp), Some(413), "{resp}");

    // Chunked, so only counting reveals the size.
    let mut req =
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in big.chunks(512) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let resp = raw_exchange(server.http, &req, Duration::from_secs(10));
    assert_eq!(status_of(&resp), Some(413), "{resp}");

    // Over HTTPS with curl. (HTTP/1.1: over HTTP/2 the early answer is followed by
    // RST_STREAM(NO_ERROR), which RFC 9113 section 8.1 allows but curl reports as an error.)
    let file = tmp.path().join("big");
    std::fs::write(&file, &big).unwrap();
    let (ok, code) = curl(&[
        "--cacert",
        data.join("ca/root.pem").to_str().unwrap(),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--http1.1",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("https://localhost:{}/healthz", server.https.port()),
    ]);
    assert!(ok, "{code}");
    assert_eq!(code, "413");

    // At the limit: read, then routed (405, not 413).
    let mut req =
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&big[..1024]);
    let resp = raw_exchange(server.http, &req, Duration::from_secs(10));
    assert_eq!(status_of(&resp), Some(405), "{resp}");
    server.stop();
}

#[test]
fn oversized_header_gets_431() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &["--max-header-bytes", "8192"]);
    let filler = "x".repeat(20 * 1024);
    let req = format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Filler: {filler}\r\n\r\n");
    let resp = raw_exchange(server.http, req.as_bytes(), Duration::from_secs(10));
    assert_eq!(status_of(&resp), Some(431), "{resp}");
    // A head under the limit is fine.
    let req = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Filler: {}\r\nConnection: close\r\n\r\n",
        &filler[..4096]
    );
    let resp = raw_exchange(server.http, req.as_bytes(), Duration::from_secs(10));
    assert_eq!(status_of(&resp), Some(200), "{resp}");
    server.stop();
}

#[test]
fn slow_request_times_out_with_408() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &["--request-timeout-ms", "500"]);
    let started = std::time::Instant::now();
    // The head arrives, the body never completes.
    let resp = raw_exchange(
        server.http,
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab",
        Duration::from_secs(10),
    );
    assert_eq!(status_of(&resp), Some(408), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A head that never completes: the connection is closed (hyper's header read timeout).
    let mut s = TcpStream::connect(server.http).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let started = std::time::Instant::now();
    let r = s.read_to_end(&mut buf);
    assert!(r.is_ok(), "connection was not closed: {r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop();
}

#[test]
fn config_file_sets_listeners_and_limits_and_flags_override_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("admitd.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\nhttp = \"127.0.0.1:0\"\nhttps = \"127.0.0.1:0\"\n\
             crypto_provider = \"{}\"\n\n[limits]\nmax_body_bytes = 16\n",
            data.display(),
            providers()[0]
        ),
    )
    .unwrap();
    let args = vec!["--config".to_string(), cfg.display().to_string()];
    let server = Admitd::start_args(tmp.path(), &args);
    assert!(data.join("ca/root.pem").exists());
    let req = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n01234567890123456";
    assert_eq!(
        status_of(&raw_exchange(server.http, req, Duration::from_secs(10))),
        Some(413)
    );
    server.stop();

    let args = vec![
        "--config".to_string(),
        cfg.display().to_string(),
        "--max-body-bytes".to_string(),
        "100".to_string(),
    ];
    let server = Admitd::start_args(tmp.path(), &args);
    let resp = raw_exchange(server.http, req, Duration::from_secs(10));
    assert_eq!(status_of(&resp), Some(404), "{resp}");
    server.stop();

    // Unknown keys are refused before anything starts.
    std::fs::write(&cfg, "htp = \"127.0.0.1:0\"\n").unwrap();
    let out = run(std::process::Command::new(ADMITD).args(["--config", cfg.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("htp"));
}

#[test]
fn missing_tls_certificate_is_reissued_and_a_damaged_ca_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    Admitd::start(&data, &[]).stop();
    let root_fp = sha256_fingerprint(&data, "ca/root.pem");
    let old_leaf = sha256_fingerprint(&data, "tls/server.pem");

    // No TLS certificate: a new one from the same CA.
    std::fs::remove_file(data.join("tls/server.pem")).unwrap();
    let server = Admitd::start(&data, &[]);
    assert_ne!(sha256_fingerprint(&data, "tls/server.pem"), old_leaf);
    assert_eq!(sha256_fingerprint(&data, "ca/root.pem"), root_fp);
    let url = format!("https://localhost:{}/healthz", server.https.port());
    let (ok, body) = curl(&["--cacert", data.join("ca/root.pem").to_str().unwrap(), &url]);
    assert!(ok && body == "ok", "{body}");
    server.stop();

    let start_fails = |expect: &str| {
        let out = run(std::process::Command::new(ADMITD).args([
            "--data-dir",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--https",
            "127.0.0.1:0",
        ]));
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "expected {expect:?} in {err}");
    };

    // An intermediate key that is not the intermediate certificate's.
    let int_key = std::fs::read(data.join("ca/intermediate.key")).unwrap();
    std::fs::copy(
        data.join("tls/server.key"),
        data.join("ca/intermediate.key"),
    )
    .unwrap();
    start_fails("does not match the public key");
    std::fs::write(data.join("ca/intermediate.key"), &int_key).unwrap();

    // An intermediate certificate for the right key, from an impostor root with the same name.
    let int_pem = std::fs::read(data.join("ca/intermediate.pem")).unwrap();
    let root_subject = "/O=admit/CN=admitd Root CA";
    #[rustfmt::skip]
    openssl(tmp.path(), &[
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "fake.key", "-out", "fake.pem", "-subj", root_subject,
    ]);
    let int_key_path = data.join("ca/intermediate.key");
    #[rustfmt::skip]
    openssl(tmp.path(), &[
        "req", "-new", "-key", int_key_path.to_str().unwrap(), "-out", "int.csr",
        "-subj", "/O=admit/CN=admitd Issuing CA",
    ]);
    #[rustfmt::skip]
    openssl(tmp.path(), &[
        "x509", "-req", "-in", "int.csr", "-CA", "fake.pem", "-CAkey", "fake.key",
        "-days", "2", "-out", data.join("ca/intermediate.pem").to_str().unwrap(),
    ]);
    // Same issuer name as our root, as openssl sees it.
    let names = openssl(
        &data,
        &["x509", "-noout", "-issuer", "-in", "ca/intermediate.pem"],
    );
    let ours = openssl(&data, &["x509", "-noout", "-subject", "-in", "ca/root.pem"]);
    assert_eq!(
        names.trim().replace("issuer=", ""),
        ours.trim().replace("subject=", "")
    );
    start_fails("not issued by the root in root.pem");
    std::fs::write(data.join("ca/intermediate.pem"), &int_pem).unwrap();

    // A CA with a file missing is not silently replaced.
    std::fs::remove_file(data.join("ca/intermediate.key")).unwrap();
    start_fails("incomplete CA (intermediate.key is missing)");
}

#[test]
fn a_key_or_data_directory_open_to_others_stops_the_start_with_the_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    Admitd::start(&data, &[]).stop();
    let start_fails = |expect: &str| {
        let out = run(std::process::Command::new(ADMITD).args([
            "--data-dir",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--https",
            "127.0.0.1:0",
        ]));
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "expected {expect:?} in {err}");
    };
    let set = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    for key in ["ca/intermediate.key", "tls/server.key", "devauth/jwt.key"] {
        let p = data.join(key);
        set(&p, 0o640);
        start_fails(&format!(
            "{key}: private key is accessible to group or others (mode 640); run `chmod 600"
        ));
        set(&p, 0o604);
        start_fails("mode 604");
        set(&p, 0o600);
    }
    set(&data, 0o777);
    start_fails("the data directory is writable by group or others (mode 777)");
    // Readable by others is allowed (the files that matter inside are 0600); restored, it starts.
    set(&data, 0o755);
    Admitd::start(&data, &[]).stop();
}

/// The certificate the HTTPS listener presents, as openssl's s_client sees it: (serial,
/// subjectAltName text).
fn served_certificate(dir: &Path, port: u16) -> (String, String) {
    let out = run(std::process::Command::new("sh").current_dir(dir).args([
        "-c",
        &format!(
            "openssl s_client -connect 127.0.0.1:{port} -servername admit.test </dev/null \
             2>/dev/null | openssl x509 -noout -serial -ext subjectAltName"
        ),
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let serial = text.lines().next().unwrap_or_default().to_owned();
    (serial, text)
}

#[test]
fn tls_names_are_configurable_and_the_certificate_is_renewed_while_running() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(
        &data,
        &[
            "--tls-name",
            "admit.test",
            "--tls-name",
            "10.9.8.7",
            "--tls-cert-validity-s",
            "9",
        ],
    );
    let (first, sans) = served_certificate(tmp.path(), server.https.port());
    assert!(sans.contains("DNS:admit.test"), "{sans}");
    assert!(sans.contains("IP Address:10.9.8.7"), "{sans}");
    assert!(!sans.contains("localhost"), "{sans}");
    // curl connecting by the configured name verifies it against the root.
    let root = data.join("ca/root.pem");
    let resolve = format!("admit.test:{}:127.0.0.1", server.https.port());
    let url = format!("https://admit.test:{}/healthz", server.https.port());
    let (ok, body) = curl(&[
        "--cacert",
        root.to_str().unwrap(),
        "--resolve",
        &resolve,
        &url,
    ]);
    assert!(ok && body == "ok", "{body}");

    // Renewed before it ends (a third of 9 s before), by the same running process.
    let mut renewed = None;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(500));
        let (serial, _) = served_certificate(tmp.path(), server.https.port());
        if serial != first {
            renewed = Some(serial);
            break;
        }
    }
    let renewed = renewed.expect("the certificate was not renewed while running");
    assert_ne!(renewed, first);
    let (ok, body) = curl(&[
        "--cacert",
        root.to_str().unwrap(),
        "--resolve",
        &resolve,
        &url,
    ]);
    assert!(
        ok && body == "ok",
        "the renewed certificate does not verify: {body}"
    );
    assert!(
        server
            .log_text()
            .contains("renewed the TLS server certificate")
    );
    // The file on disk is the one served.
    let on_disk = openssl(
        &data,
        &["x509", "-noout", "-serial", "-in", "tls/server.pem"],
    );
    let (now_served, _) = served_certificate(tmp.path(), server.https.port());
    if on_disk.trim() != now_served {
        // A further renewal may have happened between the two reads; one more look settles it.
        let on_disk = openssl(
            &data,
            &["x509", "-noout", "-serial", "-in", "tls/server.pem"],
        );
        let (again, _) = served_certificate(tmp.path(), server.https.port());
        assert_eq!(on_disk.trim(), again);
    }
    server.stop();

    // Other names at the next start: reissued with exactly those.
    let server = Admitd::start(&data, &["--tls-name", "other.test"]);
    let (_, sans) = served_certificate(tmp.path(), server.https.port());
    assert!(
        sans.contains("DNS:other.test") && !sans.contains("admit.test"),
        "{sans}"
    );
    server.stop();
}
