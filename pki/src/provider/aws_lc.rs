//! The aws-lc-rs provider: AWS-LC (a BoringSSL descendant) through aws-lc-rs's safe API.
//!
//! Compiled with the `aws-lc` cargo feature. It supports exactly the operations of
//! the `rustcrypto` provider; where aws-lc-rs's safe API has no way to do one, this provider calls
//! the RustCrypto code instead, explicitly and only in these cases:
//!
//! - **RSA keys outside 2048..=8192 bits** (such as the 1024-bit keys of old SCEP clients):
//!   aws-lc-rs refuses to load them for signing, decryption or encryption, so private keys of
//!   that size are held by the RustCrypto key type, and encryption to such public keys uses
//!   RustCrypto. Verification uses aws-lc-rs's legacy 1024..=8192-bit parameters where they
//!   exist (PKCS#1 v1.5 with SHA-1, SHA-256, SHA-512) and RustCrypto otherwise.
//! - **RSA PKCS#1 v1.5 with SHA-224, and with SHA-384 on keys under 2048 bits**: no aws-lc-rs
//!   verification parameters; signing with SHA-1 or SHA-224: no aws-lc-rs signing encoding.
//! - **RSA-PSS with SHA-1 or SHA-224, or with a salt length other than the digest length**:
//!   aws-lc-rs's PSS parameters are `'static` values and take a custom salt length only as a
//!   compile-time constant, so only the salt length equal to the digest length (RFC 4055's
//!   recommendation and what openssl and Go produce) runs on AWS-LC.
//! - **ECDSA curve/digest pairs aws-lc-rs does not offer**: verification of DER signatures
//!   covers P-256 with SHA-1/256/384/512, P-384 with SHA-256/384/512 and P-521 with
//!   SHA-1/224/256/384/512; fixed `r || s` signatures only P-256/SHA-256, P-384/SHA-384 and
//!   P-521 with SHA-1/224/256/384/512. Signing covers P-256/SHA-256, P-384/SHA-384 and P-521
//!   with SHA-224/256/384/512. Every other pair (for instance P-384 with SHA-256, which Mender
//!   uses) is verified or signed with RustCrypto, over AWS-LC's digest when verifying.
//! - **RSA-OAEP with different message and MGF1 digests, or with SHA-224**: aws-lc-rs offers
//!   only SHA-1, SHA-256, SHA-384 and SHA-512 with MGF1 over the same digest.
//! - **DES-EDE3-CBC and DES-CBC**: aws-lc-rs has them only behind its deprecated `legacy-des`
//!   feature, which this crate does not enable.
//! - **RSA key generation at sizes other than 2048, 3072, 4096 and 8192 bits**.
//! - **RSA-OAEP with a label ([`CryptoProvider::rsa_oaep_encrypt`]) with SHA-224, or to keys
//!   outside 2048..=8192 bits**: as for OAEP without a label.
//!
//! HMAC, ephemeral ECDH on P-256, P-384 and P-521 and AES-CFB128 always run on AWS-LC. The TPM
//! key derivations (KDFa, KDFe) are built by their caller on [`CryptoProvider::hmac`] and
//! [`CryptoProvider::digest`], so they run on AWS-LC too.
//!
//! Parsed public keys are kept: verification and encryption look the key up in a small
//! process-wide cache keyed by the exact SubjectPublicKeyInfo (and, for verification, the
//! scheme), so a CA, RA or device key used again is not parsed again and keeps AWS-LC's
//! precomputed Montgomery values. The cache holds at most [`PARSED_KEYS`] keys per use and
//! forgets the oldest first; a key seen once costs one lookup more than no cache at all.
//!
//! Randomness: aws-lc-rs draws its own (from AWS-LC's DRBG seeded by the OS), so the `rng`
//! arguments of [`CryptoProvider::generate_key`], [`CryptoProvider::key_transport_encrypt`],
//! [`Signer::sign`] and [`Decrypter::decrypt`] are ignored whenever AWS-LC does the work, and
//! used only by the RustCrypto fallbacks. Outputs that involve randomness (RSA-PSS and ECDSA
//! signatures, RSA encryptions, generated keys) therefore differ from run to run even with a
//! seeded `rng`; tests compare them by verifying, never byte for byte.
//!
//! RSA PKCS#1 v1.5 decryption reports a padding failure as [`Error::DecryptionFailed`] (AWS-LC
//! checks the padding in constant time but has no implicit rejection); the CMS layer's
//! RFC 3218 handling sits on top of it.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};

use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, Ed25519KeyPair,
    KeyPair as _, ParsedPublicKey, RsaEncoding, RsaKeyPair, RsaParameters,
};
use der::asn1::UintRef;
use der::{Decode, Encode};
use rand_core::CryptoRng;
use spki::SubjectPublicKeyInfoOwned;
use zeroize::Zeroizing;

use super::CryptoProvider;
use super::rustcrypto::{self, RustCryptoKey};
use crate::alg::{
    ContentCipher, Curve, EcdsaEncoding, HashAlg, KeyTransport, SignatureScheme, oid,
};
use crate::key::{self, Decrypter, KeyKind, KeySpec, PrivateKey, PublicKey, Signer};
use crate::{Error, Result};

/// The aws-lc-rs provider value.
pub static PROVIDER: AwsLc = AwsLc;

/// The aws-lc-rs provider. Use [`PROVIDER`].
#[derive(Debug, Clone, Copy)]
pub struct AwsLc;

const NAME: &str = "aws-lc";

