//! The pure-Rust provider, on RustCrypto crates (`rsa`, `p256`, `p384`, `p521`,
//! `ed25519-dalek`, `sha1`, `sha2`, `aes`, `des`, `cbc`).
//!
//! RSA private operations are blinded with the caller's RNG; PKCS#1 v1.5 decryption uses the
//! `rsa` crate's implicit rejection. ECDSA signatures are deterministic (RFC 6979).
//!
//! This module is public only with the `rustcrypto` feature. With `aws-lc` alone it is compiled
//! privately, as the code behind the aws-lc provider's documented fallbacks.

#[cfg(feature = "rustcrypto")]
use std::sync::Arc;

use cipher::block_padding::Pkcs7;
use cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use der::{Decode, Encode};
use digest::Digest;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rand_core::CryptoRng;
use signature::hazmat::{PrehashSigner, PrehashVerifier};
use spki::SubjectPublicKeyInfoOwned;
use zeroize::Zeroizing;

#[cfg(feature = "rustcrypto")]
use super::CryptoProvider;
use crate::alg::{
    ContentCipher, Curve, EcdsaEncoding, HashAlg, KeyTransport, SignatureScheme, oid,
};
use crate::key::{self, Decrypter, KeyKind, KeySpec, PrivateKey, PublicKey, Signer};
use crate::{Error, Result};

/// The RustCrypto provider value.
#[cfg(feature = "rustcrypto")]
pub static PROVIDER: RustCrypto = RustCrypto;

/// The pure-Rust provider. Use [`PROVIDER`].
#[cfg(feature = "rustcrypto")]
#[derive(Debug, Clone, Copy)]
pub struct RustCrypto;

#[cfg(feature = "rustcrypto")]
const NAME: &str = "rustcrypto";

/// Run `$body` with `$d` bound to the RustCrypto digest type for `$h`.
macro_rules! with_digest {
    ($h:expr, $d:ident => $body:expr) => {
        match $h {
            HashAlg::Sha1 => {
                type $d = sha1::Sha1;
                $body
            }
            HashAlg::Sha224 => {
                type $d = sha2::Sha224;
                $body
            }
            HashAlg::Sha256 => {
                type $d = sha2::Sha256;
                $body
            }
            HashAlg::Sha384 => {
                type $d = sha2::Sha384;
                $body
            }
            HashAlg::Sha512 => {
                type $d = sha2::Sha512;
                $body
            }
        }
    };
}

/// The digest of `data` (shared with the aws-lc provider's fallbacks).
pub(crate) fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    with_digest!(alg, D => D::digest(data).to_vec())
}

fn backend(e: impl core::fmt::Display) -> Error {
    Error::Backend(e.to_string())
}

/// The RSA public key inside an SPKI.
pub(crate) fn rsa_public(spki: &SubjectPublicKeyInfoOwned) -> Result<rsa::PublicKey> {
    if spki.algorithm.oid != oid::RSA_ENCRYPTION {
        return Err(Error::BadPublicKey(format!(
            "expected an RSA key, found {}",
            spki.algorithm.oid
        )));
    }
    let der = spki
        .to_der()
        .map_err(|e| Error::malformed("SubjectPublicKeyInfo", e))?;
    <rsa::PublicKey as pkcs8::DecodePublicKey>::from_public_key_der(&der)
        .map_err(|e| Error::BadPublicKey(format!("RSA public key: {e}")))
}

fn ec_point(spki: &SubjectPublicKeyInfoOwned) -> Result<(Curve, &[u8])> {
    match crate::public_key::kind(spki)? {
        KeyKind::Ec(curve) => {
            let point = spki
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| Error::BadPublicKey("EC point is not whole bytes".into()))?;
            Ok((curve, point))
        }
        other => Err(Error::BadPublicKey(format!(
            "expected an EC key, found {other:?}"
        ))),
    }
}

