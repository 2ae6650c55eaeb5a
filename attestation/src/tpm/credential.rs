//! Credential activation, server side: TPM2_MakeCredential computed outside the TPM (TPM 2.0
//! Part 1, sections 24 "Credential Protection" and 11.4.9-11.4.10 "KDFa/KDFe"; Part 3,
//! section 12.6), and the credential file `tpm2_makecredential` writes.
//!
//! ```text
//!   seed        RSA EK: random, |H_nameAlg|, sent as RSA-OAEP(H_nameAlg, label "IDENTITY\0")
//!               ECC EK: KDFe(H, Z = ECDH(ephemeral, EK).x, "IDENTITY", ephemeral.x, EK.x),
//!                       sent as the ephemeral TPMS_ECC_POINT
//!   symKey      = KDFa(H, seed, "STORAGE", Name(AK), "", EK symmetric keyBits)
//!   encIdentity = AES-CFB(symKey, IV = 0, TPM2B_DIGEST(credential))
//!   hmacKey     = KDFa(H, seed, "INTEGRITY", "", "", |H| * 8)
//!   outerHMAC   = HMAC_H(hmacKey, encIdentity || Name(AK))
//!   TPM2B_ID_OBJECT = u16 size || TPM2B_DIGEST(outerHMAC) || encIdentity
//! ```
//!
//! Every key operation goes through the caller's [`CryptoProvider`]: the labelled OAEP
//! ([`CryptoProvider::rsa_oaep_encrypt`]), the ephemeral ECDH
//! ([`CryptoProvider::ecdh_ephemeral`]), the HMACs of KDFa and of the outer integrity value
//! ([`CryptoProvider::hmac`]), KDFe's digests and the AES-CFB wrap
//! ([`CryptoProvider::aes_cfb_encrypt`]). This module only lays out the bytes.

use pki::alg::{Curve, HashAlg};
use pki::provider::CryptoProvider;
use rand_core::CryptoRng;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::alg;
use super::name::Name;
use super::public::{Parameters, Public, SymDefObject, Unique};
use super::wire::{Reader, Writer, hex};
use crate::{Error, Result};

/// Largest credential accepted (TPM2B_DIGEST: the credential is a digest-sized secret).
pub const MAX_CREDENTIAL: usize = alg::MAX_DIGEST;
/// Magic that opens a `tpm2_makecredential` output file.
pub const TPM2_TOOLS_MAGIC: u32 = 0xBADC_C0DE;
/// Largest TPM2B_ID_OBJECT / TPM2B_ENCRYPTED_SECRET accepted.
const MAX_BLOB: usize = 1024;

/// The output of TPM2_MakeCredential: what the device hands to TPM2_ActivateCredential.
///
/// ```text
/// credentialBlob: TPM2B_ID_OBJECT        { integrityHMAC: TPM2B_DIGEST, encIdentity: BYTE[] }
/// secret:         TPM2B_ENCRYPTED_SECRET (RSA: OAEP ciphertext; ECC: marshalled TPMS_ECC_POINT)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialBlob {
    /// The TPM2B_ID_OBJECT contents (without its size).
    pub credential_blob: Vec<u8>,
    /// The TPM2B_ENCRYPTED_SECRET contents (without its size).
    pub secret: Vec<u8>,
}

impl CredentialBlob {
    /// The file `tpm2_makecredential -o` writes and `tpm2_activatecredential -i` reads:
    /// `u32 0xBADCC0DE || u32 version 1 || TPM2B_ID_OBJECT || TPM2B_ENCRYPTED_SECRET`.
    pub fn to_tpm2_tools(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(TPM2_TOOLS_MAGIC)
            .u32(1)
            .tpm2b(&self.credential_blob)
            .tpm2b(&self.secret);
        w.into_vec()
    }

    /// Parse a `tpm2_makecredential` output file.
    pub fn parse_tpm2_tools(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "tpm2-tools credential file";
        let mut r = Reader::new(bytes);
        let magic = r.u32(WHAT)?;
        if magic != TPM2_TOOLS_MAGIC {
            return Err(Error::Malformed {
                what: WHAT,
                reason: format!("magic 0x{magic:08x}, expected 0xbadcc0de"),
            });
        }
        let version = r.u32(WHAT)?;
        if version != 1 {
            return Err(Error::Malformed {
                what: WHAT,
                reason: format!("version {version}, expected 1"),
            });
        }
        let credential_blob = r.tpm2b("TPM2B_ID_OBJECT", MAX_BLOB)?.to_vec();
        let secret = r.tpm2b("TPM2B_ENCRYPTED_SECRET", MAX_BLOB)?.to_vec();
        r.finish(WHAT)?;
        // The ID object must at least hold its integrity HMAC.
        let mut ir = Reader::new(&credential_blob);
        ir.tpm2b("TPMS_ID_OBJECT.integrityHMAC", alg::MAX_DIGEST)?;
        Ok(Self {
            credential_blob,
            secret,
        })
    }