/// How many parsed public keys each cache keeps (one cache for verification, one for
/// encryption): enough for the CA, RA and issuer keys a server meets again and again, small
/// enough that a linear eviction order costs nothing.
pub const PARSED_KEYS: usize = 64;

/// A bounded map from a key's identity to its parsed form, oldest entry evicted first.
///
/// The lock is held only to look up or insert, never while parsing, so two threads may parse
/// the same new key at once (the second insert is a no-op).
struct KeyCache<K, V> {
    inner: LazyLock<Mutex<CacheInner<K, V>>>,
}

struct CacheInner<K, V> {
    map: HashMap<K, Arc<V>>,
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone, V> KeyCache<K, V> {
    const fn new() -> Self {
        Self {
            inner: LazyLock::new(|| {
                Mutex::new(CacheInner {
                    map: HashMap::new(),
                    order: VecDeque::new(),
                })
            }),
        }
    }

    /// The parsed key for `id`, parsed by `parse` (and remembered) on a miss. A failed parse
    /// is not remembered.
    fn get_or_parse(&self, id: K, parse: impl FnOnce() -> Result<V>) -> Result<Arc<V>> {
        if let Some(v) = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(&id)
        {
            return Ok(Arc::clone(v));
        }
        let parsed = Arc::new(parse()?);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if !inner.map.contains_key(&id) {
            if inner.order.len() >= PARSED_KEYS
                && let Some(oldest) = inner.order.pop_front()
            {
                inner.map.remove(&oldest);
            }
            inner.order.push_back(id.clone());
            inner.map.insert(id, Arc::clone(&parsed));
        }
        Ok(parsed)
    }
}

/// The identity of the key in `spki` for the caches: algorithm OID, parameters (DER) and the
/// key's bit string, each length-prefixed, so that two SPKIs share an identity exactly when
/// they are the same key. Cheaper than re-encoding the whole SPKI on every call.
fn spki_id(spki: &SubjectPublicKeyInfoOwned) -> Result<Vec<u8>> {
    let oid = spki.algorithm.oid.as_bytes();
    let params = match &spki.algorithm.parameters {
        Some(p) => p
            .to_der()
            .map_err(|e| Error::malformed("AlgorithmIdentifier parameters", e))?,
        None => Vec::new(),
    };
    let key = spki.subject_public_key.raw_bytes();
    let mut id = Vec::with_capacity(12 + oid.len() + params.len() + key.len());
    for part in [oid, &params, key] {
        id.extend_from_slice(&(part.len() as u32).to_be_bytes());
        id.extend_from_slice(part);
    }
    id.push(spki.subject_public_key.unused_bits());
    Ok(id)
}

/// What verification does with a key under a scheme: AWS-LC with the parsed key, or the
/// RustCrypto fallback (remembered too, so the decision is not recomputed).
enum VerifyKey {
    AwsLc(ParsedPublicKey),
    Fallback,
}

static VERIFY_KEYS: KeyCache<(SignatureScheme, Vec<u8>), VerifyKey> = KeyCache::new();
/// What RSA encryption does with a key: AWS-LC with the parsed key, or the RustCrypto
/// fallback for sizes aws-lc-rs refuses (remembered too).
enum EncryptKey {
    AwsLc(PublicEncryptingKey),
    Fallback,
}

static ENCRYPT_KEYS: KeyCache<Vec<u8>, EncryptKey> = KeyCache::new();

/// The RSA modulus sizes aws-lc-rs loads keys of.
const AWS_LC_RSA_BITS: core::ops::RangeInclusive<usize> = 2048..=8192;

fn aws_digest_alg(alg: HashAlg) -> &'static aws_lc_rs::digest::Algorithm {
    match alg {
        HashAlg::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashAlg::Sha224 => &aws_lc_rs::digest::SHA224,
        HashAlg::Sha256 => &aws_lc_rs::digest::SHA256,
        HashAlg::Sha384 => &aws_lc_rs::digest::SHA384,
        HashAlg::Sha512 => &aws_lc_rs::digest::SHA512,
    }
}

fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(aws_digest_alg(alg), data)
        .as_ref()
        .to_vec()
}

/// The modulus size of an RSA key in `spki`, or `None` when `spki` holds no RSA key (the
/// RustCrypto path then reports the precise error).
fn rsa_bits(spki: &SubjectPublicKeyInfoOwned) -> Option<usize> {
    match crate::public_key::kind(spki) {
        Ok(KeyKind::Rsa { bits }) if spki.algorithm.oid == oid::RSA_ENCRYPTION => Some(bits),
        _ => None,
    }
}

/// aws-lc-rs's verification parameters for an RSA scheme on a key of `bits` bits, if any.
fn rsa_verify_params(scheme: SignatureScheme, bits: usize) -> Option<&'static RsaParameters> {
    let legacy = (1024..=8192).contains(&bits);
    let modern = AWS_LC_RSA_BITS.contains(&bits);
    match scheme {
        SignatureScheme::RsaPkcs1v15(h) => match h {
            HashAlg::Sha1 if legacy => Some(&sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY),
            HashAlg::Sha256 if modern => Some(&sig::RSA_PKCS1_2048_8192_SHA256),
            HashAlg::Sha256 if legacy => Some(&sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY),
            HashAlg::Sha384 if modern => Some(&sig::RSA_PKCS1_2048_8192_SHA384),
            HashAlg::Sha512 if modern => Some(&sig::RSA_PKCS1_2048_8192_SHA512),
            HashAlg::Sha512 if legacy => Some(&sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY),
            _ => None,
        },
        SignatureScheme::RsaPss { hash, salt_len } if modern && salt_len == hash.output_len() => {
            match hash {
                HashAlg::Sha256 => Some(&sig::RSA_PSS_2048_8192_SHA256),
                HashAlg::Sha384 => Some(&sig::RSA_PSS_2048_8192_SHA384),
                HashAlg::Sha512 => Some(&sig::RSA_PSS_2048_8192_SHA512),
                _ => None,
            }
        }
        _ => None,
    }
}

