//! ACME `device-attest-01` (draft-acme-device-attest), as Smallstep's CA accepts it: formats
//! `apple` (Managed Device Attestation) and `tpm` (TPM2_Certify by an AIK).
//!
//! ```text
//!   challenge response JSON {"attObj": base64url(CBOR)} ──▶ Payload::from_json
//!        │
//!        ▼  AttestationObject { fmt, attStmt }
//!   verify(provider, payload, &Challenge, &Options) ──▶ VerifiedDeviceAttestation
//!     apple: x5c ──▶ apple::verify (freshness = SHA-256(token)); identifier = serial or UDID
//!     tpm:   x5c ──▶ caller's roots, AIK profile; sig (TPMT_SIGNATURE) over certInfo by the AIK;
//!            certInfo = TPM2_Certify(pubArea) with extraData = SHA-256(keyAuthorization);
//!            identifier = a permanentIdentifier of the AIK certificate
//!        │
//!        ▼  key_fingerprint() ══ SHA-256(SPKI of the CSR at finalize)
//! ```
//!
//! Unlike Smallstep, a leaf without a freshness code fails the `apple` format unless the
//! caller relaxes [`Options::require_freshness`]. `attStmt` keys other than those the format
//! uses are ignored, as Smallstep does.

use std::time::SystemTime;

use base64::Engine as _;
use pki::alg::{HashAlg, SignatureScheme};
use pki::cert::Cert;
use pki::cert::path::ValidatedPath;
use pki::key::KeyKind;
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use spki::SubjectPublicKeyInfoOwned;

use crate::Result;
use crate::apple::{self, FreshnessCode, MdaExtensions};
use crate::tpm::Signature;
use crate::webauthn::cose::{ES256, RS1, RS256};
use crate::webauthn::tpm::{CertifyInput, aik_chain, certify};
use crate::webauthn::{AikCertificate, AttestationObject, WebAuthnError, x5c_certs};

/// Largest challenge response accepted, in bytes.
pub const MAX_PAYLOAD: usize = 96 * 1024;

/// Why an ACME `device-attest-01` response was refused (failures of the attestation itself
/// are [`crate::apple::MdaError`], [`WebAuthnError`] or TPM variants of [`crate::Error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// The challenge response is not `{"attObj": "<base64url>"}`.
    #[error("malformed device-attest-01 payload: {0}")]
    Payload(String),
    /// The challenge response is over [`MAX_PAYLOAD`].
    #[error("device-attest-01 payload is {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A format other than `apple` and `tpm`.
    #[error("attestation format {0:?} is not supported for device-attest-01")]
    UnsupportedFormat(String),
    /// The `tpm` statement's `alg` is not RS256 or ES256 (or RS1 when allowed).
    #[error("attStmt.alg {0} is not allowed for device-attest-01 tpm")]
    AlgorithmNotAllowed(i64),
    /// The TPMT_SIGNATURE does not use the algorithm `alg` names.
    #[error("the TPM signature does not match attStmt.alg {alg}: {reason}")]
    SignatureAlgorithmMismatch {
        /// `alg`.
        alg: i64,
        /// What differs.
        reason: String,
    },
    /// The identifier in the order is not one the attestation carries.
    #[error("permanent identifier {requested:?} is not attested (attested: {attested:?})")]
    IdentifierMismatch {
        /// What the order asked for.
        requested: String,
        /// What the attestation carries.
        attested: Vec<String>,
    },
}

/// The decoded challenge response.
///
/// ```text
/// { "attObj": base64url-without-padding(CBOR attestation object) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The attestation object.
    pub attestation_object: AttestationObject,
}

#[derive(serde::Deserialize)]
struct Wire {
    #[serde(rename = "attObj")]
    att_obj: String,
}

