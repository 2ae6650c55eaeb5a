//! Algorithms by name, and their object identifiers.
//!
//! Every algorithm the crate speaks is a variant here; conversions to and from
//! `AlgorithmIdentifier` live here too, so that OIDs are decided in one place.

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, ObjectIdentifier as Oid};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;

use crate::{Error, Result};

/// Object identifiers used across the crate (values from RFC 3279, 4055, 5652, 5758, 8410,
/// 3565, 8017 and NIST's registry).
pub mod oid {
    use const_oid::ObjectIdentifier as O;

    /// id-sha1
    pub const SHA1: O = O::new_unwrap("1.3.14.3.2.26");
    /// id-sha224
    pub const SHA224: O = O::new_unwrap("2.16.840.1.101.3.4.2.4");
    /// id-sha256
    pub const SHA256: O = O::new_unwrap("2.16.840.1.101.3.4.2.1");
    /// id-sha384
    pub const SHA384: O = O::new_unwrap("2.16.840.1.101.3.4.2.2");
    /// id-sha512
    pub const SHA512: O = O::new_unwrap("2.16.840.1.101.3.4.2.3");

    /// rsaEncryption
    pub const RSA_ENCRYPTION: O = O::new_unwrap("1.2.840.113549.1.1.1");
    /// sha1WithRSAEncryption
    pub const SHA1_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.5");
    /// sha224WithRSAEncryption
    pub const SHA224_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.14");
    /// sha256WithRSAEncryption
    pub const SHA256_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.11");
    /// sha384WithRSAEncryption
    pub const SHA384_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.12");
    /// sha512WithRSAEncryption
    pub const SHA512_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.13");
    /// id-RSASSA-PSS
    pub const RSASSA_PSS: O = O::new_unwrap("1.2.840.113549.1.1.10");
    /// id-RSAES-OAEP
    pub const RSAES_OAEP: O = O::new_unwrap("1.2.840.113549.1.1.7");
    /// id-mgf1
    pub const MGF1: O = O::new_unwrap("1.2.840.113549.1.1.8");
    /// id-pSpecified
    pub const P_SPECIFIED: O = O::new_unwrap("1.2.840.113549.1.1.9");

    /// id-ecPublicKey
    pub const EC_PUBLIC_KEY: O = O::new_unwrap("1.2.840.10045.2.1");
    /// secp256r1 / prime256v1
    pub const SECP256R1: O = O::new_unwrap("1.2.840.10045.3.1.7");
    /// secp384r1
    pub const SECP384R1: O = O::new_unwrap("1.3.132.0.34");
    /// secp521r1
    pub const SECP521R1: O = O::new_unwrap("1.3.132.0.35");
    /// ecdsa-with-SHA1
    pub const ECDSA_WITH_SHA1: O = O::new_unwrap("1.2.840.10045.4.1");
    /// ecdsa-with-SHA224
    pub const ECDSA_WITH_SHA224: O = O::new_unwrap("1.2.840.10045.4.3.1");
    /// ecdsa-with-SHA256
    pub const ECDSA_WITH_SHA256: O = O::new_unwrap("1.2.840.10045.4.3.2");
    /// ecdsa-with-SHA384
    pub const ECDSA_WITH_SHA384: O = O::new_unwrap("1.2.840.10045.4.3.3");
    /// ecdsa-with-SHA512
    pub const ECDSA_WITH_SHA512: O = O::new_unwrap("1.2.840.10045.4.3.4");

    /// id-Ed25519
    pub const ED25519: O = O::new_unwrap("1.3.101.112");

    /// aes128-CBC
    pub const AES128_CBC: O = O::new_unwrap("2.16.840.1.101.3.4.1.2");
    /// aes192-CBC
    pub const AES192_CBC: O = O::new_unwrap("2.16.840.1.101.3.4.1.22");
    /// aes256-CBC
    pub const AES256_CBC: O = O::new_unwrap("2.16.840.1.101.3.4.1.42");
    /// des-ede3-cbc
    pub const DES_EDE3_CBC: O = O::new_unwrap("1.2.840.113549.3.7");
    /// desCBC (OIW)
    pub const DES_CBC: O = O::new_unwrap("1.3.14.3.2.7");

