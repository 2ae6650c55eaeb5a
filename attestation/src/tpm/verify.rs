//! The verifier's checks: AK creation (TPM2_CertifyCreation), TPM2_Certify and TPM2_Quote.
//!
//! Each check returns a value only this module can build; holding one means the check passed.

use pki::alg::Curve;
use pki::key::KeyKind;
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use subtle::ConstantTimeEq;

use super::alg;
use super::attest::{Attest, Attested, st};
use super::creation::CreationData;
use super::name::Name;
use super::pcr::{PcrSelection, PcrValues};
use super::public::{ObjectAttributes, Parameters, Public};
use super::signature::Signature;
use crate::{Error, Result};

/// Runs the checks with one provider and one signature policy.
///
/// The policy is `pki`'s: SHA-1 signatures and small RSA keys are refused unless the caller
/// names the relaxation (`Policy::allowing_sha1()` for TPMs that only sign with SHA-1).
#[derive(Debug, Clone, Copy)]
pub struct Verifier<'a> {
    provider: &'a dyn CryptoProvider,
    policy: Policy,
}

/// An attestation key whose creation evidence checked out: a restricted signing key that never
/// leaves its TPM.
#[derive(Debug, Clone)]
pub struct VerifiedAk {
    public: Public,
    name: Name,
    creation: CreationData,
    attest: Attest,
}

impl VerifiedAk {
    /// The AK's public area.
    pub fn public(&self) -> &Public {
        &self.public
    }
    /// The AK's Name.
    pub fn name(&self) -> &Name {
        &self.name
    }
    /// The creation data the TPM certified.
    pub fn creation_data(&self) -> &CreationData {
        &self.creation
    }
    /// The signed TPMS_ATTEST.
    pub fn attest(&self) -> &Attest {
        &self.attest
    }
}

/// A key certified by an AK (TPM2_Certify): it lives in the same TPM as the AK.
#[derive(Debug, Clone)]
pub struct VerifiedCertify {
    public: Public,
    name: Name,
    attest: Attest,
}

impl VerifiedCertify {
    /// The certified key's public area.
    pub fn public(&self) -> &Public {
        &self.public
    }
    /// The certified key's Name.
    pub fn name(&self) -> &Name {
        &self.name
    }
    /// The signed TPMS_ATTEST.
    pub fn attest(&self) -> &Attest {
        &self.attest
    }
}

/// A quote whose signature, nonce and PCR digest checked out, with the PCR values it covers.
#[derive(Debug, Clone)]
pub struct VerifiedQuote {
    attest: Attest,
    pcrs: PcrValues,
    selection: PcrSelection,
}

impl VerifiedQuote {
    /// The signed TPMS_ATTEST (clockInfo, firmwareVersion...).
    pub fn attest(&self) -> &Attest {
        &self.attest
    }
    /// The quoted PCR values (exactly the quoted selection).
    pub fn pcrs(&self) -> &PcrValues {
        &self.pcrs
    }
    /// The quoted selection.
    pub fn selection(&self) -> &PcrSelection {
        &self.selection
    }
}

/// What TPM2_Certify evidence is checked against.
#[derive(Debug, Clone, Copy)]
pub struct CertifyEvidence<'a> {
    /// The certified key's public area (TPMT_PUBLIC).
    pub key: &'a Public,
    /// The TPMS_ATTEST bytes the AK signed.
    pub attest: &'a [u8],
    /// The AK's signature over them.
    pub signature: &'a Signature,
    /// The qualifyingData the verifier asked the device to use.
    pub qualifying_data: &'a [u8],
}

/// What TPM2_Quote evidence is checked against.
#[derive(Debug, Clone, Copy)]
pub struct QuoteEvidence<'a> {
    /// The TPMS_ATTEST bytes the AK signed.
    pub attest: &'a [u8],
    /// The AK's signature over them.
    pub signature: &'a Signature,
    /// The nonce the verifier sent (must equal extraData).
    pub nonce: &'a [u8],
    /// The PCR values the device reported; each must be quoted, each quoted PCR needs one.
    pub pcrs: &'a PcrValues,
    /// PCRs the verifier requires to be quoted (empty: no requirement).
    pub required: &'a PcrSelection,
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

impl<'a> Verifier<'a> {
    /// A verifier with `pki`'s default policy (no SHA-1, RSA >= 2048).
    pub fn new(provider: &'a dyn CryptoProvider) -> Self {
        Self {
            provider,
            policy: Policy::default(),
        }
    }

