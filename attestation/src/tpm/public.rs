//! TPMT_PUBLIC and TPM2B_PUBLIC (TPM 2.0 Part 2, section 12.2), with the object's Name.

use der::Encode;
use pki::alg::oid;
use pki::provider::CryptoProvider;
use serde_json::{Value, json};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::alg;
use super::name::Name;
use super::wire::{Reader, Writer, hex};
use crate::{Error, Result};

/// Largest RSA modulus accepted (TPM2B_PUBLIC_KEY_RSA, MAX_RSA_KEY_BYTES for 4096-bit keys).
pub const MAX_RSA_KEY_BYTES: usize = 512;
/// Largest ECC coordinate accepted (TPM2B_ECC_PARAMETER; 128 leaves room for BN P638).
pub const MAX_ECC_KEY_BYTES: usize = 128;
/// Largest TPM2B_PUBLIC accepted.
pub const MAX_PUBLIC_BYTES: usize = 1024;

/// TPMA_OBJECT (Part 2, section 8.3): the object's attribute bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ObjectAttributes(pub u32);

impl ObjectAttributes {
    /// fixedTPM: the hierarchy of the object cannot change (it never leaves this TPM).
    pub const FIXED_TPM: u32 = 1 << 1;
    /// stClear
    pub const ST_CLEAR: u32 = 1 << 2;
    /// fixedParent: the object's parent cannot change.
    pub const FIXED_PARENT: u32 = 1 << 4;
    /// sensitiveDataOrigin: the TPM generated the sensitive part.
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    /// userWithAuth
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    /// adminWithPolicy
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    /// noDA
    pub const NO_DA: u32 = 1 << 10;
    /// encryptedDuplication
    pub const ENCRYPTED_DUPLICATION: u32 = 1 << 11;
    /// restricted: a signing key signs only TPM-generated structures.
    pub const RESTRICTED: u32 = 1 << 16;
    /// decrypt
    pub const DECRYPT: u32 = 1 << 17;
    /// sign / encrypt
    pub const SIGN_ENCRYPT: u32 = 1 << 18;
    /// x509sign
    pub const X509_SIGN: u32 = 1 << 19;

    const NAMES: [(u32, &'static str); 12] = [
        (Self::FIXED_TPM, "fixedtpm"),
        (Self::ST_CLEAR, "stclear"),
        (Self::FIXED_PARENT, "fixedparent"),
        (Self::SENSITIVE_DATA_ORIGIN, "sensitivedataorigin"),
        (Self::USER_WITH_AUTH, "userwithauth"),
        (Self::ADMIN_WITH_POLICY, "adminwithpolicy"),
        (Self::NO_DA, "noda"),
        (Self::ENCRYPTED_DUPLICATION, "encryptedduplication"),
        (Self::RESTRICTED, "restricted"),
        (Self::DECRYPT, "decrypt"),
        (Self::SIGN_ENCRYPT, "sign"),
        (Self::X509_SIGN, "x509sign"),
    ];

    /// Whether every bit of `mask` is set.
    pub const fn has(self, mask: u32) -> bool {
        self.0 & mask == mask
    }

    /// The set attributes joined by `|`, as `tpm2_print` writes them.
    pub fn names(self) -> String {
        Self::NAMES
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// TPMT_SYM_DEF_OBJECT (Part 2, section 11.1.7).
///
/// ```text
/// TPMT_SYM_DEF_OBJECT { algorithm: TPMI_ALG_SYM_OBJECT+, [algorithm] keyBits, [algorithm] mode }
/// ```
/// `key_bits` and `mode` are 0 when `algorithm` is TPM_ALG_NULL (they are absent on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SymDefObject {
    /// TPM_ALG_AES, TPM_ALG_SM4, TPM_ALG_CAMELLIA or TPM_ALG_NULL.
    pub algorithm: u16,
    /// Key size in bits.
    pub key_bits: u16,
    /// Block mode (TPM_ALG_CFB for storage keys and EKs).
    pub mode: u16,
}

impl SymDefObject {
    /// No symmetric algorithm (TPM_ALG_NULL).
    pub const NULL: Self = Self {
        algorithm: alg::NULL,
        key_bits: 0,
        mode: 0,
    };

    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let algorithm = r.u16("TPMT_SYM_DEF_OBJECT.algorithm")?;
        if algorithm == alg::NULL {
            return Ok(Self::NULL);
        }
        if algorithm == alg::XOR {
            return Err(Error::Malformed {
                what: "TPMT_SYM_DEF_OBJECT.algorithm",
                reason: "XOR is not an object symmetric algorithm".into(),
            });
        }
        let key_bits = r.u16("TPMT_SYM_DEF_OBJECT.keyBits")?;
        let mode = r.u16("TPMT_SYM_DEF_OBJECT.mode")?;
        Ok(Self {
            algorithm,
            key_bits,
            mode,
        })
    }

    fn encode(&self, w: &mut Writer) {
        w.u16(self.algorithm);
        if self.algorithm != alg::NULL {
            w.u16(self.key_bits).u16(self.mode);
        }
    }

    fn to_json(self) -> Value {
        if self.algorithm == alg::NULL {
            return json!({ "algorithm": "null" });
        }
        json!({ "algorithm": alg::name(self.algorithm), "keyBits": self.key_bits, "mode": alg::name(self.mode) })
    }
}

/// A scheme selector with its details: TPMT_RSA_SCHEME, TPMT_ECC_SCHEME, TPMT_KDF_SCHEME,
/// TPMT_KEYEDHASH_SCHEME (Part 2, sections 11.1.x and 11.2.x).
///
/// ```text
/// TPMT_*_SCHEME { scheme: TPMI_ALG_*_SCHEME+, [scheme] details: TPMU_*_SCHEME }
/// details: hashAlg (most schemes) | hashAlg, count (ECDAA) | hashAlg, kdf (XOR) | empty (RSAES, NULL)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scheme {
    /// The scheme's TPM_ALG_ID (TPM_ALG_NULL for none).
    pub scheme: u16,
    /// details.hashAlg (TPM_ALG_NULL when the scheme has none).
    pub hash_alg: u16,
    /// details.count for ECDAA, details.kdf for XOR, 0 otherwise.
    pub extra: u16,
}

