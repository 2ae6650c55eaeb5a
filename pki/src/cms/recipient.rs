//! Who an EnvelopedData is sealed for: a key-transport recipient (RFC 5652 section 6.2.1).

use cms::cert::IssuerAndSerialNumber;
use cms::enveloped_data::RecipientIdentifier;
use der::asn1::OctetString;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

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
#[derive(Debug, Clone)]
pub struct Recipient {
    rid: RecipientIdentifier,
    spki: SubjectPublicKeyInfoOwned,
    transport: KeyTransport,
}

impl Recipient {
    /// The holder of `cert`, named by the certificate's issuer and serial number.
    pub fn from_certificate(cert: &Certificate, transport: KeyTransport) -> Self {
        let tbs = cert.tbs_certificate();
        Recipient {
            rid: RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial_number: tbs.serial_number().clone(),
            }),
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
            rid: RecipientIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(ski)),
            spki,
            transport,
        })
    }

    /// How the recipient is named.
    pub fn rid(&self) -> &RecipientIdentifier {
        &self.rid
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
