//! `admitd inspect`: say what a PEM or DER blob is, as JSON named after the RFCs' fields.
//!
//! Recognised: X.509 certificates (RFC 5280), PKCS#10 certification requests (RFC 2986) and CMS
//! `ContentInfo` holding SignedData or EnvelopedData (RFC 5652). PEM input may hold several
//! blocks (a chain); the output is then an array. Names are RFC 4514 strings, times RFC 3339 in
//! UTC, binary values lowercase hex.
//!
//! ```text
//! { "certificate": { "serialNumber", "signature", "issuer", "notBefore", "notAfter",
//!                    "subject", "subjectPublicKeyInfo": { "algorithm", "sha256Fingerprint" },
//!                    "extensions": [ { "extnID", "critical", "extnValue" } ],
//!                    "signatureAlgorithm", "sha256Fingerprint" } }
//! { "certificationRequest": { "subject", "subjectPublicKeyInfo", "attributes", ... } }
//! { "signedData": { "eContentType", "digestAlgorithms", "certificates", "signerInfos" } }
//! { "envelopedData": { "recipientInfos", "contentType", "contentEncryptionAlgorithm" } }
//! ```
//! TPM 2.0 structures, EK certificates from NV, MDA and AIK certificate fields and CBOR
//! attestation objects are recognised by [`crate::attest::inspect`].

use pki::der::asn1::{Any, ObjectIdentifier};
use pki::der::{Decode, Encode, Tag, Tagged};
use pki::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use pki::x509_cert::attr::Attribute;
use pki::x509_cert::certificate::Certificate;
use pki::x509_cert::ext::Extension;
use pki::x509_cert::ext::pkix::name::GeneralName;
use pki::x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use pki::x509_cert::name::Name;
use pki::x509_cert::request::CertReq;
use pki::x509_cert::serial_number::SerialNumber;
use pki::x509_cert::time::Time;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

/// Largest input `inspect` reads.
pub const MAX_INPUT: usize = 16 * 1024 * 1024;

/// Most PEM blocks read from one input.
pub const MAX_PEM_BLOCKS: usize = 256;

/// Why the input could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing to inspect.
    #[error("input is empty")]
    Empty,
    /// The input is over [`MAX_INPUT`].
    #[error("input is {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// Input size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A PEM block could not be decoded.
    #[error("PEM block {index}: {reason}")]
    Pem {
        /// Which block (0-based).
        index: usize,
        /// What the PEM decoder reported.
        reason: String,
    },
    /// More PEM blocks than [`MAX_PEM_BLOCKS`].
    #[error("more than {limit} PEM blocks")]
    TooManyBlocks {
        /// The limit.
        limit: usize,
    },
    /// A PEM label this tool does not handle.
    #[error("PEM label {0:?} is not a certificate, certificate request or CMS message")]
    UnsupportedLabel(String),
    /// The bytes are none of the recognised structures.
    #[error("not a certificate, certificate request or CMS ContentInfo: {0}")]
    Unrecognised(String),
    /// The structure was recognised by its label or shape but does not decode.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which structure.
        what: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// A CMS ContentInfo whose content type is not SignedData or EnvelopedData.
    #[error("CMS content type {0} is not SignedData or EnvelopedData")]
    UnsupportedContentType(String),
}

fn malformed(what: &'static str) -> impl Fn(pki::der::Error) -> Error {
    move |e| Error::Malformed {
        what,
        reason: e.to_string(),
    }
}

/// Describe `input` (PEM or DER) as JSON.
pub fn inspect(input: &[u8]) -> Result<Value, Error> {
    if input.len() > MAX_INPUT {
        return Err(Error::TooLarge {
            len: input.len(),
            limit: MAX_INPUT,
        });
    }
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Empty);
    }
    if let Some(blocks) = pem_blocks(input)? {
        let mut out = Vec::with_capacity(blocks.len());
        for (index, block) in blocks.into_iter().enumerate() {
            let (label, der) = pki::der::pem::decode_vec(block).map_err(|e| Error::Pem {
                index,
                reason: e.to_string(),
            })?;
            out.push(match label {
                "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => certificate(&der)?,
                "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => certification_request(&der)?,
                "PKCS7" | "CMS" | "PKCS #7 SIGNED DATA" => content_info(&der)?,
                other => return Err(Error::UnsupportedLabel(other.to_owned())),
            });
        }
        return Ok(match out.len() {
            1 => out.pop().unwrap_or(Value::Null),
            _ => Value::Array(out),
        });
    }
    match crate::attest::inspect::recognise(input) {
        Some(v) => Ok(v),
        None => binary(input).or_else(|e| crate::attest::inspect::fallback(input, e)),
    }
}

