//! Shared by the APNs and webhook tests: a test CA with a push certificate and an APNs
//! stand-in (HTTP/2 over TLS, client certificate required), a webhook receiver, bounded waits.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::common;

pub const TOPIC: &str = "com.apple.mgmt.External.1b7a4c2e-0f6d-4a8e-9c3b-5e2f7d1a9b04";

/// What the endpoint saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub client_cert: Option<Vec<u8>>,
}

/// The local APNs: records requests, answers from a per-path script (default 200 + apns-id),
/// and holds answers while `hold` is set.
#[derive(Default)]
pub struct Apns {
    pub seen: Mutex<Vec<Seen>>,
    pub script: Mutex<HashMap<String, VecDeque<(u16, &'static str)>>>,
    pub hold: std::sync::atomic::AtomicBool,
    pub accepted: AtomicU64,
    pub ids: AtomicU64,
}

impl Apns {
    pub fn seen_for(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    pub fn script(&self, path: &str, answers: &[(u16, &'static str)]) {
        self.script
            .lock()
            .unwrap()
            .insert(path.to_owned(), answers.iter().copied().collect());
    }
}

pub struct Certs {
    pub dir: tempfile::TempDir,
}

impl Certs {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn make() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Arguments split on spaces (none of them holds one).
        let ossl = |args: &str| {
            common::openssl(d, &args.split(' ').collect::<Vec<_>>());
        };
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        ossl(&format!(
            "req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=Test-APNs-CA"
        ));
        // The endpoint's certificate, for 127.0.0.1.
        ossl(&format!(
            "req {ec} -keyout server.key -out server.csr -subj /CN=127.0.0.1"
        ));
        std::fs::write(d.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        let sign = "-CA ca.pem -CAkey ca.key -CAcreateserial -days 2";
        ossl(&format!(
            "x509 -req -in server.csr {sign} -extfile server.ext -out server.pem"
        ));
        // The push certificate: RSA like Apple's, the topic in the subject's UID, v3 with
        // clientAuth.
        ossl(&format!(
            "req -newkey rsa:2048 -nodes -keyout push.key -out push.csr \
             -subj /UID={TOPIC}/CN=APSP:1b7a4c2e/C=US"
        ));
        std::fs::write(
            d.join("push.ext"),
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        ossl(&format!(
            "x509 -req -in push.csr {sign} -extfile push.ext -out push.pem"
        ));
        ossl("pkcs12 -export -in push.pem -inkey push.key -out push.p12 -passout pass:p12-secret");
        // A certificate with the same topic that the endpoint's CA did not issue.
        ossl(&format!(
            "req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.pem -days 2 \
             -subj /UID={TOPIC}/CN=rogue"
        ));
        Certs { dir }
    }

    pub fn der(&self, name: &str) -> Vec<u8> {
        testkit::pem_to_der(&std::fs::read(self.path(name)).unwrap())
    }
}

/// Start the endpoint on `rt`: TLS 1.2/1.3, ALPN h2, client certificate required and verified
/// against the test CA.
pub fn start_apns(rt: &tokio::runtime::Runtime, certs: &Certs) -> (SocketAddr, Arc<Apns>) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(certs.der("ca.pem")))
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certs.der("server.key")));
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![CertificateDer::from(certs.der("server.pem"))], key)
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let apns = Arc::new(Apns::default());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let state = apns.clone();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, state) = (acceptor.clone(), state.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                state.accepted.fetch_add(1, Ordering::SeqCst);
                let client_cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.to_vec());
                let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let (state, client_cert) = (state.clone(), client_cert.clone());
                    async move {
                        Ok::<_, std::convert::Infallible>(answer(&state, req, client_cert).await)
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, apns)
}

async fn answer(
    state: &Apns,
    req: hyper::Request<Incoming>,
    client_cert: Option<Vec<u8>>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    let path = parts.uri.path().to_owned();
    state.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect(),
        body,
        client_cert,
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while state.hold.load(Ordering::SeqCst) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let scripted = state
        .script
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    let id = format!(
        "00000000-0000-4000-8000-{:012x}",
        state.ids.fetch_add(1, Ordering::SeqCst)
    );
    let (status, body) = scripted.unwrap_or((200, ""));
    hyper::Response::builder()
        .status(status)
        .header("apns-id", id)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

/// Poll `cond` every 10 ms for up to 30 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A receiver: answers 500 while `refuse` is set or `fail_next` is above zero, else 200.
#[derive(Default)]
pub struct Receiver {
    /// Every request: (status answered, body).
    pub got: Mutex<Vec<(u16, serde_json::Value)>>,
    pub fail_next: AtomicU32,
    pub refuse: AtomicBool,
}

impl Receiver {
    pub fn accepted(&self) -> Vec<serde_json::Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, b)| b.clone())
            .collect()
    }

    pub fn requests(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

/// A webhook receiver on plain HTTP: `http://127.0.0.1:PORT/hook`.
pub fn start_receiver(rt: &tokio::runtime::Runtime) -> (String, Arc<Receiver>) {
    serve_receiver(rt, None)
}

/// A webhook receiver on HTTPS with the test CA's 127.0.0.1 certificate:
/// `https://127.0.0.1:PORT/hook`.
pub fn start_receiver_tls(rt: &tokio::runtime::Runtime, certs: &Certs) -> (String, Arc<Receiver>) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certs.der("server.key")));
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(certs.der("server.pem"))], key)
        .unwrap();
    serve_receiver(rt, Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg))))
}

fn serve_receiver(
    rt: &tokio::runtime::Runtime,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (String, Arc<Receiver>) {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let state = Arc::new(Receiver::default());
    let st = state.clone();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (st, tls) = (st.clone(), tls.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let st = st.clone();
                    async move {
                        assert_eq!(req.method(), hyper::Method::POST);
                        assert_eq!(req.uri().path(), "/hook");
                        let ct = req.headers().get("content-type").cloned();
                        assert_eq!(ct.unwrap(), "application/json");
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let fail = st.refuse.load(Ordering::SeqCst)
                            || st
                                .fail_next
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .is_ok();
                        let status = if fail { 500 } else { 200 };
                        st.got
                            .lock()
                            .unwrap()
                            .push((status, serde_json::from_slice(&body).unwrap()));
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let http1 = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => {
                        let _ = http1.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let _ = http1.serve_connection(TokioIo::new(tls), svc).await;
                    }
                }
            });
        }
    });
    (format!("{scheme}://{addr}/hook"), state)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
