//! Apple Managed Device Attestation (MDA).
//!
//! A device asked for an attestation (by an ACME `device-attest-01` challenge, or by the MDM
//! `DeviceInformation` query with a `DeviceAttestationNonce`) returns a certificate chain:
//!
//! ```text
//!   leaf (the attested P-384 key, device properties as extensions)
//!     └─ issued by "Apple Enterprise Attestation Sub CA 1" (sent by the device)
//!          └─ issued by "Apple Enterprise Attestation Root CA" (P-384, trusted by the caller)
//! ```
//!
//! [`verify`] validates the chain at the caller's time through [`pki::cert::path`], reads the
//! device properties ([`MdaExtensions`]), checks that the attested key is P-384, the freshness
//! code and, when asked, the serial number or UDID. The trust anchor is a parameter; by default
//! it is [`enterprise_attestation_root`].
//!
//! The extensions (Apple's arc `1.2.840.113635.100.8`), each optional:
//!
//! ```text
//!   9.1   serial number              UTF-8 bytes, unwrapped, as the extnValue OCTET STRING
//!   9.2   UDID                       UTF-8 bytes
//!   9.4   SoftwareUpdateDeviceID     UTF-8 bytes
//!   10.1  OS version                 UTF-8 bytes
//!   10.2  sepOS version              UTF-8 bytes
//!   10.3  LLB version                UTF-8 bytes
//!   11.1  freshness code             raw bytes (32: SHA-256 of an ACME token, or the MDM nonce)
//!   13.1  SIP status                 DER INTEGER
//!   13.2  secure boot                UTF-8 bytes ("Full Security", ...)
//!   13.3  third-party kexts allowed  DER INTEGER
//! ```
//!
//! Freshness: a device caches an attestation for up to seven days and answers with the cached
//! one (and its old freshness code) unless given a new nonce. A code equal to a nonce the caller
//! issued earlier is reported as [`MdaError::StaleAttestation`], not as a plain mismatch.

use std::sync::OnceLock;
use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use der::Decode;
use pki::alg::Curve;
use pki::cert::Cert;
use pki::cert::path::{self, ValidatedPath};
use pki::key::KeyKind;
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use sha2::Digest as _;
use spki::SubjectPublicKeyInfoOwned;
use subtle::ConstantTimeEq;
use x509_cert::ext::Extension;

/// Object identifiers of the MDA certificate extensions.
pub mod oid {
    use const_oid::ObjectIdentifier as O;

    /// Apple's enterprise arc; unknown extensions under it are kept.
    pub const APPLE: O = O::new_unwrap("1.2.840.113635");
    /// Device serial number.
    pub const SERIAL_NUMBER: O = O::new_unwrap("1.2.840.113635.100.8.9.1");
    /// Device UDID.
    pub const UDID: O = O::new_unwrap("1.2.840.113635.100.8.9.2");
    /// SoftwareUpdateDeviceID.
    pub const SOFTWARE_UPDATE_DEVICE_ID: O = O::new_unwrap("1.2.840.113635.100.8.9.4");
    /// OS version.
    pub const OS_VERSION: O = O::new_unwrap("1.2.840.113635.100.8.10.1");
    /// sepOS version.
    pub const SEPOS_VERSION: O = O::new_unwrap("1.2.840.113635.100.8.10.2");
    /// LLB (low-level bootloader) version.
    pub const LLB_VERSION: O = O::new_unwrap("1.2.840.113635.100.8.10.3");
    /// Freshness code (nonce).
    pub const FRESHNESS_CODE: O = O::new_unwrap("1.2.840.113635.100.8.11.1");
    /// System Integrity Protection status.
    pub const SIP_STATUS: O = O::new_unwrap("1.2.840.113635.100.8.13.1");
    /// Secure boot level.
    pub const SECURE_BOOT: O = O::new_unwrap("1.2.840.113635.100.8.13.2");
    /// Whether third-party kernel extensions are allowed.
    pub const THIRD_PARTY_KEXTS: O = O::new_unwrap("1.2.840.113635.100.8.13.3");
    /// WebAuthn `apple` anonymous attestation nonce (see [`crate::webauthn`]).
    pub const WEBAUTHN_NONCE: O = O::new_unwrap("1.2.840.113635.100.8.2");
}

