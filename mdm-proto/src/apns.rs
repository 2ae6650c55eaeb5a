//! APNs pushes that wake a device to check in: the HTTP/2 request and the reading of the answer.
//!
//! ```text
//! POST https://api.push.apple.com/3/device/<token as lower-case hex>
//!   apns-expiration: <unix seconds>   (optional)
//!   apns-priority:   10 | 5           (optional)
//!   apns-push-type:  mdm              (optional)
//!   apns-topic:      <push cert UID>  (optional; the certificate decides when absent)
//!   {"mdm":"<PushMagic>"}
//!
//! 200 + apns-id                     → Delivered
//! 410 {"reason":"Unregistered"}     → token dead: stop pushing to it
//! 429, 500, 503                     → retry later
//! other 4xx {"reason":"..."}        → a typed reason; fix the request or the certificate
//! ```
//!
//! The transport (HTTP/2 with the push certificate as the TLS client identity) is the caller's.

use pki::x509_cert::Certificate;

use crate::error::{Error, Result};

/// Which APNs service to send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// `api.push.apple.com` (MDM push certificates from Apple's push certificates portal).
    Production,
    /// `api.sandbox.push.apple.com`.
    Development,
}

impl Environment {
    /// The host name.
    pub fn host(&self) -> &'static str {
        match self {
            Environment::Production => "api.push.apple.com",
            Environment::Development => "api.sandbox.push.apple.com",
        }
    }
}

/// One MDM push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The device token from `TokenUpdate` (`Token`, raw bytes).
    pub token: Vec<u8>,
    /// `PushMagic` from `TokenUpdate`.
    pub push_magic: String,
    /// `apns-expiration`, in Unix seconds (0: deliver once or not at all).
    pub expiration: Option<u64>,
    /// `apns-priority` (10 immediate, 5 power-considerate).
    pub priority: Option<u8>,
    /// `apns-topic` (the UID of the push certificate's subject; see [`topic`]).
    pub topic: Option<String>,
    /// Send `apns-push-type: mdm`.
    pub push_type: bool,
}

impl Push {
    /// A push with only the token and push magic set.
    pub fn new(token: Vec<u8>, push_magic: impl Into<String>) -> Self {
        Push {
            token,
            push_magic: push_magic.into(),
            expiration: None,
            priority: None,
            topic: None,
            push_type: false,
        }
    }

    /// The body, exactly `{"mdm":"<PushMagic>"}` (JSON-escaped).
    pub fn body(&self) -> Vec<u8> {
        let mut s = String::from("{\"mdm\":");
        s.push_str(&serde_json::Value::String(self.push_magic.clone()).to_string());
        s.push('}');
        s.into_bytes()
    }

    /// The request to send over HTTP/2.
    pub fn to_request(&self, env: Environment) -> Result<http::Request<Vec<u8>>> {
        let token: String = self.token.iter().map(|b| format!("{b:02x}")).collect();
        let mut b = http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("https://{}/3/device/{token}", env.host()))
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(e) = self.expiration {
            b = b.header("apns-expiration", e.to_string());
        }
        if let Some(p) = self.priority {
            b = b.header("apns-priority", p.to_string());
        }
        if self.push_type {
            b = b.header("apns-push-type", "mdm");
        }
        if let Some(t) = &self.topic {
            b = b.header("apns-topic", t.as_str());
        }
        b.body(self.body())
            .map_err(|_| Error::ApiMisuse("APNs topic is not a valid header value"))
    }
}

