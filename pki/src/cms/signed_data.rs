//! CMS SignedData (RFC 5652 section 5): parse and verify.
//!
//! ```text
//!   DER ──▶ SignedData::from_der ─┐
//!   BER ──▶ SignedData::from_ber ─┴▶ SignedData ──verify(provider, options)──▶ VerifiedSignedData
//!                                     (raw bytes,     find signer cert (message certs, then
//!                                      typed fields)  extra certs), contentType, messageDigest,
//!                                                     signature over signedAttrs as received
//! ```
//!
//! Verification checks signatures and the signed-attribute rules of RFC 5652 section 5.4 and
//! 5.6. It does not build or validate a certificate path, nor look at validity dates: the
//! caller decides which signer certificates it trusts (see `pki::cert`).

use cms::content_info::CmsVersion;
use cms::signed_data::EncapsulatedContentInfo;
use der::Decode;
use der::asn1::{ObjectIdentifier, OctetString};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;

use super::certificate::CertView;
use super::signer_info::{SignedAttributes, SignerInfo};
use super::tlv::{self, Children};
use crate::alg::{HashAlg, SignatureScheme, oid};
use crate::ber;
use crate::provider::CryptoProvider;
use crate::verify::Policy;
use crate::{Error, Result};

const WHAT: &str = "SignedData";

/// A ContentInfo whose content is a SignedData (RFC 5652 sections 3 and 5.1), parsed, with the
/// DER it was parsed from.
///
/// ```text
/// ContentInfo ::= SEQUENCE {
///   contentType ContentType,            -- id-signedData
///   content [0] EXPLICIT ANY DEFINED BY contentType }
///
/// SignedData ::= SEQUENCE {
///   version CMSVersion,
///   digestAlgorithms DigestAlgorithmIdentifiers,
///   encapContentInfo EncapsulatedContentInfo,
///   certificates [0] IMPLICIT CertificateSet OPTIONAL,
///   crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
///   signerInfos SignerInfos }
///
/// EncapsulatedContentInfo ::= SEQUENCE {
///   eContentType ContentType,
///   eContent [0] EXPLICIT OCTET STRING OPTIONAL }
/// ```
///
/// Certificates and signer identifiers are read from the bytes rather than through
/// `x509-cert`'s RFC 5280 profile, which refuses serial numbers that real SCEP clients use;
/// [`SignedData::certificates`] lists those that fit the profile.
#[derive(Debug, Clone)]
pub struct SignedData {
    der: Vec<u8>,
    version: CmsVersion,
    digest_algorithms: Vec<AlgorithmIdentifierOwned>,
    encap: EncapsulatedContentInfo,
    certs: Vec<CertView>,
    parsed_certs: Vec<Certificate>,
    crls: Option<Vec<u8>>,
    signer_infos: Vec<SignerInfo>,
}

