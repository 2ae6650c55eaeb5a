//! Crypto providers: where the arithmetic comes from.
//!
//! As in rustls, a provider is a value. Cargo features decide which providers are compiled in
//! (`rustcrypto`, on by default; `aws-lc`); the caller picks one at run time and passes it to
//! every operation that computes. No protocol crate picks a backend on its own: `scep`,
//! `devauth` and `attestation` only forward these two features to this crate.
//!
//! The module `rustcrypto` exists only with the `rustcrypto` feature and `aws_lc` only with
//! `aws-lc`.
//! The aws-lc provider keeps a private copy of the RustCrypto code for the operations aws-lc-rs
//! cannot do (listed in its module docs); that copy is not reachable as a provider. With neither
//! feature, [`compiled`] is empty and the caller brings its own [`CryptoProvider`].
//!
//! ```text
//!   caller ──(&'static dyn CryptoProvider)──▶ pki::cms / pki::cert ──▶ provider
//!                                                                      ├─ rustcrypto (pure Rust)
//!                                                                      └─ aws_lc (aws-lc-rs, falls
//!                                                                         back to RustCrypto for
//!                                                                         RSA < 2048 encrypt, DES,
//!                                                                         3DES, odd ECDSA pairs)
//! ```

use std::sync::Arc;

use rand_core::CryptoRng;
use spki::SubjectPublicKeyInfoOwned;
use zeroize::Zeroizing;

use crate::Result;
use crate::alg::{ContentCipher, Curve, HashAlg, KeyTransport, SignatureScheme};
use crate::key::{KeySpec, PrivateKey};

#[cfg(feature = "aws-lc")]
pub mod aws_lc;
#[cfg(feature = "rustcrypto")]
pub mod rustcrypto;
/// Without the `rustcrypto` feature the RustCrypto code is compiled only as the aws-lc
/// provider's fallbacks, and is not a public provider.
#[cfg(all(feature = "aws-lc", not(feature = "rustcrypto")))]
mod rustcrypto;

/// The outcome of an ephemeral-static ECDH ([`CryptoProvider::ecdh_ephemeral`]).
pub struct EphemeralAgreement {
    /// The shared secret Z: the x coordinate of the shared point, big-endian, as many bytes as
    /// the curve's field (SP 800-56A section 5.7.1.2).
    pub shared_x: Zeroizing<Vec<u8>>,
    /// The ephemeral public key as a SEC1 uncompressed point (`0x04 || x || y`), to be sent to
    /// the peer. Its private half is gone when this value exists.
    pub ephemeral_public: Vec<u8>,
}

impl core::fmt::Debug for EphemeralAgreement {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EphemeralAgreement")
            .field("ephemeral_public", &self.ephemeral_public)
            .finish_non_exhaustive()
    }
}

/// The operations a crypto backend supplies.
///
/// Implementations verify and compute; policy (which algorithms are allowed, minimum key sizes)
/// is applied by the callers in this crate before the provider is reached.
pub trait CryptoProvider: Send + Sync + core::fmt::Debug {
    /// A short name for logs and tests (`"rustcrypto"`, `"aws-lc"`).
    fn name(&self) -> &'static str;

    /// The digest of `data`.
    fn digest(&self, alg: HashAlg, data: &[u8]) -> Vec<u8>;

    /// Check `sig` over `msg` with the key in `spki` under `scheme`.
    ///
    /// Fails with [`crate::Error::BadSignature`] when the signature does not verify, and with
    /// [`crate::Error::BadPublicKey`] when the key does not fit the scheme.
    fn verify(
        &self,
        spki: &SubjectPublicKeyInfoOwned,
        scheme: SignatureScheme,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<()>;

    /// Encrypt `plaintext` (a content-encryption key) to the RSA key in `spki`.
    fn key_transport_encrypt(
        &self,
        spki: &SubjectPublicKeyInfoOwned,
        transport: KeyTransport,
        plaintext: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>>;

    /// CBC-encrypt with PKCS#7 padding.
    fn cipher_encrypt(
        &self,
        cipher: ContentCipher,
        key: &[u8],
        iv: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>>;

    /// CBC-decrypt and remove PKCS#7 padding. A padding failure is
    /// [`crate::Error::DecryptionFailed`].
    fn cipher_decrypt(
        &self,
        cipher: ContentCipher,
        key: &[u8],
        iv: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>>;

    /// RSAES-OAEP encryption with a label (RFC 8017 section 7.1.1), MGF1 over the same digest
    /// as the label hash: what TPM 2.0 uses to send a seed to an RSA storage key (label
    /// `"IDENTITY\0"` for MakeCredential, `"DUPLICATE\0"`, `"SECRET\0"`).
    ///
    /// `label` is hashed as given (include a terminating zero if the protocol wants one).
    /// Fails with [`crate::Error::BadPublicKey`] when `spki` is not an RSA key, and with
    /// [`crate::Error::Backend`] when `plaintext` is too long for the key and digest.
    fn rsa_oaep_encrypt(
        &self,
        spki: &SubjectPublicKeyInfoOwned,
        hash: HashAlg,
        label: &[u8],
        plaintext: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>>;

    /// HMAC (RFC 2104) with `hash` under `key`, over the concatenation of `parts` (passed in
    /// pieces so callers such as SP 800-108 KDFs need not copy them together).
    fn hmac(&self, hash: HashAlg, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>>;

    /// Ephemeral-static ECDH on `curve`: generate a one-time key pair, agree with the peer's
    /// public key `peer` (a SEC1 point, uncompressed `0x04 || x || y`), and return the shared
    /// x coordinate together with the ephemeral public key. The ephemeral key comes from `rng`
    /// unless the backend draws its own randomness (aws-lc does).
    ///
    /// Fails with [`crate::Error::BadPublicKey`] when `peer` is not a point on `curve`.
    fn ecdh_ephemeral(
        &self,
        curve: Curve,
        peer: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<EphemeralAgreement>;

    /// AES in CFB mode with a 128-bit feedback (NIST SP 800-38A section 6.3), encrypting
    /// `buf` in place, any length, no padding. The key is 16, 24 or 32 bytes (AES-128/192/256);
    /// another length is [`crate::Error::ApiMisuse`].
    fn aes_cfb_encrypt(&self, key: &[u8], iv: &[u8; 16], buf: &mut [u8]) -> Result<()>;

    /// Load a private key from PKCS#8 DER (RSA, EC P-256/384/521, Ed25519).
    fn private_key_from_pkcs8_der(&self, der: &[u8]) -> Result<Arc<dyn PrivateKey>>;

    /// Generate a new private key.
    fn generate_key(&self, spec: KeySpec, rng: &mut dyn CryptoRng) -> Result<Arc<dyn PrivateKey>>;
}

/// Every provider compiled into this build, the default (`rustcrypto`) first; empty when
/// neither provider feature is on.
///
/// Test suites run once per entry; servers pick one by name with [`by_name`].
pub fn compiled() -> Vec<&'static dyn CryptoProvider> {
    vec![
        #[cfg(feature = "rustcrypto")]
        &rustcrypto::PROVIDER,
        #[cfg(feature = "aws-lc")]
        &aws_lc::PROVIDER,
    ]
}

/// The compiled provider called `name`, if any.
pub fn by_name(name: &str) -> Option<&'static dyn CryptoProvider> {
    compiled().into_iter().find(|p| p.name() == name)
}