    /// id-data
    pub const DATA: O = O::new_unwrap("1.2.840.113549.1.7.1");
    /// id-signedData
    pub const SIGNED_DATA: O = O::new_unwrap("1.2.840.113549.1.7.2");
    /// id-envelopedData
    pub const ENVELOPED_DATA: O = O::new_unwrap("1.2.840.113549.1.7.3");
    /// id-contentType
    pub const CONTENT_TYPE: O = O::new_unwrap("1.2.840.113549.1.9.3");
    /// id-messageDigest
    pub const MESSAGE_DIGEST: O = O::new_unwrap("1.2.840.113549.1.9.4");
    /// id-signingTime
    pub const SIGNING_TIME: O = O::new_unwrap("1.2.840.113549.1.9.5");
}

/// A message digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlg {
    /// SHA-1: only accepted where the caller opts in.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// Every digest algorithm, weakest first.
    pub const ALL: [HashAlg; 5] = [
        HashAlg::Sha1,
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];

    /// The digest's length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The algorithm's OID.
    pub const fn oid(self) -> ObjectIdentifier {
        match self {
            HashAlg::Sha1 => oid::SHA1,
            HashAlg::Sha224 => oid::SHA224,
            HashAlg::Sha256 => oid::SHA256,
            HashAlg::Sha384 => oid::SHA384,
            HashAlg::Sha512 => oid::SHA512,
        }
    }

    /// The algorithm named by `oid`.
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|h| h.oid() == *oid)
            .ok_or_else(|| Error::UnsupportedAlgorithm {
                what: "digest algorithm",
                oid: oid.to_string(),
            })
    }

    /// The algorithm named by an `AlgorithmIdentifier` (parameters absent or NULL).
    pub fn from_algorithm_identifier(id: &AlgorithmIdentifierOwned) -> Result<Self> {
        Self::from_oid(&id.oid)
    }

    /// The `AlgorithmIdentifier` for this digest, parameters absent (RFC 5754 section 2).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }
}

/// How an ECDSA signature is laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcdsaEncoding {
    /// `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (X.509, CMS, Mender).
    Der,
    /// `r || s`, each the curve's field size (JOSE, TPM, WebAuthn raw).
    Fixed,
}

/// A named elliptic curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
}

impl Curve {
    /// The curve's OID (the `namedCurve` parameter of id-ecPublicKey).
    pub const fn oid(self) -> ObjectIdentifier {
        match self {
            Curve::P256 => oid::SECP256R1,
            Curve::P384 => oid::SECP384R1,
            Curve::P521 => oid::SECP521R1,
        }
    }

    /// The curve named by `oid`.
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self> {
        [Curve::P256, Curve::P384, Curve::P521]
            .into_iter()
            .find(|c| c.oid() == *oid)
            .ok_or_else(|| Error::UnsupportedAlgorithm {
                what: "elliptic curve",
                oid: oid.to_string(),
            })
    }

    /// Size in bytes of one scalar (and of `r` or `s` in a fixed-size signature).
    pub const fn scalar_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// The digest that conventionally goes with this curve (RFC 5480 section 4).
    pub const fn default_hash(self) -> HashAlg {
        match self {
            Curve::P256 => HashAlg::Sha256,
            Curve::P384 => HashAlg::Sha384,
            Curve::P521 => HashAlg::Sha512,
        }
    }
}

