//! WebAuthn attestation statements: formats `apple` (anonymous) and `tpm` (W3C Web
//! Authentication Level 2, sections 8.8 and 8.3).
//!
//! ```text
//!   attestationObject (CBOR) ──▶ AttestationObject::from_cbor ──▶ { fmt, attStmt, authData }
//!   clientDataJSON ──SHA-256──▶ clientDataHash
//!                                   │
//!   verify(provider, attObj, clientDataJSON, &Options) ──▶ VerifiedAttestation
//!      apple: credCert chain ──▶ Apple WebAuthn Root CA; nonce extension 1.2.840.113635.100.8.2
//!             = SHA-256(authData || clientDataHash); credCert key = credential key
//!      tpm:   AIK certificate chain ──▶ caller's TPM roots, AIK profile, aaguid extension;
//!             sig over certInfo by the AIK; certInfo a TPM2_Certify of pubArea with
//!             extraData = H_alg(authData || clientDataHash); pubArea key = credential key
//! ```
//!
//! The relying party still checks the client data itself (type, challenge, origin), the
//! rpIdHash and the flags; this module checks the attestation statement. The TPM `sig` is the
//! raw signature Windows sends (RSASSA bytes, or DER ECDSA), not a TPMT_SIGNATURE.

use std::sync::OnceLock;
use std::time::SystemTime;

use pki::cert::Cert;
use pki::cert::path::ValidatedPath;
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use sha2::Digest as _;
use spki::SubjectPublicKeyInfoOwned;

use crate::Result;

pub mod aik;
mod apple;
mod auth_data;
pub mod cose;
mod object;
pub(crate) mod tpm;

pub use aik::{AikCertificate, AikError, PermanentIdentifier, check_aik_profile};
pub use auth_data::{AttestedCredential, AuthenticatorData, FLAG_AT, FLAG_ED, FLAG_UP, FLAG_UV};
pub use cose::CoseKey;
pub use object::{AttStmt, AttestationObject, MAX_ATTESTATION_OBJECT, MAX_X5C};

/// The Apple WebAuthn Root CA (P-384, valid 2020-03-18 to 2045-03-15): the anchor of the
/// `apple` anonymous attestation format. Not the MDA root.
pub const APPLE_WEBAUTHN_ROOT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIICEjCCAZmgAwIBAgIQaB0BbHo84wIlpQGUKEdXcTAKBggqhkjOPQQDAzBLMR8w
HQYDVQQDDBZBcHBsZSBXZWJBdXRobiBSb290IENBMRMwEQYDVQQKDApBcHBsZSBJ
bmMuMRMwEQYDVQQIDApDYWxpZm9ybmlhMB4XDTIwMDMxODE4MjEzMloXDTQ1MDMx
NTAwMDAwMFowSzEfMB0GA1UEAwwWQXBwbGUgV2ViQXV0aG4gUm9vdCBDQTETMBEG
A1UECgwKQXBwbGUgSW5jLjETMBEGA1UECAwKQ2FsaWZvcm5pYTB2MBAGByqGSM49
AgEGBSuBBAAiA2IABCJCQ2pTVhzjl4Wo6IhHtMSAzO2cv+H9DQKev3//fG59G11k
xu9eI0/7o6V5uShBpe1u6l6mS19S1FEh6yGljnZAJ+2GNP1mi/YK2kSXIuTHjxA/
pcoRf7XkOtO4o1qlcaNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUJtdk
2cV4wlpn0afeaxLQG2PxxtcwDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49BAMDA2cA
MGQCMFrZ+9DsJ1PW9hfNdBywZDsWDbWFp28it1d/5w2RPkRX3Bbn/UbDTNLx7Jr3
jAGGiQIwHFj+dJZYUJR786osByBelJYsVZd2GbHQu209b5RCmGQ21gpSAk9QZW4B
1bWeT0vT
-----END CERTIFICATE-----
";

/// The Apple WebAuthn Root CA, parsed from [`APPLE_WEBAUTHN_ROOT_PEM`].
pub fn apple_webauthn_root() -> &'static Cert {
    static ROOT: OnceLock<Cert> = OnceLock::new();
    ROOT.get_or_init(|| {
        // A constant, checked by the tests against the vector it was copied from.
        Cert::from_pem(APPLE_WEBAUTHN_ROOT_PEM.as_bytes())
            .expect("the embedded Apple WebAuthn Root CA parses")
    })
}

