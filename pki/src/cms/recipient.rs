//! Who an EnvelopedData is sealed for: a key-transport recipient (RFC 5652 section 6.2.1).

use cms::cert::IssuerAndSerialNumber;
use cms::enveloped_data::RecipientIdentifier;
use der::asn1::OctetString;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::certificate::CertView;
use crate::alg::KeyTransport;
use crate::{Error, Result};

/// A recipient for [`super::EnvelopedData::seal`]: an RSA public key, how to name it in the
/// `KeyTransRecipientInfo`, and how to wrap the content-encryption key for it.
///
/// ```text
///   RecipientIdentifier ::= CHOICE {
///       issuerAndSerialNumber IssuerAndSerialNumber,     -- ktri version 0
///       subjectKeyIdentifier [0] SubjectKeyIdentifier }  -- ktri version 2
/// ```
///
/// A certificate whose serial number is longer than RFC 5280 allows (certmonger's self-signed
/// SCEP request certificate has 33 octets) cannot be held by the `cms` types; such a recipient
/// ([`Recipient::from_certificate_der`]) keeps its issuerAndSerialNumber as the DER read from
/// the certificate, and [`Recipient::rid`] is `None` for it.
#[derive(Debug, Clone)]
pub struct Recipient {
    rid: Rid,
    spki: SubjectPublicKeyInfoOwned,
    transport: KeyTransport,
}

#[derive(Debug, Clone)]
enum Rid {
    Typed(RecipientIdentifier),
    /// An issuerAndSerialNumber SEQUENCE, whole DER, built from a certificate's raw fields.
    RawIssuerAndSerial(Vec<u8>),
}

impl Recipient {
    /// The holder of `cert`, named by the certificate's issuer and serial number.
    pub fn from_certificate(cert: &Certificate, transport: KeyTransport) -> Self {
        let tbs = cert.tbs_certificate();
        Recipient {
            rid: Rid::Typed(RecipientIdentifier::IssuerAndSerialNumber(
                IssuerAndSerialNumber {
                    issuer: tbs.issuer().clone(),
                    serial_number: tbs.serial_number().clone(),
                },
            )),
            spki: tbs.subject_public_key_info().clone(),
            transport,
        }
    }

    /// The holder of the key in `spki`, named by `key_identifier` (for example
    /// [`crate::public_key::key_identifier`] of `spki`, or the subjectKeyIdentifier extension of
    /// its certificate).
    pub fn from_spki(
        spki: SubjectPublicKeyInfoOwned,
        key_identifier: &[u8],
        transport: KeyTransport,
    ) -> Result<Self> {
        let ski = OctetString::new(key_identifier)
            .map_err(|e| Error::malformed("subjectKeyIdentifier", e))?;
        Ok(Recipient {
            rid: Rid::Typed(RecipientIdentifier::SubjectKeyIdentifier(
                SubjectKeyIdentifier(ski),
            )),
            spki,
            transport,
        })
    }

    /// The holder of the certificate whose DER is `cert_der`, named by its issuer and serial
    /// number exactly as the certificate encodes them. Unlike [`Recipient::from_certificate`]
    /// this accepts certificates outside `x509-cert`'s RFC 5280 profile, such as serial numbers
    /// over 20 octets.
    pub fn from_certificate_der(cert_der: &[u8], transport: KeyTransport) -> Result<Self> {
        let view = CertView::parse(cert_der)?;
        let mut body = view.issuer;
        body.extend_from_slice(&view.serial);
        let ias = der::asn1::AnyRef::new(der::Tag::Sequence, &body)
            .and_then(|a| der::Encode::to_der(&a))
            .map_err(|e| Error::malformed("IssuerAndSerialNumber", e))?;
        Ok(Recipient {
            rid: Rid::RawIssuerAndSerial(ias),
            spki: view.spki,
            transport,
        })
    }

    /// How the recipient is named, as a `cms` type; `None` for a recipient made by
    /// [`Recipient::from_certificate_der`] (see [`Recipient::rid_der`]).
    pub fn rid(&self) -> Option<&RecipientIdentifier> {
        match &self.rid {
            Rid::Typed(r) => Some(r),
            Rid::RawIssuerAndSerial(_) => None,
        }
    }

    /// The RecipientIdentifier's DER.
    pub fn rid_der(&self) -> Result<Vec<u8>> {
        match &self.rid {
            Rid::Typed(r) => {
                der::Encode::to_der(r).map_err(|e| Error::malformed("RecipientIdentifier", e))
            }
            Rid::RawIssuerAndSerial(d) => Ok(d.clone()),
        }
    }

    /// Whether the recipient is named by subjectKeyIdentifier (ktri version 2).
    pub(crate) fn by_key_identifier(&self) -> bool {
        matches!(
            self.rid,
            Rid::Typed(RecipientIdentifier::SubjectKeyIdentifier(_))
        )
    }

    /// The recipient's public key.
    pub fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    /// How the content-encryption key is wrapped for this recipient.
    pub fn key_transport(&self) -> KeyTransport {
        self.transport
    }
}
