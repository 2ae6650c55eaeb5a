//! The pkiMessage: a CMS SignedData whose signer carries the SCEP attributes and whose content
//! is an EnvelopedData (RFC 8894 section 3.2).
//!
//! ```text
//! pkiMessage  ContentInfo { id-signedData, SignedData {
//!               encapContentInfo { id-data, eContent OCTET STRING  -- pkcsPKIEnvelope,
//!                                                                -- absent or empty in a
//!                                                                -- FAILURE / PENDING CertRep
//!               certificates     -- the signer's certificate (and chain)
//!               signerInfos      -- exactly one, signed attributes: messageType,
//!                                -- transactionID, senderNonce, [recipientNonce, pkiStatus,
//!                                -- failInfo, failInfoText] } }
//! pkcsPKIEnvelope  ContentInfo { id-envelopedData, EnvelopedData { ... messageData ... } }
//! ```
//!
//! [`PkiMessage::parse`] is the structural, key-free read (BER accepted through
//! [`pki::ber`]): it is what a fuzzer drives. Verification and decryption happen in
//! [`crate::Responder`] (server) and [`crate::Client`] (client).

use pki::alg::{HashAlg, SignatureScheme, oid as pki_oid};
use pki::cms::{EnvelopedData, SignedData, SignedDataBuilder, SignerInfoBuilder};
use pki::key::{KeyKind, Signer};
use pki::provider::CryptoProvider;
use pki::x509_cert::Certificate;

use crate::Error;
use crate::attributes::ScepAttributes;
use crate::message::{MessageType, TransactionId};
use crate::operation::Limits;

/// A pkiMessage parsed without any key: the SignedData, its one signer's SCEP attributes, and
/// the EnvelopedData it carries (if any). Nothing is verified yet.
#[derive(Debug, Clone)]
pub struct PkiMessage {
    signed: SignedData,
    attributes: ScepAttributes,
    envelope: Option<EnvelopedData>,
}

impl PkiMessage {
    /// Parse a pkiMessage (BER or DER) within the default [`Limits`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        Self::parse_with_limits(bytes, &Limits::default())
    }

    /// Parse a pkiMessage (BER or DER) within `limits`: the size is checked first
    /// ([`Error::TooLarge`]), then the SignedData goes through the BER intake (bytes after it
    /// are an error), it must have exactly one signer with SCEP signed attributes, content
    /// type id-data, and, when its content is not empty, an EnvelopedData as content.
    pub fn parse_with_limits(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        Self::parse_parts(bytes, limits, true)
    }

    /// As [`PkiMessage::parse_with_limits`], but the content is not parsed as an
    /// EnvelopedData ([`PkiMessage::envelope`] is `None`): for tools that describe a message
    /// whose envelope this crate cannot read (e.g. one sealed to certmonger's certificate
    /// with a 33-octet serial number).
    pub fn parse_without_envelope(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        Self::parse_parts(bytes, limits, false)
    }

    /// As [`PkiMessage::parse_with_limits`], leaving the envelope unparsed unless `envelope`.
    pub(crate) fn parse_parts(
        bytes: &[u8],
        limits: &Limits,
        envelope: bool,
    ) -> Result<Self, Error> {
        if bytes.len() > limits.max_message {
            return Err(Error::TooLarge {
                len: bytes.len(),
                limit: limits.max_message,
            });
        }
        let ber_limits = pki::ber::Limits {
            max_len: limits.max_message,
            ..pki::ber::Limits::default()
        };
        let signed = SignedData::from_ber(bytes, &ber_limits)?;
        let signer = match signed.signer_infos() {
            [one] => one,
            other => {
                return Err(Error::Malformed(format!(
                    "a pkiMessage has exactly one signer, this one has {}",
                    other.len()
                )));
            }
        };
        let attrs = signer
            .signed_attributes()
            .ok_or(Error::MissingAttribute("messageType"))?;
        let attributes = ScepAttributes::from_signed_attributes(attrs)?;
        if signed.content_type() != pki_oid::DATA {
            return Err(Error::Pki(pki::Error::WrongContentType {
                expected: pki_oid::DATA.to_string(),
                found: signed.content_type().to_string(),
            }));
        }
        let envelope = match signed.content() {
            Some(c) if envelope && !c.is_empty() => Some(EnvelopedData::from_ber(c, &ber_limits)?),
            _ => None,
        };
        Ok(PkiMessage {
            signed,
            attributes,
            envelope,
        })
    }

    /// The SignedData (DER after the BER intake).
    pub fn signed_data(&self) -> &SignedData {
        &self.signed
    }

    /// The signer's SCEP attributes (not yet verified).
    pub fn attributes(&self) -> &ScepAttributes {
        &self.attributes
    }

    /// messageType.
    pub fn message_type(&self) -> MessageType {
        self.attributes.message_type
    }

    /// transactionID.
    pub fn transaction_id(&self) -> &TransactionId {
        &self.attributes.transaction_id
    }

    /// The pkcsPKIEnvelope, when the message carries one.
    pub fn envelope(&self) -> Option<&EnvelopedData> {
        self.envelope.as_ref()
    }

    /// The digest algorithm of the signer.
    pub fn digest(&self) -> Result<HashAlg, Error> {
        let si = self
            .signed
            .signer_infos()
            .first()
            .ok_or(Error::Malformed("no signer".into()))?;
        Ok(HashAlg::from_algorithm_identifier(si.digest_algorithm())?)
    }
}

/// The signature scheme a key of `kind` uses with digest `hash` (RSA PKCS#1 v1.5, ECDSA with
/// DER signatures, Ed25519).
pub(crate) fn scheme_for(kind: KeyKind, hash: HashAlg) -> SignatureScheme {
    match kind {
        KeyKind::Rsa { .. } => SignatureScheme::RsaPkcs1v15(hash),
        KeyKind::Ec(_) => SignatureScheme::ecdsa(hash),
        KeyKind::Ed25519 => SignatureScheme::Ed25519,
        #[allow(unreachable_patterns)]
        _ => kind.default_scheme(),
    }
}

/// Sign a pkiMessage: `content` (the pkcsPKIEnvelope, or empty for an empty eContent) with
/// `attributes`, by `key` whose certificate is `cert` (carried in `certificates`), digest
/// `hash`.
pub(crate) fn sign(
    provider: &dyn CryptoProvider,
    key: &dyn Signer,
    cert: &Certificate,
    hash: HashAlg,
    attributes: &ScepAttributes,
    content: &[u8],
    rng: &mut dyn rand_core::CryptoRng,
) -> Result<Vec<u8>, Error> {
    let mut signer = SignerInfoBuilder::new(key, cert, scheme_for(key.kind(), hash));
    for a in attributes.to_attributes()? {
        signer = signer.signed_attribute(a);
    }
    // A FAILURE or PENDING CertRep has no pkcsPKIEnvelope. It still carries an eContent: an
    // empty OCTET STRING, whose messageDigest is that of the empty string. Leaving eContent out
    // (a detached signature) is what RFC 8894 section 3.3.2 suggests, but OpenSSL's PKCS7
    // verification, and with it certmonger and sscep, then stops with "no content" and never
    // sees the failInfo.
    let b = SignedDataBuilder::new(pki_oid::DATA, content)
        .certificate(cert.clone())
        .signer(signer);
    Ok(b.build(provider, rng)?)
}
