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
//! Apple ADE server tokens (the `.p7m` S/MIME file: its envelope, and with `--key` the token
//! with its secrets redacted) and every ADE JSON body (requests and answers of
//! `mdmenrollment.apple.com`) are recognised by [`ade_json`] and [`ade_token_envelope`].
//!
//! Apple MDM plists (check-ins, reports, commands, profiles, MachineInfo), and CMS SignedData
//! over them (signed profiles, MachineInfo as DER or as the base64 header value, OTA phase 2),
//! are recognised by [`crate::mdm::inspect`]; DDM JSON (declarations, status reports,
//! TokensResponse, DeclarationItemsResponse) by [`crate::ddm::inspect`].
//!
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
    inspect_with(input, &crate::mdm::inspect::SignedOptions::default())
}

/// [`inspect`], with trust anchors for signed MDM material (signed profiles, MachineInfo, OTA
/// phase 2; see [`crate::mdm::inspect::recognise_signed`]).
pub fn inspect_with(
    input: &[u8],
    signed: &crate::mdm::inspect::SignedOptions,
) -> Result<Value, Error> {
    if input.len() > MAX_INPUT {
        return Err(Error::TooLarge {
            len: input.len(),
            limit: MAX_INPUT,
        });
    }
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Empty);
    }
    if let Some(r) = crate::mdm::inspect::recognise_signed(input, signed) {
        return r;
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
                "PKCS7" | "CMS" | "PKCS #7 SIGNED DATA" => {
                    match crate::mdm::inspect::recognise_signed(&der, signed) {
                        Some(r) => r?,
                        None => content_info(&der)?,
                    }
                }
                other => return Err(Error::UnsupportedLabel(other.to_owned())),
            });
        }
        return Ok(match out.len() {
            1 => out.pop().unwrap_or(Value::Null),
            _ => Value::Array(out),
        });
    }
    if let Some(r) = crate::mdm::inspect::recognise(input) {
        return r;
    }
    if let Some(r) = crate::ddm::inspect::recognise(input) {
        return r;
    }
    if let Some(v) = ade_json(input).or_else(|| ade_token_envelope(input)) {
        return Ok(v);
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

// ---- Apple ADE (`ade-client`) ----

const REDACTED: &str = "<redacted>";

/// An ADE server token file (`*_smime.p7m`: MIME headers, then base64 BER EnvelopedData):
/// `{"adeServerToken": {"envelope": {...}}}`. `None` for anything else (raw BER EnvelopedData
/// is described by the CMS inspector as it is).
pub fn ade_token_envelope(input: &[u8]) -> Option<Value> {
    let text = core::str::from_utf8(input).ok()?;
    let head = text.get(..text.len().min(1024))?.to_ascii_lowercase();
    if !head.contains("application/pkcs7-mime") && !head.contains("application/x-pkcs7-mime") {
        return None;
    }
    let env = ade_client::ServerToken::envelope(input).ok()?;
    Some(json!({ "adeServerToken": { "envelope": ade_envelope(&env) } }))
}

fn ade_envelope(env: &pki::cms::EnvelopedData) -> Value {
    let recipients: Vec<Value> = env
        .recipients()
        .iter()
        .map(|r| {
            json!({
                "keyTransport": r.key_transport().map(|k| format!("{k:?}")).unwrap_or_else(|e| e.to_string()),
                "encryptedKeyLength": r.encrypted_key().len(),
            })
        })
        .collect();
    json!({
        "recipientInfos": recipients,
        "contentEncryptionAlgorithm": format!("{:?}", env.content_cipher()),
        "encryptedContentLength": env.encrypted_content_len(),
    })
}

/// The fields of a server token with every secret replaced by `<redacted>`.
fn ade_token_fields(t: &ade_client::ServerToken) -> Value {
    json!({
        "consumer_key": t.consumer_key,
        "consumer_secret": REDACTED,
        "access_token": REDACTED,
        "access_secret": REDACTED,
        "access_token_expiry": t.access_token_expiry,
    })
}

/// Decrypt an ADE server token (`.p7m`, bare base64 or BER) with the private key in `key_pem`
/// (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`, as Apple's tooling writes it). Every
/// key-transport recipient is tried, so no certificate is needed. Secrets are printed as
/// `<redacted>`.
pub fn ade_token_decrypt(input: &[u8], key_pem: &[u8]) -> Result<Value, Error> {
    let fail = |reason: String| Error::Malformed {
        what: "ADE server token",
        reason,
    };
    let (label, der) = pki::der::pem::decode_vec(key_pem).map_err(|e| fail(format!("key: {e}")))?;
    let der = zeroize::Zeroizing::new(der);
    let pkcs8 = match label {
        "PRIVATE KEY" => der,
        "RSA PRIVATE KEY" => zeroize::Zeroizing::new(pkcs1_to_pkcs8(&der)),
        other => {
            return Err(fail(format!(
                "key PEM label is {other:?}, expected PRIVATE KEY or RSA PRIVATE KEY"
            )));
        }
    };
    let provider = pki::provider::compiled()
        .first()
        .copied()
        .ok_or_else(|| fail("no crypto provider compiled in".into()))?;
    let key = provider
        .private_key_from_pkcs8_der(&pkcs8)
        .map_err(|e| fail(format!("key: {e}")))?;
    let env = ade_client::ServerToken::envelope(input).map_err(|e| fail(e.to_string()))?;
    let ciphertext = env
        .encrypted_content()
        .ok_or_else(|| fail("no encrypted content".into()))?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    for r in env.recipients() {
        let Ok(transport) = r.key_transport() else {
            continue;
        };
        let Ok(cek) = key.decrypt(transport, r.encrypted_key(), &mut rng) else {
            continue;
        };
        let cek = zeroize::Zeroizing::new(cek);
        let Ok(plain) = provider.cipher_decrypt(env.content_cipher(), &cek, env.iv(), ciphertext)
        else {
            continue;
        };
        let plain = zeroize::Zeroizing::new(plain);
        let token =
            ade_client::ServerToken::from_decrypted(&plain).map_err(|e| fail(e.to_string()))?;
        let mut fields = ade_token_fields(&token);
        fields["envelope"] = ade_envelope(&env);
        return Ok(json!({ "adeServerToken": fields }));
    }
    Err(fail(format!(
        "the key opens none of the {} recipients (a token for another MDM server?)",
        env.recipients().len()
    )))
}

/// PKCS#1 RSAPrivateKey DER wrapped as a PKCS#8 PrivateKeyInfo (RFC 5208 section 5) with the
/// rsaEncryption algorithm and NULL parameters.
fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    const RSA_ALG: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(&RSA_ALG);
    body.extend(tlv(0x04, pkcs1));
    tlv(0x30, &body)
}

