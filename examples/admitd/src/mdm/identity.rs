//! Who is calling `/mdm/checkin` and `/mdm/connect`: the identity certificate, from the TLS
//! client certificate of the connection or from the `Mdm-Signature` header.
//!
//! ```text
//! TLS client certificate ──┐                              path to our root through the device CA ✓
//!                          ├─▶ certificate DER ──▶ issued by us over SCEP, not revoked ✓
//! Mdm-Signature + body ────┘                      ──▶ DeviceIdentity { sha256, serial }
//! ```
//!
//! The HTTPS listener asks every client for a certificate but accepts any (or none) at the
//! TLS layer, checking only that the client holds the key; this module decides. So a
//! missing, self-signed, foreign or revoked certificate is answered with HTTP 401, not a
//! failed handshake, and routes other than MDM's ignore client certificates. Which
//! enrollment a certificate may speak for is the check-in handler's rule (see
//! [`super::checkin`]).

use std::sync::Arc;
use std::time::SystemTime;

use pki::cert::Cert;
use pki::cert::path;
use pki::verify::Policy;
use sha2::{Digest as _, Sha256};

/// The client certificate of the TLS connection a request came on (DER), set by the server
/// for every request on that connection.
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub Arc<Vec<u8>>);

/// The header devices put the detached CMS signature of the body in (`SignMessage`).
pub const MDM_SIGNATURE: &str = "mdm-signature";

/// A verified device identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// SHA-256 of the certificate DER: what an enrollment is bound to.
    pub cert_sha256: Vec<u8>,
    /// The certificate's serial, lowercase hex of the DER INTEGER contents.
    pub serial_hex: String,
    /// The certificate's subject common name, if any (the enrollment ticket).
    pub common_name: Option<String>,
    /// How it was presented.
    pub via: Via,
}

/// How a device presented its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The TLS client certificate.
    Tls,
    /// The `Mdm-Signature` header.
    Signature,
}

/// Why a request has no usable identity (each is answered 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Neither a client certificate nor `Mdm-Signature`.
    #[error("no client certificate and no Mdm-Signature")]
    Missing,
    /// `Mdm-Signature` does not verify over the body.
    #[error("Mdm-Signature does not verify: {0}")]
    BadSignature(String),
    /// The certificate does not chain to our device CA.
    #[error("the certificate is not from this server's device CA: {0}")]
    Untrusted(String),
    /// We never issued this certificate over SCEP.
    #[error("the certificate was not issued by this server over SCEP")]
    NotIssued,
    /// We revoked it.
    #[error("the certificate was revoked")]
    Revoked,
}

/// What the check needs: our anchors and the SCEP records.
pub struct Verifier<'a> {
    /// The root (trust anchor) and the device CA (intermediate).
    pub anchors: &'a [Cert],
    /// Intermediates between the anchors and device certificates.
    pub intermediates: &'a [Cert],
    /// The crypto provider.
    pub provider: &'a dyn pki::provider::CryptoProvider,
    /// The SCEP records: issued over SCEP? revoked?
    pub records: &'a crate::scep::Service,
}

impl Verifier<'_> {
    /// Identify the sender of `body`: the connection's certificate if there is one,
    /// otherwise the `Mdm-Signature` header's signer.
    pub fn identify(
        &self,
        peer: Option<&PeerCertificate>,
        signature: Option<&str>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<DeviceIdentity, IdentifyError> {
        let (der, via) = match (peer, signature) {
            (Some(p), _) => (p.0.as_slice().to_vec(), Via::Tls),
            (None, Some(sig)) => {
                let v = mdm_proto::signed::mdm_signature(
                    sig,
                    body,
                    self.provider,
                    &Policy::default(),
                    None,
                )
                .map_err(|e| Refused::BadSignature(e.to_string()))?;
                (v.signer_der().to_vec(), Via::Signature)
            }
            (None, None) => return Err(Refused::Missing.into()),
        };
        let leaf = Cert::from_der(&der).map_err(|e| Refused::Untrusted(e.to_string()))?;
        let opts = path::Options::new(self.anchors, now).with_intermediates(self.intermediates);
        path::validate(self.provider, &leaf, &opts)
            .map_err(|e| Refused::Untrusted(e.to_string()))?;
        let serial_hex = hex::encode(
            leaf.certificate()
                .tbs_certificate()
                .serial_number()
                .as_bytes(),
        );
        match self.records.certificate_record(&serial_hex)? {
            None => return Err(Refused::NotIssued.into()),
            Some(r) if !r.for_scep => return Err(Refused::NotIssued.into()),
            Some(r) if r.revoked => return Err(Refused::Revoked.into()),
            Some(_) => {}
        }
        Ok(DeviceIdentity {
            cert_sha256: Sha256::digest(&der).to_vec(),
            serial_hex,
            common_name: common_name(&leaf),
            via,
        })
    }
}

/// Identification failed: the client's fault (401) or ours (500).
#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    /// Refused: 401.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The SCEP records could not be read.
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
}

fn common_name(cert: &Cert) -> Option<String> {
    cert.certificate()
        .tbs_certificate()
        .subject()
        .common_name()
        .ok()
        .flatten()
        .map(String::from)
}
