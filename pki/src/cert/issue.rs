//! Certificate issuance: a [`Template`] plus a subject key, signed through [`Signer`].

use std::time::SystemTime;

use const_oid::{AssociatedOid, ObjectIdentifier};
use der::asn1::{AnyRef, BitString, OctetString};
use der::{Decode, Encode, Sequence};
use rand_core::CryptoRng;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::certificate::Version;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use super::csr::Csr;
use super::ext::{Parsed, SubjectAltNames, to_extension};
use crate::key::Signer;
use crate::provider::CryptoProvider;
use crate::verify::Policy;
use crate::{Error, Result};

/// Length of the random serial numbers we issue, in bytes.
pub const SERIAL_LEN: usize = 16;

/// What goes into a certificate besides the keys.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Template {
    /// The subject (for [`from_csr`], `None` takes the request's subject).
    pub subject: Option<Name>,
    /// notBefore.
    pub not_before: SystemTime,
    /// notAfter.
    pub not_after: SystemTime,
    /// subjectAltNames to include.
    pub san: SubjectAltNames,
    /// [`from_csr`] only: also include the subjectAltNames the request asks for.
    pub copy_requested_san: bool,
    /// keyUsage (written critical), if any.
    pub key_usage: Option<KeyUsage>,
    /// extKeyUsage purposes (written non-critical when not empty).
    pub ext_key_usage: Vec<ObjectIdentifier>,
    /// basicConstraints (written critical), if any.
    pub basic_constraints: Option<BasicConstraints>,
    /// Further extensions, written as given after ours.
    pub extra_extensions: Vec<Extension>,
}

impl Template {
    /// An end-entity template valid from `not_before` to `not_after`: basicConstraints cA
    /// false, keyUsage digitalSignature + keyEncipherment, no subject yet.
    pub fn end_entity(not_before: SystemTime, not_after: SystemTime) -> Self {
        Self {
            subject: None,
            not_before,
            not_after,
            san: SubjectAltNames::default(),
            copy_requested_san: false,
            key_usage: Some(KeyUsage(
                KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
            )),
            ext_key_usage: Vec::new(),
            basic_constraints: Some(BasicConstraints {
                ca: false,
                path_len_constraint: None,
            }),
            extra_extensions: Vec::new(),
        }
    }

    /// A CA template: basicConstraints cA true with `path_len`, keyUsage keyCertSign + cRLSign.
    pub fn ca(
        subject: Name,
        not_before: SystemTime,
        not_after: SystemTime,
        path_len: Option<u8>,
    ) -> Self {
        Self {
            subject: Some(subject),
            key_usage: Some(KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)),
            basic_constraints: Some(BasicConstraints {
                ca: true,
                path_len_constraint: path_len,
            }),
            ..Self::end_entity(not_before, not_after)
        }
    }

    /// Set the subject.
    pub fn with_subject(mut self, subject: Name) -> Self {
        self.subject = Some(subject);
        self
    }

    /// Set the subjectAltNames.
    pub fn with_san(mut self, san: SubjectAltNames) -> Self {
        self.san = san;
        self
    }

    /// Copy the subjectAltNames a request asks for ([`from_csr`]).
    pub fn with_requested_san(mut self, copy: bool) -> Self {
        self.copy_requested_san = copy;
        self
    }

    /// Set the keyUsage (`None` leaves it out).
    pub fn with_key_usage(mut self, ku: Option<KeyUsage>) -> Self {
        self.key_usage = ku;
        self
    }

    /// Add an extKeyUsage purpose.
    pub fn with_eku(mut self, purpose: ObjectIdentifier) -> Self {
        self.ext_key_usage.push(purpose);
        self
    }

    /// Set the basicConstraints (`None` leaves it out).
    pub fn with_basic_constraints(mut self, bc: Option<BasicConstraints>) -> Self {
        self.basic_constraints = bc;
        self
    }

    /// Add an extension.
    pub fn with_extension(mut self, ext: Extension) -> Self {
        self.extra_extensions.push(ext);
        self
    }
}