/// A signature scheme. The key type (and for ECDSA the curve) comes from the key itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5 with the given digest (RFC 8017 section 8.2).
    RsaPkcs1v15(HashAlg),
    /// RSASSA-PSS with MGF1 over the same digest and the given salt length (RFC 8017 section
    /// 8.1, RFC 4055).
    RsaPss {
        /// Digest for the message and for MGF1.
        hash: HashAlg,
        /// Salt length in bytes.
        salt_len: usize,
    },
    /// ECDSA with the given digest, whatever the curve (Mender uses SHA-256 on every curve).
    Ecdsa {
        /// The digest applied to the message.
        hash: HashAlg,
        /// How `r` and `s` are laid out.
        encoding: EcdsaEncoding,
    },
    /// Ed25519 (pure, RFC 8032).
    Ed25519,
}

impl SignatureScheme {
    /// The digest the scheme applies to the message, if any (none for Ed25519).
    pub const fn hash(self) -> Option<HashAlg> {
        match self {
            SignatureScheme::RsaPkcs1v15(h)
            | SignatureScheme::RsaPss { hash: h, .. }
            | SignatureScheme::Ecdsa { hash: h, .. } => Some(h),
            SignatureScheme::Ed25519 => None,
        }
    }

    /// ECDSA with DER signatures.
    pub const fn ecdsa(hash: HashAlg) -> Self {
        SignatureScheme::Ecdsa {
            hash,
            encoding: EcdsaEncoding::Der,
        }
    }

    /// The scheme named by a `signatureAlgorithm` (X.509) or a CMS `SignerInfo`'s
    /// `signatureAlgorithm` together with its `digestAlgorithm`.
    ///
    /// CMS signers often name only `rsaEncryption` (or `id-ecPublicKey`) and leave the digest
    /// to `digestAlgorithm`; pass it as `digest` for that case.
    pub fn from_algorithm_identifier(
        id: &AlgorithmIdentifierOwned,
        digest: Option<HashAlg>,
    ) -> Result<Self> {
        let o = id.oid;
        let need_digest = || {
            digest.ok_or(Error::UnsupportedAlgorithm {
                what: "signature algorithm without a digest",
                oid: o.to_string(),
            })
        };
        Ok(match o {
            oid::SHA1_WITH_RSA => SignatureScheme::RsaPkcs1v15(HashAlg::Sha1),
            oid::SHA224_WITH_RSA => SignatureScheme::RsaPkcs1v15(HashAlg::Sha224),
            oid::SHA256_WITH_RSA => SignatureScheme::RsaPkcs1v15(HashAlg::Sha256),
            oid::SHA384_WITH_RSA => SignatureScheme::RsaPkcs1v15(HashAlg::Sha384),
            oid::SHA512_WITH_RSA => SignatureScheme::RsaPkcs1v15(HashAlg::Sha512),
            oid::RSA_ENCRYPTION => SignatureScheme::RsaPkcs1v15(need_digest()?),
            oid::ECDSA_WITH_SHA1 => SignatureScheme::ecdsa(HashAlg::Sha1),
            oid::ECDSA_WITH_SHA224 => SignatureScheme::ecdsa(HashAlg::Sha224),
            oid::ECDSA_WITH_SHA256 => SignatureScheme::ecdsa(HashAlg::Sha256),
            oid::ECDSA_WITH_SHA384 => SignatureScheme::ecdsa(HashAlg::Sha384),
            oid::ECDSA_WITH_SHA512 => SignatureScheme::ecdsa(HashAlg::Sha512),
            oid::EC_PUBLIC_KEY => SignatureScheme::ecdsa(need_digest()?),
            oid::ED25519 => SignatureScheme::Ed25519,
            oid::RSASSA_PSS => {
                let params = id
                    .parameters
                    .as_ref()
                    .ok_or_else(|| Error::malformed("RSASSA-PSS-params", "parameters absent"))?;
                let (hash, salt_len) = pss::decode_params(
                    &params
                        .to_der()
                        .map_err(|e| Error::malformed("RSASSA-PSS-params", e))?,
                )?;
                SignatureScheme::RsaPss { hash, salt_len }
            }
            other => {
                return Err(Error::UnsupportedAlgorithm {
                    what: "signature algorithm",
                    oid: other.to_string(),
                });
            }
        })
    }

