//! The ADE enrollment gate: who may fetch the enrollment profile during Setup Assistant.
//!
//! ```text
//!  device ──GET/POST profile URL──▶ x-apple-aspen-deviceinfo: base64(SignedData{MachineInfo})
//!                                   (or the SignedData as the POST body)
//!      1. CMS signature over the plist verifies ............ else BadSignature
//!      2. the signer chains to the device CA (ade.device_ca) else UntrustedSigner
//!      3. the plist is a MachineInfo with SERIAL and UDID .. else Malformed / MissingIdentity
//!      4. the serial is known: listed by the ADE sync, or in
//!         the caller's device list ............................ else UnknownDevice
//!   ──▶ AdeEnrollment { serial, udid, product, version, ... }   (built only here)
//! ```
//!
//! Every refusal answers 403 with a reason the operator can read in the device's log; only our
//! own failure (the database) answers 500. Apple's device CA is not shipped: Apple published
//! its "Apple iPhone Device CA" in the over-the-air configuration guide, but that copy expired
//! in 2014 and nothing available here says which chain current devices present, so the gate
//! works only once `ade.device_ca` names the CA (PEM) to trust. Apple's CA is RSA-1024 with
//! SHA-1 signatures; accept those only by setting `ade.allow_legacy_device_ca = true`.

use std::time::SystemTime;

use base64::Engine as _;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Response, StatusCode};
use mdm_proto::signed::{self, DEVICEINFO_HEADER, Trust};
use pki::cert::Cert;
use pki::provider::CryptoProvider;
use pki::verify::Policy;

use super::store::{AdeStore, StoreError};
use crate::server::Body;

/// Largest MachineInfo accepted (the header carries a few KiB).
pub const MAX_MACHINE_INFO: usize = 64 * 1024;

/// Why a device may not enroll through ADE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// No device CA is configured (`ade.device_ca`), so no MachineInfo can be trusted.
    #[error("ADE enrollment is not configured on this server (ade.device_ca is not set)")]
    NotConfigured,
    /// Neither the `x-apple-aspen-deviceinfo` header nor a signed body was sent.
    #[error("no MachineInfo: send the x-apple-aspen-deviceinfo header (or the signed body)")]
    Missing,
    /// The CMS signature over the MachineInfo does not verify (or the blob is not CMS).
    #[error("MachineInfo signature does not verify: {0}")]
    BadSignature(String),
    /// The signature verifies but its signer does not chain to the configured device CA.
    #[error("MachineInfo is not signed by the trusted device CA: {0}")]
    UntrustedSigner(String),
    /// The signed content is not a MachineInfo plist.
    #[error("MachineInfo is malformed: {0}")]
    Malformed(String),
    /// The MachineInfo has no serial number or no UDID.
    #[error("MachineInfo has no {0}")]
    MissingIdentity(&'static str),
    /// The device is neither listed by the ADE sync nor in the device list.
    #[error("device {serial} is not assigned to this MDM server (unknown to the ADE sync)")]
    UnknownDevice {
        /// The serial number the device presented.
        serial: String,
    },
    /// Our database could not be read (our fault, answered 500).
    #[error("the device list could not be read")]
    Store(String),
}

impl Refusal {
    /// The HTTP status: 403 for every refusal of the device, 500 for our own failure.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// The answer to send: the status and a `text/plain` reason (a generic one for a 500).
    pub fn response(&self) -> Response<Body> {
        let text = match self {
            Refusal::Store(_) => "internal error\n".to_owned(),
            other => format!("{other}\n"),
        };
        let mut r = Response::new(Body::new(Bytes::from(text)));
        *r.status_mut() = self.status();
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    }
}

/// A device that passed the gate: its MachineInfo verified against the device CA and its
/// serial known. Built only by [`Gate::check`].
#[derive(Debug, Clone)]
pub struct AdeEnrollment {
    serial: String,
    udid: String,
    machine_info: mdm_proto::generated::other::MachineInfo,
    signer_der: Vec<u8>,
}

impl AdeEnrollment {
    /// `SERIAL`.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// `UDID`.
    pub fn udid(&self) -> &str {
        &self.udid
    }

    /// `PRODUCT` (the model identifier, e.g. `iPhone12,1`).
    pub fn product(&self) -> &str {
        &self.machine_info.product
    }

    /// `VERSION` (the OS build).
    pub fn version(&self) -> &str {
        &self.machine_info.version
    }

    /// The whole MachineInfo (IMEI, MEID, LANGUAGE, OS_VERSION, ...).
    pub fn machine_info(&self) -> &mdm_proto::generated::other::MachineInfo {
        &self.machine_info
    }

    /// The device certificate that signed it (DER).
    pub fn signer_der(&self) -> &[u8] {
        &self.signer_der
    }
}