impl Scheme {
    /// No scheme.
    pub const NULL: Self = Self {
        scheme: alg::NULL,
        hash_alg: alg::NULL,
        extra: 0,
    };

    fn parse(r: &mut Reader<'_>, what: &'static str) -> Result<Self> {
        let scheme = r.u16(what)?;
        let mut out = Self {
            scheme,
            ..Self::NULL
        };
        match scheme {
            alg::NULL | alg::RSAES => {}
            alg::ECDAA => {
                out.hash_alg = r.u16(what)?;
                out.extra = r.u16(what)?;
            }
            alg::XOR => {
                out.hash_alg = r.u16(what)?;
                out.extra = r.u16(what)?;
            }
            alg::RSASSA
            | alg::RSAPSS
            | alg::OAEP
            | alg::ECDSA
            | alg::ECDH
            | alg::SM2
            | alg::ECSCHNORR
            | alg::ECMQV
            | alg::HMAC
            | alg::KDF1_SP800_56A
            | alg::KDF2
            | alg::KDF1_SP800_108 => out.hash_alg = r.u16(what)?,
            other => {
                return Err(Error::UnsupportedAlgorithm {
                    what: "scheme",
                    alg: other,
                });
            }
        }
        Ok(out)
    }

    fn encode(&self, w: &mut Writer) {
        w.u16(self.scheme);
        match self.scheme {
            alg::NULL | alg::RSAES => {}
            alg::ECDAA | alg::XOR => {
                w.u16(self.hash_alg).u16(self.extra);
            }
            _ => {
                w.u16(self.hash_alg);
            }
        }
    }

    fn to_json(self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("scheme".into(), alg::name(self.scheme).into());
        match self.scheme {
            alg::NULL | alg::RSAES => {}
            _ => {
                m.insert("hashAlg".into(), alg::name(self.hash_alg).into());
            }
        }
        match self.scheme {
            alg::ECDAA => {
                m.insert("count".into(), self.extra.into());
            }
            alg::XOR => {
                m.insert("kdf".into(), alg::name(self.extra).into());
            }
            _ => {}
        }
        Value::Object(m)
    }
}

/// TPMS_RSA_PARMS (Part 2, section 12.2.3.5).
///
/// ```text
/// TPMS_RSA_PARMS { symmetric: TPMT_SYM_DEF_OBJECT+, scheme: TPMT_RSA_SCHEME+,
///                  keyBits: TPMI_RSA_KEY_BITS, exponent: UINT32 }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RsaParms {
    /// symmetric
    pub symmetric: SymDefObject,
    /// scheme
    pub scheme: Scheme,
    /// keyBits
    pub key_bits: u16,
    /// exponent (0 means 65537)
    pub exponent: u32,
}

