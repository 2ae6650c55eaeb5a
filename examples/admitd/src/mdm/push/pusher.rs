//! The pusher: [`Wake`] for the MDM core, APNs over one HTTP/2 connection.
//!
//! ```text
//!  wake(ids) ──▶ pending set (a channel already there is coalesced) ──▶ channel ──▶ dispatcher
//!  dispatcher ──▶ one task per channel (at most MAX_IN_FLIGHT at once):
//!      PushTargets::push_target ──▶ mdm_proto::apns::Push ──▶ HTTP/2 POST /3/device/<hex token>
//!      ──▶ Outcome: 200 done │ 410 mark_token_dead, done │ 429/5xx/no answer: back off, again
//!                   (at most max_attempts) │ other 4xx: done
//!      every attempt ──▶ PushResults::record;  then the channel leaves the pending set
//! ```
//!
//! A channel stays in the pending set from its first wake until its push is settled, so any
//! number of wakes in between send one push: the push has not reached the device yet, and the
//! check-in it causes picks up everything queued before it. Storage calls (targets, results)
//! run on the blocking pool; [`Wake::wake`] only takes a lock and sends on a channel.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use mdm_proto::apns::{Environment, Outcome, Push};
use tokio::sync::mpsc;

use super::cert::{CertError, PushIdentity};
use super::store::{PushResult, PushResults};
use crate::mdm::{PushTarget, PushTargets, Wake};

/// How many channels are pushed at once (HTTP/2 streams on the one connection).
const MAX_IN_FLIGHT: usize = 64;
/// The largest APNs answer body read (APNs' error bodies are a few dozen bytes).
const MAX_ANSWER: usize = 4096;
/// Apple's trust store location on Debian-family systems, used when no CA file is configured.
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where pushes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApnsEndpoint {
    /// `api.push.apple.com:443`.
    Production,
    /// `api.sandbox.push.apple.com:443`.
    Sandbox,
    /// Another `https://host[:port]` (a test endpoint).
    Url {
        /// Host name or IP address, also the TLS server name.
        host: String,
        /// Port (443 when the URL has none).
        port: u16,
    },
}

impl ApnsEndpoint {
    /// `production`, `sandbox`, or an `https://host[:port]` URL without a path.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "production" => return Ok(ApnsEndpoint::Production),
            "sandbox" | "development" => return Ok(ApnsEndpoint::Sandbox),
            _ => {}
        }
        let uri: hyper::Uri = s
            .parse()
            .map_err(|e| format!("{s:?} is not production, sandbox or a URL: {e}"))?;
        if uri.scheme_str() != Some("https") {
            return Err(format!("{s:?}: APNs is reached over https:// only"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!(
                "{s:?}: give only scheme, host and port (pushes go to /3/device/...)"
            ));
        }
        let auth = uri.authority().ok_or_else(|| format!("{s:?}: no host"))?;
        Ok(ApnsEndpoint::Url {
            host: auth.host().trim_matches(['[', ']']).to_owned(),
            port: auth.port_u16().unwrap_or(443),
        })
    }

    fn host_port(&self) -> (String, u16) {
        match self {
            ApnsEndpoint::Production => (Environment::Production.host().into(), 443),
            ApnsEndpoint::Sandbox => (Environment::Development.host().into(), 443),
            ApnsEndpoint::Url { host, port } => (host.clone(), *port),
        }
    }
}

/// The pusher's settings (`[mdm]` keys `apns`, `apns_ca_file`, `apns_max_attempts`,
/// `apns_retry_base_ms`, `apns_timeout_ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSettings {
    /// Where pushes go (default production).
    pub endpoint: ApnsEndpoint,
    /// PEM certificates to trust for the endpoint's TLS certificate (default: the system's,
    /// [`SYSTEM_CA_FILE`]).
    pub ca_file: Option<PathBuf>,
    /// Most attempts per push before giving up (429, 5xx, no answer), at least 1.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each later one, up to [`MAX_BACKOFF`].
    pub retry_base: Duration,
    /// Time allowed for one attempt (connecting included).
    pub timeout: Duration,
}

/// The longest wait between two attempts of one push.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            endpoint: ApnsEndpoint::Production,
            ca_file: None,
            max_attempts: 5,
            retry_base: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
        }
    }
}

impl PushSettings {
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        self.retry_base.saturating_mul(factor).min(MAX_BACKOFF)
    }
}

/// Pushes wake channels over APNs. Dropping it stops its tasks.
#[derive(Debug)]
pub struct Pusher {
    inner: Arc<Inner>,
    tx: mpsc::UnboundedSender<String>,
    dispatcher: tokio::task::JoinHandle<()>,
}

struct Inner {
    settings: PushSettings,
    data_dir: PathBuf,
    provider: &'static dyn pki::provider::CryptoProvider,
    targets: Arc<dyn PushTargets>,
    results: Arc<dyn PushResults>,
    pending: Mutex<HashSet<String>>,
    conn: tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>,
    connections: std::sync::atomic::AtomicU64,
}