/// Split PEM text into its `-----BEGIN`..`-----END ...-----` blocks; `None` if there is none.
fn pem_blocks(input: &[u8]) -> Result<Option<Vec<&[u8]>>, Error> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"-----END ";
    let mut blocks = Vec::new();
    let mut rest = input;
    while let Some(start) = find(rest, BEGIN) {
        if blocks.len() == MAX_PEM_BLOCKS {
            return Err(Error::TooManyBlocks {
                limit: MAX_PEM_BLOCKS,
            });
        }
        let from_begin = &rest[start..];
        let index = blocks.len();
        let end = find(from_begin, END).ok_or_else(|| Error::Pem {
            index,
            reason: "no -----END line".into(),
        })?;
        let after_end = &from_begin[end + END.len()..];
        let close = find(after_end, b"-----").ok_or_else(|| Error::Pem {
            index,
            reason: "unterminated -----END line".into(),
        })?;
        let len = end + END.len() + close + 5;
        blocks.push(&from_begin[..len]);
        rest = &from_begin[len..];
    }
    Ok(if blocks.is_empty() {
        None
    } else {
        Some(blocks)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// DER input: tell the three structures apart by their shape, then decode.
fn binary(der: &[u8]) -> Result<Value, Error> {
    if der.first() != Some(&0x30) {
        return Err(Error::Unrecognised(
            "neither PEM nor DER (the first byte is not a SEQUENCE tag)".into(),
        ));
    }
    // ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER, ... }
    // Certificate / CertificationRequest ::= SEQUENCE { SEQUENCE {...}, ... }
    let outer = match Any::from_der(der) {
        Ok(outer) => outer,
        // Not DER: CMS is often BER (indefinite lengths from streaming encoders).
        Err(e) => {
            return match ber_to_der(der) {
                Some(converted) if starts_with_oid(&converted) => content_info(&converted),
                _ => Err(Error::Unrecognised(e.to_string())),
            };
        }
    };
    if outer.tag() != Tag::Sequence {
        return Err(Error::Unrecognised(format!(
            "outer element is {}, not a SEQUENCE",
            outer.tag()
        )));
    }
    let first = outer
        .value()
        .first()
        .copied()
        .ok_or_else(|| Error::Unrecognised("empty SEQUENCE".into()))?;
    if first == 0x06 {
        return content_info(der);
    }
    let cert_err = match Certificate::from_der(der) {
        Ok(_) => return certificate(der),
        Err(e) => e,
    };
    let csr_err = match CertReq::from_der(der) {
        Ok(_) => return certification_request(der),
        Err(e) => e,
    };
    Err(Error::Unrecognised(format!(
        "as a certificate: {cert_err}; as a certificate request: {csr_err}"
    )))
}

/// A certificate, RFC 5280 section 4.1.
pub fn certificate(der: &[u8]) -> Result<Value, Error> {
    let cert = Certificate::from_der(der).map_err(malformed("Certificate"))?;
    Ok(json!({ "certificate": certificate_fields(&cert, der)? }))
}

fn certificate_fields(cert: &Certificate, der: &[u8]) -> Result<Value, Error> {
    let tbs = cert.tbs_certificate();
    let mut m = Map::new();
    m.insert(
        "version".into(),
        json!(format!("v{}", tbs.version() as u8 + 1)),
    );
    m.insert("serialNumber".into(), json!(serial(tbs.serial_number())));
    m.insert("signature".into(), algorithm(tbs.signature()));
    m.insert("issuer".into(), json!(name(tbs.issuer())));
    m.insert("notBefore".into(), json!(time(&tbs.validity().not_before)));
    m.insert("notAfter".into(), json!(time(&tbs.validity().not_after)));
    m.insert("subject".into(), json!(name(tbs.subject())));
    m.insert(
        "subjectPublicKeyInfo".into(),
        spki(tbs.subject_public_key_info()),
    );
    m.insert(
        "extensions".into(),
        Value::Array(
            tbs.extensions()
                .map(|exts| exts.iter().map(extension).collect())
                .unwrap_or_default(),
        ),
    );
    m.insert(
        "signatureAlgorithm".into(),
        algorithm(cert.signature_algorithm()),
    );
    m.insert(
        "sha256Fingerprint".into(),
        json!(hex::encode(sha2::Sha256::digest(der))),
    );
    crate::attest::inspect::certificate_extras(der, &mut m);
    Ok(Value::Object(m))
}

/// A certification request, RFC 2986 section 4.
pub fn certification_request(der: &[u8]) -> Result<Value, Error> {
    let req = CertReq::from_der(der).map_err(malformed("CertificationRequest"))?;
    Ok(json!({ "certificationRequest": {
        "version": format!("v{}", req.info.version as u8 + 1),
        "subject": name(&req.info.subject),
        "subjectPublicKeyInfo": spki(&req.info.public_key),
        "attributes": req.info.attributes.iter().map(attribute).collect::<Vec<_>>(),
        "signatureAlgorithm": algorithm(&req.algorithm),
    }}))
}

/// The DER form of BER input (`pki::ber::to_der`), if it is valid BER and not already DER.
fn ber_to_der(input: &[u8]) -> Option<Vec<u8>> {
    pki::ber::to_der(input, &pki::ber::Limits::default())
        .ok()
        .filter(|der| der != input)
}

/// Whether `der` is a SEQUENCE whose first element is an OBJECT IDENTIFIER (a ContentInfo).
fn starts_with_oid(der: &[u8]) -> bool {
    Any::from_der(der).is_ok_and(|a| a.tag() == Tag::Sequence && a.value().first() == Some(&0x06))
}

/// A CMS ContentInfo holding SignedData or EnvelopedData, RFC 5652 sections 3, 5 and 6.
///
/// BER input (indefinite lengths, segmented strings) is converted to DER first with
/// `pki::ber::to_der`.
pub fn content_info(input: &[u8]) -> Result<Value, Error> {
    match content_info_der(input) {
        Ok(v) => Ok(v),
        Err(e) => match ber_to_der(input) {
            Some(der) => content_info_der(&der).map_err(|_| e),
            None => Err(e),
        },
    }
}

fn content_info_der(der: &[u8]) -> Result<Value, Error> {
    use pki::cms_types::content_info::ContentInfo;
    use pki::cms_types::enveloped_data::EnvelopedData;
    use pki::cms_types::signed_data::SignedData;
    let ci = ContentInfo::from_der(der).map_err(malformed("ContentInfo"))?;
    match ci.content_type {
        const_oid::db::rfc5911::ID_SIGNED_DATA => {
            // A SCEP pkiMessage is described beside the SignedData; it is read by `pki`, which
            // also takes what the CMS types cannot (certmonger's 33-octet serial numbers).
            let scep = crate::scep::inspect::pki_message(der);
            match (ci.content.decode_as::<SignedData>(), scep) {
                (Ok(sd), scep) => {
                    let mut v = json!({ "signedData": signed_data(&sd)? });
                    if let Some(m) = scep {
                        v["pkiMessage"] = m;
                    }
                    Ok(v)
                }
                (Err(e), Some(m)) => Ok(json!({
                    "signedData": { "error": format!("does not decode: {e}") },
                    "pkiMessage": m,
                })),
                (Err(e), None) => Err(malformed("SignedData")(e)),
            }
        }
        const_oid::db::rfc5911::ID_ENVELOPED_DATA => {
            let ed: EnvelopedData = ci.content.decode_as().map_err(malformed("EnvelopedData"))?;
            Ok(json!({ "envelopedData": enveloped_data(&ed) }))
        }
        other => Err(Error::UnsupportedContentType(other.to_string())),
    }
}

fn signed_data(sd: &pki::cms_types::signed_data::SignedData) -> Result<Value, Error> {
    use pki::cms_types::cert::CertificateChoices;
    let mut certificates = Vec::new();
    for choice in sd.certificates.iter().flat_map(|set| set.0.iter()) {
        certificates.push(match choice {
            CertificateChoices::Certificate(cert) => {
                let der = cert.to_der().map_err(malformed("Certificate"))?;
                certificate_fields(cert, &der)?
            }
            CertificateChoices::Other(other) => json!({
                "otherCertFormat": oid(&other.other_cert_format),
            }),
        });
    }
    let econtent_len = sd
        .encap_content_info
        .econtent
        .as_ref()
        .map(|c| c.value().len());
    Ok(json!({
        "version": sd.version as u8,
        "digestAlgorithms": sd.digest_algorithms.iter().map(algorithm).collect::<Vec<_>>(),
        "eContentType": oid(&sd.encap_content_info.econtent_type),
        "eContentLength": econtent_len,
        "certificates": certificates,
        "crls": sd.crls.as_ref().map_or(0, |c| c.0.len()),
        "signerInfos": sd.signer_infos.0.iter().map(signer_info).collect::<Vec<_>>(),
    }))
}

fn signer_info(si: &pki::cms_types::signed_data::SignerInfo) -> Value {
    use pki::cms_types::signed_data::SignerIdentifier;
    let sid = match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => json!({ "issuerAndSerialNumber": {
            "issuer": name(&ias.issuer),
            "serialNumber": serial(&ias.serial_number),
        }}),
        SignerIdentifier::SubjectKeyIdentifier(skid) => {
            json!({ "subjectKeyIdentifier": hex::encode(skid.0.as_bytes()) })
        }
    };
    json!({
        "version": si.version as u8,
        "sid": sid,
        "digestAlgorithm": algorithm(&si.digest_alg),
        "signedAttrs": si.signed_attrs.as_ref().map(|a| a.iter().map(attribute_type).collect::<Vec<_>>()),
        "signatureAlgorithm": algorithm(&si.signature_algorithm),
        "unsignedAttrs": si.unsigned_attrs.as_ref().map(|a| a.iter().map(attribute_type).collect::<Vec<_>>()),
    })
}

fn enveloped_data(ed: &pki::cms_types::enveloped_data::EnvelopedData) -> Value {
    use pki::cms_types::enveloped_data::{RecipientIdentifier, RecipientInfo};
    let recipients: Vec<Value> = ed
        .recip_infos
        .0
        .iter()
        .map(|ri| match ri {
            RecipientInfo::Ktri(k) => {
                let rid = match &k.rid {
                    RecipientIdentifier::IssuerAndSerialNumber(ias) => {
                        json!({ "issuerAndSerialNumber": {
                            "issuer": name(&ias.issuer),
                            "serialNumber": serial(&ias.serial_number),
                        }})
                    }
                    RecipientIdentifier::SubjectKeyIdentifier(skid) => {
                        json!({ "subjectKeyIdentifier": hex::encode(skid.0.as_bytes()) })
                    }
                };
                json!({
                    "type": "ktri",
                    "version": k.version as u8,
                    "rid": rid,
                    "keyEncryptionAlgorithm": algorithm(&k.key_enc_alg),
                })
            }
            RecipientInfo::Kari(k) => json!({
                "type": "kari",
                "keyEncryptionAlgorithm": algorithm(&k.key_enc_alg),
            }),
            RecipientInfo::Kekri(k) => json!({
                "type": "kekri",
                "keyEncryptionAlgorithm": algorithm(&k.key_enc_alg),
            }),
            RecipientInfo::Pwri(k) => json!({
                "type": "pwri",
                "keyEncryptionAlgorithm": algorithm(&k.key_enc_alg),
            }),
            RecipientInfo::Ori(o) => json!({ "type": "ori", "oriType": oid(&o.ori_type) }),
        })
        .collect();
    let eci = &ed.encrypted_content;
    json!({
        "version": ed.version as u8,
        "recipientInfos": recipients,
        "contentType": oid(&eci.content_type),
        "contentEncryptionAlgorithm": algorithm(&eci.content_enc_alg),
        "encryptedContentLength": eci.encrypted_content.as_ref().map(|c| c.as_bytes().len()),
    })
}

fn extension(ext: &Extension) -> Value {
    let raw = ext.extn_value.as_bytes();
    let decoded: Result<Value, pki::der::Error> = match ext.extn_id {
        const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS => {
            BasicConstraints::from_der(raw).map(|bc| {
                json!({ "cA": bc.ca, "pathLenConstraint": bc.path_len_constraint })
            })
        }
        const_oid::db::rfc5280::ID_CE_KEY_USAGE => KeyUsage::from_der(raw).map(|ku| key_usage(&ku)),
        const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE => ExtendedKeyUsage::from_der(raw).map(|eku| {
            Value::Array(eku.0.iter().map(|o| json!(oid(o))).collect())
        }),
        const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME => {
            SubjectAltName::from_der(raw).map(|san| general_names(&san.0))
        }
        const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER => SubjectKeyIdentifier::from_der(raw)
            .map(|skid| json!(hex::encode(skid.0.as_bytes()))),
        const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
            AuthorityKeyIdentifier::from_der(raw).map(|akid| {
                json!({
                    "keyIdentifier": akid.key_identifier.as_ref().map(|k| hex::encode(k.as_bytes())),
                    "authorityCertIssuer": akid.authority_cert_issuer.as_ref().map(|g| general_names(g)),
                    "authorityCertSerialNumber": akid.authority_cert_serial_number.as_ref().map(serial),
                })
            })
        }
        _ => Ok(json!(hex::encode(raw))),
    };
    let value = decoded.unwrap_or_else(
        |e| json!({ "error": format!("does not decode: {e}"), "hex": hex::encode(raw) }),
    );
    let mut m = Map::new();
    m.insert("extnID".into(), json!(ext.extn_id.to_string()));
    if let Some(n) = oid_name(&ext.extn_id) {
        m.insert("name".into(), json!(n));
    }
    m.insert("critical".into(), json!(ext.critical));
    m.insert("extnValue".into(), value);
    Value::Object(m)
}