/// aws-lc-rs's ECDSA verification algorithm for a curve, digest and encoding, if it has one.
fn ecdsa_verify_alg(
    curve: Curve,
    hash: HashAlg,
    encoding: EcdsaEncoding,
) -> Option<&'static EcdsaVerificationAlgorithm> {
    use EcdsaEncoding::{Der, Fixed};
    use HashAlg::*;
    Some(match (curve, hash, encoding) {
        (Curve::P256, Sha1, Der) => &sig::ECDSA_P256_SHA1_ASN1,
        (Curve::P256, Sha256, Der) => &sig::ECDSA_P256_SHA256_ASN1,
        (Curve::P256, Sha384, Der) => &sig::ECDSA_P256_SHA384_ASN1,
        (Curve::P256, Sha512, Der) => &sig::ECDSA_P256_SHA512_ASN1,
        (Curve::P256, Sha256, Fixed) => &sig::ECDSA_P256_SHA256_FIXED,
        (Curve::P384, Sha256, Der) => &sig::ECDSA_P384_SHA256_ASN1,
        (Curve::P384, Sha384, Der) => &sig::ECDSA_P384_SHA384_ASN1,
        (Curve::P384, Sha512, Der) => &sig::ECDSA_P384_SHA512_ASN1,
        (Curve::P384, Sha384, Fixed) => &sig::ECDSA_P384_SHA384_FIXED,
        (Curve::P521, Sha1, Der) => &sig::ECDSA_P521_SHA1_ASN1,
        (Curve::P521, Sha224, Der) => &sig::ECDSA_P521_SHA224_ASN1,
        (Curve::P521, Sha256, Der) => &sig::ECDSA_P521_SHA256_ASN1,
        (Curve::P521, Sha384, Der) => &sig::ECDSA_P521_SHA384_ASN1,
        (Curve::P521, Sha512, Der) => &sig::ECDSA_P521_SHA512_ASN1,
        (Curve::P521, Sha1, Fixed) => &sig::ECDSA_P521_SHA1_FIXED,
        (Curve::P521, Sha224, Fixed) => &sig::ECDSA_P521_SHA224_FIXED,
        (Curve::P521, Sha256, Fixed) => &sig::ECDSA_P521_SHA256_FIXED,
        (Curve::P521, Sha384, Fixed) => &sig::ECDSA_P521_SHA384_FIXED,
        (Curve::P521, Sha512, Fixed) => &sig::ECDSA_P521_SHA512_FIXED,
        _ => return None,
    })
}

/// The digests aws-lc-rs signs with on each curve, with their (DER) signing algorithms.
fn ecdsa_signing_algs(curve: Curve) -> &'static [(HashAlg, &'static EcdsaSigningAlgorithm)] {
    match curve {
        Curve::P256 => &[(HashAlg::Sha256, &sig::ECDSA_P256_SHA256_ASN1_SIGNING)],
        Curve::P384 => &[(HashAlg::Sha384, &sig::ECDSA_P384_SHA384_ASN1_SIGNING)],
        Curve::P521 => &[
            (HashAlg::Sha512, &sig::ECDSA_P521_SHA512_ASN1_SIGNING),
            (HashAlg::Sha384, &sig::ECDSA_P521_SHA384_ASN1_SIGNING),
            (HashAlg::Sha256, &sig::ECDSA_P521_SHA256_ASN1_SIGNING),
            (HashAlg::Sha224, &sig::ECDSA_P521_SHA224_ASN1_SIGNING),
        ],
    }
}

/// aws-lc-rs's OAEP parameters, which exist only with MGF1 over the message digest.
fn oaep_alg(transport: KeyTransport) -> Option<&'static OaepAlgorithm> {
    match transport {
        KeyTransport::RsaOaep { hash, mgf_hash } if hash == mgf_hash => match hash {
            HashAlg::Sha1 => Some(&aws_lc_rs::rsa::OAEP_SHA1_MGF1SHA1),
            HashAlg::Sha256 => Some(&aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256),
            HashAlg::Sha384 => Some(&aws_lc_rs::rsa::OAEP_SHA384_MGF1SHA384),
            HashAlg::Sha512 => Some(&aws_lc_rs::rsa::OAEP_SHA512_MGF1SHA512),
            HashAlg::Sha224 => None,
        },
        _ => None,
    }
}