macro_rules! ecdsa_verify {
    ($curve:ident, $point:expr, $prehash:expr, $sig:expr, $enc:expr) => {{
        let vk = $curve::ecdsa::VerifyingKey::from_sec1_bytes($point)
            .map_err(|_| Error::BadPublicKey("invalid EC point".into()))?;
        let sig = match $enc {
            EcdsaEncoding::Der => $curve::ecdsa::Signature::from_der($sig),
            EcdsaEncoding::Fixed => $curve::ecdsa::Signature::from_slice($sig),
        }
        .map_err(|_| Error::BadSignature)?;
        vk.verify_prehash($prehash, &sig)
            .map_err(|_| Error::BadSignature)
    }};
}

/// ECDSA verification over a precomputed digest (shared with the aws-lc provider's fallbacks).
pub(crate) fn ecdsa_verify_prehash(
    spki: &SubjectPublicKeyInfoOwned,
    prehash: &[u8],
    sig: &[u8],
    encoding: EcdsaEncoding,
) -> Result<()> {
    let (curve, point) = ec_point(spki)?;
    match curve {
        Curve::P256 => ecdsa_verify!(p256, point, prehash, sig, encoding),
        Curve::P384 => ecdsa_verify!(p384, point, prehash, sig, encoding),
        Curve::P521 => ecdsa_verify!(p521, point, prehash, sig, encoding),
    }
}

/// Verification (shared with the aws-lc provider's fallbacks).
pub(crate) fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    scheme: SignatureScheme,
    msg: &[u8],
    sig: &[u8],
) -> Result<()> {
    match scheme {
        SignatureScheme::RsaPkcs1v15(h) => {
            let key = rsa_public(spki)?;
            let hashed = digest(h, msg);
            with_digest!(h, D => key
                .verify(rsa::Pkcs1v15Sign::new::<D>(), &hashed, sig)
                .map_err(|_| Error::BadSignature))
        }
        SignatureScheme::RsaPss { hash, salt_len } => {
            let key = rsa_public(spki)?;
            let hashed = digest(hash, msg);
            with_digest!(hash, D => key
                .verify(rsa::Pss::<D>::new_with_salt(salt_len), &hashed, sig)
                .map_err(|_| Error::BadSignature))
        }
        SignatureScheme::Ecdsa { hash, encoding } => {
            let prehash = digest(hash, msg);
            ecdsa_verify_prehash(spki, &prehash, sig, encoding)
        }
        SignatureScheme::Ed25519 => {
            if spki.algorithm.oid != oid::ED25519 {
                return Err(Error::BadPublicKey("expected an Ed25519 key".into()));
            }
            let raw: [u8; 32] = spki
                .subject_public_key
                .as_bytes()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| Error::BadPublicKey("Ed25519 key is not 32 bytes".into()))?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&raw)
                .map_err(|_| Error::BadPublicKey("invalid Ed25519 point".into()))?;
            let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| Error::BadSignature)?;
            vk.verify_strict(msg, &sig).map_err(|_| Error::BadSignature)
        }
    }
}

/// RSA public encryption (shared with the aws-lc provider's fallbacks).
pub(crate) fn key_transport_encrypt(
    spki: &SubjectPublicKeyInfoOwned,
    transport: KeyTransport,
    plaintext: &[u8],
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    let key = rsa_public(spki)?;
    match transport {
        KeyTransport::RsaPkcs1v15 => key
            .encrypt(rng, rsa::Pkcs1v15Encrypt, plaintext)
            .map_err(backend),
        KeyTransport::RsaOaep { hash, mgf_hash } => with_digest!(hash, D => {
            with_digest!(mgf_hash, M => key
                .encrypt(rng, rsa::Oaep::<D, M>::new_with_mgf_hash(), plaintext)
                .map_err(backend))
        }),
    }
}

