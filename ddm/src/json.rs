//! Bounded JSON intake and the canonical form tokens are computed over.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::{Error, Result};

/// Caps on what the parsers accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest status report or DeclarativeManagement body, in bytes (default 4 MiB).
    pub max_bytes: usize,
    /// Largest single declaration, in bytes (default 1 MiB; Apple's largest payloads, such as
    /// a legacy profile, stay far below).
    pub max_declaration_bytes: usize,
    /// Deepest nesting of arrays and objects (default 64; the schema nests about 8 deep).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 4 << 20,
            max_declaration_bytes: 1 << 20,
            max_depth: 64,
        }
    }
}

/// The JSON type name of a value, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parse `bytes` as a JSON object under `max` bytes and `limits.max_depth` levels.
///
/// The depth is counted while the value is built, in the same pass: a nest one level too deep
/// fails with [`Error::TooDeep`] as soon as the parser reaches it, before serde_json's own
/// recursion limit and before anything below it is allocated.
pub(crate) fn parse_object(
    bytes: &[u8],
    what: &'static str,
    max: usize,
    limits: &Limits,
) -> Result<serde_json::Map<String, Value>> {
    if bytes.len() > max {
        return Err(Error::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    match parse_bounded(bytes, limits.max_depth, what)? {
        Value::Object(m) => Ok(m),
        other => Err(Error::WrongType {
            path: "/".into(),
            expected: "object",
            found: type_name(&other),
        }),
    }
}

/// One JSON value from `bytes` (nothing but whitespace after it), at most `max_depth` arrays
/// and objects deep.
fn parse_bounded(bytes: &[u8], max_depth: usize, what: &'static str) -> Result<Value> {
    let too_deep = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Bounded {
        left: max_depth,
        too_deep: &too_deep,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| {
        if too_deep.get() {
            Error::TooDeep { max: max_depth }
        } else {
            Error::Json {
                what,
                message: e.to_string(),
            }
        }
    })
}

/// A `serde_json::Value` built the way serde_json builds it, with the nesting budget `left`:
/// an array or object met with no budget left sets `too_deep` and stops the parse.
#[derive(Clone, Copy)]
struct Bounded<'a> {
    left: usize,
    too_deep: &'a Cell<bool>,
}

impl Bounded<'_> {
    /// The budget for the values inside an array or object, or the error that stops the parse.
    fn inner<E: de::Error>(&self) -> std::result::Result<Self, E> {
        match self.left.checked_sub(1) {
            Some(left) => Ok(Bounded {
                left,
                too_deep: self.too_deep,
            }),
            None => {
                self.too_deep.set(true);
                Err(E::custom("nested too deep"))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> std::result::Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> std::result::Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> std::result::Result<Value, E> {
        // What serde_json's own Value does: a non-finite float (which JSON text cannot
        // produce) becomes null.
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> std::result::Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(inner)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// Write `v` in a canonical form: object keys sorted by their UTF-8 bytes, no whitespace,
/// strings and numbers as serde_json writes them. Two values that are equal as JSON have the
/// same canonical bytes whatever their key order or spacing was.
pub(crate) fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(x, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_str(s, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(Value::String(s.to_owned()).to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(bytes: &[u8], max: usize) -> Result<Value> {
        parse_bounded(bytes, max, "test")
    }

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert!(depth(br#"{"a":"[[[[[[[["}"#, 2).is_ok());
        assert!(depth(br#"{"a":"\"[[[","b":[[1]]}"#, 3).is_ok());
        assert_eq!(depth(b"[[[]]]", 3).map(|_| ()), Ok(()));
        assert_eq!(depth(b"[[[[]]]]", 3), Err(Error::TooDeep { max: 3 }));
        assert_eq!(
            depth(br#"{"a":{"b":{}}}"#, 2),
            Err(Error::TooDeep { max: 2 })
        );
        // Unclosed: the depth is reached before the missing brackets are.
        assert_eq!(depth(b"[[[[[[", 3), Err(Error::TooDeep { max: 3 }));
        assert_eq!(depth(b"1", 0).map(|_| ()), Ok(()));
        assert_eq!(depth(b"[]", 0), Err(Error::TooDeep { max: 0 }));
    }

    #[test]
    fn bounded_parse_builds_what_serde_json_builds() {
        let text =
            br#" {"a": [1, -2, 3.5, 1e300, true, null, "\u00e9\n"], "b": {"a": {}}, "a": 7} "#;
        let ours = depth(text, 64);
        let theirs = serde_json::from_slice::<Value>(text).map_err(|e| e.to_string());
        match (ours, theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (ours, theirs) => panic!("ours {ours:?}, serde_json {theirs:?}"),
        }
        for bad in [&b"{"[..], b"[1,]", b"{} x", b"", b"{\"a\" 1}"] {
            assert!(matches!(depth(bad, 64), Err(Error::Json { .. })), "{bad:?}");
        }
    }

    #[test]
    fn canonical_sorts_keys_and_drops_spacing() {
        let a: Value = serde_json::from_str(r#"{ "b": [1, {"y":1,"x":"é"}], "a": null }"#).unwrap();
        let mut out = Vec::new();
        canonical(&a, &mut out);
        assert_eq!(out, r#"{"a":null,"b":[1,{"x":"é","y":1}]}"#.as_bytes());
    }
}
