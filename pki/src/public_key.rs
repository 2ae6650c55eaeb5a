//! Facts about a `SubjectPublicKeyInfo`: its kind, fingerprint and key identifier.

use der::Encode;
use sha1::Digest as _;
use spki::SubjectPublicKeyInfoOwned;

use crate::alg::{Curve, oid};
use crate::key::KeyKind;
use crate::{Error, Result};

/// The kind and size of the key in `spki`.
pub fn kind(spki: &SubjectPublicKeyInfoOwned) -> Result<KeyKind> {
    match spki.algorithm.oid {
        oid::RSA_ENCRYPTION => {
            use der::Decode;
            let bytes = spki.subject_public_key.as_bytes().ok_or_else(|| {
                Error::BadPublicKey("RSA key bit string is not whole bytes".into())
            })?;
            let key = pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(bytes)
                .map_err(|e| Error::BadPublicKey(format!("RSA public key: {e}")))?;
            let n = key.modulus.as_bytes();
            let lead = n.iter().take_while(|b| **b == 0).count();
            let n = &n[lead..];
            let bits = match n.first() {
                None => 0,
                Some(b) => n.len() * 8 - b.leading_zeros() as usize,
            };
            Ok(KeyKind::Rsa { bits })
        }
        oid::EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .ok_or_else(|| Error::BadPublicKey("EC key without a named curve".into()))?
                .decode_as::<der::asn1::ObjectIdentifier>()
                .map_err(|e| Error::BadPublicKey(format!("EC parameters: {e}")))?;
            Ok(KeyKind::Ec(Curve::from_oid(&curve)?))
        }
        oid::ED25519 => Ok(KeyKind::Ed25519),
        other => Err(Error::UnsupportedAlgorithm {
            what: "public key algorithm",
            oid: other.to_string(),
        }),
    }
}

/// SHA-256 of the DER encoding of the whole `SubjectPublicKeyInfo` (the SPKI fingerprint used
/// by certificate pinning, Smallstep EK URIs and `openssl pkey -pubout -outform DER | sha256sum`).
pub fn fingerprint_sha256(spki: &SubjectPublicKeyInfoOwned) -> Result<[u8; 32]> {
    let der = spki
        .to_der()
        .map_err(|e| Error::malformed("SubjectPublicKeyInfo", e))?;
    Ok(sha2::Sha256::digest(&der).into())
}

/// The key identifier of RFC 5280 section 4.2.1.2, method (1): SHA-1 of the value of the
/// `subjectPublicKey` BIT STRING (excluding tag, length and unused-bits octet).
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> [u8; 20] {
    sha1::Sha1::digest(spki.subject_public_key.raw_bytes()).into()
}

/// Parse a DER `SubjectPublicKeyInfo`, refusing trailing bytes.
pub fn from_der(der: &[u8]) -> Result<SubjectPublicKeyInfoOwned> {
    use der::Decode;
    SubjectPublicKeyInfoOwned::from_der(der)
        .map_err(|e| Error::malformed("SubjectPublicKeyInfo", e))
}
