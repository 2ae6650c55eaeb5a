//! The listeners: plain HTTP and HTTPS (rustls), hyper 1 on tokio, with limits and graceful
//! shutdown.
//!
//! ```text
//!  TcpListener (http)  ──▶ hyper http1 ─┐
//!  TcpListener (https) ──▶ rustls ──▶ hyper http1/h2 (ALPN) ─┤
//!                                      ▼
//!   per connection: a slot under the connection cap, first-request and idle deadlines
//!                                      ▼
//!            limits: head size (431), body size per route (413), request timeout (408)
//!                                      ▼
//!                          routes::route(state, Request<Bytes>)
//! ```
//!
//! Every request body is read completely (up to the limit) before routing, so handlers see
//! bytes, the shape the protocol crates take. On shutdown the listeners are closed first, then
//! every connection is told to finish its in-flight request and close; after the drain timeout
//! the remaining connections are abandoned.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::Limits;

pub mod connection;
pub mod routes;
pub mod tls;

use connection::{Activity, Slots};

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Plain HTTP.
    Http,
    /// HTTPS.
    Https,
}

impl Listener {
    fn as_str(self) -> &'static str {
        match self {
            Listener::Http => "http",
            Listener::Https => "https",
        }
    }
}

/// What handlers can reach. Later features add their own state here.
#[derive(Debug)]
pub struct AppState {
    /// The admin API's token check.
    pub admin: crate::admin::Admin,
    /// Automated Device Enrollment: sync, admin API, enrollment gate.
    pub ade: crate::ade::Service,
    /// Seals secrets stored in the database.
    pub sealer: crate::secrets::Sealer,
    /// The data directory: CA, TLS identity, database.
    pub data: crate::data_dir::DataDir,
    /// Device authentication (Mender model).
    pub devauth: crate::devauth::Service,
    /// SCEP (`/scep`).
    pub scep: crate::scep::Service,
    /// The device inventory and its access decision (`/api/v1/collections/...`,
    /// `/api/v1/inventory/...`).
    pub inventory: std::sync::Arc<crate::inventory::Service>,
    /// SCIM 2.0 (`/scim/v2/...`).
    pub scim: crate::scim::Service,
    /// Apple Managed Device Attestation: builds the `DeviceInformation` request and, as the
    /// MDM core's [`crate::mdm::ResultHook`], verifies the answers.
    pub apple_attestation: std::sync::Arc<crate::inventory::apple::AppleAttestation>,
    /// Apple MDM (`/mdm/...`, `/api/v1/mdm/...`).
    pub mdm: Arc<crate::mdm::Service>,
    /// Declarative Device Management: the admin API under `/api/v1/ddm` and the
    /// DeclarativeManagement check-in ([`crate::ddm::Server::checkin`], the core's
    /// [`crate::mdm::Declarative`] hook).
    pub ddm: Arc<crate::ddm::Server>,
    /// APNs pushes: the MDM core wakes channels through it (`Arc<dyn mdm::Wake>`).
    pub push: Arc<crate::mdm::push::Pusher>,
    /// The webhook outbox: the MDM core records events in it (`Arc<dyn mdm::Events>`).
    pub events: Arc<crate::mdm::webhook::Outbox>,
}

/// Response body type.
pub type Body = Full<Bytes>;

/// How the drain after a shutdown signal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every connection finished.
    Complete,
    /// The drain timeout passed with connections still open; they were abandoned.
    TimedOut,
}

/// Both listeners, bound and ready to serve.
pub struct Server {
    http: TcpListener,
    https: TcpListener,
    tls: TlsAcceptor,
    state: Arc<AppState>,
    limits: Limits,
}

impl core::fmt::Debug for Server {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server")
            .field("http", &self.http.local_addr().ok())
            .field("https", &self.https.local_addr().ok())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Bind both listeners (port 0 picks a free port; see [`Server::http_addr`]).
    pub async fn bind(
        http: SocketAddr,
        https: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        state: Arc<AppState>,
        limits: Limits,
    ) -> std::io::Result<Server> {
        Ok(Server {
            http: TcpListener::bind(http).await?,
            https: TcpListener::bind(https).await?,
            tls: TlsAcceptor::from(tls),
            state,
            limits,
        })
    }

