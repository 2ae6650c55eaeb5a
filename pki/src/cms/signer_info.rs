//! `SignerInfo` as received (RFC 5652 section 5.3), keeping the signer's own bytes.

use core::ops::Range;

use cms::content_info::CmsVersion;
use der::Decode;
use der::asn1::ObjectIdentifier;
use spki::AlgorithmIdentifierOwned;

use super::tlv::{self, Children};
use crate::{Error, Result};

const WHAT: &str = "SignerInfo";

/// Which certificate signed, as a `SignerInfo` names it (RFC 5652 section 5.3).
///
/// ```text
/// SignerIdentifier ::= CHOICE {
///   issuerAndSerialNumber IssuerAndSerialNumber,
///   subjectKeyIdentifier [0] SubjectKeyIdentifier }
///
/// IssuerAndSerialNumber ::= SEQUENCE {
///   issuer Name,
///   serialNumber CertificateSerialNumber }
/// ```
///
/// The issuer and serial number are kept as the DER the signer sent, so that serial numbers
/// longer than RFC 5280 allows (certmonger uses 33 octets) still match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerId {
    /// `issuerAndSerialNumber`.
    IssuerAndSerialNumber {
        /// The issuer `Name`, whole DER encoding.
        issuer: Vec<u8>,
        /// The serial number `INTEGER`, whole DER encoding.
        serial: Vec<u8>,
    },
    /// `subjectKeyIdentifier`: the key identifier octets.
    SubjectKeyIdentifier(Vec<u8>),
}

impl SignerId {
    fn parse(t: tlv::Tlv<'_>) -> Result<Self> {
        match t.tag {
            0x30 => {
                let mut f = Children::of(t, 0x30, "IssuerAndSerialNumber")?;
                let issuer = f.field(0x30, "issuer")?;
                let serial = f.field(0x02, "serialNumber")?;
                f.finish()?;
                Ok(SignerId::IssuerAndSerialNumber {
                    issuer: issuer.full.to_vec(),
                    serial: serial.full.to_vec(),
                })
            }
            0x80 => Ok(SignerId::SubjectKeyIdentifier(t.value.to_vec())),
            other => Err(Error::Malformed {
                what: WHAT,
                reason: format!("sid: unexpected tag 0x{other:02x}"),
            }),
        }
    }
}

/// One attribute of a [`SignedAttributes`]: its type and where its values are.
#[derive(Debug, Clone)]
struct RawAttribute {
    oid: ObjectIdentifier,
    values: Vec<Range<usize>>,
}

/// The signed attributes of a `SignerInfo`, exactly as the signer encoded them.
///
/// ```text
/// signedAttrs [0] IMPLICIT SignedAttributes OPTIONAL
/// SignedAttributes ::= SET SIZE (1..MAX) OF Attribute
/// Attribute ::= SEQUENCE {
///   attrType OBJECT IDENTIFIER,
///   attrValues SET OF AttributeValue }
/// ```
///
/// RFC 5652 section 5.4: the signature covers these bytes with the `[0]` tag replaced by the
/// `SET OF` tag (`0x31`), so they are never re-encoded (DER decoders sort `SET OF`, which would
/// break the signature of a signer that did not). An attribute type appearing twice is refused
/// when the message is parsed, so a lookup has one answer.
#[derive(Debug, Clone)]
pub struct SignedAttributes {
    der: Vec<u8>,
    attrs: Vec<RawAttribute>,
}

impl SignedAttributes {
    pub(crate) fn parse(t: tlv::Tlv<'_>) -> Result<Self> {
        let der = t.full.to_vec();
        let mut attrs: Vec<RawAttribute> = Vec::new();
        let what = "signedAttrs";
        for attr in Children::of(t, 0xa0, what)? {
            let mut f = Children::of(attr?, 0x30, what)?;
            let oid_tlv = f.field(0x06, "attrType")?;
            let oid =
                ObjectIdentifier::from_der(oid_tlv.full).map_err(|e| Error::malformed(what, e))?;
            let set = f.field(0x31, "attrValues")?;
            f.finish()?;
            if attrs.iter().any(|a| a.oid == oid) {
                return Err(Error::BadAttribute {
                    name: "signedAttrs",
                    reason: format!("attribute {oid} appears more than once"),
                });
            }
            let mut values = Vec::new();
            for v in Children::of(set, 0x31, what)? {
                let v = v?;
                // `v.full` lies inside `t.full`, which `der` copies: same offsets.
                let start = (v.full.as_ptr() as usize).wrapping_sub(t.full.as_ptr() as usize);
                values.push(start..start + v.full.len());
            }
            attrs.push(RawAttribute { oid, values });
        }
        Ok(Self { der, attrs })
    }

    /// The values of the attribute `oid`, each as its whole DER encoding (tag, length,
    /// contents), in the order received; `None` when the attribute is absent.
    pub fn get(&self, oid: &ObjectIdentifier) -> Option<Vec<&[u8]>> {
        let attr = self.attrs.iter().find(|a| a.oid == *oid)?;
        Some(
            attr.values
                .iter()
                .filter_map(|r| self.der.get(r.clone()))
                .collect(),
        )
    }

