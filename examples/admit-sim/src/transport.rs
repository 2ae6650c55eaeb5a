//! HTTP/1.1 over TCP or TLS for one simulated device: one kept-alive connection per origin,
//! a timeout on every exchange, a cap on answer size, and only the origins the run allows.
//!
//! ```text
//! Transport::send(label, http::Request) ──origin allowed?──▶ cached connection (or connect,
//!     TLS with the device identity as client certificate when it has one)
//!     ──▶ hyper http1 exchange, whole body read (≤ MAX_BODY) within the timeout
//!     ──▶ http::Response<Vec<u8>>   |  Error::{Connect, Timeout, Closed, Malformed}
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// Largest answer body read, in bytes (a large InstalledApplicationList command or a DDM
/// declaration fits many times over).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The origins (`scheme://host:port`) a run may contact; every other URL is refused.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    origins: Vec<String>,
}

impl Allowed {
    /// Allow the origin of `url`.
    pub fn allow(&mut self, url: &str) -> Result<()> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| Error::Config(format!("bad URL {url:?}: {e}")))?;
        let o = origin(&uri).ok_or_else(|| Error::Config(format!("not an http(s) URL: {url}")))?;
        if !self.origins.contains(&o.key) {
            self.origins.push(o.key);
        }
        Ok(())
    }

    fn contains(&self, key: &str) -> bool {
        self.origins.iter().any(|o| o == key)
    }
}

struct Origin {
    key: String,
    host: String,
    port: u16,
    tls: bool,
}

