//! Webhooks: every check-in and report as a MicroMDM/NanoMDM JSON event, posted to the
//! configured URLs through an outbox in the store.
//!
//! ```text
//!  check-in / report ──▶ Events::record ──▶ webhook_outbox (one row per URL, committed) ──▶ Ok
//!                                                 │  (the device's answer never waits for a URL)
//!  delivery worker ◀── notified, or a timer ──────┘
//!     rows grouped into lanes (URL, device), each lane in seq order, lanes in parallel:
//!     POST url (Content-Type: application/json, the event as recorded; bounded time per attempt)
//!       2xx ──▶ row deleted, next row of the lane
//!       else ──▶ lane waits (retry_base doubled per failure, up to MAX_BACKOFF), row kept
//! ```
//!
//! Rows outlive the process: a restart reads them again, so an event is delivered at least
//! once per URL (twice if the process dies between a receiver's 2xx and the delete). Rows for a
//! URL removed from the configuration stay in the table, undelivered, and are counted at start.

pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

pub use store::{OutboxRow, OutboxStore};

use crate::mdm::Events;
use crate::storage::Error as StorageError;

/// The longest wait between two attempts of one lane.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Rows read per scan of the outbox.
const SCAN: usize = 500;
/// Lanes delivering at once.
const MAX_LANES: usize = 16;

/// The webhook settings (`[mdm]` keys `webhook_urls`, `webhook_ca_file`,
/// `webhook_retry_base_ms`, `webhook_timeout_ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Where every event is posted (`http://` or `https://`); none: events are not kept.
    pub urls: Vec<String>,
    /// PEM certificates to trust for `https://` receivers (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// Wait after a lane's first failure; doubled for each further failure, up to
    /// [`MAX_BACKOFF`].
    pub retry_base: Duration,
    /// Time allowed for one POST (connecting included).
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            urls: Vec::new(),
            ca_file: None,
            retry_base: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookSettings {
    /// Refuse a URL that is not `http(s)://host[:port]/path`.
    pub fn check(&self) -> Result<(), String> {
        for u in &self.urls {
            let uri: hyper::Uri = u.parse().map_err(|e| format!("{u:?}: {e}"))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                return Err(format!("{u:?} is not an http:// or https:// URL"));
            }
        }
        Ok(())
    }
}

