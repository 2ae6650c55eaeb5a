//! Crypto providers: where the arithmetic comes from.
//!
//! As in rustls, a provider is a value. Cargo features decide which providers are compiled in
//! (`rustcrypto`, on by default; `aws-lc`); the caller picks one at run time and passes it to
//! every operation that computes. No protocol crate picks a backend on its own.
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

use crate::Result;
use crate::alg::{ContentCipher, HashAlg, KeyTransport, SignatureScheme};
use crate::key::{KeySpec, PrivateKey};

#[cfg(feature = "aws-lc")]
pub mod aws_lc;
pub mod rustcrypto;

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

    /// Load a private key from PKCS#8 DER (RSA, EC P-256/384/521, Ed25519).
    fn private_key_from_pkcs8_der(&self, der: &[u8]) -> Result<Arc<dyn PrivateKey>>;

    /// Generate a new private key.
    fn generate_key(&self, spec: KeySpec, rng: &mut dyn CryptoRng) -> Result<Arc<dyn PrivateKey>>;
}

/// Every provider compiled into this build, the default (`rustcrypto`) first.
///
/// Test suites run once per entry; servers pick one by name with [`by_name`].
pub fn compiled() -> Vec<&'static dyn CryptoProvider> {
    #[allow(unused_mut)]
    let mut v: Vec<&'static dyn CryptoProvider> = vec![&rustcrypto::PROVIDER];
    #[cfg(feature = "aws-lc")]
    v.push(&aws_lc::PROVIDER);
    v
}

/// The compiled provider called `name`, if any.
pub fn by_name(name: &str) -> Option<&'static dyn CryptoProvider> {
    compiled().into_iter().find(|p| p.name() == name)
}
