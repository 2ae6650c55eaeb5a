//! Settings: command-line flags, an optional TOML file, and the defaults.
//!
//! A flag beats the file, and the file beats the default. The file is TOML with the same names
//! as the flags (dashes become underscores), limits in their own table:
//!
//! ```toml
//! data_dir = "/var/lib/admit"
//! http = "0.0.0.0:8080"
//! https = "0.0.0.0:8443"
//! crypto_provider = "aws-lc"
//! ca_key_type = "ecdsa"
//! log = "info"
//! tls_names = ["mdm.example.com", "10.0.0.5"]  # the HTTPS certificate's names (default:
//!                                              # localhost, 127.0.0.1)
//! tls_cert_validity_s = 34300800     # its lifetime; renewed while running before it ends
//! database = "postgres://admit@db.example/admit"   # default: SQLite in the data directory
//! scep_challenge = "a shared secret"   # absent: one-time challenges (`admitd scep challenge`)
//! scep_cert_validity_s = 31536000      # lifetime of certificates issued over SCEP
//! scep_renewal_window_s = 1209600      # renewal without a challenge in the last 14 days; 0 = any time
//! scep_manual_approval = false         # true: new enrollments wait for `admitd scep approve`
//! scep_crl_url = "http://ca.example/crl/device.crl"  # default: http://<HTTP listener>/crl/device.crl
//! ddm_token_mode = "content"  # DDM ServerTokens from content; "kmfddm": as uploaded, KMFDDM's tokens
//!
//! [limits]
//! max_body_bytes = 1048576
//! max_header_bytes = 16384
//! request_timeout_ms = 30000
//! drain_timeout_ms = 10000
//! max_connections = 4096           # also capped by the open-file limit (ulimit -n)
//! first_request_timeout_ms = 10000 # from accept (TLS handshake included) to a first request
//! idle_timeout_ms = 60000          # between requests on a kept-alive connection
//!
//! [devauth]
//! max_devices = 100
//! jwt_key_type = "ed25519"
//! token_lifetime_s = 604800
//! admin_token = "a long random string"
//! allow_plain_http = false            # device requests on the HTTP listener too
//! tenant_key = "/etc/admit/tenant.pub.pem"  # absent: no tenants, tenant tokens ignored
//!
//! [inventory]
//! approve_self_enrolled = false       # true: self-enrolled devices need no approval
//! idp_self_enrollment = false         # true: accept identity-provider self-enrollment
//! deactivation = "suspend"            # or "keep": device access of an inactive owner
//! high_assurance_for = ["device_auth_token"]  # purposes that need an attested device
//! org = "admit"                       # import bodies name the owner as "<org>:identity"
//! scim_token = "a long random string" # absent: generated into DATA/scim-token
//!
//! [mdm]
//! apns = "production"                 # or "sandbox", or "https://host:port" (a test endpoint)
//! apns_ca_file = "/etc/admit/apns-ca.pem"  # trust for the APNs endpoint (default: the system's)
//! apns_max_attempts = 5               # per push: 429, 5xx and no answer are retried
//! apns_retry_base_ms = 1000           # first wait; doubled per attempt, at most 5 minutes
//! apns_timeout_ms = 30000             # one attempt, connecting included
//! webhook_urls = ["https://hooks.example/mdm"]  # every check-in and report, as JSON
//! webhook_ca_file = "/etc/admit/hooks-ca.pem"   # trust for https:// receivers (default: the system's)
//! webhook_retry_base_ms = 1000        # first wait after a failure; doubled, at most 5 minutes
//! webhook_timeout_ms = 10000          # one POST, connecting included
//! [ade]                               # see crate::ade for every key
//! url = "https://mdmenrollment.apple.com"
//! sync_interval_s = 3600
//! device_ca = "/etc/admit/device-ca.pem"
//! [ade.profile]
//! profile_name = "admit"
//! url = "https://mdm.example.com/mdm/enroll/ade"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// What went wrong while assembling the settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown or mistyped keys.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser reported.
        message: String,
    },
    /// A value is out of range.
    #[error("setting {name}: {reason}")]
    Invalid {
        /// The setting's name.
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },
}