    /// The fields as the TPM spec names them.
    pub fn to_json(&self) -> Value {
        let mut r = Reader::new(&self.credential_blob);
        let hmac = r
            .tpm2b("integrityHMAC", alg::MAX_DIGEST)
            .map(hex)
            .unwrap_or_default();
        let rest = r.bytes(r.remaining(), "encIdentity").unwrap_or_default();
        json!({
            "credentialBlob": { "integrityHMAC": hmac, "encIdentity": hex(rest) },
            "secret": hex(&self.secret),
        })
    }
}

/// The digests a TPM KDF may run on (the TPM algorithms `alg::hash` knows but SHA-224).
fn kdf_hash(hash: u16) -> Result<HashAlg> {
    match alg::hash(hash)? {
        HashAlg::Sha224 => Err(Error::ApiMisuse("hash not usable in a TPM KDF")),
        h => Ok(h),
    }
}

/// KDFa (Part 1, section 11.4.10.2; SP 800-108 counter mode with HMAC):
/// `HMAC(key, [i]_32 || label || 0x00 || contextU || contextV || [bits]_32)` for i = 1, 2, ...
/// `label` is given without its terminating zero. The HMACs run on `provider`.
pub fn kdfa(
    provider: &dyn CryptoProvider,
    hash: u16,
    key: &[u8],
    label: &str,
    context_u: &[u8],
    context_v: &[u8],
    bits: u32,
) -> Result<Vec<u8>> {
    let h = kdf_hash(hash)?;
    let len = bits.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(len + h.output_len());
    let mut counter: u32 = 1;
    while out.len() < len {
        out.extend(provider.hmac(
            h,
            key,
            &[
                &counter.to_be_bytes(),
                label.as_bytes(),
                &[0],
                context_u,
                context_v,
                &bits.to_be_bytes(),
            ],
        )?);
        counter += 1;
    }
    out.truncate(len);
    if !bits.is_multiple_of(8)
        && let Some(first) = out.first_mut()
    {
        *first &= 0xff >> (8 - bits % 8);
    }
    Ok(out)
}

/// KDFe (Part 1, section 11.4.10.3; SP 800-56A concatenation KDF):
/// `H([i]_32 || Z || label || 0x00 || partyUInfo || partyVInfo)` for i = 1, 2, ...
/// The digests run on `provider`.
pub fn kdfe(
    provider: &dyn CryptoProvider,
    hash: u16,
    z: &[u8],
    label: &str,
    party_u: &[u8],
    party_v: &[u8],
    bits: u32,
) -> Result<Vec<u8>> {
    let h = kdf_hash(hash)?;
    let len = bits.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(len + h.output_len());
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut input = counter.to_be_bytes().to_vec();
        input.extend_from_slice(z);
        input.extend_from_slice(label.as_bytes());
        input.push(0);
        input.extend_from_slice(party_u);
        input.extend_from_slice(party_v);
        out.extend(provider.digest(h, &input));
        counter += 1;
    }
    out.truncate(len);
    Ok(out)
}