    /// The same verifier with another signature policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Check `sig` over `attest` by the key `signer` and parse the attestation.
    ///
    /// The signer must be a signing key; the signature's scheme must fit its type, and the
    /// key's own scheme when it has one.
    pub fn signed_attest(&self, signer: &Public, attest: &[u8], sig: &Signature) -> Result<Attest> {
        if !signer.object_attributes.has(ObjectAttributes::SIGN_ENCRYPT) {
            return Err(Error::KeyNotAcceptable(
                "the signing key does not have the sign attribute".into(),
            ));
        }
        let (key_scheme, curve_len) = match &signer.parameters {
            Parameters::Rsa(p) => {
                if matches!(sig, Signature::Ecdsa { .. }) {
                    return Err(Error::SchemeMismatch(
                        "ECDSA signature from an RSA key".into(),
                    ));
                }
                (p.scheme, None)
            }
            Parameters::Ecc(p) => {
                if !matches!(sig, Signature::Ecdsa { .. }) {
                    return Err(Error::SchemeMismatch(
                        "RSA signature from an ECC key".into(),
                    ));
                }
                (p.scheme, Some(alg::curve(p.curve_id)?.scalar_len()))
            }
            _ => {
                return Err(Error::KeyNotAcceptable(
                    "only RSA and ECC keys sign attestations here".into(),
                ));
            }
        };
        if key_scheme.scheme != alg::NULL
            && (key_scheme.scheme != sig.sig_alg() || key_scheme.hash_alg != sig.hash())
        {
            return Err(Error::SchemeMismatch(format!(
                "the key is fixed to {}/{}, the signature is {}/{}",
                alg::name(key_scheme.scheme),
                alg::name(key_scheme.hash_alg),
                alg::name(sig.sig_alg()),
                alg::name(sig.hash())
            )));
        }
        let spki = signer.spki()?;
        let (scheme, bytes) = sig.to_pki(curve_len)?;
        pki::verify::signature(self.provider, &self.policy, &spki, scheme, attest, &bytes)?;
        Attest::parse(attest)
    }

    /// Check AK creation evidence (TPM2_CertifyCreation, signed by `signer`, which may be the
    /// AK itself): the type is creation, objectName is the AK's Name, creationHash is
    /// H_nameAlg(creation data); the AK is restricted, sign, fixedTPM, fixedParent and
    /// sensitiveDataOrigin, RSA >= 2048 bits or ECC >= P-256. `expected_extra_data` is the
    /// qualifyingData the verifier asked for, if any.
    pub fn ak_creation(
        &self,
        ak: &Public,
        creation_data: &CreationData,
        attest: &[u8],
        sig: &Signature,
        signer: &Public,
        expected_extra_data: Option<&[u8]>,
    ) -> Result<VerifiedAk> {
        check_ak_attributes(ak)?;
        let parsed = self.signed_attest(signer, attest, sig)?;
        if let Some(nonce) = expected_extra_data
            && !ct_eq(&parsed.extra_data, nonce)
        {
            return Err(Error::NonceMismatch);
        }
        let Attested::Creation {
            object_name,
            creation_hash,
        } = &parsed.attested
        else {
            return Err(Error::WrongAttestType {
                expected: st::CREATION,
                found: parsed.attest_type(),
            });
        };
        if !object_name.matches(ak, self.provider)? {
            return Err(Error::NameMismatch {
                what: "TPMS_CREATION_INFO.objectName",
            });
        }
        let h = alg::hash(ak.name_alg)?;
        if !ct_eq(
            creation_hash,
            &self.provider.digest(h, creation_data.as_bytes()),
        ) {
            return Err(Error::CreationHashMismatch);
        }
        Ok(VerifiedAk {
            name: ak.name(self.provider)?,
            public: ak.clone(),
            creation: creation_data.clone(),
            attest: parsed,
        })
    }

