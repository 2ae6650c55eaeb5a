//! `devauth` inside a plain hyper 1 service: Mender-style device authentication in one file.
//!
//! At start it generates an Ed25519 token-signing key and an empty in-memory store
//! (`devauth::store::MemStore`), optionally preauthorizes one device from `--preauthorize
//! FILE.json`, then serves two routes over HTTP/1.1:
//!
//! ```text
//! POST /api/devices/v1/authentication/auth_requests   (the device, X-MEN-Signature)
//!     body (size cap) ──▶ spawn_blocking ──▶ AuthRequestVerifier::verify_parts(headers, body)
//!         ──▶ store.run(identity, |snapshot| admission::auth_request(..))   decide, apply
//!         ──▶ Ok(grant): token::mint ──▶ 200 application/jwt
//!             Err(e):    e.to_response ──▶ 400 / 401 (a new device is recorded as pending)
//! GET /api/internal/v1/devauth/tokens/verify           (a gateway, Authorization: Bearer)
//!     ──▶ TokenVerifier::check(token, now, &store) ──▶ 200 claims | 401
//! ```
//!
//! The preauthorization file is what Mender's management API takes for `POST /devices`:
//! `{"identity_data": {"mac": "..."}, "pubkey": "-----BEGIN PUBLIC KEY-----..."}`. A device
//! that is not preauthorized stays pending (401) for ever here: accepting it is the
//! management API's job, which this example leaves out.
//!
//! ```sh
//! cargo run -p devauth-hyper -- --listen 127.0.0.1:8080 [--preauthorize device.json]
//! ```

#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use devauth::admission::{self, AdmissionPolicy};
use devauth::auth_request::{self, AuthRequestVerifier};
use devauth::identity::Identity;
use devauth::pubkey::DevicePublicKey;
use devauth::store::{MemStore, SnapshotKey, Store as _};
use devauth::token::{IssuerConfig, TokenVerifier, Verdict};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use pki::key::{KeySpec, PrivateKey};
use rand_core::UnwrapErr;

/// Where a gateway asks whether a device token is good.
const VERIFY_PATH: &str = "/api/internal/v1/devauth/tokens/verify";
/// How many times a decision is taken again when the store saw it go stale.
const ATTEMPTS: usize = 3;

/// The service's state: the store, the policy and the token key.
struct App {
    provider: &'static dyn pki::provider::CryptoProvider,
    store: MemStore,
    policy: AdmissionPolicy,
    issuer: IssuerConfig,
    signing_key: Arc<dyn PrivateKey>,
    tokens: TokenVerifier<'static>,
    requests: AtomicU64,
}

/// Seconds since the epoch: `devauth`'s clock.
fn now() -> u64 {
    let since = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    since.map(|d| d.as_secs()).unwrap_or(0)
}

impl App {
    /// A request id for the error bodies and the log.
    fn request_id(&self) -> String {
        format!("req-{}", self.requests.fetch_add(1, Ordering::Relaxed))
    }

    /// `POST auth_requests`: verify, decide over the store, mint (blocking: signatures).
    fn auth_request(&self, headers: &HeaderMap, body: &[u8]) -> devauth::http::Response<Vec<u8>> {
        let (rid, t) = (self.request_id(), now());
        let mut rng = UnwrapErr(getrandom::SysRng);
        let answer = AuthRequestVerifier::new(self.provider)
            .verify_parts(headers, body)
            .and_then(|req| {
                // Snapshot, decide, apply; again if the store saw the snapshot go stale. The outer
                // error is the store's (stale on every attempt: 409), the inner one the decision's
                // refusal (pending, rejected, device limit: 401).
                let key = SnapshotKey::Identity(req.identity());
                let grant = self.store.run(key, ATTEMPTS, |snap| {
                    admission::auth_request(&self.policy, snap, &req, t, &mut rng)
                })??;
                let claims = self.issuer.claims(&grant, None, t);
                devauth::token::mint(self.signing_key.as_ref(), &claims, &mut rng)
            });
        match &answer {
            Ok(_) => eprintln!("{rid}: token issued"),
            Err(e) => eprintln!("{rid}: {}: {e}", e.status()),
        }
        devauth::api::auth_response(&answer, &rid)
    }

