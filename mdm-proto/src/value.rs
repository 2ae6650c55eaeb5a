//! Lenient conversions between `plist::Value` and Rust values, and the capped plist reader.
//!
//! Real devices drift from the schema, so reading is lenient where the field is:
//!
//! | schema type | also accepted |
//! |---|---|
//! | `<integer>` | a `<real>` with no fraction, a decimal `<string>` |
//! | `<real>` | an `<integer>`, a decimal `<string>` |
//! | `<boolean>` | `<integer>` 0 or 1, `<string>` `true`/`false`/`YES`/`NO`/`1`/`0` |
//! | `<data>` | a base64 `<string>` |
//! | `<date>` | an ISO 8601 `<string>` (`2024-01-02T03:04:05Z`) |
//!
//! Writing always uses the schema's type. Unknown keys are kept by every generated struct and
//! written back unchanged.

use std::collections::BTreeMap;
use std::io::Cursor;

use base64::Engine as _;
use plist::{Date, Dictionary, Value};

use crate::error::{Error, Result};

/// Read a Rust value from a plist value (consumed, so strings and data move instead of being
/// copied).
pub trait FromPlist: Sized {
    /// Convert, leniently where the schema type allows it (see the module docs).
    fn from_plist(value: Value) -> Result<Self>;
}

/// Write a Rust value as a plist value of the schema's type.
pub trait ToPlist {
    /// Convert to a plist value.
    fn to_plist(&self) -> Value;
}

/// Raw bytes of a `<data>` value (a newtype so that `Vec<u8>` stays free for arrays).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Data(pub Vec<u8>);

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Data({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for Data {
    fn from(v: Vec<u8>) -> Self {
        Data(v)
    }
}

impl AsRef<[u8]> for Data {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The plist type name of a value, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::Dictionary(_) => "dictionary",
        Value::Boolean(_) => "boolean",
        Value::Data(_) => "data",
        Value::Date(_) => "date",
        Value::Real(_) => "real",
        Value::Integer(_) => "integer",
        Value::String(_) => "string",
        Value::Uid(_) => "uid",
        _ => "unknown",
    }
}

fn wrong(expected: &'static str, v: &Value) -> Error {
    Error::WrongType {
        path: String::new(),
        expected,
        found: type_name(v),
    }
}

impl FromPlist for String {
    fn from_plist(v: Value) -> Result<Self> {
        match v {
            Value::String(s) => Ok(s),
            other => Err(wrong("string", &other)),
        }
    }
}
impl ToPlist for String {
    fn to_plist(&self) -> Value {
        Value::String(self.clone())
    }
}

impl FromPlist for i64 {
    fn from_plist(v: Value) -> Result<Self> {
        match &v {
            Value::Integer(i) => i.as_signed().ok_or_else(|| wrong("integer", &v)),
            Value::Real(r) if r.fract() == 0.0 && r.is_finite() && r.abs() < 9.0e15 => {
                Ok(*r as i64)
            }
            Value::String(s) => s.trim().parse().map_err(|_| wrong("integer", &v)),
            _ => Err(wrong("integer", &v)),
        }
    }
}
impl ToPlist for i64 {
    fn to_plist(&self) -> Value {
        Value::Integer((*self).into())
    }
}

impl FromPlist for f64 {
    fn from_plist(v: Value) -> Result<Self> {
        match &v {
            Value::Real(r) => Ok(*r),
            Value::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
                (Some(s), _) => Ok(s as f64),
                (None, Some(u)) => Ok(u as f64),
                _ => Err(wrong("real", &v)),
            },
            Value::String(s) => s.trim().parse().map_err(|_| wrong("real", &v)),
            _ => Err(wrong("real", &v)),
        }
    }
}
impl ToPlist for f64 {
    fn to_plist(&self) -> Value {
        Value::Real(*self)
    }
}

