//! PKCS#12 (RFC 7292): the certificate and private key out of a password-protected `.p12` /
//! `.pfx` file, such as an APNs push certificate exported from macOS Keychain Access or made by
//! `openssl pkcs12 -export`.
//!
//! ```text
//! PFX ::= SEQUENCE {                                   -- RFC 7292 section 4
//!     version     INTEGER {v3(3)},
//!     authSafe    ContentInfo,        -- id-data: OCTET STRING holding an AuthenticatedSafe
//!     macData     MacData OPTIONAL }
//! MacData ::= SEQUENCE {
//!     mac         DigestInfo,         -- HMAC over the authSafe content octets
//!     macSalt     OCTET STRING,
//!     iterations  INTEGER DEFAULT 1 }
//! AuthenticatedSafe ::= SEQUENCE OF ContentInfo  -- id-data, or id-encryptedData (password)
//! SafeContents ::= SEQUENCE OF SafeBag
//! SafeBag ::= SEQUENCE {
//!     bagId          OBJECT IDENTIFIER,  -- keyBag, pkcs8ShroudedKeyBag, certBag, ...
//!     bagValue       [0] EXPLICIT ANY DEFINED BY bagId,
//!     bagAttributes  SET OF PKCS12Attribute OPTIONAL }
//! ```
//!
//! Read: password integrity (an HMAC with SHA-1/224/256/384/512, key from the PKCS#12 KDF of
//! RFC 7292 appendix B) and password privacy with PBES2 (PBKDF2 + AES-CBC or 3DES-CBC, what
//! OpenSSL 3 writes by default) or the PKCS#12 PBE schemes (`pbeWithSHAAnd3-KeyTripleDES-CBC`,
//! `...2-KeyTripleDES-CBC`, `...128BitRC2-CBC`, `...40BitRC2-CBC`: `openssl pkcs12 -legacy` and
//! Keychain exports). BER input (indefinite lengths, constructed strings) is accepted at every
//! layer. Not read: public-key privacy and integrity modes (an `envelopedData` or `signedData`
//! authSafe), RC4, PBMAC1 (RFC 9579), scrypt, and nested `safeContentsBag`s.
//!
//! Decryption and the MAC use RustCrypto code directly: they only open the file, and no provider
//! is involved. The provider passed to [`Pkcs12::parse`] loads the private key, so that the key
//! is checked against the certificate with the same code that will use it.

use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use digest::Digest;
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier as Oid};
use x509_cert::attr::Attribute;
use zeroize::Zeroizing;

use crate::alg::HashAlg;
use crate::cert::Cert;
use crate::provider::CryptoProvider;
use crate::{Error, Result, ber};

/// Most iterations accepted for a key derivation (MAC key, PBE key, PBKDF2). OpenSSL and
/// Keychain use 2,048 or fewer; a larger count is refused before any work is done, so a hostile
/// file cannot make the reader spin.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// Largest `.p12` accepted, in bytes.
pub const MAX_LEN: usize = 1 << 20;

/// Why a PKCS#12 file could not be read (wrapped in [`Error::Pkcs12`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs12Error {
    /// Nothing opens with this password: the MAC does not verify and the encrypted parts do not
    /// decrypt (or, in a file without a MAC, do not decrypt to anything readable). A file
    /// damaged inside its encrypted parts reads the same way: without the right password the
    /// two cannot be told apart.
    #[error("wrong password (the MAC does not verify and the contents do not decrypt)")]
    WrongPassword,
    /// The encrypted parts open with this password but the MAC does not verify: the file was
    /// altered after it was made.
    #[error("the MAC does not verify, although the contents decrypt: the file was altered")]
    BadMac,
    /// The file holds no private key (a certificate-only export).
    #[error("the file holds no private key")]
    NoKey,
    /// The file holds more than one private key, so which certificate is meant is unclear.
    #[error("the file holds {count} private keys, expected one")]
    SeveralKeys {
        /// How many key bags were found.
        count: usize,
    },
    /// The file holds no X.509 certificate.
    #[error("the file holds no X.509 certificate")]
    NoCertificate,
    /// No certificate in the file carries the private key's public key.
    #[error("no certificate in the file matches the private key")]
    KeyMismatch,
    /// A key derivation asks for more iterations than [`MAX_ITERATIONS`].
    #[error("{iterations} iterations asked for, over the limit of {limit}")]
    TooManyIterations {
        /// The count in the file.
        iterations: u64,
        /// The limit in force.
        limit: u32,
    },
    /// A privacy or integrity mode this reader does not implement (see the module docs).
    #[error("unsupported PKCS#12 mode: {0}")]
    UnsupportedMode(String),
}