    /// `GET tokens/verify`: `Authorization: Bearer JWT`, checked against the key and the store.
    fn verify_token(&self, req: &Request<Incoming>) -> devauth::http::Response<Vec<u8>> {
        let rid = self.request_id();
        let bearer = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(token) = bearer.and_then(|v| v.strip_prefix("Bearer ")) else {
            return devauth::Error::TokenMalformed("no bearer token".into()).to_response(&rid);
        };
        match self.tokens.check(token.trim(), now(), &self.store) {
            Verdict::Valid(t) => {
                let body = serde_json::json!({ "valid": true, "claims": t.claims() });
                let mut r = Response::new(body.to_string().into_bytes());
                r.headers_mut()
                    .insert(CONTENT_TYPE, "application/json".parse().expect("static"));
                r
            }
            Verdict::Expired { exp, now } => {
                devauth::Error::TokenExpired { exp, now }.to_response(&rid)
            }
            Verdict::Invalid(e) => e.to_response(&rid),
        }
    }

    /// Preauthorize the device described by a Mender `POST /devices` body.
    fn preauthorize(&self, json: &str) -> Result<(), Box<dyn std::error::Error>> {
        let v: serde_json::Value = serde_json::from_str(json)?;
        let id_data = match &v["identity_data"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let identity = Identity::parse(&id_data)?;
        let pubkey =
            DevicePublicKey::from_pem(v["pubkey"].as_str().ok_or("no \"pubkey\" string")?)?;
        let mut rng = UnwrapErr(getrandom::SysRng);
        let done = self
            .store
            .run(SnapshotKey::Identity(&identity), ATTEMPTS, |snap| {
                admission::preauthorize(snap, &identity, &pubkey, false, now(), &mut rng)
            })??;
        eprintln!(
            "preauthorized {} as device {}",
            identity.normalized(),
            done.device_id
        );
        Ok(())
    }
}

/// The hyper service: route, read the body under its cap, answer on the blocking pool.
async fn route(app: Arc<App>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::POST, auth_request::PATH) => {
            let (parts, body) = req.into_parts();
            let cap = auth_request::Limits::default().max_body;
            match Limited::new(body, cap).collect().await {
                Ok(body) => {
                    let body = body.to_bytes();
                    blocking(move || app.auth_request(&parts.headers, &body)).await
                }
                Err(_) => text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("body over {cap} bytes"),
                ),
            }
        }
        (&Method::GET, VERIFY_PATH) => blocking(move || app.verify_token(&req)).await,
        (_, auth_request::PATH | VERIFY_PATH) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => text(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response.map(|b| Full::new(Bytes::from(b))))
}

/// Run `f` on tokio's blocking pool; a panic there is our fault (500).
async fn blocking<F>(f: F) -> Response<Vec<u8>>
where
    F: FnOnce() -> Response<Vec<u8>> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        eprintln!("internal error: {e}");
        text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })
}

fn text(status: StatusCode, body: &str) -> Response<Vec<u8>> {
    let mut r = Response::new(format!("{body}\n").into_bytes());
    *r.status_mut() = status;
    r
}

/// `--listen ADDR [--preauthorize FILE.json]`.
fn parse_args() -> Result<(SocketAddr, Option<String>), String> {
    let (mut listen, mut preauthorize) = (SocketAddr::from(([127, 0, 0, 1], 8080)), None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--preauthorize" => preauthorize = Some(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok((listen, preauthorize))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (listen, preauthorize) = parse_args().map_err(|e| {
        format!("{e}\nusage: devauth-hyper --listen ADDR [--preauthorize FILE.json]")
    })?;
    let provider = *pki::provider::compiled()
        .first()
        .ok_or("no crypto provider compiled in")?;
    let signing_key = provider.generate_key(KeySpec::Ed25519, &mut UnwrapErr(getrandom::SysRng))?;
    let issuer = IssuerConfig::default();
    let tokens = TokenVerifier::new(provider, signing_key.spki().clone())?
        .with_issuer(issuer.issuer.clone());
    let app = Arc::new(App {
        provider,
        store: MemStore::new(),
        policy: AdmissionPolicy::default(),
        issuer,
        signing_key,
        tokens,
        requests: AtomicU64::new(0),
    });
    if let Some(path) = preauthorize {
        let json = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        app.preauthorize(&json)
            .map_err(|e| format!("{path}: {e}"))?;
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| route(app.clone(), req));
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                eprintln!("connection: {e}");
            }
        });
    }
}