/// RSAES-OAEP with a label, MGF1 over `hash` (shared with the aws-lc provider's fallbacks).
pub(crate) fn rsa_oaep_encrypt(
    spki: &SubjectPublicKeyInfoOwned,
    hash: HashAlg,
    label: &[u8],
    plaintext: &[u8],
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    let key = rsa_public(spki)?;
    with_digest!(hash, D => key
        .encrypt(rng, rsa::Oaep::<D>::new_with_label(label), plaintext)
        .map_err(backend))
}

/// HMAC over the concatenation of `parts`.
#[cfg(feature = "rustcrypto")]
pub(crate) fn hmac(hash: HashAlg, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>> {
    use hmac::{KeyInit, Mac};
    with_digest!(hash, D => {
        let mut m = <hmac::Hmac<D> as KeyInit>::new_from_slice(key)
            .map_err(|_| Error::ApiMisuse("HMAC key rejected"))?;
        for p in parts {
            m.update(p);
        }
        Ok(m.finalize().into_bytes().to_vec())
    })
}

/// Ephemeral-static ECDH (aws-lc-rs does these itself: no fallback needed).
#[cfg(feature = "rustcrypto")]
pub(crate) fn ecdh_ephemeral(
    curve: Curve,
    peer: &[u8],
    rng: &mut dyn CryptoRng,
) -> Result<super::EphemeralAgreement> {
    macro_rules! on_curve {
        ($c:ident) => {{
            use p256::elliptic_curve::Generate as _;
            let peer = $c::PublicKey::from_sec1_bytes(peer)
                .map_err(|_| Error::BadPublicKey(format!("not a point on {curve:?}")))?;
            let eph = $c::ecdh::EphemeralSecret::generate_from_rng(rng);
            let shared = eph.diffie_hellman(&peer);
            Ok(super::EphemeralAgreement {
                shared_x: Zeroizing::new(shared.raw_secret_bytes().to_vec()),
                // SEC1 uncompressed: `0x04 || x || y`.
                ephemeral_public: eph.public_key().to_sec1_bytes().to_vec(),
            })
        }};
    }
    match curve {
        Curve::P256 => on_curve!(p256),
        Curve::P384 => on_curve!(p384),
        Curve::P521 => on_curve!(p521),
    }
}

/// AES-CFB128 encryption in place.
#[cfg(feature = "rustcrypto")]
pub(crate) fn aes_cfb_encrypt(key: &[u8], iv: &[u8; 16], buf: &mut [u8]) -> Result<()> {
    let bad = |_| Error::ApiMisuse("AES-CFB key must be 16, 24 or 32 bytes");
    match key.len() {
        16 => cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(bad)?
            .encrypt(buf),
        24 => cfb_mode::Encryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(bad)?
            .encrypt(buf),
        32 => cfb_mode::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(bad)?
            .encrypt(buf),
        _ => return Err(Error::ApiMisuse("AES-CFB key must be 16, 24 or 32 bytes")),
    }
    Ok(())
}

fn check_lengths(cipher: ContentCipher, key: &[u8], iv: &[u8]) -> Result<()> {
    if key.len() != cipher.key_len() {
        return Err(Error::BadLength {
            cipher,
            what: "key",
            expected: cipher.key_len(),
            got: key.len(),
        });
    }
    if iv.len() != cipher.block_len() {
        return Err(Error::BadLength {
            cipher,
            what: "IV",
            expected: cipher.block_len(),
            got: iv.len(),
        });
    }
    Ok(())
}

macro_rules! with_block_cipher {
    ($cipher:expr, $c:ident => $body:expr) => {
        match $cipher {
            ContentCipher::Aes128Cbc => {
                type $c = aes::Aes128;
                $body
            }
            ContentCipher::Aes192Cbc => {
                type $c = aes::Aes192;
                $body
            }
            ContentCipher::Aes256Cbc => {
                type $c = aes::Aes256;
                $body
            }
            ContentCipher::DesEde3Cbc => {
                type $c = des::TdesEde3;
                $body
            }
            ContentCipher::DesCbc => {
                type $c = des::Des;
                $body
            }
        }
    };
}

/// CBC encryption (shared with the aws-lc provider's fallbacks).
pub(crate) fn cipher_encrypt(
    cipher: ContentCipher,
    key: &[u8],
    iv: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    check_lengths(cipher, key, iv)?;
    with_block_cipher!(cipher, C => {
        let enc = cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(backend)?;
        Ok(enc.encrypt_padded_vec::<Pkcs7>(plaintext))
    })
}

/// CBC decryption (shared with the aws-lc provider's fallbacks).
pub(crate) fn cipher_decrypt(
    cipher: ContentCipher,
    key: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>> {
    check_lengths(cipher, key, iv)?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(cipher.block_len()) {
        return Err(Error::DecryptionFailed);
    }
    with_block_cipher!(cipher, C => {
        let dec = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(backend)?;
        dec.decrypt_padded_vec::<Pkcs7>(ciphertext)
            .map_err(|_| Error::DecryptionFailed)
    })
}

enum Inner {
    Rsa(Box<rsa::PrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

/// A private key held in memory by the RustCrypto provider.
pub struct RustCryptoKey {
    inner: Inner,
    kind: KeyKind,
    spki: SubjectPublicKeyInfoOwned,
}

impl core::fmt::Debug for RustCryptoKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RustCryptoKey")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn spki_of(key: &impl EncodePublicKey) -> Result<SubjectPublicKeyInfoOwned> {
    let doc = key
        .to_public_key_der()
        .map_err(|e| Error::BadPrivateKey(format!("public key encoding: {e}")))?;
    SubjectPublicKeyInfoOwned::from_der(doc.as_bytes())
        .map_err(|e| Error::malformed("SubjectPublicKeyInfo", e))
}

impl RustCryptoKey {
    fn new(inner: Inner) -> Result<Self> {
        let (kind, spki) = match &inner {
            Inner::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                let bits = k.n().bit_width_vartime() as usize;
                (KeyKind::Rsa { bits }, spki_of(k.as_public_key())?)
            }
            Inner::P256(k) => (KeyKind::Ec(Curve::P256), spki_of(k.verifying_key())?),
            Inner::P384(k) => (KeyKind::Ec(Curve::P384), spki_of(k.verifying_key())?),
            Inner::P521(k) => (KeyKind::Ec(Curve::P521), spki_of(k.verifying_key())?),
            Inner::Ed25519(k) => (KeyKind::Ed25519, spki_of(&k.verifying_key())?),
        };
        Ok(Self { inner, kind, spki })
    }

    /// Load from PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let info = pkcs8::PrivateKeyInfoRef::from_der(der)
            .map_err(|e| Error::BadPrivateKey(format!("PKCS#8: {e}")))?;
        let bad = |e: pkcs8::Error| Error::BadPrivateKey(e.to_string());
        let inner = match info.algorithm.oid {
            oid::RSA_ENCRYPTION => {
                Inner::Rsa(Box::new(rsa::PrivateKey::from_pkcs8_der(der).map_err(bad)?))
            }
            oid::EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters
                    .ok_or_else(|| Error::BadPrivateKey("EC key without a named curve".into()))?
                    .decode_as::<der::asn1::ObjectIdentifier>()
                    .map_err(|e| Error::BadPrivateKey(format!("EC parameters: {e}")))?;
                match Curve::from_oid(&curve)? {
                    Curve::P256 => {
                        Inner::P256(p256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(bad)?)
                    }
                    Curve::P384 => {
                        Inner::P384(p384::ecdsa::SigningKey::from_pkcs8_der(der).map_err(bad)?)
                    }
                    Curve::P521 => {
                        Inner::P521(p521::ecdsa::SigningKey::from_pkcs8_der(der).map_err(bad)?)
                    }
                }
            }
            oid::ED25519 => Inner::Ed25519(Box::new(
                ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(bad)?,
            )),
            other => {
                return Err(Error::UnsupportedAlgorithm {
                    what: "private key algorithm",
                    oid: other.to_string(),
                });
            }
        };
        Self::new(inner)
    }

    /// Generate a new key.
    pub fn generate(spec: KeySpec, rng: &mut dyn CryptoRng) -> Result<Self> {
        use crypto_common_generate::Generate;
        let inner = match spec {
            KeySpec::Rsa(bits) => {
                Inner::Rsa(Box::new(rsa::PrivateKey::new(rng, bits).map_err(backend)?))
            }
            KeySpec::Ec(Curve::P256) => {
                Inner::P256(p256::ecdsa::SigningKey::generate_from_rng(rng))
            }
            KeySpec::Ec(Curve::P384) => {
                Inner::P384(p384::ecdsa::SigningKey::generate_from_rng(rng))
            }
            KeySpec::Ec(Curve::P521) => {
                Inner::P521(p521::ecdsa::SigningKey::generate_from_rng(rng))
            }
            KeySpec::Ed25519 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(&mut *seed);
                Inner::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
        };
        Self::new(inner)
    }
}

