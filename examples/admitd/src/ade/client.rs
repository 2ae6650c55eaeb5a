//! The thin adapter between `ade-client` and the network: send one `http::Request<Vec<u8>>`
//! with hyper's HTTP/1 client (TLS by rustls for `https://`), return the whole response.
//!
//! One connection per request: a sync round makes a handful of requests a few seconds apart,
//! so pooling would buy nothing. The response body is capped at
//! [`ade_client::session::MAX_RESPONSE_BODY`] and each exchange at [`TIMEOUT`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ade_client::http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// Longest one exchange (connect, send, read) may take.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL has no host or an unsupported scheme.
    #[error("cannot send to {0}: not an http(s) URL with a host")]
    Url(String),
    /// Connecting, TLS, or the HTTP exchange failed.
    #[error("{what}: {reason}")]
    Io {
        /// The step that failed.
        what: &'static str,
        /// What the OS, rustls or hyper said.
        reason: String,
    },
    /// The exchange took longer than [`TIMEOUT`].
    #[error("no answer within {} s", TIMEOUT.as_secs())]
    Timeout,
}

fn io(what: &'static str, reason: impl std::fmt::Display) -> TransportError {
    TransportError::Io {
        what,
        reason: reason.to_string(),
    }
}

/// Sends requests to Apple (or to whatever `ade.url` names).
#[derive(Clone)]
pub struct Transport {
    tls: Result<tokio_rustls::TlsConnector, String>,
}

impl core::fmt::Debug for Transport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Transport")
            .field("tls", &self.tls.is_ok())
            .finish()
    }
}

impl Transport {
    /// Plain HTTP only (tests, or a local proxy).
    pub fn plain() -> Transport {
        Self::without_tls("https is not configured".into())
    }

    /// Plain HTTP only; an `https` request fails with `why` (the TLS roots that could not be
    /// read), so a server that never syncs still starts.
    pub fn without_tls(why: String) -> Transport {
        Transport { tls: Err(why) }
    }

    /// HTTP and HTTPS, with the trust anchors in the PEM bundle `roots` (the system's bundle
    /// by default). Certificates in the bundle that do not parse are skipped.
    pub fn with_roots(roots: &Path) -> Result<Transport, TransportError> {
        let pem = std::fs::read(roots).map_err(|e| {
            io(
                "reading the TLS roots",
                format_args!("{}: {e}", roots.display()),
            )
        })?;
        let mut store = rustls::RootCertStore::empty();
        let text = String::from_utf8_lossy(&pem);
        let ders = text
            .split_inclusive("-----END CERTIFICATE-----")
            .filter_map(|block| pki::der::pem::decode_vec(block.trim().as_bytes()).ok())
            .filter(|(label, _)| *label == "CERTIFICATE")
            .map(|(_, der)| rustls::pki_types::CertificateDer::from(der));
        let (added, _) = store.add_parsable_certificates(ders);
        if added == 0 {
            return Err(io(
                "reading the TLS roots",
                format_args!("{}: no certificate", roots.display()),
            ));
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| io("configuring TLS", format_args!("{e}")))?
        .with_root_certificates(store)
        .with_no_client_auth();
        Ok(Transport {
            tls: Ok(tokio_rustls::TlsConnector::from(Arc::new(config))),
        })
    }

    /// Send `req` and read the whole response.
    pub async fn send(&self, req: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, TransportError> {
        tokio::time::timeout(TIMEOUT, self.exchange(req))
            .await
            .map_err(|_| TransportError::Timeout)?
    }

    async fn exchange(&self, req: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, TransportError> {
        let (mut parts, body) = req.into_parts();
        let uri = parts.uri.clone();
        let bad_url = || TransportError::Url(uri.to_string());
        let host = uri.host().ok_or_else(bad_url)?.to_owned();
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad_url()),
        };
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        // HTTP/1 wants origin-form with a Host header; ade-client builds absolute URIs.
        let authority = uri.authority().ok_or_else(bad_url)?.to_string();
        parts.uri = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|_| bad_url())?;
        parts.headers.insert(
            hyper::header::HOST,
            authority.parse().map_err(|_| bad_url())?,
        );
        let req = Request::from_parts(parts, Full::new(Bytes::from(body)));
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| io("connecting", format_args!("{host}:{port}: {e}")))?;
        if https {
            let tls = self
                .tls
                .as_ref()
                .map_err(|why| io("connecting over https", why))?;
            let name =
                rustls::pki_types::ServerName::try_from(host.clone()).map_err(|_| bad_url())?;
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|e| io("TLS handshake", format_args!("{host}: {e}")))?;
            exchange_on(TokioIo::new(stream), req).await
        } else {
            exchange_on(TokioIo::new(tcp), req).await
        }
    }
}

async fn exchange_on<T>(
    io_stream: T,
    req: Request<Full<Bytes>>,
) -> Result<Response<Vec<u8>>, TransportError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io_stream)
        .await
        .map_err(|e| io("HTTP handshake", format_args!("{e}")))?;
    let driver = tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| io("sending the request", format_args!("{e}")));
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            driver.abort();
            return Err(e);
        }
    };
    let (parts, body) = resp.into_parts();
    let bytes = Limited::new(body, ade_client::session::MAX_RESPONSE_BODY + 1)
        .collect()
        .await
        .map_err(|e| io("reading the response", format_args!("{e}")))?
        .to_bytes()
        .to_vec();
    driver.abort();
    Ok(Response::from_parts(parts, bytes))
}
