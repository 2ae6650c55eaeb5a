//! TPM2B_NAME contents (TPM 2.0 Part 1, section 16; Part 2, section 10.5.3): how the TPM
//! names an object, and name matching.

use pki::provider::CryptoProvider;
use subtle::ConstantTimeEq;

use super::alg;
use super::public::Public;
use crate::{Error, Result};

/// Largest TPM2B_NAME contents: `sizeof(TPMU_NAME)` = a TPMT_HA with a 64-byte digest.
pub const MAX_NAME_BYTES: usize = 2 + alg::MAX_DIGEST;

/// An entity's Name.
///
/// ```text
/// TPMU_NAME { digest: TPMT_HA (nameAlg: UINT16 || H_nameAlg(TPMT_PUBLIC)), handle: TPM_HANDLE }
/// ```
/// A Name is a digest form (`u16 alg || digest`) for objects and NV indices, a 4-byte handle
/// for PCRs and permanent entities, or empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Name(Vec<u8>);

impl Name {
    /// A Name from its bytes (the contents of a TPM2B_NAME, or a `tpm2_createak -n` file).
    /// The digest form must have the size its algorithm implies.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        match bytes.len() {
            0 | 4 => Ok(Self(bytes.to_vec())),
            n if n > MAX_NAME_BYTES => Err(Error::TooLarge {
                what: "TPM2B_NAME",
                len: n,
                limit: MAX_NAME_BYTES,
            }),
            n if n < 2 => Err(Error::Truncated {
                what: "TPM2B_NAME",
                needed: 2,
                left: n,
            }),
            n => {
                let a = u16::from_be_bytes([bytes[0], bytes[1]]);
                let size = alg::digest_size(a).ok_or(Error::UnsupportedAlgorithm {
                    what: "Name hash algorithm",
                    alg: a,
                })?;
                if n - 2 != size {
                    return Err(Error::Malformed {
                        what: "TPM2B_NAME",
                        reason: format!(
                            "{} digest of {} bytes, expected {size}",
                            alg::name(a),
                            n - 2
                        ),
                    });
                }
                Ok(Self(bytes.to_vec()))
            }
        }
    }

    /// The Name of an object: `nameAlg || H_nameAlg(TPMT_PUBLIC)`.
    pub fn of_public(public: &Public, provider: &dyn CryptoProvider) -> Result<Self> {
        let h = alg::hash(public.name_alg)?;
        let mut out = public.name_alg.to_be_bytes().to_vec();
        out.extend_from_slice(&provider.digest(h, &public.encode()));
        Ok(Self(out))
    }

    /// The Name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The hash algorithm of a digest-form Name.
    pub fn alg(&self) -> Option<u16> {
        (self.0.len() > 4).then(|| u16::from_be_bytes([self.0[0], self.0[1]]))
    }

    /// Whether this Name is the Name of `public` (recomputed with `public`'s nameAlg, compared
    /// in constant time).
    pub fn matches(&self, public: &Public, provider: &dyn CryptoProvider) -> Result<bool> {
        let other = Self::of_public(public, provider)?;
        Ok(self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0)))
    }
}

impl AsRef<[u8]> for Name {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}
