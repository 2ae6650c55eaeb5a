//! Endorsement Key certificates and EK URIs.
//!
//! Intake is an explicit lenient step: [`EkCertificate::from_nv`] accepts what TPMs store in
//! their EK certificate NV indices (TCG PC Client Platform TPM Profile; EK Credential Profile
//! section 2.2.1.5) and records every quirk it had to step over:
//!
//! ```text
//! NV blob      = [ 10 01 00 <u16 len> [10 02] ]  DER Certificate  [ trailing bytes / 0xff padding ]
//!                  TCG_PCCLIENT_STORED_CERT          (RFC 5280)      (NV index size > cert size)
//!                  header (TPM 1.2 style)
//! ```
//! A certificate that is not DER (non-minimal lengths, indefinite lengths, constructed strings)
//! goes through `pki::ber::to_der` and is recorded as [`Quirk::NotDer`]; its signature is then
//! checked over the re-encoded bytes, so a chain only validates if the re-encoding left the
//! signed part untouched. SET OF elements out of DER order (seen on Nuvoton parts) are accepted
//! by the DER decoder as they are (`pki::ber` deliberately keeps their order).
//!
//! Chains are validated by `pki::cert::path` ([`EkCertificate::validate_chain`]) with the
//! caller's anchors (partial-chain anchors allowed), intermediates and time.
//!
//! The EK URI is Smallstep's: `urn:ek:sha256:` + standard padded base64 of SHA-256 over the
//! DER `SubjectPublicKeyInfo`, compared exactly.

use base64::Engine;
use der::{Decode, Encode};
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use serde_json::{Value, json};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

use super::public::Public;
use super::wire::hex;
use crate::{Error, Result};

/// Largest NV blob accepted (EK certificate indices are at most a few KiB).
pub const MAX_NV_BYTES: usize = 16 * 1024;

/// A quirk the lenient intake stepped over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Quirk {
    /// A `10 01 00 <len>` TCG stored-certificate header (and optional `10 02` full-cert tag).
    NvHeader,
    /// `len` bytes of 0xff (or 0x00) padding after the certificate, up to the NV index size.
    Padding {
        /// How many bytes.
        len: usize,
    },
    /// `len` bytes of other data after the certificate.
    TrailingData {
        /// How many bytes.
        len: usize,
    },
    /// The certificate was BER, not DER, and was re-encoded by `pki::ber::to_der`.
    NotDer,
}

impl Quirk {
    fn describe(&self) -> String {
        match self {
            Quirk::NvHeader => "TCG NV header 10 01 00 <len>".into(),
            Quirk::Padding { len } => format!("{len} bytes of padding after the certificate"),
            Quirk::TrailingData { len } => format!("{len} bytes of trailing data"),
            Quirk::NotDer => "BER encoding re-encoded as DER".into(),
        }
    }
}

/// An EK certificate read from NV (or given as DER), with the quirks of its intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EkCertificate {
    cert: Certificate,
    der: Vec<u8>,
    quirks: Vec<Quirk>,
}

/// An EK certificate whose public key is the TPM's EK.
#[derive(Debug, Clone)]
pub struct BoundEk {
    cert: EkCertificate,
    ek: Public,
}

impl BoundEk {
    /// The certificate.
    pub fn certificate(&self) -> &EkCertificate {
        &self.cert
    }
    /// The TPM's EK public area.
    pub fn ek(&self) -> &Public {
        &self.ek
    }
}

