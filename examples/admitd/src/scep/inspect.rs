//! `admitd inspect` for SCEP pkiMessages (RFC 8894 section 3.2): the SCEP attributes, the
//! signer and the envelope, and with `--key` the decrypted messageData.
//!
//! ```text
//! "pkiMessage": { "messageType": { "value": "19", "name": "PKCSReq" }, "transactionID",
//!                 "senderNonce", "recipientNonce", "pkiStatus", "failInfo", "failInfoText",
//!                 "digestAlgorithm", "signer": { "sid", "subject" },
//!                 "envelope": { "recipientInfos", "contentEncryptionAlgorithm",
//!                               "encryptedContentLength" } | null,
//!                 "decrypted": { "recipient", "content" } }        -- with --key only
//! ```

use ::scep::{FailInfo, MessageType, PkiMessage, PkiStatus};
use pki::cms::EnvelopedData;
use pki::der::asn1::UintRef;
use pki::der::{Decode, Reader, SliceReader};
use pki::key::PrivateKey;
use pki::x509_cert::name::Name;
use serde_json::{Value, json};

/// Why `--key` decryption failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not a SCEP pkiMessage.
    #[error("not a SCEP pkiMessage: {0}")]
    NotScep(String),
    /// The message carries no envelope (a FAILURE or PENDING CertRep, say).
    #[error("the pkiMessage carries no envelope to decrypt")]
    NoEnvelope,
    /// The key opened none of the recipients.
    #[error("the key opens none of the {0} recipients")]
    NoRecipient(usize),
    /// The key file is not a PKCS#8 PEM key.
    #[error("key: {0}")]
    Key(String),
}

fn message_type_name(t: MessageType) -> &'static str {
    match t {
        MessageType::CertRep => "CertRep",
        MessageType::RenewalReq => "RenewalReq",
        MessageType::PkcsReq => "PKCSReq",
        MessageType::CertPoll => "CertPoll",
        MessageType::GetCert => "GetCert",
        MessageType::GetCrl => "GetCRL",
        _ => "unknown",
    }
}

fn status_name(s: PkiStatus) -> &'static str {
    match s {
        PkiStatus::Success => "SUCCESS",
        PkiStatus::Failure => "FAILURE",
        PkiStatus::Pending => "PENDING",
    }
}

fn fail_info_name(f: FailInfo) -> &'static str {
    match f {
        FailInfo::BadAlg => "badAlg",
        FailInfo::BadMessageCheck => "badMessageCheck",
        FailInfo::BadRequest => "badRequest",
        FailInfo::BadTime => "badTime",
        FailInfo::BadCertId => "badCertID",
    }
}

fn alg(a: &pki::spki::AlgorithmIdentifierOwned) -> Value {
    let mut v = json!({ "algorithm": a.oid.to_string() });
    if let Some(n) = const_oid::db::DB.by_oid(&a.oid) {
        v["name"] = json!(n);
    }
    v
}

/// The `pkiMessage` description of a DER SignedData ContentInfo, when it is one.
pub fn pki_message(der: &[u8]) -> Option<Value> {
    match PkiMessage::parse(der) {
        Ok(msg) => Some(describe(&msg)),
        // The SCEP layer may be fine while the envelope is beyond the CMS types (a recipient
        // serial number over 20 octets): describe the message and say so.
        Err(e) => {
            let msg = PkiMessage::parse_without_envelope(der, &::scep::Limits::default()).ok()?;
            let mut v = describe(&msg);
            if msg.signed_data().content().is_some_and(|c| !c.is_empty()) {
                v["envelope"] = json!({ "error": e.to_string() });
            }
            Some(v)
        }
    }
}

fn describe(msg: &PkiMessage) -> Value {
    let a = msg.attributes();
    let sd = msg.signed_data();
    let signer = sd.to_cms().ok().and_then(|cms| {
        use pki::cms_types::signed_data::SignerIdentifier;
        let si = cms.signer_infos.0.iter().next()?.clone();
        Some(match si.sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => {
                let subject = sd
                    .certificates()
                    .iter()
                    .find(|c| {
                        c.tbs_certificate().issuer() == &ias.issuer
                            && c.tbs_certificate().serial_number() == &ias.serial_number
                    })
                    .map(|c| c.tbs_certificate().subject().to_string());
                json!({
                    "sid": { "issuerAndSerialNumber": {
                        "issuer": ias.issuer.to_string(),
                        "serialNumber": hex::encode(ias.serial_number.as_bytes()),
                    }},
                    "subject": subject,
                    "signatureAlgorithm": alg(&si.signature_algorithm),
                })
            }
            SignerIdentifier::SubjectKeyIdentifier(skid) => json!({
                "sid": { "subjectKeyIdentifier": hex::encode(skid.0.as_bytes()) },
                "signatureAlgorithm": alg(&si.signature_algorithm),
            }),
        })
    });
    let envelope = msg.envelope().map(envelope);
    json!({
        "messageType": { "value": a.message_type.as_str(), "name": message_type_name(a.message_type) },
        "transactionID": a.transaction_id.as_str(),
        "senderNonce": a.sender_nonce.map(|n| hex::encode(n.as_bytes())),
        "recipientNonce": a.recipient_nonce.map(|n| hex::encode(n.as_bytes())),
        "pkiStatus": a.pki_status.map(|s| json!({ "value": s.as_str(), "name": status_name(s) })),
        "failInfo": a.fail_info.map(|f| json!({ "value": f.as_str(), "name": fail_info_name(f) })),
        "failInfoText": a.fail_info_text,
        "digestAlgorithm": msg.digest().ok().map(|h| format!("{h:?}")),
        "signer": signer,
        "envelope": envelope,
    })
}

