//! CMS EnvelopedData (RFC 5652 section 6) with key-transport recipients (section 6.2.1).
//!
//! ```text
//!   open:  ContentInfo ─▶ EnvelopedData ─▶ ktri whose rid names our key
//!            ─▶ Decrypter::decrypt(encryptedKey) ─▶ CEK ─┐
//!            (a failed unwrap continues with a random CEK, RFC 3218 section 2.3.2)
//!          encryptedContent ─▶ provider.cipher_decrypt(CEK, IV) ─▶ content
//!
//!   seal:  content ─▶ fresh CEK and IV from the rng ─▶ provider.cipher_encrypt
//!          CEK ─▶ provider.key_transport_encrypt, once per Recipient ─▶ ContentInfo DER
//! ```
//!
//! Only key-transport recipients (RSA PKCS#1 v1.5 and OAEP) are opened or built; other kinds of
//! RecipientInfo (kari, kekri, pwri, ori) are parsed, kept in [`EnvelopedData::as_asn1`], and
//! skipped when choosing a recipient.

use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData as Asn1EnvelopedData, KeyTransRecipientInfo,
    OriginatorInfo, RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use der::asn1::{ContextSpecific, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Header, Reader, SliceReader, Tag, TagNumber};
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attributes;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use zeroize::Zeroizing;

use super::recipient::Recipient;
use crate::alg::{ContentCipher, KeyTransport, oid};
use crate::key::Decrypter;
use crate::provider::CryptoProvider;
use crate::{Error, Result, ber};

const WHAT: &str = "EnvelopedData";

/// A parsed CMS EnvelopedData (RFC 5652 section 6.1), read from its `ContentInfo`.
///
/// ```text
///   ContentInfo ::= SEQUENCE {
///       contentType ContentType,            -- id-envelopedData
///       content [0] EXPLICIT ANY DEFINED BY contentType }
///
///   EnvelopedData ::= SEQUENCE {
///       version CMSVersion,
///       originatorInfo [0] IMPLICIT OriginatorInfo OPTIONAL,
///       recipientInfos RecipientInfos,
///       encryptedContentInfo EncryptedContentInfo,
///       unprotectedAttrs [1] IMPLICIT UnprotectedAttributes OPTIONAL }
///
///   EncryptedContentInfo ::= SEQUENCE {
///       contentType ContentType,
///       contentEncryptionAlgorithm ContentEncryptionAlgorithmIdentifier,
///       encryptedContent [0] IMPLICIT EncryptedContent OPTIONAL }
///
///   EncryptedContent ::= OCTET STRING
/// ```
///
/// `encryptedContent` is accepted both primitive and constructed (a sequence of primitive
/// OCTET STRING segments, as BER encoders such as Apple's write it); [`EnvelopedData::as_asn1`]
/// holds it joined into one primitive value.
#[derive(Debug, Clone)]
pub struct EnvelopedData {
    asn1: Asn1EnvelopedData,
    recipients: Vec<KeyTransRecipient>,
    cipher: ContentCipher,
    iv: Vec<u8>,
}

/// One key-transport recipient of an [`EnvelopedData`] (RFC 5652 section 6.2.1).
///
/// ```text
///   KeyTransRecipientInfo ::= SEQUENCE {
///       version CMSVersion,  -- always set to 0 or 2
///       rid RecipientIdentifier,
///       keyEncryptionAlgorithm KeyEncryptionAlgorithmIdentifier,
///       encryptedKey EncryptedKey }
///
///   RecipientIdentifier ::= CHOICE {
///       issuerAndSerialNumber IssuerAndSerialNumber,
///       subjectKeyIdentifier [0] SubjectKeyIdentifier }
/// ```
#[derive(Debug, Clone)]
pub struct KeyTransRecipient {
    info: KeyTransRecipientInfo,
    transport: Result<KeyTransport>,
}