/// An ADE JSON body (a request to or an answer from Apple's ADE service), recognised by its
/// keys and described as `{"ade": {"type": <Apple's object name>, "value": ...}}`, the value
/// parsed by `ade-client` and written back (unknown keys kept), secrets redacted. `None` when
/// the input is not a JSON object with ADE keys.
pub fn ade_json(input: &[u8]) -> Option<Value> {
    use ade_client::model as m;
    let trimmed = input.trim_ascii();
    if !trimmed.starts_with(b"{") {
        return None;
    }
    let v: Value = serde_json::from_slice(trimmed).ok()?;
    let o = v.as_object()?;
    let has = |k: &str| o.contains_key(k);
    fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Option<Value> {
        let t: T = serde_json::from_value(v.clone()).ok()?;
        serde_json::to_value(t).ok()
    }
    let devices_map = o.get("devices").and_then(Value::as_object);
    let devices_are_objects = devices_map.is_some_and(|d| d.values().all(Value::is_object));
    let devices_list = o.get("devices").is_some_and(Value::is_array);
    let (kind, value) = if has("auth_session_token") {
        ("SessionResponse", json!({ "auth_session_token": REDACTED }))
    } else if has("consumer_key") && has("access_secret") {
        let t = ade_client::ServerToken::from_json(trimmed).ok()?;
        ("ServerToken", ade_token_fields(&t))
    } else if has("cursor") && (has("more_to_follow") || has("fetched_until")) {
        ("FetchDeviceResponse", typed::<m::DevicePage>(&v)?)
    } else if has("urls") || has("server_uuid") || has("org_id") {
        ("AccountDetail", typed::<m::Account>(&v)?)
    } else if has("betaEnrollmentTokens") || has("seedBuildTokens") {
        ("GetSeedBuildTokenResponse", typed::<m::BetaTokens>(&v)?)
    } else if has("mdm_service_discovery_url") {
        let kind = if has("last_updated_timestamp") {
            "GetAccountDrivenEnrollmentProfileResponse"
        } else {
            "AccountDrivenEnrollmentProfileRequest"
        };
        (kind, typed::<m::AdeProfile>(&v)?)
    } else if has("serial_number") && has("response_status") {
        (
            "ActivationLockStatusResponse",
            typed::<m::ActivationLockResponse>(&v)?,
        )
    } else if has("device") {
        let mut r = typed::<m::ActivationLockRequest>(&v)?;
        if r.get("escrow_key").is_some() {
            r["escrow_key"] = json!(REDACTED);
        }
        ("ActivationLockRequest", r)
    } else if has("profile_name") || has("url") || has("org_magic") || has("is_supervised") {
        ("Profile", typed::<m::Profile>(&v)?)
    } else if devices_map.is_some() && devices_are_objects && !has("profile_uuid") {
        ("DeviceListResponse", typed::<m::DeviceDetails>(&v)?)
    } else if devices_map.is_some() {
        let statuses: m::DeviceStatuses = serde_json::from_value(v.clone()).ok()?;
        let s = statuses.summary();
        let mut value = serde_json::to_value(&statuses).ok()?;
        value["summary"] = json!({
            "success": s.success,
            "notAccessible": s.not_accessible,
            "failed": s.failed,
            "throttled": s.throttled,
            "other": s.other.iter().map(|(k, v)| json!([k, v.as_str()])).collect::<Vec<_>>(),
        });
        let kind = if has("retry_after_seconds") || has("profile_uuid") {
            "AssignProfileResponse"
        } else {
            "DeviceStatusResponse"
        };
        (kind, value)
    } else if devices_list && has("profile_uuid") {
        (
            "ProfileServiceRequest",
            typed::<m::ProfileDevicesRequest>(&v)?,
        )
    } else if devices_list {
        ("DeviceListRequest", typed::<m::DeviceListRequest>(&v)?)
    } else if (has("cursor") || has("limit")) && o.len() <= 2 {
        let kind = if has("cursor") {
            "SyncDeviceRequest"
        } else {
            "FetchDeviceRequest"
        };
        (kind, typed::<m::CursorRequest>(&v)?)
    } else {
        return None;
    };
    Some(json!({ "ade": { "type": kind, "value": value } }))
}