impl core::fmt::Debug for Inner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pusher")
            .field("settings", &self.settings)
            .field("targets", &self.targets)
            .field("results", &self.results)
            .finish_non_exhaustive()
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.dispatcher.abort();
    }
}

/// Why one attempt got no APNs answer.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error("{0}")]
    Transport(String),
}

impl SendError {
    fn transport<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> SendError {
        move |e| SendError::Transport(format!("{what}: {e}"))
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Pusher {
    /// Start the pusher on `runtime`. The push certificate is read from `data_dir` when a
    /// connection opens (see [`super::cert`]); without one, each attempt is recorded as failed.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        settings: PushSettings,
        data_dir: PathBuf,
        provider: &'static dyn pki::provider::CryptoProvider,
        targets: Arc<dyn PushTargets>,
        results: Arc<dyn PushResults>,
    ) -> Pusher {
        let inner = Arc::new(Inner {
            settings,
            data_dir,
            provider,
            targets,
            results,
            pending: Mutex::new(HashSet::new()),
            conn: tokio::sync::Mutex::new(None),
            connections: std::sync::atomic::AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let dispatcher = runtime.spawn(dispatch(inner.clone(), rx));
        Pusher {
            inner,
            tx,
            dispatcher,
        }
    }

    /// The channel's latest `limit` push results, newest first.
    pub fn results(
        &self,
        channel_id: &str,
        limit: usize,
    ) -> Result<Vec<PushResult>, crate::storage::Error> {
        self.inner.results.for_channel(channel_id, limit)
    }

    /// The channel's push target, as the pusher would read it now.
    pub fn target(&self, channel_id: &str) -> Result<Option<PushTarget>, crate::storage::Error> {
        self.inner.targets.push_target(channel_id)
    }

    /// The push certificate the pusher would use now.
    pub fn identity(&self) -> Result<PushIdentity, CertError> {
        PushIdentity::load(&self.inner.data_dir, self.inner.provider)
    }

    /// How many APNs connections have been opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.inner
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a push for the channel is queued or in flight.
    pub fn is_pending(&self, channel_id: &str) -> bool {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(channel_id)
    }
}

impl Wake for Pusher {
    fn wake(&self, channel_ids: &[String]) {
        let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
        for id in channel_ids {
            if pending.insert(id.clone()) && self.tx.send(id.clone()).is_err() {
                pending.remove(id);
                tracing::warn!(channel = %id, "the pusher has stopped; push dropped");
            }
        }
    }
}

async fn dispatch(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<String>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    while let Some(channel) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let _permit = permit;
            push_channel(&inner, &channel).await;
            inner
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&channel);
        });
    }
}

/// Run a storage call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::storage::Error> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

async fn push_channel(inner: &Arc<Inner>, channel: &str) {
    let targets = inner.targets.clone();
    let id = channel.to_owned();
    let target = match blocking(move || targets.push_target(&id)).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            tracing::debug!(
                channel,
                "no push target (no TokenUpdate, checked out, or dead token)"
            );
            return;
        }
        Err(e) => {
            tracing::error!(channel, error = %e, "reading the push target failed");
            return;
        }
    };
    let attempts = inner.settings.max_attempts.max(1);
    for attempt in 0..attempts {
        let answer = tokio::time::timeout(inner.settings.timeout, send(inner, &target)).await;
        let (result, outcome) = match answer {
            Ok(Ok((outcome, apns_id))) => {
                let (status, reason) = match &outcome {
                    Outcome::Delivered { .. } => (200, None),
                    Outcome::Failed { status, reason, .. } => (*status, Some(reason_text(reason))),
                };
                (
                    PushResult {
                        channel_id: channel.to_owned(),
                        at_ms: now_ms(),
                        status,
                        apns_id,
                        reason,
                    },
                    Some(outcome),
                )
            }
            Ok(Err(e)) => (no_answer(channel, e.to_string()), None),
            Err(_) => {
                // A stream that timed out may mean a stuck connection: open a new one.
                *inner.conn.lock().await = None;
                (no_answer(channel, "no answer in time".into()), None)
            }
        };
        tracing::info!(
            channel,
            status = result.status,
            apns_id = result.apns_id.as_deref().unwrap_or(""),
            reason = result.reason.as_deref().unwrap_or(""),
            attempt = attempt + 1,
            "push"
        );
        let results = inner.results.clone();
        if let Err(e) = blocking(move || results.record(&result)).await {
            tracing::error!(channel, error = %e, "recording a push result failed");
        }
        match outcome {
            Some(Outcome::Delivered { .. }) => return,
            Some(o) if o.token_dead() => {
                let targets = inner.targets.clone();
                let (id, token) = (channel.to_owned(), target.token.clone());
                if let Err(e) = blocking(move || targets.mark_token_dead(&id, &token)).await {
                    tracing::error!(channel, error = %e, "marking the token dead failed");
                }
                return;
            }
            Some(o) if !o.retry_later() => return,
            _ => {}
        }
        if attempt + 1 < attempts {
            tokio::time::sleep(inner.settings.backoff(attempt)).await;
        }
    }
    tracing::warn!(channel, attempts, "push given up after the last attempt");
}