/// The MDA extension OIDs [`verify`] processes itself (they never fail path validation as
/// unknown critical extensions).
pub const HANDLED_EXTENSIONS: [ObjectIdentifier; 10] = [
    oid::SERIAL_NUMBER,
    oid::UDID,
    oid::SOFTWARE_UPDATE_DEVICE_ID,
    oid::OS_VERSION,
    oid::SEPOS_VERSION,
    oid::LLB_VERSION,
    oid::FRESHNESS_CODE,
    oid::SIP_STATUS,
    oid::SECURE_BOOT,
    oid::THIRD_PARTY_KEXTS,
];

/// Most certificates accepted in one MDA chain (leaf and intermediates).
pub const MAX_CHAIN_LEN: usize = 8;

/// Largest freshness code accepted, in bytes (a SHA-256 digest, or an MDM nonce of at most 32
/// bytes).
pub const MAX_FRESHNESS_LEN: usize = 32;

/// SHA-256 fingerprint of the DER of the Apple Enterprise Attestation Root CA.
pub const ENTERPRISE_ATTESTATION_ROOT_SHA256: [u8; 32] = [
    0xcc, 0xf5, 0x9e, 0xf8, 0xfc, 0xb3, 0x01, 0x7d, 0x97, 0xf8, 0xb5, 0xfa, 0x6f, 0xa9, 0x0e, 0x7a,
    0x3f, 0x92, 0x83, 0xf7, 0x6b, 0x55, 0xac, 0x6c, 0xf6, 0xed, 0xa8, 0xb8, 0xb9, 0x49, 0xf0, 0x5b,
];

/// The Apple Enterprise Attestation Root CA (P-384, valid 2022-02-16 to 2047-02-20), as Apple
/// publishes it.
pub const ENTERPRISE_ATTESTATION_ROOT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIICJDCCAamgAwIBAgIUQsDCuyxyfFxeq/bxpm8frF15hzcwCgYIKoZIzj0EAwMw
UTEtMCsGA1UEAwwkQXBwbGUgRW50ZXJwcmlzZSBBdHRlc3RhdGlvbiBSb290IENB
MRMwEQYDVQQKDApBcHBsZSBJbmMuMQswCQYDVQQGEwJVUzAeFw0yMjAyMTYxOTAx
MjRaFw00NzAyMjAwMDAwMDBaMFExLTArBgNVBAMMJEFwcGxlIEVudGVycHJpc2Ug
QXR0ZXN0YXRpb24gUm9vdCBDQTETMBEGA1UECgwKQXBwbGUgSW5jLjELMAkGA1UE
BhMCVVMwdjAQBgcqhkjOPQIBBgUrgQQAIgNiAAT6Jigq+Ps9Q4CoT8t8q+UnOe2p
oT9nRaUfGhBTbgvqSGXPjVkbYlIWYO+1zPk2Sz9hQ5ozzmLrPmTBgEWRcHjA2/y7
7GEicps9wn2tj+G89l3INNDKETdxSPPIZpPj8VmjQjBAMA8GA1UdEwEB/wQFMAMB
Af8wHQYDVR0OBBYEFPNqTQGd8muBpV5du+UIbVbi+d66MA4GA1UdDwEB/wQEAwIB
BjAKBggqhkjOPQQDAwNpADBmAjEA1xpWmTLSpr1VH4f8Ypk8f3jMUKYz4QPG8mL5
8m9sX/b2+eXpTv2pH4RZgJjucnbcAjEA4ZSB6S45FlPuS/u4pTnzoz632rA+xW/T
ZwFEh9bhKjJ+5VQ9/Do1os0u3LEkgN/r
-----END CERTIFICATE-----
";

/// The Apple Enterprise Attestation Root CA, parsed from [`ENTERPRISE_ATTESTATION_ROOT_PEM`]:
/// the default trust anchor of [`verify`].
pub fn enterprise_attestation_root() -> &'static Cert {
    static ROOT: OnceLock<Cert> = OnceLock::new();
    ROOT.get_or_init(|| {
        // A constant, checked by the tests against the published fingerprint.
        Cert::from_pem(ENTERPRISE_ATTESTATION_ROOT_PEM.as_bytes())
            .expect("the embedded Apple Enterprise Attestation Root CA parses")
    })
}

