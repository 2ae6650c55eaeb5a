//! Automated Device Enrollment (ADE): the server token, the background device sync, the
//! admin API over it, and the enrollment gate.
//!
//! ```text
//! admitd ade keypair ──▶ DATA/ade/server.key (RSA-2048, 0600) + server.pem ──▶ upload to ABM
//! admitd ade token import FILE.p7m [--name N]
//!        ServerToken::decrypt(server.key) ──▶ Sealer::seal ──▶ ade_tokens (secrets sealed)
//! server start ──▶ one task per token (sync::round every sync_interval_s, or on demand):
//!        GET /account (once) ─▶ POST /profile (when the [ade.profile] changed)
//!        ─▶ fetch / sync pages ─▶ devices + cursor in one transaction (compare-and-set)
//!        ─▶ POST /profile/devices for devices without a profile (throttled ones retried)
//! GET  /api/v1/ade/tokens              tokens with their sync status       (admin, HTTPS)
//! POST /api/v1/ade/tokens/{name}/sync  run a round now (202)
//! GET  /api/v1/ade/devices             ?serial= &profile_status= &token= &limit= &offset=
//! GET|POST /mdm/enroll/ade             the gate (gate.rs), then the enrollment profile
//! ```
//!
//! Settings: the `[ade]` table of the config file.
//!
//! ```toml
//! [ade]
//! url = "https://mdmenrollment.apple.com"   # Apple's service (tests: a scripted server)
//! sync_interval_s = 3600                    # between rounds of each token
//! page_limit = 1000                         # devices per page asked for (Apple caps it)
//! tls_roots = "/etc/ssl/certs/ca-certificates.crt"  # trust anchors for an https url
//! device_ca = "/etc/admit/apple-device-ca.pem"      # who signs MachineInfo (required for the gate)
//! allow_legacy_device_ca = false            # accept SHA-1 / RSA-1024 (Apple's device CA needs it)
//! known_devices_only = true                 # the gate admits only devices the sync lists
//! [ade.profile]                             # Apple's profile keys, as POST /profile takes them
//! profile_name = "admit"
//! url = "https://mdm.example.com/mdm/enroll/ade"
//! is_supervised = true
//! ```

pub mod client;
pub mod enroll;
pub mod gate;
pub mod postgres;
pub mod store;
pub mod sync;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use pki::cert::Cert;
use pki::cert::issue::{Template, issue};
use pki::key::KeySpec;
use pki::provider::CryptoProvider;
use serde::Deserialize;
use serde_json::json;

use crate::admin;
use crate::data_dir;
use crate::server::{AppState, Body, Listener};
use gate::{AdeEnrollment, AnyDevice, Either, Gate, KnownDevices, Refusal, SerialList, Synced};
use store::{AdeStore, DeviceFilter, StoreError, TokenRecord};

/// The User-Agent sent to Apple.
pub const USER_AGENT: &str = concat!("admitd/", env!("CARGO_PKG_VERSION"));

/// Everything that can go wrong in the ADE commands and service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file in the data directory could not be read or written.
    #[error(transparent)]
    DataDir(#[from] data_dir::Error),
    /// The server token could not be read or decrypted (wrong key, damaged file).
    #[error(transparent)]
    Token(#[from] ade_client::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database could not be opened.
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
    /// `ade/server.key` is missing: run `admitd ade keypair` first.
    #[error("{0} is missing: run `admitd ade keypair` and upload ade/server.pem first")]
    NoKeyPair(PathBuf),
    /// A setting is unusable.
    #[error("setting ade.{name}: {reason}")]
    Setting {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// The configured ADE profile: Apple's `POST /profile` keys, kept as canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileConfig(String);

impl ProfileConfig {
    /// The profile to define.
    pub fn profile(&self) -> ade_client::model::Profile {
        serde_json::from_str(&self.0).unwrap_or_default()
    }

    /// SHA-256 (hex) of the JSON: a changed profile is defined again.
    pub fn hash(&self) -> String {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(self.0.as_bytes()))
    }
}

impl<'de> Deserialize<'de> for ProfileConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = ade_client::model::Profile::deserialize(d)?;
        serde_json::to_string(&p)
            .map(ProfileConfig)
            .map_err(serde::de::Error::custom)
    }
}