/// `Generate` is re-exported by the curve crates through `elliptic_curve`; name it once here.
mod crypto_common_generate {
    pub(super) use rsa::Generate;
}

fn wrong_scheme(kind: KeyKind, scheme: SignatureScheme) -> Error {
    Error::ApiMisuse(match (kind, scheme) {
        (KeyKind::Ed25519, _) => "an Ed25519 key signs only with SignatureScheme::Ed25519",
        (KeyKind::Ec(_), _) => "an EC key signs only with SignatureScheme::Ecdsa",
        _ => "an RSA key signs only with RsaPkcs1v15 or RsaPss",
    })
}

macro_rules! ecdsa_sign {
    ($k:expr, $curve:ident, $hash:expr, $enc:expr, $msg:expr) => {{
        let prehash = digest($hash, $msg);
        let sig: $curve::ecdsa::Signature = $k.sign_prehash(&prehash).map_err(backend)?;
        Ok(match $enc {
            EcdsaEncoding::Der => sig.to_der().as_bytes().to_vec(),
            EcdsaEncoding::Fixed => sig.to_bytes().to_vec(),
        })
    }};
}

impl PublicKey for RustCryptoKey {
    fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }
}

impl Signer for RustCryptoKey {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn sign(
        &self,
        scheme: SignatureScheme,
        msg: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>> {
        match (&self.inner, scheme) {
            (Inner::Rsa(k), SignatureScheme::RsaPkcs1v15(h)) => {
                let hashed = digest(h, msg);
                with_digest!(h, D => k
                    .sign_with_rng(rng, rsa::Pkcs1v15Sign::new::<D>(), &hashed)
                    .map_err(backend))
            }
            (Inner::Rsa(k), SignatureScheme::RsaPss { hash, salt_len }) => {
                let hashed = digest(hash, msg);
                with_digest!(hash, D => k
                    .sign_with_rng(rng, rsa::Pss::<D>::new_with_salt(salt_len), &hashed)
                    .map_err(backend))
            }
            (Inner::P256(k), SignatureScheme::Ecdsa { hash, encoding }) => {
                ecdsa_sign!(k, p256, hash, encoding, msg)
            }
            (Inner::P384(k), SignatureScheme::Ecdsa { hash, encoding }) => {
                ecdsa_sign!(k, p384, hash, encoding, msg)
            }
            (Inner::P521(k), SignatureScheme::Ecdsa { hash, encoding }) => {
                ecdsa_sign!(k, p521, hash, encoding, msg)
            }
            (Inner::Ed25519(k), SignatureScheme::Ed25519) => {
                use ed25519_dalek::Signer as _;
                Ok(k.sign(msg).to_bytes().to_vec())
            }
            _ => Err(wrong_scheme(self.kind, scheme)),
        }
    }
}

impl Decrypter for RustCryptoKey {
    fn decrypt(
        &self,
        transport: KeyTransport,
        ciphertext: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>> {
        let Inner::Rsa(k) = &self.inner else {
            return Err(key::cannot_decrypt(self.kind));
        };
        match transport {
            KeyTransport::RsaPkcs1v15 => k
                .pkcs1v15_decrypt_with_rng(rng, ciphertext)
                .map_err(|_| Error::DecryptionFailed),
            KeyTransport::RsaOaep { hash, mgf_hash } => with_digest!(hash, D => {
                with_digest!(mgf_hash, M => k
                    .decrypt_blinded(rng, rsa::Oaep::<D, M>::new_with_mgf_hash(), ciphertext)
                    .map_err(|_| Error::DecryptionFailed))
            }),
        }
    }
}

impl PrivateKey for RustCryptoKey {
    fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let doc = match &self.inner {
            Inner::Rsa(k) => k.to_pkcs8_der(),
            Inner::P256(k) => k.to_pkcs8_der(),
            Inner::P384(k) => k.to_pkcs8_der(),
            Inner::P521(k) => k.to_pkcs8_der(),
            // PKCS#8 v1, without the public key: OpenSSL 3.0 cannot read the RFC 5958 v2 form
            // that `SigningKey::to_pkcs8_der` writes.
            Inner::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: k.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der(),
        }
        .map_err(|e| Error::BadPrivateKey(format!("PKCS#8 encoding: {e}")))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }
}

#[cfg(feature = "rustcrypto")]
impl CryptoProvider for RustCrypto {
    fn name(&self) -> &'static str {
        NAME
    }