impl From<Pkcs12Error> for Error {
    fn from(e: Pkcs12Error) -> Self {
        Error::Pkcs12(e)
    }
}

/// What a PKCS#12 file held: one private key and the certificate for it, plus any other
/// certificates (the chain, in file order).
pub struct Pkcs12 {
    certificate: Cert,
    private_key: Zeroizing<Vec<u8>>,
    chain: Vec<Cert>,
    friendly_name: Option<String>,
}

impl core::fmt::Debug for Pkcs12 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pkcs12")
            .field("certificate", &self.certificate.subject_string())
            .field("chain", &self.chain.len())
            .field("friendly_name", &self.friendly_name)
            .finish_non_exhaustive()
    }
}

impl Pkcs12 {
    /// Open a PKCS#12 file (DER or BER) with `password` and return the private key with its
    /// certificate.
    ///
    /// The MAC is checked first when there is one; the key is then loaded through `provider`
    /// and the certificate is the one whose public key equals the key's. Fails with
    /// [`Pkcs12Error`] (inside [`Error::Pkcs12`]) for a wrong password, an altered file, a file
    /// without a key or certificate, or a key no certificate matches, and with
    /// [`Error::Malformed`] / [`Error::UnsupportedAlgorithm`] for bytes that are not a PKCS#12
    /// file this reader can open. An empty password is tried both as the two-zero-byte
    /// BMPString and as no bytes at all, as OpenSSL does.
    pub fn parse(input: &[u8], password: &str, provider: &dyn CryptoProvider) -> Result<Self> {
        if input.len() > MAX_LEN {
            return Err(Error::TooLarge {
                what: "PKCS#12 file",
                len: input.len(),
                limit: MAX_LEN,
            });
        }
        let pfx: Pfx = decode_ber(input, "PFX")?;
        if pfx.version != 3 {
            return Err(Error::malformed(
                "PFX",
                format!("version {}, expected 3", pfx.version),
            ));
        }
        if pfx.auth_safe.content_type != ID_DATA {
            return Err(Pkcs12Error::UnsupportedMode(format!(
                "authSafe of content type {} (public-key integrity)",
                pfx.auth_safe.content_type
            ))
            .into());
        }
        let auth_safe = octets(&pfx.auth_safe.content, "authSafe content")?;
        let passwords = Passwords::new(password);

        // The MAC decides which spelling of the password the file was made with.
        let (bmp, mac_ok) = match &pfx.mac_data {
            None => (passwords.bmp[0].clone(), true),
            Some(mac) => {
                let mut found = None;
                for bmp in &passwords.bmp {
                    if mac.verify(bmp, &auth_safe)? {
                        found = Some(bmp.clone());
                        break;
                    }
                }
                match found {
                    Some(bmp) => (bmp, true),
                    None => (passwords.bmp[0].clone(), false),
                }
            }
        };
        let secrets = Secrets {
            bmp,
            utf8: passwords.utf8,
        };

        let contents = match read_contents(&auth_safe, &secrets) {
            Ok(c) => c,
            // Nothing opens and the MAC failed: the password, not the file, is wrong.
            Err(Error::DecryptionFailed) => return Err(Pkcs12Error::WrongPassword.into()),
            Err(e) if !mac_ok => {
                // Garbage after decryption with a wrong password reads as malformed DER.
                if matches!(e, Error::Malformed { .. }) {
                    return Err(Pkcs12Error::WrongPassword.into());
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        if !mac_ok {
            return Err(Pkcs12Error::BadMac.into());
        }
        contents.into_pkcs12(provider)
    }

    /// The certificate whose public key is the private key's.
    pub fn certificate(&self) -> &Cert {
        &self.certificate
    }

    /// The private key as PKCS#8 `PrivateKeyInfo` DER (zeroised on drop). Load it with
    /// [`CryptoProvider::private_key_from_pkcs8_der`].
    pub fn private_key_pkcs8_der(&self) -> &[u8] {
        &self.private_key
    }

    /// The other certificates in the file (issuers, usually), in file order.
    pub fn chain(&self) -> &[Cert] {
        &self.chain
    }

    /// The `friendlyName` attribute of the key or certificate bag, if the file has one
    /// (Keychain puts the certificate's common name there).
    pub fn friendly_name(&self) -> Option<&str> {
        self.friendly_name.as_deref()
    }
}

// ---- ASN.1 (RFC 7292 sections 4 and 4.2, RFC 5652 section 8, RFC 5208 section 6) ----

/// `PFX`.
#[derive(Sequence)]
struct Pfx {
    version: u8,
    auth_safe: ContentInfo,
    mac_data: Option<MacData>,
}

/// `ContentInfo` (RFC 5652 section 3) with the content kept as received.
#[derive(Sequence)]
struct ContentInfo {
    content_type: Oid,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    content: Option<Any>,
}

/// `MacData`.
#[derive(Sequence)]
struct MacData {
    mac: DigestInfo,
    mac_salt: OctetString,
    #[asn1(default = "one")]
    iterations: u64,
}

fn one() -> u64 {
    1
}

/// `DigestInfo` (RFC 8017 section 9.2).
#[derive(Sequence)]
struct DigestInfo {
    algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

/// `EncryptedData` (RFC 5652 section 8) with its `EncryptedContentInfo`.
#[derive(Sequence)]
struct EncryptedData {
    version: u8,
    encrypted_content_info: EncryptedContentInfo,
}

/// `EncryptedContentInfo` (RFC 5652 section 6.1).
#[derive(Sequence)]
struct EncryptedContentInfo {
    content_type: Oid,
    content_encryption_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    encrypted_content: Option<OctetString>,
}

/// `SafeBag`.
#[derive(Sequence)]
struct SafeBag {
    bag_id: Oid,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    bag_value: Any,
    bag_attributes: Option<SetOfVec<Attribute>>,
}

/// `CertBag`.
#[derive(Sequence)]
struct CertBag {
    cert_id: Oid,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    cert_value: OctetString,
}

/// `EncryptedPrivateKeyInfo` (RFC 5208 section 6).
#[derive(Sequence)]
struct EncryptedPrivateKeyInfo {
    encryption_algorithm: AlgorithmIdentifierOwned,
    encrypted_data: OctetString,
}

/// `pkcs-12PbeParams` (RFC 7292 appendix C).
#[derive(Sequence)]
struct Pkcs12PbeParams {
    salt: OctetString,
    iterations: u64,
}

const ID_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.6");
const KEY_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.1");
const PKCS8_SHROUDED_KEY_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.2");
const CERT_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.3");
const X509_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.22.1");
const FRIENDLY_NAME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.20");
const PBE_SHA1_RC4_128: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.1");
const PBE_SHA1_RC4_40: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.2");
const PBE_SHA1_3DES: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.3");
const PBE_SHA1_2DES: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.4");
const PBE_SHA1_RC2_128: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.5");
const PBE_SHA1_RC2_40: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.6");
const PBES2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.13");

/// Decode `T` from DER, or from BER converted to DER when the DER reading fails.
fn decode_ber<T: for<'a> Decode<'a>>(input: &[u8], what: &'static str) -> Result<T> {
    match T::from_der(input) {
        Ok(t) => Ok(t),
        Err(first) => {
            let limits = ber::Limits {
                max_len: MAX_LEN,
                ..ber::Limits::default()
            };
            let der = ber::to_der(input, &limits).map_err(|_| Error::malformed(what, first))?;
            T::from_der(&der).map_err(|e| Error::malformed(what, e))
        }
    }
}

/// The octets of an `id-data` content (`[0] EXPLICIT OCTET STRING`).
fn octets(content: &Option<Any>, what: &'static str) -> Result<Vec<u8>> {
    let any = content
        .as_ref()
        .ok_or_else(|| Error::malformed(what, "content absent"))?;
    any.decode_as::<OctetString>()
        .map(OctetString::into_bytes)
        .map(|b| b.into_vec())
        .map_err(|e| Error::malformed(what, e))
}

// ---- passwords and key derivation ----

/// The password spelt both ways a PKCS#12 file may use it.
struct Passwords {
    /// BMPString forms for the PKCS#12 KDF (MAC and PKCS#12 PBE): big-endian UTF-16 with two
    /// terminating zero bytes; for an empty password also the empty string.
    bmp: Vec<Zeroizing<Vec<u8>>>,
    /// The UTF-8 bytes, for PBES2 (RFC 8018 leaves the encoding to the application; OpenSSL
    /// passes the bytes as typed).
    utf8: Zeroizing<Vec<u8>>,
}

impl Passwords {
    fn new(password: &str) -> Self {
        let mut bmp: Vec<u8> = password.encode_utf16().flat_map(u16::to_be_bytes).collect();
        bmp.extend_from_slice(&[0, 0]);
        let mut forms = vec![Zeroizing::new(bmp)];
        if password.is_empty() {
            forms.push(Zeroizing::new(Vec::new()));
        }
        Passwords {
            bmp: forms,
            utf8: Zeroizing::new(password.as_bytes().to_vec()),
        }
    }
}

/// The password spellings chosen for this file.
struct Secrets {
    bmp: Zeroizing<Vec<u8>>,
    utf8: Zeroizing<Vec<u8>>,
}

/// The purpose byte of the PKCS#12 KDF (RFC 7292 appendix B.3).
#[derive(Clone, Copy)]
enum Purpose {
    Key = 1,
    Iv = 2,
    Mac = 3,
}

fn check_iterations(iterations: u64) -> Result<u32> {
    match u32::try_from(iterations) {
        Ok(n) if (1..=MAX_ITERATIONS).contains(&n) => Ok(n),
        Ok(0) => Err(Error::malformed("PKCS#12 iteration count", "zero")),
        _ => Err(Pkcs12Error::TooManyIterations {
            iterations,
            limit: MAX_ITERATIONS,
        }
        .into()),
    }
}

/// The PKCS#12 key derivation (RFC 7292 appendix B.2) with hash `D` of input block size `v`
/// bytes, giving `n` bytes.
fn kdf<D: Digest>(
    v: usize,
    password: &[u8],
    salt: &[u8],
    purpose: Purpose,
    iterations: u32,
    n: usize,
) -> Zeroizing<Vec<u8>> {
    // S and P: salt and password each repeated to a whole number of v-byte blocks.
    let stretch = |src: &[u8]| -> Vec<u8> {
        let len = v * src.len().div_ceil(v);
        src.iter().copied().cycle().take(len).collect()
    };
    let diversifier = vec![purpose as u8; v];
    let mut i = Zeroizing::new([stretch(salt), stretch(password)].concat());
    let mut out = Zeroizing::new(Vec::with_capacity(n));
    loop {
        let mut a = D::new()
            .chain_update(&diversifier)
            .chain_update(&*i)
            .finalize();
        for _ in 1..iterations {
            a = D::digest(&a);
        }
        let take = (n - out.len()).min(a.len());
        out.extend_from_slice(&a[..take]);
        if out.len() == n {
            return out;
        }
        // B = A repeated to v bytes; every v-byte block I_j of I becomes (I_j + B + 1) mod
        // 2^(8v).
        let b: Zeroizing<Vec<u8>> = Zeroizing::new(a.iter().copied().cycle().take(v).collect());
        for block in i.chunks_mut(v) {
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().zip(b.iter()).rev() {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum as u8;
                carry = sum >> 8;
            }
        }
    }
}

/// [`kdf`] with the hash named by `alg`.
fn kdf_with(
    alg: HashAlg,
    password: &[u8],
    salt: &[u8],
    purpose: Purpose,
    iterations: u32,
    n: usize,
) -> Zeroizing<Vec<u8>> {
    match alg {
        HashAlg::Sha1 => kdf::<sha1::Sha1>(64, password, salt, purpose, iterations, n),
        HashAlg::Sha224 => kdf::<sha2::Sha224>(64, password, salt, purpose, iterations, n),
        HashAlg::Sha256 => kdf::<sha2::Sha256>(64, password, salt, purpose, iterations, n),
        HashAlg::Sha384 => kdf::<sha2::Sha384>(128, password, salt, purpose, iterations, n),
        HashAlg::Sha512 => kdf::<sha2::Sha512>(128, password, salt, purpose, iterations, n),
    }
}

impl MacData {
    /// Whether the MAC over `content` verifies with the BMPString password `bmp`.
    fn verify(&self, bmp: &[u8], content: &[u8]) -> Result<bool> {
        use hmac::{KeyInit, Mac};
        use subtle::ConstantTimeEq;
        let alg = HashAlg::from_algorithm_identifier(&self.mac.algorithm).map_err(|_| {
            Pkcs12Error::UnsupportedMode(format!(
                "MAC digest {} (PBMAC1 or unknown)",
                self.mac.algorithm.oid
            ))
        })?;
        let iterations = check_iterations(self.iterations)?;
        let salt = self.mac_salt.as_bytes();
        let key = kdf_with(alg, bmp, salt, Purpose::Mac, iterations, alg.output_len());
        fn hmac<M: Mac + KeyInit>(key: &[u8], content: &[u8]) -> Vec<u8> {
            // HMAC takes a key of any length.
            let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
            m.update(content);
            m.finalize().into_bytes().to_vec()
        }
        let tag = match alg {
            HashAlg::Sha1 => hmac::<hmac::Hmac<sha1::Sha1>>(&key, content),
            HashAlg::Sha224 => hmac::<hmac::Hmac<sha2::Sha224>>(&key, content),
            HashAlg::Sha256 => hmac::<hmac::Hmac<sha2::Sha256>>(&key, content),
            HashAlg::Sha384 => hmac::<hmac::Hmac<sha2::Sha384>>(&key, content),
            HashAlg::Sha512 => hmac::<hmac::Hmac<sha2::Sha512>>(&key, content),
        };
        Ok(bool::from(tag.ct_eq(self.mac.digest.as_bytes())))
    }
}

// ---- decryption ----

/// Decrypt `data` under the password-based scheme `alg`. A wrong key (bad padding) is
/// [`Error::DecryptionFailed`].
fn decrypt(
    alg: &AlgorithmIdentifierOwned,
    secrets: &Secrets,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if alg.oid == PBES2 {
        return decrypt_pbes2(alg, &secrets.utf8, data);
    }
    let (key_len, iv_len) = match alg.oid {
        PBE_SHA1_3DES => (24, 8),
        PBE_SHA1_2DES => (16, 8),
        PBE_SHA1_RC2_128 => (16, 8),
        PBE_SHA1_RC2_40 => (5, 8),
        PBE_SHA1_RC4_128 | PBE_SHA1_RC4_40 => {
            return Err(Pkcs12Error::UnsupportedMode("RC4 encryption".into()).into());
        }
        other => {
            return Err(Error::UnsupportedAlgorithm {
                what: "PKCS#12 encryption",
                oid: other.to_string(),
            });
        }
    };
    let params: Pkcs12PbeParams = alg
        .parameters
        .as_ref()
        .ok_or_else(|| Error::malformed("pkcs-12PbeParams", "absent"))?
        .decode_as()
        .map_err(|e| Error::malformed("pkcs-12PbeParams", e))?;
    let iterations = check_iterations(params.iterations)?;
    let salt = params.salt.as_bytes();
    let pw = &secrets.bmp;
    let key = kdf_with(HashAlg::Sha1, pw, salt, Purpose::Key, iterations, key_len);
    let iv = kdf_with(HashAlg::Sha1, pw, salt, Purpose::Iv, iterations, iv_len);
    let plain = match alg.oid {
        PBE_SHA1_3DES => cbc_decrypt::<des::TdesEde3>(&key, &iv, data),
        PBE_SHA1_2DES => {
            // Two-key triple DES: K1 K2 K1.
            let mut k = Zeroizing::new(key.to_vec());
            k.extend_from_slice(&key[..8]);
            cbc_decrypt::<des::TdesEde3>(&k, &iv, data)
        }
        PBE_SHA1_RC2_128 => rc2_decrypt(&key, 128, &iv, data),
        _ => rc2_decrypt(&key, 40, &iv, data),
    }?;
    Ok(plain)
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>>
where
    C: cipher::BlockCipherDecrypt + cipher::KeyInit,
{
    use cipher::block_padding::Pkcs7;
    use cipher::{BlockModeDecrypt, KeyIvInit};
    let dec = cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| Error::ApiMisuse("PKCS#12 PBE key or IV length"))?;
    dec.decrypt_padded_vec::<Pkcs7>(data)
        .map(Zeroizing::new)
        .map_err(|_| Error::DecryptionFailed)
}

fn rc2_decrypt(
    key: &[u8],
    effective_bits: usize,
    iv: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    use cipher::block_padding::Pkcs7;
    use cipher::{BlockModeDecrypt, InnerIvInit};
    let rc2 = rc2::Rc2::new_with_eff_key_len(key, effective_bits);
    let dec = cbc::Decryptor::<rc2::Rc2>::inner_iv_slice_init(rc2, iv)
        .map_err(|_| Error::ApiMisuse("PKCS#12 PBE IV length"))?;
    dec.decrypt_padded_vec::<Pkcs7>(data)
        .map(Zeroizing::new)
        .map_err(|_| Error::DecryptionFailed)
}

fn decrypt_pbes2(
    alg: &AlgorithmIdentifierOwned,
    password: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    use pkcs5::pbes2::{Kdf, Parameters};
    let params_any = alg
        .parameters
        .as_ref()
        .ok_or_else(|| Error::malformed("PBES2-params", "absent"))?;
    let params = Parameters::try_from(der::asn1::AnyRef::from(params_any)).map_err(|e| {
        Error::UnsupportedAlgorithm {
            what: "PBES2 parameters",
            oid: e.to_string(),
        }
    })?;
    match &params.kdf {
        Kdf::Pbkdf2(p) => {
            check_iterations(u64::from(p.iteration_count))?;
        }
        _ => return Err(Pkcs12Error::UnsupportedMode("PBES2 with scrypt".into()).into()),
    }
    params
        .decrypt(password, data)
        .map(Zeroizing::new)
        .map_err(|e| match e {
            pkcs5::Error::DecryptFailed => Error::DecryptionFailed,
            other => Error::UnsupportedAlgorithm {
                what: "PBES2 scheme",
                oid: other.to_string(),
            },
        })
}

// ---- bags ----

/// The keys and certificates found in the bags, in file order.
#[derive(Default)]
struct Contents {
    keys: Vec<(Zeroizing<Vec<u8>>, Option<String>)>,
    certs: Vec<(Cert, Option<String>)>,
}

fn read_contents(auth_safe: &[u8], secrets: &Secrets) -> Result<Contents> {
    let infos: Vec<ContentInfo> = decode_ber(auth_safe, "AuthenticatedSafe")?;
    let mut contents = Contents::default();
    for info in infos {
        if info.content_type == ID_DATA {
            let safe = octets(&info.content, "SafeContents")?;
            contents.read_bags(&safe, secrets)?;
        } else if info.content_type == ID_ENCRYPTED_DATA {
            let any = info
                .content
                .as_ref()
                .ok_or_else(|| Error::malformed("EncryptedData", "content absent"))?;
            let ed: EncryptedData = any
                .decode_as()
                .map_err(|e| Error::malformed("EncryptedData", e))?;
            let eci = ed.encrypted_content_info;
            let ciphertext = eci
                .encrypted_content
                .ok_or_else(|| Error::malformed("EncryptedData", "encryptedContent absent"))?;
            let safe = decrypt(
                &eci.content_encryption_algorithm,
                secrets,
                ciphertext.as_bytes(),
            )?;
            contents.read_bags(&safe, secrets)?;
        } else {
            return Err(Pkcs12Error::UnsupportedMode(format!(
                "AuthenticatedSafe content of type {} (public-key privacy)",
                info.content_type
            ))
            .into());
        }
    }
    Ok(contents)
}

impl Contents {
    fn read_bags(&mut self, safe_contents: &[u8], secrets: &Secrets) -> Result<()> {
        let bags: Vec<SafeBag> = decode_ber(safe_contents, "SafeContents")?;
        for bag in bags {
            let name = friendly_name(bag.bag_attributes.as_ref());
            if bag.bag_id == KEY_BAG {
                let der = bag
                    .bag_value
                    .to_der()
                    .map_err(|e| Error::malformed("keyBag", e))?;
                self.keys.push((Zeroizing::new(der), name));
            } else if bag.bag_id == PKCS8_SHROUDED_KEY_BAG {
                let epki: EncryptedPrivateKeyInfo = bag
                    .bag_value
                    .decode_as()
                    .map_err(|e| Error::malformed("pkcs8ShroudedKeyBag", e))?;
                let der = decrypt(
                    &epki.encryption_algorithm,
                    secrets,
                    epki.encrypted_data.as_bytes(),
                )?;
                // A wrong password that happened to leave valid padding gives garbage here.
                let _: Any = Any::from_der(&der)
                    .map_err(|e| Error::malformed("decrypted PrivateKeyInfo", e))?;
                self.keys.push((der, name));
            } else if bag.bag_id == CERT_BAG {
                let cb: CertBag = bag
                    .bag_value
                    .decode_as()
                    .map_err(|e| Error::malformed("certBag", e))?;
                if cb.cert_id == X509_CERTIFICATE {
                    self.certs
                        .push((Cert::from_der(cb.cert_value.as_bytes())?, name));
                }
            }
            // CRL, secret and nested safe-contents bags carry nothing this reader returns.
        }
        Ok(())
    }

    fn into_pkcs12(mut self, provider: &dyn CryptoProvider) -> Result<Pkcs12> {
        let (key, key_name) = match self.keys.len() {
            0 => return Err(Pkcs12Error::NoKey.into()),
            1 => self.keys.remove(0),
            count => return Err(Pkcs12Error::SeveralKeys { count }.into()),
        };
        if self.certs.is_empty() {
            return Err(Pkcs12Error::NoCertificate.into());
        }
        let loaded = provider.private_key_from_pkcs8_der(&key)?;
        let spki = loaded.spki();
        let pos = self
            .certs
            .iter()
            .position(|(c, _)| {
                same_key(
                    c.certificate().tbs_certificate().subject_public_key_info(),
                    spki,
                )
            })
            .ok_or(Pkcs12Error::KeyMismatch)?;
        let (certificate, cert_name) = self.certs.remove(pos);
        Ok(Pkcs12 {
            certificate,
            private_key: key,
            chain: self.certs.into_iter().map(|(c, _)| c).collect(),
            friendly_name: key_name.or(cert_name),
        })
    }
}

/// Whether two public keys are the same: same algorithm and the same key bits (parameters are
/// compared through the algorithm OID only, as encodings of the same curve may differ).
fn same_key(a: &spki::SubjectPublicKeyInfoOwned, b: &spki::SubjectPublicKeyInfoOwned) -> bool {
    a.algorithm.oid == b.algorithm.oid && a.subject_public_key == b.subject_public_key
}

fn friendly_name(attrs: Option<&SetOfVec<Attribute>>) -> Option<String> {
    let attr = attrs?.iter().find(|a| a.oid == FRIENDLY_NAME)?;
    let value = attr.values.iter().next()?;
    let bmp = value.decode_as::<der::asn1::BmpString>().ok()?;
    Some(bmp.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7292 appendix B.2 worked by hand for a one-block output: with an empty salt and an
    /// empty password I is empty, so the output is H(D) for D = 64 bytes of the purpose byte.
    #[test]
    fn kdf_with_empty_inputs_is_the_hash_of_the_diversifier() {
        let out = kdf::<sha1::Sha1>(64, &[], &[], Purpose::Mac, 1, 20);
        let expected = sha1::Sha1::digest([3u8; 64]);
        assert_eq!(&out[..], &expected[..]);
        // Two iterations hash once more.
        let out2 = kdf::<sha1::Sha1>(64, &[], &[], Purpose::Key, 2, 20);
        let expected2 = sha1::Sha1::digest(sha1::Sha1::digest([1u8; 64]));
        assert_eq!(&out2[..], &expected2[..]);
    }

    #[test]
    fn iteration_counts_are_capped() {
        assert_eq!(check_iterations(2048), Ok(2048));
        assert_eq!(
            check_iterations(u64::from(MAX_ITERATIONS) + 1),
            Err(Error::Pkcs12(Pkcs12Error::TooManyIterations {
                iterations: u64::from(MAX_ITERATIONS) + 1,
                limit: MAX_ITERATIONS
            }))
        );
        assert!(matches!(check_iterations(0), Err(Error::Malformed { .. })));
    }

    #[test]
    fn passwords_are_bmp_strings_with_a_terminator() {
        let p = Passwords::new("ab");
        assert_eq!(&p.bmp[0][..], &[0, b'a', 0, b'b', 0, 0]);
        assert_eq!(p.bmp.len(), 1);
        let empty = Passwords::new("");
        assert_eq!(&empty.bmp[0][..], &[0, 0]);
        assert!(empty.bmp[1].is_empty());
    }
}
