//! Signature verification with a policy in front of the provider.

use spki::SubjectPublicKeyInfoOwned;

use crate::alg::{HashAlg, SignatureScheme};
use crate::key::KeyKind;
use crate::provider::CryptoProvider;
use crate::{Error, Result};

/// What a verification accepts beyond the safe defaults.
///
/// The defaults refuse SHA-1 and RSA keys under 2048 bits; each relaxation is a field the caller
/// names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Accept signatures that use SHA-1 (legacy SCEP clients, old TPMs).
    pub allow_sha1: bool,
    /// The smallest RSA modulus accepted, in bits.
    pub min_rsa_bits: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow_sha1: false,
            min_rsa_bits: 2048,
        }
    }
}

impl Policy {
    /// The default policy with SHA-1 allowed.
    pub fn allowing_sha1() -> Self {
        Self {
            allow_sha1: true,
            ..Self::default()
        }
    }

    /// The default policy with a different RSA minimum.
    pub fn with_min_rsa_bits(mut self, bits: usize) -> Self {
        self.min_rsa_bits = bits;
        self
    }

    /// Check `scheme` and the key in `spki` against this policy.
    pub fn check(&self, spki: &SubjectPublicKeyInfoOwned, scheme: SignatureScheme) -> Result<()> {
        if scheme.hash() == Some(HashAlg::Sha1) && !self.allow_sha1 {
            return Err(Error::AlgorithmNotAllowed {
                what: format!("{scheme:?} (SHA-1)"),
            });
        }
        if let KeyKind::Rsa { bits } = crate::public_key::kind(spki)?
            && bits < self.min_rsa_bits
        {
            return Err(Error::AlgorithmNotAllowed {
                what: format!("a {bits}-bit RSA key (minimum {})", self.min_rsa_bits),
            });
        }
        Ok(())
    }
}

/// Verify `sig` over `msg` by the key in `spki`, after checking `policy`.
pub fn signature(
    provider: &dyn CryptoProvider,
    policy: &Policy,
    spki: &SubjectPublicKeyInfoOwned,
    scheme: SignatureScheme,
    msg: &[u8],
    sig: &[u8],
) -> Result<()> {
    policy.check(spki, scheme)?;
    provider.verify(spki, scheme, msg, sig)
}