fn key_usage(ku: &KeyUsage) -> Value {
    // The bit names of RFC 5280 section 4.2.1.3.
    const BITS: [(KeyUsages, &str); 9] = [
        (KeyUsages::DigitalSignature, "digitalSignature"),
        (KeyUsages::NonRepudiation, "nonRepudiation"),
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ];
    Value::Array(
        BITS.iter()
            .filter(|(bit, _)| ku.0.contains(*bit))
            .map(|(_, n)| json!(n))
            .collect(),
    )
}

fn general_names(names: &[GeneralName]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|gn| match gn {
                GeneralName::OtherName(o) => json!({ "otherName": {
                    "type-id": oid(&o.type_id),
                    "value": o.value.to_der().map(hex::encode).unwrap_or_default(),
                }}),
                GeneralName::Rfc822Name(s) => json!({ "rfc822Name": s.as_str() }),
                GeneralName::DnsName(s) => json!({ "dNSName": s.as_str() }),
                GeneralName::DirectoryName(n) => json!({ "directoryName": name(n) }),
                GeneralName::EdiPartyName(_) => json!({ "ediPartyName": Value::Null }),
                GeneralName::UniformResourceIdentifier(s) => {
                    json!({ "uniformResourceIdentifier": s.as_str() })
                }
                GeneralName::IpAddress(ip) => json!({ "iPAddress": ip_address(ip.as_bytes()) }),
                GeneralName::RegisteredId(o) => json!({ "registeredID": oid(o) }),
            })
            .collect(),
    )
}

