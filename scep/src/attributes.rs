//! The SCEP signed attributes of a pkiMessage (RFC 8894 section 3.2.1), read from and written
//! to a CMS `SignerInfo`'s signed attributes.
//!
//! ```text
//! id-messageType    PrintableString    every message
//! id-transactionID  PrintableString    every message
//! id-senderNonce    OCTET STRING (16)  requests; CertRep (Apple sends 8)
//! id-recipientNonce OCTET STRING (16)  CertRep
//! id-pkiStatus      PrintableString    CertRep
//! id-failInfo       PrintableString    CertRep with FAILURE
//! id-scep-failInfoText UTF8String      CertRep with FAILURE, optional
//! ```
//!
//! Reading is lenient on the string type (real clients send PrintableString, UTF8String or
//! IA5String); writing uses the types above. Attributes SCEP does not define (Microsoft's
//! 1.3.6.1.4.1.311.21.38, jscep's randomNonce) are ignored here and stay available in the CMS
//! layer.

use pki::cms::SignedAttributes;
use pki::der::asn1::{
    Ia5StringRef, ObjectIdentifier, OctetString, PrintableStringRef, SetOfVec, Utf8StringRef,
};
use pki::der::{Any, Decode, Tag, Tagged};
use pki::x509_cert::attr::Attribute;

use crate::Error;
use crate::message::{FailInfo, MessageType, Nonce, PkiStatus, TransactionId, oid};

/// The SCEP attributes of one pkiMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepAttributes {
    /// messageType.
    pub message_type: MessageType,
    /// transactionID.
    pub transaction_id: TransactionId,
    /// senderNonce (required in requests and CertReps by RFC 8894; absent in some old
    /// responses).
    pub sender_nonce: Option<Nonce>,
    /// recipientNonce (CertRep only).
    pub recipient_nonce: Option<Nonce>,
    /// pkiStatus (CertRep only).
    pub pki_status: Option<PkiStatus>,
    /// failInfo (CertRep FAILURE only).
    pub fail_info: Option<FailInfo>,
    /// failInfoText (CertRep FAILURE, optional).
    pub fail_info_text: Option<String>,
}

/// The one value of attribute `oid`, if present; several values is an error.
fn single<'a>(
    attrs: &'a [Attribute],
    oid: &ObjectIdentifier,
    name: &'static str,
) -> Result<Option<&'a Any>, Error> {
    let mut found = attrs.iter().filter(|a| a.oid == *oid);
    let Some(attr) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(Error::BadAttribute {
            name,
            reason: "attribute appears more than once".into(),
        });
    }
    let mut values = attr.values.iter();
    match (values.next(), values.next()) {
        (Some(v), None) => Ok(Some(v)),
        _ => Err(Error::BadAttribute {
            name,
            reason: format!("{} values, expected exactly one", attr.values.len()),
        }),
    }
}

/// Longest transactionID accepted, in characters. Real ones are 40 (hex SHA-1, Apple), 44
/// (base64 SHA-256) or about 80 (certmonger's decimal); the cap keeps a stranger's string from
/// filling logs and the transaction table.
pub const MAX_TRANSACTION_ID: usize = 128;

/// Longest failInfoText kept from a peer, in characters (longer is cut).
pub const MAX_FAIL_INFO_TEXT: usize = 512;

fn cap_text(t: &str) -> String {
    t.chars().take(MAX_FAIL_INFO_TEXT).collect()
}

fn string(v: &Any, name: &'static str) -> Result<String, Error> {
    let bad = |e: pki::der::Error| Error::BadAttribute {
        name,
        reason: e.to_string(),
    };
    Ok(match v.tag() {
        Tag::PrintableString => v
            .decode_as::<PrintableStringRef<'_>>()
            .map_err(bad)?
            .to_string(),
        Tag::Utf8String => v.decode_as::<Utf8StringRef<'_>>().map_err(bad)?.to_string(),
        Tag::Ia5String => v.decode_as::<Ia5StringRef<'_>>().map_err(bad)?.to_string(),
        other => {
            return Err(Error::BadAttribute {
                name,
                reason: format!("expected a string, found {other}"),
            });
        }
    })
}