/// APNs failure reasons (the `reason` of the JSON error body).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// `BadCollapseId`.
    BadCollapseId,
    /// `BadDeviceToken`.
    BadDeviceToken,
    /// `BadExpirationDate`.
    BadExpirationDate,
    /// `BadMessageId`.
    BadMessageId,
    /// `BadPriority`.
    BadPriority,
    /// `BadTopic`.
    BadTopic,
    /// `DeviceTokenNotForTopic`.
    DeviceTokenNotForTopic,
    /// `DuplicateHeaders`.
    DuplicateHeaders,
    /// `IdleTimeout`.
    IdleTimeout,
    /// `InvalidPushType`.
    InvalidPushType,
    /// `MissingDeviceToken`.
    MissingDeviceToken,
    /// `MissingTopic`.
    MissingTopic,
    /// `PayloadEmpty`.
    PayloadEmpty,
    /// `TopicDisallowed`.
    TopicDisallowed,
    /// `BadCertificate`.
    BadCertificate,
    /// `BadCertificateEnvironment`.
    BadCertificateEnvironment,
    /// `ExpiredProviderToken`.
    ExpiredProviderToken,
    /// `Forbidden`.
    Forbidden,
    /// `InvalidProviderToken`.
    InvalidProviderToken,
    /// `MissingProviderToken`.
    MissingProviderToken,
    /// `BadPath`.
    BadPath,
    /// `MethodNotAllowed`.
    MethodNotAllowed,
    /// `ExpiredToken`.
    ExpiredToken,
    /// `Unregistered`: the token is no longer valid for the topic.
    Unregistered,
    /// `PayloadTooLarge`.
    PayloadTooLarge,
    /// `TooManyProviderTokenUpdates`.
    TooManyProviderTokenUpdates,
    /// `TooManyRequests`.
    TooManyRequests,
    /// `InternalServerError`.
    InternalServerError,
    /// `ServiceUnavailable`.
    ServiceUnavailable,
    /// `Shutdown`.
    Shutdown,
    /// A reason this crate does not know, or none (empty).
    Other(String),
}

impl Reason {
    fn parse(s: &str) -> Self {
        use Reason::*;
        match s {
            "BadCollapseId" => BadCollapseId,
            "BadDeviceToken" => BadDeviceToken,
            "BadExpirationDate" => BadExpirationDate,
            "BadMessageId" => BadMessageId,
            "BadPriority" => BadPriority,
            "BadTopic" => BadTopic,
            "DeviceTokenNotForTopic" => DeviceTokenNotForTopic,
            "DuplicateHeaders" => DuplicateHeaders,
            "IdleTimeout" => IdleTimeout,
            "InvalidPushType" => InvalidPushType,
            "MissingDeviceToken" => MissingDeviceToken,
            "MissingTopic" => MissingTopic,
            "PayloadEmpty" => PayloadEmpty,
            "TopicDisallowed" => TopicDisallowed,
            "BadCertificate" => BadCertificate,
            "BadCertificateEnvironment" => BadCertificateEnvironment,
            "ExpiredProviderToken" => ExpiredProviderToken,
            "Forbidden" => Forbidden,
            "InvalidProviderToken" => InvalidProviderToken,
            "MissingProviderToken" => MissingProviderToken,
            "BadPath" => BadPath,
            "MethodNotAllowed" => MethodNotAllowed,
            "ExpiredToken" => ExpiredToken,
            "Unregistered" => Unregistered,
            "PayloadTooLarge" => PayloadTooLarge,
            "TooManyProviderTokenUpdates" => TooManyProviderTokenUpdates,
            "TooManyRequests" => TooManyRequests,
            "InternalServerError" => InternalServerError,
            "ServiceUnavailable" => ServiceUnavailable,
            "Shutdown" => Shutdown,
            other => Other(other.to_owned()),
        }
    }
}

/// What APNs said about one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted for delivery.
    Delivered {
        /// The `apns-id` response header, if the caller passed it.
        apns_id: Option<String>,
    },
    /// Refused.
    Failed {
        /// HTTP status.
        status: u16,
        /// The reason from the body.
        reason: Reason,
        /// For 410, when APNs last knew the token valid (milliseconds since the Unix epoch).
        timestamp: Option<u64>,
    },
}

impl Outcome {
    /// Read an APNs response: status, body, and the `apns-id` header if there was one.
    pub fn parse(status: u16, body: &[u8], apns_id: Option<&str>) -> Self {
        if status == 200 {
            return Outcome::Delivered {
                apns_id: apns_id.map(str::to_owned),
            };
        }
        let json: Option<serde_json::Value> = if body.len() <= 4096 {
            serde_json::from_slice(body).ok()
        } else {
            None
        };
        let reason = json
            .as_ref()
            .and_then(|j| j.get("reason"))
            .and_then(|r| r.as_str())
            .map_or(Reason::Other(String::new()), Reason::parse);
        let timestamp = json
            .as_ref()
            .and_then(|j| j.get("timestamp"))
            .and_then(|t| t.as_u64());
        Outcome::Failed {
            status,
            reason,
            timestamp,
        }
    }