    /// The one value of the attribute `oid` (whole DER encoding); `None` when absent, and
    /// [`Error::BadAttribute`] when it has no value or several.
    pub fn single(&self, oid: &ObjectIdentifier) -> Result<Option<&[u8]>> {
        let Some(values) = self.get(oid) else {
            return Ok(None);
        };
        match values.as_slice() {
            [one] => Ok(Some(one)),
            other => Err(Error::BadAttribute {
                name: "signed attribute",
                reason: format!("{oid} has {} values, expected one", other.len()),
            }),
        }
    }

    /// The attribute types, in the order received.
    pub fn oids(&self) -> impl Iterator<Item = &ObjectIdentifier> {
        self.attrs.iter().map(|a| &a.oid)
    }

    /// The number of attributes.
    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    /// Whether there are no attributes (RFC 5652 forbids it; a parsed message may still have
    /// it, and then fails verification).
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// The `[0] IMPLICIT` encoding as received.
    pub fn as_received(&self) -> &[u8] {
        &self.der
    }

    /// The bytes the signature covers: the received encoding with its tag replaced by `SET OF`
    /// (`0x31`), RFC 5652 section 5.4.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut v = self.der.clone();
        if let Some(first) = v.first_mut() {
            *first = 0x31;
        }
        v
    }
}

/// One `SignerInfo` of a parsed SignedData (RFC 5652 section 5.3).
///
/// ```text
/// SignerInfo ::= SEQUENCE {
///   version CMSVersion,
///   sid SignerIdentifier,
///   digestAlgorithm DigestAlgorithmIdentifier,
///   signedAttrs [0] IMPLICIT SignedAttributes OPTIONAL,
///   signatureAlgorithm SignatureAlgorithmIdentifier,
///   signature SignatureValue,
///   unsignedAttrs [1] IMPLICIT UnsignedAttributes OPTIONAL }
/// ```
#[derive(Debug, Clone)]
pub struct SignerInfo {
    der: Vec<u8>,
    version: CmsVersion,
    sid: SignerId,
    digest_algorithm: AlgorithmIdentifierOwned,
    signed_attrs: Option<SignedAttributes>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: Vec<u8>,
    unsigned_attrs: Option<Vec<u8>>,
}

impl SignerInfo {
    pub(crate) fn parse(t: tlv::Tlv<'_>) -> Result<Self> {
        let mut f = Children::of(t, 0x30, WHAT)?;
        let version = CmsVersion::from_der(f.field(0x02, "version")?.full)
            .map_err(|e| Error::malformed(WHAT, e))?;
        let sid = SignerId::parse(f.next_any()?)?;
        let digest_algorithm =
            AlgorithmIdentifierOwned::from_der(f.field(0x30, "digestAlgorithm")?.full)
                .map_err(|e| Error::malformed(WHAT, e))?;
        let signed_attrs = f.optional(0xa0)?.map(SignedAttributes::parse).transpose()?;
        let signature_algorithm =
            AlgorithmIdentifierOwned::from_der(f.field(0x30, "signatureAlgorithm")?.full)
                .map_err(|e| Error::malformed(WHAT, e))?;
        let signature = f.field(0x04, "signature")?.value.to_vec();
        let unsigned_attrs = f.optional(0xa1)?.map(|u| u.full.to_vec());
        f.finish()?;
        Ok(Self {
            der: t.full.to_vec(),
            version,
            sid,
            digest_algorithm,
            signed_attrs,
            signature_algorithm,
            signature,
            unsigned_attrs,
        })
    }

    /// The `SignerInfo` DER as received.
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// `version` (1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier).
    pub fn version(&self) -> CmsVersion {
        self.version
    }

    /// `sid`: which certificate signed.
    pub fn sid(&self) -> &SignerId {
        &self.sid
    }

    /// `digestAlgorithm`.
    pub fn digest_algorithm(&self) -> &AlgorithmIdentifierOwned {
        &self.digest_algorithm
    }

    /// `signedAttrs`, if present.
    pub fn signed_attributes(&self) -> Option<&SignedAttributes> {
        self.signed_attrs.as_ref()
    }

    /// The values of the signed attribute `oid` (see [`SignedAttributes::get`]).
    pub fn signed_attribute(&self, oid: &ObjectIdentifier) -> Option<Vec<&[u8]>> {
        self.signed_attrs.as_ref()?.get(oid)
    }

    /// `signatureAlgorithm`.
    pub fn signature_algorithm(&self) -> &AlgorithmIdentifierOwned {
        &self.signature_algorithm
    }

    /// `signature`: the signature octets.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// `unsignedAttrs` as received (`[1] IMPLICIT` encoding), if present. Not covered by the
    /// signature.
    pub fn unsigned_attributes_der(&self) -> Option<&[u8]> {
        self.unsigned_attrs.as_deref()
    }
}