impl Payload {
    /// Parse the challenge response body (the parse entry point for fuzzing). The base64url
    /// may carry padding or not.
    pub fn from_json(body: &[u8]) -> Result<Self> {
        if body.len() > MAX_PAYLOAD {
            return Err(AcmeError::TooLarge {
                len: body.len(),
                limit: MAX_PAYLOAD,
            }
            .into());
        }
        let wire: Wire =
            serde_json::from_slice(body).map_err(|e| AcmeError::Payload(e.to_string()))?;
        let trimmed = wire.att_obj.trim_end_matches('=');
        let cbor = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(trimmed)
            .map_err(|e| AcmeError::Payload(format!("attObj is not base64url: {e}")))?;
        Ok(Self {
            attestation_object: AttestationObject::from_cbor(&cbor)?,
        })
    }
}

/// The challenge being answered.
#[derive(Debug, Clone, Copy)]
pub struct Challenge<'a> {
    /// The challenge token (`apple` freshness is SHA-256 of it).
    pub token: &'a str,
    /// The key authorization, `token || "." || base64url(JWK thumbprint)` (`tpm` extraData
    /// is SHA-256 of it).
    pub key_authorization: &'a str,
    /// The `permanent-identifier` the order asks for.
    pub permanent_identifier: &'a str,
}

/// What [`verify`] trusts and requires.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options<'a> {
    /// The validation time.
    pub now: SystemTime,
    /// Anchors for `apple`; `None` trusts only the Apple Enterprise Attestation Root CA.
    pub apple_roots: Option<&'a [Cert]>,
    /// Anchors for `tpm` AIK certificates.
    pub tpm_roots: &'a [Cert],
    /// Fail an `apple` attestation without a freshness code (default `true`).
    pub require_freshness: bool,
    /// Tokens of challenges issued earlier to this device: an `apple` attestation whose code
    /// is one of theirs is stale.
    pub earlier_tokens: &'a [&'a str],
    /// Accept `alg` RS1 for `tpm`.
    pub allow_rs1: bool,
    /// Signature policy for certificate chains.
    pub chain_policy: Policy,
}

impl<'a> Options<'a> {
    /// Verify at `now`: Apple's root for `apple`, `tpm_roots` for `tpm`, freshness required,
    /// no RS1.
    pub fn new(now: SystemTime, tpm_roots: &'a [Cert]) -> Self {
        Self {
            now,
            apple_roots: None,
            tpm_roots,
            require_freshness: true,
            earlier_tokens: &[],
            allow_rs1: false,
            chain_policy: Policy::default(),
        }
    }

    /// Trust these anchors for `apple` instead of Apple's root.
    pub fn with_apple_roots(mut self, roots: &'a [Cert]) -> Self {
        self.apple_roots = Some(roots);
        self
    }

    /// Accept an `apple` leaf without a freshness code (Smallstep's behaviour).
    pub fn allowing_missing_freshness(mut self) -> Self {
        self.require_freshness = false;
        self
    }

    /// Tokens of earlier challenges to the same device.
    pub fn with_earlier_tokens(mut self, tokens: &'a [&'a str]) -> Self {
        self.earlier_tokens = tokens;
        self
    }

    /// Accept RS1 for `tpm`.
    pub fn allowing_rs1(mut self) -> Self {
        self.allow_rs1 = true;
        self
    }
}

/// The format that verified, with its evidence.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Evidence {
    /// `apple`: the verified MDA chain and device properties.
    Apple(apple::VerifiedMda),
    /// `tpm`: what the AIK certificate says, and the TPM's view of the key.
    Tpm {
        /// The AIK certificate's TPM details.
        aik: AikCertificate,
        /// The validated AIK chain.
        path: ValidatedPath,
        /// The certified key's TPMT_PUBLIC.
        public: crate::tpm::Public,
        /// The signed TPMS_ATTEST.
        attest: crate::tpm::Attest,
    },
}

/// A `device-attest-01` response that verified. Only [`verify`] builds one.
#[derive(Debug, Clone)]
pub struct VerifiedDeviceAttestation {
    permanent_identifier: String,
    key: SubjectPublicKeyInfoOwned,
    key_fingerprint: [u8; 32],
    evidence: Evidence,
}

