//! TPM_ALG_ID and TPM_ECC_CURVE values (TPM 2.0 Part 2, sections 6.3 and 6.4; values from the
//! TCG Algorithm Registry) and their mapping onto `pki`'s algorithms.

use pki::alg::{Curve, HashAlg};

use crate::{Error, Result};

/// TPM_ALG_RSA
pub const RSA: u16 = 0x0001;
/// TPM_ALG_SHA1
pub const SHA1: u16 = 0x0004;
/// TPM_ALG_HMAC
pub const HMAC: u16 = 0x0005;
/// TPM_ALG_AES
pub const AES: u16 = 0x0006;
/// TPM_ALG_KEYEDHASH
pub const KEYEDHASH: u16 = 0x0008;
/// TPM_ALG_XOR
pub const XOR: u16 = 0x000A;
/// TPM_ALG_SHA256
pub const SHA256: u16 = 0x000B;
/// TPM_ALG_SHA384
pub const SHA384: u16 = 0x000C;
/// TPM_ALG_SHA512
pub const SHA512: u16 = 0x000D;
/// TPM_ALG_NULL
pub const NULL: u16 = 0x0010;
/// TPM_ALG_SM3_256
pub const SM3_256: u16 = 0x0012;
/// TPM_ALG_SM4
pub const SM4: u16 = 0x0013;
/// TPM_ALG_RSASSA
pub const RSASSA: u16 = 0x0014;
/// TPM_ALG_RSAES
pub const RSAES: u16 = 0x0015;
/// TPM_ALG_RSAPSS
pub const RSAPSS: u16 = 0x0016;
/// TPM_ALG_OAEP
pub const OAEP: u16 = 0x0017;
/// TPM_ALG_ECDSA
pub const ECDSA: u16 = 0x0018;
/// TPM_ALG_ECDH
pub const ECDH: u16 = 0x0019;
/// TPM_ALG_ECDAA
pub const ECDAA: u16 = 0x001A;
/// TPM_ALG_SM2
pub const SM2: u16 = 0x001B;
/// TPM_ALG_ECSCHNORR
pub const ECSCHNORR: u16 = 0x001C;
/// TPM_ALG_ECMQV
pub const ECMQV: u16 = 0x001D;
/// TPM_ALG_KDF1_SP800_56A
pub const KDF1_SP800_56A: u16 = 0x0020;
/// TPM_ALG_KDF2
pub const KDF2: u16 = 0x0021;
/// TPM_ALG_KDF1_SP800_108
pub const KDF1_SP800_108: u16 = 0x0022;
/// TPM_ALG_ECC
pub const ECC: u16 = 0x0023;
/// TPM_ALG_SYMCIPHER
pub const SYMCIPHER: u16 = 0x0025;
/// TPM_ALG_CAMELLIA
pub const CAMELLIA: u16 = 0x0026;
/// TPM_ALG_SHA3_256
pub const SHA3_256: u16 = 0x0027;
/// TPM_ALG_SHA3_384
pub const SHA3_384: u16 = 0x0028;
/// TPM_ALG_SHA3_512
pub const SHA3_512: u16 = 0x0029;
/// TPM_ALG_CTR
pub const CTR: u16 = 0x0040;
/// TPM_ALG_OFB
pub const OFB: u16 = 0x0041;
/// TPM_ALG_CBC
pub const CBC: u16 = 0x0042;
/// TPM_ALG_CFB
pub const CFB: u16 = 0x0043;
/// TPM_ALG_ECB
pub const ECB: u16 = 0x0044;

/// TPM_ECC_NIST_P192
pub const ECC_NIST_P192: u16 = 0x0001;
/// TPM_ECC_NIST_P224
pub const ECC_NIST_P224: u16 = 0x0002;
/// TPM_ECC_NIST_P256
pub const ECC_NIST_P256: u16 = 0x0003;
/// TPM_ECC_NIST_P384
pub const ECC_NIST_P384: u16 = 0x0004;
/// TPM_ECC_NIST_P521
pub const ECC_NIST_P521: u16 = 0x0005;
/// TPM_ECC_BN_P256
pub const ECC_BN_P256: u16 = 0x0010;
/// TPM_ECC_BN_P638
pub const ECC_BN_P638: u16 = 0x0011;
/// TPM_ECC_SM2_P256
pub const ECC_SM2_P256: u16 = 0x0020;

/// The largest digest any TPM hash produces (SHA-512, SHA3-512).
pub const MAX_DIGEST: usize = 64;

