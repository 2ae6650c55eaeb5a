//! The AIK (attestation identity key) certificate profile: what an AK certificate must look
//! like for WebAuthn `tpm` (W3C Web Authentication Level 2, section 8.3.1) and ACME
//! `device-attest-01` `tpm`.
//!
//! ```text
//! version                 v3
//! subject                 empty
//! subjectAltName          critical; a directoryName with
//!                           tcg-at-tpmManufacturer (2.23.133.2.1),
//!                           tcg-at-tpmModel        (2.23.133.2.2),
//!                           tcg-at-tpmVersion      (2.23.133.2.3)
//!                         optionally otherName permanentIdentifier (RFC 4043)
//!                         and a URI "urn:ek:..." naming the EK
//! extKeyUsage             contains tcg-kp-AIKCertificate (2.23.133.8.3)
//! basicConstraints        cA false (or absent)
//! id-fido-gen-ce-aaguid   (1.3.6.1.4.1.45724.1.1.4) optional, OCTET STRING of 16 bytes
//! ```

use const_oid::{AssociatedOid, ObjectIdentifier};
use der::asn1::{Any, OctetString};
use der::{Decode, Encode, Sequence, Tag, Tagged};
use pki::cert::Cert;
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectAltName};

/// Object identifiers of the AIK profile.
pub mod oid {
    use const_oid::ObjectIdentifier as O;
    /// tcg-kp-AIKCertificate.
    pub const TCG_KP_AIK_CERTIFICATE: O = O::new_unwrap("2.23.133.8.3");
    /// tcg-at-tpmManufacturer.
    pub const TPM_MANUFACTURER: O = O::new_unwrap("2.23.133.2.1");
    /// tcg-at-tpmModel.
    pub const TPM_MODEL: O = O::new_unwrap("2.23.133.2.2");
    /// tcg-at-tpmVersion.
    pub const TPM_VERSION: O = O::new_unwrap("2.23.133.2.3");
    /// id-on-permanentIdentifier (RFC 4043).
    pub const PERMANENT_IDENTIFIER: O = O::new_unwrap("1.3.6.1.5.5.7.8.3");
    /// id-fido-gen-ce-aaguid.
    pub const FIDO_AAGUID: O = O::new_unwrap("1.3.6.1.4.1.45724.1.1.4");
}

/// Which rule of the AIK profile a certificate breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AikError {
    /// The certificate is not version 3.
    #[error("AIK certificate is not version 3")]
    NotVersion3,
    /// The subject is not empty.
    #[error("AIK certificate subject must be empty, it is {subject}")]
    SubjectNotEmpty {
        /// The subject found.
        subject: String,
    },
    /// No extendedKeyUsage extension.
    #[error(
        "AIK certificate has no extendedKeyUsage (tcg-kp-AIKCertificate 2.23.133.8.3 required)"
    )]
    NoExtendedKeyUsage,
    /// extendedKeyUsage without tcg-kp-AIKCertificate.
    #[error("AIK certificate extendedKeyUsage lacks tcg-kp-AIKCertificate (2.23.133.8.3)")]
    EkuLacksAik,
    /// No subjectAltName extension.
    #[error("AIK certificate has no subjectAltName")]
    NoSubjectAltName,
    /// The subjectAltName is not critical.
    #[error("AIK certificate subjectAltName must be critical")]
    SanNotCritical,
    /// The subjectAltName lacks one of the TPM attributes.
    #[error("AIK certificate subjectAltName lacks {0}")]
    SanLacksTpmAttribute(&'static str),
    /// basicConstraints says cA.
    #[error("AIK certificate is a CA certificate (basicConstraints cA must be false)")]
    IsCa,
    /// An extension the profile reads does not decode.
    #[error("AIK certificate extension {what} is malformed: {reason}")]
    Malformed {
        /// Which extension.
        what: &'static str,
        /// What the decoder said.
        reason: String,
    },
}

/// A PermanentIdentifier (RFC 4043 section 3).
///
/// ```text
/// PermanentIdentifier ::= SEQUENCE {
///     identifierValue    UTF8String             OPTIONAL,
///     assigner           OBJECT IDENTIFIER      OPTIONAL }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct PermanentIdentifier {
    /// identifierValue.
    #[asn1(optional = "true")]
    pub identifier_value: Option<String>,
    /// assigner.
    #[asn1(optional = "true")]
    pub assigner: Option<ObjectIdentifier>,
}

/// What an AK certificate that meets the AIK profile says about its TPM. Only
/// [`check_aik_profile`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AikCertificate {
    tpm_manufacturer: String,
    tpm_model: String,
    tpm_version: String,
    permanent_identifiers: Vec<PermanentIdentifier>,
    ek_uri: Option<String>,
    aaguid: Option<[u8; 16]>,
}