/// Why a Managed Device Attestation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MdaError {
    /// No certificate was supplied.
    #[error("the MDA certificate chain is empty")]
    EmptyChain,
    /// More certificates than [`MAX_CHAIN_LEN`].
    #[error("the MDA chain has {count} certificates, over the limit of {limit}")]
    TooManyCertificates {
        /// Certificates supplied.
        count: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A certificate did not parse, or the chain did not validate to a trusted anchor at the
    /// given time.
    #[error("MDA certificate chain: {0}")]
    Chain(pki::Error),
    /// An MDA extension's value does not have the documented encoding.
    #[error("MDA extension {name} ({oid}) is malformed: {reason}")]
    MalformedExtension {
        /// The extension's name.
        name: &'static str,
        /// Its OID, dotted.
        oid: String,
        /// What is wrong.
        reason: String,
    },
    /// An MDA extension appears twice in the leaf.
    #[error("MDA extension {oid} appears more than once")]
    DuplicateExtension {
        /// Its OID, dotted.
        oid: String,
    },
    /// The attested key is not an EC P-384 key.
    #[error("the attested key is {found}, MDA keys are EC P-384")]
    LeafKeyNotP384 {
        /// What the key is.
        found: String,
    },
    /// The caller asked for freshness and the leaf carries no freshness code.
    #[error("the attestation carries no freshness code and one is required")]
    FreshnessMissing,
    /// The freshness code is neither the expected one nor one issued earlier.
    #[error("the freshness code does not match the nonce issued for this request")]
    FreshnessMismatch,
    /// The freshness code matches a nonce issued earlier: the device answered with a cached
    /// attestation.
    #[error(
        "stale attestation: the freshness code is that of earlier nonce #{index}; the device \
         returned a cached attestation (send a new nonce)"
    )]
    StaleAttestation {
        /// Index of the matching code in [`Options::earlier`].
        index: usize,
    },
    /// The serial number is absent or differs from the expected one.
    #[error("serial number {found:?} is not the expected {expected:?}")]
    SerialMismatch {
        /// The expected serial number.
        expected: String,
        /// The serial number attested, if any.
        found: Option<String>,
    },
    /// The UDID is absent or differs from the expected one.
    #[error("UDID {found:?} is not the expected {expected:?}")]
    UdidMismatch {
        /// The expected UDID.
        expected: String,
        /// The UDID attested, if any.
        found: Option<String>,
    },
}

/// An extension under Apple's arc that this module does not model, kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherExtension {
    /// Its OID.
    pub oid: ObjectIdentifier,
    /// Whether it was marked critical.
    pub critical: bool,
    /// The content of its extnValue OCTET STRING.
    pub value: Vec<u8>,
}

/// The device properties an MDA leaf certificate attests. Every field is optional: which ones
/// appear depends on the OS version and the enrollment type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MdaExtensions {
    /// Serial number (`1.2.840.113635.100.8.9.1`).
    pub serial_number: Option<String>,
    /// UDID (`.9.2`).
    pub udid: Option<String>,
    /// SoftwareUpdateDeviceID (`.9.4`).
    pub software_update_device_id: Option<String>,
    /// OS version (`.10.1`).
    pub os_version: Option<String>,
    /// sepOS version (`.10.2`).
    pub sepos_version: Option<String>,
    /// LLB version (`.10.3`).
    pub llb_version: Option<String>,
    /// Freshness code (`.11.1`).
    pub freshness_code: Option<Vec<u8>>,
    /// SIP status (`.13.1`).
    pub sip_status: Option<i64>,
    /// Secure boot level (`.13.2`).
    pub secure_boot: Option<String>,
    /// Third-party kernel extensions allowed (`.13.3`).
    pub third_party_kexts: Option<i64>,
    /// Other extensions under Apple's arc `1.2.840.113635`, in order.
    pub other: Vec<OtherExtension>,
}

fn malformed(name: &'static str, oid: ObjectIdentifier, reason: impl ToString) -> MdaError {
    MdaError::MalformedExtension {
        name,
        oid: oid.to_string(),
        reason: reason.to_string(),
    }
}

