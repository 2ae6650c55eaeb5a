//! Reading JSON values into the generated types: [`FromJson`], one pass over a borrowed
//! `serde_json::Value`, errors naming the key path.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::json::type_name;

/// Why a JSON value does not have the schema's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Key path below the value decoded, `/`-separated (array elements as their index).
    pub path: String,
    /// What was wrong.
    pub kind: JsonErrorKind,
}

/// What was wrong with a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// A value of another JSON type than the schema's.
    WrongType {
        /// The type required.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A required key is absent.
    MissingKey,
}

impl JsonError {
    fn wrong(expected: &'static str, v: &Value) -> JsonError {
        JsonError {
            path: String::new(),
            kind: JsonErrorKind::WrongType {
                expected,
                found: type_name(v),
            },
        }
    }

    /// The same error, one level further from the root (`at` is a key or an index).
    pub fn at(mut self, at: &str) -> JsonError {
        self.path = if self.path.is_empty() {
            at.to_owned()
        } else {
            format!("{at}/{}", self.path)
        };
        self
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(top)"
        } else {
            &self.path
        };
        match &self.kind {
            JsonErrorKind::WrongType { expected, found } => {
                write!(f, "{path}: expected {expected}, found {found}")
            }
            JsonErrorKind::MissingKey => write!(f, "{path}: required key is missing"),
        }
    }
}

impl std::error::Error for JsonError {}

/// A type read from a borrowed JSON value.
pub trait FromJson: Sized {
    /// Read `v`.
    ///
    /// # Errors
    /// `v` (or a value below it) does not have the type's shape.
    fn from_json(v: &Value) -> Result<Self, JsonError>;

    /// Read `v`, taking it apart: strings, arrays and maps move into the result instead of
    /// being copied. The same checks and errors as [`FromJson::from_json`]; the default copies.
    ///
    /// # Errors
    /// As [`FromJson::from_json`].
    fn from_json_owned(v: Value) -> Result<Self, JsonError> {
        Self::from_json(&v)
    }
}

impl FromJson for String {
    fn from_json(v: &Value) -> Result<Self, JsonError> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| JsonError::wrong("string", v))
    }

    fn from_json_owned(v: Value) -> Result<Self, JsonError> {
        match v {
            Value::String(s) => Ok(s),
            v => Err(JsonError::wrong("string", &v)),
        }
    }
}

impl FromJson for i64 {
    fn from_json(v: &Value) -> Result<Self, JsonError> {
        // An integral real (`3.0`) is accepted where the schema says integer.
        v.as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| JsonError::wrong("integer", v))
    }
}

impl FromJson for f64 {
    fn from_json(v: &Value) -> Result<Self, JsonError> {
        v.as_f64().ok_or_else(|| JsonError::wrong("number", v))
    }
}

impl FromJson for bool {
    fn from_json(v: &Value) -> Result<Self, JsonError> {
        v.as_bool().ok_or_else(|| JsonError::wrong("boolean", v))
    }
}

impl FromJson for Value {
    fn from_json(v: &Value) -> Result<Self, JsonError> {
        Ok(v.clone())
    }

    fn from_json_owned(v: Value) -> Result<Self, JsonError> {
        Ok(v)
    }
}

impl FromJson for Map<String, Value> {
    fn from_json(v: &Value) -> Result<Self, JsonError> {
        expect_object(v).cloned()
    }

    fn from_json_owned(v: Value) -> Result<Self, JsonError> {
        into_object(v)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: &Value) -> Result<Self, JsonError> {
        let a = v.as_array().ok_or_else(|| JsonError::wrong("array", v))?;
        a.iter()
            .enumerate()
            .map(|(i, x)| T::from_json(x).map_err(|e| e.at(&i.to_string())))
            .collect()
    }

    fn from_json_owned(v: Value) -> Result<Self, JsonError> {
        let a = match v {
            Value::Array(a) => a,
            v => return Err(JsonError::wrong("array", &v)),
        };
        a.into_iter()
            .enumerate()
            .map(|(i, x)| T::from_json_owned(x).map_err(|e| e.at(&i.to_string())))
            .collect()
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json(v: &Value) -> Result<Self, JsonError> {
        expect_object(v)?
            .iter()
            .map(|(k, x)| Ok((k.clone(), T::from_json(x).map_err(|e| e.at(k))?)))
            .collect()
    }

    fn from_json_owned(v: Value) -> Result<Self, JsonError> {
        into_object(v)?
            .into_iter()
            .map(|(k, x)| {
                let t = T::from_json_owned(x).map_err(|e| e.at(&k))?;
                Ok((k, t))
            })
            .collect()
    }
}

/// `v` as an object.
///
/// # Errors
/// `v` is not an object.
pub fn expect_object(v: &Value) -> Result<&Map<String, Value>, JsonError> {
    v.as_object().ok_or_else(|| JsonError::wrong("object", v))
}

/// `v` as an object, taken out of the value.
///
/// # Errors
/// `v` is not an object.
pub fn into_object(v: Value) -> Result<Map<String, Value>, JsonError> {
    match v {
        Value::Object(m) => Ok(m),
        v => Err(JsonError::wrong("object", &v)),
    }
}

/// Read the value of `key`, naming the key in an error.
///
/// # Errors
/// The value does not have `T`'s shape.
pub fn field<T: FromJson>(v: &Value, key: &str) -> Result<T, JsonError> {
    T::from_json(v).map_err(|e| e.at(key))
}

/// Read an optional key's value; JSON `null` reads as absent.
///
/// # Errors
/// The value is neither `null` nor of `T`'s shape.
pub fn optional_field<T: FromJson>(v: &Value, key: &str) -> Result<Option<T>, JsonError> {
    match v {
        Value::Null => Ok(None),
        v => field(v, key).map(Some),
    }
}

/// [`field`], taking `v` apart.
///
/// # Errors
/// As [`field`].
pub fn field_owned<T: FromJson>(v: Value, key: &str) -> Result<T, JsonError> {
    T::from_json_owned(v).map_err(|e| e.at(key))
}

/// [`optional_field`], taking `v` apart.
///
/// # Errors
/// As [`optional_field`].
pub fn optional_field_owned<T: FromJson>(v: Value, key: &str) -> Result<Option<T>, JsonError> {
    match v {
        Value::Null => Ok(None),
        v => field_owned(v, key).map(Some),
    }
}

/// A required key's value, or [`JsonErrorKind::MissingKey`] naming it.
///
/// # Errors
/// `v` is `None`.
pub fn required<T>(v: Option<T>, key: &str) -> Result<T, JsonError> {
    v.ok_or_else(|| JsonError {
        path: key.to_owned(),
        kind: JsonErrorKind::MissingKey,
    })
}