/// The AWS-LC verification algorithm for `scheme` on the key in `spki`, or `None` when the
/// RustCrypto fallback verifies (see the module docs).
fn verify_alg(
    spki: &SubjectPublicKeyInfoOwned,
    scheme: SignatureScheme,
) -> Option<&'static dyn sig::VerificationAlgorithm> {
    match scheme {
        SignatureScheme::RsaPkcs1v15(_) | SignatureScheme::RsaPss { .. } => rsa_bits(spki)
            .and_then(|bits| rsa_verify_params(scheme, bits))
            .map(|p| p as &'static dyn sig::VerificationAlgorithm),
        SignatureScheme::Ecdsa { hash, encoding } => match crate::public_key::kind(spki) {
            Ok(KeyKind::Ec(curve)) => ecdsa_verify_alg(curve, hash, encoding)
                .map(|a| a as &'static dyn sig::VerificationAlgorithm),
            _ => None,
        },
        SignatureScheme::Ed25519 => (spki.algorithm.oid == oid::ED25519
            && spki.subject_public_key.as_bytes().map(<[u8]>::len) == Some(32))
        .then_some(&sig::ED25519 as &'static dyn sig::VerificationAlgorithm),
    }
}

fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    scheme: SignatureScheme,
    msg: &[u8],
    signature: &[u8],
) -> Result<()> {
    let key = VERIFY_KEYS.get_or_parse((scheme, spki_id(spki)?), || {
        let Some(alg) = verify_alg(spki, scheme) else {
            return Ok(VerifyKey::Fallback);
        };
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| Error::BadPublicKey("public key is not whole bytes".into()))?;
        ParsedPublicKey::new(alg, key_bytes)
            .map(VerifyKey::AwsLc)
            .map_err(|e| Error::BadPublicKey(format!("aws-lc rejected the key: {e}")))
    })?;
    match &*key {
        VerifyKey::AwsLc(key) => key
            .verify_sig(msg, signature)
            .map_err(|_| Error::BadSignature),
        VerifyKey::Fallback => match scheme {
            SignatureScheme::Ecdsa { hash, encoding } => {
                // RustCrypto checks the key and the signature; the digest is AWS-LC's.
                let prehash = digest(hash, msg);
                rustcrypto::ecdsa_verify_prehash(spki, &prehash, signature, encoding)
            }
            _ => rustcrypto::verify(spki, scheme, msg, signature),
        },
    }
}

fn spki_der(spki: &SubjectPublicKeyInfoOwned) -> Result<Vec<u8>> {
    spki.to_der()
        .map_err(|e| Error::malformed("SubjectPublicKeyInfo", e))
}

fn key_transport_encrypt(
    spki: &SubjectPublicKeyInfoOwned,
    transport: KeyTransport,
    plaintext: &[u8],
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    let oaep = oaep_alg(transport);
    if transport != KeyTransport::RsaPkcs1v15 && oaep.is_none() {
        return rustcrypto::key_transport_encrypt(spki, transport, plaintext, rng);
    }
    let public = encrypting_key(spki)?;
    let EncryptKey::AwsLc(public) = &*public else {
        return rustcrypto::key_transport_encrypt(spki, transport, plaintext, rng);
    };
    let public = PublicEncryptingKey::clone(public);
    let failed = |_| Error::Backend("RSA encryption failed (plaintext too long?)".into());
    let mut out = vec![0u8; public.key_size_bytes()];
    let written = match oaep {
        Some(alg) => {
            let key = OaepPublicEncryptingKey::new(public).map_err(failed)?;
            key.encrypt(alg, plaintext, &mut out, None)
                .map_err(failed)?
                .len()
        }
        None => {
            let key = Pkcs1PublicEncryptingKey::new(public).map_err(failed)?;
            key.encrypt(plaintext, &mut out).map_err(failed)?.len()
        }
    };
    out.truncate(written);
    Ok(out)
}

/// How RSA encryption to `spki` runs, from the cache when the key was met before: parsed by
/// AWS-LC, or the RustCrypto fallback when `spki` is not an RSA key of 2048..=8192 bits (the
/// fallback then reports a key that is not RSA at all).
fn encrypting_key(spki: &SubjectPublicKeyInfoOwned) -> Result<Arc<EncryptKey>> {
    ENCRYPT_KEYS.get_or_parse(spki_id(spki)?, || {
        if !rsa_bits(spki).is_some_and(|bits| AWS_LC_RSA_BITS.contains(&bits)) {
            return Ok(EncryptKey::Fallback);
        }
        PublicEncryptingKey::from_der(&spki_der(spki)?)
            .map(EncryptKey::AwsLc)
            .map_err(|e| Error::BadPublicKey(format!("aws-lc rejected the RSA key: {e}")))
    })
}

fn rsa_oaep_encrypt(
    spki: &SubjectPublicKeyInfoOwned,
    hash: HashAlg,
    label: &[u8],
    plaintext: &[u8],
    rng: &mut dyn CryptoRng,
) -> Result<Vec<u8>> {
    let transport = KeyTransport::RsaOaep {
        hash,
        mgf_hash: hash,
    };
    let Some(alg) = oaep_alg(transport) else {
        return rustcrypto::rsa_oaep_encrypt(spki, hash, label, plaintext, rng);
    };
    let public = encrypting_key(spki)?;
    let EncryptKey::AwsLc(public) = &*public else {
        return rustcrypto::rsa_oaep_encrypt(spki, hash, label, plaintext, rng);
    };
    let public = PublicEncryptingKey::clone(public);
    let failed = |_| Error::Backend("RSA-OAEP encryption failed (plaintext too long?)".into());
    let key = OaepPublicEncryptingKey::new(public).map_err(failed)?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let written = key
        .encrypt(alg, plaintext, &mut out, Some(label))
        .map_err(failed)?
        .len();
    out.truncate(written);
    Ok(out)
}

fn hmac_alg(hash: HashAlg) -> aws_lc_rs::hmac::Algorithm {
    match hash {
        HashAlg::Sha1 => aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        HashAlg::Sha224 => aws_lc_rs::hmac::HMAC_SHA224,
        HashAlg::Sha256 => aws_lc_rs::hmac::HMAC_SHA256,
        HashAlg::Sha384 => aws_lc_rs::hmac::HMAC_SHA384,
        HashAlg::Sha512 => aws_lc_rs::hmac::HMAC_SHA512,
    }
}