impl EkCertificate {
    /// Lenient intake of an EK certificate NV blob (see the module docs): strips a TCG header,
    /// cuts the DER certificate at the length its outer SEQUENCE states, and records the
    /// header, padding and trailing data as [`Quirk`]s. The certificate itself must be DER.
    pub fn from_nv(blob: &[u8]) -> Result<Self> {
        if blob.len() > MAX_NV_BYTES {
            return Err(Error::TooLarge {
                what: "EK certificate NV blob",
                len: blob.len(),
                limit: MAX_NV_BYTES,
            });
        }
        let mut quirks = Vec::new();
        let mut body = blob;
        if blob.len() > 5 && blob[..3] == [0x10, 0x01, 0x00] {
            let len = usize::from(u16::from_be_bytes([blob[3], blob[4]]));
            body = blob.get(5..5 + len).ok_or(Error::Truncated {
                what: "EK certificate NV header",
                needed: len,
                left: blob.len() - 5,
            })?;
            if body.starts_with(&[0x10, 0x02]) {
                body = &body[2..];
            }
            quirks.push(Quirk::NvHeader);
        }
        let total = der_len(body)?;
        let cert_der = body.get(..total).ok_or(Error::Truncated {
            what: "EK certificate",
            needed: total,
            left: body.len(),
        })?;
        let rest = &body[total..];
        if !rest.is_empty() {
            if rest.iter().all(|b| *b == 0xff) || rest.iter().all(|b| *b == 0) {
                quirks.push(Quirk::Padding { len: rest.len() });
            } else {
                quirks.push(Quirk::TrailingData { len: rest.len() });
            }
        }
        let (cert, der) = match Certificate::from_der(cert_der) {
            Ok(c) => (c, cert_der.to_vec()),
            Err(strict) => {
                let der = pki::ber::to_der(cert_der, &pki::ber::Limits::default())
                    .map_err(|_| Error::malformed("EK certificate", strict))?;
                let cert = Certificate::from_der(&der)
                    .map_err(|e| Error::malformed("EK certificate", e))?;
                quirks.push(Quirk::NotDer);
                (cert, der)
            }
        };
        Ok(Self { cert, der, quirks })
    }