    /// The `AlgorithmIdentifier` that names this scheme in a certificate, CSR or `SignerInfo`.
    pub fn algorithm_identifier(self) -> Result<AlgorithmIdentifierOwned> {
        let (oid, parameters) = match self {
            SignatureScheme::RsaPkcs1v15(h) => {
                let oid = match h {
                    HashAlg::Sha1 => oid::SHA1_WITH_RSA,
                    HashAlg::Sha224 => oid::SHA224_WITH_RSA,
                    HashAlg::Sha256 => oid::SHA256_WITH_RSA,
                    HashAlg::Sha384 => oid::SHA384_WITH_RSA,
                    HashAlg::Sha512 => oid::SHA512_WITH_RSA,
                };
                (oid, Some(der::Any::null()))
            }
            SignatureScheme::Ecdsa { hash, .. } => {
                let oid = match hash {
                    HashAlg::Sha1 => oid::ECDSA_WITH_SHA1,
                    HashAlg::Sha224 => oid::ECDSA_WITH_SHA224,
                    HashAlg::Sha256 => oid::ECDSA_WITH_SHA256,
                    HashAlg::Sha384 => oid::ECDSA_WITH_SHA384,
                    HashAlg::Sha512 => oid::ECDSA_WITH_SHA512,
                };
                (oid, None)
            }
            SignatureScheme::Ed25519 => (oid::ED25519, None),
            SignatureScheme::RsaPss { hash, salt_len } => {
                let der = pss::encode_params(hash, salt_len)?;
                let any = der::Any::from_der(&der).map_err(|e| Error::malformed("PSS", e))?;
                (oid::RSASSA_PSS, Some(any))
            }
        };
        Ok(AlgorithmIdentifierOwned { oid, parameters })
    }
}

/// A symmetric content-encryption algorithm for EnvelopedData (all in CBC mode with PKCS#7
/// padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentCipher {
    /// AES-128-CBC.
    Aes128Cbc,
    /// AES-192-CBC.
    Aes192Cbc,
    /// AES-256-CBC.
    Aes256Cbc,
    /// DES-EDE3-CBC (3DES).
    DesEde3Cbc,
    /// Single DES-CBC: opens only behind an explicit legacy option, never used to seal.
    DesCbc,
}