fn origin(uri: &http::Uri) -> Option<Origin> {
    let tls = match uri.scheme_str()? {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Some(Origin {
        key: format!("{}://{host}:{port}", if tls { "https" } else { "http" }),
        host: host.to_owned(),
        port,
        tls,
    })
}

/// TLS trust for the servers and the device's client certificate.
#[derive(Clone)]
pub struct Tls {
    roots: Vec<Vec<u8>>,
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Trust `roots` (DER certificates: the server CA given by option and the profile's
    /// root payloads); present `identity` (certificate chain DER, PKCS#8 key DER) as client
    /// certificate when given.
    pub fn new(roots: &[Vec<u8>], identity: Option<(Vec<Vec<u8>>, Vec<u8>)>) -> Result<Tls> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut store = rustls::RootCertStore::empty();
        for r in roots {
            store
                .add(CertificateDer::from(r.clone()))
                .map_err(|e| Error::Config(format!("a trusted CA certificate is unusable: {e}")))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(Error::internal)?
            .with_root_certificates(store);
        let mut config = match identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(
                    chain.into_iter().map(CertificateDer::from).collect(),
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
                )
                .map_err(|e| Error::internal(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            roots: roots.to_vec(),
            config: Arc::new(config),
        })
    }

    /// The same trust with a client certificate.
    pub fn with_identity(&self, chain: Vec<Vec<u8>>, key_pkcs8: Vec<u8>) -> Result<Tls> {
        Tls::new(&self.roots, Some((chain, key_pkcs8)))
    }
}

/// One device's HTTP client.
pub struct Transport {
    tls: Tls,
    allowed: Arc<Allowed>,
    timeout: Duration,
    conns: HashMap<String, SendRequest<Full<Bytes>>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("timeout", &self.timeout)
            .field("open", &self.conns.len())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A client with `tls` trust, contacting only `allowed` origins, giving each exchange
    /// `timeout` (connect, send and the whole answer).
    pub fn new(tls: Tls, allowed: Arc<Allowed>, timeout: Duration) -> Transport {
        Transport {
            tls,
            allowed,
            timeout,
            conns: HashMap::new(),
        }
    }

    /// Change the TLS settings (after enrollment: the identity as client certificate);
    /// open connections are dropped.
    pub fn set_tls(&mut self, tls: Tls) {
        self.tls = tls;
        self.conns.clear();
    }

    /// Send `req` (absolute URI) and read the whole answer. `endpoint` labels errors and
    /// latency figures.
    pub async fn send(
        &mut self,
        endpoint: &str,
        req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>> {
        let o = origin(req.uri())
            .ok_or_else(|| Error::Config(format!("not an http(s) URL: {}", req.uri())))?;
        if !self.allowed.contains(&o.key) {
            return Err(Error::UrlNotAllowed(o.key));
        }
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.exchange(endpoint, &o, req)).await {
            Ok(r) => r,
            Err(_) => {
                // The connection may be stuck mid-answer: never reuse it.
                self.conns.remove(&o.key);
                Err(Error::Timeout {
                    endpoint: endpoint.to_owned(),
                    seconds: timeout.as_secs().max(1),
                })
            }
        }
    }

    async fn exchange(
        &mut self,
        endpoint: &str,
        o: &Origin,
        req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>> {
        let (mut parts, body) = req.into_parts();
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        parts.uri = pq
            .parse()
            .map_err(|e| Error::Config(format!("bad request path: {e}")))?;
        let host = if (o.tls && o.port == 443) || (!o.tls && o.port == 80) {
            o.host.clone()
        } else if o.host.contains(':') {
            format!("[{}]:{}", o.host, o.port)
        } else {
            format!("{}:{}", o.host, o.port)
        };
        parts.headers.insert(
            http::header::HOST,
            http::HeaderValue::from_str(&host).map_err(|e| Error::Config(e.to_string()))?,
        );
        parts
            .headers
            .entry(http::header::USER_AGENT)
            .or_insert(http::HeaderValue::from_static("admit-sim/0.1"));
        let body = Bytes::from(body);
        // A kept-alive connection the server closed since its last answer fails at once; try
        // once more on a fresh one. A fresh connection's failure is the answer.
        let reused = match self.conns.remove(&o.key) {
            Some(s) if !s.is_closed() => Some(s),
            _ => None,
        };
        let mut attempt = reused;
        loop {
            let was_reused = attempt.is_some();
            let mut sender = match attempt.take() {
                Some(s) => s,
                None => self.connect(endpoint, o).await?,
            };
            let request = http::Request::from_parts(parts.clone(), Full::new(body.clone()));
            let ready = sender.ready().await;
            let sent = match ready {
                Ok(()) => sender.send_request(request).await,
                Err(e) => Err(e),
            };
            let resp = match sent {
                Ok(r) => r,
                Err(e)
                    if was_reused
                        && (e.is_canceled() || e.is_closed() || e.is_incomplete_message()) =>
                {
                    continue;
                }
                Err(e) => return Err(hyper_error(endpoint, &e)),
            };
            let (rparts, rbody) = resp.into_parts();
            let bytes = Limited::new(rbody, MAX_BODY)
                .collect()
                .await
                .map_err(|e| match e.downcast::<hyper::Error>() {
                    Ok(h) => hyper_error(endpoint, &h),
                    Err(other) => Error::malformed(endpoint, other),
                })?
                .to_bytes();
            let close = rparts
                .headers
                .get(http::header::CONNECTION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
            if !close {
                self.conns.insert(o.key.clone(), sender);
            }
            return Ok(http::Response::from_parts(rparts, bytes.to_vec()));
        }
    }

    async fn connect(&self, endpoint: &str, o: &Origin) -> Result<SendRequest<Full<Bytes>>> {
        let err = |reason: String| Error::Connect {
            endpoint: endpoint.to_owned(),
            reason,
        };
        let tcp = TcpStream::connect((o.host.as_str(), o.port))
            .await
            .map_err(|e| err(format!("{}:{}: {e}", o.host, o.port)))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if o.tls {
            let name = ServerName::try_from(o.host.clone())
                .map_err(|e| err(format!("bad TLS server name {:?}: {e}", o.host)))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.config.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| err(format!("TLS handshake: {e}")))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| err(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }
}

fn hyper_error(endpoint: &str, e: &hyper::Error) -> Error {
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        Error::malformed(endpoint, format!("bad HTTP answer: {e}"))
    } else {
        Error::Closed {
            endpoint: endpoint.to_owned(),
            reason: e.to_string(),
        }
    }
}