    /// A strict DER certificate (no quirks accepted).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let cert = Certificate::from_der(der).map_err(|e| Error::malformed("EK certificate", e))?;
        Ok(Self {
            cert,
            der: der.to_vec(),
            quirks: Vec::new(),
        })
    }

    /// The parsed certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The certificate's DER (without header or padding).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The quirks stepped over during intake.
    pub fn quirks(&self) -> &[Quirk] {
        &self.quirks
    }

    /// The certificate's public key.
    pub fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        self.cert.tbs_certificate().subject_public_key_info()
    }

    /// The EK URI of the certificate's key.
    pub fn ek_uri(&self) -> Result<String> {
        ek_uri(self.spki())
    }

    /// The caIssuers URLs of the Authority Information Access extension: surfaced for the
    /// caller, never fetched here.
    pub fn aia_urls(&self) -> Vec<String> {
        use x509_cert::ext::pkix::AuthorityInfoAccessSyntax;
        use x509_cert::ext::pkix::name::GeneralName;
        let ca_issuers = const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
        let Ok(Some(aia)) = self
            .cert
            .tbs_certificate()
            .get_extension::<AuthorityInfoAccessSyntax>()
        else {
            return Vec::new();
        };
        aia.1
            .0
            .iter()
            .filter(|d| d.access_method == ca_issuers)
            .filter_map(|d| match &d.access_location {
                GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Check that the certificate's key is the TPM's EK (same algorithm, parameters and key).
    pub fn bind(self, ek: &Public) -> Result<BoundEk> {
        let mine = self
            .spki()
            .to_der()
            .map_err(|e| Error::malformed("EK certificate SPKI", e))?;
        let theirs = ek
            .spki()?
            .to_der()
            .map_err(|e| Error::malformed("EK SPKI", e))?;
        if mine != theirs {
            return Err(Error::EkKeyMismatch);
        }
        Ok(BoundEk {
            cert: self,
            ek: ek.clone(),
        })
    }

    /// Validate the certificate up to one of the caller's anchors with `pki::cert::path`
    /// (vendor roots, or vendor intermediates as partial-chain anchors; the caller's
    /// intermediates; the caller's time and policy).
    pub fn validate_chain(
        &self,
        provider: &dyn CryptoProvider,
        options: &pki::cert::path::Options<'_>,
    ) -> Result<pki::cert::path::ValidatedPath> {
        let leaf = pki::cert::Cert::from_der(&self.der)?;
        Ok(pki::cert::path::validate(provider, &leaf, options)?)
    }

    /// Check the certificate's signature with `issuer`'s key: one link of a chain, without
    /// time or constraints (use [`EkCertificate::validate_chain`] for a path).
    pub fn verify_issued_by(
        &self,
        issuer: &Certificate,
        provider: &dyn CryptoProvider,
        policy: &Policy,
    ) -> Result<()> {
        verify_issued_by(&self.cert, issuer, provider, policy)
    }

    /// The certificate rendered for inspection: the usual fields, the EK URI and the quirks.
    pub fn to_json(&self) -> Value {
        let tbs = self.cert.tbs_certificate();
        json!({
            "serialNumber": hex(tbs.serial_number().as_bytes()),
            "issuer": tbs.issuer().to_string(),
            "subject": tbs.subject().to_string(),
            "notBefore": tbs.validity().not_before.to_string(),
            "notAfter": tbs.validity().not_after.to_string(),
            "subjectPublicKeyAlgorithm": self.spki().algorithm.oid.to_string(),
            "signatureAlgorithm": self.cert.signature_algorithm().oid.to_string(),
            "ekUri": self.ek_uri().unwrap_or_default(),
            "aia": self.aia_urls(),
            "quirks": self.quirks.iter().map(Quirk::describe).collect::<Vec<_>>(),
        })
    }
}

/// Check `cert`'s signature with `issuer`'s public key.
pub fn verify_issued_by(
    cert: &Certificate,
    issuer: &Certificate,
    provider: &dyn CryptoProvider,
    policy: &Policy,
) -> Result<()> {
    let scheme =
        pki::alg::SignatureScheme::from_algorithm_identifier(cert.signature_algorithm(), None)?;
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(|e| Error::malformed("TBSCertificate", e))?;
    let sig = cert.signature().as_bytes().ok_or(Error::Malformed {
        what: "certificate signature",
        reason: "not whole bytes".into(),
    })?;
    pki::verify::signature(
        provider,
        policy,
        issuer.tbs_certificate().subject_public_key_info(),
        scheme,
        &tbs,
        sig,
    )?;
    Ok(())
}

/// The length of the DER SEQUENCE at the start of `body`, header included.
fn der_len(body: &[u8]) -> Result<usize> {
    let bad = |reason: &str| Error::Malformed {
        what: "EK certificate",
        reason: reason.to_string(),
    };
    match body.first() {
        Some(0x30) => {}
        _ => return Err(bad("does not start with a SEQUENCE")),
    }
    let first = *body.get(1).ok_or_else(|| bad("truncated length"))?;
    let (hdr, len) = match first {
        0..=0x7f => (2, usize::from(first)),
        0x81..=0x83 => {
            let n = usize::from(first & 0x7f);
            let bytes = body.get(2..2 + n).ok_or_else(|| bad("truncated length"))?;
            let len = bytes.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
            (2 + n, len)
        }
        _ => return Err(bad("unsupported length encoding")),
    };
    Ok(hdr + len)
}

/// The EK URI of a public key: `urn:ek:sha256:` + standard padded base64 of
/// SHA-256(DER SubjectPublicKeyInfo).
pub fn ek_uri(spki: &SubjectPublicKeyInfoOwned) -> Result<String> {
    let fp = pki::public_key::fingerprint_sha256(spki)?;
    Ok(format!(
        "urn:ek:sha256:{}",
        base64::engine::general_purpose::STANDARD.encode(fp)
    ))
}

/// Check that `uri` is exactly the EK URI of `spki` (no case folding, no re-padding).
pub fn check_ek_uri(uri: &str, spki: &SubjectPublicKeyInfoOwned) -> Result<()> {
    let expected = ek_uri(spki)?;
    if uri == expected {
        Ok(())
    } else {
        Err(Error::EkUriMismatch {
            expected,
            found: uri.to_string(),
        })
    }
}