impl FromPlist for bool {
    fn from_plist(v: Value) -> Result<Self> {
        match &v {
            Value::Boolean(b) => Ok(*b),
            Value::Integer(i) => match i.as_signed() {
                Some(0) => Ok(false),
                Some(1) => Ok(true),
                _ => Err(wrong("boolean", &v)),
            },
            Value::String(s) => match s.trim() {
                "true" | "TRUE" | "True" | "YES" | "yes" | "Yes" | "1" => Ok(true),
                "false" | "FALSE" | "False" | "NO" | "no" | "No" | "0" => Ok(false),
                _ => Err(wrong("boolean", &v)),
            },
            _ => Err(wrong("boolean", &v)),
        }
    }
}
impl ToPlist for bool {
    fn to_plist(&self) -> Value {
        Value::Boolean(*self)
    }
}

impl FromPlist for Data {
    fn from_plist(v: Value) -> Result<Self> {
        match v {
            Value::Data(d) => Ok(Data(d)),
            Value::String(s) => {
                let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact.as_bytes())
                    .map(Data)
                    .map_err(|_| wrong("data", &Value::String(s)))
            }
            other => Err(wrong("data", &other)),
        }
    }
}
impl ToPlist for Data {
    fn to_plist(&self) -> Value {
        Value::Data(self.0.clone())
    }
}

impl FromPlist for Date {
    fn from_plist(v: Value) -> Result<Self> {
        match v {
            Value::Date(d) => Ok(d),
            Value::String(s) => {
                Date::from_xml_format(s.trim()).map_err(|_| wrong("date", &Value::String(s)))
            }
            other => Err(wrong("date", &other)),
        }
    }
}
impl ToPlist for Date {
    fn to_plist(&self) -> Value {
        Value::Date(*self)
    }
}

impl FromPlist for Value {
    fn from_plist(v: Value) -> Result<Self> {
        Ok(v)
    }
}
impl ToPlist for Value {
    fn to_plist(&self) -> Value {
        self.clone()
    }
}

impl FromPlist for Dictionary {
    fn from_plist(v: Value) -> Result<Self> {
        match v {
            Value::Dictionary(d) => Ok(d),
            other => Err(wrong("dictionary", &other)),
        }
    }
}
impl ToPlist for Dictionary {
    fn to_plist(&self) -> Value {
        Value::Dictionary(self.clone())
    }
}

impl<T: FromPlist> FromPlist for Vec<T> {
    fn from_plist(v: Value) -> Result<Self> {
        match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    out.push(T::from_plist(item).map_err(|e| e.at(&i.to_string()))?);
                }
                Ok(out)
            }
            other => Err(wrong("array", &other)),
        }
    }
}
impl<T: ToPlist> ToPlist for Vec<T> {
    fn to_plist(&self) -> Value {
        Value::Array(self.iter().map(ToPlist::to_plist).collect())
    }
}

impl<T: FromPlist> FromPlist for BTreeMap<String, T> {
    fn from_plist(v: Value) -> Result<Self> {
        match v {
            Value::Dictionary(d) => {
                let mut out = BTreeMap::new();
                for (k, item) in d {
                    let item = T::from_plist(item).map_err(|e| e.at(&k))?;
                    out.insert(k, item);
                }
                Ok(out)
            }
            other => Err(wrong("dictionary", &other)),
        }
    }
}
impl<T: ToPlist> ToPlist for BTreeMap<String, T> {
    fn to_plist(&self) -> Value {
        let mut d = Dictionary::new();
        for (k, v) in self {
            d.insert(k.clone(), v.to_plist());
        }
        Value::Dictionary(d)
    }
}

/// Take a dictionary out of a value, or say what was there instead.
pub fn expect_dict(v: Value) -> Result<Dictionary> {
    Dictionary::from_plist(v)
}

/// Decode the value of key `key` (used by generated code: the error path gains the key).
#[inline]
pub fn field<T: FromPlist>(v: Value, key: &str) -> Result<T> {
    T::from_plist(v).map_err(|e| e.at(key))
}

/// A required key's decoded value, or [`Error::MissingKey`].
#[inline]
pub fn required<T>(v: Option<T>, key: &str) -> Result<T> {
    v.ok_or_else(|| Error::MissingKey {
        path: key.to_owned(),
    })
}