    fn digest(&self, alg: HashAlg, data: &[u8]) -> Vec<u8> {
        digest(alg, data)
    }

    fn verify(
        &self,
        spki: &SubjectPublicKeyInfoOwned,
        scheme: SignatureScheme,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<()> {
        verify(spki, scheme, msg, sig)
    }

    fn key_transport_encrypt(
        &self,
        spki: &SubjectPublicKeyInfoOwned,
        transport: KeyTransport,
        plaintext: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>> {
        key_transport_encrypt(spki, transport, plaintext, rng)
    }

    fn cipher_encrypt(
        &self,
        cipher: ContentCipher,
        key: &[u8],
        iv: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        cipher_encrypt(cipher, key, iv, plaintext)
    }

    fn cipher_decrypt(
        &self,
        cipher: ContentCipher,
        key: &[u8],
        iv: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        cipher_decrypt(cipher, key, iv, ciphertext)
    }

    fn rsa_oaep_encrypt(
        &self,
        spki: &SubjectPublicKeyInfoOwned,
        hash: HashAlg,
        label: &[u8],
        plaintext: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>> {
        rsa_oaep_encrypt(spki, hash, label, plaintext, rng)
    }

    fn hmac(&self, hash: HashAlg, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>> {
        hmac(hash, key, parts)
    }

    fn ecdh_ephemeral(
        &self,
        curve: Curve,
        peer: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<super::EphemeralAgreement> {
        ecdh_ephemeral(curve, peer, rng)
    }

    fn aes_cfb_encrypt(&self, key: &[u8], iv: &[u8; 16], buf: &mut [u8]) -> Result<()> {
        aes_cfb_encrypt(key, iv, buf)
    }

    fn private_key_from_pkcs8_der(&self, der: &[u8]) -> Result<Arc<dyn PrivateKey>> {
        Ok(Arc::new(RustCryptoKey::from_pkcs8_der(der)?))
    }

    fn generate_key(&self, spec: KeySpec, rng: &mut dyn CryptoRng) -> Result<Arc<dyn PrivateKey>> {
        Ok(Arc::new(RustCryptoKey::generate(spec, rng)?))
    }
}