impl KeyTransRecipient {
    fn new(info: KeyTransRecipientInfo) -> Self {
        let transport = KeyTransport::from_algorithm_identifier(&info.key_enc_alg);
        KeyTransRecipient { info, transport }
    }

    /// Who the content-encryption key was wrapped for: an issuer name and serial number, or a
    /// subject key identifier.
    pub fn rid(&self) -> &RecipientIdentifier {
        &self.info.rid
    }

    /// The key-transport algorithm; an error when `keyEncryptionAlgorithm` names one this crate
    /// does not speak ([`Error::UnsupportedAlgorithm`]) or carries bad parameters.
    pub fn key_transport(&self) -> Result<KeyTransport> {
        self.transport.clone()
    }

    /// The `keyEncryptionAlgorithm` as received.
    pub fn key_encryption_algorithm(&self) -> &AlgorithmIdentifierOwned {
        &self.info.key_enc_alg
    }

    /// The wrapped content-encryption key.
    pub fn encrypted_key(&self) -> &[u8] {
        self.info.enc_key.as_bytes()
    }

    /// Whether `rid` names `cert`: its issuer and serial number, or its subject key identifier
    /// (the certificate's extension if it has one, else the SHA-1 key identifier of its key).
    pub fn is_for_certificate(&self, cert: &Certificate) -> bool {
        let tbs = cert.tbs_certificate();
        match &self.info.rid {
            RecipientIdentifier::IssuerAndSerialNumber(ias) => {
                ias.issuer == *tbs.issuer() && ias.serial_number == *tbs.serial_number()
            }
            RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                let from_ext = tbs
                    .get_extension::<SubjectKeyIdentifier>()
                    .ok()
                    .flatten()
                    .map(|(_, s)| s.0);
                match from_ext {
                    Some(ext) => ext.as_bytes() == ski.0.as_bytes(),
                    None => {
                        ski.0.as_bytes()
                            == crate::public_key::key_identifier(tbs.subject_public_key_info())
                    }
                }
            }
        }
    }

    /// The structure as decoded.
    pub fn as_asn1(&self) -> &KeyTransRecipientInfo {
        &self.info
    }
}

/// Options for [`EnvelopedData::open`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OpenOptions {
    /// The certificate of the decryption key. Needed to match a recipient named by issuer and
    /// serial number; without it only subject-key-identifier recipients can match (against the
    /// SHA-1 key identifier of the key's public key).
    pub recipient_certificate: Option<Certificate>,
    /// Open content encrypted with single DES-CBC (56-bit keys, broken). Off by default; some
    /// SCEP servers still answer with it.
    pub allow_single_des: bool,
}

impl OpenOptions {
    /// The defaults: no certificate, single DES refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Match recipients against `cert`, the certificate of the decryption key.
    pub fn recipient_certificate(mut self, cert: Certificate) -> Self {
        self.recipient_certificate = Some(cert);
        self
    }

    /// Allow (or refuse) single DES-CBC content encryption.
    pub fn allow_single_des(mut self, allow: bool) -> Self {
        self.allow_single_des = allow;
        self
    }
}