fn ip_address(b: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        std::net::Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(b) {
        std::net::Ipv6Addr::from(v6).to_string()
    } else {
        // Name constraints carry address + mask; show anything else as hex.
        hex::encode(b)
    }
}

/// A CSR attribute: challengePassword and extensionRequest decoded, anything else hex.
fn attribute(attr: &Attribute) -> Value {
    let values: Vec<Value> = attr
        .values
        .iter()
        .map(|v| match attr.oid {
            const_oid::db::rfc2985::PKCS_9_AT_CHALLENGE_PASSWORD => match any_string(v) {
                Some(s) => json!(s),
                None => json!({ "error": "not a DirectoryString", "hex": any_hex(v) }),
            },
            const_oid::db::rfc5912::ID_EXTENSION_REQ => match v.decode_as::<Vec<Extension>>() {
                Ok(exts) => Value::Array(exts.iter().map(extension).collect()),
                Err(e) => json!({ "error": format!("does not decode: {e}"), "hex": any_hex(v) }),
            },
            _ => match any_string(v) {
                Some(s) => json!(s),
                None => json!(any_hex(v)),
            },
        })
        .collect();
    let mut m = attribute_type(attr);
    if let Value::Object(o) = &mut m {
        o.insert("values".into(), Value::Array(values));
    }
    m
}