impl VerifiedDeviceAttestation {
    /// The permanent identifier that matched the order (Apple serial or UDID, TPM
    /// permanentIdentifier).
    pub fn permanent_identifier(&self) -> &str {
        &self.permanent_identifier
    }
    /// The attested key.
    pub fn key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.key
    }
    /// SHA-256 of the attested key's DER SubjectPublicKeyInfo: the CSR at finalize must carry
    /// a key with the same fingerprint.
    pub fn key_fingerprint(&self) -> [u8; 32] {
        self.key_fingerprint
    }
    /// Whether `csr_spki` is the attested key (compare at finalize).
    pub fn matches_key(&self, csr_spki: &SubjectPublicKeyInfoOwned) -> Result<bool> {
        Ok(pki::public_key::fingerprint_sha256(csr_spki)? == self.key_fingerprint)
    }
    /// The format's evidence.
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }
    /// `"apple"` or `"tpm"`.
    pub fn format(&self) -> &'static str {
        match self.evidence {
            Evidence::Apple(_) => "apple",
            Evidence::Tpm { .. } => "tpm",
        }
    }
    /// For `tpm`: the EK URI of the AIK certificate's subjectAltName, when present.
    pub fn ek_uri(&self) -> Option<&str> {
        match &self.evidence {
            Evidence::Tpm { aik, .. } => aik.ek_uri(),
            Evidence::Apple(_) => None,
        }
    }
    /// For `apple`: the attested device properties.
    pub fn mda(&self) -> Option<&MdaExtensions> {
        match &self.evidence {
            Evidence::Apple(v) => Some(v.extensions()),
            Evidence::Tpm { .. } => None,
        }
    }
}

/// Verify a challenge response body against `challenge`.
pub fn verify(
    provider: &dyn CryptoProvider,
    body: &[u8],
    challenge: &Challenge<'_>,
    options: &Options<'_>,
) -> Result<VerifiedDeviceAttestation> {
    let payload = Payload::from_json(body)?;
    verify_object(provider, &payload.attestation_object, challenge, options)
}

/// Verify a parsed attestation object against `challenge`.
pub fn verify_object(
    provider: &dyn CryptoProvider,
    obj: &AttestationObject,
    challenge: &Challenge<'_>,
    options: &Options<'_>,
) -> Result<VerifiedDeviceAttestation> {
    match obj.fmt.as_str() {
        "apple" => verify_apple(provider, obj, challenge, options),
        "tpm" => verify_tpm(provider, obj, challenge, options),
        other => Err(AcmeError::UnsupportedFormat(other.to_string()).into()),
    }
}

fn verify_apple(
    provider: &dyn CryptoProvider,
    obj: &AttestationObject,
    challenge: &Challenge<'_>,
    options: &Options<'_>,
) -> Result<VerifiedDeviceAttestation> {
    if obj.att_stmt.x5c.is_empty() {
        return Err(WebAuthnError::NoCertificates.into());
    }
    let earlier: Vec<FreshnessCode> = options
        .earlier_tokens
        .iter()
        .map(|t| FreshnessCode::from_acme_token(t))
        .collect();
    let mut mda = apple::Options::new(options.now, FreshnessCode::from_acme_token(challenge.token))
        .with_policy(options.chain_policy)
        .with_earlier(&earlier);
    if let Some(roots) = options.apple_roots {
        mda = mda.with_anchors(roots);
    }
    if !options.require_freshness {
        mda = mda.allowing_missing_freshness();
    }
    let verified = apple::verify_der(provider, &obj.att_stmt.x5c, &mda)?;
    let ext = verified.extensions();
    let attested: Vec<String> = [&ext.serial_number, &ext.udid]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if !attested.iter().any(|a| a == challenge.permanent_identifier) {
        return Err(AcmeError::IdentifierMismatch {
            requested: challenge.permanent_identifier.to_string(),
            attested,
        }
        .into());
    }
    Ok(VerifiedDeviceAttestation {
        permanent_identifier: challenge.permanent_identifier.to_string(),
        key: verified.public_key().clone(),
        key_fingerprint: verified.key_fingerprint(),
        evidence: Evidence::Apple(verified),
    })
}

