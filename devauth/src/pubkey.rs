//! Device public keys: PKIX `PUBLIC KEY` PEM only, normalised before they are stored or
//! compared.
//!
//! ```text
//! SubjectPublicKeyInfo  ::=  SEQUENCE  {            -- RFC 5280 section 4.1
//!      algorithm            AlgorithmIdentifier,    -- rsaEncryption, id-ecPublicKey
//!      subjectPublicKey     BIT STRING  }           --   (P-256/384/521), id-Ed25519
//! ```

use der::Encode as _;
use pki::alg::{EcdsaEncoding, HashAlg, SignatureScheme};
use pki::key::KeyKind;
use spki::SubjectPublicKeyInfoOwned;

use crate::{Error, Result};

/// A device's public key, parsed and re-encoded in canonical form.
///
/// Two keys are equal exactly when their DER encodings are, whatever the PEM line layout or
/// trailing newline the device sent.
#[derive(Debug, Clone)]
pub struct DevicePublicKey {
    spki: SubjectPublicKeyInfoOwned,
    der: Vec<u8>,
    pem: String,
    kind: KeyKind,
}

impl PartialEq for DevicePublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}
impl Eq for DevicePublicKey {}

impl core::hash::Hash for DevicePublicKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.der.hash(state)
    }
}

/// Largest PEM accepted (an RSA-8192 key is about 1.5 KiB of PEM).
pub const MAX_PEM_LEN: usize = 8 * 1024;

impl DevicePublicKey {
    /// Parse a PKIX `PUBLIC KEY` PEM (RSA, EC P-256/P-384/P-521 or Ed25519).
    ///
    /// A PKCS#1 `RSA PUBLIC KEY` is [`Error::Pkcs1PublicKey`]; any other label, bad base64, bad
    /// DER, a DSA key or another unsupported algorithm is [`Error::BadPublicKey`].
    pub fn from_pem(pem: &str) -> Result<Self> {
        if pem.len() > MAX_PEM_LEN {
            return Err(Error::BadPublicKey(format!(
                "PEM is {} bytes, over the limit of {MAX_PEM_LEN}",
                pem.len()
            )));
        }
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| Error::BadPublicKey(format!("not a PEM block: {e}")))?;
        match label {
            "PUBLIC KEY" => Self::from_der(&der),
            "RSA PUBLIC KEY" => Err(Error::Pkcs1PublicKey),
            other => Err(Error::BadPublicKey(format!(
                "expected a \"PUBLIC KEY\" PEM block, found \"{other}\""
            ))),
        }
    }

    /// Parse a DER `SubjectPublicKeyInfo`.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let spki =
            pki::public_key::from_der(der).map_err(|e| Error::BadPublicKey(e.to_string()))?;
        Self::from_spki(spki)
    }

    /// Take a parsed `SubjectPublicKeyInfo` (checks the algorithm and the key's encoding).
    pub fn from_spki(spki: SubjectPublicKeyInfoOwned) -> Result<Self> {
        let kind = pki::public_key::kind(&spki).map_err(|e| Error::BadPublicKey(e.to_string()))?;
        match kind {
            KeyKind::Rsa { .. } | KeyKind::Ec(_) => {}
            KeyKind::Ed25519 => {
                if spki.algorithm.parameters.is_some()
                    || spki.subject_public_key.as_bytes().map(<[u8]>::len) != Some(32)
                {
                    return Err(Error::BadPublicKey(
                        "Ed25519 key must be 32 bytes without parameters".into(),
                    ));
                }
            }
            other => {
                return Err(Error::BadPublicKey(format!(
                    "unsupported key kind {other:?}"
                )));
            }
        }
        let der = spki
            .to_der()
            .map_err(|e| Error::BadPublicKey(format!("re-encoding: {e}")))?;
        let pem = der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &der)
            .map_err(|e| Error::BadPublicKey(format!("re-encoding: {e}")))?;
        Ok(Self {
            spki,
            der,
            pem,
            kind,
        })
    }

    /// The key's kind and size.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The canonical DER `SubjectPublicKeyInfo`.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The canonical PEM (64-column lines, `\n` endings, trailing newline), as stored and shown.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The parsed `SubjectPublicKeyInfo`.
    pub fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    /// The scheme Mender devices sign auth requests with for this key: RSA PKCS#1 v1.5 with
    /// SHA-256, ECDSA with SHA-256 on every curve (DER signatures), or Ed25519.
    pub fn auth_request_scheme(&self) -> SignatureScheme {
        match self.kind {
            KeyKind::Ec(_) => SignatureScheme::Ecdsa {
                hash: HashAlg::Sha256,
                encoding: EcdsaEncoding::Der,
            },
            KeyKind::Ed25519 => SignatureScheme::Ed25519,
            _ => SignatureScheme::RsaPkcs1v15(HashAlg::Sha256),
        }
    }
}
