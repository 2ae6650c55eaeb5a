//! An APNs stand-in: the HTTP/2-over-TLS push endpoint an MDM server under test is pointed at
//! instead of Apple's. It requires the push certificate as TLS client certificate (chained to
//! the CA it is given), checks `apns-topic`, and wakes the simulated device whose token and
//! push magic the notification names.
//!
//! ```text
//! server ── TLS (client cert = push certificate) ── POST /3/device/<hex token>
//!           apns-topic: <Topic>   {"mdm": "<PushMagic>"}
//!   ──▶ 200 + apns-id, and the device's Notify fires
//!   ──▶ 400 {"reason": "BadDeviceToken" | "TopicDisallowed" | "BadMessageId" ...}
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pki::cert::SubjectAltNames;
use pki::cert::issue::{Template, issue, self_signed_ca};
use pki::key::KeySpec;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::error::{Error, Result};

/// Largest push body read (APNs allows 4 KiB; MDM pushes are tiny).
const MAX_PUSH: usize = 4096;

/// One device channel the stand-in can wake.
#[derive(Debug, Clone)]
struct Target {
    magic: String,
    wake: Arc<Notify>,
}

/// The devices registered with the stand-in, by push token.
#[derive(Debug, Default)]
pub struct Registry {
    targets: Mutex<HashMap<Vec<u8>, Target>>,
    pushes: AtomicU64,
    refused: AtomicU64,
}

impl Registry {
    /// Register a channel's push token and magic; a valid push for it notifies `wake`.
    pub fn register(&self, token: Vec<u8>, magic: String, wake: Arc<Notify>) {
        if let Ok(mut t) = self.targets.lock() {
            t.insert(token, Target { magic, wake });
        }
    }

    /// The wake-up of the channel with `token`, registering it with `magic` (a channel
    /// registered before keeps its wake-up, so a push that came between two runs still wakes
    /// the device in the next).
    pub fn wake_for(&self, token: Vec<u8>, magic: String) -> Arc<Notify> {
        let Ok(mut t) = self.targets.lock() else {
            return Arc::new(Notify::new());
        };
        let wake = t
            .get(&token)
            .map(|x| x.wake.clone())
            .unwrap_or_else(|| Arc::new(Notify::new()));
        t.insert(
            token,
            Target {
                magic,
                wake: wake.clone(),
            },
        );
        wake
    }

    /// Pushes accepted so far.
    pub fn pushes(&self) -> u64 {
        self.pushes.load(Ordering::Relaxed)
    }

    /// Pushes refused so far (bad token, topic or magic).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Decide one push: the answer's status and body.
    fn push(
        &self,
        path: &str,
        topic: Option<&str>,
        expected_topic: Option<&str>,
        body: &[u8],
    ) -> (u16, String) {
        let reason = |r: &str| format!("{{\"reason\":\"{r}\"}}");
        let refuse = |status: u16, r: &str| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            (status, reason(r))
        };
        let Some(hex_token) = path.strip_prefix("/3/device/") else {
            return refuse(404, "BadPath");
        };
        let Ok(token) = hex::decode(hex_token) else {
            return refuse(400, "BadDeviceToken");
        };
        match (topic, expected_topic) {
            (None, _) => return refuse(400, "MissingTopic"),
            (Some(t), Some(e)) if t != e => return refuse(400, "TopicDisallowed"),
            _ => {}
        }
        let magic = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("mdm").and_then(|m| m.as_str()).map(str::to_owned));
        let Some(magic) = magic else {
            return refuse(400, "PayloadEmpty");
        };
        let target = self
            .targets
            .lock()
            .ok()
            .and_then(|t| t.get(&token).cloned());
        match target {
            None => refuse(400, "BadDeviceToken"),
            Some(t) if t.magic != magic => refuse(400, "BadMessageId"),
            Some(t) => {
                self.pushes.fetch_add(1, Ordering::Relaxed);
                t.wake.notify_one();
                (200, String::new())
            }
        }
    }
}