/// The `[ade]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Apple's ADE service (default production); tests point it at a scripted server.
    pub url: String,
    /// Seconds between sync rounds of a token (at least 1).
    pub sync_interval_s: u64,
    /// Page size asked for (Apple's `/account` limit caps it).
    pub page_limit: Option<u32>,
    /// The profile new devices get; none: devices are synced, never assigned.
    pub profile: Option<ProfileConfig>,
    /// PEM bundle of TLS trust anchors for an `https` url.
    pub tls_roots: PathBuf,
    /// PEM of the CA that signs devices' MachineInfo; without it the gate refuses everyone.
    pub device_ca: Option<PathBuf>,
    /// Accept SHA-1 signatures and 1024-bit RSA in MachineInfo (Apple's own device CA).
    pub allow_legacy_device_ca: bool,
    /// The gate admits only devices the ADE sync (or the caller's list) knows.
    pub known_devices_only: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            url: ade_client::session::APPLE_BASE_URL.to_owned(),
            sync_interval_s: 3600,
            page_limit: None,
            profile: None,
            tls_roots: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            device_ca: None,
            allow_legacy_device_ca: false,
            known_devices_only: true,
        }
    }
}

impl Settings {
    /// Refuse settings that cannot work.
    pub fn check(&self) -> Result<(), crate::config::Error> {
        let invalid = |name, reason: String| crate::config::Error::Invalid { name, reason };
        self.client_config()
            .map_err(|e| invalid("ade.url", e.to_string()))?;
        if self.sync_interval_s == 0 {
            return Err(invalid("ade.sync_interval_s", "must be above zero".into()));
        }
        if self.page_limit == Some(0) {
            return Err(invalid("ade.page_limit", "must be above zero".into()));
        }
        if let Some(p) = &self.profile
            && p.profile().url.as_deref().is_none_or(str::is_empty)
        {
            return Err(invalid(
                "ade.profile",
                "needs `url`, the enrollment URL devices fetch their profile from".into(),
            ));
        }
        Ok(())
    }

    /// The `ade-client` configuration for [`Settings::url`].
    pub fn client_config(&self) -> Result<ade_client::Config, ade_client::Error> {
        ade_client::Config::new(USER_AGENT)?.with_base_url(&self.url)
    }

    /// The time between rounds.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.sync_interval_s.max(1))
    }
}

/// The ADE service of a running server: store, settings, gate, and the sync tasks' triggers.
pub struct Service {
    store: Arc<dyn AdeStore>,
    settings: Settings,
    gate: Option<Gate>,
    transport: client::Transport,
    wake: tokio::sync::Notify,
    triggers: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
}

