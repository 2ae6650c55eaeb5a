//! PKCS#10 certification requests (RFC 2986).

use std::ops::Range;

use const_oid::ObjectIdentifier;
use der::asn1::{BitString, BmpString, Ia5String, PrintableString, SetOfVec};
use der::{Any, Decode, Encode, Tag, Tagged};
use rand_core::CryptoRng;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};

use super::ext::{Parsed, SubjectAltNames};
use crate::alg::SignatureScheme;
use crate::key::Signer;
use crate::provider::CryptoProvider;
use crate::verify::Policy;
use crate::{Error, Result};

/// pkcs-9-at-challengePassword (RFC 2985 section 5.4.1).
pub const CHALLENGE_PASSWORD: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7");
/// pkcs-9-at-extensionRequest (RFC 2985 section 5.4.2).
pub const EXTENSION_REQUEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");

/// Most attributes accepted in one request.
pub const MAX_ATTRIBUTES: usize = 64;

/// A parsed certification request, with the bytes it came from.
///
/// ```text
/// CertificationRequest ::= SEQUENCE {
///      certificationRequestInfo CertificationRequestInfo,
///      signatureAlgorithm AlgorithmIdentifier{{ SignatureAlgorithms }},
///      signature          BIT STRING }
///
/// CertificationRequestInfo ::= SEQUENCE {
///      version       INTEGER { v1(0) } (v1,...),
///      subject       Name,
///      subjectPKInfo SubjectPublicKeyInfo{{ PKInfoAlgorithms }},
///      attributes    [0] Attributes{{ CRIAttributes }} }
/// ```
/// (RFC 2986 section 4.) The signature is checked over `certificationRequestInfo` as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csr {
    der: Vec<u8>,
    info: Range<usize>,
    req: CertReq,
    challenge_password: Option<String>,
    extension_request: Option<Vec<Extension>>,
    other_attributes: Vec<Attribute>,
}

impl Csr {
    /// Parse a DER request, refusing trailing bytes, inputs over
    /// [`MAX_DER_LEN`](super::MAX_DER_LEN), repeated or malformed challengePassword and
    /// extensionRequest attributes, and more than [`MAX_ATTRIBUTES`] attributes.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let info = super::signed_range("CertificationRequest", der)?;
        let req =
            CertReq::from_der(der).map_err(|e| Error::malformed("CertificationRequest", e))?;
        if req.info.attributes.len() > MAX_ATTRIBUTES {
            return Err(Error::TooManyElements {
                limit: MAX_ATTRIBUTES,
            });
        }
        let mut challenge_password = None;
        let mut extension_request = None;
        let mut other_attributes = Vec::new();
        for attr in req.info.attributes.iter() {
            match attr.oid {
                CHALLENGE_PASSWORD => {
                    if challenge_password.is_some() {
                        return Err(bad_attr("challengePassword", "appears twice"));
                    }
                    challenge_password =
                        Some(decode_password(single_value(attr, "challengePassword")?)?);
                }
                EXTENSION_REQUEST => {
                    if extension_request.is_some() {
                        return Err(bad_attr("extensionRequest", "appears twice"));
                    }
                    let value = single_value(attr, "extensionRequest")?;
                    let exts: Vec<Extension> = value
                        .decode_as()
                        .map_err(|e| bad_attr("extensionRequest", e))?;
                    // Refuse repeated or malformed extensions we understand.
                    Parsed::from_extensions(&exts)?;
                    extension_request = Some(exts);
                }
                _ => other_attributes.push(attr.clone()),
            }
        }
        Ok(Self {
            der: der.to_vec(),
            info,
            req,
            challenge_password,
            extension_request,
            other_attributes,
        })
    }

    /// Parse a PEM request (label `CERTIFICATE REQUEST`, or the older `NEW CERTIFICATE
    /// REQUEST`).
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let (label, der) =
            der::pem::decode_vec(pem).map_err(|e| Error::malformed("PEM request", e))?;
        if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
            return Err(Error::malformed(
                "PEM request",
                format!("label is {label}, expected CERTIFICATE REQUEST"),
            ));
        }
        Self::from_der(&der)
    }

    /// The DER as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The typed request.
    pub fn request(&self) -> &CertReq {
        &self.req
    }

    /// The requested subject.
    pub fn subject(&self) -> &Name {
        &self.req.info.subject
    }

    /// The requester's public key.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.req.info.public_key
    }

    /// The challengePassword attribute (PrintableString, UTF8String, IA5String or BMPString
    /// on the wire), if present.
    pub fn challenge_password(&self) -> Option<&str> {
        self.challenge_password.as_deref()
    }

    /// The extensions of the extensionRequest attribute, if present.
    pub fn requested_extensions(&self) -> Option<&[Extension]> {
        self.extension_request.as_deref()
    }

    /// The subjectAltName asked for in the extensionRequest, if any.
    pub fn requested_san(&self) -> Result<Option<SubjectAltNames>> {
        let Some(exts) = &self.extension_request else {
            return Ok(None);
        };
        let parsed = Parsed::from_extensions(exts)?;
        Ok(parsed
            .san
            .map(|names| SubjectAltNames::from_general_names(&names)))
    }

    /// Attributes other than challengePassword and extensionRequest, as received.
    pub fn other_attributes(&self) -> &[Attribute] {
        &self.other_attributes
    }

    /// Check the self-signature under `policy`.
    pub fn verify(&self, provider: &dyn CryptoProvider, policy: &Policy) -> Result<VerifiedCsr> {
        let scheme = SignatureScheme::from_algorithm_identifier(&self.req.algorithm, None)?;
        let sig = self.req.signature.as_bytes().ok_or_else(|| {
            Error::malformed("CertificationRequest", "signature is not whole bytes")
        })?;
        let info = self.der.get(self.info.clone()).unwrap_or_default();
        crate::verify::signature(provider, policy, self.public_key(), scheme, info, sig)?;
        Ok(VerifiedCsr { csr: self.clone() })
    }
}