fn hmac(hash: HashAlg, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(hmac_alg(hash), key);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    ctx.sign().as_ref().to_vec()
}

fn ecdh_ephemeral(curve: Curve, peer: &[u8]) -> Result<super::EphemeralAgreement> {
    use aws_lc_rs::agreement::{
        ECDH_P256, ECDH_P384, ECDH_P521, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral,
    };
    let alg = match curve {
        Curve::P256 => &ECDH_P256,
        Curve::P384 => &ECDH_P384,
        Curve::P521 => &ECDH_P521,
    };
    // aws-lc-rs wants the uncompressed point (it would also take other encodings).
    if peer.first() != Some(&4) || peer.len() != 1 + 2 * curve.scalar_len() {
        return Err(Error::BadPublicKey(format!(
            "not an uncompressed point on {curve:?}"
        )));
    }
    let failed = |_| Error::Backend("aws-lc ECDH key generation failed".into());
    let private = EphemeralPrivateKey::generate(alg, &aws_lc_rs::rand::SystemRandom::new())
        .map_err(failed)?;
    let ephemeral_public = private
        .compute_public_key()
        .map_err(failed)?
        .as_ref()
        .to_vec();
    let shared_x = agree_ephemeral(
        private,
        UnparsedPublicKey::new(alg, peer),
        Error::BadPublicKey(format!("not a point on {curve:?}")),
        |z| Ok(Zeroizing::new(z.to_vec())),
    )?;
    Ok(super::EphemeralAgreement {
        shared_x,
        ephemeral_public,
    })
}

fn aes_cfb_encrypt(key: &[u8], iv: &[u8; 16], buf: &mut [u8]) -> Result<()> {
    use aws_lc_rs::cipher::EncryptingKey;
    let alg = match key.len() {
        16 => &AES_128,
        24 => &AES_192,
        32 => &AES_256,
        _ => return Err(Error::ApiMisuse("AES-CFB key must be 16, 24 or 32 bytes")),
    };
    let failed = |_| Error::Backend("aws-lc AES-CFB encryption failed".into());
    let key =
        EncryptingKey::cfb128(UnboundCipherKey::new(alg, key).map_err(failed)?).map_err(failed)?;
    key.less_safe_encrypt(buf, EncryptionContext::Iv128(FixedLength::from(*iv)))
        .map_err(failed)?;
    Ok(())
}

fn aes_alg(cipher: ContentCipher) -> Option<&'static aws_lc_rs::cipher::Algorithm> {
    match cipher {
        ContentCipher::Aes128Cbc => Some(&AES_128),
        ContentCipher::Aes192Cbc => Some(&AES_192),
        ContentCipher::Aes256Cbc => Some(&AES_256),
        ContentCipher::DesEde3Cbc | ContentCipher::DesCbc => None,
    }
}

fn check_lengths(cipher: ContentCipher, key: &[u8], iv: &[u8]) -> Result<()> {
    for (what, expected, got) in [
        ("key", cipher.key_len(), key.len()),
        ("IV", cipher.block_len(), iv.len()),
    ] {
        if expected != got {
            return Err(Error::BadLength {
                cipher,
                what,
                expected,
                got,
            });
        }
    }
    Ok(())
}

/// The AES key and 16-byte IV, after the length checks.
fn aes_key_iv(
    cipher: ContentCipher,
    alg: &'static aws_lc_rs::cipher::Algorithm,
    key: &[u8],
    iv: &[u8],
) -> Result<(UnboundCipherKey, FixedLength<16>)> {
    check_lengths(cipher, key, iv)?;
    let iv = FixedLength::<16>::try_from(iv).map_err(|_| Error::BadLength {
        cipher,
        what: "IV",
        expected: 16,
        got: iv.len(),
    })?;
    let key = UnboundCipherKey::new(alg, key)
        .map_err(|_| Error::Backend("aws-lc refused the AES key".into()))?;
    Ok((key, iv))
}

fn cipher_encrypt(
    cipher: ContentCipher,
    key: &[u8],
    iv: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let Some(alg) = aes_alg(cipher) else {
        return rustcrypto::cipher_encrypt(cipher, key, iv, plaintext);
    };
    let (key, iv) = aes_key_iv(cipher, alg, key, iv)?;
    let key = PaddedBlockEncryptingKey::cbc_pkcs7(key)
        .map_err(|_| Error::Backend("aws-lc AES-CBC setup failed".into()))?;
    let mut buf = plaintext.to_vec();
    key.less_safe_encrypt(&mut buf, EncryptionContext::Iv128(iv))
        .map_err(|_| Error::Backend("aws-lc AES-CBC encryption failed".into()))?;
    Ok(buf)
}