impl EnvelopedData {
    /// Parse a DER `ContentInfo` holding an EnvelopedData.
    ///
    /// Fails with [`Error::WrongContentType`] for another content type,
    /// [`Error::UnsupportedAlgorithm`] for a content-encryption algorithm other than AES-CBC,
    /// 3DES-CBC or DES-CBC, [`Error::Malformed`] or [`Error::TrailingData`] for bad bytes.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let mut reader = SliceReader::new(der).map_err(|e| Error::malformed("ContentInfo", e))?;
        let ci =
            ContentInfo::decode(&mut reader).map_err(|e| Error::malformed("ContentInfo", e))?;
        let rest = remaining(&reader, der.len());
        if rest != 0 {
            return Err(Error::TrailingData {
                what: "ContentInfo",
                len: rest,
            });
        }
        if ci.content_type != oid::ENVELOPED_DATA {
            return Err(Error::WrongContentType {
                expected: oid::ENVELOPED_DATA.to_string(),
                found: ci.content_type.to_string(),
            });
        }
        let body = ci.content.to_der().map_err(|e| Error::malformed(WHAT, e))?;
        Self::from_asn1(decode_enveloped_data(&body)?)
    }

    /// Parse a BER `ContentInfo` holding an EnvelopedData (indefinite lengths, constructed
    /// strings), normalised to DER by [`ber::to_der`] within `limits` first.
    pub fn from_ber(ber: &[u8], limits: &ber::Limits) -> Result<Self> {
        Self::from_der(&ber::to_der(ber, limits)?)
    }

    fn from_asn1(asn1: Asn1EnvelopedData) -> Result<Self> {
        let (cipher, iv) =
            ContentCipher::from_algorithm_identifier(&asn1.encrypted_content.content_enc_alg)?;
        let recipients = asn1
            .recip_infos
            .0
            .iter()
            .filter_map(|ri| match ri {
                RecipientInfo::Ktri(k) => Some(KeyTransRecipient::new(k.clone())),
                _ => None,
            })
            .collect();
        Ok(EnvelopedData {
            asn1,
            recipients,
            cipher,
            iv,
        })
    }

    /// The key-transport recipients, in the order of the decoded SET.
    pub fn recipients(&self) -> &[KeyTransRecipient] {
        &self.recipients
    }

    /// How many RecipientInfos of any kind the message has (key transport and others).
    pub fn recipient_info_count(&self) -> usize {
        self.asn1.recip_infos.0.len()
    }

    /// The content-encryption algorithm.
    pub fn content_cipher(&self) -> ContentCipher {
        self.cipher
    }

    /// The content-encryption IV (one block).
    pub fn iv(&self) -> &[u8] {
        &self.iv
    }

    /// The type of the encrypted content (normally id-data).
    pub fn content_type(&self) -> ObjectIdentifier {
        self.asn1.encrypted_content.content_type
    }

    /// The encrypted content, if present (it may be detached).
    pub fn encrypted_content(&self) -> Option<&[u8]> {
        self.asn1
            .encrypted_content
            .encrypted_content
            .as_ref()
            .map(OctetString::as_bytes)
    }

    /// Length in bytes of the encrypted content (0 when it is absent).
    pub fn encrypted_content_len(&self) -> usize {
        self.encrypted_content().map_or(0, <[u8]>::len)
    }

    /// The structure as decoded (encryptedContent joined into one primitive value).
    pub fn as_asn1(&self) -> &Asn1EnvelopedData {
        &self.asn1
    }

    /// Decrypt the content with `key`.
    ///
    /// The recipient is the first key-transport RecipientInfo whose `rid` names the key: by
    /// issuer and serial number or subject key identifier of
    /// [`OpenOptions::recipient_certificate`] when given, else by the SHA-1 key identifier
    /// ([`crate::public_key::key_identifier`]) of `key`'s public key. None matching is
    /// [`Error::NotFound`]`("recipient")`.
    ///
    /// Following RFC 3218 section 2.3.2, a key unwrap that fails, or that yields a key of the
    /// wrong length, does not return early: the content is decrypted with a random key of the
    /// right length drawn from `rng`, and the result is [`Error::DecryptionFailed`], the same
    /// error a wrong key or damaged ciphertext gives.
    ///
    /// Single DES-CBC is refused with [`Error::AlgorithmNotAllowed`] unless
    /// [`OpenOptions::allow_single_des`] is set; absent content is [`Error::Content`].
    pub fn open(
        &self,
        provider: &dyn CryptoProvider,
        key: &dyn Decrypter,
        opts: &OpenOptions,
        rng: &mut dyn CryptoRng,
    ) -> Result<Zeroizing<Vec<u8>>> {
        if self.cipher == ContentCipher::DesCbc && !opts.allow_single_des {
            return Err(Error::AlgorithmNotAllowed {
                what: "single DES-CBC content encryption".into(),
            });
        }
        let ciphertext = self.encrypted_content().ok_or(Error::Content("absent"))?;
        let recipient = self.find_recipient(key, opts)?;
        let transport = recipient.key_transport()?;

        let key_len = self.cipher.key_len();
        let mut fallback = Zeroizing::new(vec![0u8; key_len]);
        rng.fill_bytes(&mut fallback);
        let unwrapped = key
            .decrypt(transport, recipient.encrypted_key(), rng)
            .map(Zeroizing::new);
        let (cek, unwrapped_ok): (&[u8], bool) = match &unwrapped {
            Ok(k) if k.len() == key_len => (k, true),
            _ => (&fallback, false),
        };
        let content = provider
            .cipher_decrypt(self.cipher, cek, &self.iv, ciphertext)
            .map(Zeroizing::new);
        match content {
            Ok(content) if unwrapped_ok => Ok(content),
            _ => Err(Error::DecryptionFailed),
        }
    }

    fn find_recipient(
        &self,
        key: &dyn Decrypter,
        opts: &OpenOptions,
    ) -> Result<&KeyTransRecipient> {
        let spki = key.spki();
        if let Some(cert) = &opts.recipient_certificate {
            let cert_spki = cert.tbs_certificate().subject_public_key_info();
            if cert_spki.algorithm.oid != spki.algorithm.oid
                || cert_spki.subject_public_key != spki.subject_public_key
            {
                return Err(Error::ApiMisuse(
                    "the recipient certificate does not hold the decryption key's public key",
                ));
            }
        }
        let key_id = crate::public_key::key_identifier(spki);
        self.recipients
            .iter()
            .find(|r| {
                let by_cert = opts
                    .recipient_certificate
                    .as_ref()
                    .is_some_and(|c| r.is_for_certificate(c));
                let by_key = matches!(r.rid(), RecipientIdentifier::SubjectKeyIdentifier(ski)
                    if ski.0.as_bytes() == key_id);
                by_cert || by_key
            })
            .ok_or(Error::NotFound("recipient"))
    }

    /// Encrypt `content` (as id-data) for `recipients` and return the `ContentInfo` DER.
    ///
    /// A fresh content-encryption key and IV are drawn from `rng`, the content is encrypted
    /// with `cipher`, and the key is wrapped for each recipient with its key transport. The
    /// EnvelopedData version is 0, or 2 when a recipient is named by subject key identifier
    /// (RFC 5652 section 6.1). Single DES-CBC is refused ([`Error::AlgorithmNotAllowed`]); no
    /// recipients is [`Error::ApiMisuse`].
    pub fn seal(
        provider: &dyn CryptoProvider,
        content: &[u8],
        recipients: &[Recipient],
        cipher: ContentCipher,
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>> {
        if cipher == ContentCipher::DesCbc {
            return Err(Error::AlgorithmNotAllowed {
                what: "single DES-CBC for sealing".into(),
            });
        }
        if recipients.is_empty() {
            return Err(Error::ApiMisuse(
                "EnvelopedData needs at least one recipient",
            ));
        }
        let mut cek = Zeroizing::new(vec![0u8; cipher.key_len()]);
        rng.fill_bytes(&mut cek);
        if cipher == ContentCipher::DesEde3Cbc {
            set_des_parity(&mut cek);
        }
        let mut iv = vec![0u8; cipher.block_len()];
        rng.fill_bytes(&mut iv);
        let ciphertext = provider.cipher_encrypt(cipher, &cek, &iv, content)?;

        let enc = |e: der::Error| Error::malformed(WHAT, e);
        // The RecipientInfos are encoded from each recipient's RecipientIdentifier DER, so
        // that a recipient whose serial number the `cms` types cannot hold still gets one.
        let mut infos = Vec::with_capacity(recipients.len());
        let mut version = CmsVersion::V0;
        for r in recipients {
            let wrapped = provider.key_transport_encrypt(r.spki(), r.key_transport(), &cek, rng)?;
            let ktri_version = if r.by_key_identifier() {
                version = CmsVersion::V2;
                CmsVersion::V2
            } else {
                CmsVersion::V0
            };
            let mut body = ktri_version.to_der().map_err(enc)?;
            body.extend(r.rid_der()?);
            body.extend(
                r.key_transport()
                    .algorithm_identifier()?
                    .to_der()
                    .map_err(enc)?,
            );
            body.extend(
                OctetString::new(wrapped)
                    .map_err(enc)?
                    .to_der()
                    .map_err(enc)?,
            );
            infos.push(wrap(Tag::Sequence, &body)?);
        }
        // DER orders SET OF by the encodings (X.690 section 11.6).
        infos.sort();
        let eci = EncryptedContentInfo {
            content_type: oid::DATA,
            content_enc_alg: cipher.algorithm_identifier(&iv)?,
            encrypted_content: Some(OctetString::new(ciphertext).map_err(enc)?),
        };
        let mut body = version.to_der().map_err(enc)?;
        body.extend(wrap(Tag::Set, &infos.concat())?);
        body.extend(eci.to_der().map_err(enc)?);
        let ed = wrap(Tag::Sequence, &body)?;
        let mut ci = oid::ENVELOPED_DATA.to_der().map_err(enc)?;
        ci.extend(wrap(
            Tag::ContextSpecific {
                constructed: true,
                number: TagNumber(0),
            },
            &ed,
        )?);
        wrap(Tag::Sequence, &ci)
    }
}