/// A PostgreSQL URL. `Debug` shows it with any password replaced, so settings can be logged.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct DatabaseUrl(String);

impl From<String> for DatabaseUrl {
    fn from(s: String) -> Self {
        DatabaseUrl(s)
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(s.to_owned()))
    }
}

impl DatabaseUrl {
    /// The URL, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with the password of its userinfo (`user:password@`) replaced by `***`.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some((scheme, rest)) = url.split_once("://") else {
            return "***".into();
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (path, query) = tail.split_at(tail.find('?').unwrap_or(tail.len()));
        let query = if query.contains("password=") {
            "?***"
        } else {
            query
        };
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                format!("{user}:***@{host}")
            }
            None => authority.to_owned(),
        };
        format!("{scheme}://{authority}{path}{query}")
    }
}

impl core::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The key type of a newly created CA (root and issuing intermediate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CaKeyType {
    /// ECDSA on P-256 (the default).
    Ecdsa,
    /// RSA-2048, for SCEP clients that need an RSA CA to encrypt to.
    Rsa,
}

/// How DDM makes its tokens (`ddm::TokenMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DdmTokenMode {
    /// ServerTokens from each declaration's content; re-uploading the same content changes
    /// nothing (the default).
    #[default]
    Content,
    /// KMFDDM-compatible: a ServerToken in the uploaded declaration is kept, and the
    /// DeclarationsToken is KMFDDM's (for servers migrating from KMFDDM).
    Kmfddm,
}

impl DdmTokenMode {
    /// The `ddm` crate's mode.
    pub fn to_ddm(self) -> ddm::TokenMode {
        match self {
            DdmTokenMode::Content => ddm::TokenMode::Content,
            DdmTokenMode::Kmfddm => ddm::TokenMode::Kmfddm,
        }
    }
}