    /// Check TPM2_Certify evidence: signed by the AK (a restricted signing key), type certify,
    /// the attested name is the key's Name, extraData is the expected qualifyingData, and the
    /// certified key is not restricted (an application key, not another AK).
    pub fn certify(&self, ak: &Public, evidence: CertifyEvidence<'_>) -> Result<VerifiedCertify> {
        check_signer_is_ak(ak)?;
        let parsed = self.signed_attest(ak, evidence.attest, evidence.signature)?;
        let Attested::Certify { name, .. } = &parsed.attested else {
            return Err(Error::WrongAttestType {
                expected: st::CERTIFY,
                found: parsed.attest_type(),
            });
        };
        if !ct_eq(&parsed.extra_data, evidence.qualifying_data) {
            return Err(Error::NonceMismatch);
        }
        if !name.matches(evidence.key, self.provider)? {
            return Err(Error::NameMismatch {
                what: "TPMS_CERTIFY_INFO.name",
            });
        }
        if evidence
            .key
            .object_attributes
            .has(ObjectAttributes::RESTRICTED)
        {
            return Err(Error::KeyNotAcceptable(
                "the certified key is restricted".into(),
            ));
        }
        Ok(VerifiedCertify {
            name: name.clone(),
            public: evidence.key.clone(),
            attest: parsed,
        })
    }

    /// Check TPM2_Quote evidence: signed by the AK, type quote, extraData equals the nonce,
    /// every required PCR quoted, every supplied PCR quoted and every quoted PCR supplied, and
    /// pcrDigest recomputed from the supplied values (with the signature's hash, as TPM2_Quote
    /// does).
    pub fn quote(&self, ak: &Public, evidence: QuoteEvidence<'_>) -> Result<VerifiedQuote> {
        check_signer_is_ak(ak)?;
        let parsed = self.signed_attest(ak, evidence.attest, evidence.signature)?;
        let Attested::Quote {
            pcr_select,
            pcr_digest,
        } = &parsed.attested
        else {
            return Err(Error::WrongAttestType {
                expected: st::QUOTE,
                found: parsed.attest_type(),
            });
        };
        if !ct_eq(&parsed.extra_data, evidence.nonce) {
            return Err(Error::NonceMismatch);
        }
        for (bank, index) in evidence.required.iter() {
            if !pcr_select.contains(bank, index) {
                return Err(Error::PcrSelectionMismatch(format!(
                    "required PCR {index} of {} is not quoted",
                    alg::name(bank)
                )));
            }
        }
        for &(bank, index) in evidence.pcrs.0.keys() {
            if !pcr_select.contains(bank, index) {
                return Err(Error::PcrNotCovered {
                    bank: alg::bank_name(bank),
                    index,
                });
            }
        }
        let digest = evidence
            .pcrs
            .digest(pcr_select, evidence.signature.hash(), self.provider)?;
        if !ct_eq(&digest, pcr_digest) {
            return Err(Error::PcrDigestMismatch);
        }
        Ok(VerifiedQuote {
            selection: pcr_select.clone(),
            pcrs: evidence.pcrs.clone(),
            attest: parsed,
        })
    }
}

fn check_signer_is_ak(ak: &Public) -> Result<()> {
    let a = ak.object_attributes;
    if !a.has(ObjectAttributes::RESTRICTED | ObjectAttributes::SIGN_ENCRYPT) {
        return Err(Error::KeyNotAcceptable(
            "the AK is not a restricted signing key".into(),
        ));
    }
    Ok(())
}

/// The attribute and size requirements on an attestation key.
pub fn check_ak_attributes(ak: &Public) -> Result<()> {
    let a = ak.object_attributes;
    for (bit, what) in [
        (ObjectAttributes::RESTRICTED, "restricted"),
        (ObjectAttributes::SIGN_ENCRYPT, "sign"),
        (ObjectAttributes::FIXED_TPM, "fixedTPM"),
        (ObjectAttributes::FIXED_PARENT, "fixedParent"),
        (
            ObjectAttributes::SENSITIVE_DATA_ORIGIN,
            "sensitiveDataOrigin",
        ),
    ] {
        if !a.has(bit) {
            return Err(Error::KeyNotAcceptable(format!("the AK is not {what}")));
        }
    }
    if a.has(ObjectAttributes::DECRYPT) {
        return Err(Error::KeyNotAcceptable("the AK can decrypt".into()));
    }
    match pki::public_key::kind(&ak.spki()?)? {
        KeyKind::Rsa { bits } if bits < 2048 => Err(Error::KeyNotAcceptable(format!(
            "a {bits}-bit RSA AK (minimum 2048)"
        ))),
        KeyKind::Rsa { .. } | KeyKind::Ec(Curve::P256 | Curve::P384 | Curve::P521) => Ok(()),
        other => Err(Error::KeyNotAcceptable(format!("an AK of kind {other:?}"))),
    }
}
