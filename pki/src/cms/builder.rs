//! Building SignedData (RFC 5652 section 5), signed or degenerate.
//!
//! ```text
//!   content ──▶ SignedDataBuilder ──(one SignerInfoBuilder per signer: key, cert, scheme,
//!               certificates         extra signed attributes, signingTime)──▶ build ──▶ DER
//! ```
//!
//! Every signer's signed attributes are contentType, messageDigest, signingTime if given, and
//! the caller's own (SCEP puts messageType, transactionID and nonces there), DER-sorted as
//! `SET OF` requires; the signature covers their `SET OF` encoding (RFC 5652 section 5.4).
//! Time and randomness are arguments: nothing here reads a clock.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, DateTime, Decode, Encode};
use rand_core::CryptoRng;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::time::Time;

use super::tlv;
use crate::alg::{EcdsaEncoding, HashAlg, SignatureScheme, oid};
use crate::key::Signer;
use crate::provider::CryptoProvider;
use crate::{Error, Result};

fn enc(e: der::Error) -> Error {
    Error::malformed("SignedData (encoding)", e)
}

/// An attribute with one value: `value`'s DER.
pub fn attribute(oid: ObjectIdentifier, value: &impl Encode) -> Result<Attribute> {
    let value = Any::from_der(&value.to_der().map_err(enc)?).map_err(enc)?;
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(enc)?,
    })
}

/// How a `SignerInfo` names its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SidChoice {
    IssuerAndSerialNumber,
    SubjectKeyIdentifier,
}

/// One signer of a [`SignedDataBuilder`].
pub struct SignerInfoBuilder<'a> {
    key: &'a dyn Signer,
    certificate: &'a Certificate,
    scheme: SignatureScheme,
    sid: SidChoice,
    signing_time: Option<DateTime>,
    attributes: Vec<Attribute>,
}

impl core::fmt::Debug for SignerInfoBuilder<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignerInfoBuilder")
            .field("scheme", &self.scheme)
            .field("sid", &self.sid)
            .field("signing_time", &self.signing_time)
            .field("attributes", &self.attributes)
            .finish_non_exhaustive()
    }
}

impl<'a> SignerInfoBuilder<'a> {
    /// A signer using `key`, whose certificate is `certificate`, signing with `scheme`
    /// (RSA PKCS#1 v1.5, RSA-PSS, ECDSA with DER signatures, Ed25519). It is identified by
    /// issuerAndSerialNumber unless [`SignerInfoBuilder::subject_key_identifier`] is called.
    pub fn new(key: &'a dyn Signer, certificate: &'a Certificate, scheme: SignatureScheme) -> Self {
        Self {
            key,
            certificate,
            scheme,
            sid: SidChoice::IssuerAndSerialNumber,
            signing_time: None,
            attributes: Vec::new(),
        }
    }

    /// Identify the signer by subjectKeyIdentifier: the certificate's extension, or the RFC
    /// 5280 section 4.2.1.2 method (1) identifier of its key when it has none.
    pub fn subject_key_identifier(mut self) -> Self {
        self.sid = SidChoice::SubjectKeyIdentifier;
        self
    }

    /// Add a signingTime attribute (RFC 5652 section 11.3) with this time: UTCTime through
    /// 2049, GeneralizedTime after.
    pub fn signing_time(mut self, time: DateTime) -> Self {
        self.signing_time = Some(time);
        self
    }