impl AikCertificate {
    /// tcg-at-tpmManufacturer (e.g. `id:494E5443` for Intel).
    pub fn tpm_manufacturer(&self) -> &str {
        &self.tpm_manufacturer
    }
    /// tcg-at-tpmModel.
    pub fn tpm_model(&self) -> &str {
        &self.tpm_model
    }
    /// tcg-at-tpmVersion.
    pub fn tpm_version(&self) -> &str {
        &self.tpm_version
    }
    /// The permanentIdentifier otherNames of the subjectAltName.
    pub fn permanent_identifiers(&self) -> &[PermanentIdentifier] {
        &self.permanent_identifiers
    }
    /// The first subjectAltName URI starting `urn:ek:`, if any.
    pub fn ek_uri(&self) -> Option<&str> {
        self.ek_uri.as_deref()
    }
    /// The id-fido-gen-ce-aaguid extension, if present.
    pub fn aaguid(&self) -> Option<[u8; 16]> {
        self.aaguid
    }
}

fn malformed(what: &'static str, e: impl ToString) -> AikError {
    AikError::Malformed {
        what,
        reason: e.to_string(),
    }
}

fn attribute_text(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            std::str::from_utf8(value.value()).ok().map(str::to_string)
        }
        _ => None,
    }
}

/// Check `cert` against the AIK profile and read what it says about the TPM.
pub fn check_aik_profile(cert: &Cert) -> Result<AikCertificate, AikError> {
    let tbs = cert.certificate().tbs_certificate();
    if tbs.version() != Version::V3 {
        return Err(AikError::NotVersion3);
    }
    if !tbs.subject().is_empty() {
        return Err(AikError::SubjectNotEmpty {
            subject: tbs.subject().to_string(),
        });
    }
    let ext = |oid: ObjectIdentifier| cert.extensions().iter().find(|e| e.extn_id == oid);

    let eku = ext(ExtendedKeyUsage::OID).ok_or(AikError::NoExtendedKeyUsage)?;
    let eku = ExtendedKeyUsage::from_der(eku.extn_value.as_bytes())
        .map_err(|e| malformed("extendedKeyUsage", e))?;
    if !eku.0.contains(&oid::TCG_KP_AIK_CERTIFICATE) {
        return Err(AikError::EkuLacksAik);
    }

    if let Some(bc) = ext(BasicConstraints::OID) {
        let bc = BasicConstraints::from_der(bc.extn_value.as_bytes())
            .map_err(|e| malformed("basicConstraints", e))?;
        if bc.ca {
            return Err(AikError::IsCa);
        }
    }

    let san_ext = ext(SubjectAltName::OID).ok_or(AikError::NoSubjectAltName)?;
    if !san_ext.critical {
        return Err(AikError::SanNotCritical);
    }
    let san = SubjectAltName::from_der(san_ext.extn_value.as_bytes())
        .map_err(|e| malformed("subjectAltName", e))?;
    let (mut manufacturer, mut model, mut version) = (None, None, None);
    let mut permanent_identifiers = Vec::new();
    let mut ek_uri = None;
    for name in &san.0 {
        match name {
            GeneralName::DirectoryName(dn) => {
                for atv in dn.iter() {
                    let slot = match atv.oid {
                        oid::TPM_MANUFACTURER => &mut manufacturer,
                        oid::TPM_MODEL => &mut model,
                        oid::TPM_VERSION => &mut version,
                        _ => continue,
                    };
                    if slot.is_none() {
                        *slot = attribute_text(&atv.value);
                    }
                }
            }
            GeneralName::OtherName(on) if on.type_id == oid::PERMANENT_IDENTIFIER => {
                let der = on
                    .value
                    .to_der()
                    .map_err(|e| malformed("permanentIdentifier", e))?;
                permanent_identifiers.push(
                    PermanentIdentifier::from_der(&der)
                        .map_err(|e| malformed("permanentIdentifier", e))?,
                );
            }
            GeneralName::UniformResourceIdentifier(uri)
                if ek_uri.is_none() && uri.as_str().starts_with("urn:ek:") =>
            {
                ek_uri = Some(uri.as_str().to_string());
            }
            _ => {}
        }
    }
    let tpm_manufacturer =
        manufacturer.ok_or(AikError::SanLacksTpmAttribute("tcg-at-tpmManufacturer"))?;
    let tpm_model = model.ok_or(AikError::SanLacksTpmAttribute("tcg-at-tpmModel"))?;
    let tpm_version = version.ok_or(AikError::SanLacksTpmAttribute("tcg-at-tpmVersion"))?;

    let aaguid = match ext(oid::FIDO_AAGUID) {
        None => None,
        Some(e) => {
            let os = OctetString::from_der(e.extn_value.as_bytes())
                .map_err(|e| malformed("id-fido-gen-ce-aaguid", e))?;
            Some(
                <[u8; 16]>::try_from(os.as_bytes())
                    .map_err(|_| malformed("id-fido-gen-ce-aaguid", "not 16 bytes"))?,
            )
        }
    };
    Ok(AikCertificate {
        tpm_manufacturer,
        tpm_model,
        tpm_version,
        permanent_identifiers,
        ek_uri,
        aaguid,
    })
}