/// The webhook outbox: [`Events`] for the MDM core, and the worker that delivers. Dropping
/// it stops the worker; undelivered rows wait in the store for the next start.
#[derive(Debug)]
pub struct Outbox {
    store: Arc<dyn OutboxStore>,
    urls: Vec<String>,
    wake: Arc<Notify>,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if let Some(w) = &self.worker {
            w.abort();
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The device an event is about: `udid` or `enrollment_id` of its body.
fn lane_of(event: &serde_json::Value) -> String {
    for key in ["checkin_event", "acknowledge_event"] {
        if let Some(e) = event.get(key) {
            for id in ["udid", "enrollment_id"] {
                if let Some(s) = e.get(id).and_then(|v| v.as_str()) {
                    return s.to_owned();
                }
            }
        }
    }
    String::new()
}

impl Outbox {
    /// Start the outbox on `runtime`: the worker first delivers what an earlier run left.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        settings: WebhookSettings,
        store: Arc<dyn OutboxStore>,
    ) -> Result<Outbox, crate::data_dir::Error> {
        let wake = Arc::new(Notify::new());
        let worker = if settings.urls.is_empty() {
            None
        } else {
            let client = Client::new(&settings)?;
            Some(runtime.spawn(deliver(
                store.clone(),
                Arc::new(settings.clone()),
                client,
                wake.clone(),
            )))
        };
        Ok(Outbox {
            store,
            urls: settings.urls,
            wake,
            worker,
        })
    }

    /// How many (event, URL) rows wait.
    pub fn backlog(&self) -> Result<u64, StorageError> {
        self.store.backlog()
    }
}

impl Events for Outbox {
    fn record(&self, event: &serde_json::Value) -> Result<(), StorageError> {
        if self.urls.is_empty() {
            return Ok(());
        }
        self.store
            .add(&self.urls, &lane_of(event), &event.to_string(), now_ms())?;
        self.wake.notify_one();
        Ok(())
    }
}

#[derive(Default)]
struct Lane {
    busy: bool,
    failures: u32,
    next_try: Option<Instant>,
}

async fn deliver(
    store: Arc<dyn OutboxStore>,
    settings: Arc<WebhookSettings>,
    client: Client,
    wake: Arc<Notify>,
) {
    let urls = Arc::new(settings.urls.clone());
    {
        let store = store.clone();
        if let Ok(Ok(waiting)) = tokio::task::spawn_blocking(move || store.backlog()).await
            && waiting > 0
        {
            tracing::info!(waiting, "webhook events left from an earlier run");
        }
    }
    let client = Arc::new(client);
    let mut lanes: HashMap<(String, String), Lane> = HashMap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<((String, String), bool)>();
    loop {
        let rows = {
            let (store, urls) = (store.clone(), urls.clone());
            tokio::task::spawn_blocking(move || store.pending(&urls, SCAN)).await
        };
        let rows = match rows {
            Ok(Ok(r)) => r,
            other => {
                let e = match other {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                tracing::error!(error = %e, "reading the webhook outbox failed");
                tokio::time::sleep(settings.retry_base.max(Duration::from_millis(100))).await;
                continue;
            }
        };
        // Lanes in the order of their oldest row, rows in seq order within each.
        let mut order: Vec<(String, String)> = Vec::new();
        let mut grouped: BTreeMap<(String, String), Vec<OutboxRow>> = BTreeMap::new();
        for r in rows {
            let key = (r.url.clone(), r.lane.clone());
            let group = grouped.entry(key.clone()).or_default();
            if group.is_empty() {
                order.push(key);
            }
            group.push(r);
        }
        let now = Instant::now();
        let mut next_timer: Option<Instant> = None;
        let mut busy = lanes.values().filter(|l| l.busy).count();
        for key in order {
            let lane = lanes.entry(key.clone()).or_default();
            if lane.busy {
                continue;
            }
            if let Some(t) = lane.next_try
                && t > now
            {
                next_timer = Some(next_timer.map_or(t, |n| n.min(t)));
                continue;
            }
            if busy >= MAX_LANES {
                break;
            }
            busy += 1;
            lane.busy = true;
            let rows = grouped.remove(&key).unwrap_or_default();
            let (store, client, done) = (store.clone(), client.clone(), done_tx.clone());
            let timeout = settings.timeout;
            tokio::spawn(async move {
                let ok = deliver_lane(&store, &client, timeout, rows).await;
                let _ = done.send((key, ok));
            });
        }
        // Wait for a new event, a lane finishing, the next retry, or a periodic rescan.
        let until = next_timer.unwrap_or(now + Duration::from_secs(30));
        tokio::select! {
            () = wake.notified() => {}
            Some(first) = done_rx.recv() => {
                let mut finished = vec![first];
                while let Ok(more) = done_rx.try_recv() {
                    finished.push(more);
                }
                for (key, ok) in finished {
                    let lane = lanes.entry(key).or_default();
                    lane.busy = false;
                    if ok {
                        lane.failures = 0;
                        lane.next_try = None;
                    } else {
                        let factor = 1u32.checked_shl(lane.failures.min(20)).unwrap_or(u32::MAX);
                        lane.failures = lane.failures.saturating_add(1);
                        let wait = settings.retry_base.saturating_mul(factor).min(MAX_BACKOFF);
                        lane.next_try = Some(Instant::now() + wait);
                    }
                }
                lanes.retain(|_, l| l.busy || l.failures > 0);
            }
            () = tokio::time::sleep_until(until) => {}
        }
    }
}

/// Deliver a lane's rows in order; `false` at the first that was not taken.
async fn deliver_lane(
    store: &Arc<dyn OutboxStore>,
    client: &Client,
    timeout: Duration,
    rows: Vec<OutboxRow>,
) -> bool {
    for row in rows {
        let sent = tokio::time::timeout(timeout, client.post(&row.url, row.body.clone())).await;
        match sent {
            Ok(Ok(status)) if (200..300).contains(&status) => {}
            Ok(Ok(status)) => {
                tracing::warn!(url = %row.url, status, seq = row.seq, "webhook receiver refused an event; will retry");
                return false;
            }
            Ok(Err(e)) => {
                tracing::warn!(url = %row.url, error = %e, seq = row.seq, "webhook delivery failed; will retry");
                return false;
            }
            Err(_) => {
                tracing::warn!(url = %row.url, seq = row.seq, "webhook receiver did not answer in time; will retry");
                return false;
            }
        }
        let s = store.clone();
        let seq = row.seq;
        match tokio::task::spawn_blocking(move || s.delivered(seq)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, seq, "removing a delivered webhook event failed");
                return false;
            }
            Err(e) => {
                tracing::error!(error = %e, seq, "removing a delivered webhook event failed");
                return false;
            }
        }
    }
    true
}

