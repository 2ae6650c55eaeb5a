//! CMS-signed MDM material, verified through `pki`: MachineInfo (`x-apple-aspen-deviceinfo`),
//! over-the-air enrollment phase 2, signed profiles, and the `Mdm-Signature` header.
//!
//! ```text
//! x-apple-aspen-deviceinfo: base64(SignedData{ MachineInfo plist }) ─┐
//! OTA phase 2 body:         SignedData{ device attributes plist } ───┼─▶ signature ✓, signer path
//! signed .mobileconfig:     SignedData{ profile plist } ─────────────┘   to the caller's root ✓
//!                                                                        ──▶ typed plist + signer
//! Mdm-Signature: base64(detached SignedData) + request body ──▶ signature ✓ ──▶ signer certificate
//! ```
//!
//! The root that must sign MachineInfo and phase-2 blobs is an argument ([`Trust`]): Apple's
//! device CA in production, a test CA in tests. Nothing here is relaxed silently: SHA-1 is
//! accepted only when the caller's `Policy` says so.

use std::time::SystemTime;

use base64::Engine as _;
use pki::cert::Cert;
use pki::cert::path::{self, ValidatedPath};
use pki::cms::{SignedData, SignedDataBuilder, SignerInfoBuilder, VerifyOptions};
use pki::key::Signer;
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use plist::{Dictionary, Value};
use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::generated::other::MachineInfo;
use crate::profile::Profile;
use crate::value::{self, FromPlist, Limits};

/// The header a device sends MachineInfo in when it fetches an enrollment profile.
pub const DEVICEINFO_HEADER: &str = "x-apple-aspen-deviceinfo";

/// Which roots a signer must chain to, at what time, and with which signature policy.
#[derive(Debug, Clone)]
pub struct Trust<'a> {
    /// Trust anchors (Apple's device CA root in production).
    pub anchors: &'a [Cert],
    /// The time to check validity at.
    pub now: SystemTime,
    /// Signature policy for the CMS signature and the path (SHA-1 opt-in, RSA size).
    pub policy: Policy,
}

fn sig(e: pki::Error) -> Error {
    Error::Signature(e.to_string())
}

/// A verified CMS signature over a plist: the signer's validated path (or its certificate when
/// no trust was asked for) and the content. Built only by this module's verifiers.
#[derive(Debug, Clone)]
pub struct Verified {
    content: Vec<u8>,
    signer_der: Vec<u8>,
    path: Option<ValidatedPath>,
}

impl Verified {
    /// The signed bytes.
    pub fn content(&self) -> &[u8] {
        &self.content
    }

    /// The signer's certificate (DER).
    pub fn signer_der(&self) -> &[u8] {
        &self.signer_der
    }

    /// The signer's path to a trust anchor, when verification asked for one.
    pub fn path(&self) -> Option<&ValidatedPath> {
        self.path.as_ref()
    }
}

/// Verify a SignedData (DER or BER) with exactly one signer; with `trust`, also validate the
/// signer's path (intermediates from the message) to one of its anchors.
pub fn verify(
    signed: &[u8],
    detached: Option<&[u8]>,
    provider: &dyn CryptoProvider,
    policy: &Policy,
    trust: Option<&Trust<'_>>,
) -> Result<Verified> {
    let sd = SignedData::from_ber(signed, &pki::ber::Limits::default()).map_err(sig)?;
    let mut opts = VerifyOptions::new(*policy);
    if let Some(d) = detached {
        opts = opts.with_detached_content(d);
    }
    let v = sd.verify(provider, &opts).map_err(sig)?;
    let [signer] = v.signers() else {
        return Err(Error::Signature(format!(
            "expected one signer, found {}",
            v.signers().len()
        )));
    };
    let signer_der = signer.certificate_der().to_vec();
    let path = match trust {
        None => None,
        Some(t) => {
            let leaf = Cert::from_der(&signer_der).map_err(sig)?;
            let intermediates: Vec<Cert> = sd
                .certificates_der()
                .filter(|d| *d != signer_der.as_slice())
                .filter_map(|d| Cert::from_der(d).ok())
                .collect();
            let o = path::Options::new(t.anchors, t.now)
                .with_intermediates(&intermediates)
                .with_policy(t.policy);
            Some(path::validate(provider, &leaf, &o).map_err(sig)?)
        }
    };
    Ok(Verified {
        content: v.into_content(),
        signer_der,
        path,
    })
}

/// A verified MachineInfo.
#[derive(Debug, Clone)]
pub struct VerifiedMachineInfo {
    /// The typed MachineInfo (UDID, SERIAL, PRODUCT, VERSION, LANGUAGE, ...).
    pub machine_info: MachineInfo,
    /// The signature and signer path.
    pub verified: Verified,
}

