//! Certificate revocation lists (RFC 5280 section 5): a v2 CRL signed through [`Signer`] by
//! the CA that issued the revoked certificates, and the CRL distribution point extension that
//! tells relying parties where to fetch it.
//!
//! ```text
//! CertificateList  ::=  SEQUENCE  { tbsCertList TBSCertList, signatureAlgorithm
//!                                   AlgorithmIdentifier, signatureValue BIT STRING }
//! TBSCertList  ::=  SEQUENCE  {
//!      version                 Version OPTIONAL,   -- v2(1)
//!      signature               AlgorithmIdentifier,
//!      issuer                  Name,
//!      thisUpdate              Time,
//!      nextUpdate              Time OPTIONAL,
//!      revokedCertificates     SEQUENCE OF SEQUENCE {
//!           userCertificate         CertificateSerialNumber,
//!           revocationDate          Time } OPTIONAL,
//!      crlExtensions           [0] EXPLICIT Extensions OPTIONAL }  -- AKI, cRLNumber
//! ```

use std::time::SystemTime;

use const_oid::{AssociatedOid, ObjectIdentifier};
use der::asn1::{AnyRef, BitString, Ia5String, OctetString, Uint};
use der::{Decode, Encode, Sequence};
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::certificate::Version;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, CrlDistributionPoints, crl::dp::DistributionPoint,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use super::ext::{Parsed, to_extension};
use crate::key::Signer;
use crate::provider::CryptoProvider;
use crate::{Error, Result};

/// id-ce-cRLNumber (RFC 5280 section 5.2.3).
const CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Its serial number: the DER INTEGER contents (as `SerialNumber::as_bytes` gives them).
    pub serial: Vec<u8>,
    /// When it was revoked.
    pub at: SystemTime,
}

#[derive(Sequence)]
struct RevokedOut {
    serial: SerialNumber,
    date: Time,
}

#[derive(Sequence)]
struct TbsCrlOut {
    version: Version,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    this_update: Time,
    next_update: Time,
    #[asn1(optional = "true")]
    revoked: Option<Vec<RevokedOut>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    extensions: Vec<Extension>,
}

#[derive(Sequence)]
struct CrlOut<'a> {
    tbs: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// What a CRL says besides its issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlContents {
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate: when relying parties should fetch a new one.
    pub next_update: SystemTime,
    /// The cRLNumber; callers keep it increasing from one CRL to the next.
    pub number: u64,
    /// The revoked certificates.
    pub revoked: Vec<Revoked>,
}

/// Build a v2 CRL for `issuer_cert` (whose key `signer` holds) with `contents`. It carries the
/// authorityKeyIdentifier and cRLNumber extensions RFC 5280 requires; the signature is the
/// signer's default scheme and is checked with `provider` before the DER is returned.
pub fn build(
    provider: &dyn CryptoProvider,
    signer: &dyn Signer,
    issuer_cert: &Certificate,
    contents: &CrlContents,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    let CrlContents {
        this_update,
        next_update,
        number,
        revoked,
    } = contents;
    let (this_update, next_update, number) = (*this_update, *next_update, *number);
    let enc = |e: der::Error| Error::malformed("CertificateList", e);
    let tbs_cert = issuer_cert.tbs_certificate();
    if tbs_cert.subject_public_key_info() != signer.spki() {
        return Err(Error::ApiMisuse(
            "the CRL signing key does not match the issuer certificate",
        ));
    }
    if next_update < this_update {
        return Err(Error::ApiMisuse("nextUpdate is before thisUpdate"));
    }
    let time = |t: SystemTime| Time::try_from(t).map_err(enc);
    let exts = tbs_cert.extensions().map(Vec::as_slice).unwrap_or_default();
    let key_id = Parsed::from_extensions(exts)?
        .ski
        .unwrap_or_else(|| crate::public_key::key_identifier(signer.spki()).to_vec());
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(key_id).map_err(enc)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let number = Uint::new(&number.to_be_bytes()).map_err(enc)?;
    let extensions = vec![
        to_extension(AuthorityKeyIdentifier::OID, false, &aki)?,
        to_extension(CRL_NUMBER, false, &number)?,
    ];
    let mut entries = Vec::with_capacity(revoked.len());
    for r in revoked {
        let magnitude = r
            .serial
            .iter()
            .position(|b| *b != 0)
            .map_or(&r.serial[r.serial.len().saturating_sub(1)..], |i| {
                &r.serial[i..]
            });
        entries.push(RevokedOut {
            serial: SerialNumber::new(magnitude).map_err(enc)?,
            date: time(r.at)?,
        });
    }
    let scheme = signer.default_scheme();
    let signature_alg = scheme.algorithm_identifier()?;
    let tbs = TbsCrlOut {
        version: Version::V2,
        signature: signature_alg.clone(),
        issuer: tbs_cert.subject().clone(),
        this_update: time(this_update)?,
        next_update: time(next_update)?,
        revoked: (!entries.is_empty()).then_some(entries),
        extensions,
    };
    let tbs_der = tbs.to_der().map_err(enc)?;
    let signature = signer.sign(scheme, &tbs_der, rng)?;
    provider.verify(signer.spki(), scheme, &tbs_der, &signature)?;
    CrlOut {
        tbs: AnyRef::from_der(&tbs_der).map_err(enc)?,
        signature_algorithm: signature_alg,
        signature: BitString::from_bytes(&signature).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

/// A cRLDistributionPoints extension (RFC 5280 section 4.2.1.13, non-critical) naming one
/// URI where the CRL can be fetched.
pub fn distribution_point(uri: &str) -> Result<Extension> {
    let enc = |e: der::Error| Error::malformed("cRLDistributionPoints", e);
    let name = GeneralName::UniformResourceIdentifier(Ia5String::new(uri).map_err(enc)?);
    let dps = CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![name])),
        reasons: None,
        crl_issuer: None,
    }]);
    to_extension(CrlDistributionPoints::OID, false, &dps)
}
