//! Keys behind traits.
//!
//! A CA key in an HSM or a KMS plugs in by implementing [`Signer`] (and [`Decrypter`] for RSA
//! key transport). The providers in [`crate::provider`] implement both for keys held in memory.

use rand_core::CryptoRng;
use spki::SubjectPublicKeyInfoOwned;

use crate::Result;
use crate::alg::{Curve, KeyTransport, SignatureScheme};

/// What kind of key, and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on a named curve.
    Ec(Curve),
    /// Ed25519.
    Ed25519,
}

impl KeyKind {
    /// The signature scheme a key of this kind uses when the protocol leaves the choice to us:
    /// RSA PKCS#1 v1.5 with SHA-256, ECDSA with the curve's own digest (DER), Ed25519.
    pub const fn default_scheme(self) -> SignatureScheme {
        match self {
            KeyKind::Rsa { .. } => SignatureScheme::RsaPkcs1v15(crate::alg::HashAlg::Sha256),
            KeyKind::Ec(c) => SignatureScheme::ecdsa(c.default_hash()),
            KeyKind::Ed25519 => SignatureScheme::Ed25519,
        }
    }
}

/// Anything with a public key.
pub trait PublicKey {
    /// The public key as a `SubjectPublicKeyInfo`.
    fn spki(&self) -> &SubjectPublicKeyInfoOwned;
}

/// A private key that signs.
pub trait Signer: PublicKey + Send + Sync {
    /// The key's kind and size.
    fn kind(&self) -> KeyKind;

    /// Sign `msg` (the whole message: the scheme's digest is applied by the signer).
    ///
    /// ECDSA signatures come back in the encoding the scheme names. `rng` is used where the
    /// backend takes randomness (RSA blinding, PSS salt, ECDSA nonces are RFC 6979 with
    /// RustCrypto); a backend that draws its own randomness ignores it.
    fn sign(&self, scheme: SignatureScheme, msg: &[u8], rng: &mut dyn CryptoRng)
    -> Result<Vec<u8>>;

    /// The scheme used when the protocol leaves the choice to us.
    fn default_scheme(&self) -> SignatureScheme {
        self.kind().default_scheme()
    }
}

/// A private key that unwraps content-encryption keys (RSA key transport).
pub trait Decrypter: PublicKey + Send + Sync {
    /// Decrypt a key-transport ciphertext.
    ///
    /// With [`KeyTransport::RsaPkcs1v15`] implementations should use implicit rejection or
    /// otherwise avoid a padding oracle; the CMS layer adds the RFC 3218 behaviour on top.
    fn decrypt(
        &self,
        transport: KeyTransport,
        ciphertext: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>>;
}

/// A key pair held by a provider: signs, and (for RSA) decrypts.
pub trait PrivateKey: Signer + Decrypter {
    /// The private key as PKCS#8 DER (for storage with restricted permissions).
    fn to_pkcs8_der(&self) -> Result<zeroize::Zeroizing<Vec<u8>>>;
}

/// How to generate a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySpec {
    /// RSA with a modulus of this many bits and exponent 65537.
    Rsa(usize),
    /// ECDSA on this curve.
    Ec(Curve),
    /// Ed25519.
    Ed25519,
}

/// Error for decrypting with a key that cannot decrypt (EC, Ed25519).
#[cfg(any(feature = "rustcrypto", feature = "aws-lc"))]
pub(crate) fn cannot_decrypt(kind: KeyKind) -> crate::Error {
    crate::Error::BadPrivateKey(format!("a {kind:?} key cannot do RSA key transport"))
}
