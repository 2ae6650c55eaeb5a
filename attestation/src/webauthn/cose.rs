//! COSE keys and algorithm identifiers (RFC 9052/9053, RFC 8230) as WebAuthn uses them.

use ciborium::Value;
use der::Encode;
use der::asn1::{Any, BitString, UintRef};
use pki::alg::{EcdsaEncoding, HashAlg, SignatureScheme, oid};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::WebAuthnError;

/// COSE algorithm ES256 (ECDSA with SHA-256).
pub const ES256: i64 = -7;
/// COSE algorithm ES384.
pub const ES384: i64 = -35;
/// COSE algorithm ES512.
pub const ES512: i64 = -36;
/// COSE algorithm EdDSA.
pub const EDDSA: i64 = -8;
/// COSE algorithm PS256 (RSASSA-PSS with SHA-256).
pub const PS256: i64 = -37;
/// COSE algorithm RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
pub const RS256: i64 = -257;
/// COSE algorithm RS384.
pub const RS384: i64 = -258;
/// COSE algorithm RS512.
pub const RS512: i64 = -259;
/// COSE algorithm RS1 (RSASSA-PKCS1-v1_5 with SHA-1; Windows Hello TPMs).
pub const RS1: i64 = -65535;

/// The `pki` scheme of a COSE algorithm; ECDSA signatures are DER as WebAuthn sends them.
pub fn scheme(alg: i64) -> Result<SignatureScheme, WebAuthnError> {
    let ecdsa = |hash| SignatureScheme::Ecdsa {
        hash,
        encoding: EcdsaEncoding::Der,
    };
    Ok(match alg {
        ES256 => ecdsa(HashAlg::Sha256),
        ES384 => ecdsa(HashAlg::Sha384),
        ES512 => ecdsa(HashAlg::Sha512),
        EDDSA => SignatureScheme::Ed25519,
        PS256 => SignatureScheme::RsaPss {
            hash: HashAlg::Sha256,
            salt_len: 32,
        },
        RS256 => SignatureScheme::RsaPkcs1v15(HashAlg::Sha256),
        RS384 => SignatureScheme::RsaPkcs1v15(HashAlg::Sha384),
        RS512 => SignatureScheme::RsaPkcs1v15(HashAlg::Sha512),
        RS1 => SignatureScheme::RsaPkcs1v15(HashAlg::Sha1),
        other => return Err(WebAuthnError::UnsupportedAlgorithm(other)),
    })
}

/// A credential public key (COSE_Key), with the equivalent SubjectPublicKeyInfo.
///
/// ```text
/// EC2: { 1 (kty): 2, 3 (alg): int, -1 (crv): 1|2|3, -2 (x): bytes, -3 (y): bytes }
/// RSA: { 1 (kty): 3, 3 (alg): int, -1 (n): bytes, -2 (e): bytes }
/// OKP: { 1 (kty): 1, 3 (alg): int, -1 (crv): 6, -2 (x): bytes }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoseKey {
    /// The `alg` parameter, when present.
    pub alg: Option<i64>,
    spki: SubjectPublicKeyInfoOwned,
}

fn bad(reason: impl ToString) -> WebAuthnError {
    WebAuthnError::CoseKey(reason.to_string())
}

fn spki(
    alg: AlgorithmIdentifierOwned,
    key: &[u8],
) -> Result<SubjectPublicKeyInfoOwned, WebAuthnError> {
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: alg,
        subject_public_key: BitString::from_bytes(key).map_err(bad)?,
    })
}