    /// Add a signed attribute of the caller's (contentType, messageDigest and signingTime are
    /// the builder's own).
    pub fn signed_attribute(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    fn build(
        &self,
        provider: &dyn CryptoProvider,
        content_type: ObjectIdentifier,
        content: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<(HashAlg, SignerInfo)> {
        if let SignatureScheme::Ecdsa {
            encoding: EcdsaEncoding::Fixed,
            ..
        } = self.scheme
        {
            return Err(Error::ApiMisuse(
                "CMS carries ECDSA signatures DER-encoded, not fixed-size",
            ));
        }
        let tbs = self.certificate.tbs_certificate();
        if self.key.spki() != tbs.subject_public_key_info() {
            return Err(Error::ApiMisuse(
                "the signing key does not match the signer certificate",
            ));
        }
        // Ed25519 names SHA-512 as its digest (RFC 8419 section 3).
        let digest = self.scheme.hash().unwrap_or(HashAlg::Sha512);
        let md = provider.digest(digest, content);
        let mut attrs = vec![
            attribute(oid::CONTENT_TYPE, &content_type)?,
            attribute(oid::MESSAGE_DIGEST, &OctetString::new(md).map_err(enc)?)?,
        ];
        if let Some(t) = self.signing_time {
            attrs.push(attribute(oid::SIGNING_TIME, &Time::from(t))?);
        }
        for a in &self.attributes {
            if attrs.iter().any(|b| b.oid == a.oid) {
                return Err(Error::ApiMisuse("a signed attribute type appears twice"));
            }
            if a.values.is_empty() {
                return Err(Error::ApiMisuse("a signed attribute has no value"));
            }
            attrs.push(a.clone());
        }
        let set = SetOfVec::try_from(attrs).map_err(enc)?;
        let to_sign = set.to_der().map_err(enc)?;
        let signature = self.key.sign(self.scheme, &to_sign, rng)?;
        let (version, sid) = match self.sid {
            SidChoice::IssuerAndSerialNumber => (
                CmsVersion::V1,
                SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                    issuer: tbs.issuer().clone(),
                    serial_number: tbs.serial_number().clone(),
                }),
            ),
            SidChoice::SubjectKeyIdentifier => {
                let ski = match tbs.get_extension::<SubjectKeyIdentifier>() {
                    Ok(Some((_, ski))) => ski,
                    Ok(None) => SubjectKeyIdentifier(
                        OctetString::new(
                            crate::public_key::key_identifier(tbs.subject_public_key_info())
                                .to_vec(),
                        )
                        .map_err(enc)?,
                    ),
                    Err(e) => return Err(Error::malformed("subjectKeyIdentifier", e)),
                };
                (CmsVersion::V3, SignerIdentifier::SubjectKeyIdentifier(ski))
            }
        };
        Ok((
            digest,
            SignerInfo {
                version,
                sid,
                digest_alg: digest.algorithm_identifier(),
                signed_attrs: Some(set),
                signature_algorithm: self.scheme.algorithm_identifier()?,
                signature: OctetString::new(signature).map_err(enc)?,
                unsigned_attrs: None,
            },
        ))
    }
}

/// Builds a ContentInfo holding a signed SignedData (RFC 5652 section 5).
#[derive(Debug)]
pub struct SignedDataBuilder<'a> {
    content_type: ObjectIdentifier,
    content: &'a [u8],
    detached: bool,
    certificates: Vec<Certificate>,
    signers: Vec<SignerInfoBuilder<'a>>,
}

impl<'a> SignedDataBuilder<'a> {
    /// Sign `content`, whose type is `content_type` (id-data for SCEP pkiMessages).
    pub fn new(content_type: ObjectIdentifier, content: &'a [u8]) -> Self {
        Self {
            content_type,
            content,
            detached: false,
            certificates: Vec::new(),
            signers: Vec::new(),
        }
    }

    /// Leave the content out of the message (a detached signature).
    pub fn detached(mut self) -> Self {
        self.detached = true;
        self
    }

    /// Carry this certificate in `certificates` (typically the signer's own).
    pub fn certificate(mut self, cert: Certificate) -> Self {
        self.certificates.push(cert);
        self
    }

    /// Add a signer.
    pub fn signer(mut self, signer: SignerInfoBuilder<'a>) -> Self {
        self.signers.push(signer);
        self
    }

    /// Sign and encode: the ContentInfo DER. Digests come from `provider`, signatures from each
    /// signer's key; `rng` goes to the keys.
    pub fn build(self, provider: &dyn CryptoProvider, rng: &mut dyn CryptoRng) -> Result<Vec<u8>> {
        if self.signers.is_empty() {
            return Err(Error::ApiMisuse(
                "a signed SignedData needs a signer (use degenerate() for certs-only)",
            ));
        }
        let mut digests = Vec::new();
        let mut infos = Vec::new();
        for s in &self.signers {
            let (digest, info) = s.build(provider, self.content_type, self.content, rng)?;
            if !digests.contains(&digest) {
                digests.push(digest);
            }
            infos.push(info);
        }
        // RFC 5652 section 5.1: version 3 when any SignerInfo is version 3 or the content is
        // not id-data; 1 otherwise (only X.509 certificates are carried).
        let version = if self.content_type != oid::DATA
            || infos.iter().any(|i| i.version == CmsVersion::V3)
        {
            CmsVersion::V3
        } else {
            CmsVersion::V1
        };
        let econtent = if self.detached {
            None
        } else {
            Some(Any::encode_from(&OctetString::new(self.content).map_err(enc)?).map_err(enc)?)
        };
        let sd = SignedData {
            version,
            digest_algorithms: SetOfVec::try_from(
                digests
                    .into_iter()
                    .map(HashAlg::algorithm_identifier)
                    .collect::<Vec<_>>(),
            )
            .map_err(enc)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: self.content_type,
                econtent,
            },
            certificates: certificate_set(&self.certificates)?,
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(infos).map_err(enc)?),
        };
        content_info(&sd)
    }
}