impl core::fmt::Debug for Service {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Service")
            .field("store", &self.store)
            .field("settings", &self.settings)
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Set up from the settings: reads the device CA and, for an `https` url, the TLS roots.
    pub fn open(
        settings: &Settings,
        store: Arc<dyn AdeStore>,
        provider: &'static dyn CryptoProvider,
    ) -> Result<Service, Error> {
        let gate = match &settings.device_ca {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| data_dir::Error::Io {
                    path: path.clone(),
                    source,
                })?;
                let anchors = Cert::from_pem_chain(&pem).map_err(|e| Error::Setting {
                    name: "device_ca",
                    reason: format!("{}: {e}", path.display()),
                })?;
                if anchors.is_empty() {
                    return Err(Error::Setting {
                        name: "device_ca",
                        reason: format!("{}: no certificate", path.display()),
                    });
                }
                let policy = if settings.allow_legacy_device_ca {
                    pki::verify::Policy::allowing_sha1().with_min_rsa_bits(1024)
                } else {
                    pki::verify::Policy::default()
                };
                Some(Gate::new(anchors, policy, provider))
            }
        };
        // Roots that cannot be read stop only the sync (each round reports why), not the
        // server: most servers never import an ADE token.
        let transport = if settings.url.starts_with("https://") {
            client::Transport::with_roots(&settings.tls_roots).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "ADE: no TLS roots; syncing with Apple will fail");
                client::Transport::without_tls(format!("ade.tls_roots: {e}"))
            })
        } else {
            client::Transport::plain()
        };
        Ok(Service {
            store,
            settings: settings.clone(),
            gate,
            transport,
            wake: tokio::sync::Notify::new(),
            triggers: Mutex::new(HashMap::new()),
        })
    }

    /// The records.
    pub fn store(&self) -> &Arc<dyn AdeStore> {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The sender to Apple.
    pub fn transport(&self) -> &client::Transport {
        &self.transport
    }

    /// The ADE enrollment gate, for the enrollment URL (`/mdm/enroll/ade`).
    ///
    /// Verifies the `x-apple-aspen-deviceinfo` header (or, without it, a SignedData body)
    /// against `ade.device_ca`, then admits the device if the ADE sync lists its serial number
    /// or `extra_known` holds it (the inventory's device list; pass `&[]` for none). With
    /// `ade.known_devices_only = false` any device with a valid MachineInfo passes.
    ///
    /// `Ok` carries the verified serial, UDID and model; `Err` is a [`Refusal`] whose
    /// [`Refusal::response`] is the answer to send (403 with the reason; 500 if our database
    /// failed). Runs on the blocking pool (it reads the database).
    pub fn check_enrollment(
        &self,
        headers: &hyper::HeaderMap,
        body: &[u8],
        extra_known: &[String],
        now: SystemTime,
    ) -> Result<AdeEnrollment, Refusal> {
        let gate = self.gate.as_ref().ok_or(Refusal::NotConfigured)?;
        let synced = Either(Synced(&*self.store), SerialList(extra_known));
        let known: &dyn KnownDevices = if self.settings.known_devices_only {
            &synced
        } else {
            &AnyDevice
        };
        gate.check(headers, body, known, now)
    }

    /// What ADE says about a serial number, for device records (`null` when the sync never
    /// listed it): the ADE device row (profile status, profile UUID, op type and date, our
    /// assignment state, first and last seen).
    pub fn status_json(&self, serial: &str) -> Result<serde_json::Value, StoreError> {
        let found = self.store.devices(&DeviceFilter {
            serial: Some(serial.to_owned()),
            ..DeviceFilter::default()
        })?;
        Ok(found
            .into_iter()
            .next()
            .map_or(serde_json::Value::Null, |d| json!(d)))
    }

    /// Run a round of `name` now (or right after the one in progress).
    pub fn trigger(&self, name: &str) {
        let t = self.triggers.lock().unwrap_or_else(|p| p.into_inner());
        match t.get(name) {
            Some(n) => n.notify_one(),
            None => self.wake.notify_one(),
        }
    }

    /// Answer an ADE admin request; `None` when the path is not ADE's.
    pub fn handle(
        &self,
        admin: &admin::Admin,
        listener: Listener,
        req: &Request<Bytes>,
    ) -> Option<Response<Body>> {
        let path = req.uri().path();
        let rest = path.strip_prefix("/api/v1/ade/")?;
        if let Err(r) = admin.authorize(listener, req) {
            return Some(r);
        }
        let resp = match (req.method(), rest) {
            (&Method::GET, "tokens") => self.list_tokens(),
            (&Method::GET, "devices") => self.list_devices(req.uri().query().unwrap_or("")),
            (m, r) if r.starts_with("tokens/") && r.ends_with("/sync") => {
                let name = &r["tokens/".len()..r.len() - "/sync".len()];
                if m != Method::POST {
                    admin::error(StatusCode::METHOD_NOT_ALLOWED, "use POST")
                } else {
                    self.sync_now(&percent_decode(name))
                }
            }
            (_, "tokens" | "devices") => admin::error(StatusCode::METHOD_NOT_ALLOWED, "use GET"),
            _ => admin::error(StatusCode::NOT_FOUND, "no such ADE resource"),
        };
        Some(resp)
    }

    fn list_tokens(&self) -> Response<Body> {
        let now = unix_now();
        let read = || -> Result<Vec<serde_json::Value>, StoreError> {
            let mut out = Vec::new();
            for t in self.store.tokens()? {
                let s = self.store.sync_state(&t.name)?;
                out.push(json!({
                    "name": t.name,
                    "consumer_key": t.consumer_key,
                    "server_name": t.server_name,
                    "access_token_expiry": t.access_token_expiry,
                    "expired": t.expires_at.is_some_and(|e| e <= now),
                    "imported_at": t.imported_at,
                    "sync": {
                        "mode": store::mode_str(s.checkpoint.mode),
                        "has_cursor": s.checkpoint.cursor.is_some(),
                        "cursor_at": s.checkpoint.cursor_at,
                        "last_fetch_at": s.last_fetch_at,
                        "last_sync_at": s.last_sync_at,
                        "session_cached": s.session_sealed.is_some(),
                        "profile_uuid": s.profile_uuid,
                        "last_error": s.last_error,
                        "last_error_at": s.last_error_at,
                        "rounds": s.rounds,
                    },
                }));
            }
            Ok(out)
        };
        match read() {
            Ok(tokens) => admin::json(StatusCode::OK, &json!({ "tokens": tokens })),
            Err(e) => internal(&e),
        }
    }

    fn list_devices(&self, query: &str) -> Response<Body> {
        let mut f = DeviceFilter::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            let number = |v: &str| v.parse::<u32>().ok();
            let not_a_number = || {
                admin::error(
                    StatusCode::BAD_REQUEST,
                    &format!("{k} must be a non-negative integer"),
                )
            };
            match k {
                "serial" => f.serial = Some(v),
                "profile_status" => f.profile_status = Some(v),
                "token" => f.token = Some(v),
                "limit" => match number(&v) {
                    Some(n) => f.limit = Some(n),
                    None => return not_a_number(),
                },
                "offset" => match number(&v) {
                    Some(n) => f.offset = Some(n),
                    None => return not_a_number(),
                },
                other => {
                    return admin::error(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "unknown filter {other:?} (serial, profile_status, token, limit, offset)"
                        ),
                    );
                }
            }
        }
        match self.store.devices(&f) {
            Ok(d) => admin::json(StatusCode::OK, &json!({ "devices": d })),
            Err(e) => internal(&e),
        }
    }

    fn sync_now(&self, name: &str) -> Response<Body> {
        match self.store.token(name) {
            Ok(Some(_)) => {
                self.trigger(name);
                admin::json(
                    StatusCode::ACCEPTED,
                    &json!({ "token": name, "status": "queued" }),
                )
            }
            Ok(None) => admin::error(
                StatusCode::NOT_FOUND,
                &format!("no ADE token named {name:?}; import one with `admitd ade token import`"),
            ),
            Err(e) => internal(&e),
        }
    }
}