impl ContentCipher {
    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            ContentCipher::Aes128Cbc => 16,
            ContentCipher::Aes192Cbc => 24,
            ContentCipher::Aes256Cbc => 32,
            ContentCipher::DesEde3Cbc => 24,
            ContentCipher::DesCbc => 8,
        }
    }

    /// Block (and IV) length in bytes.
    pub const fn block_len(self) -> usize {
        match self {
            ContentCipher::Aes128Cbc | ContentCipher::Aes192Cbc | ContentCipher::Aes256Cbc => 16,
            ContentCipher::DesEde3Cbc | ContentCipher::DesCbc => 8,
        }
    }

    /// The algorithm's OID.
    pub const fn oid(self) -> ObjectIdentifier {
        match self {
            ContentCipher::Aes128Cbc => oid::AES128_CBC,
            ContentCipher::Aes192Cbc => oid::AES192_CBC,
            ContentCipher::Aes256Cbc => oid::AES256_CBC,
            ContentCipher::DesEde3Cbc => oid::DES_EDE3_CBC,
            ContentCipher::DesCbc => oid::DES_CBC,
        }
    }

    /// The algorithm named by `oid`.
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self> {
        [
            ContentCipher::Aes128Cbc,
            ContentCipher::Aes192Cbc,
            ContentCipher::Aes256Cbc,
            ContentCipher::DesEde3Cbc,
            ContentCipher::DesCbc,
        ]
        .into_iter()
        .find(|c| c.oid() == *oid)
        .ok_or_else(|| Error::UnsupportedAlgorithm {
            what: "content-encryption algorithm",
            oid: oid.to_string(),
        })
    }

    /// The cipher and IV named by a `contentEncryptionAlgorithm` (the parameters are the IV as
    /// an OCTET STRING for every CBC cipher here).
    pub fn from_algorithm_identifier(id: &AlgorithmIdentifierOwned) -> Result<(Self, Vec<u8>)> {
        let cipher = Self::from_oid(&id.oid)?;
        let params = id
            .parameters
            .as_ref()
            .ok_or_else(|| Error::malformed("content-encryption parameters", "IV absent"))?;
        let iv = params
            .decode_as::<der::asn1::OctetString>()
            .map_err(|e| Error::malformed("content-encryption IV", e))?
            .into_bytes();
        if iv.len() != cipher.block_len() {
            return Err(Error::BadLength {
                cipher,
                what: "IV",
                expected: cipher.block_len(),
                got: iv.len(),
            });
        }
        Ok((cipher, iv.into_vec()))
    }

    /// The `AlgorithmIdentifier` carrying this cipher and `iv`.
    pub fn algorithm_identifier(self, iv: &[u8]) -> Result<AlgorithmIdentifierOwned> {
        let os = der::asn1::OctetString::new(iv).map_err(|e| Error::malformed("IV", e))?;
        Ok(AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: Some(der::Any::encode_from(&os).map_err(|e| Error::malformed("IV", e))?),
        })
    }
}

/// RSA key transport (how a content-encryption key is wrapped for a recipient).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyTransport {
    /// RSAES-PKCS1-v1_5 (RFC 8017 section 7.2).
    RsaPkcs1v15,
    /// RSAES-OAEP with MGF1, empty label (RFC 8017 section 7.1, RFC 4055 section 4).
    RsaOaep {
        /// The OAEP digest.
        hash: HashAlg,
        /// The MGF1 digest.
        mgf_hash: HashAlg,
    },
}

impl KeyTransport {
    /// OAEP with SHA-1 for both digests: RFC 4055's default parameters, and what
    /// `openssl cms -keyopt rsa_padding_mode:oaep` sends.
    pub const OAEP_SHA1: KeyTransport = KeyTransport::RsaOaep {
        hash: HashAlg::Sha1,
        mgf_hash: HashAlg::Sha1,
    };

    /// OAEP with SHA-256 for both digests.
    pub const OAEP_SHA256: KeyTransport = KeyTransport::RsaOaep {
        hash: HashAlg::Sha256,
        mgf_hash: HashAlg::Sha256,
    };

    /// The transport named by a `keyEncryptionAlgorithm`.
    pub fn from_algorithm_identifier(id: &AlgorithmIdentifierOwned) -> Result<Self> {
        match id.oid {
            oid::RSA_ENCRYPTION => Ok(KeyTransport::RsaPkcs1v15),
            oid::RSAES_OAEP => {
                let der = match &id.parameters {
                    None => return Ok(Self::OAEP_SHA1),
                    Some(p) => p
                        .to_der()
                        .map_err(|e| Error::malformed("RSAES-OAEP-params", e))?,
                };
                let (hash, mgf_hash) = oaep::decode_params(&der)?;
                Ok(KeyTransport::RsaOaep { hash, mgf_hash })
            }
            other => Err(Error::UnsupportedAlgorithm {
                what: "key-transport algorithm",
                oid: other.to_string(),
            }),
        }
    }

