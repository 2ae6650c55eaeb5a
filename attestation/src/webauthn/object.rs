//! The CBOR attestation object shared by WebAuthn and ACME `device-attest-01`.

use ciborium::Value;

use super::WebAuthnError;

/// Largest attestation object accepted, in bytes.
pub const MAX_ATTESTATION_OBJECT: usize = 64 * 1024;
/// Most certificates accepted in `x5c`.
pub const MAX_X5C: usize = 8;
/// CBOR nesting accepted (an attestation object needs three levels).
const MAX_DEPTH: usize = 16;

/// An attestation object (W3C Web Authentication Level 2, section 6.5.4; RFC-draft
/// `acme-device-attest` section 5 reuses it without `authData`).
///
/// ```text
/// attObj = {
///     authData: bytes,             ; absent in ACME device-attest-01
///     fmt:      text,
///     attStmt:  { * text => any }  ; per format
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AttestationObject {
    /// `fmt`: the statement format (`"apple"`, `"tpm"`, ...).
    pub fmt: String,
    /// `attStmt`.
    pub att_stmt: AttStmt,
    /// `authData`, when present.
    pub auth_data: Option<Vec<u8>>,
}

/// The fields of an attestation statement the `apple` and `tpm` formats use.
///
/// ```text
/// appleStmt = { x5c: [ credCert: bytes, * caCert: bytes ] }   ; WebAuthn section 8.8
/// tpmStmt   = { ver: "2.0", alg: int, x5c: [ aikCert, * caCert ],
///               sig: bytes, certInfo: bytes, pubArea: bytes } ; WebAuthn section 8.3
/// ```
/// Keys of other types or names are kept in [`AttStmt::other`] as their CBOR encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttStmt {
    /// `alg`: a COSE algorithm identifier.
    pub alg: Option<i64>,
    /// `sig`.
    pub sig: Option<Vec<u8>>,
    /// `x5c`: DER certificates, the attested (or attestation) key's first.
    pub x5c: Vec<Vec<u8>>,
    /// `ver`.
    pub ver: Option<String>,
    /// `certInfo`: a TPMS_ATTEST.
    pub cert_info: Option<Vec<u8>>,
    /// `pubArea`: a TPMT_PUBLIC.
    pub pub_area: Option<Vec<u8>>,
    /// Other entries: key and CBOR-encoded value, in order.
    pub other: Vec<(String, Vec<u8>)>,
}

fn cbor(what: &'static str, reason: impl ToString) -> WebAuthnError {
    WebAuthnError::Cbor {
        what,
        reason: reason.to_string(),
    }
}

fn text_map(value: Value, what: &'static str) -> Result<Vec<(String, Value)>, WebAuthnError> {
    let Value::Map(entries) = value else {
        return Err(cbor(what, "not a map"));
    };
    let mut out: Vec<(String, Value)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let Value::Text(k) = k else {
            return Err(cbor(what, "a key is not a text string"));
        };
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(WebAuthnError::DuplicateKey(k));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn bytes(v: Value, what: &'static str) -> Result<Vec<u8>, WebAuthnError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(cbor(what, "not a byte string")),
    }
}

/// Decode exactly one CBOR item from the front of `input`, returning it and the bytes left.
pub(crate) fn decode_prefix(
    input: &[u8],
    what: &'static str,
) -> Result<(Value, usize), WebAuthnError> {
    let mut reader = input;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, MAX_DEPTH)
        .map_err(|e| cbor(what, e))?;
    Ok((value, input.len() - reader.len()))
}

impl AttestationObject {
    /// Parse a CBOR attestation object (the parse entry point for fuzzing): the whole input,
    /// at most [`MAX_ATTESTATION_OBJECT`] bytes, text keys, no duplicate keys.
    pub fn from_cbor(input: &[u8]) -> Result<Self, WebAuthnError> {
        if input.len() > MAX_ATTESTATION_OBJECT {
            return Err(WebAuthnError::TooLarge {
                what: "attestation object",
                len: input.len(),
                limit: MAX_ATTESTATION_OBJECT,
            });
        }
        let (value, used) = decode_prefix(input, "attestation object")?;
        if used != input.len() {
            return Err(cbor(
                "attestation object",
                format!("{} trailing bytes", input.len() - used),
            ));
        }
        let mut fmt = None;
        let mut att_stmt = None;
        let mut auth_data = None;
        for (k, v) in text_map(value, "attestation object")? {
            match k.as_str() {
                "fmt" => match v {
                    Value::Text(t) => fmt = Some(t),
                    _ => return Err(cbor("fmt", "not a text string")),
                },
                "attStmt" => att_stmt = Some(AttStmt::from_value(v)?),
                "authData" => auth_data = Some(bytes(v, "authData")?),
                // Unknown top-level keys are ignored (WebAuthn defines no others).
                _ => {}
            }
        }
        Ok(Self {
            fmt: fmt.ok_or(WebAuthnError::MissingField("fmt"))?,
            att_stmt: att_stmt.ok_or(WebAuthnError::MissingField("attStmt"))?,
            auth_data,
        })
    }
}

impl AttStmt {
    fn from_value(value: Value) -> Result<Self, WebAuthnError> {
        let mut out = Self::default();
        for (k, v) in text_map(value, "attStmt")? {
            match k.as_str() {
                "alg" => {
                    let Value::Integer(i) = v else {
                        return Err(cbor("attStmt.alg", "not an integer"));
                    };
                    out.alg =
                        Some(i64::try_from(i).map_err(|_| cbor("attStmt.alg", "out of range"))?);
                }
                "sig" => out.sig = Some(bytes(v, "attStmt.sig")?),
                "ver" => match v {
                    Value::Text(t) => out.ver = Some(t),
                    _ => return Err(cbor("attStmt.ver", "not a text string")),
                },
                "certInfo" => out.cert_info = Some(bytes(v, "attStmt.certInfo")?),
                "pubArea" => out.pub_area = Some(bytes(v, "attStmt.pubArea")?),
                "x5c" => {
                    let Value::Array(items) = v else {
                        return Err(cbor("attStmt.x5c", "not an array"));
                    };
                    if items.len() > MAX_X5C {
                        return Err(WebAuthnError::TooLarge {
                            what: "attStmt.x5c",
                            len: items.len(),
                            limit: MAX_X5C,
                        });
                    }
                    out.x5c = items
                        .into_iter()
                        .map(|i| bytes(i, "attStmt.x5c entry"))
                        .collect::<Result<_, _>>()?;
                }
                _ => {
                    let mut enc = Vec::new();
                    ciborium::ser::into_writer(&v, &mut enc).map_err(|e| cbor("attStmt", e))?;
                    out.other.push((k, enc));
                }
            }
        }
        Ok(out)
    }
}