fn internal(e: &StoreError) -> Response<Body> {
    tracing::error!(error = %e, "ADE store failed");
    admin::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Start the sync: one task per token, started for every token in the store (tokens
/// imported while running are picked up within [`TOKEN_SCAN`], or at once on a sync request).
pub fn spawn_sync(state: Arc<AppState>) {
    tokio::spawn(supervise(state));
}

/// How often the token list is read again.
pub const TOKEN_SCAN: Duration = Duration::from_secs(30);

async fn supervise(state: Arc<AppState>) {
    loop {
        let store = state.ade.store.clone();
        match tokio::task::spawn_blocking(move || store.tokens()).await {
            Ok(Ok(tokens)) => {
                let mut t = state.ade.triggers.lock().unwrap_or_else(|p| p.into_inner());
                for token in tokens {
                    if t.contains_key(&token.name) {
                        continue;
                    }
                    let notify = Arc::new(tokio::sync::Notify::new());
                    t.insert(token.name.clone(), notify.clone());
                    tokio::spawn(token_loop(state.clone(), token.name, notify));
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "ADE: reading the tokens failed"),
            Err(e) => tracing::error!(error = %e, "ADE: reading the tokens panicked"),
        }
        tokio::select! {
            () = state.ade.wake.notified() => {}
            () = tokio::time::sleep(TOKEN_SCAN) => {}
        }
    }
}

async fn token_loop(state: Arc<AppState>, name: String, notify: Arc<tokio::sync::Notify>) {
    let interval = state.ade.settings.interval();
    loop {
        let wait = match sync::round(&state.ade, &state.sealer, &name).await {
            Ok(done) => {
                tracing::info!(token = %name, stored = done.devices, assigned = done.assigned, "ADE sync round done");
                done.retry_in.map_or(interval, |r| r.min(interval))
            }
            Err(e) => {
                tracing::warn!(token = %name, error = %e, "ADE sync round failed");
                e.retry_after()
                    .map_or(interval, |r| r.max(Duration::from_secs(1)))
            }
        };
        tokio::select! {
            () = notify.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Where the ADE key pair lives in a data directory.
pub fn key_path(data: &Path) -> PathBuf {
    data.join("ade").join("server.key")
}

/// Where the certificate to upload to Apple Business Manager lives in a data directory.
pub fn cert_path(data: &Path) -> PathBuf {
    data.join("ade").join("server.pem")
}

/// `admitd ade keypair`: make the RSA-2048 key (`ade/server.key`, 0600) and a self-signed
/// certificate for it (`ade/server.pem`) to upload to Apple Business Manager, which encrypts
/// the server token to it. An existing pair is kept (replacing it would strand the token
/// already issued for it); returns the certificate path and whether it was created now.
pub fn keypair(
    data: &Path,
    provider: &'static dyn CryptoProvider,
) -> Result<(PathBuf, bool), Error> {
    let (key_file, cert_file) = (key_path(data), cert_path(data));
    if key_file.exists() && cert_file.exists() {
        return Ok((cert_file, false));
    }
    data_dir::create_dir(data)?;
    data_dir::create_dir(&data.join("ade"))?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let pki_err = |what| move |source| data_dir::Error::Pki { what, source };
    let key = provider
        .generate_key(KeySpec::Rsa(2048), &mut rng)
        .map_err(pki_err("generating the ADE key"))?;
    let now = SystemTime::now();
    let subject = <pki::x509_cert::name::Name as std::str::FromStr>::from_str(
        "CN=admitd ADE server token key",
    )
    .map_err(|e| data_dir::Error::Pki {
        what: "building a name",
        source: pki::Error::malformed("Name", e),
    })?;
    let template = Template::end_entity(
        now - Duration::from_secs(3600),
        now + Duration::from_secs(10 * 365 * 24 * 3600),
    )
    .with_subject(subject)
    .with_key_usage(Some(pki::x509_cert::ext::pkix::KeyUsage(
        pki::x509_cert::ext::pkix::KeyUsages::KeyEncipherment
            | pki::x509_cert::ext::pkix::KeyUsages::DigitalSignature,
    )));
    let cert = issue(provider, &*key, None, key.spki(), &template, &mut rng)
        .map_err(pki_err("issuing the ADE certificate"))?;
    data_dir::write_key(&key_file, &*key)?;
    // Written last: its presence marks a complete pair.
    data_dir::write_file(&cert_file, data_dir::certs_pem(&[&cert])?.as_bytes(), 0o644)?;
    Ok((cert_file, true))
}

/// The store an offline command writes to: the data directory's SQLite database, or
/// PostgreSQL.
pub fn open_store(data: &Path, database: Option<&str>) -> Result<Arc<dyn AdeStore>, Error> {
    Ok(match database {
        Some(url) => Arc::new(postgres::PgAde::new(Arc::new(
            crate::scep::postgres::PgStore::open(url, 2)?,
        ))),
        None => {
            data_dir::create_dir(data)?;
            Arc::new(crate::storage::Storage::open(&crate::scep::database_path(
                data,
            ))?)
        }
    })
}

/// `admitd ade token import`: decrypt the server token `p7m` with the data directory's ADE
/// key and store it as `name`, its secrets sealed with the data directory's key. Returns what
/// was stored (no secret in it).
pub fn import_token(
    data: &Path,
    store: &dyn AdeStore,
    p7m: &[u8],
    name: &str,
    provider: &'static dyn CryptoProvider,
) -> Result<TokenRecord, Error> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(Error::Setting {
            name: "token name",
            reason: "use 1 to 64 letters, digits, '-', '_' or '.'".into(),
        });
    }
    let key_file = key_path(data);
    if !key_file.exists() {
        return Err(Error::NoKeyPair(key_file));
    }
    let (key, _) = data_dir::read_key(&key_file, provider)?;
    let cert = data_dir::read_certs(&cert_path(data))?
        .into_iter()
        .next()
        .ok_or_else(|| Error::NoKeyPair(cert_path(data)))?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let token = ade_client::ServerToken::decrypt(p7m, provider, &*key, Some(&cert), &mut rng)?;
    let sealer = crate::secrets::Sealer::open_or_create(data)?;
    let record = TokenRecord {
        name: name.to_owned(),
        consumer_key: token.consumer_key.clone(),
        sealed: sealer.seal(&store::token_aad(name), token_json(&token).as_bytes()),
        access_token_expiry: token.access_token_expiry.clone(),
        expires_at: token.expires_at(),
        server_name: None,
        imported_at: unix_now(),
    };
    store.put_token(&record)?;
    Ok(record)
}

/// The token as the JSON `ServerToken::from_json` reads (what is sealed).
fn token_json(t: &ade_client::ServerToken) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(
        json!({
            "consumer_key": t.consumer_key,
            "consumer_secret": t.consumer_secret.expose(),
            "access_token": t.access_token.expose(),
            "access_secret": t.access_secret.expose(),
            "access_token_expiry": t.access_token_expiry,
        })
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<Settings, String> {
        #[derive(Deserialize)]
        struct File {
            ade: Settings,
        }
        toml::from_str::<File>(toml_text)
            .map(|f| f.ade)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn settings_are_checked() {
        let s = parse("[ade]\nurl = \"http://127.0.0.1:9\"\n[ade.profile]\nprofile_name = \"p\"\nurl = \"https://mdm/enroll\"\nis_supervised = true\n").unwrap();
        s.check().unwrap();
        assert_eq!(s.sync_interval_s, 3600);
        assert!(s.known_devices_only);
        let p = s.profile.as_ref().unwrap();
        assert_eq!(p.profile().is_supervised, Some(true));
        // The hash follows the content.
        let other =
            parse("[ade.profile]\nprofile_name = \"q\"\nurl = \"https://mdm/enroll\"\n").unwrap();
        assert_ne!(p.hash(), other.profile.unwrap().hash());
        for (bad, name) in [
            ("[ade]\nurl = \"ftp://x\"\n", "ade.url"),
            ("[ade]\nsync_interval_s = 0\n", "ade.sync_interval_s"),
            ("[ade]\npage_limit = 0\n", "ade.page_limit"),
            ("[ade.profile]\nprofile_name = \"no url\"\n", "ade.profile"),
        ] {
            let s = parse(bad).unwrap();
            assert!(
                matches!(s.check(), Err(crate::config::Error::Invalid { name: n, .. }) if n == name),
                "{bad}"
            );
        }
        assert!(parse("[ade]\nsync_interval = 5\n").is_err());
    }
}