    /// The token is dead (410, or `Unregistered`): stop pushing to it until the next TokenUpdate.
    pub fn token_dead(&self) -> bool {
        matches!(self, Outcome::Failed { status: 410, .. })
            || matches!(
                self,
                Outcome::Failed {
                    reason: Reason::Unregistered,
                    ..
                }
            )
    }

    /// Worth sending again later (429 or 5xx).
    pub fn retry_later(&self) -> bool {
        matches!(self, Outcome::Failed { status, .. } if *status == 429 || *status >= 500)
    }
}

/// userId (RFC 4519 `uid`), which holds the topic in an MDM push certificate's subject.
const UID: pki::der::asn1::ObjectIdentifier =
    pki::der::asn1::ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1");

/// The push topic of an MDM push certificate: the `UID` of its subject
/// (`com.apple.mgmt.External.<uuid>`).
pub fn topic(cert: &Certificate) -> Result<String> {
    for rdn in cert.tbs_certificate().subject().iter_rdn() {
        for atv in rdn.iter() {
            if atv.oid == UID {
                // UTF8String, PrintableString or IA5String: the value bytes are the text.
                return std::str::from_utf8(atv.value.value())
                    .map(str::to_owned)
                    .map_err(|_| Error::WrongType {
                        path: "certificate subject UID".into(),
                        expected: "string",
                        found: "bytes",
                    });
            }
        }
    }
    Err(Error::MissingKey {
        path: "certificate subject UID".into(),
    })
}

/// The topic of the first certificate in a PEM file (the push certificate as Apple's portal
/// issues it, or a PEM bundle with the certificate first). The private key stays with the
/// caller's TLS stack; a `.p12` with certificate and key is read by
/// [`PushCertificate::from_pkcs12`].
pub fn topic_from_pem(pem: &[u8]) -> Result<String> {
    let cert = pki::cert::Cert::from_pem(pem).map_err(|e| Error::Signature(e.to_string()))?;
    topic(cert.certificate())
}

/// An MDM push certificate with its private key and topic: what the TLS client of an APNs
/// connection needs.
///
/// Read from the `.p12` that Keychain Access exports for a push certificate (legacy RC2/3DES
/// encryption, SHA-1 MAC) or that `openssl pkcs12 -export` makes (PBES2/AES-256, SHA-256 MAC).
/// See [`pki::pkcs12`] for what is read and refused.
pub struct PushCertificate {
    identity: pki::pkcs12::Pkcs12,
    topic: String,
}

impl std::fmt::Debug for PushCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushCertificate")
            .field("topic", &self.topic)
            .field("identity", &self.identity)
            .finish()
    }
}

impl PushCertificate {
    /// Open a `.p12` with `password`, check that its key belongs to its certificate (the key is
    /// loaded through `provider`), and read the topic from the certificate's subject.
    ///
    /// A wrong password, an altered file, a file without a key or certificate, or a key that
    /// no certificate matches is [`Error::PushCertificate`] carrying the typed
    /// [`pki::pkcs12::Pkcs12Error`]; a certificate without a subject `UID` is
    /// [`Error::MissingKey`].
    pub fn from_pkcs12(
        p12: &[u8],
        password: &str,
        provider: &dyn pki::provider::CryptoProvider,
    ) -> Result<Self> {
        let identity =
            pki::pkcs12::Pkcs12::parse(p12, password, provider).map_err(Error::PushCertificate)?;
        let topic = topic(identity.certificate().certificate())?;
        Ok(PushCertificate { identity, topic })
    }

    /// The topic (`apns-topic`): the `UID` of the certificate's subject.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The push certificate.
    pub fn certificate(&self) -> &pki::cert::Cert {
        self.identity.certificate()
    }

    /// Its private key as PKCS#8 DER (zeroised on drop), for the TLS client configuration.
    pub fn private_key_pkcs8_der(&self) -> &[u8] {
        self.identity.private_key_pkcs8_der()
    }

    /// The other certificates in the file (Apple's intermediate, when exported with it).
    pub fn chain(&self) -> &[pki::cert::Cert] {
        self.identity.chain()
    }
}