/// A request whose self-signature verified. Only [`Csr::verify`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCsr {
    csr: Csr,
}

impl VerifiedCsr {
    /// The request.
    pub fn csr(&self) -> &Csr {
        &self.csr
    }
}

impl core::ops::Deref for VerifiedCsr {
    type Target = Csr;
    fn deref(&self) -> &Csr {
        &self.csr
    }
}

fn bad_attr(name: &'static str, reason: impl core::fmt::Display) -> Error {
    Error::BadAttribute {
        name,
        reason: reason.to_string(),
    }
}

fn single_value<'a>(attr: &'a Attribute, name: &'static str) -> Result<&'a Any> {
    let mut it = attr.values.iter();
    match (it.next(), it.next()) {
        (Some(v), None) => Ok(v),
        _ => Err(bad_attr(name, "must have exactly one value")),
    }
}

fn decode_password(v: &Any) -> Result<String> {
    let text = match v.tag() {
        Tag::PrintableString => v
            .decode_as::<PrintableString>()
            .map(|s| s.to_string())
            .map_err(|e| bad_attr("challengePassword", e))?,
        Tag::Utf8String => v
            .decode_as::<String>()
            .map_err(|e| bad_attr("challengePassword", e))?,
        Tag::Ia5String => v
            .decode_as::<Ia5String>()
            .map(|s| s.to_string())
            .map_err(|e| bad_attr("challengePassword", e))?,
        Tag::BmpString => v
            .decode_as::<BmpString>()
            .map(|s| s.to_string())
            .map_err(|e| bad_attr("challengePassword", e))?,
        other => {
            return Err(bad_attr(
                "challengePassword",
                format!("unsupported string type {other}"),
            ));
        }
    };
    Ok(text)
}

/// Builds and signs a certification request.
#[derive(Debug, Clone)]
pub struct CsrBuilder {
    subject: Name,
    san: SubjectAltNames,
    extensions: Vec<Extension>,
    challenge_password: Option<String>,
}

impl CsrBuilder {
    /// A request for `subject`.
    pub fn new(subject: Name) -> Self {
        Self {
            subject,
            san: SubjectAltNames::default(),
            extensions: Vec::new(),
            challenge_password: None,
        }
    }

    /// Ask for these subjectAltNames (in the extensionRequest).
    pub fn with_san(mut self, san: SubjectAltNames) -> Self {
        self.san = san;
        self
    }

    /// Ask for another extension (in the extensionRequest).
    pub fn with_extension(mut self, ext: Extension) -> Self {
        self.extensions.push(ext);
        self
    }

    /// Carry a challengePassword (PrintableString when every character allows it, else
    /// UTF8String).
    pub fn with_challenge_password(mut self, password: impl Into<String>) -> Self {
        self.challenge_password = Some(password.into());
        self
    }

    /// Sign with `signer` under its default scheme and return the DER request.
    pub fn build(&self, signer: &dyn Signer, rng: &mut dyn CryptoRng) -> Result<Vec<u8>> {
        let mut attributes: SetOfVec<Attribute> = SetOfVec::new();
        let enc = |e: der::Error| Error::malformed("CertificationRequest", e);
        if let Some(pw) = &self.challenge_password {
            let value = match PrintableString::new(pw) {
                Ok(p) => Any::encode_from(&p),
                Err(_) => Any::encode_from(pw),
            }
            .map_err(enc)?;
            attributes
                .insert(Attribute {
                    oid: CHALLENGE_PASSWORD,
                    values: SetOfVec::try_from(vec![value]).map_err(enc)?,
                })
                .map_err(enc)?;
        }
        let mut exts = Vec::new();
        if !self.san.is_empty() {
            exts.push(self.san.to_extension(self.subject.is_empty())?);
        }
        exts.extend(self.extensions.iter().cloned());
        if !exts.is_empty() {
            Parsed::from_extensions(&exts)?;
            let value = Any::encode_from(&exts).map_err(enc)?;
            attributes
                .insert(Attribute {
                    oid: EXTENSION_REQUEST,
                    values: SetOfVec::try_from(vec![value]).map_err(enc)?,
                })
                .map_err(enc)?;
        }
        let info = CertReqInfo {
            version: Version::V1,
            subject: self.subject.clone(),
            public_key: signer.spki().clone(),
            attributes,
        };
        let info_der = info.to_der().map_err(enc)?;
        let scheme = signer.default_scheme();
        let signature = signer.sign(scheme, &info_der, rng)?;
        let req = CertReq {
            info,
            algorithm: scheme.algorithm_identifier()?,
            signature: BitString::from_bytes(&signature).map_err(enc)?,
        };
        req.to_der().map_err(enc)
    }
}
