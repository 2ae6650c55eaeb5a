//! Signed auth requests: `POST /api/devices/v1/authentication/auth_requests`.
//!
//! ```text
//! X-MEN-Signature: base64(sign(device key, exact body bytes))
//!
//! {"id_data": "<JSON object as a string>", "pubkey": "<PKIX PEM>", "tenant_token": "..."}
//! ```
//!
//! [`AuthRequestVerifier::verify`] checks, in this order: body size cap, the signature header
//! (present once, bounded, standard base64), the JSON envelope and the key it carries, the
//! signature over the exact body bytes, and only then the identity. Nothing about the device is
//! looked at, let alone stored, before the signature verified.

use base64::Engine as _;
use pki::provider::CryptoProvider;
use pki::verify::Policy;

use crate::gojson::{self, Value};
use crate::identity::Identity;
use crate::pubkey::DevicePublicKey;
use crate::{Error, Result};

/// The header carrying the signature (matched in any case).
pub const SIGNATURE_HEADER: &str = "x-men-signature";

/// The path of the device endpoint.
pub const PATH: &str = "/api/devices/v1/authentication/auth_requests";

/// Size caps applied before any parsing or crypto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest body accepted, in bytes.
    pub max_body: usize,
    /// Largest `X-MEN-Signature` value accepted, in bytes (an RSA-8192 signature is 1368).
    pub max_signature_header: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 16 * 1024,
            max_signature_header: 2048,
        }
    }
}

/// Verifies auth requests with a crypto provider and a key policy.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequestVerifier<'a> {
    provider: &'a dyn CryptoProvider,
    policy: Policy,
    limits: Limits,
}

/// An auth request whose signature verified. Only [`AuthRequestVerifier`] builds one.
#[derive(Debug, Clone)]
pub struct VerifiedAuthRequest {
    identity: Identity,
    pubkey: DevicePublicKey,
    tenant_token: String,
}

impl VerifiedAuthRequest {
    /// The device's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The key that signed the request (normalised).
    pub fn pubkey(&self) -> &DevicePublicKey {
        &self.pubkey
    }

    /// The `tenant_token` field (empty when absent).
    pub fn tenant_token(&self) -> &str {
        &self.tenant_token
    }
}

impl<'a> AuthRequestVerifier<'a> {
    /// A verifier with the default key policy (RSA keys of 2048 bits and more) and size caps.
    pub fn new(provider: &'a dyn CryptoProvider) -> Self {
        Self {
            provider,
            policy: Policy::default(),
            limits: Limits::default(),
        }
    }

    /// Use a different key policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Use different size caps.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Verify an HTTP request (method and path are the router's business).
    pub fn verify(&self, req: &http::Request<Vec<u8>>) -> Result<VerifiedAuthRequest> {
        self.verify_parts(req.headers(), req.body())
    }

    /// Verify from the headers and the exact body bytes.
    pub fn verify_parts(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedAuthRequest> {
        let mut values = headers.get_all(SIGNATURE_HEADER).iter();
        let value = match (values.next(), values.next()) {
            (None, _) => return Err(Error::SignatureHeader("missing")),
            (Some(_), Some(_)) => return Err(Error::SignatureHeader("repeated")),
            (Some(v), None) => v.as_bytes(),
        };
        self.verify_bytes(value, body)
    }

    /// Verify from the raw `X-MEN-Signature` value and the exact body bytes.
    pub fn verify_bytes(&self, signature_b64: &[u8], body: &[u8]) -> Result<VerifiedAuthRequest> {
        if body.len() > self.limits.max_body {
            return Err(Error::BodyTooLarge {
                len: body.len(),
                limit: self.limits.max_body,
            });
        }
        if signature_b64.len() > self.limits.max_signature_header {
            return Err(Error::SignatureHeader("longer than the limit"));
        }
        let signature_b64 = signature_b64.trim_ascii();
        if signature_b64.is_empty() {
            return Err(Error::SignatureHeader("empty"));
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature_b64)
            .map_err(|_| Error::SignatureHeader("not standard base64"))?;

        let envelope = Envelope::parse(body)?;
        let pubkey = DevicePublicKey::from_pem(&envelope.pubkey)?;
        pki::verify::signature(
            self.provider,
            &self.policy,
            pubkey.spki(),
            pubkey.auth_request_scheme(),
            body,
            &signature,
        )
        .map_err(|e| match e {
            pki::Error::AlgorithmNotAllowed { what } => {
                Error::BadPublicKey(format!("{what} is not allowed by policy"))
            }
            pki::Error::BadPublicKey(m) => Error::BadPublicKey(m),
            _ => Error::SignatureInvalid,
        })?;

        let identity = Identity::parse(&envelope.id_data)?;
        Ok(VerifiedAuthRequest {
            identity,
            pubkey,
            tenant_token: envelope.tenant_token,
        })
    }
}

/// The three fields of the body, still unverified.
struct Envelope {
    id_data: String,
    pubkey: String,
    tenant_token: String,
}

impl Envelope {
    fn parse(body: &[u8]) -> Result<Self> {
        let v = gojson::parse(body).map_err(|e| Error::MalformedBody(e.0))?;
        let Value::Object(map) = v else {
            return Err(Error::MalformedBody(format!(
                "expected a JSON object, found a JSON {}",
                v.go_kind()
            )));
        };
        // Go matches struct fields case-insensitively; we do too, and refuse a body where two
        // keys name the same field (Go would silently keep the last one).
        let field = |name: &'static str| -> Result<Option<&Value>> {
            let mut hits = map.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
            match (hits.next(), hits.next()) {
                (Some(_), Some(_)) => Err(Error::MalformedBody(format!(
                    "field {name} appears more than once"
                ))),
                (Some((_, Value::Null)), None) | (None, _) => Ok(None),
                (Some((_, v)), None) => Ok(Some(v)),
            }
        };
        let string = |name: &'static str, expected: &'static str| -> Result<String> {
            match field(name)? {
                None => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(Error::WrongType {
                    field: name,
                    expected,
                    found: other.go_kind(),
                }),
            }
        };
        let id_data = string("id_data", "a JSON object encoded as a string")?;
        let pubkey = string("pubkey", "a PEM string")?;
        let tenant_token = string("tenant_token", "a string")?;
        if id_data.is_empty() {
            return Err(Error::MissingField("id_data"));
        }
        if pubkey.is_empty() {
            return Err(Error::MissingField("pubkey"));
        }
        Ok(Self {
            id_data,
            pubkey,
            tenant_token,
        })
    }
}