fn nonce(v: &Any, name: &'static str) -> Result<Nonce, Error> {
    let os = v
        .decode_as::<OctetString>()
        .map_err(|e| Error::BadAttribute {
            name,
            reason: e.to_string(),
        })?;
    Nonce::from_bytes(os.as_bytes()).map_err(|_| Error::BadAttribute {
        name,
        reason: format!(
            "{} bytes, expected 1 to {}",
            os.as_bytes().len(),
            Nonce::MAX_LEN
        ),
    })
}

impl ScepAttributes {
    /// Read the SCEP attributes from a SignerInfo's signed attributes.
    pub fn from_attributes(attrs: &[Attribute]) -> Result<Self, Error> {
        Self::read(|oid, name| Ok(single(attrs, oid, name)?.cloned()))
    }

    /// Read the SCEP attributes from a parsed SignerInfo's signed attributes, as received.
    pub fn from_signed_attributes(attrs: &SignedAttributes) -> Result<Self, Error> {
        Self::read(|oid, name| {
            let bad = |reason: String| Error::BadAttribute { name, reason };
            match attrs.get(oid) {
                None => Ok(None),
                Some(values) => match values.as_slice() {
                    [one] => Any::from_der(one).map(Some).map_err(|e| bad(e.to_string())),
                    other => Err(bad(format!("{} values, expected exactly one", other.len()))),
                },
            }
        })
    }