/// Server settings as the command line gives them; `None` means "not given".
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Flags {
    /// TOML config file; flags override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (CA, TLS certificate, database); created on first start.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Plain HTTP listener (SCEP clients, health checks).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// HTTPS listener (everything else).
    #[arg(long, value_name = "ADDR")]
    pub https: Option<SocketAddr>,
    /// Crypto provider for CA keys and signatures (`aws-lc` or `rustcrypto`).
    #[arg(long, value_name = "NAME")]
    pub crypto_provider: Option<String>,
    /// Key type of a CA created on first start; ignored once the CA exists.
    #[arg(long, value_enum)]
    pub ca_key_type: Option<CaKeyType>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL")]
    pub log: Option<String>,
    /// A DNS name or IP address for the HTTPS certificate (repeat for several; replaces the
    /// default localhost and 127.0.0.1). A certificate without exactly these is reissued.
    #[arg(long = "tls-name", value_name = "NAME")]
    pub tls_names: Vec<String>,
    /// Lifetime of the HTTPS certificate in seconds (default 397 days); it is renewed while
    /// running when a third of that, or 30 days, is left.
    #[arg(long, value_name = "SECONDS")]
    pub tls_cert_validity_s: Option<u64>,
    /// Largest request body accepted, in bytes (larger gets 413).
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest request head accepted, in bytes (larger gets 431); at least 8192.
    #[arg(long, value_name = "BYTES")]
    pub max_header_bytes: Option<usize>,
    /// Time allowed to read a request and answer it, in milliseconds (over it: 408).
    #[arg(long, value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// Time allowed for in-flight requests to finish after SIGTERM or Ctrl-C, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub drain_timeout_ms: Option<u64>,
    /// Most connections open at once (also capped by the open-file limit).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Time from accept (TLS handshake included) to the first request, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub first_request_timeout_ms: Option<u64>,
    /// Time a connection may stay open with no request in flight, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Device auth: most devices accepted at once (default: no limit).
    #[arg(long, value_name = "N")]
    pub devauth_max_devices: Option<u64>,
    /// Device auth: key type of a token signing key created on first start.
    #[arg(long, value_enum)]
    pub devauth_jwt_key_type: Option<crate::devauth::JwtKeyType>,
    /// Device auth: token lifetime in seconds (default one week).
    #[arg(long, value_name = "SECONDS")]
    pub devauth_token_lifetime_s: Option<u64>,
    /// Device auth: also serve auth requests and token checks on the plain HTTP listener
    /// (device keys and tokens then cross the network unencrypted).
    #[arg(long)]
    pub devauth_allow_plain_http: bool,
    /// Device auth: the tenant service's PEM public key; only tenant tokens it signed set a
    /// device token's tenant.
    #[arg(long, value_name = "FILE")]
    pub devauth_tenant_key: Option<PathBuf>,
    /// SCEP static challenge password shared by every client; without it, each client needs a
    /// one-time challenge from `admitd scep challenge`. Prefer the config file (flags show in
    /// process listings).
    #[arg(long, value_name = "SECRET")]
    pub scep_challenge: Option<crate::scep::StaticSecret>,
    /// SCEP: lifetime of issued certificates in seconds (default one year).
    #[arg(long, value_name = "SECONDS")]
    pub scep_cert_validity_s: Option<u64>,
    /// SCEP: a certificate renews without a challenge only in the last this-many seconds of its
    /// validity (default 14 days; 0 = any time).
    #[arg(long, value_name = "SECONDS")]
    pub scep_renewal_window_s: Option<u64>,
    /// SCEP: hold new enrollments as PENDING until `admitd scep approve` (or `reject`).
    #[arg(long)]
    pub scep_manual_approval: bool,
    /// SCEP: the CRL distribution point written into issued certificates (default: the HTTP
    /// listener's address and `/crl/device.crl`).
    #[arg(long, value_name = "URL")]
    pub scep_crl_url: Option<String>,
    /// PostgreSQL for SCEP's and device auth's records (`postgres://user@host:port/db`), so
    /// several admitd processes can share them; default: SQLite in the data directory.
    #[arg(long, value_name = "URL")]
    pub database: Option<DatabaseUrl>,
    /// DDM: how ServerTokens and DeclarationsTokens are made (default `content`).
    #[arg(long, value_enum)]
    pub ddm_token_mode: Option<DdmTokenMode>,
}

/// The config file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    data_dir: Option<PathBuf>,
    http: Option<SocketAddr>,
    https: Option<SocketAddr>,
    crypto_provider: Option<String>,
    ca_key_type: Option<CaKeyType>,
    log: Option<String>,
    tls_names: Option<Vec<String>>,
    tls_cert_validity_s: Option<u64>,
    scep_challenge: Option<crate::scep::StaticSecret>,
    scep_cert_validity_s: Option<u64>,
    scep_renewal_window_s: Option<u64>,
    scep_manual_approval: Option<bool>,
    scep_crl_url: Option<String>,
    database: Option<DatabaseUrl>,
    ddm_token_mode: Option<DdmTokenMode>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    devauth: crate::devauth::FileSettings,
    #[serde(default)]
    inventory: crate::inventory::Settings,
    #[serde(default)]
    mdm: FileMdm,
    #[serde(default)]
    ade: crate::ade::Settings,
}

/// The `[mdm]` table: the core's keys (`crate::mdm::Settings`, which refuses unknown ones),
/// and the APNs and webhook keys ([`FileMdmExt`]).
#[derive(Debug, Default)]
struct FileMdm {
    core: crate::mdm::Settings,
    ext: FileMdmExt,
}

/// The APNs and webhook keys of the `[mdm]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMdmExt {
    // APNs: `crate::mdm::push::PushSettings`.
    apns: Option<String>,
    apns_ca_file: Option<PathBuf>,
    apns_max_attempts: Option<u32>,
    apns_retry_base_ms: Option<u64>,
    apns_timeout_ms: Option<u64>,
    // Webhooks: `crate::mdm::webhook::WebhookSettings`.
    webhook_urls: Option<Vec<String>>,
    webhook_ca_file: Option<PathBuf>,
    webhook_retry_base_ms: Option<u64>,
    webhook_timeout_ms: Option<u64>,
}