fn utf8(name: &'static str, ext: &Extension) -> Result<String, MdaError> {
    let bytes = ext.extn_value.as_bytes();
    if bytes.is_empty() {
        return Err(malformed(name, ext.extn_id, "empty value"));
    }
    String::from_utf8(bytes.to_vec()).map_err(|e| malformed(name, ext.extn_id, e))
}

fn integer(name: &'static str, ext: &Extension) -> Result<i64, MdaError> {
    i64::from_der(ext.extn_value.as_bytes()).map_err(|e| malformed(name, ext.extn_id, e))
}

fn set<T>(slot: &mut Option<T>, value: T, oid: ObjectIdentifier) -> Result<(), MdaError> {
    if slot.is_some() {
        return Err(MdaError::DuplicateExtension {
            oid: oid.to_string(),
        });
    }
    *slot = Some(value);
    Ok(())
}

impl MdaExtensions {
    /// Read the MDA properties from a certificate's extensions. Extensions outside Apple's arc
    /// are ignored; unknown ones inside it are kept in [`MdaExtensions::other`].
    pub fn from_extensions(extensions: &[Extension]) -> crate::Result<Self> {
        Ok(Self::parse(extensions)?)
    }

    fn parse(extensions: &[Extension]) -> Result<Self, MdaError> {
        let mut out = Self::default();
        for ext in extensions {
            let id = ext.extn_id;
            match id {
                oid::SERIAL_NUMBER => set(&mut out.serial_number, utf8("serial number", ext)?, id)?,
                oid::UDID => set(&mut out.udid, utf8("UDID", ext)?, id)?,
                oid::SOFTWARE_UPDATE_DEVICE_ID => set(
                    &mut out.software_update_device_id,
                    utf8("SoftwareUpdateDeviceID", ext)?,
                    id,
                )?,
                oid::OS_VERSION => set(&mut out.os_version, utf8("OS version", ext)?, id)?,
                oid::SEPOS_VERSION => set(&mut out.sepos_version, utf8("sepOS version", ext)?, id)?,
                oid::LLB_VERSION => set(&mut out.llb_version, utf8("LLB version", ext)?, id)?,
                oid::FRESHNESS_CODE => {
                    let code = ext.extn_value.as_bytes();
                    if code.is_empty() || code.len() > MAX_FRESHNESS_LEN {
                        return Err(malformed(
                            "freshness code",
                            id,
                            format!("{} bytes, expected 1 to {MAX_FRESHNESS_LEN}", code.len()),
                        ));
                    }
                    set(&mut out.freshness_code, code.to_vec(), id)?
                }
                oid::SIP_STATUS => set(&mut out.sip_status, integer("SIP status", ext)?, id)?,
                oid::SECURE_BOOT => set(&mut out.secure_boot, utf8("secure boot", ext)?, id)?,
                oid::THIRD_PARTY_KEXTS => set(
                    &mut out.third_party_kexts,
                    integer("third-party kexts", ext)?,
                    id,
                )?,
                other if other.starts_with(oid::APPLE) => {
                    if out.other.iter().any(|o| o.oid == other) {
                        return Err(MdaError::DuplicateExtension {
                            oid: other.to_string(),
                        });
                    }
                    out.other.push(OtherExtension {
                        oid: other,
                        critical: ext.critical,
                        value: ext.extn_value.as_bytes().to_vec(),
                    })
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Read the MDA properties of one DER certificate (the parse entry point for fuzzing and
    /// inspection; no signature or chain is checked).
    pub fn from_certificate_der(der: &[u8]) -> crate::Result<Self> {
        let cert = Cert::from_der(der).map_err(MdaError::Chain)?;
        Self::from_extensions(cert.extensions())
    }

    /// Whether the certificate carries any MDA property (for recognising MDA leaves).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The freshness code a caller expects in an attestation.
#[derive(Clone, PartialEq, Eq)]
pub struct FreshnessCode(Vec<u8>);

impl core::fmt::Debug for FreshnessCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FreshnessCode(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl FreshnessCode {
    /// For ACME `device-attest-01`: SHA-256 of the challenge token.
    pub fn from_acme_token(token: &str) -> Self {
        Self(sha2::Sha256::digest(token.as_bytes()).to_vec())
    }

    /// For the MDM `DeviceInformation` query: the `DeviceAttestationNonce` as sent.
    pub fn from_mdm_nonce(nonce: &[u8]) -> Self {
        Self(nonce.to_vec())
    }

    /// The code's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn matches(&self, code: &[u8]) -> bool {
        self.0.len() == code.len() && bool::from(self.0.ct_eq(code))
    }
}

/// What [`verify`] trusts and requires.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options<'a> {
    /// Trust anchors; `None` trusts only [`enterprise_attestation_root`].
    pub anchors: Option<&'a [Cert]>,
    /// The validation time.
    pub now: SystemTime,
    /// Signature policy for the chain.
    pub policy: Policy,
    /// The freshness code expected; `None` leaves freshness unchecked (a relaxation the caller
    /// names).
    pub freshness: Option<FreshnessCode>,
    /// Whether a leaf without a freshness code fails when [`Options::freshness`] is set
    /// (default `true`; Smallstep's CA accepts such a leaf).
    pub require_freshness: bool,
    /// Codes of nonces issued earlier to the same device: a match is
    /// [`MdaError::StaleAttestation`].
    pub earlier: &'a [FreshnessCode],
    /// The serial number the device must attest.
    pub expected_serial: Option<&'a str>,
    /// The UDID the device must attest.
    pub expected_udid: Option<&'a str>,
}

impl<'a> Options<'a> {
    /// Trust the Apple Enterprise Attestation Root CA at `now`, expect `freshness`, default
    /// policy, no earlier codes, no identifier expectation.
    pub fn new(now: SystemTime, freshness: FreshnessCode) -> Self {
        Self {
            anchors: None,
            now,
            policy: Policy::default(),
            freshness: Some(freshness),
            require_freshness: true,
            earlier: &[],
            expected_serial: None,
            expected_udid: None,
        }
    }

    /// Like [`Options::new`] but without any freshness check.
    pub fn without_freshness(now: SystemTime) -> Self {
        Self {
            freshness: None,
            ..Self::new(now, FreshnessCode(Vec::new()))
        }
    }

    /// Trust these anchors instead of the Apple root.
    pub fn with_anchors(mut self, anchors: &'a [Cert]) -> Self {
        self.anchors = Some(anchors);
        self
    }

    /// Set the signature policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Accept a leaf that has no freshness code at all (a code that is present is still
    /// checked).
    pub fn allowing_missing_freshness(mut self) -> Self {
        self.require_freshness = false;
        self
    }

    /// Codes of nonces issued earlier to this device.
    pub fn with_earlier(mut self, earlier: &'a [FreshnessCode]) -> Self {
        self.earlier = earlier;
        self
    }

    /// Require this serial number.
    pub fn with_expected_serial(mut self, serial: &'a str) -> Self {
        self.expected_serial = Some(serial);
        self
    }

    /// Require this UDID.
    pub fn with_expected_udid(mut self, udid: &'a str) -> Self {
        self.expected_udid = Some(udid);
        self
    }
}

/// A Managed Device Attestation that verified. Only [`verify`] builds one.
#[derive(Debug, Clone)]
pub struct VerifiedMda {
    path: ValidatedPath,
    extensions: MdaExtensions,
    key_fingerprint: [u8; 32],
    freshness_checked: bool,
}

impl VerifiedMda {
    /// The validated chain, leaf first, anchor last.
    pub fn path(&self) -> &ValidatedPath {
        &self.path
    }

    /// The attested device properties.
    pub fn extensions(&self) -> &MdaExtensions {
        &self.extensions
    }

    /// The attested key (P-384).
    pub fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        self.path
            .leaf()
            .certificate()
            .tbs_certificate()
            .subject_public_key_info()
    }

    /// SHA-256 of the attested key's DER SubjectPublicKeyInfo
    /// ([`pki::public_key::fingerprint_sha256`]), to match a CSR against.
    pub fn key_fingerprint(&self) -> [u8; 32] {
        self.key_fingerprint
    }

    /// Whether a freshness code was present and matched the expected one.
    pub fn freshness_checked(&self) -> bool {
        self.freshness_checked
    }
}

/// Check a freshness code against the caller's expectations; `Ok(true)` when it was checked.
fn check_freshness(ext: &MdaExtensions, options: &Options<'_>) -> Result<bool, MdaError> {
    let Some(code) = ext.freshness_code.as_deref() else {
        return match options.freshness {
            Some(_) if options.require_freshness => Err(MdaError::FreshnessMissing),
            _ => Ok(false),
        };
    };
    if let Some(expected) = &options.freshness
        && expected.matches(code)
    {
        return Ok(true);
    }
    if let Some(index) = options.earlier.iter().position(|e| e.matches(code)) {
        return Err(MdaError::StaleAttestation { index });
    }
    match options.freshness {
        Some(_) => Err(MdaError::FreshnessMismatch),
        None => Ok(false),
    }
}

/// Verify an MDA chain: `chain[0]` is the leaf, the rest are the intermediates the device sent
/// (in any order).
///
/// Checks, in order: the chain validates to an anchor at `options.now`; the MDA extensions
/// parse; the leaf key is EC P-384; the freshness code; the serial number and UDID when
/// expected.
pub fn verify(
    provider: &dyn CryptoProvider,
    chain: &[Cert],
    options: &Options<'_>,
) -> crate::Result<VerifiedMda> {
    Ok(verify_chain(provider, chain, options)?)
}

fn verify_chain(
    provider: &dyn CryptoProvider,
    chain: &[Cert],
    options: &Options<'_>,
) -> Result<VerifiedMda, MdaError> {
    let (leaf, intermediates) = chain.split_first().ok_or(MdaError::EmptyChain)?;
    if chain.len() > MAX_CHAIN_LEN {
        return Err(MdaError::TooManyCertificates {
            count: chain.len(),
            limit: MAX_CHAIN_LEN,
        });
    }
    let default_anchor;
    let anchors: &[Cert] = match options.anchors {
        Some(a) => a,
        None => {
            default_anchor = [enterprise_attestation_root().clone()];
            &default_anchor
        }
    };
    let path_options = path::Options::new(anchors, options.now)
        .with_intermediates(intermediates)
        .with_policy(options.policy)
        .with_handled_critical_extensions(&HANDLED_EXTENSIONS);
    let path = path::validate(provider, leaf, &path_options).map_err(MdaError::Chain)?;

    let extensions = MdaExtensions::parse(leaf.extensions())?;
    let spki = leaf
        .certificate()
        .tbs_certificate()
        .subject_public_key_info();
    match pki::public_key::kind(spki) {
        Ok(KeyKind::Ec(Curve::P384)) => {}
        Ok(other) => {
            return Err(MdaError::LeafKeyNotP384 {
                found: format!("{other:?}"),
            });
        }
        Err(e) => {
            return Err(MdaError::LeafKeyNotP384 {
                found: e.to_string(),
            });
        }
    }
    let key_fingerprint = pki::public_key::fingerprint_sha256(spki).map_err(MdaError::Chain)?;
    let freshness_checked = check_freshness(&extensions, options)?;

    if let Some(expected) = options.expected_serial
        && extensions.serial_number.as_deref() != Some(expected)
    {
        return Err(MdaError::SerialMismatch {
            expected: expected.to_string(),
            found: extensions.serial_number.clone(),
        });
    }
    if let Some(expected) = options.expected_udid
        && extensions.udid.as_deref() != Some(expected)
    {
        return Err(MdaError::UdidMismatch {
            expected: expected.to_string(),
            found: extensions.udid.clone(),
        });
    }
    Ok(VerifiedMda {
        path,
        extensions,
        key_fingerprint,
        freshness_checked,
    })
}

/// [`verify`] over DER certificates (an ACME `x5c` array), refusing more than
/// [`MAX_CHAIN_LEN`] before parsing any.
pub fn verify_der<B: AsRef<[u8]>>(
    provider: &dyn CryptoProvider,
    chain: &[B],
    options: &Options<'_>,
) -> crate::Result<VerifiedMda> {
    if chain.len() > MAX_CHAIN_LEN {
        return Err(crate::Error::Mda(MdaError::TooManyCertificates {
            count: chain.len(),
            limit: MAX_CHAIN_LEN,
        }));
    }
    let certs = chain
        .iter()
        .map(|der| Cert::from_der(der.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(MdaError::Chain)?;
    verify(provider, &certs, options)
}
