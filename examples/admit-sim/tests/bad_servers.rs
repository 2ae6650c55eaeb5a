//! Bad servers: one that answers 500, one that hangs, one that closes the connection, one
//! that sends a malformed plist. Each run ends by itself with the error named in the summary.
//! Enrollment's SCEP goes to the in-test MDM server; check-ins and commands go to the bad one.

mod support;

use std::sync::Arc;
use std::time::Duration;

use admit_sim::device::{Options, Source};
use admit_sim::enrollment::Enrollment;
use admit_sim::metrics::{Metrics, Summary};
use admit_sim::run::{RunOptions, run};
use admit_sim::scenario::Scenario;
use admit_sim::state::Keys;
use admit_sim::transport::Allowed;
use mdm_proto::profile::{CertificatePayload, EnrollmentProfile, IdentityPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Copy, Debug)]
enum Bad {
    Status500,
    Hang,
    Close,
    MalformedPlist,
}

/// Read one HTTP/1.1 request (head and Content-Length body); `None` at end of stream.
async fn read_request(s: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((head, buf[end + 4..end + 4 + len].to_vec()));
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn bad_server(mode: Bad) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                while let Some((head, _body)) = read_request(&mut s).await {
                    let answer: &[u8] = match mode {
                        Bad::Status500 => b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5\r\n\r\noops\n",
                        Bad::Hang => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        Bad::Close => return,
                        Bad::MalformedPlist if head.starts_with("PUT /mdm/connect") => {
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: 35\r\n\r\n<plist><dict><key>Command</key><dic"
                        }
                        Bad::MalformedPlist => b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                    };
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

async fn run_against(mode: Bad) -> Summary {
    let mini = support::Mini::start(true, false).await;
    let (addr, task) = bad_server(mode).await;
    let profile = EnrollmentProfile {
        identifier: "com.example.bad".into(),
        display_name: "Bad".into(),
        organization: None,
        server_url: format!("http://{addr}/mdm/connect"),
        check_in_url: Some(format!("http://{addr}/mdm/checkin")),
        topic: support::TOPIC.into(),
        access_rights: 8191,
        sign_message: true,
        check_out_when_removed: true,
        per_user_connections: false,
        bootstrap_token: false,
        identity: IdentityPayload::Scep(Box::new(
            mdm_proto::generated::profiles::security_scep::PayloadContent {
                url: Some(mini.url("/scep")),
                challenge: Some(support::CHALLENGE.into()),
                ..Default::default()
            },
        )),
        certificates: vec![CertificatePayload::Root(mini.tls_ca.clone())],
    }
    .build(&mut admit_sim::rng());
    let e = Enrollment::from_profile(&profile).unwrap();
    let mut allowed = Allowed::default();
    for u in e.urls() {
        allowed.allow(u).unwrap();
    }
    let out = run(RunOptions {
        devices: 2,
        concurrency: 2,
        duration: Duration::from_secs(60),
        max_requests: None,
        scenario: Scenario::default_steps(),
        state_dir: None,
        device: Arc::new(Options {
            roots: e.roots.clone(),
            source: Source::Profile(Arc::new(e)),
            allowed: Arc::new(allowed),
            // Long enough for SCEP on a loaded machine; the hanging server is what runs out.
            timeout: Duration::from_secs(if matches!(mode, Bad::Hang) { 5 } else { 30 }),
            keys: Keys::Generate,
            attestation: None,
            metrics: Arc::new(Metrics::default()),
        }),
        apns: None,
        progress: false,
    })
    .await
    .unwrap();
    task.abort();
    out.summary
}

fn only_error(s: &Summary, kind: &str, words: &str) {
    assert_eq!(
        s.errors.keys().collect::<Vec<_>>(),
        [kind],
        "{:?}",
        s.errors
    );
    let e = &s.errors[kind];
    assert_eq!(e.count, 2);
    assert!(e.example.contains(words), "{}", e.example);
    assert_eq!(s.completed, 0);
    assert!(!s.stopped_early);
    // SCEP went through; the bad server's endpoint is where it failed.
    assert_eq!(s.endpoints["scep:PKIOperation"].answered, 2);
    assert!(s.to_text().contains(kind));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_answering_500() {
    let s = run_against(Bad::Status500).await;
    only_error(&s, "http-500", "checkin:Authenticate: HTTP 500: oops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_that_hangs() {
    let s = run_against(Bad::Hang).await;
    only_error(&s, "timeout", "checkin:Authenticate: no answer within 5 s");
    assert_eq!(s.endpoints["checkin:Authenticate"].failed, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_that_closes_the_connection() {
    let s = run_against(Bad::Close).await;
    only_error(&s, "closed", "checkin:Authenticate: connection closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sending_a_malformed_plist() {
    let s = run_against(Bad::MalformedPlist).await;
    only_error(&s, "malformed", "connect: malformed answer");
    assert_eq!(s.endpoints["checkin:TokenUpdate"].answered, 2);
}