    /// The `keyEncryptionAlgorithm` naming this transport.
    pub fn algorithm_identifier(self) -> Result<AlgorithmIdentifierOwned> {
        match self {
            KeyTransport::RsaPkcs1v15 => Ok(AlgorithmIdentifierOwned {
                oid: oid::RSA_ENCRYPTION,
                parameters: Some(der::Any::null()),
            }),
            KeyTransport::RsaOaep { hash, mgf_hash } => {
                let der = oaep::encode_params(hash, mgf_hash)?;
                Ok(AlgorithmIdentifierOwned {
                    oid: oid::RSAES_OAEP,
                    parameters: Some(
                        der::Any::from_der(&der).map_err(|e| Error::malformed("OAEP", e))?,
                    ),
                })
            }
        }
    }
}

/// Shared decoding of the `[0] hashAlgorithm`, `[1] maskGenAlgorithm` fields of RSASSA-PSS-params
/// and RSAES-OAEP-params (RFC 4055 sections 3.1 and 4.1).
mod rsa_params {
    use super::*;
    use der::asn1::ContextSpecific;
    use der::{Reader, TagMode, TagNumber};

    pub(super) struct Fields {
        pub hash: HashAlg,
        pub mgf_hash: HashAlg,
        /// The DER of the value inside the explicit `[2]` field, if present.
        pub field2: Option<Vec<u8>>,
    }

    fn alg_id(any: AnyRef<'_>) -> Result<AlgorithmIdentifierOwned> {
        any.decode_as::<AlgorithmIdentifierOwned>()
            .map_err(|e| Error::malformed("RSA parameters", e))
    }

    pub(super) fn decode(der: &[u8], what: &'static str) -> Result<Fields> {
        let mut reader = der::SliceReader::new(der).map_err(|e| Error::malformed(what, e))?;
        let (h, m, f2) = reader
            .sequence(|r: &mut der::SliceReader<'_>| -> der::Result<_> {
                let h: Option<ContextSpecific<AnyRef<'_>>> =
                    ContextSpecific::decode_explicit(r, TagNumber(0))?;
                let m: Option<ContextSpecific<AnyRef<'_>>> =
                    ContextSpecific::decode_explicit(r, TagNumber(1))?;
                let f2: Option<ContextSpecific<AnyRef<'_>>> =
                    ContextSpecific::decode_explicit(r, TagNumber(2))?;
                // Field [3] (PSS trailerField) has one defined value, trailerFieldBC (1).
                let trailer: Option<ContextSpecific<u8>> =
                    ContextSpecific::decode_explicit(r, TagNumber(3))?;
                if trailer.is_some_and(|t| t.value != 1) {
                    return Err(der::Tag::Integer.value_error().into());
                }
                Ok((h.map(|c| c.value), m.map(|c| c.value), f2.map(|c| c.value)))
            })
            .map_err(|e| Error::malformed(what, e))?;
        if !reader.is_finished() {
            return Err(Error::TrailingData {
                what,
                len: der.len() - usize::try_from(reader.position()).unwrap_or(der.len()),
            });
        }
        let mut out = Fields {
            hash: HashAlg::Sha1,
            mgf_hash: HashAlg::Sha1,
            field2: f2
                .map(|a| a.to_der())
                .transpose()
                .map_err(|e| Error::malformed(what, e))?,
        };
        if let Some(h) = h {
            out.hash = HashAlg::from_algorithm_identifier(&alg_id(h)?)?;
        }
        if let Some(m) = m {
            let mgf = alg_id(m)?;
            if mgf.oid != oid::MGF1 {
                return Err(Error::UnsupportedAlgorithm {
                    what: "mask generation function",
                    oid: mgf.oid.to_string(),
                });
            }
            let inner = mgf
                .parameters
                .as_ref()
                .ok_or_else(|| Error::malformed(what, "MGF1 without a digest"))?
                .decode_as::<AlgorithmIdentifierOwned>()
                .map_err(|e| Error::malformed(what, e))?;
            out.mgf_hash = HashAlg::from_algorithm_identifier(&inner)?;
        }
        Ok(out)
    }

    pub(super) fn encode(
        hash: HashAlg,
        mgf_hash: HashAlg,
        field2: Option<Vec<u8>>,
    ) -> Result<Vec<u8>> {
        let e = |err| Error::malformed("RSA parameters", err);
        let mgf = AlgorithmIdentifierOwned {
            oid: oid::MGF1,
            parameters: Some(der::Any::encode_from(&mgf_hash.algorithm_identifier()).map_err(e)?),
        };
        let mut body = Vec::new();
        ContextSpecific {
            tag_number: TagNumber(0),
            tag_mode: TagMode::Explicit,
            value: hash.algorithm_identifier(),
        }
        .encode_to_vec(&mut body)
        .map_err(e)?;
        ContextSpecific {
            tag_number: TagNumber(1),
            tag_mode: TagMode::Explicit,
            value: mgf,
        }
        .encode_to_vec(&mut body)
        .map_err(e)?;
        if let Some(f2) = field2 {
            body.extend_from_slice(&f2);
        }
        AnyRef::new(der::Tag::Sequence, &body)
            .map_err(e)?
            .to_der()
            .map_err(e)
    }
}