impl SignedData {
    /// Parse a DER ContentInfo holding a SignedData.
    ///
    /// Strict: BER (indefinite or non-shortest lengths, constructed strings) anywhere in the
    /// input is [`Error::Malformed`] (use [`SignedData::from_ber`] for peers that send BER), and
    /// bytes after the ContentInfo are [`Error::TrailingData`]. A content type other than
    /// id-signedData is [`Error::WrongContentType`].
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let top = tlv::read(der, "ContentInfo")?;
        if !top.1.is_empty() {
            return Err(Error::TrailingData {
                what: "ContentInfo",
                len: top.1.len(),
            });
        }
        // The generic BER-to-DER pass is the identity exactly on DER input (X.690 section 10
        // rules on lengths and string forms), so it doubles as the strictness check for the
        // parts the structural parse below does not descend into.
        let limits = ber::Limits {
            max_len: der.len(),
            ..ber::Limits::default()
        };
        let canonical = ber::to_der(der, &limits)?;
        if canonical != der {
            return Err(Error::Malformed {
                what: WHAT,
                reason: "not DER (indefinite or non-shortest lengths, or constructed strings); \
                         BER input goes through SignedData::from_ber"
                    .to_owned(),
            });
        }
        Self::parse(canonical)
    }

    /// Parse a BER ContentInfo holding a SignedData: [`ber::to_der`] within `limits`, then as
    /// [`SignedData::from_der`]. `SET OF` order is kept, so signatures over signed attributes
    /// check over the bytes the signer sent.
    pub fn from_ber(input: &[u8], limits: &ber::Limits) -> Result<Self> {
        let der = ber::to_der(input, limits)?;
        Self::parse(der)
    }

    fn parse(der: Vec<u8>) -> Result<Self> {
        let ci = tlv::read_one(&der, "ContentInfo")?;
        let mut f = Children::of(ci, 0x30, "ContentInfo")?;
        let ct = ObjectIdentifier::from_der(f.field(0x06, "contentType")?.full)
            .map_err(|e| Error::malformed("ContentInfo", e))?;
        if ct != oid::SIGNED_DATA {
            return Err(Error::WrongContentType {
                expected: oid::SIGNED_DATA.to_string(),
                found: ct.to_string(),
            });
        }
        let content = f.field(0xa0, "content")?;
        f.finish()?;
        let sd = tlv::read_one(content.value, WHAT)?;
        let mut f = Children::of(sd, 0x30, WHAT)?;
        let version = CmsVersion::from_der(f.field(0x02, "version")?.full)
            .map_err(|e| Error::malformed(WHAT, e))?;
        let mut digest_algorithms = Vec::new();
        for a in Children::of(f.field(0x31, "digestAlgorithms")?, 0x31, WHAT)? {
            digest_algorithms.push(
                AlgorithmIdentifierOwned::from_der(a?.full)
                    .map_err(|e| Error::malformed(WHAT, e))?,
            );
        }
        let encap = EncapsulatedContentInfo::from_der(f.field(0x30, "encapContentInfo")?.full)
            .map_err(|e| Error::malformed("EncapsulatedContentInfo", e))?;
        let mut certs = Vec::new();
        if let Some(set) = f.optional(0xa0)? {
            for c in Children::of(set, 0xa0, WHAT)? {
                let c = c?;
                // CertificateChoices: only plain certificates are used; the obsolete and
                // attribute-certificate choices are tagged [1]..[3] and skipped.
                if c.tag == 0x30 {
                    certs.push(CertView::parse(c.full)?);
                }
            }
        }
        let crls = f.optional(0xa1)?.map(|c| c.full.to_vec());
        let mut signer_infos = Vec::new();
        for si in Children::of(f.field(0x31, "signerInfos")?, 0x31, WHAT)? {
            signer_infos.push(SignerInfo::parse(si?)?);
        }
        f.finish()?;
        let parsed_certs = certs.iter().filter_map(|c| c.parsed.clone()).collect();
        Ok(Self {
            der,
            version,
            digest_algorithms,
            encap,
            certs,
            parsed_certs,
            crls,
            signer_infos,
        })
    }

    /// The DER this was parsed from (after BER conversion for [`SignedData::from_ber`]).
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// `version`.
    pub fn version(&self) -> CmsVersion {
        self.version
    }

    /// `digestAlgorithms`, in the order received.
    pub fn digest_algorithms(&self) -> &[AlgorithmIdentifierOwned] {
        &self.digest_algorithms
    }

    /// `encapContentInfo.eContentType`.
    pub fn content_type(&self) -> ObjectIdentifier {
        self.encap.econtent_type
    }

    /// The encapsulated content octets when attached (the OCTET STRING's contents), `None` when
    /// detached.
    ///
    /// PKCS #7 v1.5 messages may carry another type than OCTET STRING here; for those this is
    /// the contents octets of that element, which is what RFC 2315 section 9.3 digests.
    pub fn content(&self) -> Option<&[u8]> {
        self.encap.econtent.as_ref().map(|c| c.value())
    }

    /// The certificates that fit `x509-cert`'s RFC 5280 profile, in the order received.
    pub fn certificates(&self) -> &[Certificate] {
        &self.parsed_certs
    }

    /// The DER of every certificate (the `certificate` choice of CertificateChoices) in the
    /// message, in the order received, including those [`SignedData::certificates`] leaves out.
    pub fn certificates_der(&self) -> impl Iterator<Item = &[u8]> {
        self.certs.iter().map(|c| c.der.as_slice())
    }

    /// The `crls` field as received (`[1] IMPLICIT` encoding), if present.
    pub fn crls_der(&self) -> Option<&[u8]> {
        self.crls.as_deref()
    }

    /// `signerInfos`, in the order received.
    pub fn signer_infos(&self) -> &[SignerInfo] {
        &self.signer_infos
    }

    /// Whether this is a degenerate ("certs-only") SignedData: no signers.
    pub fn is_degenerate(&self) -> bool {
        self.signer_infos.is_empty()
    }

    /// The typed `cms` view of the SignedData, decoded on demand. It fails on messages that
    /// `cms`'s types refuse (e.g. a certificate with an over-long serial number), which
    /// [`SignedData`] itself accepts.
    pub fn to_cms(&self) -> Result<cms::signed_data::SignedData> {
        let ci = cms::content_info::ContentInfo::from_der(&self.der)
            .map_err(|e| Error::malformed("ContentInfo", e))?;
        ci.content
            .decode_as::<cms::signed_data::SignedData>()
            .map_err(|e| Error::malformed(WHAT, e))
    }

    /// Verify every signer (RFC 5652 section 5.6).
    ///
    /// For each `SignerInfo`: the signer certificate is found by its `sid` among the message's
    /// certificates, then `opts.extra_certificates` ([`Error::NotFound`] otherwise); the digest
    /// and signature algorithms must be supported and allowed by `opts.policy`, and agree with
    /// each other. With signed attributes, `contentType` must equal `eContentType`
    /// ([`Error::WrongContentType`]), `messageDigest` must equal the digest of the content
    /// ([`Error::DigestMismatch`]), and the signature must verify over the attributes as
    /// received, re-tagged as `SET OF`. Without them (allowed only for id-data) the signature
    /// must verify over the content. Any failure fails the whole verification.
    ///
    /// A message without signers is refused ([`Error::NotFound`]) unless
    /// `opts.allow_degenerate` is set. The content comes from the message, or from
    /// `opts.detached_content` when the message has none ([`Error::Content`] when both or
    /// neither are there). Signatures are checked; certificate validity and paths are not.
    pub fn verify(
        &self,
        provider: &dyn CryptoProvider,
        opts: &VerifyOptions<'_>,
    ) -> Result<VerifiedSignedData> {
        let content: &[u8] = match (self.content(), opts.detached_content) {
            (Some(_), Some(_)) => {
                return Err(Error::Content(
                    "attached, and detached content was supplied too",
                ));
            }
            (Some(c), None) | (None, Some(c)) => c,
            (None, None) if self.is_degenerate() => &[],
            (None, None) => return Err(Error::Content("detached and was not supplied")),
        };
        if self.is_degenerate() && !opts.allow_degenerate {
            return Err(Error::NotFound("SignerInfo"));
        }
        let mut extra = Vec::with_capacity(opts.extra_certificates.len());
        for c in opts.extra_certificates {
            extra.push(CertView::from_certificate(c)?);
        }
        let mut signers = Vec::with_capacity(self.signer_infos.len());
        for si in &self.signer_infos {
            signers.push(self.verify_signer(provider, opts, content, si, &extra)?);
        }
        Ok(VerifiedSignedData {
            content_type: self.content_type(),
            content: content.to_vec(),
            signers,
        })
    }

    fn verify_signer(
        &self,
        provider: &dyn CryptoProvider,
        opts: &VerifyOptions<'_>,
        content: &[u8],
        si: &SignerInfo,
        extra: &[CertView],
    ) -> Result<VerifiedSigner> {
        let digest = HashAlg::from_algorithm_identifier(si.digest_algorithm())?;
        let scheme =
            SignatureScheme::from_algorithm_identifier(si.signature_algorithm(), Some(digest))?;
        if let Some(h) = scheme.hash().filter(|h| *h != digest) {
            return Err(Error::Malformed {
                what: WHAT,
                reason: format!(
                    "SignerInfo digestAlgorithm {digest:?} differs from the digest of its \
                     signatureAlgorithm ({h:?})"
                ),
            });
        }
        if digest == HashAlg::Sha1 && !opts.policy.allow_sha1 {
            return Err(Error::AlgorithmNotAllowed {
                what: "SHA-1 message digest".to_owned(),
            });
        }
        let cert = self
            .certs
            .iter()
            .chain(extra)
            .find(|c| c.matches(si.sid()))
            .ok_or(Error::NotFound("signer certificate"))?;
        let message: Vec<u8> = match si.signed_attributes() {
            Some(attrs) => {
                check_signed_attributes(provider, attrs, self.content_type(), digest, content)?;
                attrs.signed_bytes()
            }
            None => {
                if self.content_type() != oid::DATA {
                    return Err(Error::MissingAttribute("contentType"));
                }
                content.to_vec()
            }
        };
        crate::verify::signature(
            provider,
            &opts.policy,
            &cert.spki,
            scheme,
            &message,
            si.signature(),
        )?;
        Ok(VerifiedSigner {
            certificate_der: cert.der.clone(),
            certificate: cert.parsed.clone(),
            public_key: cert.spki.clone(),
            signed_attributes: si.signed_attributes().cloned(),
            digest,
            scheme,
        })
    }
}