    /// The address the HTTP listener is bound to.
    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.http.local_addr()
    }

    /// The address the HTTPS listener is bound to.
    pub fn https_addr(&self) -> std::io::Result<SocketAddr> {
        self.https.local_addr()
    }

    /// Serve until `shutdown` completes, then drain.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Drain {
        let limits = self.limits;
        let max_header = u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX);
        let cap = connection::effective_cap(limits.max_connections);
        if cap < limits.max_connections {
            tracing::warn!(
                configured = limits.max_connections,
                cap,
                "connection cap lowered to fit the open-file limit (ulimit -n)"
            );
        }
        let slots = Slots::new(cap);

        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.request_timeout)
            .max_buf_size(limits.max_header_bytes);

        let mut auto = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        auto.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.request_timeout)
            .max_buf_size(limits.max_header_bytes);
        auto.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(max_header)
            .max_concurrent_streams(H2_MAX_STREAMS)
            .keep_alive_interval(Some(H2_PING_INTERVAL))
            .keep_alive_timeout(H2_PING_TIMEOUT);
        let auto = Arc::new(auto);

        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.http.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => { accept_failed(e).await; continue; }
                    };
                    let Some(slot) = slots.take() else { continue };
                    let activity = Activity::new();
                    let svc = service(self.state.clone(), limits, Listener::Http, activity.clone(), None);
                    let conn = http1.serve_connection(TokioIo::new(stream), svc);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        let _slot = slot;
                        tokio::select! {
                            ended = conn => if let Err(e) = ended {
                                tracing::debug!(%peer, error = %e, "http connection ended with an error");
                            },
                            () = connection::watchdog(activity, limits.first_request_timeout, limits.idle_timeout) => {
                                tracing::debug!(%peer, "closing a quiet http connection");
                            }
                        }
                    });
                }
                accepted = self.https.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => { accept_failed(e).await; continue; }
                    };
                    let Some(slot) = slots.take() else { continue };
                    let acceptor = self.tls.clone();
                    let auto = auto.clone();
                    let watcher = graceful.watcher();
                    let activity = Activity::new();
                    let state = self.state.clone();
                    let conn_activity = activity.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        let serve = async {
                            let tls = match acceptor.accept(stream).await {
                                Ok(tls) => tls,
                                Err(e) => {
                                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                    return;
                                }
                            };
                            // The client certificate, if one was sent, for MDM's identity check
                            // (the TLS layer only checked that the client holds its key).
                            let client_cert = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| crate::mdm::identity::PeerCertificate(Arc::new(c.to_vec())));
                            let svc = service(state, limits, Listener::Https, conn_activity, client_cert);
                            let conn = auto.serve_connection(TokioIo::new(tls), svc);
                            if let Err(e) = watcher.watch(conn).await {
                                tracing::debug!(%peer, error = %e, "https connection ended with an error");
                            }
                        };
                        // The handshake counts toward the first-request deadline.
                        tokio::select! {
                            () = serve => {}
                            () = connection::watchdog(activity, limits.first_request_timeout, limits.idle_timeout) => {
                                tracing::debug!(%peer, "closing a quiet https connection");
                            }
                        }
                    });
                }
            }
        }
        // Stop accepting: close both listening sockets before draining.
        drop(self.http);
        drop(self.https);
        let open = graceful.count();
        tracing::info!(
            connections = open,
            timeout_ms = limits.drain_timeout.as_millis() as u64,
            "shutting down: draining connections"
        );
        match tokio::time::timeout(limits.drain_timeout, graceful.shutdown()).await {
            Ok(()) => {
                tracing::info!("all connections finished");
                Drain::Complete
            }
            Err(_) => {
                tracing::warn!("drain timeout passed; abandoning open connections");
                Drain::TimedOut
            }
        }
    }
}

/// Concurrent HTTP/2 streams per connection.
const H2_MAX_STREAMS: u32 = 64;
/// How often an HTTP/2 connection is pinged while open.
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
/// A ping not answered in this time closes the HTTP/2 connection.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);

async fn accept_failed(e: std::io::Error) {
    // Typically EMFILE: back off briefly rather than spin.
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn service(
    state: Arc<AppState>,
    limits: Limits,
    listener: Listener,
    activity: Arc<Activity>,
    peer: Option<crate::mdm::identity::PeerCertificate>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut req: Request<Incoming>| {
        if let Some(p) = &peer {
            req.extensions_mut().insert(p.clone());
        }
        let in_flight = activity.begin();
        let state = state.clone();
        async move {
            let resp = handle(state, limits, listener, req).await;
            drop(in_flight);
            resp
        }
    })
}

async fn handle(
    state: Arc<AppState>,
    limits: Limits,
    listener: Listener,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = match tokio::time::timeout(
        limits.request_timeout,
        read_and_route(state.clone(), limits, listener, req),
    )
    .await
    {
        Ok(resp) => resp,
        Err(_) => close(text(StatusCode::REQUEST_TIMEOUT, "request timeout\n")),
    };
    tracing::info!(
        listener = listener.as_str(),
        %method,
        path,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(resp)
}

/// How many requests may run their crypto and database work at once; the rest wait (within
/// the request timeout) without holding a blocking thread.
fn blocking_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores * 4)
    })
}

async fn read_and_route(
    state: Arc<AppState>,
    limits: Limits,
    listener: Listener,
    req: Request<Incoming>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let max_body = routes::body_limit(parts.uri.path()).min(limits.max_body_bytes);
    if declared.is_some_and(|n| n > max_body as u64) {
        return close(too_large());
    }
    let body = match Limited::new(body, max_body).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return close(too_large()),
        Err(e) => {
            tracing::debug!(error = %e, "reading the request body failed");
            return close(text(StatusCode::BAD_REQUEST, "unreadable request body\n"));
        }
    };
    let req = Request::from_parts(parts, body);
    if req.uri().path() == "/healthz" {
        // No crypto, no database: answered on the async worker, so it stays fast under load.
        return routes::route(&state, listener, req);
    }
    // Crypto and database work run on the blocking pool, a bounded number at a time, never on
    // the async workers that accept connections and finish TLS handshakes.
    let Ok(_permit) = blocking_permits().acquire().await else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    };
    match tokio::task::spawn_blocking(move || routes::route(&state, listener, req)).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(error = %e, "a request handler panicked");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

fn too_large() -> Response<Body> {
    text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n")
}

/// A `text/plain` response.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Ask the client to close the connection after this response (an unread body may be left).
fn close(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}