/// RSASSA-PSS-params.
mod pss {
    use super::*;
    use der::TagMode;
    use der::TagNumber;
    use der::asn1::ContextSpecific;

    pub(super) fn decode_params(der: &[u8]) -> Result<(HashAlg, usize)> {
        let f = rsa_params::decode(der, "RSASSA-PSS-params")?;
        if f.hash != f.mgf_hash {
            return Err(Error::UnsupportedAlgorithm {
                what: "RSASSA-PSS with different message and MGF1 digests",
                oid: oid::RSASSA_PSS.to_string(),
            });
        }
        let salt = match f.field2 {
            None => 20,
            Some(der) => u32::from_der(&der).map_err(|e| Error::malformed("PSS salt length", e))?,
        };
        let salt = usize::try_from(salt).map_err(|e| Error::malformed("PSS salt length", e))?;
        Ok((f.hash, salt))
    }

    pub(super) fn encode_params(hash: HashAlg, salt_len: usize) -> Result<Vec<u8>> {
        let salt = ContextSpecific {
            tag_number: TagNumber(2),
            tag_mode: TagMode::Explicit,
            value: u32::try_from(salt_len).map_err(|_| Error::ApiMisuse("PSS salt too long"))?,
        };
        let salt = salt
            .to_der()
            .map_err(|e| Error::malformed("PSS salt length", e))?;
        rsa_params::encode(hash, hash, Some(salt))
    }
}

/// RSAES-OAEP-params.
mod oaep {
    use super::*;

    pub(super) fn decode_params(der: &[u8]) -> Result<(HashAlg, HashAlg)> {
        let f = rsa_params::decode(der, "RSAES-OAEP-params")?;
        // pSourceAlgorithm: only the empty label (id-pSpecified with an empty OCTET STRING).
        if let Some(p) = f.field2 {
            let src = AlgorithmIdentifierOwned::from_der(&p)
                .map_err(|e| Error::malformed("RSAES-OAEP pSourceAlgorithm", e))?;
            let empty = src.oid == oid::P_SPECIFIED
                && src.parameters.as_ref().is_none_or(|v| {
                    v.decode_as::<der::asn1::OctetString>()
                        .is_ok_and(|o| o.as_bytes().is_empty())
                });
            if !empty {
                return Err(Error::UnsupportedAlgorithm {
                    what: "RSAES-OAEP with a non-empty label",
                    oid: src.oid.to_string(),
                });
            }
        }
        Ok((f.hash, f.mgf_hash))
    }

    pub(super) fn encode_params(hash: HashAlg, mgf_hash: HashAlg) -> Result<Vec<u8>> {
        rsa_params::encode(hash, mgf_hash, None)
    }
}

/// Parse a dotted OID string (for callers that carry OIDs as text).
pub fn parse_oid(s: &str) -> Result<Oid> {
    Oid::new(s).map_err(|e| Error::malformed("object identifier", e))
}
