//! Certificates: path validation, CSRs, issuance.
//!
//! ```text
//!   DER ──▶ Cert (typed view + the bytes it came from)
//!             │
//!             ├─▶ path::validate(provider, leaf, &Options) ──▶ ValidatedPath (leaf .. anchor)
//!             │
//!   CSR DER ──▶ csr::Csr ──verify──▶ csr::VerifiedCsr ──▶ issue::from_csr ──▶ Certificate
//!   CsrBuilder ──(&dyn Signer)──▶ CSR DER
//! ```
//!
//! Signatures are always checked over the bytes as received (a certificate whose `SET OF` is
//! not in DER order still verifies), through a [`CryptoProvider`] and a
//! [`Policy`]. Time is an argument everywhere.

use std::ops::Range;

use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Encode, Sequence};
use sha2::Digest as _;
use x509_cert::Certificate;
use x509_cert::ext::Extension;

use crate::alg::SignatureScheme;
use crate::provider::CryptoProvider;
use crate::verify::Policy;
use crate::{Error, Result};

pub mod crl;
pub mod csr;
mod ext;
pub mod issue;
pub mod name;
pub mod path;

pub use ext::SubjectAltNames;

/// Largest certificate or CSR accepted, in bytes.
pub const MAX_DER_LEN: usize = 64 * 1024;

/// The outer shape shared by certificates, CRLs and CSRs, with the signed part kept raw.
///
/// ```text
/// Certificate ::= SEQUENCE {
///     tbsCertificate       TBSCertificate,
///     signatureAlgorithm   AlgorithmIdentifier,
///     signatureValue       BIT STRING }
/// ```
/// (RFC 5280 section 4.1; `CertificationRequest` of RFC 2986 section 4.2 has the same shape.)
#[derive(Sequence)]
struct SignedRaw<'a> {
    tbs: AnyRef<'a>,
    algorithm: AnyRef<'a>,
    signature: BitStringRef<'a>,
}

/// Where the signed part (`tbsCertificate` or `certificationRequestInfo`) sits in `der`.
pub(crate) fn signed_range(what: &'static str, der: &[u8]) -> Result<Range<usize>> {
    if der.len() > MAX_DER_LEN {
        return Err(Error::TooLarge {
            what,
            len: der.len(),
            limit: MAX_DER_LEN,
        });
    }
    let raw = SignedRaw::from_der(der).map_err(|e| Error::malformed(what, e))?;
    let tbs_len = raw
        .tbs
        .encoded_len()
        .and_then(usize::try_from)
        .map_err(|e| Error::malformed(what, e))?;
    let mut reader = der::SliceReader::new(der).map_err(|e| Error::malformed(what, e))?;
    let outer = der::Header::decode(&mut reader)
        .map_err(|e| Error::malformed(what, e))?
        .encoded_len()
        .and_then(usize::try_from)
        .map_err(|e| Error::malformed(what, e))?;
    let end = outer
        .checked_add(tbs_len)
        .filter(|end| *end <= der.len())
        .ok_or_else(|| Error::malformed(what, "signed part overruns the input"))?;
    Ok(outer..end)
}

/// A certificate together with the DER it was read from.
///
/// Path validation checks signatures over the `tbsCertificate` bytes exactly as received, so it
/// works on this type rather than on a re-encoded [`Certificate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    der: Vec<u8>,
    tbs: Range<usize>,
    cert: Certificate,
}

impl Cert {
    /// Parse one DER certificate, refusing trailing bytes and inputs over [`MAX_DER_LEN`].
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let tbs = signed_range("Certificate", der)?;
        let cert = Certificate::from_der(der).map_err(|e| Error::malformed("Certificate", e))?;
        Ok(Self {
            der: der.to_vec(),
            tbs,
            cert,
        })
    }

    /// Parse one PEM certificate (label `CERTIFICATE`).
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let (label, der) =
            der::pem::decode_vec(pem).map_err(|e| Error::malformed("PEM certificate", e))?;
        if label != "CERTIFICATE" {
            return Err(Error::malformed(
                "PEM certificate",
                format!("label is {label}, expected CERTIFICATE"),
            ));
        }
        Self::from_der(&der)
    }

    /// Every certificate in a PEM bundle, in order.
    pub fn from_pem_chain(pem: &[u8]) -> Result<Vec<Self>> {
        let text =
            std::str::from_utf8(pem).map_err(|e| Error::malformed("PEM certificate bundle", e))?;
        let mut out = Vec::new();
        let mut rest = text;
        const END: &str = "-----END CERTIFICATE-----";
        while let Some(begin) = rest.find("-----BEGIN CERTIFICATE-----") {
            let tail = &rest[begin..];
            let end = tail
                .find(END)
                .ok_or_else(|| Error::malformed("PEM certificate bundle", "missing END line"))?
                + END.len();
            out.push(Self::from_pem(&tail.as_bytes()[..end])?);
            rest = &tail[end..];
        }
        Ok(out)
    }

    /// Encode a typed certificate (for one built in memory, such as by [`issue::issue`]).
    pub fn from_certificate(cert: &Certificate) -> Result<Self> {
        let der = cert
            .to_der()
            .map_err(|e| Error::malformed("Certificate", e))?;
        Self::from_der(&der)
    }

    /// The typed view.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The DER as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The `tbsCertificate` bytes as received (what the signature covers).
    pub fn tbs_der(&self) -> &[u8] {
        // The range was checked against `der` at construction.
        self.der.get(self.tbs.clone()).unwrap_or_default()
    }

    /// SHA-256 of the certificate's DER.
    pub fn fingerprint_sha256(&self) -> [u8; 32] {
        sha2::Sha256::digest(&self.der).into()
    }

    /// The subject in RFC 4514 form, for messages.
    pub fn subject_string(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    /// Check this certificate's signature with the key in `issuer_spki`.
    pub fn verify_signed_by(
        &self,
        provider: &dyn CryptoProvider,
        policy: &Policy,
        issuer_spki: &spki::SubjectPublicKeyInfoOwned,
    ) -> Result<()> {
        if self.cert.signature_algorithm() != self.cert.tbs_certificate().signature() {
            return Err(Error::malformed(
                "Certificate",
                "signatureAlgorithm differs from tbsCertificate.signature",
            ));
        }
        let scheme =
            SignatureScheme::from_algorithm_identifier(self.cert.signature_algorithm(), None)?;
        let sig = self
            .cert
            .signature()
            .as_bytes()
            .ok_or_else(|| Error::malformed("Certificate", "signature is not whole bytes"))?;
        crate::verify::signature(provider, policy, issuer_spki, scheme, self.tbs_der(), sig)
    }

    /// The extensions (empty for a v1 certificate).
    pub fn extensions(&self) -> &[Extension] {
        self.cert
            .tbs_certificate()
            .extensions()
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The subjectAltName entries, if the extension is present.
    pub fn subject_alt_names(&self) -> Result<Option<SubjectAltNames>> {
        let ext = ext::Parsed::from_extensions(self.extensions())?;
        Ok(ext
            .san
            .map(|names| SubjectAltNames::from_general_names(&names)))
    }
}

impl TryFrom<&Certificate> for Cert {
    type Error = Error;
    fn try_from(cert: &Certificate) -> Result<Self> {
        Self::from_certificate(cert)
    }
}

/// SHA-256 of a certificate's DER encoding (`openssl x509 -fingerprint -sha256`).
pub fn fingerprint_sha256(cert: &Certificate) -> Result<[u8; 32]> {
    let der = cert
        .to_der()
        .map_err(|e| Error::malformed("Certificate", e))?;
    Ok(sha2::Sha256::digest(&der).into())
}
