//! The admin API from the command line: `admitd mdm ...` sends its request to the running
//! server over HTTPS, trusting the data directory's root CA and presenting its admin token,
//! so the CLI goes through the same checks, records and pushes as any other API client.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value as Json;

use crate::config::Config;

/// Why a call failed before an HTTP answer came back.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CallError(String);

fn err(what: &str) -> impl FnOnce(&dyn std::fmt::Display) -> CallError + '_ {
    move |e| CallError(format!("{what}: {e}"))
}

/// Where the running server is: `--server`, else the configured HTTPS address (an
/// unspecified address means this host).
pub fn server_url(config: &Config, server: Option<&str>) -> String {
    if let Some(s) = server {
        return s.trim_end_matches('/').to_owned();
    }
    let addr = config.https;
    let ip = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    format!("https://{ip}:{}", addr.port())
}

/// The admin token the server uses: the config's, else the data directory's file.
pub fn admin_token(config: &Config) -> Result<String, CallError> {
    if let Some(t) = &config.devauth.admin_token {
        return Ok(t.trim().to_owned());
    }
    let path = crate::devauth::admin_token_path(&config.data_dir);
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_owned())
        .map_err(|e| CallError(format!("reading {}: {e}", path.display())))
}

/// `method path` with an optional JSON body; the status and the JSON answer (`null` when
/// the body is not JSON).
pub fn call(
    data_dir: &Path,
    server: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Json>,
) -> Result<(u16, Json), CallError> {
    let uri: hyper::Uri = format!("{server}{path}")
        .parse()
        .map_err(|e| err("the server URL")(&e))?;
    let host = uri
        .host()
        .ok_or_else(|| CallError("the server URL has no host".into()))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let root_pem = std::fs::read(data_dir.join("ca").join("root.pem"))
        .map_err(|e| err("reading the root CA")(&e))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in pki::cert::Cert::from_pem_chain(&root_pem).map_err(|e| err("the root CA")(&e))? {
        roots
            .add(rustls::pki_types::CertificateDer::from(c.der().to_vec()))
            .map_err(|e| err("the root CA")(&e))?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| err("TLS")(&e))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| err("the server name")(&e))?;
    let req = hyper::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(
            body.map(Json::to_string).unwrap_or_default(),
        )))
        .map_err(|e| err("the request")(&e))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err("the runtime")(&e))?;
    rt.block_on(async move {
        let run = async {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| err("connecting")(&e))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
                .connect(name, tcp)
                .await
                .map_err(|e| err("TLS handshake")(&e))?;
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| err("HTTP")(&e))?;
            tokio::spawn(conn);
            let resp = send.send_request(req).await.map_err(|e| err("HTTP")(&e))?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| err("reading the answer")(&e))?
                .to_bytes();
            Ok((status, serde_json::from_slice(&bytes).unwrap_or(Json::Null)))
        };
        tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .map_err(|_| CallError("no answer within 30 s".into()))?
    })
}