/// RFC 5652 section 5.3 and 11: contentType and messageDigest, each present once with one value.
fn check_signed_attributes(
    provider: &dyn CryptoProvider,
    attrs: &SignedAttributes,
    econtent_type: ObjectIdentifier,
    digest: HashAlg,
    content: &[u8],
) -> Result<()> {
    let ct = attrs
        .single(&oid::CONTENT_TYPE)?
        .ok_or(Error::MissingAttribute("contentType"))?;
    let ct = ObjectIdentifier::from_der(ct).map_err(|e| Error::BadAttribute {
        name: "contentType",
        reason: e.to_string(),
    })?;
    if ct != econtent_type {
        return Err(Error::WrongContentType {
            expected: econtent_type.to_string(),
            found: ct.to_string(),
        });
    }
    let md = attrs
        .single(&oid::MESSAGE_DIGEST)?
        .ok_or(Error::MissingAttribute("messageDigest"))?;
    let md = OctetString::from_der(md).map_err(|e| Error::BadAttribute {
        name: "messageDigest",
        reason: e.to_string(),
    })?;
    let actual = provider.digest(digest, content);
    use subtle::ConstantTimeEq;
    if md.as_bytes().len() != actual.len() || !bool::from(md.as_bytes().ct_eq(&actual)) {
        return Err(Error::DigestMismatch { alg: digest });
    }
    Ok(())
}