/// The digest size of a TPM hash algorithm, `None` if `alg` is not a hash.
pub const fn digest_size(alg: u16) -> Option<usize> {
    match alg {
        SHA1 => Some(20),
        SHA256 | SM3_256 | SHA3_256 => Some(32),
        SHA384 | SHA3_384 => Some(48),
        SHA512 | SHA3_512 => Some(64),
        _ => None,
    }
}

/// `pki`'s name for a TPM hash algorithm (SHA-1 and SHA-2; SM3 and SHA-3 are refused with a
/// typed error because no `pki` provider computes them).
pub fn hash(alg: u16) -> Result<HashAlg> {
    match alg {
        SHA1 => Ok(HashAlg::Sha1),
        SHA256 => Ok(HashAlg::Sha256),
        SHA384 => Ok(HashAlg::Sha384),
        SHA512 => Ok(HashAlg::Sha512),
        _ => Err(Error::UnsupportedAlgorithm {
            what: "hash algorithm",
            alg,
        }),
    }
}

/// The TPM_ALG_ID of a `pki` hash algorithm.
pub fn hash_id(h: HashAlg) -> Result<u16> {
    match h {
        HashAlg::Sha1 => Ok(SHA1),
        HashAlg::Sha256 => Ok(SHA256),
        HashAlg::Sha384 => Ok(SHA384),
        HashAlg::Sha512 => Ok(SHA512),
        _ => Err(Error::ApiMisuse("the TPM has no identifier for this hash")),
    }
}

/// `pki`'s name for a TPM_ECC_CURVE.
pub fn curve(id: u16) -> Result<Curve> {
    match id {
        ECC_NIST_P256 => Ok(Curve::P256),
        ECC_NIST_P384 => Ok(Curve::P384),
        ECC_NIST_P521 => Ok(Curve::P521),
        _ => Err(Error::UnsupportedAlgorithm {
            what: "ECC curve",
            alg: id,
        }),
    }
}

/// The name `tpm2-tools` prints for a TPM_ALG_ID (`"sha256"`, `"rsassa"`, `"aes"`...), or the
/// hex value when unknown.
pub fn name(alg: u16) -> String {
    let s = match alg {
        RSA => "rsa",
        SHA1 => "sha1",
        HMAC => "hmac",
        AES => "aes",
        KEYEDHASH => "keyedhash",
        XOR => "xor",
        SHA256 => "sha256",
        SHA384 => "sha384",
        SHA512 => "sha512",
        NULL => "null",
        SM3_256 => "sm3_256",
        SM4 => "sm4",
        RSASSA => "rsassa",
        RSAES => "rsaes",
        RSAPSS => "rsapss",
        OAEP => "oaep",
        ECDSA => "ecdsa",
        ECDH => "ecdh",
        ECDAA => "ecdaa",
        SM2 => "sm2",
        ECSCHNORR => "ecschnorr",
        ECMQV => "ecmqv",
        KDF1_SP800_56A => "kdf1_sp800_56a",
        KDF2 => "kdf2",
        KDF1_SP800_108 => "kdf1_sp800_108",
        ECC => "ecc",
        SYMCIPHER => "symcipher",
        CAMELLIA => "camellia",
        SHA3_256 => "sha3_256",
        SHA3_384 => "sha3_384",
        SHA3_512 => "sha3_512",
        CTR => "ctr",
        OFB => "ofb",
        CBC => "cbc",
        CFB => "cfb",
        ECB => "ecb",
        other => return format!("0x{other:04x}"),
    };
    s.to_string()
}

/// The name `tpm2-tools` prints for a TPM_ECC_CURVE.
pub fn curve_name(id: u16) -> String {
    let s = match id {
        ECC_NIST_P192 => "NIST p192",
        ECC_NIST_P224 => "NIST p224",
        ECC_NIST_P256 => "NIST p256",
        ECC_NIST_P384 => "NIST p384",
        ECC_NIST_P521 => "NIST p521",
        ECC_BN_P256 => "BN P256",
        ECC_BN_P638 => "BN P638",
        ECC_SM2_P256 => "SM2 p256",
        other => return format!("0x{other:04x}"),
    };
    s.to_string()
}

/// A static name for error messages about PCR banks.
pub(crate) fn bank_name(alg: u16) -> &'static str {
    match alg {
        SHA1 => "sha1",
        SHA256 => "sha256",
        SHA384 => "sha384",
        SHA512 => "sha512",
        SM3_256 => "sm3_256",
        SHA3_256 => "sha3_256",
        SHA3_384 => "sha3_384",
        SHA3_512 => "sha3_512",
        _ => "unknown",
    }
}