/// A running stand-in.
#[derive(Debug)]
pub struct StandIn {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The CA (DER) of its TLS certificate, for the server under test to trust.
    pub ca_der: Vec<u8>,
    /// The devices it can wake.
    pub registry: Arc<Registry>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start the stand-in on `listen`, requiring client certificates that chain to `client_cas`
/// (the push certificate's issuer, or the push certificate itself when self-signed) and,
/// when given, `apns-topic: topic`. Its own TLS certificate is made here, for `127.0.0.1`,
/// `::1` and `localhost`.
pub async fn serve(
    listen: SocketAddr,
    client_cas: &[Vec<u8>],
    topic: Option<String>,
) -> Result<StandIn> {
    let provider = crate::provider();
    let mut rng = crate::rng();
    let now = SystemTime::now();
    let ca_key = provider
        .generate_key(KeySpec::Ec(pki::alg::Curve::P256), &mut rng)
        .map_err(Error::internal)?;
    let ca = self_signed_ca(
        provider,
        &*ca_key,
        "CN=admit-sim APNs stand-in CA"
            .parse()
            .map_err(Error::internal)?,
        now - Duration::from_secs(300),
        now + Duration::from_secs(30 * 86400),
        Some(0),
        &mut rng,
    )
    .map_err(Error::internal)?;
    let leaf_key = provider
        .generate_key(KeySpec::Ec(pki::alg::Curve::P256), &mut rng)
        .map_err(Error::internal)?;
    let mut san = SubjectAltNames::new();
    san.dns.push("localhost".into());
    san.ip.push(IpAddr::from([127, 0, 0, 1]));
    san.ip
        .push("::1".parse::<IpAddr>().map_err(Error::internal)?);
    let leaf = issue(
        provider,
        &*ca_key,
        Some(&ca),
        leaf_key.spki(),
        &Template::end_entity(
            now - Duration::from_secs(300),
            now + Duration::from_secs(30 * 86400),
        )
        .with_subject(
            "CN=api.push.apple.com stand-in"
                .parse()
                .map_err(Error::internal)?,
        )
        .with_san(san)
        .with_eku(const_oid::db::rfc5280::ID_KP_SERVER_AUTH),
        &mut rng,
    )
    .map_err(Error::internal)?;
    let der = |c: &pki::x509_cert::Certificate| -> Result<Vec<u8>> {
        use pki::der::Encode;
        c.to_der().map_err(Error::internal)
    };
    let ca_der = der(&ca)?;
    let leaf_der = der(&leaf)?;

    let rustls_provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in client_cas {
        roots
            .add(CertificateDer::from(c.clone()))
            .map_err(|e| Error::Config(format!("push CA: {e}")))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        rustls_provider.clone(),
    )
    .build()
    .map_err(|e| Error::Config(format!("push CA: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(rustls_provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::internal)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![
                CertificateDer::from(leaf_der),
                CertificateDer::from(ca_der.clone()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                leaf_key.to_pkcs8_der().map_err(Error::internal)?.to_vec(),
            )),
        )
        .map_err(Error::internal)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Config(format!("APNs stand-in on {listen}: {e}")))?;
    let addr = listener.local_addr().map_err(Error::internal)?;
    let registry = Arc::new(Registry::default());
    let reg = registry.clone();
    let topic = Arc::new(topic);
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let reg = reg.clone();
            let topic = topic.clone();
            tokio::spawn(async move {
                let Ok(Ok(tls)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let reg = reg.clone();
                    let topic = topic.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let apns_topic = req
                            .headers()
                            .get("apns-topic")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let post = req.method() == hyper::Method::POST;
                        let body = Limited::new(req.into_body(), MAX_PUSH)
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let (status, text) = if post {
                            reg.push(&path, apns_topic.as_deref(), (*topic).as_deref(), &body)
                        } else {
                            (405, "{\"reason\":\"MethodNotAllowed\"}".to_owned())
                        };
                        let mut resp = hyper::Response::new(Full::new(Bytes::from(text)));
                        *resp.status_mut() = hyper::StatusCode::from_u16(status)
                            .unwrap_or(hyper::StatusCode::BAD_REQUEST);
                        resp.headers_mut().insert(
                            "apns-id",
                            hyper::header::HeaderValue::from_str(&mdm_proto::command::new_uuid(
                                &mut crate::rng(),
                            ))
                            .unwrap_or(hyper::header::HeaderValue::from_static("0")),
                        );
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok(StandIn {
        addr,
        ca_der,
        registry,
        task,
    })
}
