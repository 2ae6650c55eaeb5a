//! Connection limits seen from outside: silent connections are closed after the first-request
//! deadline while `/healthz` keeps answering, kept-alive connections after the idle deadline,
//! a flood past the open-file limit leaves the server serving, and each route has its own
//! body limit.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ADMITD, Admitd, raw_exchange, status_of};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS client that trusts only the server's root CA.
fn tls_connector(data: &Path) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(data.join("ca/root.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// `GET /healthz` over a new TLS connection; the status code.
async fn healthz_tls(connector: &tokio_rustls::TlsConnector, addr: SocketAddr) -> Option<u16> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.ok()?;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut resp = Vec::new();
    tls.read_to_end(&mut resp).await.ok()?;
    status_of(&String::from_utf8_lossy(&resp))
}

/// Wait for the peer to close (EOF or reset); `Some(when)` if it did within `limit`.
async fn closed_within(
    mut s: impl tokio::io::AsyncRead + Unpin,
    limit: Duration,
) -> Option<Instant> {
    let mut buf = [0u8; 64];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(Instant::now()),
            // The server sent something (e.g. a TLS alert or session ticket): keep reading.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_silent_tls_connections_are_closed_while_healthz_answers() {
    const SILENT: usize = 2000;
    const FIRST_MS: u64 = 6000;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(
        &data,
        &["--first-request-timeout-ms", &FIRST_MS.to_string()],
    );
    let connector = tls_connector(&data);
    let addr = server.https;

    // Open the silent connections in batches; each completes its TLS handshake, then sends
    // nothing at all.
    let mut silent = Vec::with_capacity(SILENT);
    for batch in 0..SILENT / 100 {
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let connector = connector.clone();
            tasks.push(tokio::spawn(async move {
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                let name = ServerName::try_from("localhost").unwrap();
                let tls = connector.connect(name, tcp).await;
                (tls, Instant::now())
            }));
        }
        for t in tasks {
            let (tls, at) = t.await.unwrap();
            let tls = tls.unwrap_or_else(|e| panic!("handshake in batch {batch} failed: {e}"));
            silent.push((tls, at));
        }
    }
    let opened = Instant::now();

    // While they are held, new clients are served.
    let mut answered = 0;
    for _ in 0..10 {
        assert_eq!(healthz_tls(&connector, addr).await, Some(200));
        answered += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(answered, 10);

    // Every silent connection is closed by the server, within the deadline plus slack.
    let limit = Duration::from_millis(FIRST_MS) + Duration::from_secs(20);
    let waits: Vec<_> = silent
        .into_iter()
        .map(|(tls, at)| tokio::spawn(async move { (closed_within(tls, limit).await, at) }))
        .collect();
    let mut closed = 0;
    let mut early = 0;
    for w in waits {
        let (when, opened_at) = w.await.unwrap();
        let when = when.expect("a silent connection was held past the first-request deadline");
        closed += 1;
        // Not closed before the deadline (half of it, to allow for the handshake's share).
        if when.duration_since(opened_at) < Duration::from_millis(FIRST_MS / 2) {
            early += 1;
        }
    }
    assert_eq!(closed, SILENT);
    assert_eq!(early, 0, "connections were closed well before the deadline");
    assert!(opened.elapsed() < limit + Duration::from_secs(5));
    // And the server still answers afterwards.
    assert_eq!(healthz_tls(&connector, addr).await, Some(200));
    server.stop();
}

#[test]
fn a_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &["--idle-timeout-ms", "1500"]);
    let mut s = TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    assert_eq!(status_of(&head), Some(200), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    // Still open shortly after (a second request on it works) ...
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let n = s.read(&mut buf).unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), Some(200));
    // ... then quiet: closed by the server, not by our read timeout.
    let started = Instant::now();
    let r = s.read(&mut buf);
    assert!(matches!(r, Ok(0)) || r.is_err() && started.elapsed() < Duration::from_secs(19));
    assert!(
        !matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "still open after the idle timeout"
    );
    server.stop();
}

#[test]
fn a_flood_past_the_open_file_limit_leaves_the_server_serving() {
    const ATTEMPTS: usize = 2000;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(tmp.path()).unwrap();
    // admitd under `ulimit -n 1024` (prlimit sets the limit, then execs admitd: same PID).
    let mut args: Vec<String> = vec![
        "--nofile=1024:1024".into(),
        ADMITD.into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--http".into(),
        "127.0.0.1:0".into(),
        "--https".into(),
        "127.0.0.1:0".into(),
        "--first-request-timeout-ms".into(),
        "30000".into(),
    ];
    let server = common::Admitd::start_program("prlimit", tmp.path(), &mut args);

    let started = Instant::now();
    let mut conns = Vec::with_capacity(ATTEMPTS);
    let mut connect_failed = 0;
    for _ in 0..ATTEMPTS {
        match TcpStream::connect_timeout(&server.http, Duration::from_secs(2)) {
            Ok(s) => conns.push(s),
            Err(_) => connect_failed += 1,
        }
    }
    // Past the cap, connections are closed at once; under it they are held (silent) until
    // the first-request deadline.
    std::thread::sleep(Duration::from_millis(1500));
    let mut closed_early = 0;
    for s in &conns {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        match (&*s).read(&mut b) {
            Ok(0) => closed_early += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => closed_early += 1,
            Ok(_) => {}
        }
    }
    eprintln!(
        "{} connected ({connect_failed} failed) in {:?}; {closed_early} closed at once",
        conns.len(),
        started.elapsed()
    );
    // The held ones must not have reached their first-request deadline yet, or the count
    // below would mix the two kinds of close.
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the flood took too long to judge the early closes"
    );
    let log = server.log_text();
    assert!(log.contains("connection cap lowered"), "{log}");
    // The cap is 1024 minus the reserve: at least 2000 - 1024 were refused at once, and
    // several hundred were held.
    assert!(
        closed_early + connect_failed >= ATTEMPTS - 1024,
        "closed early {closed_early}, failed {connect_failed}"
    );
    assert!(
        closed_early <= ATTEMPTS - 500,
        "closed early {closed_early}"
    );

    // While the slots are full, the server keeps running; once the silent ones are dropped by
    // the deadline (or by us), it answers again.
    drop(conns);
    let mut ok = false;
    for _ in 0..50 {
        let resp = raw_exchange(
            server.http,
            b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        );
        if status_of(&resp) == Some(200) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(ok, "the server stopped answering after the flood");
    server.stop();
}

#[test]
fn each_route_has_its_own_body_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Admitd::start(&data, &[]);
    let post = |path: &str, len: usize| {
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        req.extend(std::iter::repeat_n(b'x', len));
        status_of(&raw_exchange(server.http, &req, Duration::from_secs(10)))
    };
    // A small body on a route that takes none: read, and answered by the route.
    assert_eq!(post("/healthz", 10), Some(405));
    assert_eq!(post("/healthz", 4096), Some(413));
    // Device auth takes small JSON; SCEP takes PKIMessages up to 256 KiB.
    assert_eq!(
        post("/api/devices/v1/authentication/auth_requests", 100 * 1024),
        Some(413)
    );
    assert_eq!(post("/scep?operation=PKIOperation", 300 * 1024), Some(413));
    // Under SCEP's limit the body reaches SCEP (which refuses it as a bad message, not 413).
    let status = post("/scep?operation=PKIOperation", 100 * 1024).unwrap();
    assert_ne!(status, 413);
    assert!((400..500).contains(&status), "{status}");
    server.stop();
}