/// What [`SignedData::verify`] accepts beyond its defaults, and what it needs from the caller.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct VerifyOptions<'a> {
    /// Signature policy (SHA-1 opt-in, minimum RSA size).
    pub policy: Policy,
    /// The content, for a detached signature.
    pub detached_content: Option<&'a [u8]>,
    /// Certificates to find signers in after the message's own (e.g. the RA certificate from
    /// GetCACert, for NDES responses that carry no certificates).
    pub extra_certificates: &'a [Certificate],
    /// Accept a message with no signers (degenerate, certs-only), verifying nothing.
    pub allow_degenerate: bool,
}

impl<'a> VerifyOptions<'a> {
    /// Options with this policy and nothing else.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// Verify against this detached content.
    pub fn with_detached_content(mut self, content: &'a [u8]) -> Self {
        self.detached_content = Some(content);
        self
    }

    /// Also look for signer certificates here.
    pub fn with_extra_certificates(mut self, certs: &'a [Certificate]) -> Self {
        self.extra_certificates = certs;
        self
    }

    /// Accept a degenerate SignedData (no signers).
    pub fn allowing_degenerate(mut self) -> Self {
        self.allow_degenerate = true;
        self
    }
}

/// A SignedData whose every signer verified. Only [`SignedData::verify`] builds one.
#[derive(Debug, Clone)]
pub struct VerifiedSignedData {
    content_type: ObjectIdentifier,
    content: Vec<u8>,
    signers: Vec<VerifiedSigner>,
}

impl VerifiedSignedData {
    /// `eContentType`.
    pub fn content_type(&self) -> ObjectIdentifier {
        self.content_type
    }

    /// The signed content (attached or the detached content supplied); empty for a degenerate
    /// message without content.
    pub fn content(&self) -> &[u8] {
        &self.content
    }

    /// The signed content, by value.
    pub fn into_content(self) -> Vec<u8> {
        self.content
    }

    /// The signers, in the order of `signerInfos`; empty only for an accepted degenerate
    /// message.
    pub fn signers(&self) -> &[VerifiedSigner] {
        &self.signers
    }

    /// The first signer's signed attributes, if it had any.
    pub fn signed_attributes(&self) -> Option<&SignedAttributes> {
        self.signers.first()?.signed_attributes()
    }
}

/// One signer that verified.
#[derive(Debug, Clone)]
pub struct VerifiedSigner {
    certificate_der: Vec<u8>,
    certificate: Option<Certificate>,
    public_key: SubjectPublicKeyInfoOwned,
    signed_attributes: Option<SignedAttributes>,
    digest: HashAlg,
    scheme: SignatureScheme,
}

impl VerifiedSigner {
    /// The signer certificate's DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The signer certificate, when it fits `x509-cert`'s RFC 5280 profile (certmonger's
    /// self-signed request certificates do not: see [`VerifiedSigner::certificate_der`]).
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// The key that made the signature.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.public_key
    }

    /// The signed attributes, if the signer used any.
    pub fn signed_attributes(&self) -> Option<&SignedAttributes> {
        self.signed_attributes.as_ref()
    }

    /// The digest algorithm applied to the content.
    pub fn digest_algorithm(&self) -> HashAlg {
        self.digest
    }

    /// The signature scheme that verified.
    pub fn signature_scheme(&self) -> SignatureScheme {
        self.scheme
    }
}
