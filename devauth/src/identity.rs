//! Device identity: the `id_data` attributes, normalised and hashed the way Mender's server
//! does, so identity hashes interoperate.
//!
//! ```text
//! id_data (a string) ──Go-style decode into map[string]interface{}──▶ attributes
//!                    ──json.Marshal (sorted keys, HTML escaping, float64)──▶ normalised
//!                    ──SHA-256──▶ identity hash
//! ```

use sha2::Digest as _;

use crate::gojson::{self, Value};
use crate::{Error, Result};

/// A device identity: a non-empty JSON object of attributes, kept in Mender's normal form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    normalized: String,
    hash: [u8; 32],
}

/// Normalise an `id_data` string exactly as Mender's server does (decode into a Go
/// `map[string]interface{}`, then `json.Marshal`).
///
/// Like Go, a top-level `null` normalises to `null`; arrays, strings, numbers and booleans are
/// errors worded as Go words them (`json: cannot unmarshal array into Go value of type
/// map[string]interface {}`), and so is trailing text.
pub fn normalize(id_data: &str) -> Result<String> {
    let v = gojson::parse(id_data.as_bytes()).map_err(|e| Error::BadIdentity { reason: e.0 })?;
    match v {
        Value::Null | Value::Object(_) => {
            let mut out = String::new();
            gojson::encode(&v, &mut out);
            Ok(out)
        }
        other => Err(not_a_map(&other)),
    }
}

fn not_a_map(v: &Value) -> Error {
    Error::BadIdentity {
        reason: format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            v.go_kind()
        ),
    }
}

impl Identity {
    /// Parse the `id_data` string of an auth request. It must hold a JSON object with at least
    /// one attribute (`null` and `{}` are refused: they would make every such device the same).
    pub fn parse(id_data: &str) -> Result<Self> {
        let v =
            gojson::parse(id_data.as_bytes()).map_err(|e| Error::BadIdentity { reason: e.0 })?;
        Self::from_value(v)
    }

    pub(crate) fn from_value(v: Value) -> Result<Self> {
        match &v {
            Value::Object(m) if !m.is_empty() => {}
            Value::Object(_) => {
                return Err(Error::BadIdentity {
                    reason: "the identity has no attributes".into(),
                });
            }
            Value::Null => {
                return Err(Error::BadIdentity {
                    reason: "the identity is null".into(),
                });
            }
            other => return Err(not_a_map(other)),
        }
        let mut normalized = String::new();
        gojson::encode(&v, &mut normalized);
        let hash = sha2::Sha256::digest(normalized.as_bytes()).into();
        Ok(Self { normalized, hash })
    }

    /// The normalised JSON text (sorted keys, Go's escaping and number layout).
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// SHA-256 of [`Identity::normalized`]: Mender's identity hash.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The identity hash in lower-case hex.
    pub fn hash_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.hash {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// The attributes as a JSON object (for API output).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.normalized).unwrap_or(serde_json::Value::Null)
    }
}
