//! Device authentication in the Mender model: the `devauth` crate wired to the listeners and
//! to a [`DevauthStore`] (SQLite, or PostgreSQL with `--database`).
//!
//! ```text
//! POST /api/devices/v1/authentication/auth_requests   (HTTPS; HTTP only if allowed)
//!      AuthRequestVerifier::verify ──▶ TenantVerifier (if configured)
//!      ──▶ Store::run(admission::auth_request) ──▶ token::mint
//! GET|POST /api/internal/v1/devauth/tokens/verify     (HTTPS; HTTP only if allowed)
//!      Authorization: Bearer JWT ──▶ TokenVerifier::check ──▶ 200 claims | 401
//! /api/management/v2/devauth/...                       (HTTPS only, admin bearer token)
//!      api::ManagementRequest::parse ──▶ admission::* under SqliteStore::run ──▶ api::*
//! ```
//!
//! Files in the data directory, created on first start:
//!
//! ```text
//! devauth/jwt.key       token signing key, PKCS#8 PEM (0600): Ed25519 (EdDSA) by default,
//!                       RSA-3072 (RS256) or ECDSA P-256 (ES256) with `jwt_key_type`
//! devauth/jwt.pub.pem   its public key, for gateways that verify tokens themselves
//! devauth/admin-token   the management API's bearer token (0600), unless the config sets one
//! ```
//!
//! Every decision is computed from a snapshot and applied only if its preconditions still hold
//! (see [`crate::devauth::store`]); a refused decision is computed again, at most
//! [`ATTEMPTS`] times.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::devauth::admission::{self, AdmissionPolicy};
use ::devauth::api::{self, ManagementRequest};
use ::devauth::auth_request::{self, AuthRequestVerifier};
use ::devauth::store::{SnapshotKey, Store as _};
use ::devauth::token::{IssuerConfig, TenantVerifier, TokenVerifier, Verdict};
use base64::Engine as _;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use pki::der::Encode as _;
use pki::key::{KeySpec, PrivateKey};
use pki::provider::CryptoProvider;
use pki::spki::SubjectPublicKeyInfoOwned;
use serde::Deserialize;

use crate::data_dir::{self, Error};
use crate::devauth::store::{DevauthStore, Records, StoreError};
use crate::server::{Body, Listener};

pub mod inspect;
pub mod postgres;
pub mod store;

/// Path of the gateway-style token check.
pub const VERIFY_PATH: &str = "/api/internal/v1/devauth/tokens/verify";

/// How many times a decision is computed before the request gives up (503).
pub const ATTEMPTS: usize = 8;

/// The key type of the token signing key created on first start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum JwtKeyType {
    /// Ed25519, tokens signed EdDSA (the default).
    Ed25519,
    /// RSA-3072, tokens signed RS256.
    Rsa,
    /// ECDSA P-256, tokens signed ES256.
    Ecdsa,
}

impl JwtKeyType {
    fn spec(self) -> KeySpec {
        match self {
            JwtKeyType::Ed25519 => KeySpec::Ed25519,
            JwtKeyType::Rsa => KeySpec::Rsa(3072),
            JwtKeyType::Ecdsa => KeySpec::Ec(pki::alg::Curve::P256),
        }
    }
}

/// The `[devauth]` table of the config file (`Debug` does not show the admin token).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// Most devices accepted at once.
    pub max_devices: Option<u64>,
    /// Key type of a signing key created on first start.
    pub jwt_key_type: Option<JwtKeyType>,
    /// Token lifetime in seconds.
    pub token_lifetime_s: Option<u64>,
    /// The management API's bearer token (otherwise generated into the data directory).
    pub admin_token: Option<String>,
    /// Serve device requests (auth requests, token checks) on the plain HTTP listener too.
    pub allow_plain_http: Option<bool>,
    /// PEM public key of the tenant service; only tenant tokens it signed set a tenant.
    pub tenant_key: Option<PathBuf>,
}