fn cipher_decrypt(
    cipher: ContentCipher,
    key: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>> {
    let Some(alg) = aes_alg(cipher) else {
        return rustcrypto::cipher_decrypt(cipher, key, iv, ciphertext);
    };
    let (key, iv) = aes_key_iv(cipher, alg, key, iv)?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(cipher.block_len()) {
        return Err(Error::DecryptionFailed);
    }
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(key)
        .map_err(|_| Error::Backend("aws-lc AES-CBC setup failed".into()))?;
    let mut buf = ciphertext.to_vec();
    let len = key
        .decrypt(&mut buf, DecryptionContext::Iv128(iv))
        .map_err(|_| Error::DecryptionFailed)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// `ECDSA-Sig-Value` (RFC 3279 section 2.2.3), to turn AWS-LC's DER signatures into `r || s`.
///
/// ```text
/// Ecdsa-Sig-Value  ::=  SEQUENCE  {
///      r     INTEGER,
///      s     INTEGER  }
/// ```
#[derive(der::Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

fn ecdsa_der_to_fixed(curve: Curve, der: &[u8]) -> Result<Vec<u8>> {
    let bad = || Error::Backend("aws-lc produced a malformed ECDSA signature".into());
    let value = EcdsaSigValue::from_der(der).map_err(|_| bad())?;
    let n = curve.scalar_len();
    let mut out = vec![0u8; 2 * n];
    for (i, int) in [value.r, value.s].iter().enumerate() {
        let bytes = int.as_bytes();
        let start = (i + 1)
            .checked_mul(n)
            .and_then(|end| end.checked_sub(bytes.len()))
            .filter(|start| *start >= i * n)
            .ok_or_else(bad)?;
        out.get_mut(start..start + bytes.len())
            .ok_or_else(bad)?
            .copy_from_slice(bytes);
    }
    Ok(out)
}

enum Inner {
    Rsa {
        sign: RsaKeyPair,
        decrypt: PrivateDecryptingKey,
    },
    Ec {
        curve: Curve,
        /// One key pair per digest aws-lc-rs signs with on this curve (the first is the
        /// curve's own digest); they share the same private key.
        pairs: Vec<(HashAlg, EcdsaKeyPair)>,
    },
    Ed25519(Ed25519KeyPair),
    /// A key aws-lc-rs refuses to load (RSA outside 2048..=8192 bits).
    RustCrypto(Box<RustCryptoKey>),
}

/// A private key held in memory by the aws-lc-rs provider.
///
/// Operations aws-lc-rs cannot do with this key (see the [module docs](self)) go to the
/// RustCrypto key type, loaded from the same PKCS#8 the first time one is needed.
pub struct AwsLcKey {
    inner: Inner,
    kind: KeyKind,
    spki: SubjectPublicKeyInfoOwned,
    fallback: OnceLock<Result<RustCryptoKey>>,
}

impl core::fmt::Debug for AwsLcKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AwsLcKey")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn rejected(what: &str, e: impl core::fmt::Display) -> Error {
    Error::BadPrivateKey(format!("aws-lc rejected the {what} key: {e}"))
}

fn spki_from_der(der: &PublicKeyX509Der<'_>) -> Result<SubjectPublicKeyInfoOwned> {
    SubjectPublicKeyInfoOwned::from_der(der.as_ref())
        .map_err(|e| Error::malformed("SubjectPublicKeyInfo", e))
}

/// The modulus size of the RSA private key inside a PKCS#8 `privateKey` field.
fn rsa_private_bits(private_key: &[u8]) -> Result<usize> {
    let key = pkcs1::RsaPrivateKey::<UintRef<'_>>::from_der(private_key)
        .map_err(|e| Error::BadPrivateKey(format!("RSA private key: {e}")))?;
    let n = key.modulus.as_bytes();
    let lead = n.iter().take_while(|b| **b == 0).count();
    Ok(
        match n.get(lead..).and_then(|n| n.first().map(|b| (n.len(), b))) {
            None => 0,
            Some((len, b)) => len * 8 - b.leading_zeros() as usize,
        },
    )
}

impl AwsLcKey {
    fn new(inner: Inner) -> Result<Self> {
        let spki = match &inner {
            Inner::Rsa { sign, .. } => {
                let der = AsDer::<PublicKeyX509Der<'_>>::as_der(sign.public_key())
                    .map_err(|e| rejected("RSA", e))?;
                spki_from_der(&der)?
            }
            Inner::Ec { pairs, .. } => {
                let (_, pair) = pairs
                    .first()
                    .ok_or_else(|| Error::BadPrivateKey("no EC key pair".into()))?;
                let der = AsDer::<PublicKeyX509Der<'_>>::as_der(pair.public_key())
                    .map_err(|e| rejected("EC", e))?;
                spki_from_der(&der)?
            }
            Inner::Ed25519(pair) => {
                let der = AsDer::<PublicKeyX509Der<'_>>::as_der(pair.public_key())
                    .map_err(|e| rejected("Ed25519", e))?;
                spki_from_der(&der)?
            }
            Inner::RustCrypto(k) => k.spki().clone(),
        };
        let kind = match &inner {
            Inner::RustCrypto(k) => k.kind(),
            _ => crate::public_key::kind(&spki)?,
        };
        Ok(Self {
            inner,
            kind,
            spki,
            fallback: OnceLock::new(),
        })
    }

    /// Load from PKCS#8 DER (v1, or v2 with the public key).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let info = pkcs8::PrivateKeyInfoRef::from_der(der)
            .map_err(|e| Error::BadPrivateKey(format!("PKCS#8: {e}")))?;
        let inner = match info.algorithm.oid {
            oid::RSA_ENCRYPTION => {
                let bits = rsa_private_bits(info.private_key.as_bytes())?;
                if AWS_LC_RSA_BITS.contains(&bits) {
                    Inner::Rsa {
                        sign: RsaKeyPair::from_pkcs8(der).map_err(|e| rejected("RSA", e))?,
                        decrypt: PrivateDecryptingKey::from_pkcs8(der)
                            .map_err(|e| rejected("RSA", e))?,
                    }
                } else {
                    Inner::RustCrypto(Box::new(RustCryptoKey::from_pkcs8_der(der)?))
                }
            }
            oid::EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters
                    .ok_or_else(|| Error::BadPrivateKey("EC key without a named curve".into()))?
                    .decode_as::<der::asn1::ObjectIdentifier>()
                    .map_err(|e| Error::BadPrivateKey(format!("EC parameters: {e}")))?;
                let curve = Curve::from_oid(&curve)?;
                let pairs = ecdsa_signing_algs(curve)
                    .iter()
                    .map(|(hash, alg)| {
                        EcdsaKeyPair::from_pkcs8(alg, der)
                            .map(|pair| (*hash, pair))
                            .map_err(|e| rejected("EC", e))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Inner::Ec { curve, pairs }
            }
            oid::ED25519 => {
                Inner::Ed25519(Ed25519KeyPair::from_pkcs8(der).map_err(|e| rejected("Ed25519", e))?)
            }
            other => {
                return Err(Error::UnsupportedAlgorithm {
                    what: "private key algorithm",
                    oid: other.to_string(),
                });
            }
        };
        Self::new(inner)
    }

    /// Generate a new key. AWS-LC draws its own randomness; `rng` is used only when the
    /// RustCrypto fallback generates (RSA sizes other than 2048, 3072, 4096, 8192 bits).
    pub fn generate(spec: KeySpec, rng: &mut dyn CryptoRng) -> Result<Self> {
        let failed = |_| Error::Backend("aws-lc key generation failed".into());
        let pkcs8: Zeroizing<Vec<u8>> = match spec {
            KeySpec::Rsa(bits) => {
                use aws_lc_rs::rsa::KeySize;
                let size = match bits {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    8192 => KeySize::Rsa8192,
                    _ => {
                        return Self::new(Inner::RustCrypto(Box::new(RustCryptoKey::generate(
                            spec, rng,
                        )?)));
                    }
                };
                let pair = RsaKeyPair::generate(size).map_err(failed)?;
                let der = AsDer::<Pkcs8V1Der<'_>>::as_der(&pair).map_err(failed)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            KeySpec::Ec(curve) => {
                let (_, alg) = ecdsa_signing_algs(curve)
                    .first()
                    .ok_or(Error::ApiMisuse("no ECDSA signing algorithm for the curve"))?;
                let pair = EcdsaKeyPair::generate(alg).map_err(failed)?;
                Zeroizing::new(pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec())
            }
            KeySpec::Ed25519 => {
                let pair = Ed25519KeyPair::generate().map_err(failed)?;
                Zeroizing::new(pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec())
            }
        };
        Self::from_pkcs8_der(&pkcs8)
    }

    /// The RustCrypto twin of this key, for the operations aws-lc-rs lacks.
    fn fallback(&self) -> Result<&RustCryptoKey> {
        if let Inner::RustCrypto(k) = &self.inner {
            return Ok(k);
        }
        self.fallback
            .get_or_init(|| RustCryptoKey::from_pkcs8_der(&self.to_pkcs8_der()?))
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn rsa_signing_encoding(scheme: SignatureScheme) -> Option<&'static dyn RsaEncoding> {
    match scheme {
        SignatureScheme::RsaPkcs1v15(h) => match h {
            HashAlg::Sha256 => Some(&sig::RSA_PKCS1_SHA256),
            HashAlg::Sha384 => Some(&sig::RSA_PKCS1_SHA384),
            HashAlg::Sha512 => Some(&sig::RSA_PKCS1_SHA512),
            _ => None,
        },
        SignatureScheme::RsaPss { hash, salt_len } if salt_len == hash.output_len() => match hash {
            HashAlg::Sha256 => Some(&sig::RSA_PSS_SHA256),
            HashAlg::Sha384 => Some(&sig::RSA_PSS_SHA384),
            HashAlg::Sha512 => Some(&sig::RSA_PSS_SHA512),
            _ => None,
        },
        _ => None,
    }
}

impl PublicKey for AwsLcKey {
    fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }
}

impl Signer for AwsLcKey {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Sign `msg`. AWS-LC draws its own randomness (RSA blinding, PSS salt, ECDSA nonces);
    /// `rng` is used only by the RustCrypto fallbacks.
    fn sign(
        &self,
        scheme: SignatureScheme,
        msg: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>> {
        let failed = |_| Error::Backend("aws-lc signing failed".into());
        match (&self.inner, scheme) {
            (
                Inner::Rsa { sign, .. },
                SignatureScheme::RsaPkcs1v15(_) | SignatureScheme::RsaPss { .. },
            ) => {
                let Some(encoding) = rsa_signing_encoding(scheme) else {
                    return self.fallback()?.sign(scheme, msg, rng);
                };
                let mut out = vec![0u8; sign.public_modulus_len()];
                sign.sign(
                    encoding,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    msg,
                    &mut out,
                )
                .map_err(failed)?;
                Ok(out)
            }
            (Inner::Ec { curve, pairs }, SignatureScheme::Ecdsa { hash, encoding }) => {
                let Some((_, pair)) = pairs.iter().find(|(h, _)| *h == hash) else {
                    return self.fallback()?.sign(scheme, msg, rng);
                };
                let der = pair
                    .sign(&aws_lc_rs::rand::SystemRandom::new(), msg)
                    .map_err(failed)?;
                match encoding {
                    EcdsaEncoding::Der => Ok(der.as_ref().to_vec()),
                    EcdsaEncoding::Fixed => ecdsa_der_to_fixed(*curve, der.as_ref()),
                }
            }
            (Inner::Ed25519(pair), SignatureScheme::Ed25519) => {
                Ok(pair.try_sign(msg).map_err(failed)?.as_ref().to_vec())
            }
            (Inner::RustCrypto(k), _) => k.sign(scheme, msg, rng),
            (Inner::Rsa { .. }, _) => Err(Error::ApiMisuse(
                "an RSA key signs only with RsaPkcs1v15 or RsaPss",
            )),
            (Inner::Ec { .. }, _) => Err(Error::ApiMisuse(
                "an EC key signs only with SignatureScheme::Ecdsa",
            )),
            (Inner::Ed25519(_), _) => Err(Error::ApiMisuse(
                "an Ed25519 key signs only with SignatureScheme::Ed25519",
            )),
        }
    }
}

impl Decrypter for AwsLcKey {
    /// Decrypt a key-transport ciphertext. AWS-LC draws its own randomness for blinding; `rng`
    /// is used only by the RustCrypto fallbacks.
    fn decrypt(
        &self,
        transport: KeyTransport,
        ciphertext: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>> {
        let decrypt = match &self.inner {
            Inner::Rsa { decrypt, .. } => decrypt,
            Inner::RustCrypto(k) => return k.decrypt(transport, ciphertext, rng),
            Inner::Ec { .. } | Inner::Ed25519(_) => return Err(key::cannot_decrypt(self.kind)),
        };
        let failed = |_| Error::DecryptionFailed;
        let mut out = Zeroizing::new(vec![0u8; decrypt.key_size_bytes()]);
        let len = match transport {
            KeyTransport::RsaPkcs1v15 => Pkcs1PrivateDecryptingKey::new(decrypt.clone())
                .map_err(failed)?
                .decrypt(ciphertext, &mut out)
                .map_err(failed)?
                .len(),
            KeyTransport::RsaOaep { .. } => {
                let Some(alg) = oaep_alg(transport) else {
                    return self.fallback()?.decrypt(transport, ciphertext, rng);
                };
                OaepPrivateDecryptingKey::new(decrypt.clone())
                    .map_err(failed)?
                    .decrypt(alg, ciphertext, &mut out, None)
                    .map_err(failed)?
                    .len()
            }
        };
        Ok(out.get(..len).ok_or(Error::DecryptionFailed)?.to_vec())
    }
}

impl PrivateKey for AwsLcKey {
    fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let failed = |_| Error::BadPrivateKey("aws-lc could not encode the key as PKCS#8".into());
        Ok(Zeroizing::new(match &self.inner {
            Inner::Rsa { sign, .. } => AsDer::<Pkcs8V1Der<'_>>::as_der(sign)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Inner::Ec { pairs, .. } => pairs
                .first()
                .ok_or_else(|| Error::BadPrivateKey("no EC key pair".into()))?
                .1
                .to_pkcs8v1()
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Inner::Ed25519(pair) => pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
            Inner::RustCrypto(k) => return k.to_pkcs8_der(),
        }))
    }
}

impl CryptoProvider for AwsLc {
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
        Ok(hmac(hash, key, parts))
    }

    /// AWS-LC draws the ephemeral key from its own DRBG; `rng` is not used.
    fn ecdh_ephemeral(
        &self,
        curve: Curve,
        peer: &[u8],
        _rng: &mut dyn CryptoRng,
    ) -> Result<super::EphemeralAgreement> {
        ecdh_ephemeral(curve, peer)
    }

    fn aes_cfb_encrypt(&self, key: &[u8], iv: &[u8; 16], buf: &mut [u8]) -> Result<()> {
        aes_cfb_encrypt(key, iv, buf)
    }

    fn private_key_from_pkcs8_der(&self, der: &[u8]) -> Result<Arc<dyn PrivateKey>> {
        Ok(Arc::new(AwsLcKey::from_pkcs8_der(der)?))
    }

    fn generate_key(&self, spec: KeySpec, rng: &mut dyn CryptoRng) -> Result<Arc<dyn PrivateKey>> {
        Ok(Arc::new(AwsLcKey::generate(spec, rng)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_cache_is_bounded_and_forgets_the_oldest_first() {
        let cache: KeyCache<u32, u32> = KeyCache::new();
        let mut parses = 0;
        for i in 0..(PARSED_KEYS as u32 + 6) {
            let v = cache
                .get_or_parse(i, || {
                    parses += 1;
                    Ok(i * 10)
                })
                .unwrap();
            assert_eq!(*v, i * 10);
        }
        assert_eq!(parses, PARSED_KEYS + 6);
        let inner = cache.inner.lock().unwrap();
        assert_eq!(inner.map.len(), PARSED_KEYS);
        assert_eq!(inner.order.len(), PARSED_KEYS);
        assert!(!inner.map.contains_key(&5), "the oldest keys are gone");
        assert!(inner.map.contains_key(&6));
        drop(inner);
        // A hit does not parse again; a miss on an evicted key does.
        let again = cache
            .get_or_parse(6, || panic!("parsed a cached key"))
            .unwrap();
        assert_eq!(*again, 60);
        let mut reparsed = false;
        cache
            .get_or_parse(0, || {
                reparsed = true;
                Ok(0)
            })
            .unwrap();
        assert!(reparsed);
    }

    #[test]
    fn a_failed_parse_is_not_remembered() {
        let cache: KeyCache<u32, u32> = KeyCache::new();
        let err = cache.get_or_parse(1, || Err(Error::BadPublicKey("no".into())));
        assert!(err.is_err());
        assert_eq!(*cache.get_or_parse(1, || Ok(7)).unwrap(), 7);
    }
}