/// Check a key whose value the schema fixes (`MessageType`, `Item`, ...).
pub fn constant(v: Option<Value>, key: &str, expected: &str) -> Result<()> {
    match v {
        None => Err(Error::MissingKey {
            path: key.to_owned(),
        }),
        Some(Value::String(s)) if s == expected => Ok(()),
        Some(Value::String(s)) => Err(Error::WrongValue {
            path: key.to_owned(),
            expected: expected.to_owned(),
            found: s,
        }),
        Some(other) => Err(wrong("string", &other).at(key)),
    }
}

/// Caps applied before and while reading a plist body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted, in bytes (default 4 MiB; an `InstallProfile` result or an
    /// `UnlockToken` is far below it).
    pub max_bytes: usize,
    /// Deepest container nesting accepted (default 64; Apple's schema nests about 8 deep).
    pub max_depth: usize,
    /// Most values (scalars and containers, counted after binary-plist references are
    /// expanded) accepted (default 1,000,000).
    pub max_values: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 4 << 20,
            max_depth: 64,
            max_values: 1_000_000,
        }
    }
}

/// Parse an XML or binary plist under `limits`.
///
/// The body is checked for size first. XML bodies are scanned for container depth before the
/// `plist` crate sees them; binary bodies get their object graph walked (depth and expanded value
/// count) from the offset table, so neither a deep nest nor a reference bomb reaches the value
/// builder. A `Value` deeper than the cap is never built, so none is dropped recursively.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Value> {
    if bytes.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    if bytes.starts_with(b"bplist") {
        crate::bplist_scan::check(bytes, limits)?;
    } else {
        check_xml_depth(bytes, limits)?;
    }
    Value::from_reader(Cursor::new(bytes)).map_err(|e| Error::Plist(e.to_string()))
}

/// Count `<dict>`/`<array>` nesting in an XML plist, skipping comments, CDATA, processing
/// instructions and the doctype (where a tag-like string does not nest anything).
///
/// One pass, looking only at the start of tag names: XML allows no `<` inside a tag or in text,
/// so the scan jumps from one `<` to the next and reads on to the `>` only to tell `<dict/>`
/// from `<dict>`.
fn check_xml_depth(b: &[u8], limits: &Limits) -> Result<()> {
    let mut depth = 0usize;
    let mut values = 0usize;
    let mut i = 0;
    // Just past the first `end` at or after `from` (the end of the input when there is none).
    let skip_to = |from: usize, end: &[u8]| -> usize {
        let Some(rest) = b.get(from..) else {
            return b.len();
        };
        let found = match end {
            [one] => memchr::memchr(*one, rest),
            _ => memchr::memmem::find(rest, end),
        };
        found.map_or(b.len(), |p| from + p + end.len())
    };
    while let Some(p) = b.get(i..).and_then(|rest| memchr::memchr(b'<', rest)) {
        i += p;
        let tag = &b[i + 1..];
        match tag.first() {
            Some(b'!') => {
                i = if tag.starts_with(b"!--") {
                    skip_to(i + 4, b"-->")
                } else if tag.starts_with(b"![CDATA[") {
                    skip_to(i + 9, b"]]>")
                } else {
                    skip_to(i + 2, b">")
                };
                continue;
            }
            Some(b'?') => {
                i = skip_to(i + 2, b"?>");
                continue;
            }
            _ => {}
        }
        if tag.first() == Some(&b'/') {
            if is_container(&tag[1..]) {
                depth = depth.saturating_sub(1);
            }
            i += 2;
            continue;
        }
        if is_container(tag) {
            values += 1;
            let end = skip_to(i + 1, b">");
            // `<dict/>` opens nothing.
            if b.get(end.wrapping_sub(2)) != Some(&b'/') {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(Error::TooDeep {
                        max: limits.max_depth,
                    });
                }
            }
            i = end;
        } else {
            if !(tag_is(tag, b"key") || tag_is(tag, b"plist")) {
                values += 1;
            }
            i += 1;
        }
        if values > limits.max_values {
            return Err(Error::TooManyValues {
                max: limits.max_values,
            });
        }
    }
    Ok(())
}