/// One TLV: `tag`, the DER length of `body`, `body`.
fn wrap(tag: Tag, body: &[u8]) -> Result<Vec<u8>> {
    der::asn1::AnyRef::new(tag, body)
        .and_then(|a| a.to_der())
        .map_err(|e| Error::malformed(WHAT, e))
}

/// Bytes left unread in `reader`, which was built over `total` bytes.
fn remaining(reader: &SliceReader<'_>, total: usize) -> usize {
    let pos = usize::try_from(reader.position()).unwrap_or(total);
    total.saturating_sub(pos)
}

/// Give every byte odd parity, as DES keys conventionally carry (FIPS 46-3).
fn set_des_parity(key: &mut [u8]) {
    for b in key {
        let high = *b & 0xfe;
        *b = if high.count_ones() % 2 == 0 {
            high | 1
        } else {
            high
        };
    }
}

/// Decode the EnvelopedData SEQUENCE (its DER TLV), accepting a constructed encryptedContent.
fn decode_enveloped_data(der: &[u8]) -> Result<Asn1EnvelopedData> {
    let mut reader = SliceReader::new(der).map_err(|e| Error::malformed(WHAT, e))?;
    let ed = reader
        .sequence(
            |r: &mut SliceReader<'_>| -> der::Result<Asn1EnvelopedData> {
                let version = CmsVersion::decode(r)?;
                let originator_info =
                    ContextSpecific::<OriginatorInfo>::decode_implicit(r, TagNumber(0))?
                        .map(|c| c.value);
                let recip_infos = RecipientInfos::decode(r)?;
                let encrypted_content = r.sequence(decode_encrypted_content_info)?;
                let unprotected_attrs =
                    ContextSpecific::<Attributes>::decode_implicit(r, TagNumber(1))?
                        .map(|c| c.value);
                Ok(Asn1EnvelopedData {
                    version,
                    originator_info,
                    recip_infos,
                    encrypted_content,
                    unprotected_attrs,
                })
            },
        )
        .map_err(|e| Error::malformed(WHAT, e))?;
    let rest = remaining(&reader, der.len());
    if rest != 0 {
        return Err(Error::TrailingData {
            what: WHAT,
            len: rest,
        });
    }
    if ed.recip_infos.0.is_empty() {
        return Err(Error::malformed(WHAT, "no RecipientInfos"));
    }
    Ok(ed)
}