impl FileMdmExt {
    const KEYS: &[&str] = &[
        "apns",
        "apns_ca_file",
        "apns_max_attempts",
        "apns_retry_base_ms",
        "apns_timeout_ms",
        "webhook_urls",
        "webhook_ca_file",
        "webhook_retry_base_ms",
        "webhook_timeout_ms",
    ];
}

impl<'de> Deserialize<'de> for FileMdm {
    /// Split the table: the APNs and webhook keys to [`FileMdmExt`], the rest to the core's
    /// settings (so a misspelt key is still refused).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut core = toml::Table::deserialize(d)?;
        let mut ext = toml::Table::new();
        for k in FileMdmExt::KEYS {
            if let Some(v) = core.remove(*k) {
                ext.insert((*k).to_owned(), v);
            }
        }
        Ok(FileMdm {
            core: crate::mdm::Settings::deserialize(toml::Value::Table(core))
                .map_err(D::Error::custom)?,
            ext: FileMdmExt::deserialize(toml::Value::Table(ext)).map_err(D::Error::custom)?,
        })
    }
}

impl FileMdmExt {
    fn push(&self) -> Result<crate::mdm::push::PushSettings, Error> {
        let d = crate::mdm::push::PushSettings::default();
        Ok(crate::mdm::push::PushSettings {
            endpoint: match &self.apns {
                Some(s) => {
                    crate::mdm::push::ApnsEndpoint::parse(s).map_err(|reason| Error::Invalid {
                        name: "mdm.apns",
                        reason,
                    })?
                }
                None => d.endpoint,
            },
            ca_file: self.apns_ca_file.clone(),
            max_attempts: self.apns_max_attempts.unwrap_or(d.max_attempts),
            retry_base: self
                .apns_retry_base_ms
                .map_or(d.retry_base, Duration::from_millis),
            timeout: self
                .apns_timeout_ms
                .map_or(d.timeout, Duration::from_millis),
        })
    }