/// Whether the tag text after `<` (or `</`) is the element `name`.
#[inline]
fn tag_is(tag: &[u8], name: &[u8]) -> bool {
    tag.starts_with(name)
        && tag
            .get(name.len())
            .is_none_or(|c| c.is_ascii_whitespace() || *c == b'/' || *c == b'>')
}

/// Whether the tag text after `<` (or `</`) names a container.
#[inline]
fn is_container(tag: &[u8]) -> bool {
    match tag.first() {
        Some(b'd') => tag_is(tag, b"dict"),
        Some(b'a') => tag_is(tag, b"array"),
        _ => false,
    }
}

/// Write a value as an XML plist (what devices and Apple's tools send).
pub fn to_xml(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail for a Value we built.
    if v.to_writer_xml(&mut out).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_scalars() {
        assert_eq!(i64::from_plist(Value::Real(3.0)), Ok(3));
        assert!(i64::from_plist(Value::Real(3.5)).is_err());
        assert_eq!(i64::from_plist(Value::String(" 42 ".into())), Ok(42));
        assert_eq!(f64::from_plist(Value::Integer(2.into())), Ok(2.0));
        assert_eq!(f64::from_plist(Value::String("2.5".into())), Ok(2.5));
        assert_eq!(bool::from_plist(Value::Integer(1.into())), Ok(true));
        assert_eq!(bool::from_plist(Value::String("NO".into())), Ok(false));
        assert!(bool::from_plist(Value::Integer(2.into())).is_err());
        assert_eq!(
            Data::from_plist(Value::String("AAE\nC".into())),
            Ok(Data(vec![0, 1, 2]))
        );
        assert!(Data::from_plist(Value::String("!!".into())).is_err());
        let d = Date::from_plist(Value::String("2024-05-06T07:08:09Z".into())).unwrap();
        assert_eq!(d.to_xml_format(), "2024-05-06T07:08:09Z");
        assert_eq!(
            String::from_plist(Value::Integer(1.into())),
            Err(Error::WrongType {
                path: String::new(),
                expected: "string",
                found: "integer"
            })
        );
    }

    #[test]
    fn error_paths_grow_towards_the_root() {
        let v = Value::Array(vec![Value::String("x".into()), Value::Boolean(true)]);
        let e = field::<Vec<String>>(v, "Names").unwrap_err().at("Outer");
        assert_eq!(
            e.to_string(),
            "Outer/Names/1: expected string, found boolean"
        );
        assert_eq!(
            constant(Some(Value::String("B".into())), "MessageType", "A"),
            Err(Error::WrongValue {
                path: "MessageType".into(),
                expected: "A".into(),
                found: "B".into()
            })
        );
    }

    #[test]
    fn xml_scan_ignores_comments_and_counts() {
        let l = Limits {
            max_depth: 2,
            ..Limits::default()
        };
        // Closing tags hidden in a comment do not lower the count.
        let sneaky = b"<plist><array><!-- </array></array> --><array><array></array></array></array></plist>";
        assert_eq!(check_xml_depth(sneaky, &l), Err(Error::TooDeep { max: 2 }));
        assert!(check_xml_depth(b"<plist><array><array/></array></plist>", &l).is_ok());
        // Self-closing with a space, closing tags with trailing space, and names that only
        // start like a container.
        assert!(
            check_xml_depth(
                b"<plist><array><dict /><array></array ></array></plist>",
                &l
            )
            .is_ok()
        );
        assert!(
            check_xml_depth(
                b"<plist><array><dictx><arrays><array></array></array></plist>",
                &l
            )
            .is_ok()
        );
        assert_eq!(
            check_xml_depth(b"<plist><array><dict\n><array>", &l),
            Err(Error::TooDeep { max: 2 })
        );
        let few = Limits {
            max_values: 3,
            ..Limits::default()
        };
        assert_eq!(
            check_xml_depth(b"<array><true/><true/><true/></array>", &few),
            Err(Error::TooManyValues { max: 3 })
        );
    }
}