fn no_answer(channel: &str, reason: String) -> PushResult {
    PushResult {
        channel_id: channel.to_owned(),
        at_ms: now_ms(),
        status: 0,
        apns_id: None,
        reason: Some(reason),
    }
}

fn reason_text(r: &mdm_proto::apns::Reason) -> String {
    match r {
        mdm_proto::apns::Reason::Other(s) => s.clone(),
        known => format!("{known:?}"),
    }
}

/// One POST on the shared connection.
async fn send(
    inner: &Arc<Inner>,
    target: &PushTarget,
) -> Result<(Outcome, Option<String>), SendError> {
    let mut push = Push::new(target.token.clone(), target.push_magic.clone());
    push.push_type = true;
    push.priority = Some(10);
    push.topic = Some(target.topic.clone());
    let req = push
        .to_request(Environment::Production)
        .map_err(|e| SendError::Transport(format!("building the request: {e}")))?;
    let (host, port) = inner.settings.endpoint.host_port();
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let (mut parts, body) = req.into_parts();
    parts.uri = format!("https://{authority}{}", parts.uri.path())
        .parse()
        .map_err(SendError::transport("endpoint URL"))?;
    let req = hyper::Request::from_parts(parts, Full::new(Bytes::from(body)));
    let mut sender = connection(inner).await?;
    let resp = match sender.send_request(req).await {
        Ok(r) => r,
        Err(e) => {
            *inner.conn.lock().await = None;
            return Err(SendError::Transport(format!("APNs request: {e}")));
        }
    };
    let status = resp.status().as_u16();
    let apns_id = resp
        .headers()
        .get("apns-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok((Outcome::parse(status, &body, apns_id.as_deref()), apns_id))
}

/// The shared connection, opened (or reopened) when there is none usable.
async fn connection(inner: &Arc<Inner>) -> Result<SendRequest<Full<Bytes>>, SendError> {
    let mut slot = inner.conn.lock().await;
    if let Some(s) = slot.as_ref()
        && !s.is_closed()
    {
        return Ok(s.clone());
    }
    *slot = None;
    let identity = PushIdentity::load(&inner.data_dir, inner.provider)?;
    let tls = client_config(&inner.settings, &identity)?;
    let (host, port) = inner.settings.endpoint.host_port();
    let server_name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(SendError::transport("endpoint host"))?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(SendError::transport("connecting to APNs"))?;
    let _ = tcp.set_nodelay(true);
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(server_name, tcp)
        .await
        .map_err(SendError::transport("TLS handshake with APNs"))?;
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(60)))
        .keep_alive_timeout(Duration::from_secs(20))
        .handshake(TokioIo::new(stream))
        .await
        .map_err(SendError::transport("HTTP/2 handshake with APNs"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "APNs connection ended");
        }
    });
    inner
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(endpoint = %host, port, topic = %identity.topic, "APNs connection open");
    *slot = Some(sender.clone());
    Ok(sender)
}

fn client_config(
    settings: &PushSettings,
    identity: &PushIdentity,
) -> Result<rustls::ClientConfig, SendError> {
    let ca_file = settings
        .ca_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(SYSTEM_CA_FILE));
    let pem = std::fs::read(&ca_file)
        .map_err(|e| SendError::Transport(format!("{}: {e}", ca_file.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in pki::cert::Cert::from_pem_chain(&pem)
        .map_err(|e| SendError::Transport(format!("{}: {e}", ca_file.display())))?
    {
        roots
            .add(rustls::pki_types::CertificateDer::from(c.der().to_vec()))
            .map_err(|e| SendError::Transport(format!("{}: {e}", ca_file.display())))?;
    }
    let chain = identity
        .chain
        .iter()
        .map(|d| rustls::pki_types::CertificateDer::from(d.clone()))
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(identity.key_pkcs8.to_vec().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(SendError::transport("TLS"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(SendError::transport(
            "push certificate as TLS client identity",
        ))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            ApnsEndpoint::parse("production").unwrap().host_port(),
            ("api.push.apple.com".into(), 443)
        );
        assert_eq!(
            ApnsEndpoint::parse("sandbox").unwrap().host_port(),
            ("api.sandbox.push.apple.com".into(), 443)
        );
        assert_eq!(
            ApnsEndpoint::parse("https://127.0.0.1:8443").unwrap(),
            ApnsEndpoint::Url {
                host: "127.0.0.1".into(),
                port: 8443
            }
        );
        assert_eq!(
            ApnsEndpoint::parse("https://[::1]/").unwrap().host_port(),
            ("::1".into(), 443)
        );
        for bad in [
            "http://127.0.0.1:1",
            "https://h/3/device",
            "https://h/?x=1",
            "prod",
            "",
        ] {
            assert!(ApnsEndpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = PushSettings {
            retry_base: Duration::from_millis(100),
            ..PushSettings::default()
        };
        let waits: Vec<u128> = (0..4).map(|a| s.backoff(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800]);
        assert_eq!(s.backoff(40), MAX_BACKOFF);
    }
}