/// Verify and read the `x-apple-aspen-deviceinfo` header (base64 of a SignedData over the
/// MachineInfo plist); the signer must chain to `trust`.
pub fn machine_info_header(
    header: &str,
    provider: &dyn CryptoProvider,
    trust: &Trust<'_>,
    limits: &Limits,
) -> Result<VerifiedMachineInfo> {
    if header.len() > limits.max_bytes.saturating_mul(2) {
        return Err(Error::TooLarge {
            len: header.len(),
            max: limits.max_bytes,
        });
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .map_err(|e| Error::Signature(format!("{DEVICEINFO_HEADER} is not base64: {e}")))?;
    machine_info(&der, provider, trust, limits)
}

/// Verify and read a signed MachineInfo body (the SignedData bytes).
pub fn machine_info(
    signed: &[u8],
    provider: &dyn CryptoProvider,
    trust: &Trust<'_>,
    limits: &Limits,
) -> Result<VerifiedMachineInfo> {
    let verified = verify(signed, None, provider, &trust.policy, Some(trust))?;
    let machine_info = MachineInfo::from_plist(value::parse(verified.content(), limits)?)?;
    Ok(VerifiedMachineInfo {
        machine_info,
        verified,
    })
}

/// A verified over-the-air enrollment phase-2 message (device attributes).
#[derive(Debug, Clone)]
pub struct VerifiedDeviceAttributes {
    /// The attributes as sent (UDID, SERIAL, PRODUCT, VERSION, CHALLENGE, IMEI, ...).
    pub attributes: Dictionary,
    /// The signature and signer path.
    pub verified: Verified,
}

impl VerifiedDeviceAttributes {
    /// `CHALLENGE`, the value the server put in the phase-1 profile.
    pub fn challenge(&self) -> Option<&str> {
        self.attributes.get("CHALLENGE").and_then(Value::as_string)
    }

    /// `UDID`.
    pub fn udid(&self) -> Option<&str> {
        self.attributes.get("UDID").and_then(Value::as_string)
    }
}

/// Verify and read an OTA phase-2 body; the signer must chain to `trust`.
pub fn ota_phase2(
    body: &[u8],
    provider: &dyn CryptoProvider,
    trust: &Trust<'_>,
    limits: &Limits,
) -> Result<VerifiedDeviceAttributes> {
    if body.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            len: body.len(),
            max: limits.max_bytes,
        });
    }
    let verified = verify(body, None, provider, &trust.policy, Some(trust))?;
    let attributes = value::expect_dict(value::parse(verified.content(), limits)?)?;
    Ok(VerifiedDeviceAttributes {
        attributes,
        verified,
    })
}

/// Verify the `Mdm-Signature` header (base64 of a detached SignedData over the body) and
/// return the signer, which the server compares with the identity it enrolled. With `trust`,
/// the signer must also chain to it (the server's device CA).
pub fn mdm_signature(
    header: &str,
    body: &[u8],
    provider: &dyn CryptoProvider,
    policy: &Policy,
    trust: Option<&Trust<'_>>,
) -> Result<Verified> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .map_err(|e| Error::Signature(format!("Mdm-Signature is not base64: {e}")))?;
    verify(&der, Some(body), provider, policy, trust)
}

/// A verified signed profile.
#[derive(Debug, Clone)]
pub struct VerifiedProfile {
    /// The profile.
    pub profile: Profile,
    /// The signature, signer, and path when asked for.
    pub verified: Verified,
}

/// Verify a signed `.mobileconfig` and decode the profile inside; with `trust`, the signer must
/// chain to it.
pub fn read_signed_profile(
    signed: &[u8],
    provider: &dyn CryptoProvider,
    policy: &Policy,
    trust: Option<&Trust<'_>>,
    limits: &Limits,
) -> Result<VerifiedProfile> {
    if signed.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            len: signed.len(),
            max: limits.max_bytes,
        });
    }
    let verified = verify(signed, None, provider, policy, trust)?;
    let profile = Profile::parse(verified.content(), limits)?;
    Ok(VerifiedProfile { profile, verified })
}

/// Sign a profile (its XML bytes) as CMS SignedData with the signer's certificate included.
pub fn sign_profile(
    profile_xml: &[u8],
    key: &dyn Signer,
    certificate: &Cert,
    provider: &dyn CryptoProvider,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    sign_profile_with_chain(profile_xml, key, certificate, &[], provider, rng)
}

/// [`sign_profile`], also including `chain` (the signer's issuing CAs), so a device that
/// trusts only the root can build the signer's path.
pub fn sign_profile_with_chain(
    profile_xml: &[u8],
    key: &dyn Signer,
    certificate: &Cert,
    chain: &[Cert],
    provider: &dyn CryptoProvider,
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    let scheme = key.default_scheme();
    let mut builder = SignedDataBuilder::new(pki::alg::oid::DATA, profile_xml)
        .certificate(certificate.certificate().clone());
    for c in chain {
        builder = builder.certificate(c.certificate().clone());
    }
    builder
        .signer(SignerInfoBuilder::new(
            key,
            certificate.certificate(),
            scheme,
        ))
        .build(provider, rng)
        .map_err(|e| match e {
            pki::Error::ApiMisuse(m) => Error::ApiMisuse(m),
            other => Error::Signature(other.to_string()),
        })
}
