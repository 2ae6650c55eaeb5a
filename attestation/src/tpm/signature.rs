//! TPMT_SIGNATURE (TPM 2.0 Part 2, section 11.3.4) and its verification by a TPM key.

use pki::alg::{EcdsaEncoding, SignatureScheme};
use serde_json::{Value, json};

use super::alg;
use super::public::{MAX_ECC_KEY_BYTES, MAX_RSA_KEY_BYTES};
use super::wire::{Reader, Writer, hex};
use crate::{Error, Result};

/// TPMT_SIGNATURE (Part 2, section 11.3.4).
///
/// ```text
/// TPMT_SIGNATURE { sigAlg: TPMI_ALG_SIG_SCHEME+, [sigAlg] signature: TPMU_SIGNATURE }
/// TPMS_SIGNATURE_RSA { hash: TPMI_ALG_HASH, sig: TPM2B_PUBLIC_KEY_RSA }           (RSASSA, RSAPSS)
/// TPMS_SIGNATURE_ECC { hash: TPMI_ALG_HASH, signatureR, signatureS: TPM2B_ECC_PARAMETER }
/// ```
/// Marshalling is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Signature {
    /// TPM_ALG_RSASSA: RSASSA-PKCS1-v1_5.
    RsaSsa {
        /// hash
        hash: u16,
        /// sig
        sig: Vec<u8>,
    },
    /// TPM_ALG_RSAPSS: RSASSA-PSS, salt as long as the digest.
    RsaPss {
        /// hash
        hash: u16,
        /// sig
        sig: Vec<u8>,
    },
    /// TPM_ALG_ECDSA.
    Ecdsa {
        /// hash
        hash: u16,
        /// signatureR
        r: Vec<u8>,
        /// signatureS
        s: Vec<u8>,
    },
}

/// Largest TPMT_SIGNATURE accepted.
pub const MAX_SIGNATURE_BYTES: usize = 1024;

impl Signature {
    /// Parse a TPMT_SIGNATURE (`tpm2_quote -s`, `tpm2_certify -s` files in the default "tss"
    /// format), no trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_SIGNATURE_BYTES {
            return Err(Error::TooLarge {
                what: "TPMT_SIGNATURE",
                len: bytes.len(),
                limit: MAX_SIGNATURE_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let sig_alg = r.u16("TPMT_SIGNATURE.sigAlg")?;
        let out = match sig_alg {
            alg::RSASSA | alg::RSAPSS => {
                let hash = r.u16("TPMS_SIGNATURE_RSA.hash")?;
                let sig = r
                    .tpm2b("TPMS_SIGNATURE_RSA.sig", MAX_RSA_KEY_BYTES)?
                    .to_vec();
                if sig_alg == alg::RSASSA {
                    Self::RsaSsa { hash, sig }
                } else {
                    Self::RsaPss { hash, sig }
                }
            }
            alg::ECDSA => Self::Ecdsa {
                hash: r.u16("TPMS_SIGNATURE_ECC.hash")?,
                r: r.tpm2b("TPMS_SIGNATURE_ECC.signatureR", MAX_ECC_KEY_BYTES)?
                    .to_vec(),
                s: r.tpm2b("TPMS_SIGNATURE_ECC.signatureS", MAX_ECC_KEY_BYTES)?
                    .to_vec(),
            },
            other => {
                return Err(Error::UnsupportedAlgorithm {
                    what: "signature scheme",
                    alg: other,
                });
            }
        };
        r.finish("TPMT_SIGNATURE")?;
        Ok(out)
    }

    /// Marshal.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Self::RsaSsa { hash, sig } => {
                w.u16(alg::RSASSA).u16(*hash).tpm2b(sig);
            }
            Self::RsaPss { hash, sig } => {
                w.u16(alg::RSAPSS).u16(*hash).tpm2b(sig);
            }
            Self::Ecdsa { hash, r, s } => {
                w.u16(alg::ECDSA).u16(*hash).tpm2b(r).tpm2b(s);
            }
        }
        w.into_vec()
    }

    /// sigAlg.
    pub fn sig_alg(&self) -> u16 {
        match self {
            Self::RsaSsa { .. } => alg::RSASSA,
            Self::RsaPss { .. } => alg::RSAPSS,
            Self::Ecdsa { .. } => alg::ECDSA,
        }
    }

    /// The digest algorithm the signature was made with.
    pub fn hash(&self) -> u16 {
        match self {
            Self::RsaSsa { hash, .. } | Self::RsaPss { hash, .. } | Self::Ecdsa { hash, .. } => {
                *hash
            }
        }
    }

    /// The `pki` scheme and the signature bytes as `pki` verifies them (ECDSA as fixed-size
    /// `r || s` for `curve_len`-byte scalars; `r` and `s` left-padded as TPMs may drop
    /// leading zeros).
    pub(crate) fn to_pki(&self, curve_len: Option<usize>) -> Result<(SignatureScheme, Vec<u8>)> {
        let h = alg::hash(self.hash())?;
        match self {
            Self::RsaSsa { sig, .. } => Ok((SignatureScheme::RsaPkcs1v15(h), sig.clone())),
            Self::RsaPss { sig, .. } => Ok((
                SignatureScheme::RsaPss {
                    hash: h,
                    salt_len: h.output_len(),
                },
                sig.clone(),
            )),
            Self::Ecdsa { r, s, .. } => {
                let len = curve_len.ok_or_else(|| {
                    Error::SchemeMismatch("an ECDSA signature needs an ECC key".into())
                })?;
                let mut out = Vec::with_capacity(2 * len);
                for part in [r, s] {
                    let lead = part.iter().take_while(|b| **b == 0).count();
                    let p = &part[lead..];
                    if p.len() > len {
                        return Err(Error::Malformed {
                            what: "TPMS_SIGNATURE_ECC",
                            reason: format!(
                                "component of {} bytes for a {len}-byte curve",
                                p.len()
                            ),
                        });
                    }
                    out.resize(out.len() + len - p.len(), 0);
                    out.extend_from_slice(p);
                }
                Ok((
                    SignatureScheme::Ecdsa {
                        hash: h,
                        encoding: EcdsaEncoding::Fixed,
                    },
                    out,
                ))
            }
        }
    }

    /// The fields as the TPM spec names them.
    pub fn to_json(&self) -> Value {
        match self {
            Self::RsaSsa { hash, sig } | Self::RsaPss { hash, sig } => json!({
                "sigAlg": alg::name(self.sig_alg()),
                "signature": { "hash": alg::name(*hash), "sig": hex(sig) },
            }),
            Self::Ecdsa { hash, r, s } => json!({
                "sigAlg": "ecdsa",
                "signature": { "hash": alg::name(*hash), "signatureR": hex(r), "signatureS": hex(s) },
            }),
        }
    }
}
