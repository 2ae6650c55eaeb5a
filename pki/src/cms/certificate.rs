//! The facts about a certificate that finding a CMS signer needs, read leniently.
//!
//! Real SCEP clients sign with certificates that `x509-cert`'s RFC 5280 profile refuses
//! (certmonger's self-signed "minicert" has a 33-octet serial number). Finding the signer and
//! checking its signature needs only the issuer, the serial number, the subject key identifier
//! and the public key, so this view reads those from the DER directly and keeps the typed
//! [`Certificate`] alongside when it parses.

use der::Decode;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

use super::signer_info::SignerId;
use super::tlv::{self, Children};
use crate::{Error, Result};

/// id-ce-subjectKeyIdentifier (RFC 5280 section 4.2.1.2), DER contents octets.
const SKI_OID_VALUE: [u8; 3] = [0x55, 0x1d, 0x0e];

const WHAT: &str = "Certificate";

/// A certificate as received, with the fields used to match a `SignerIdentifier`.
#[derive(Debug, Clone)]
pub(crate) struct CertView {
    /// The certificate's DER as received.
    pub der: Vec<u8>,
    /// The issuer `Name`, whole encoding.
    pub issuer: Vec<u8>,
    /// The serial number `INTEGER`, whole encoding.
    pub serial: Vec<u8>,
    /// The subject public key.
    pub spki: SubjectPublicKeyInfoOwned,
    /// The subjectKeyIdentifier extension's key identifier, if present.
    pub ski: Option<Vec<u8>>,
    /// The typed certificate, when it fits the RFC 5280 profile of `x509-cert`.
    pub parsed: Option<Certificate>,
}

impl CertView {
    /// Read a certificate's DER.
    pub(crate) fn parse(der: &[u8]) -> Result<Self> {
        let cert = tlv::read_one(der, WHAT)?;
        let mut cert_fields = Children::of(cert, 0x30, WHAT)?;
        let tbs = cert_fields.field(0x30, "tbsCertificate")?;
        let mut f = Children::of(tbs, 0x30, WHAT)?;
        f.optional(0xa0)?; // version
        let serial = f.field(0x02, "serialNumber")?;
        f.field(0x30, "signature")?;
        let issuer = f.field(0x30, "issuer")?;
        f.field(0x30, "validity")?;
        f.field(0x30, "subject")?;
        let spki_tlv = f.field(0x30, "subjectPublicKeyInfo")?;
        let spki = SubjectPublicKeyInfoOwned::from_der(spki_tlv.full)
            .map_err(|e| Error::malformed("SubjectPublicKeyInfo", e))?;
        f.optional(0x81)?; // issuerUniqueID
        f.optional(0x82)?; // subjectUniqueID
        let ski = match f.optional(0xa3)? {
            Some(ext) => find_ski(ext)?,
            None => None,
        };
        Ok(Self {
            der: der.to_vec(),
            issuer: issuer.full.to_vec(),
            serial: serial.full.to_vec(),
            spki,
            ski,
            parsed: Certificate::from_der(der).ok(),
        })
    }

    /// The view of a typed certificate supplied by the caller.
    pub(crate) fn from_certificate(cert: &Certificate) -> Result<Self> {
        use der::Encode;
        let der = cert.to_der().map_err(|e| Error::malformed(WHAT, e))?;
        let mut view = Self::parse(&der)?;
        view.parsed = Some(cert.clone());
        Ok(view)
    }

    /// Whether this certificate is the one `sid` names (RFC 5652 section 5.3).
    ///
    /// A subjectKeyIdentifier matches the certificate's extension, or, when the certificate
    /// has none, the RFC 5280 section 4.2.1.2 method (1) identifier of its key.
    pub(crate) fn matches(&self, sid: &SignerId) -> bool {
        match sid {
            SignerId::IssuerAndSerialNumber { issuer, serial } => {
                *issuer == self.issuer && *serial == self.serial
            }
            SignerId::SubjectKeyIdentifier(id) => match &self.ski {
                Some(ski) => ski == id,
                None => crate::public_key::key_identifier(&self.spki).as_slice() == id.as_slice(),
            },
        }
    }
}

/// The key identifier inside an `[3] EXPLICIT Extensions`, if there is a subjectKeyIdentifier.
fn find_ski(ext: tlv::Tlv<'_>) -> Result<Option<Vec<u8>>> {
    let list = tlv::read_one(ext.value, WHAT)?;
    for item in Children::of(list, 0x30, WHAT)? {
        let mut e = Children::of(item?, 0x30, WHAT)?;
        let oid = e.field(0x06, "extnID")?;
        e.optional(0x01)?; // critical
        let value = e.field(0x04, "extnValue")?;
        if oid.value == SKI_OID_VALUE {
            let id = tlv::read_one(value.value, WHAT)?;
            if id.tag != 0x04 {
                return Err(Error::malformed(
                    WHAT,
                    "subjectKeyIdentifier is not an OCTET STRING",
                ));
            }
            return Ok(Some(id.value.to_vec()));
        }
    }
    Ok(None)
}