fn attribute_type(attr: &Attribute) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(attr.oid.to_string()));
    if let Some(n) = oid_name(&attr.oid) {
        m.insert("name".into(), json!(n));
    }
    Value::Object(m)
}

/// The string in a DirectoryString-like value (PrintableString, UTF8String, IA5String,
/// TeletexString as Latin-1, BMPString).
fn any_string(v: &Any) -> Option<String> {
    let bytes = v.value();
    match v.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::VisibleString => {
            std::str::from_utf8(bytes).ok().map(str::to_owned)
        }
        Tag::TeletexString => Some(bytes.iter().map(|b| char::from(*b)).collect()),
        Tag::BmpString => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

fn any_hex(v: &Any) -> String {
    v.to_der().map(hex::encode).unwrap_or_default()
}

fn spki(spki: &SubjectPublicKeyInfoOwned) -> Value {
    let mut m = Map::new();
    m.insert("algorithm".into(), algorithm(&spki.algorithm));
    match pki::public_key::kind(spki) {
        Ok(kind) => m.insert("keyKind".into(), json!(format!("{kind:?}"))),
        Err(e) => m.insert("keyKind".into(), json!({ "error": e.to_string() })),
    };
    match pki::public_key::fingerprint_sha256(spki) {
        Ok(fp) => m.insert("sha256Fingerprint".into(), json!(hex::encode(fp))),
        Err(e) => m.insert(
            "sha256Fingerprint".into(),
            json!({ "error": e.to_string() }),
        ),
    };
    Value::Object(m)
}

fn algorithm(alg: &AlgorithmIdentifierOwned) -> Value {
    let mut m = Map::new();
    m.insert("algorithm".into(), json!(alg.oid.to_string()));
    if let Some(n) = oid_name(&alg.oid) {
        m.insert("name".into(), json!(n));
    }
    if let Some(p) = &alg.parameters {
        let v = match p.tag() {
            Tag::Null => Value::Null,
            Tag::ObjectIdentifier => match p.decode_as::<ObjectIdentifier>() {
                Ok(o) => json!(oid(&o)),
                Err(_) => json!(any_hex(p)),
            },
            _ => json!(any_hex(p)),
        };
        m.insert("parameters".into(), v);
    }
    Value::Object(m)
}

/// An OID as `"1.2.3 (name)"` is awkward to compare; keep the dotted form, names beside it.
fn oid(o: &ObjectIdentifier) -> String {
    o.to_string()
}

fn oid_name(o: &ObjectIdentifier) -> Option<&'static str> {
    const_oid::db::DB.by_oid(o)
}

fn name(n: &Name) -> String {
    n.to_string()
}

fn time(t: &Time) -> String {
    t.to_date_time().to_string()
}

/// The serial number as lowercase hex without the DER sign octet.
fn serial(s: &SerialNumber) -> String {
    let b = s.as_bytes();
    let trimmed = match b {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => b,
    };
    hex::encode(trimmed)
}
