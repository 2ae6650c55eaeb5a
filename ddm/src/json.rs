//! Bounded JSON intake and the canonical form tokens are computed over.

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
/// The depth is checked by a scan of the bytes before serde_json builds anything, so a deep
/// nest fails with [`Error::TooDeep`] rather than reaching the parser's own recursion limit.
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
    check_depth(bytes, limits.max_depth)?;
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::Json {
        what,
        message: e.to_string(),
    })?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(Error::WrongType {
            path: "/".into(),
            expected: "object",
            found: type_name(&other),
        }),
    }
}

fn check_depth(bytes: &[u8], max: usize) -> Result<()> {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for &b in bytes {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(Error::TooDeep { max });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
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

    #[test]
    fn depth_scan_ignores_brackets_in_strings() {
        assert!(check_depth(br#"{"a":"[[[[[[[["}"#, 2).is_ok());
        assert!(check_depth(br#"{"a":"\"[[[","b":[[1]]}"#, 3).is_ok());
        assert_eq!(check_depth(b"[[[[]]]]", 3), Err(Error::TooDeep { max: 3 }));
    }

    #[test]
    fn canonical_sorts_keys_and_drops_spacing() {
        let a: Value = serde_json::from_str(r#"{ "b": [1, {"y":1,"x":"é"}], "a": null }"#).unwrap();
        let mut out = Vec::new();
        canonical(&a, &mut out);
        assert_eq!(out, r#"{"a":null,"b":[1,{"x":"é","y":1}]}"#.as_bytes());
    }
}