    fn read(
        get: impl Fn(&ObjectIdentifier, &'static str) -> Result<Option<Any>, Error>,
    ) -> Result<Self, Error> {
        let message_type = get(&oid::MESSAGE_TYPE, "messageType")?
            .ok_or(Error::MissingAttribute("messageType"))?;
        let message_type = MessageType::parse(&string(&message_type, "messageType")?)?;
        let transaction_id = get(&oid::TRANSACTION_ID, "transactionID")?
            .ok_or(Error::MissingAttribute("transactionID"))?;
        let transaction_id = TransactionId(string(&transaction_id, "transactionID")?);
        if transaction_id.0.is_empty() || transaction_id.0.len() > MAX_TRANSACTION_ID {
            return Err(Error::BadAttribute {
                name: "transactionID",
                reason: format!(
                    "{} characters; 1 to {MAX_TRANSACTION_ID} are accepted",
                    transaction_id.0.len()
                ),
            });
        }
        let sender_nonce = get(&oid::SENDER_NONCE, "senderNonce")?
            .map(|v| nonce(&v, "senderNonce"))
            .transpose()?;
        let recipient_nonce = get(&oid::RECIPIENT_NONCE, "recipientNonce")?
            .map(|v| nonce(&v, "recipientNonce"))
            .transpose()?;
        let pki_status = get(&oid::PKI_STATUS, "pkiStatus")?
            .map(|v| PkiStatus::parse(&string(&v, "pkiStatus")?))
            .transpose()?;
        let fail_info = get(&oid::FAIL_INFO, "failInfo")?
            .map(|v| FailInfo::parse(&string(&v, "failInfo")?))
            .transpose()?;
        let fail_info_text = get(&oid::FAIL_INFO_TEXT, "failInfoText")?
            .map(|v| string(&v, "failInfoText"))
            .transpose()?
            .map(|t| cap_text(&t));
        Ok(ScepAttributes {
            message_type,
            transaction_id,
            sender_nonce,
            recipient_nonce,
            pki_status,
            fail_info,
            fail_info_text,
        })
    }

    /// The attributes to sign, in the types RFC 8894 names.
    pub fn to_attributes(&self) -> Result<Vec<Attribute>, Error> {
        let enc = |e: pki::der::Error| Error::Pki(pki::Error::malformed("SCEP attribute", e));
        let printable = |s: &str| -> Result<Any, Error> {
            let p = PrintableStringRef::new(s).map_err(enc)?;
            Any::encode_from(&p).map_err(enc)
        };
        let octets = |n: &Nonce| -> Result<Any, Error> {
            Any::encode_from(&OctetString::new(n.as_bytes().to_vec()).map_err(enc)?).map_err(enc)
        };
        let attr = |oid, value: Any| -> Result<Attribute, Error> {
            let mut values = SetOfVec::new();
            values.insert(value).map_err(enc)?;
            Ok(Attribute { oid, values })
        };
        let mut out = vec![
            attr(oid::MESSAGE_TYPE, printable(self.message_type.as_str())?)?,
            attr(
                oid::TRANSACTION_ID,
                printable(self.transaction_id.as_str())?,
            )?,
        ];
        if let Some(n) = &self.sender_nonce {
            out.push(attr(oid::SENDER_NONCE, octets(n)?)?);
        }
        if let Some(n) = &self.recipient_nonce {
            out.push(attr(oid::RECIPIENT_NONCE, octets(n)?)?);
        }
        if let Some(s) = self.pki_status {
            out.push(attr(oid::PKI_STATUS, printable(s.as_str())?)?);
        }
        if let Some(f) = self.fail_info {
            out.push(attr(oid::FAIL_INFO, printable(f.as_str())?)?);
        }
        if let Some(t) = &self.fail_info_text {
            let u = Utf8StringRef::new(t).map_err(enc)?;
            out.push(attr(
                oid::FAIL_INFO_TEXT,
                Any::encode_from(&u).map_err(enc)?,
            )?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ScepAttributes {
        ScepAttributes {
            message_type: MessageType::CertRep,
            transaction_id: TransactionId("1234ABCD".into()),
            sender_nonce: Some(Nonce::from_array([1; 16])),
            recipient_nonce: Some(Nonce::from_array([2; 16])),
            pki_status: Some(PkiStatus::Failure),
            fail_info: Some(FailInfo::BadRequest),
            fail_info_text: Some("challenge refused".into()),
        }
    }

    #[test]
    fn round_trip() {
        let a = sample();
        assert_eq!(
            ScepAttributes::from_attributes(&a.to_attributes().unwrap()).unwrap(),
            a
        );
    }

    #[test]
    fn missing_and_duplicated_attributes_are_errors() {
        let mut attrs = sample().to_attributes().unwrap();
        attrs.retain(|a| a.oid != oid::TRANSACTION_ID);
        assert_eq!(
            ScepAttributes::from_attributes(&attrs),
            Err(Error::MissingAttribute("transactionID"))
        );
        let mut attrs = sample().to_attributes().unwrap();
        let dup = attrs[0].clone();
        attrs.push(dup);
        assert!(matches!(
            ScepAttributes::from_attributes(&attrs),
            Err(Error::BadAttribute {
                name: "messageType",
                ..
            })
        ));
    }

    #[test]
    fn wrong_types_are_errors() {
        let mut attrs = sample().to_attributes().unwrap();
        // A senderNonce of 65 bytes.
        let short = Any::encode_from(&OctetString::new(vec![0u8; 65]).unwrap()).unwrap();
        let mut values = SetOfVec::new();
        values.insert(short).unwrap();
        attrs.retain(|a| a.oid != oid::SENDER_NONCE);
        attrs.push(Attribute {
            oid: oid::SENDER_NONCE,
            values,
        });
        assert!(matches!(
            ScepAttributes::from_attributes(&attrs),
            Err(Error::BadAttribute {
                name: "senderNonce",
                ..
            })
        ));
        // A messageType given as an INTEGER.
        let mut attrs = sample().to_attributes().unwrap();
        let mut values = SetOfVec::new();
        values.insert(Any::encode_from(&19u8).unwrap()).unwrap();
        attrs[0] = Attribute {
            oid: oid::MESSAGE_TYPE,
            values,
        };
        assert!(matches!(
            ScepAttributes::from_attributes(&attrs),
            Err(Error::BadAttribute {
                name: "messageType",
                ..
            })
        ));
    }
}