/// The body of EncryptedContentInfo, with `[0] IMPLICIT EncryptedContent` primitive or
/// constructed from primitive OCTET STRING segments.
fn decode_encrypted_content_info(r: &mut SliceReader<'_>) -> der::Result<EncryptedContentInfo> {
    let content_type = ObjectIdentifier::decode(r)?;
    let content_enc_alg = AlgorithmIdentifierOwned::decode(r)?;
    let encrypted_content = if r.is_finished() {
        None
    } else {
        let header = Header::decode(r)?;
        let bytes = match header.tag() {
            Tag::ContextSpecific {
                constructed: false,
                number: TagNumber(0),
            } => r.read_vec(header.length())?,
            Tag::ContextSpecific {
                constructed: true,
                number: TagNumber(0),
            } => r.read_nested(header.length(), |r| {
                let mut joined = Vec::new();
                while !r.is_finished() {
                    let segment = OctetString::decode(r)?;
                    joined.extend_from_slice(segment.as_bytes());
                }
                Ok::<_, der::Error>(joined)
            })?,
            other => return Err(other.unexpected_error(None).into()),
        };
        Some(OctetString::new(bytes)?)
    };
    Ok(EncryptedContentInfo {
        content_type,
        content_enc_alg,
        encrypted_content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `EncryptedContentInfo` for id-data, AES-128-CBC with a zero IV, then `tail`.
    fn eci(tail: &[u8]) -> Vec<u8> {
        let mut body = oid::DATA.to_der().unwrap();
        let alg = ContentCipher::Aes128Cbc
            .algorithm_identifier(&[0; 16])
            .unwrap();
        body.extend(alg.to_der().unwrap());
        body.extend_from_slice(tail);
        der::asn1::AnyRef::new(Tag::Sequence, &body)
            .unwrap()
            .to_der()
            .unwrap()
    }

    fn decode(der: &[u8]) -> der::Result<EncryptedContentInfo> {
        SliceReader::new(der)?.sequence(decode_encrypted_content_info)
    }

    #[test]
    fn encrypted_content_primitive_constructed_absent() {
        let prim = decode(&eci(&[0x80, 3, 1, 2, 3])).unwrap();
        assert_eq!(prim.encrypted_content.unwrap().as_bytes(), [1, 2, 3]);
        let cons = decode(&eci(&[0xa0, 7, 0x04, 2, 1, 2, 0x04, 1, 3])).unwrap();
        assert_eq!(cons.encrypted_content.unwrap().as_bytes(), [1, 2, 3]);
        let empty = decode(&eci(&[0xa0, 0])).unwrap();
        assert_eq!(empty.encrypted_content.unwrap().as_bytes(), [] as [u8; 0]);
        assert!(decode(&eci(&[])).unwrap().encrypted_content.is_none());
    }

    #[test]
    fn encrypted_content_bad_forms() {
        // [1] instead of [0]; a nested constructed segment; a segment that is not an OCTET
        // STRING; a segment running past its parent.
        for tail in [
            &[0x81, 1, 0][..],
            &[0xa0, 4, 0x24, 2, 0x04, 0],
            &[0xa0, 3, 0x02, 1, 1],
            &[0xa0, 3, 0x04, 5, 1],
        ] {
            assert!(decode(&eci(tail)).is_err(), "{tail:02x?}");
        }
    }

    #[test]
    fn des_parity_is_odd() {
        let mut key = [0u8, 1, 2, 0xfe, 0xff, 0x80, 0x7f, 0x10];
        set_des_parity(&mut key);
        assert_eq!(key, [0x01, 0x01, 0x02, 0xfe, 0xfe, 0x80, 0x7f, 0x10]);
        assert!(key.iter().all(|b| b.count_ones() % 2 == 1));
    }
}