    fn webhooks(&self) -> crate::mdm::webhook::WebhookSettings {
        let d = crate::mdm::webhook::WebhookSettings::default();
        crate::mdm::webhook::WebhookSettings {
            urls: self.webhook_urls.clone().unwrap_or(d.urls),
            ca_file: self.webhook_ca_file.clone(),
            retry_base: self
                .webhook_retry_base_ms
                .map_or(d.retry_base, Duration::from_millis),
            timeout: self
                .webhook_timeout_ms
                .map_or(d.timeout, Duration::from_millis),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_body_bytes: Option<usize>,
    max_header_bytes: Option<usize>,
    request_timeout_ms: Option<u64>,
    drain_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    first_request_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
}

/// Limits applied to every connection and request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Largest request head in bytes (HTTP/1 read buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
    /// Time to read a request (head and body) and produce the answer.
    pub request_timeout: Duration,
    /// Time allowed for in-flight requests after a shutdown signal.
    pub drain_timeout: Duration,
    /// Most connections open at once, over both listeners; a connection over it is closed as
    /// soon as it is accepted. The server lowers it to what the open-file limit allows.
    pub max_connections: usize,
    /// Time from accepting a connection (the TLS handshake included) until its first request's
    /// head has arrived; a connection that sends nothing is closed then.
    pub first_request_timeout: Duration,
    /// Time a connection may sit with no request in flight before it is closed.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            max_connections: 4096,
            first_request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// The smallest head buffer hyper accepts.
pub const MIN_HEADER_BYTES: usize = 8192;

/// The settings the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Plain HTTP listener.
    pub http: SocketAddr,
    /// HTTPS listener.
    pub https: SocketAddr,
    /// Name of the `pki` crypto provider.
    pub crypto_provider: String,
    /// Key type of a CA created on first start.
    pub ca_key_type: CaKeyType,
    /// Log level.
    pub log: String,
    /// DNS names and IP addresses of the HTTPS certificate.
    pub tls_names: Vec<String>,
    /// Lifetime of the HTTPS certificate.
    pub tls_cert_validity: Duration,
    /// Request and connection limits.
    pub limits: Limits,
    /// Device auth (`[devauth]` table).
    pub devauth: crate::devauth::Settings,
    /// The device inventory and SCIM (`[inventory]` table).
    pub inventory: crate::inventory::Settings,
    /// Apple MDM (`[mdm]` table).
    pub mdm: crate::mdm::Settings,
    /// SCEP static challenge; `None` selects one-time challenges.
    pub scep_challenge: Option<crate::scep::StaticSecret>,
    /// SCEP: lifetime of issued certificates.
    pub scep_cert_validity: Duration,
    /// SCEP: the renewal window (zero: any time).
    pub scep_renewal_window: Duration,
    /// SCEP: hold new enrollments for an administrator.
    pub scep_manual_approval: bool,
    /// SCEP: the CRL distribution point URL, if configured.
    pub scep_crl_url: Option<String>,
    /// PostgreSQL URL for SCEP's and device auth's records; `None`: SQLite in the data
    /// directory.
    pub database: Option<DatabaseUrl>,
    /// APNs pushes (`[mdm]` keys `apns*`).
    pub push: crate::mdm::push::PushSettings,
    /// Webhooks (`[mdm]` keys `webhook_*`).
    pub webhooks: crate::mdm::webhook::WebhookSettings,
    /// Automated Device Enrollment (`[ade]` table; see [`crate::ade`]).
    pub ade: crate::ade::Settings,
    /// DDM's token mode.
    pub ddm_token_mode: DdmTokenMode,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./admit-data"),
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            https: SocketAddr::from(([127, 0, 0, 1], 8443)),
            crypto_provider: "aws-lc".into(),
            ca_key_type: CaKeyType::Ecdsa,
            log: "info".into(),
            tls_names: vec!["localhost".into(), "127.0.0.1".into()],
            tls_cert_validity: Duration::from_secs(397 * 24 * 3600),
            limits: Limits::default(),
            devauth: crate::devauth::Settings::default(),
            inventory: crate::inventory::Settings::default(),
            mdm: crate::mdm::Settings::default(),
            scep_challenge: None,
            scep_cert_validity: Duration::from_secs(365 * 24 * 3600),
            scep_renewal_window: Duration::from_secs(14 * 24 * 3600),
            scep_manual_approval: false,
            scep_crl_url: None,
            database: None,
            push: crate::mdm::push::PushSettings::default(),
            webhooks: crate::mdm::webhook::WebhookSettings::default(),
            ade: crate::ade::Settings::default(),
            ddm_token_mode: DdmTokenMode::Content,
        }
    }
}