/// Why a WebAuthn (or ACME) attestation object was refused. Failures inside TPM structures are
/// the crate's own [`crate::Error`] variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebAuthnError {
    /// An input is over its size or count limit.
    #[error("{what} is {len} long, over the limit of {limit}")]
    TooLarge {
        /// Which input.
        what: &'static str,
        /// Its size (bytes, or entries for arrays).
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The CBOR does not have the expected shape.
    #[error("malformed CBOR in {what}: {reason}")]
    Cbor {
        /// Where.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A map key appears twice.
    #[error("CBOR map key {0:?} appears twice")]
    DuplicateKey(String),
    /// A required field is absent.
    #[error("{0} is missing")]
    MissingField(&'static str),
    /// A statement format this entry point does not verify.
    #[error("attestation format {0:?} is not supported here")]
    UnsupportedFormat(String),
    /// The authenticator data does not parse.
    #[error("malformed authenticator data: {0}")]
    AuthData(String),
    /// The authenticator data has no attested credential (flag AT clear).
    #[error("the authenticator data carries no attested credential")]
    NoAttestedCredential,
    /// The credential public key is not a usable COSE key.
    #[error("credential public key: {0}")]
    CoseKey(String),
    /// A COSE algorithm this crate does not verify.
    #[error("unsupported COSE algorithm {0}")]
    UnsupportedAlgorithm(i64),
    /// A COSE algorithm the caller did not allow (RS1 without [`Options::allow_rs1`]).
    #[error("COSE algorithm {0} is not allowed (RS1 needs the caller's opt-in)")]
    AlgorithmNotAllowed(i64),
    /// `alg` names an algorithm the attestation key cannot use.
    #[error("COSE algorithm {alg} does not fit the attestation key ({key})")]
    AlgorithmKeyMismatch {
        /// The COSE algorithm.
        alg: i64,
        /// The key's kind.
        key: String,
    },
    /// `attStmt` has a key the format does not define.
    #[error("attStmt key {0:?} is not defined by this format")]
    UnexpectedField(String),
    /// `x5c` is empty.
    #[error("attStmt.x5c is empty")]
    NoCertificates,
    /// A certificate did not parse, or the chain did not validate at the given time.
    #[error("attestation certificate chain: {0}")]
    Chain(pki::Error),
    /// The attestation signature (`sig` over `certInfo`) does not verify.
    #[error("attestation signature: {0}")]
    Signature(pki::Error),
    /// The AIK certificate breaks the AIK profile.
    #[error(transparent)]
    Aik(#[from] AikError),
    /// The `apple` nonce extension is absent from the credential certificate.
    #[error("the credential certificate has no nonce extension (1.2.840.113635.100.8.2)")]
    NonceMissing,
    /// The `apple` nonce extension does not decode.
    #[error("the nonce extension is malformed: {0}")]
    NonceMalformed(String),
    /// The nonce (or TPM extraData) is not the hash of authData and clientDataHash.
    #[error("{0} does not match the hash of authData || clientDataHash")]
    NonceMismatch(&'static str),
    /// The attested key differs from the credential public key.
    #[error("{0} is not the credential public key")]
    KeyMismatch(&'static str),
    /// The AIK certificate's aaguid extension differs from the authenticator's AAGUID.
    #[error("the AIK certificate's aaguid extension differs from the authenticator data's AAGUID")]
    AaguidMismatch,
    /// `ver` is not "2.0".
    #[error("attStmt.ver is {0:?}, expected \"2.0\"")]
    WrongVersion(String),
}

/// The statement format that verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `apple`: anonymous attestation by Apple's WebAuthn CA.
    Apple,
    /// `tpm`: a TPM 2.0 AIK certified the credential key.
    Tpm,
}

/// What [`verify`] trusts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options<'a> {
    /// The validation time.
    pub now: SystemTime,
    /// Anchors for `apple`; `None` trusts only [`apple_webauthn_root`].
    pub apple_roots: Option<&'a [Cert]>,
    /// Anchors for `tpm` (TPM vendor or platform AIK CAs, such as the Microsoft TPM Root
    /// Certificate Authority 2014).
    pub tpm_roots: &'a [Cert],
    /// Accept `alg` RS1 (RSASSA-PKCS1-v1_5 with SHA-1) for `tpm` statements.
    pub allow_rs1: bool,
    /// Signature policy for the certificate chains.
    pub chain_policy: Policy,
}

impl<'a> Options<'a> {
    /// Verify at `now`, Apple's WebAuthn root for `apple`, `tpm_roots` for `tpm`, no RS1.
    pub fn new(now: SystemTime, tpm_roots: &'a [Cert]) -> Self {
        Self {
            now,
            apple_roots: None,
            tpm_roots,
            allow_rs1: false,
            chain_policy: Policy::default(),
        }
    }

    /// Trust these anchors for `apple` instead of Apple's root.
    pub fn with_apple_roots(mut self, roots: &'a [Cert]) -> Self {
        self.apple_roots = Some(roots);
        self
    }

    /// Accept RS1 signatures (Windows Hello TPMs that only sign with SHA-1).
    pub fn allowing_rs1(mut self) -> Self {
        self.allow_rs1 = true;
        self
    }
}

/// An attestation statement that verified. Only [`verify`] and [`verify_object`] build one.
#[derive(Debug, Clone)]
pub struct VerifiedAttestation {
    format: Format,
    auth_data: AuthenticatorData,
    path: ValidatedPath,
    credential_key: SubjectPublicKeyInfoOwned,
    key_fingerprint: [u8; 32],
    aik: Option<AikCertificate>,
}

impl VerifiedAttestation {
    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }
    /// The parsed authenticator data.
    pub fn auth_data(&self) -> &AuthenticatorData {
        &self.auth_data
    }
    /// The validated attestation chain (credential or AIK certificate first).
    pub fn path(&self) -> &ValidatedPath {
        &self.path
    }
    /// The attested credential public key.
    pub fn credential_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.credential_key
    }
    /// SHA-256 of the credential key's DER SubjectPublicKeyInfo.
    pub fn key_fingerprint(&self) -> [u8; 32] {
        self.key_fingerprint
    }
    /// For `tpm`: what the AIK certificate says about the TPM.
    pub fn aik(&self) -> Option<&AikCertificate> {
        self.aik.as_ref()
    }
}

/// Verify a WebAuthn attestation object against its clientDataJSON.
pub fn verify(
    provider: &dyn CryptoProvider,
    attestation_object: &[u8],
    client_data_json: &[u8],
    options: &Options<'_>,
) -> Result<VerifiedAttestation> {
    let obj = AttestationObject::from_cbor(attestation_object)?;
    let hash: [u8; 32] = sha2::Sha256::digest(client_data_json).into();
    verify_object(provider, &obj, &hash, options)
}

/// Verify a parsed attestation object against the SHA-256 of its clientDataJSON.
pub fn verify_object(
    provider: &dyn CryptoProvider,
    obj: &AttestationObject,
    client_data_hash: &[u8; 32],
    options: &Options<'_>,
) -> Result<VerifiedAttestation> {
    let raw = obj
        .auth_data
        .as_deref()
        .ok_or(WebAuthnError::MissingField("authData"))?;
    let auth_data = AuthenticatorData::parse(raw)?;
    let credential = auth_data
        .attested_credential
        .as_ref()
        .ok_or(WebAuthnError::NoAttestedCredential)?;
    let credential_key = credential.public_key.spki().clone();
    let mut to_be_signed = Vec::with_capacity(raw.len() + 32);
    to_be_signed.extend_from_slice(raw);
    to_be_signed.extend_from_slice(client_data_hash);

    let (format, path, aik) = match obj.fmt.as_str() {
        "apple" => {
            let path = apple::verify(
                provider,
                &obj.att_stmt,
                &to_be_signed,
                &credential_key,
                options,
            )?;
            (Format::Apple, path, None)
        }
        "tpm" => {
            let (path, aik) =
                tpm::verify_webauthn(provider, &obj.att_stmt, &to_be_signed, credential, options)?;
            (Format::Tpm, path, Some(aik))
        }
        other => return Err(WebAuthnError::UnsupportedFormat(other.to_string()).into()),
    };
    let key_fingerprint = pki::public_key::fingerprint_sha256(&credential_key)?;
    Ok(VerifiedAttestation {
        format,
        auth_data,
        path,
        credential_key,
        key_fingerprint,
        aik,
    })
}

/// Parse `x5c` into certificates (the first is the leaf).
pub(crate) fn x5c_certs(stmt: &AttStmt) -> Result<Vec<Cert>> {
    if stmt.x5c.is_empty() {
        return Err(WebAuthnError::NoCertificates.into());
    }
    Ok(stmt
        .x5c
        .iter()
        .map(|d| Cert::from_der(d))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(WebAuthnError::Chain)?)
}

/// Refuse `attStmt` entries other than `allowed` (parsed ones included).
pub(crate) fn only_fields(stmt: &AttStmt, allowed: &[&str]) -> Result<()> {
    let present = [
        ("alg", stmt.alg.is_some()),
        ("sig", stmt.sig.is_some()),
        ("ver", stmt.ver.is_some()),
        ("certInfo", stmt.cert_info.is_some()),
        ("pubArea", stmt.pub_area.is_some()),
    ];
    for (name, here) in present {
        if here && !allowed.contains(&name) {
            return Err(WebAuthnError::UnexpectedField(name.to_string()).into());
        }
    }
    match stmt.other.first() {
        Some((k, _)) => Err(WebAuthnError::UnexpectedField(k.clone()).into()),
        None => Ok(()),
    }
}

/// Whether two keys are the same (DER of the SubjectPublicKeyInfo).
pub(crate) fn same_key(a: &SubjectPublicKeyInfoOwned, b: &SubjectPublicKeyInfoOwned) -> bool {
    use der::Encode;
    match (a.to_der(), b.to_der()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