impl core::fmt::Debug for FileSettings {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileSettings")
            .field("max_devices", &self.max_devices)
            .field("jwt_key_type", &self.jwt_key_type)
            .field("token_lifetime_s", &self.token_lifetime_s)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "(set)"))
            .field("allow_plain_http", &self.allow_plain_http)
            .field("tenant_key", &self.tenant_key)
            .finish()
    }
}

/// Device-auth settings.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// Most devices accepted at once (`None`: no limit).
    pub max_devices: Option<u64>,
    /// Key type of a signing key created on first start; ignored once the key exists.
    pub jwt_key_type: JwtKeyType,
    /// Token lifetime in seconds (default one week).
    pub token_lifetime_s: u64,
    /// The management API's bearer token; `None`: generated on first start into
    /// `devauth/admin-token`.
    pub admin_token: Option<String>,
    /// Serve device requests on plain HTTP too (tokens and device keys then cross the network
    /// in the clear); off by default, and a warning at start when on.
    pub allow_plain_http: bool,
    /// The tenant service's public key (PEM). Without it the server has no tenants: a device's
    /// `tenant_token` is ignored and no token carries `mender.tenant`.
    pub tenant_key: Option<PathBuf>,
}

impl core::fmt::Debug for Settings {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Settings")
            .field("max_devices", &self.max_devices)
            .field("jwt_key_type", &self.jwt_key_type)
            .field("token_lifetime_s", &self.token_lifetime_s)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "(set)"))
            .field("allow_plain_http", &self.allow_plain_http)
            .field("tenant_key", &self.tenant_key)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_devices: None,
            jwt_key_type: JwtKeyType::Ed25519,
            token_lifetime_s: ::devauth::token::DEFAULT_LIFETIME,
            admin_token: None,
            allow_plain_http: false,
            tenant_key: None,
        }
    }
}

impl Settings {
    /// Flags over the file over the defaults.
    pub fn merge(
        max_devices: Option<u64>,
        jwt_key_type: Option<JwtKeyType>,
        token_lifetime_s: Option<u64>,
        allow_plain_http: bool,
        tenant_key: Option<PathBuf>,
        file: FileSettings,
    ) -> Settings {
        let d = Settings::default();
        Settings {
            max_devices: max_devices.or(file.max_devices),
            jwt_key_type: jwt_key_type.or(file.jwt_key_type).unwrap_or(d.jwt_key_type),
            token_lifetime_s: token_lifetime_s
                .or(file.token_lifetime_s)
                .unwrap_or(d.token_lifetime_s),
            admin_token: file.admin_token,
            allow_plain_http: allow_plain_http || file.allow_plain_http.unwrap_or(false),
            tenant_key: tenant_key.or(file.tenant_key),
        }
    }

    /// Refuse settings that cannot work.
    pub fn check(&self) -> Result<(), crate::config::Error> {
        if self.token_lifetime_s == 0 {
            return Err(crate::config::Error::Invalid {
                name: "devauth.token_lifetime_s",
                reason: "must be above zero".into(),
            });
        }
        if let Some(t) = &self.admin_token
            && t.trim().len() < 16
        {
            return Err(crate::config::Error::Invalid {
                name: "devauth.admin_token",
                reason: "must be at least 16 characters".into(),
            });
        }
        Ok(())
    }
}

/// The device-auth service: keys, settings, and the request handler.
pub struct Service {
    store: Arc<dyn DevauthStore>,
    provider: &'static dyn CryptoProvider,
    signing_key: Arc<dyn PrivateKey>,
    admin_token: zeroize::Zeroizing<String>,
    policy: AdmissionPolicy,
    issuer: IssuerConfig,
    allow_plain_http: bool,
    tenants: Option<TenantVerifier<'static>>,
    /// The device inventory, asked before a token is issued (when it enforces that).
    inventory: std::sync::OnceLock<Arc<crate::inventory::Service>>,
}