/// TPMS_ECC_PARMS (Part 2, section 12.2.3.6).
///
/// ```text
/// TPMS_ECC_PARMS { symmetric: TPMT_SYM_DEF_OBJECT+, scheme: TPMT_ECC_SCHEME+,
///                  curveID: TPMI_ECC_CURVE, kdf: TPMT_KDF_SCHEME+ }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EccParms {
    /// symmetric
    pub symmetric: SymDefObject,
    /// scheme
    pub scheme: Scheme,
    /// curveID (TPM_ECC_CURVE)
    pub curve_id: u16,
    /// kdf
    pub kdf: Scheme,
}

/// TPMU_PUBLIC_PARMS (Part 2, section 12.2.3.7), selected by the object type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parameters {
    /// rsaDetail
    Rsa(RsaParms),
    /// eccDetail
    Ecc(EccParms),
    /// keyedHashDetail: TPMS_KEYEDHASH_PARMS { scheme: TPMT_KEYEDHASH_SCHEME+ }
    KeyedHash(Scheme),
    /// symDetail: TPMS_SYMCIPHER_PARMS { sym: TPMT_SYM_DEF_OBJECT }
    SymCipher(SymDefObject),
}

/// TPMU_PUBLIC_ID (Part 2, section 12.2.3.2): the object's unique identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Unique {
    /// rsa: TPM2B_PUBLIC_KEY_RSA, the modulus.
    Rsa(Vec<u8>),
    /// ecc: TPMS_ECC_POINT { x, y }.
    Ecc {
        /// x
        x: Vec<u8>,
        /// y
        y: Vec<u8>,
    },
    /// keyedHash / sym: TPM2B_DIGEST.
    Digest(Vec<u8>),
}

/// TPMT_PUBLIC (Part 2, section 12.2.4): the public area of a TPM object.
///
/// ```text
/// TPMT_PUBLIC {
///   type:              TPMI_ALG_PUBLIC      (TPM_ALG_RSA | TPM_ALG_ECC | TPM_ALG_KEYEDHASH | TPM_ALG_SYMCIPHER)
///   nameAlg:           TPMI_ALG_HASH+
///   objectAttributes:  TPMA_OBJECT
///   authPolicy:        TPM2B_DIGEST
///   [type]parameters:  TPMU_PUBLIC_PARMS
///   [type]unique:      TPMU_PUBLIC_ID
/// }
/// ```
/// Marshalling is canonical: [`Public::encode`] gives back the bytes [`Public::parse`] read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Public {
    /// type (TPM_ALG_ID of the object type)
    pub object_type: u16,
    /// nameAlg
    pub name_alg: u16,
    /// objectAttributes
    pub object_attributes: ObjectAttributes,
    /// authPolicy
    pub auth_policy: Vec<u8>,
    /// parameters
    pub parameters: Parameters,
    /// unique
    pub unique: Unique,
}