impl Config {
    /// Defaults, overlaid with the file named by `--config` (if any), overlaid with the flags.
    pub fn load(flags: &Flags) -> Result<Config, Error> {
        let file = match &flags.config {
            None => File::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
                    path: path.clone(),
                    source,
                })?;
                Self::parse_file(&text).map_err(|message| Error::Parse {
                    path: path.clone(),
                    message,
                })?
            }
        };
        let d = Config::default();
        let ms = Duration::from_millis;
        let config = Config {
            data_dir: flags
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or(d.data_dir),
            http: flags.http.or(file.http).unwrap_or(d.http),
            https: flags.https.or(file.https).unwrap_or(d.https),
            crypto_provider: flags
                .crypto_provider
                .clone()
                .or(file.crypto_provider)
                .unwrap_or(d.crypto_provider),
            ca_key_type: flags
                .ca_key_type
                .or(file.ca_key_type)
                .unwrap_or(d.ca_key_type),
            log: flags.log.clone().or(file.log).unwrap_or(d.log),
            tls_names: if flags.tls_names.is_empty() {
                file.tls_names.unwrap_or(d.tls_names)
            } else {
                flags.tls_names.clone()
            },
            tls_cert_validity: flags
                .tls_cert_validity_s
                .or(file.tls_cert_validity_s)
                .map(Duration::from_secs)
                .unwrap_or(d.tls_cert_validity),
            limits: Limits {
                max_body_bytes: flags
                    .max_body_bytes
                    .or(file.limits.max_body_bytes)
                    .unwrap_or(d.limits.max_body_bytes),
                max_header_bytes: flags
                    .max_header_bytes
                    .or(file.limits.max_header_bytes)
                    .unwrap_or(d.limits.max_header_bytes),
                request_timeout: flags
                    .request_timeout_ms
                    .or(file.limits.request_timeout_ms)
                    .map(ms)
                    .unwrap_or(d.limits.request_timeout),
                drain_timeout: flags
                    .drain_timeout_ms
                    .or(file.limits.drain_timeout_ms)
                    .map(ms)
                    .unwrap_or(d.limits.drain_timeout),
                max_connections: flags
                    .max_connections
                    .or(file.limits.max_connections)
                    .unwrap_or(d.limits.max_connections),
                first_request_timeout: flags
                    .first_request_timeout_ms
                    .or(file.limits.first_request_timeout_ms)
                    .map(ms)
                    .unwrap_or(d.limits.first_request_timeout),
                idle_timeout: flags
                    .idle_timeout_ms
                    .or(file.limits.idle_timeout_ms)
                    .map(ms)
                    .unwrap_or(d.limits.idle_timeout),
            },
            devauth: crate::devauth::Settings::merge(
                flags.devauth_max_devices,
                flags.devauth_jwt_key_type,
                flags.devauth_token_lifetime_s,
                flags.devauth_allow_plain_http,
                flags.devauth_tenant_key.clone(),
                file.devauth,
            ),
            inventory: file.inventory,
            mdm: file.mdm.core.clone(),
            scep_challenge: flags.scep_challenge.clone().or(file.scep_challenge),
            scep_cert_validity: flags
                .scep_cert_validity_s
                .or(file.scep_cert_validity_s)
                .map(Duration::from_secs)
                .unwrap_or(d.scep_cert_validity),
            scep_renewal_window: flags
                .scep_renewal_window_s
                .or(file.scep_renewal_window_s)
                .map(Duration::from_secs)
                .unwrap_or(d.scep_renewal_window),
            scep_manual_approval: flags.scep_manual_approval
                || file.scep_manual_approval.unwrap_or(d.scep_manual_approval),
            scep_crl_url: flags.scep_crl_url.clone().or(file.scep_crl_url),
            database: flags.database.clone().or(file.database),
            push: file.mdm.ext.push()?,
            webhooks: file.mdm.ext.webhooks(),
            ade: file.ade,
            ddm_token_mode: flags
                .ddm_token_mode
                .or(file.ddm_token_mode)
                .unwrap_or(d.ddm_token_mode),
        };
        config.check()?;
        Ok(config)
    }

    fn parse_file(text: &str) -> Result<File, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    fn check(&self) -> Result<(), Error> {
        self.devauth.check()?;
        self.inventory.check()?;
        self.mdm.check()?;
        if self.push.max_attempts == 0 {
            return Err(Error::Invalid {
                name: "mdm.apns_max_attempts",
                reason: "must be at least 1".into(),
            });
        }
        for (name, value) in [
            ("mdm.apns_timeout_ms", self.push.timeout),
            ("mdm.webhook_timeout_ms", self.webhooks.timeout),
        ] {
            if value.is_zero() {
                return Err(Error::Invalid {
                    name,
                    reason: "must be above zero".into(),
                });
            }
        }
        self.webhooks.check().map_err(|reason| Error::Invalid {
            name: "mdm.webhook_urls",
            reason,
        })?;
        self.ade.check()?;
        if let Some(url) = &self.database
            && !(url.expose().starts_with("postgres://")
                || url.expose().starts_with("postgresql://"))
        {
            return Err(Error::Invalid {
                name: "database",
                reason: "must be a postgres:// or postgresql:// URL".into(),
            });
        }
        if self.tls_names.is_empty() {
            return Err(Error::Invalid {
                name: "tls_names",
                reason: "the HTTPS certificate needs at least one name".into(),
            });
        }
        for n in &self.tls_names {
            let ok = n.parse::<std::net::IpAddr>().is_ok()
                || (!n.is_empty()
                    && n.len() <= 253
                    && n.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    }));
            if !ok {
                return Err(Error::Invalid {
                    name: "tls_names",
                    reason: format!("{n:?} is neither an IP address nor a DNS name"),
                });
            }
        }
        if self.tls_cert_validity < Duration::from_secs(6) {
            return Err(Error::Invalid {
                name: "tls_cert_validity_s",
                reason: "must be at least 6 seconds".into(),
            });
        }
        if self.scep_cert_validity < Duration::from_secs(60) {
            return Err(Error::Invalid {
                name: "scep_cert_validity_s",
                reason: "must be at least 60 seconds".into(),
            });
        }
        if self.limits.max_header_bytes < MIN_HEADER_BYTES {
            return Err(Error::Invalid {
                name: "max_header_bytes",
                reason: format!(
                    "{} is below the minimum of {MIN_HEADER_BYTES}",
                    self.limits.max_header_bytes
                ),
            });
        }
        if u32::try_from(self.limits.max_header_bytes).is_err() {
            return Err(Error::Invalid {
                name: "max_header_bytes",
                reason: "must fit in 32 bits".into(),
            });
        }
        for (name, value) in [
            ("request_timeout_ms", self.limits.request_timeout),
            (
                "first_request_timeout_ms",
                self.limits.first_request_timeout,
            ),
            ("idle_timeout_ms", self.limits.idle_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::Invalid {
                    name,
                    reason: "must be above zero".into(),
                });
            }
        }
        if self.limits.max_connections == 0 {
            return Err(Error::Invalid {
                name: "max_connections",
                reason: "must be above zero".into(),
            });
        }
        if pki::provider::by_name(&self.crypto_provider).is_none() {
            let compiled: Vec<_> = pki::provider::compiled()
                .into_iter()
                .map(|p| p.name())
                .collect();
            return Err(Error::Invalid {
                name: "crypto_provider",
                reason: format!(
                    "{:?} is not compiled in (available: {})",
                    self.crypto_provider,
                    compiled.join(", ")
                ),
            });
        }
        if self.log.parse::<tracing::Level>().is_err() {
            return Err(Error::Invalid {
                name: "log",
                reason: format!(
                    "{:?} is not one of error, warn, info, debug, trace",
                    self.log
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags() {
        let file = Config::parse_file(
            "http = \"127.0.0.1:1\"\nhttps = \"127.0.0.1:2\"\n[limits]\nmax_body_bytes = 10\n",
        )
        .unwrap();
        assert_eq!(file.http, Some(SocketAddr::from(([127, 0, 0, 1], 1))));
        assert_eq!(file.limits.max_body_bytes, Some(10));
        assert!(Config::parse_file("nonsense = 1\n").is_err());
        assert!(Config::parse_file("[limits]\nmax_body_bytes = \"x\"\n").is_err());
    }

    #[test]
    fn mdm_table_holds_core_apns_and_webhook_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admitd.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::load(&Flags {
                config: Some(path.clone()),
                crypto_provider: Some(pki::provider::compiled()[0].name().into()),
                ..Flags::default()
            })
        };
        let c = load(
            "[mdm]\norganization = \"Example\"\napns = \"https://127.0.0.1:2197\"\n\
             apns_max_attempts = 2\nwebhook_urls = [\"http://127.0.0.1:9/hook\"]\n\
             webhook_retry_base_ms = 50\n",
        )
        .unwrap();
        assert_eq!(c.mdm.organization, "Example");
        assert_eq!(
            c.push.endpoint,
            crate::mdm::push::ApnsEndpoint::Url {
                host: "127.0.0.1".into(),
                port: 2197
            }
        );
        assert_eq!(c.push.max_attempts, 2);
        assert_eq!(c.webhooks.urls, ["http://127.0.0.1:9/hook"]);
        assert_eq!(c.webhooks.retry_base, Duration::from_millis(50));
        let defaults = load("").unwrap();
        assert_eq!(defaults.push, crate::mdm::push::PushSettings::default());
        assert!(defaults.webhooks.urls.is_empty());
        for (text, name) in [
            ("[mdm]\napns = \"http://h\"\n", "mdm.apns"),
            ("[mdm]\napns_max_attempts = 0\n", "mdm.apns_max_attempts"),
            (
                "[mdm]\nwebhook_urls = [\"ftp://h/x\"]\n",
                "mdm.webhook_urls",
            ),
        ] {
            assert!(
                matches!(load(text), Err(Error::Invalid { name: n, .. }) if n == name),
                "{text}"
            );
        }
        assert!(matches!(
            load("[mdm]\napns_typo = 1\n"),
            Err(Error::Parse { .. })
        ));
    }

    #[test]
    fn header_minimum_enforced() {
        let flags = Flags {
            max_header_bytes: Some(100),
            crypto_provider: Some("rustcrypto".into()),
            ..Flags::default()
        };
        assert!(matches!(
            Config::load(&flags),
            Err(Error::Invalid {
                name: "max_header_bytes",
                ..
            })
        ));
    }

    #[test]
    fn unknown_provider_refused() {
        let flags = Flags {
            crypto_provider: Some("nope".into()),
            ..Flags::default()
        };
        assert!(matches!(
            Config::load(&flags),
            Err(Error::Invalid {
                name: "crypto_provider",
                ..
            })
        ));
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admitd.toml");
        std::fs::write(
            &path,
            "scep_challenge = \"challenge-s3cret\"\n\
             database = \"postgres://admit:db-s3cret@db.example:5432/admit\"\n\
             [devauth]\nadmin_token = \"admin-token-s3cret-0123456789\"\n",
        )
        .unwrap();
        let flags = Flags {
            config: Some(path.clone()),
            ..Flags::default()
        };
        let config = Config::load(&flags).unwrap();
        let file = Config::parse_file(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for shown in [
            format!("{config:?}"),
            format!("{config:#?}"),
            format!("{file:?}"),
            format!("{flags:?}"),
        ] {
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        // What is shown still identifies the database.
        assert!(format!("{config:?}").contains("postgres://admit:***@db.example:5432/admit"));
        let url = |s: &str| DatabaseUrl(s.into()).redacted();
        assert_eq!(
            url("postgres://db.example/admit"),
            "postgres://db.example/admit"
        );
        assert_eq!(
            url("postgresql://u@h/d?password=x&sslmode=require"),
            "postgresql://u:***@h/d?***"
        );
        assert_eq!(url("postgres://h/d?password=x"), "postgres://h/d?***");
    }

    #[test]
    fn tls_names_must_be_dns_names_or_addresses() {
        for (names, ok) in [
            (vec!["mdm.example.com", "10.0.0.5", "::1"], true),
            (vec!["bad name"], false),
            (vec!["a..b"], false),
            (vec!["x_y.example"], false),
            (vec![&"a".repeat(64)[..]], false),
        ] {
            let flags = Flags {
                tls_names: names.iter().map(|n| n.to_string()).collect(),
                crypto_provider: Some(pki::provider::compiled()[0].name().into()),
                ..Flags::default()
            };
            let loaded = Config::load(&flags);
            assert_eq!(loaded.is_ok(), ok, "{names:?}");
            if !ok {
                assert!(matches!(
                    loaded,
                    Err(Error::Invalid {
                        name: "tls_names",
                        ..
                    })
                ));
            }
        }
    }
}