impl core::fmt::Debug for Service {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Service")
            .field("store", &self.store)
            .field("provider", &self.provider.name())
            .field("signing_key", &self.signing_key.kind())
            .field("policy", &self.policy)
            .field("allow_plain_http", &self.allow_plain_http)
            .field("tenants", &self.tenants.is_some())
            .finish_non_exhaustive()
    }
}

/// `devauth/admin-token` in the data directory `data`.
pub fn admin_token_path(data: &Path) -> PathBuf {
    data.join("devauth").join("admin-token")
}

/// `devauth/jwt.pub.pem` in the data directory `data`.
pub fn jwt_public_key_path(data: &Path) -> PathBuf {
    data.join("devauth").join("jwt.pub.pem")
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn request_id() -> String {
    let mut b = [0u8; 8];
    rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut b);
    hex::encode(b)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn spki_pem(spki: &SubjectPublicKeyInfoOwned) -> Result<String, Error> {
    let der = spki.to_der().map_err(|e| Error::Pki {
        what: "encoding the token public key",
        source: pki::Error::malformed("SubjectPublicKeyInfo", e),
    })?;
    pki::der::pem::encode_string("PUBLIC KEY", pki::der::pem::LineEnding::LF, &der).map_err(|e| {
        Error::Pki {
            what: "encoding the token public key",
            source: pki::Error::malformed("SubjectPublicKeyInfo", e),
        }
    })
}

impl Service {
    /// The admin API's bearer token (shared by every admin route, see [`crate::admin`]).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Open (creating on first start) the signing key and admin token under `data`; records
    /// are kept in `store`.
    pub fn open(
        data: &Path,
        store: Arc<dyn DevauthStore>,
        provider: &'static dyn CryptoProvider,
        settings: &Settings,
    ) -> Result<Service, Error> {
        let dir = data.join("devauth");
        data_dir::create_dir(&dir)?;
        let key_path = dir.join("jwt.key");
        let signing_key = if key_path.exists() {
            data_dir::read_key(&key_path, provider)?.0
        } else {
            let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
            let key = provider
                .generate_key(settings.jwt_key_type.spec(), &mut rng)
                .map_err(|source| Error::Pki {
                    what: "generating the token signing key",
                    source,
                })?;
            data_dir::write_key(&key_path, key.as_ref())?;
            tracing::info!(path = %key_path.display(), kind = ?key.kind(), "created token signing key");
            key
        };
        ::devauth::token::Algorithm::for_key(signing_key.kind()).map_err(|e| Error::BadFile {
            path: key_path.clone(),
            reason: e.to_string(),
        })?;
        let pub_path = jwt_public_key_path(data);
        let pub_pem = spki_pem(signing_key.spki())?;
        if std::fs::read_to_string(&pub_path).ok().as_deref() != Some(pub_pem.as_str()) {
            data_dir::write_file(&pub_path, pub_pem.as_bytes(), 0o644)?;
        }
        let admin_token = match &settings.admin_token {
            Some(t) => t.trim().to_owned(),
            None => {
                let path = admin_token_path(data);
                match std::fs::read_to_string(&path) {
                    Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
                    Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::Io { path, source });
                    }
                    _ => {
                        let t = random_token();
                        data_dir::write_file(&path, format!("{t}\n").as_bytes(), 0o600)?;
                        tracing::info!(path = %path.display(), "created management API token");
                        t
                    }
                }
            }
        };
        let mut policy = AdmissionPolicy::default();
        if let Some(n) = settings.max_devices {
            policy = policy.with_max_devices(n);
        }
        let tenants = match &settings.tenant_key {
            None => None,
            Some(path) => {
                use pki::der::DecodePem as _;
                let pem = std::fs::read(path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                let spki =
                    SubjectPublicKeyInfoOwned::from_pem(&pem).map_err(|e| Error::BadFile {
                        path: path.clone(),
                        reason: format!("not a PEM public key: {e}"),
                    })?;
                Some(
                    TenantVerifier::new(provider, spki).map_err(|e| Error::BadFile {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?,
                )
            }
        };
        if settings.allow_plain_http {
            tracing::warn!(
                "device auth is served on plain HTTP too (allow_plain_http): device keys and \
                 tokens cross the network unencrypted"
            );
        }
        Ok(Service {
            store,
            provider,
            signing_key,
            admin_token: zeroize::Zeroizing::new(admin_token),
            policy,
            issuer: IssuerConfig::default().with_lifetime(settings.token_lifetime_s),
            allow_plain_http: settings.allow_plain_http,
            tenants,
            inventory: std::sync::OnceLock::new(),
        })
    }

    /// Answer `req` if its path is one of ours; `None` otherwise.
    pub fn handle(&self, listener: Listener, req: &Request<Bytes>) -> Option<Response<Body>> {
        let path = req.uri().path();
        let device_route = path == auth_request::PATH || path == VERIFY_PATH;
        let resp = if device_route && listener != Listener::Https && !self.allow_plain_http {
            json_error(
                StatusCode::FORBIDDEN,
                "device authentication is served over HTTPS only",
                &request_id(),
            )
        } else if path == auth_request::PATH {
            if req.method() != Method::POST {
                not_allowed("POST")
            } else {
                self.auth_request(req)
            }
        } else if path == VERIFY_PATH {
            if req.method() != Method::POST && req.method() != Method::GET {
                not_allowed("GET, POST")
            } else {
                self.verify_token(req)
            }
        } else if path == api::MANAGEMENT_BASE
            || path
                .strip_prefix(api::MANAGEMENT_BASE)
                .is_some_and(|r| r.starts_with('/'))
        {
            if listener != Listener::Https {
                json_error(
                    StatusCode::FORBIDDEN,
                    "the management API is served over HTTPS only",
                    &request_id(),
                )
            } else {
                self.management(req)
            }
        } else {
            return None;
        };
        Some(resp)
    }

    fn store(&self) -> Records<'_> {
        Records(self.store.as_ref())
    }

    fn auth_request(&self, req: &Request<Bytes>) -> Response<Body> {
        let rid = request_id();
        let dreq = to_devauth(req);
        let req = match AuthRequestVerifier::new(self.provider).verify(&dreq) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(request_id = rid, error = %e, "auth request refused");
                return from_devauth(e.to_response(&rid));
            }
        };
        let t = now();
        // A tenant comes only from a tenant token the tenant service signed; checked before
        // anything is stored, so a forged one leaves no record behind.
        let tenant = match (&self.tenants, req.tenant_token()) {
            (_, "") => None,
            (None, _) => {
                tracing::debug!(
                    request_id = rid,
                    "tenant token ignored: no tenant key configured"
                );
                None
            }
            (Some(tenants), token) => match tenants.verify(token, t) {
                Ok(tenant) => Some(tenant),
                Err(e) => {
                    tracing::info!(request_id = rid, error = %e, "auth request refused");
                    return from_devauth(e.to_response(&rid));
                }
            },
        };
        // The device inventory: refused before anything is stored.
        if let Some(inventory) = self.inventory.get() {
            let attrs = req.identity().to_json();
            let candidates: Vec<String> = ["instance_id", "serial_number", "serial", "ek_uri"]
                .iter()
                .filter_map(|k| attrs.get(*k))
                .flat_map(|v| match v {
                    serde_json::Value::Array(a) => a.clone(),
                    v => vec![v.clone()],
                })
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            match inventory.gate(&candidates, ::inventory::Purpose::DeviceAuthToken) {
                crate::inventory::Gate::Allow => {}
                crate::inventory::Gate::Refuse(why) => {
                    tracing::info!(request_id = rid, %why, "auth request refused by the inventory");
                    return json_error(
                        StatusCode::UNAUTHORIZED,
                        &format!("refused by the device inventory: {why}"),
                        &rid,
                    );
                }
                crate::inventory::Gate::Failed(_) => {
                    return json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", &rid);
                }
            }
        }
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let decided = self
            .store()
            .run(SnapshotKey::Identity(req.identity()), ATTEMPTS, |snap| {
                admission::auth_request(&self.policy, snap, &req, t, &mut rng)
            });
        let answer = match decided {
            Ok(a) => a,
            Err(e) => return store_failure(&e, &rid),
        };
        let answer = answer.and_then(|grant| {
            let claims = self.issuer.claims(&grant, tenant, t);
            tracing::info!(
                request_id = rid,
                device = %grant.device_id,
                auth_set = %grant.auth_set_id,
                "token issued"
            );
            ::devauth::token::mint(
                self.signing_key.as_ref(),
                &claims,
                &mut rand_core::UnwrapErr(getrandom::SysRng),
            )
        });
        if let Err(e) = &answer {
            tracing::info!(
                request_id = rid,
                identity = req.identity().normalized(),
                error = %e,
                "auth request not granted"
            );
        }
        from_devauth(api::auth_response(&answer, &rid))
    }

    /// Ask `inventory` before every token from now on (when it enforces
    /// `device_auth_token`); the device is named by its identity attribute `instance_id`,
    /// `serial_number`, `serial` or `ek_uri`. Set once at start.
    pub fn set_inventory(&self, inventory: Arc<crate::inventory::Service>) {
        let _ = self.inventory.set(inventory);
    }

    /// The gateway check: `Authorization: Bearer JWT`.
    fn verify_token(&self, req: &Request<Bytes>) -> Response<Body> {
        let rid = request_id();
        let token = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = token else {
            return json_error(
                StatusCode::UNAUTHORIZED,
                "missing Authorization: Bearer token",
                &rid,
            );
        };
        let verifier = match TokenVerifier::new(self.provider, self.signing_key.spki().clone()) {
            Ok(v) => v.with_issuer(self.issuer.issuer.clone()),
            Err(e) => return from_devauth(e.to_response(&rid)),
        };
        match verifier.check(token, now(), &self.store()) {
            Verdict::Valid(t) => {
                let body = serde_json::json!({
                    "valid": true,
                    "algorithm": t.algorithm().name(),
                    "claims": t.claims(),
                });
                json(StatusCode::OK, &body)
            }
            Verdict::Expired { exp, now } => {
                from_devauth(::devauth::Error::TokenExpired { exp, now }.to_response(&rid))
            }
            Verdict::Invalid(e) => {
                if e.status() == StatusCode::INTERNAL_SERVER_ERROR {
                    tracing::error!(request_id = rid, error = %e, "token check failed on our side");
                }
                from_devauth(e.to_response(&rid))
            }
        }
    }

    fn admin_ok(&self, req: &Request<Bytes>) -> bool {
        req.headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| ct_eq(t.trim().as_bytes(), self.admin_token.as_bytes()))
    }

    fn management(&self, req: &Request<Bytes>) -> Response<Body> {
        let rid = request_id();
        if !self.admin_ok(req) {
            let mut r = json_error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong admin bearer token",
                &rid,
            );
            r.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
            return r;
        }
        let parsed = match ManagementRequest::parse(&to_devauth(req)) {
            Ok(p) => p,
            Err(e) => return from_devauth(e.to_response(&rid)),
        };
        let store = self.store();
        match self.management_request(&store, parsed, &rid) {
            Ok(r) => r,
            Err(e) => store_failure(&e, &rid),
        }
    }

    fn management_request(
        &self,
        store: &Records<'_>,
        parsed: ManagementRequest,
        rid: &str,
    ) -> Result<Response<Body>, StoreError> {
        let t = now();
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let r = match parsed {
            ManagementRequest::ListDevices(q) | ManagementRequest::SearchDevices(q) => {
                let all = store.devices()?;
                let (page, more) = q.select(&all);
                q.response(&page, more)
            }
            ManagementRequest::GetDevice(id) => match store.device(id)? {
                Some(rec) => api::device_response(&rec),
                None => ::devauth::Error::NotFound("device").to_response(rid),
            },
            ManagementRequest::Preauthorize(p) => {
                let result = store.run(SnapshotKey::Identity(&p.identity), ATTEMPTS, |snap| {
                    admission::preauthorize(snap, &p.identity, &p.pubkey, p.force, t, &mut rng)
                })?;
                let existing = match &result {
                    Err(::devauth::Error::Conflict { .. }) => {
                        store.device_by_identity(&p.identity)?
                    }
                    _ => None,
                };
                if let Ok(done) = &result {
                    tracing::info!(device = %done.device_id, auth_set = %done.auth_set_id, "preauthorized");
                }
                api::preauthorize_response(&result, existing.as_ref(), rid)
            }
            ManagementRequest::Decommission(id) => {
                let result = store.run(SnapshotKey::Device(id), ATTEMPTS, |snap| {
                    admission::decommission(snap, t)
                })?;
                api::unit_response(&result, rid)
            }
            ManagementRequest::SetStatus {
                device,
                auth_set,
                status,
            } => {
                let result = store.run(SnapshotKey::Device(device), ATTEMPTS, |snap| {
                    admission::set_status(&self.policy, snap, auth_set, status, t)
                })?;
                if result.is_ok() {
                    tracing::info!(%device, %auth_set, %status, "auth set status changed");
                }
                api::unit_response(&result, rid)
            }
            ManagementRequest::GetStatus { device, auth_set } => match store.device(device)? {
                None => ::devauth::Error::NotFound("device").to_response(rid),
                Some(rec) => match rec.auth_set(auth_set) {
                    Some(s) => api::status_response(s.status),
                    None => ::devauth::Error::NotFound("auth set").to_response(rid),
                },
            },
            ManagementRequest::DeleteAuthSet { device, auth_set } => {
                let result = store.run(SnapshotKey::Device(device), ATTEMPTS, |snap| {
                    admission::delete_auth_set(snap, auth_set, t)
                })?;
                api::unit_response(&result, rid)
            }
            ManagementRequest::Count(status) => {
                let n = store
                    .devices()?
                    .iter()
                    .filter(|r| status.is_none_or(|s| r.status() == s))
                    .count();
                api::count_response(n as u64)
            }
            ManagementRequest::RevokeToken(jti) => {
                let d = admission::revoke_token(&jti, t);
                store.apply(&d.changes)?;
                api::unit_response(&d.answer, rid)
            }
            ManagementRequest::MaxDevices => api::limit_response(self.policy.max_devices),
            _ => ::devauth::Error::NotFound("route").to_response(rid),
        };
        Ok(from_devauth(r))
    }
}

fn to_devauth(req: &Request<Bytes>) -> ::devauth::http::Request<Vec<u8>> {
    let mut out = ::devauth::http::Request::new(req.body().to_vec());
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = req.uri().clone();
    *out.headers_mut() = req.headers().clone();
    out
}

fn from_devauth(resp: ::devauth::http::Response<Vec<u8>>) -> Response<Body> {
    resp.map(|b| Full::new(Bytes::from(b)))
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn json_error(status: StatusCode, msg: &str, rid: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": msg, "request_id": rid }),
    )
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = from_devauth(::devauth::Error::MethodNotAllowed.to_response(&request_id()));
    r.headers_mut()
        .insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
    r
}

fn store_failure(e: &StoreError, rid: &str) -> Response<Body> {
    match e {
        StoreError::Stale(_) => {
            tracing::warn!(request_id = rid, error = %e, "decision kept going stale; giving up");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many concurrent changes to this device; retry",
                rid,
            )
        }
        _ => {
            tracing::error!(request_id = rid, error = %e, "device-auth store failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", rid)
        }
    }
}