/// TPM2_MakeCredential for the key named `name` (the AK), protected to `ek` (a storage key:
/// the EK). `credential` is the secret the TPM will release only if both keys are resident.
///
/// RSA EKs get an OAEP-encrypted seed; ECC EKs (P-256, P-384) an ephemeral ECDH point. The
/// EK's symmetric definition must be AES-CFB, as in every EK template.
pub fn make_credential(
    provider: &dyn CryptoProvider,
    ek: &Public,
    name: &Name,
    credential: &[u8],
    rng: &mut dyn CryptoRng,
) -> Result<CredentialBlob> {
    if credential.len() > MAX_CREDENTIAL {
        return Err(Error::TooLarge {
            what: "credential",
            len: credential.len(),
            limit: MAX_CREDENTIAL,
        });
    }
    let name_alg = ek.name_alg;
    let h = kdf_hash(name_alg)?;
    let (seed, secret, sym) = match (&ek.parameters, &ek.unique) {
        (Parameters::Rsa(p), Unique::Rsa(_)) => {
            let mut seed = Zeroizing::new(vec![0u8; h.output_len()]);
            rng.fill_bytes(&mut seed);
            // RSA-OAEP with the EK's nameAlg for the label hash and MGF1, label "IDENTITY\0".
            let secret = provider
                .rsa_oaep_encrypt(&ek.spki()?, h, b"IDENTITY\0", &seed, rng)
                .map_err(|e| match e {
                    pki::Error::BadPublicKey(why) => {
                        Error::KeyNotAcceptable(format!("RSA EK: {why}"))
                    }
                    other => Error::Pki(other),
                })?;
            (seed, secret, p.symmetric)
        }
        (Parameters::Ecc(p), Unique::Ecc { x, y }) => {
            let EccSecret {
                z,
                ephemeral_x,
                point,
            } = ecdh(provider, p.curve_id, x, y, rng)?;
            let seed = Zeroizing::new(kdfe(
                provider,
                name_alg,
                &z,
                "IDENTITY",
                &ephemeral_x,
                x,
                (h.output_len() * 8) as u32,
            )?);
            (seed, point, p.symmetric)
        }
        _ => {
            return Err(Error::KeyNotAcceptable(
                "the EK is neither an RSA nor an ECC key".into(),
            ));
        }
    };
    if sym
        != (SymDefObject {
            algorithm: alg::AES,
            key_bits: sym.key_bits,
            mode: alg::CFB,
        })
        || !matches!(sym.key_bits, 128 | 192 | 256)
    {
        return Err(Error::KeyNotAcceptable(format!(
            "the EK's symmetric algorithm is {}-{}-{}, not AES-CFB",
            alg::name(sym.algorithm),
            sym.key_bits,
            alg::name(sym.mode)
        )));
    }
    let sym_key = Zeroizing::new(kdfa(
        provider,
        name_alg,
        &seed,
        "STORAGE",
        name.as_bytes(),
        &[],
        u32::from(sym.key_bits),
    )?);
    let mut enc_identity = Writer::new();
    enc_identity.tpm2b(credential);
    let mut enc_identity = enc_identity.into_vec();
    // AES-CFB with an all-zero IV (Part 1, section 24.4).
    provider.aes_cfb_encrypt(&sym_key, &[0u8; 16], &mut enc_identity)?;
    let hmac_key = Zeroizing::new(kdfa(
        provider,
        name_alg,
        &seed,
        "INTEGRITY",
        &[],
        &[],
        (h.output_len() * 8) as u32,
    )?);
    let outer = provider.hmac(h, &hmac_key, &[&enc_identity, name.as_bytes()])?;
    let mut blob = Writer::new();
    blob.tpm2b(&outer).bytes(&enc_identity);
    Ok(CredentialBlob {
        credential_blob: blob.into_vec(),
        secret,
    })
}

/// What an ephemeral ECDH against an ECC EK gives MakeCredential.
struct EccSecret {
    /// Z, the shared x coordinate (KDFe's secret input).
    z: Zeroizing<Vec<u8>>,
    /// The ephemeral public key's x coordinate (KDFe's partyUInfo).
    ephemeral_x: Vec<u8>,
    /// The ephemeral public key as a marshalled TPMS_ECC_POINT (the encrypted secret).
    point: Vec<u8>,
}

/// Ephemeral ECDH against the EK on `provider`.
fn ecdh(
    provider: &dyn CryptoProvider,
    curve_id: u16,
    x: &[u8],
    y: &[u8],
    rng: &mut dyn CryptoRng,
) -> Result<EccSecret> {
    let curve = match curve_id {
        alg::ECC_NIST_P256 => Curve::P256,
        alg::ECC_NIST_P384 => Curve::P384,
        other => {
            return Err(Error::UnsupportedAlgorithm {
                what: "EK curve for credential activation",
                alg: other,
            });
        }
    };
    let len = curve.scalar_len();
    // The EK point as SEC1 uncompressed, each coordinate left-padded to the field size.
    let mut sec1 = vec![4u8];
    for c in [x, y] {
        let lead = c.iter().take_while(|b| **b == 0).count();
        let c = c.get(lead..).unwrap_or_default();
        if c.len() > len {
            return Err(Error::Malformed {
                what: "TPMS_ECC_POINT",
                reason: "coordinate too long".into(),
            });
        }
        sec1.resize(sec1.len() + len - c.len(), 0);
        sec1.extend_from_slice(c);
    }
    let agreement = provider
        .ecdh_ephemeral(curve, &sec1, rng)
        .map_err(|e| match e {
            pki::Error::BadPublicKey(_) => Error::Malformed {
                what: "TPMS_ECC_POINT",
                reason: "the EK point is not on the curve".into(),
            },
            other => Error::Pki(other),
        })?;
    let point = &agreement.ephemeral_public;
    let (Some(ex), Some(ey)) = (point.get(1..1 + len), point.get(1 + len..)) else {
        return Err(Error::ApiMisuse("unexpected SEC1 point length"));
    };
    if point.len() != 1 + 2 * len {
        return Err(Error::ApiMisuse("unexpected SEC1 point length"));
    }
    let mut marshalled = Writer::new();
    marshalled.tpm2b(ex).tpm2b(ey);
    Ok(EccSecret {
        z: agreement.shared_x,
        ephemeral_x: ex.to_vec(),
        point: marshalled.into_vec(),
    })
}