fn envelope(env: &EnvelopedData) -> Value {
    use pki::cms_types::enveloped_data::RecipientIdentifier;
    let recipients: Vec<Value> = env
        .recipients()
        .iter()
        .map(|r| {
            let rid = match r.rid() {
                RecipientIdentifier::IssuerAndSerialNumber(ias) => {
                    json!({ "issuerAndSerialNumber": {
                        "issuer": ias.issuer.to_string(),
                        "serialNumber": hex::encode(ias.serial_number.as_bytes()),
                    }})
                }
                RecipientIdentifier::SubjectKeyIdentifier(s) => {
                    json!({ "subjectKeyIdentifier": hex::encode(s.0.as_bytes()) })
                }
            };
            json!({
                "rid": rid,
                "keyEncryptionAlgorithm": alg(r.key_encryption_algorithm()),
                "keyTransport": r.key_transport().ok().map(|t| format!("{t:?}")),
            })
        })
        .collect();
    json!({
        "recipientInfos": recipients,
        "contentEncryptionAlgorithm": format!("{:?}", env.content_cipher()),
        "encryptedContentLength": env.encrypted_content_len(),
    })
}

/// Read a PKCS#8 PEM private key with the first compiled provider.
pub fn load_key(pem: &[u8]) -> Result<std::sync::Arc<dyn PrivateKey>, Error> {
    let (label, der) = pki::der::pem::decode_vec(pem).map_err(|e| Error::Key(e.to_string()))?;
    if label != "PRIVATE KEY" {
        return Err(Error::Key(format!(
            "PEM label is {label:?}, expected \"PRIVATE KEY\" (PKCS#8)"
        )));
    }
    let der = zeroize::Zeroizing::new(der);
    let provider = pki::provider::compiled()
        .first()
        .copied()
        .ok_or_else(|| Error::Key("no crypto provider compiled in".into()))?;
    provider
        .private_key_from_pkcs8_der(&der)
        .map_err(|e| Error::Key(e.to_string()))
}

/// The pkiMessage DER inside `input` (PEM `PKCS7`/`CMS` block, or DER/BER).
fn message_bytes(input: &[u8]) -> Result<Vec<u8>, Error> {
    let trimmed = input.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN ") {
        let (_, der) =
            pki::der::pem::decode_vec(trimmed).map_err(|e| Error::NotScep(e.to_string()))?;
        return Ok(der);
    }
    Ok(input.to_vec())
}

/// Decrypt the pkiMessage in `input` with `key` (every key-transport recipient is tried, so
/// no certificate is needed) and describe its messageData. Single DES is opened too: this is
/// a diagnostic tool, and the output names the cipher.
pub fn decrypt(input: &[u8], key: &dyn PrivateKey) -> Result<Value, Error> {
    let bytes = message_bytes(input)?;
    let msg = PkiMessage::parse(&bytes).map_err(|e| Error::NotScep(e.to_string()))?;
    let env = msg.envelope().ok_or(Error::NoEnvelope)?;
    let provider = pki::provider::compiled()
        .first()
        .copied()
        .ok_or_else(|| Error::Key("no crypto provider compiled in".into()))?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let ciphertext = env.encrypted_content().ok_or(Error::NoEnvelope)?;
    for (i, r) in env.recipients().iter().enumerate() {
        let Ok(transport) = r.key_transport() else {
            continue;
        };
        let Ok(cek) = key.decrypt(transport, r.encrypted_key(), &mut rng) else {
            continue;
        };
        let cek = zeroize::Zeroizing::new(cek);
        if cek.len() != env.content_cipher().key_len() {
            continue;
        }
        let Ok(plain) = provider.cipher_decrypt(env.content_cipher(), &cek, env.iv(), ciphertext)
        else {
            continue;
        };
        return Ok(json!({
            "recipient": i,
            "content": content(msg.message_type(), &plain),
        }));
    }
    Err(Error::NoRecipient(env.recipients().len()))
}

/// The messageData by message type: a PKCS#10, a degenerate SignedData, IssuerAndSubject or
/// IssuerAndSerialNumber; undecodable content is shown as hex with the decoder's complaint.
fn content(t: MessageType, plain: &[u8]) -> Value {
    let described = match t {
        MessageType::PkcsReq | MessageType::RenewalReq => {
            crate::inspect::certification_request(plain).map_err(|e| e.to_string())
        }
        MessageType::CertRep => crate::inspect::content_info(plain).map_err(|e| e.to_string()),
        MessageType::CertPoll => two_names(plain)
            .map(|(i, s)| json!({ "issuerAndSubject": { "issuer": i.to_string(), "subject": s.to_string() }}))
            .map_err(|e| e.to_string()),
        _ => issuer_and_serial(plain)
            .map(|(i, s)| json!({ "issuerAndSerialNumber": { "issuer": i.to_string(), "serialNumber": hex::encode(s) }}))
            .map_err(|e| e.to_string()),
    };
    described.unwrap_or_else(|e| json!({ "error": e, "hex": hex::encode(plain) }))
}

fn two_names(der: &[u8]) -> Result<(Name, Name), pki::der::Error> {
    let mut r = SliceReader::new(der)?;
    let out = r.sequence(|r| Ok::<_, pki::der::Error>((Name::decode(r)?, Name::decode(r)?)))?;
    r.finish()?;
    Ok(out)
}

fn issuer_and_serial(der: &[u8]) -> Result<(Name, Vec<u8>), pki::der::Error> {
    let mut r = SliceReader::new(der)?;
    let out = r.sequence(|r| {
        let issuer = Name::decode(r)?;
        let serial = UintRef::decode(r)?;
        Ok::<_, pki::der::Error>((issuer, serial.as_bytes().to_vec()))
    })?;
    r.finish()?;
    Ok(out)
}