fn certificate_set(certs: &[Certificate]) -> Result<Option<CertificateSet>> {
    if certs.is_empty() {
        return Ok(None);
    }
    let choices: Vec<CertificateChoices> = certs
        .iter()
        .cloned()
        .map(CertificateChoices::Certificate)
        .collect();
    Ok(Some(CertificateSet::try_from(choices).map_err(enc)?))
}

fn content_info(sd: &SignedData) -> Result<Vec<u8>> {
    ContentInfo {
        content_type: oid::SIGNED_DATA,
        content: Any::encode_from(sd).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

/// A degenerate ("certs-only") SignedData carrying `certs` in the order given: version 1, no
/// digest algorithms, id-data without content, no signers.
///
/// Use this where the receiver reads the order: a SCEP CertRep must carry the issued
/// certificate first (RFC 8894 section 3.3.2.1), and widely used clients take the first
/// certificate as theirs. The `certificates` field is a `SET OF`, so keeping the caller's order
/// is BER rather than DER when the certificates are not already in DER order; CMS is defined
/// over BER (RFC 5652 section 1.2), and OpenSSL and every SCEP client we test read it. Everything
/// else in the message is DER.
///
/// ```text
/// ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
/// SignedData ::= SEQUENCE { version 1, digestAlgorithms SET {}, encapContentInfo
///     SEQUENCE { id-data }, certificates [0] IMPLICIT SET OF Certificate, signerInfos SET {} }
/// ```
pub fn degenerate_in_order(certs: &[Certificate]) -> Result<Vec<u8>> {
    if certs.is_empty() {
        return Err(Error::ApiMisuse(
            "a degenerate SignedData needs at least one certificate",
        ));
    }
    let mut cert_bytes = Vec::new();
    for c in certs {
        cert_bytes.extend_from_slice(&c.to_der().map_err(enc)?);
    }
    degenerate_parts(Some(&cert_bytes), None)
}

/// A degenerate SignedData carrying only `crls` (each a DER `CertificateList`) in its `crls`
/// field, in the order given: the answer to a SCEP GetCRL (RFC 8894 section 3.3.2.2).
pub fn degenerate_crls(crls: &[Vec<u8>]) -> Result<Vec<u8>> {
    if crls.is_empty() {
        return Err(Error::ApiMisuse(
            "a CRLs-only SignedData needs at least one CRL",
        ));
    }
    for c in crls {
        // Each must be one whole element.
        tlv::read_one(c, "CertificateList")?;
    }
    degenerate_parts(None, Some(&crls.concat()))
}

/// ContentInfo(SignedData v1 with no signers) around already-encoded certificates and CRLs.
fn degenerate_parts(certs: Option<&[u8]>, crls: Option<&[u8]>) -> Result<Vec<u8>> {
    let data_oid = oid::DATA.to_der().map_err(enc)?;
    let signed_data_oid = oid::SIGNED_DATA.to_der().map_err(enc)?;
    let mut sd = Vec::new();
    sd.extend_from_slice(&[0x02, 0x01, 0x01]); // version INTEGER 1
    sd.extend_from_slice(&[0x31, 0x00]); // digestAlgorithms SET {}
    tlv::write(0x30, &data_oid, &mut sd); // encapContentInfo
    if let Some(c) = certs {
        tlv::write(0xa0, c, &mut sd); // certificates [0] IMPLICIT
    }
    if let Some(c) = crls {
        tlv::write(0xa1, c, &mut sd); // crls [1] IMPLICIT
    }
    sd.extend_from_slice(&[0x31, 0x00]); // signerInfos SET {}
    let mut sd_seq = Vec::new();
    tlv::write(0x30, &sd, &mut sd_seq);
    let mut explicit = Vec::new();
    tlv::write(0xa0, &sd_seq, &mut explicit);
    let mut body = signed_data_oid;
    body.extend_from_slice(&explicit);
    let mut out = Vec::new();
    tlv::write(0x30, &body, &mut out);
    Ok(out)
}

/// A degenerate ("certs-only") SignedData carrying `certs` (RFC 5652 section 5.2 note):
/// version 1, no digest algorithms, id-data without content, no signers. The certificates are
/// DER-sorted, as `SET OF` requires in DER; use [`degenerate_in_order`] where the receiver
/// reads the order.
pub fn degenerate(certs: &[Certificate]) -> Result<Vec<u8>> {
    if certs.is_empty() {
        return Err(Error::ApiMisuse(
            "a degenerate SignedData needs at least one certificate",
        ));
    }
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::DATA,
            econtent: None,
        },
        certificates: certificate_set(certs)?,
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    content_info(&sd)
}