/// A small HTTP/1.1 client: one connection per POST (events are small and rare per URL).
struct Client {
    tls: Arc<rustls::ClientConfig>,
}

impl Client {
    fn new(settings: &WebhookSettings) -> Result<Client, crate::data_dir::Error> {
        let ca_file = settings
            .ca_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::mdm::push::pusher::SYSTEM_CA_FILE));
        let bad = |reason: String| crate::data_dir::Error::BadFile {
            path: ca_file.clone(),
            reason,
        };
        let mut roots = rustls::RootCertStore::empty();
        let needs_tls = settings.urls.iter().any(|u| u.starts_with("https://"));
        if needs_tls {
            let pem = std::fs::read(&ca_file).map_err(|e| bad(e.to_string()))?;
            for c in pki::cert::Cert::from_pem_chain(&pem).map_err(|e| bad(e.to_string()))? {
                roots
                    .add(rustls::pki_types::CertificateDer::from(c.der().to_vec()))
                    .map_err(|e| bad(e.to_string()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client { tls: Arc::new(tls) })
    }

    /// POST `body` as JSON; the answer's status.
    async fn post(&self, url: &str, body: String) -> Result<u16, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{e}"))?;
        let host = uri
            .host()
            .ok_or("no host")?
            .trim_matches(['[', ']'])
            .to_owned();
        let tls = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let req = hyper::Request::post(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "admitd")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        if tls {
            let name = rustls::pki_types::ServerName::try_from(host)
                .map_err(|e| format!("server name: {e}"))?;
            let stream = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            exchange(TokioIo::new(stream), req).await
        } else {
            exchange(TokioIo::new(tcp), req).await
        }
    }
}

async fn exchange<I>(io: I, req: hyper::Request<Full<Bytes>>) -> Result<u16, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let conn = tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = resp.status().as_u16();
    // Read (and drop) the answer's body so the connection ends cleanly; its size is bounded
    // by the time limit around the call.
    let _ = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await;
    drop(sender);
    conn.abort();
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_the_device_of_the_event() {
        let e = serde_json::json!({"topic": "mdm.Connect", "acknowledge_event": {"udid": "U1"}});
        assert_eq!(lane_of(&e), "U1");
        let e = serde_json::json!({"topic": "mdm.TokenUpdate",
            "checkin_event": {"enrollment_id": "E1", "ids": {"id": "E1"}}});
        assert_eq!(lane_of(&e), "E1");
        assert_eq!(
            lane_of(&serde_json::json!({"topic": "mdm.GetBootstrapToken"})),
            ""
        );
    }

    #[test]
    fn webhook_urls_are_checked() {
        let ok = WebhookSettings {
            urls: vec![
                "http://127.0.0.1:9/x".into(),
                "https://h.example/hook?k=v".into(),
            ],
            ..WebhookSettings::default()
        };
        assert!(ok.check().is_ok());
        for bad in ["ftp://h/x", "/relative", "not a url"] {
            let s = WebhookSettings {
                urls: vec![bad.into()],
                ..WebhookSettings::default()
            };
            assert!(s.check().is_err(), "{bad:?}");
        }
    }
}