impl Public {
    /// Parse a TPMT_PUBLIC (the whole input, no trailing bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_PUBLIC_BYTES {
            return Err(Error::TooLarge {
                what: "TPMT_PUBLIC",
                len: bytes.len(),
                limit: MAX_PUBLIC_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let p = Self::read(&mut r)?;
        r.finish("TPMT_PUBLIC")?;
        Ok(p)
    }

    /// Parse a TPM2B_PUBLIC (`u16 size || TPMT_PUBLIC`, the layout of `tpm2_createak -u` and
    /// `tpm2_readpublic -o` files), no trailing bytes.
    pub fn parse_2b(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let inner = r.tpm2b("TPM2B_PUBLIC", MAX_PUBLIC_BYTES)?;
        r.finish("TPM2B_PUBLIC")?;
        Self::parse(inner)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let object_type = r.u16("TPMT_PUBLIC.type")?;
        let name_alg = r.u16("TPMT_PUBLIC.nameAlg")?;
        if name_alg != alg::NULL && alg::digest_size(name_alg).is_none() {
            return Err(Error::UnsupportedAlgorithm {
                what: "nameAlg",
                alg: name_alg,
            });
        }
        let object_attributes = ObjectAttributes(r.u32("TPMT_PUBLIC.objectAttributes")?);
        let auth_policy = r.tpm2b("TPMT_PUBLIC.authPolicy", alg::MAX_DIGEST)?.to_vec();
        let (parameters, unique) = match object_type {
            alg::RSA => {
                let symmetric = SymDefObject::parse(r)?;
                let scheme = Scheme::parse(r, "TPMT_RSA_SCHEME")?;
                let key_bits = r.u16("TPMS_RSA_PARMS.keyBits")?;
                let exponent = r.u32("TPMS_RSA_PARMS.exponent")?;
                let n = r.tpm2b("TPM2B_PUBLIC_KEY_RSA", MAX_RSA_KEY_BYTES)?.to_vec();
                (
                    Parameters::Rsa(RsaParms {
                        symmetric,
                        scheme,
                        key_bits,
                        exponent,
                    }),
                    Unique::Rsa(n),
                )
            }
            alg::ECC => {
                let symmetric = SymDefObject::parse(r)?;
                let scheme = Scheme::parse(r, "TPMT_ECC_SCHEME")?;
                let curve_id = r.u16("TPMS_ECC_PARMS.curveID")?;
                let kdf = Scheme::parse(r, "TPMT_KDF_SCHEME")?;
                let x = r.tpm2b("TPMS_ECC_POINT.x", MAX_ECC_KEY_BYTES)?.to_vec();
                let y = r.tpm2b("TPMS_ECC_POINT.y", MAX_ECC_KEY_BYTES)?.to_vec();
                (
                    Parameters::Ecc(EccParms {
                        symmetric,
                        scheme,
                        curve_id,
                        kdf,
                    }),
                    Unique::Ecc { x, y },
                )
            }
            alg::KEYEDHASH => {
                let scheme = Scheme::parse(r, "TPMT_KEYEDHASH_SCHEME")?;
                let d = r.tpm2b("TPM2B_DIGEST", alg::MAX_DIGEST)?.to_vec();
                (Parameters::KeyedHash(scheme), Unique::Digest(d))
            }
            alg::SYMCIPHER => {
                let sym = SymDefObject::parse(r)?;
                let d = r.tpm2b("TPM2B_DIGEST", alg::MAX_DIGEST)?.to_vec();
                (Parameters::SymCipher(sym), Unique::Digest(d))
            }
            other => {
                return Err(Error::UnsupportedAlgorithm {
                    what: "object type",
                    alg: other,
                });
            }
        };
        Ok(Self {
            object_type,
            name_alg,
            object_attributes,
            auth_policy,
            parameters,
            unique,
        })
    }

    /// Marshal as TPMT_PUBLIC.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.into_vec()
    }

    /// Marshal as TPM2B_PUBLIC.
    pub fn encode_2b(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.tpm2b(&self.encode());
        w.into_vec()
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.u16(self.object_type)
            .u16(self.name_alg)
            .u32(self.object_attributes.0)
            .tpm2b(&self.auth_policy);
        match &self.parameters {
            Parameters::Rsa(p) => {
                p.symmetric.encode(w);
                p.scheme.encode(w);
                w.u16(p.key_bits).u32(p.exponent);
            }
            Parameters::Ecc(p) => {
                p.symmetric.encode(w);
                p.scheme.encode(w);
                w.u16(p.curve_id);
                p.kdf.encode(w);
            }
            Parameters::KeyedHash(s) => s.encode(w),
            Parameters::SymCipher(s) => s.encode(w),
        }
        match &self.unique {
            Unique::Rsa(n) => {
                w.tpm2b(n);
            }
            Unique::Ecc { x, y } => {
                w.tpm2b(x).tpm2b(y);
            }
            Unique::Digest(d) => {
                w.tpm2b(d);
            }
        }
    }

    /// The object's Name: `nameAlg || H_nameAlg(TPMT_PUBLIC)` (Part 1, section 16).
    pub fn name(&self, provider: &dyn CryptoProvider) -> Result<Name> {
        Name::of_public(self, provider)
    }

