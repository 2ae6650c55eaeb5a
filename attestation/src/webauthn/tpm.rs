//! WebAuthn `tpm` attestation (W3C Web Authentication Level 2, section 8.3), and the TPM2_Certify
//! and AIK-chain checks it shares with ACME `device-attest-01` `tpm`.

use std::time::SystemTime;

use pki::alg::SignatureScheme;
use pki::cert::Cert;
use pki::cert::path::{self, ValidatedPath};
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use subtle::ConstantTimeEq;

use super::aik::{AikCertificate, check_aik_profile};
use super::cose::{self, RS1};
use super::{AttStmt, AttestedCredential, Options, WebAuthnError, same_key, x5c_certs};
use crate::tpm::{Attest, Attested, Public, st};
use crate::{Error, Result};

/// Validate the AIK certificate chain (`certs[0]` the AIK certificate) to `roots` at `now`,
/// then the AIK profile.
pub(crate) fn aik_chain(
    provider: &dyn CryptoProvider,
    certs: &[Cert],
    roots: &[Cert],
    now: SystemTime,
    policy: Policy,
) -> Result<(ValidatedPath, AikCertificate)> {
    let (leaf, intermediates) = certs.split_first().ok_or(WebAuthnError::NoCertificates)?;
    if roots.is_empty() {
        return Err(Error::ApiMisuse(
            "TPM attestation needs at least one trusted root",
        ));
    }
    let opts = path::Options::new(roots, now)
        .with_intermediates(intermediates)
        .with_policy(policy);
    let path = path::validate(provider, leaf, &opts).map_err(WebAuthnError::Chain)?;
    let aik = check_aik_profile(leaf).map_err(WebAuthnError::Aik)?;
    Ok((path, aik))
}

/// A key a TPM2_Certify by the AIK vouches for.
pub(crate) struct Certified {
    pub(crate) public: Public,
    pub(crate) attest: Attest,
}

/// TPM2_Certify evidence and what it must show.
pub(crate) struct CertifyInput<'a> {
    /// The AIK certificate (its key signed `cert_info`).
    pub(crate) aik_cert: &'a Cert,
    /// The signature scheme of `sig`.
    pub(crate) scheme: SignatureScheme,
    /// Signature policy for `sig`.
    pub(crate) policy: Policy,
    /// The signature bytes as `pki` verifies them.
    pub(crate) sig: &'a [u8],
    /// TPMS_ATTEST.
    pub(crate) cert_info: &'a [u8],
    /// TPMT_PUBLIC of the certified key.
    pub(crate) pub_area: &'a [u8],
    /// The extraData the TPM had to include.
    pub(crate) expected_extra_data: &'a [u8],
}

/// Check `sig` (under `scheme`, by the AIK key) over `cert_info`, then that `cert_info` is a
/// TPM2_Certify of `pub_area` with `expected_extra_data`.
pub(crate) fn certify(provider: &dyn CryptoProvider, input: CertifyInput<'_>) -> Result<Certified> {
    let CertifyInput {
        aik_cert,
        scheme,
        policy,
        sig,
        cert_info,
        pub_area,
        expected_extra_data,
    } = input;
    let spki = aik_cert
        .certificate()
        .tbs_certificate()
        .subject_public_key_info();
    pki::verify::signature(provider, &policy, spki, scheme, cert_info, sig)
        .map_err(WebAuthnError::Signature)?;
    let attest = Attest::parse(cert_info)?;
    let public = Public::parse(pub_area)?;
    let Attested::Certify { name, .. } = &attest.attested else {
        return Err(Error::WrongAttestType {
            expected: st::CERTIFY,
            found: attest.attest_type(),
        });
    };
    let extra = &attest.extra_data;
    if extra.len() != expected_extra_data.len() || !bool::from(extra.ct_eq(expected_extra_data)) {
        return Err(Error::NonceMismatch);
    }
    if !name.matches(&public, provider)? {
        return Err(Error::NameMismatch {
            what: "TPMS_CERTIFY_INFO.name (the Name of pubArea)",
        });
    }
    Ok(Certified { public, attest })
}

fn field<'a, T: ?Sized>(v: Option<&'a T>, what: &'static str) -> Result<&'a T> {
    v.ok_or_else(|| WebAuthnError::MissingField(what).into())
}

pub(super) fn verify_webauthn(
    provider: &dyn CryptoProvider,
    stmt: &AttStmt,
    to_be_signed: &[u8],
    credential: &AttestedCredential,
    options: &Options<'_>,
) -> Result<(ValidatedPath, AikCertificate)> {
    super::only_fields(stmt, &["ver", "alg", "x5c", "sig", "certInfo", "pubArea"])?;
    let ver = field(stmt.ver.as_deref(), "attStmt.ver")?;
    if ver != "2.0" {
        return Err(WebAuthnError::WrongVersion(ver.to_string()).into());
    }
    let alg = *field(stmt.alg.as_ref(), "attStmt.alg")?;
    let scheme = cose::scheme(alg)?;
    if alg == RS1 && !options.allow_rs1 {
        return Err(WebAuthnError::AlgorithmNotAllowed(alg).into());
    }
    let sig = field(stmt.sig.as_deref(), "attStmt.sig")?;
    let cert_info = field(stmt.cert_info.as_deref(), "attStmt.certInfo")?;
    let pub_area = field(stmt.pub_area.as_deref(), "attStmt.pubArea")?;

    let certs = x5c_certs(stmt)?;
    let (path, aik) = aik_chain(
        provider,
        &certs,
        options.tpm_roots,
        options.now,
        options.chain_policy,
    )?;
    if let Some(aaguid) = aik.aaguid()
        && aaguid != credential.aaguid
    {
        return Err(WebAuthnError::AaguidMismatch.into());
    }
    let hash = scheme
        .hash()
        .ok_or(WebAuthnError::UnsupportedAlgorithm(alg))?;
    let extra = provider.digest(hash, to_be_signed);
    let policy = if options.allow_rs1 {
        Policy::allowing_sha1()
    } else {
        Policy::default()
    };
    let leaf = path.leaf().clone();
    cose::check_alg_fits_key(
        alg,
        leaf.certificate()
            .tbs_certificate()
            .subject_public_key_info(),
    )?;
    let certified = certify(
        provider,
        CertifyInput {
            aik_cert: &leaf,
            scheme,
            policy,
            sig,
            cert_info,
            pub_area,
            expected_extra_data: &extra,
        },
    )?;
    if !same_key(&certified.public.spki()?, credential.public_key.spki()) {
        return Err(WebAuthnError::KeyMismatch("pubArea").into());
    }
    let _ = certified.attest;
    Ok((path, aik))
}