/// The `TBSCertificate` as we write it (RFC 5280 section 4.1):
///
/// ```text
/// TBSCertificate  ::=  SEQUENCE  {
///      version         [0]  EXPLICIT Version DEFAULT v1,
///      serialNumber         CertificateSerialNumber,
///      signature            AlgorithmIdentifier,
///      issuer               Name,
///      validity             Validity,
///      subject              Name,
///      subjectPublicKeyInfo SubjectPublicKeyInfo,
///      extensions      [3]  EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Sequence)]
struct TbsOut {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: Version,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

#[derive(Sequence)]
struct CertOut<'a> {
    tbs: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// Issue a certificate for `subject_spki`, signed by `issuer_signer`.
///
/// `issuer_cert` is the issuer's certificate (its subject becomes our issuer and its key must
/// be the signer's); `None` makes a self-signed certificate, whose key must then be the
/// signer's. The serial number is [`SERIAL_LEN`] random bytes from `rng`, positive. The
/// subjectKeyIdentifier is the RFC 5280 method-1 identifier of the subject key; the
/// authorityKeyIdentifier is the issuer certificate's subjectKeyIdentifier (or the identifier
/// of the issuer key). The signature scheme is the signer's default (ECDSA P-256 →
/// ecdsa-with-SHA256, RSA → sha256WithRSAEncryption), and the result is checked with
/// `provider` before it is returned.
pub fn issue(
    provider: &dyn CryptoProvider,
    issuer_signer: &dyn Signer,
    issuer_cert: Option<&Certificate>,
    subject_spki: &SubjectPublicKeyInfoOwned,
    template: &Template,
    rng: &mut dyn CryptoRng,
) -> Result<Certificate> {
    let subject = template
        .subject
        .clone()
        .ok_or(Error::ApiMisuse("the certificate template has no subject"))?;
    if template.not_after < template.not_before {
        return Err(Error::ApiMisuse("notAfter is before notBefore"));
    }
    let issuer_spki = issuer_signer.spki();
    let (issuer, aki) = match issuer_cert {
        Some(ic) => {
            let tbs = ic.tbs_certificate();
            if tbs.subject_public_key_info() != issuer_spki {
                return Err(Error::ApiMisuse(
                    "the issuer key does not match the issuer certificate",
                ));
            }
            let exts = tbs.extensions().map(Vec::as_slice).unwrap_or_default();
            let aki = Parsed::from_extensions(exts)?
                .ski
                .unwrap_or_else(|| crate::public_key::key_identifier(issuer_spki).to_vec());
            (tbs.subject().clone(), aki)
        }
        None => {
            if subject_spki != issuer_spki {
                return Err(Error::ApiMisuse(
                    "a self-signed certificate needs the signer's own key",
                ));
            }
            (
                subject.clone(),
                crate::public_key::key_identifier(issuer_spki).to_vec(),
            )
        }
    };

    let enc = |e: der::Error| Error::malformed("Certificate", e);
    let mut serial = [0u8; SERIAL_LEN];
    rng.fill_bytes(&mut serial);
    // Positive, and exactly SERIAL_LEN bytes once encoded.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    let serial_number = SerialNumber::new(&serial).map_err(enc)?;

    let time = |t: SystemTime| Time::try_from(t).map_err(enc);
    let validity = Validity::new(time(template.not_before)?, time(template.not_after)?);

    let mut exts = Vec::new();
    if let Some(bc) = &template.basic_constraints {
        exts.push(to_extension(BasicConstraints::OID, true, bc)?);
    }
    if let Some(ku) = &template.key_usage {
        exts.push(to_extension(KeyUsage::OID, true, ku)?);
    }
    if !template.ext_key_usage.is_empty() {
        let eku = ExtendedKeyUsage(template.ext_key_usage.clone());
        exts.push(to_extension(ExtendedKeyUsage::OID, false, &eku)?);
    }
    let ski = SubjectKeyIdentifier(
        OctetString::new(crate::public_key::key_identifier(subject_spki).to_vec()).map_err(enc)?,
    );
    exts.push(to_extension(SubjectKeyIdentifier::OID, false, &ski)?);
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(aki).map_err(enc)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    exts.push(to_extension(AuthorityKeyIdentifier::OID, false, &aki)?);
    if !template.san.is_empty() {
        exts.push(template.san.to_extension(subject.is_empty())?);
    }
    exts.extend(template.extra_extensions.iter().cloned());
    Parsed::from_extensions(&exts)?;

    let scheme = issuer_signer.default_scheme();
    let signature_alg = scheme.algorithm_identifier()?;
    let tbs = TbsOut {
        version: Version::V3,
        serial_number,
        signature: signature_alg.clone(),
        issuer,
        validity,
        subject,
        subject_public_key_info: subject_spki.clone(),
        extensions: Some(exts),
    };
    let tbs_der = tbs.to_der().map_err(enc)?;
    let signature = issuer_signer.sign(scheme, &tbs_der, rng)?;
    provider.verify(issuer_spki, scheme, &tbs_der, &signature)?;
    let out = CertOut {
        tbs: AnyRef::from_der(&tbs_der).map_err(enc)?,
        signature_algorithm: signature_alg,
        signature: BitString::from_bytes(&signature).map_err(enc)?,
    };
    let der = out.to_der().map_err(enc)?;
    Certificate::from_der(&der).map_err(enc)
}

/// A self-signed CA certificate for `signer`'s key.
pub fn self_signed_ca(
    provider: &dyn CryptoProvider,
    signer: &dyn Signer,
    subject: Name,
    not_before: SystemTime,
    not_after: SystemTime,
    path_len: Option<u8>,
    rng: &mut dyn CryptoRng,
) -> Result<Certificate> {
    let template = Template::ca(subject, not_before, not_after, path_len);
    issue(provider, signer, None, signer.spki(), &template, rng)
}

/// An intermediate CA certificate for `subject_spki`, issued by `issuer_cert`'s key.
#[allow(clippy::too_many_arguments)]
pub fn intermediate_ca(
    provider: &dyn CryptoProvider,
    issuer_signer: &dyn Signer,
    issuer_cert: &Certificate,
    subject_spki: &SubjectPublicKeyInfoOwned,
    subject: Name,
    not_before: SystemTime,
    not_after: SystemTime,
    path_len: Option<u8>,
    rng: &mut dyn CryptoRng,
) -> Result<Certificate> {
    let template = Template::ca(subject, not_before, not_after, path_len);
    issue(
        provider,
        issuer_signer,
        Some(issuer_cert),
        subject_spki,
        &template,
        rng,
    )
}

/// Issue a certificate for a request: the request's self-signature is verified under `policy`
/// first; the subject is the template's, or else the request's; the requested subjectAltNames
/// are added to the template's only when [`Template::copy_requested_san`] is set. Other
/// requested extensions are never copied.
#[allow(clippy::too_many_arguments)]
pub fn from_csr(
    provider: &dyn CryptoProvider,
    policy: &Policy,
    issuer_signer: &dyn Signer,
    issuer_cert: &Certificate,
    csr: &Csr,
    template: &Template,
    rng: &mut dyn CryptoRng,
) -> Result<Certificate> {
    let verified = csr.verify(provider, policy)?;
    let mut t = template.clone();
    if t.subject.is_none() {
        t.subject = Some(verified.subject().clone());
    }
    let requested = match t.copy_requested_san {
        true => verified.requested_san()?,
        false => None,
    };
    if let Some(req) = requested {
        t.san.dns.extend(req.dns);
        t.san.ip.extend(req.ip);
        t.san.email.extend(req.email);
        t.san.uri.extend(req.uri);
        t.san.other.extend(req.other);
    }
    issue(
        provider,
        issuer_signer,
        Some(issuer_cert),
        verified.public_key(),
        &t,
        rng,
    )
}