    /// The public key as an X.509 `SubjectPublicKeyInfo` (RSA: rsaEncryption with exponent 0
    /// read as 65537; ECC: id-ecPublicKey with the named curve and an uncompressed point).
    pub fn spki(&self) -> Result<SubjectPublicKeyInfoOwned> {
        match (&self.parameters, &self.unique) {
            (Parameters::Rsa(p), Unique::Rsa(n)) => {
                let e = if p.exponent == 0 { 65537 } else { p.exponent };
                let e = e.to_be_bytes();
                let lead = e.iter().take_while(|b| **b == 0).count();
                let key = pkcs1::RsaPublicKey {
                    modulus: der::asn1::UintRef::new(n)
                        .map_err(|e| Error::malformed("TPM2B_PUBLIC_KEY_RSA", e))?,
                    public_exponent: der::asn1::UintRef::new(&e[lead..])
                        .map_err(|e| Error::malformed("TPMS_RSA_PARMS.exponent", e))?,
                };
                let der = key
                    .to_der()
                    .map_err(|e| Error::malformed("TPM2B_PUBLIC_KEY_RSA", e))?;
                Ok(SubjectPublicKeyInfoOwned {
                    algorithm: AlgorithmIdentifierOwned {
                        oid: oid::RSA_ENCRYPTION,
                        parameters: Some(der::asn1::Null.into()),
                    },
                    subject_public_key: der::asn1::BitString::from_bytes(&der)
                        .map_err(|e| Error::malformed("TPM2B_PUBLIC_KEY_RSA", e))?,
                })
            }
            (Parameters::Ecc(p), Unique::Ecc { x, y }) => {
                let curve = alg::curve(p.curve_id)?;
                let len = curve.scalar_len();
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                for c in [x, y] {
                    let c = strip_zeros(c);
                    if c.len() > len {
                        return Err(Error::Malformed {
                            what: "TPMS_ECC_POINT",
                            reason: format!(
                                "coordinate of {} bytes on a {len}-byte curve",
                                c.len()
                            ),
                        });
                    }
                    point.resize(point.len() + len - c.len(), 0);
                    point.extend_from_slice(c);
                }
                let params = der::asn1::Any::encode_from(&curve.oid())
                    .map_err(|e| Error::malformed("TPMS_ECC_PARMS.curveID", e))?;
                let spki = SubjectPublicKeyInfoOwned {
                    algorithm: AlgorithmIdentifierOwned {
                        oid: oid::EC_PUBLIC_KEY,
                        parameters: Some(params),
                    },
                    subject_public_key: der::asn1::BitString::from_bytes(&point)
                        .map_err(|e| Error::malformed("TPMS_ECC_POINT", e))?,
                };
                check_point(curve, &point)?;
                Ok(spki)
            }
            _ => Err(Error::KeyNotAcceptable(format!(
                "a {} object has no public key",
                alg::name(self.object_type)
            ))),
        }
    }

    /// The fields as the TPM spec names them, plus the object's `name` (hex) when the nameAlg
    /// is one the provider computes.
    pub fn to_json(&self, provider: &dyn CryptoProvider) -> Value {
        let parameters = match &self.parameters {
            Parameters::Rsa(p) => json!({
                "symmetric": p.symmetric.to_json(),
                "scheme": p.scheme.to_json(),
                "keyBits": p.key_bits,
                "exponent": if p.exponent == 0 { 65537 } else { p.exponent },
            }),
            Parameters::Ecc(p) => json!({
                "symmetric": p.symmetric.to_json(),
                "scheme": p.scheme.to_json(),
                "curveID": alg::curve_name(p.curve_id),
                "kdf": p.kdf.to_json(),
            }),
            Parameters::KeyedHash(s) => json!({ "scheme": s.to_json() }),
            Parameters::SymCipher(s) => json!({ "sym": s.to_json() }),
        };
        let unique = match &self.unique {
            Unique::Rsa(n) => json!({ "rsa": hex(n) }),
            Unique::Ecc { x, y } => json!({ "ecc": { "x": hex(x), "y": hex(y) } }),
            Unique::Digest(d) => json!({ "digest": hex(d) }),
        };
        let mut v = json!({
            "type": alg::name(self.object_type),
            "nameAlg": alg::name(self.name_alg),
            "objectAttributes": {
                "value": format!("0x{:x}", self.object_attributes.0),
                "set": self.object_attributes.names(),
            },
            "authPolicy": hex(&self.auth_policy),
            "parameters": parameters,
            "unique": unique,
        });
        if let (Ok(name), Some(m)) = (self.name(provider), v.as_object_mut()) {
            m.insert("name".into(), hex(name.as_bytes()).into());
        }
        v
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let lead = b.iter().take_while(|x| **x == 0).count();
    &b[lead..]
}

/// Refuse points that are not on the curve (the TPM would never emit one).
fn check_point(curve: pki::alg::Curve, sec1: &[u8]) -> Result<()> {
    use pki::alg::Curve;
    let ok = match curve {
        Curve::P256 => p256::PublicKey::from_sec1_bytes(sec1).is_ok(),
        Curve::P384 => p384::PublicKey::from_sec1_bytes(sec1).is_ok(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Malformed {
            what: "TPMS_ECC_POINT",
            reason: "the point is not on the curve".into(),
        })
    }
}

impl Error {
    pub(crate) fn malformed(what: &'static str, e: impl core::fmt::Display) -> Self {
        Error::Malformed {
            what,
            reason: e.to_string(),
        }
    }
}