impl CoseKey {
    /// The key as a SubjectPublicKeyInfo.
    pub fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    pub(crate) fn from_value(value: Value) -> Result<Self, WebAuthnError> {
        let Value::Map(entries) = value else {
            return Err(bad("not a map"));
        };
        let mut params: Vec<(i64, Value)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let Value::Integer(k) = k else {
                // Text labels are allowed by COSE but carry nothing WebAuthn uses.
                continue;
            };
            let k = i64::try_from(k).map_err(|_| bad("label out of range"))?;
            if params.iter().any(|(seen, _)| *seen == k) {
                return Err(bad(format!("label {k} repeated")));
            }
            params.push((k, v));
        }
        let get = |label: i64| params.iter().find(|(k, _)| *k == label).map(|(_, v)| v);
        let int = |label: i64, what: &str| -> Result<i64, WebAuthnError> {
            match get(label) {
                Some(Value::Integer(i)) => {
                    i64::try_from(*i).map_err(|_| bad(format!("{what} out of range")))
                }
                Some(_) => Err(bad(format!("{what} is not an integer"))),
                None => Err(bad(format!("{what} missing"))),
            }
        };
        let bytes = |label: i64, what: &str| -> Result<&[u8], WebAuthnError> {
            match get(label) {
                Some(Value::Bytes(b)) => Ok(b),
                Some(_) => Err(bad(format!("{what} is not a byte string"))),
                None => Err(bad(format!("{what} missing"))),
            }
        };
        let alg = match get(3) {
            None => None,
            Some(_) => Some(int(3, "alg")?),
        };
        let spki = match int(1, "kty")? {
            2 => {
                let (curve, len) = match int(-1, "crv")? {
                    1 => (oid::SECP256R1, 32),
                    2 => (oid::SECP384R1, 48),
                    3 => (oid::SECP521R1, 66),
                    c => return Err(bad(format!("unsupported EC2 curve {c}"))),
                };
                let (x, y) = (bytes(-2, "x")?, bytes(-3, "y")?);
                if x.len() != len || y.len() != len {
                    return Err(bad(format!(
                        "coordinates of {} and {} bytes, expected {len}",
                        x.len(),
                        y.len()
                    )));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                let alg = AlgorithmIdentifierOwned {
                    oid: oid::EC_PUBLIC_KEY,
                    parameters: Some(Any::encode_from(&curve).map_err(bad)?),
                };
                spki(alg, &point)?
            }
            3 => {
                let n = UintRef::new(bytes(-1, "n")?).map_err(bad)?;
                let e = UintRef::new(bytes(-2, "e")?).map_err(bad)?;
                let key = pkcs1::RsaPublicKey {
                    modulus: n,
                    public_exponent: e,
                }
                .to_der()
                .map_err(bad)?;
                let alg = AlgorithmIdentifierOwned {
                    oid: oid::RSA_ENCRYPTION,
                    parameters: Some(Any::null()),
                };
                spki(alg, &key)?
            }
            1 => {
                if int(-1, "crv")? != 6 {
                    return Err(bad("unsupported OKP curve"));
                }
                let x = bytes(-2, "x")?;
                if x.len() != 32 {
                    return Err(bad("Ed25519 key is not 32 bytes"));
                }
                let alg = AlgorithmIdentifierOwned {
                    oid: oid::ED25519,
                    parameters: None,
                };
                spki(alg, x)?
            }
            k => return Err(bad(format!("unsupported kty {k}"))),
        };
        Ok(Self { alg, spki })
    }
}

/// Check that COSE algorithm `alg` can be used with the key in `spki` (ES256 with P-256, RS256
/// with RSA, ...).
pub fn check_alg_fits_key(alg: i64, spki: &SubjectPublicKeyInfoOwned) -> Result<(), WebAuthnError> {
    use pki::alg::Curve;
    use pki::key::KeyKind;
    let kind = pki::public_key::kind(spki).map_err(|e| WebAuthnError::CoseKey(e.to_string()))?;
    let fits = matches!(
        (alg, kind),
        (ES256, KeyKind::Ec(Curve::P256))
            | (ES384, KeyKind::Ec(Curve::P384))
            | (ES512, KeyKind::Ec(Curve::P521))
            | (EDDSA, KeyKind::Ed25519)
            | (RS256 | RS384 | RS512 | RS1 | PS256, KeyKind::Rsa { .. })
    );
    if fits {
        Ok(())
    } else {
        Err(WebAuthnError::AlgorithmKeyMismatch {
            alg,
            key: format!("{kind:?}"),
        })
    }
}