/// Who counts as known, beside the ADE sync's table.
pub trait KnownDevices {
    /// Whether `serial` may enroll.
    fn is_known(&self, serial: &str) -> Result<bool, StoreError>;
}

/// The ADE sync's device table.
#[derive(Debug, Clone, Copy)]
pub struct Synced<'a>(pub &'a dyn AdeStore);

impl KnownDevices for Synced<'_> {
    fn is_known(&self, serial: &str) -> Result<bool, StoreError> {
        self.0.is_known(serial)
    }
}

/// A list of serial numbers the caller allows (the inventory's device list).
#[derive(Debug, Clone, Copy)]
pub struct SerialList<'a>(pub &'a [String]);

impl KnownDevices for SerialList<'_> {
    fn is_known(&self, serial: &str) -> Result<bool, StoreError> {
        Ok(self.0.iter().any(|s| s == serial))
    }
}

/// Known when either source knows it.
#[derive(Debug, Clone, Copy)]
pub struct Either<A, B>(pub A, pub B);

impl<A: KnownDevices, B: KnownDevices> KnownDevices for Either<A, B> {
    fn is_known(&self, serial: &str) -> Result<bool, StoreError> {
        Ok(self.0.is_known(serial)? || self.1.is_known(serial)?)
    }
}

/// Everyone is known (`ade.known_devices_only = false`): only the signature is checked.
#[derive(Debug, Clone, Copy)]
pub struct AnyDevice;

impl KnownDevices for AnyDevice {
    fn is_known(&self, _: &str) -> Result<bool, StoreError> {
        Ok(true)
    }
}

/// The gate: the device CA and the signature policy.
pub struct Gate {
    anchors: Vec<Cert>,
    policy: Policy,
    provider: &'static dyn CryptoProvider,
}

impl core::fmt::Debug for Gate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gate")
            .field(
                "anchors",
                &self
                    .anchors
                    .iter()
                    .map(Cert::subject_string)
                    .collect::<Vec<_>>(),
            )
            .field("policy", &self.policy)
            .field("provider", &self.provider.name())
            .finish()
    }
}

impl Gate {
    /// A gate trusting `anchors` (the device CA, or its root) under `policy`.
    pub fn new(anchors: Vec<Cert>, policy: Policy, provider: &'static dyn CryptoProvider) -> Gate {
        Gate {
            anchors,
            policy,
            provider,
        }
    }

    /// Verify the MachineInfo of a profile request and decide whether the device may enroll.
    ///
    /// `headers` are the request's headers; `body` its body (a POST from Setup Assistant may
    /// carry the SignedData there instead of the header). `known` says which serial numbers
    /// may enroll ([`Synced`], [`SerialList`], [`Either`], [`AnyDevice`]). `now` is the time
    /// certificates are checked at.
    pub fn check(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        known: &dyn KnownDevices,
        now: SystemTime,
    ) -> Result<AdeEnrollment, Refusal> {
        let der = match headers.get(DEVICEINFO_HEADER) {
            Some(v) => {
                let text = v
                    .to_str()
                    .map_err(|_| Refusal::BadSignature("header is not ASCII".into()))?;
                if text.len() > MAX_MACHINE_INFO * 2 {
                    return Err(Refusal::Malformed("header too large".into()));
                }
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|_| Refusal::BadSignature("header is not base64".into()))?
            }
            None if !body.is_empty() => body.to_vec(),
            None => return Err(Refusal::Missing),
        };
        if der.len() > MAX_MACHINE_INFO {
            return Err(Refusal::Malformed(format!(
                "{} bytes, over the limit of {MAX_MACHINE_INFO}",
                der.len()
            )));
        }
        // The signature alone first, so a forged blob and a foreign signer are told apart.
        signed::verify(&der, None, self.provider, &self.policy, None)
            .map_err(|e| Refusal::BadSignature(e.to_string()))?;
        let trust = Trust {
            anchors: &self.anchors,
            now,
            policy: self.policy,
        };
        let limits = mdm_proto::Limits {
            max_bytes: MAX_MACHINE_INFO,
            ..mdm_proto::Limits::default()
        };
        let v =
            signed::machine_info(&der, self.provider, &trust, &limits).map_err(|e| match e {
                mdm_proto::Error::Signature(m) => Refusal::UntrustedSigner(m),
                other => Refusal::Malformed(other.to_string()),
            })?;
        let mi = v.machine_info;
        let serial = mi
            .serial
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or(Refusal::MissingIdentity("SERIAL"))?;
        let udid = mi
            .udid
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or(Refusal::MissingIdentity("UDID"))?;
        if !known
            .is_known(&serial)
            .map_err(|e| Refusal::Store(e.to_string()))?
        {
            return Err(Refusal::UnknownDevice { serial });
        }
        Ok(AdeEnrollment {
            serial,
            udid,
            machine_info: mi,
            signer_der: v.verified.signer_der().to_vec(),
        })
    }
}