fn verify_tpm(
    provider: &dyn CryptoProvider,
    obj: &AttestationObject,
    challenge: &Challenge<'_>,
    options: &Options<'_>,
) -> Result<VerifiedDeviceAttestation> {
    let stmt = &obj.att_stmt;
    let ver = stmt
        .ver
        .as_deref()
        .ok_or(WebAuthnError::MissingField("attStmt.ver"))?;
    if ver != "2.0" {
        return Err(WebAuthnError::WrongVersion(ver.to_string()).into());
    }
    let alg = stmt.alg.ok_or(WebAuthnError::MissingField("attStmt.alg"))?;
    let hash = match alg {
        RS256 | ES256 => HashAlg::Sha256,
        RS1 if options.allow_rs1 => HashAlg::Sha1,
        other => return Err(AcmeError::AlgorithmNotAllowed(other).into()),
    };
    let sig = stmt
        .sig
        .as_deref()
        .ok_or(WebAuthnError::MissingField("attStmt.sig"))?;
    let cert_info = stmt
        .cert_info
        .as_deref()
        .ok_or(WebAuthnError::MissingField("attStmt.certInfo"))?;
    let pub_area = stmt
        .pub_area
        .as_deref()
        .ok_or(WebAuthnError::MissingField("attStmt.pubArea"))?;

    let certs = x5c_certs(stmt)?;
    let (path, aik) = aik_chain(
        provider,
        &certs,
        options.tpm_roots,
        options.now,
        options.chain_policy,
    )?;
    let leaf = path.leaf().clone();
    let ak_spki = leaf
        .certificate()
        .tbs_certificate()
        .subject_public_key_info();
    let curve_len = match pki::public_key::kind(ak_spki)? {
        KeyKind::Ec(c) => Some(c.scalar_len()),
        _ => None,
    };
    // The signature is a TPMT_SIGNATURE (go-attestation's CreateSignature).
    let tpm_sig = Signature::parse(sig)?;
    let (scheme, sig_bytes) = tpm_sig.to_pki(curve_len)?;
    let fits = match (alg, scheme) {
        (RS256 | RS1, SignatureScheme::RsaPkcs1v15(h)) => h == hash,
        (ES256, SignatureScheme::Ecdsa { hash: h, .. }) => h == hash,
        _ => false,
    };
    if !fits {
        return Err(AcmeError::SignatureAlgorithmMismatch {
            alg,
            reason: format!("the TPM signed with {scheme:?}"),
        }
        .into());
    }
    let policy = if options.allow_rs1 {
        Policy::allowing_sha1()
    } else {
        Policy::default()
    };
    let extra = provider.digest(HashAlg::Sha256, challenge.key_authorization.as_bytes());
    let certified = certify(
        provider,
        CertifyInput {
            aik_cert: &leaf,
            scheme,
            policy,
            sig: &sig_bytes,
            cert_info,
            pub_area,
            expected_extra_data: &extra,
        },
    )?;
    let attested: Vec<String> = aik
        .permanent_identifiers()
        .iter()
        .filter_map(|p| p.identifier_value.clone())
        .collect();
    if !attested.iter().any(|a| a == challenge.permanent_identifier) {
        return Err(AcmeError::IdentifierMismatch {
            requested: challenge.permanent_identifier.to_string(),
            attested,
        }
        .into());
    }
    let key = certified.public.spki()?;
    let key_fingerprint = pki::public_key::fingerprint_sha256(&key)?;
    Ok(VerifiedDeviceAttestation {
        permanent_identifier: challenge.permanent_identifier.to_string(),
        key,
        key_fingerprint,
        evidence: Evidence::Tpm {
            aik,
            path,
            public: certified.public,
            attest: certified.attest,
        },
    })
}
