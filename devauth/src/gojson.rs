//! JSON read and written the way Go's `encoding/json` does it, for the identity hash.
//!
//! Mender's server hashes an identity by decoding `id_data` into a Go
//! `map[string]interface{}` and re-encoding it with `json.Marshal`. To produce the same hash we
//! reproduce both halves:
//!
//! - decoding: strict RFC 8259 grammar, numbers become IEEE-754 doubles (correctly rounded; out
//!   of range is an error), duplicate keys keep the last value, invalid UTF-8 bytes and lone
//!   surrogate escapes become U+FFFD;
//! - encoding: object keys sorted by their UTF-8 bytes, no whitespace, `<`, `>`, `&`, U+2028 and
//!   U+2029 escaped as `\u003c` and so on, control characters as `\n`, `\r`, `\t`, `\b`, `\f` or
//!   `\u00XX` (Go 1.22 and later), numbers in Go's float64 layout (shortest round-trip digits,
//!   exponent form below 1e-6 and from 1e21 up, `1e+21`, `1e-7`).
//!
//! The parser is total: it returns an error for any input, never panics, and caps nesting.

use std::collections::BTreeMap;

/// A decoded JSON value, as Go's `interface{}` holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(BTreeMap<String, Value>),
}

impl Value {
    /// Go's word for the JSON kind, as in its `UnmarshalTypeError` messages.
    pub(crate) fn go_kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

/// Why a JSON text did not decode. The message follows Go's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError(pub(crate) String);

/// Deepest nesting accepted (Go allows 10000; identities are flat).
pub(crate) const MAX_DEPTH: usize = 64;

/// Decode one JSON text (with optional surrounding whitespace) from bytes.
pub(crate) fn parse(input: &[u8]) -> Result<Value, SyntaxError> {
    let mut p = Parser { s: input, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    match p.peek() {
        None => Ok(v),
        Some(c) => Err(SyntaxError(format!(
            "invalid character {} after top-level value",
            quote_char(c)
        ))),
    }
}

fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        0x20..=0x7e => format!("'{}'", c as char),
        b'\n' => "'\\n'".into(),
        b'\r' => "'\\r'".into(),
        b'\t' => "'\\t'".into(),
        _ => format!("'\\x{c:02x}'"),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eof() -> SyntaxError {
        SyntaxError("unexpected end of JSON input".into())
    }

    fn unexpected(&self, context: &str) -> SyntaxError {
        match self.peek() {
            None => Self::eof(),
            Some(c) => SyntaxError(format!("invalid character {} {context}", quote_char(c))),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth >= MAX_DEPTH {
            return Err(SyntaxError(format!(
                "exceeded max depth of {MAX_DEPTH} nested values"
            )));
        }
        match self.peek() {
            None => Err(Self::eof()),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.unexpected("looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, SyntaxError> {
        for (k, want) in word.iter().enumerate() {
            match self.peek() {
                None => return Err(Self::eof()),
                Some(c) if c == *want => self.i += 1,
                Some(_) => {
                    let ctx = format!(
                        "in literal {} (expecting '{}')",
                        String::from_utf8_lossy(word),
                        word.get(k).map(|b| *b as char).unwrap_or('?')
                    );
                    return Err(self.unexpected(&ctx));
                }
            }
        }
        Ok(v)
    }

    fn object(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.i += 1; // '{'
        let mut map = BTreeMap::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("looking for beginning of object key string"));
            }
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("after object key"));
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            map.insert(key, v);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.unexpected("after object key:value pair")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.i += 1; // '['
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.unexpected("after array element")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.unexpected("in numeric literal")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.unexpected("after decimal point in numeric literal"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.unexpected("in exponent of numeric literal"));
            }
            self.digits();
        }
        let text = self.s.get(start..self.i).unwrap_or_default();
        // The grammar above admits only ASCII.
        let text = core::str::from_utf8(text).map_err(|_| Self::eof())?;
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Number(f)),
            _ => Err(SyntaxError(format!(
                "json: cannot unmarshal number {text} into Go value of type float64"
            ))),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.s.get(at..at + 4)?;
        let mut v = 0u32;
        for c in h {
            v = v * 16 + (*c as char).to_digit(16)?;
        }
        Some(v)
    }

    /// A string literal; the cursor is on the opening quote.
    fn string(&mut self) -> Result<String, SyntaxError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(Self::eof());
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let Some(e) = self.peek() else {
                        return Err(Self::eof());
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let Some(r) = self.hex4(self.i) else {
                                self.i -= 1;
                                return Err(self.unexpected("in \\u hexadecimal character escape"));
                            };
                            self.i += 4;
                            if (0xd800..0xe000).contains(&r) {
                                // Go: a valid pair is combined, anything else is U+FFFD and
                                // the following escape (if any) is read on its own.
                                let low = if self.s.get(self.i..self.i + 2) == Some(b"\\u") {
                                    self.hex4(self.i + 2)
                                } else {
                                    None
                                };
                                match low {
                                    Some(lo)
                                        if (0xd800..0xdc00).contains(&r)
                                            && (0xdc00..0xe000).contains(&lo) =>
                                    {
                                        let cp = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
                                        out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                                        self.i += 6;
                                    }
                                    _ => out.push('\u{fffd}'),
                                }
                            } else {
                                out.push(char::from_u32(r).unwrap_or('\u{fffd}'));
                            }
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self.unexpected("in string escape code"));
                        }
                    }
                }
                0x00..=0x1f => return Err(self.unexpected("in string literal")),
                _ => {
                    // Copy a run of plain bytes, replacing each invalid UTF-8 byte with U+FFFD
                    // the way Go's decoder does (one replacement per offending byte).
                    let start = self.i;
                    while let Some(b) = self.peek() {
                        if b == b'"' || b == b'\\' || b < 0x20 {
                            break;
                        }
                        self.i += 1;
                    }
                    push_lossy_go(&mut out, self.s.get(start..self.i).unwrap_or_default());
                }
            }
        }
    }
}

/// Append `bytes` as UTF-8, one U+FFFD per byte that does not start a valid sequence.
fn push_lossy_go(out: &mut String, mut bytes: &[u8]) {
    loop {
        match core::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return;
            }
            Err(e) => {
                let (good, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(core::str::from_utf8(good).unwrap_or_default());
                out.push('\u{fffd}');
                bytes = rest.get(1..).unwrap_or_default();
            }
        }
    }
}

/// Encode `v` as Go's `json.Marshal` does (HTML escaping on, map keys sorted).
pub(crate) fn encode(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(f) => encode_float(*f, out),
        Value::String(s) => encode_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                encode(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (k, (key, item)) in map.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                encode_string(key, out);
                out.push(':');
                encode(item, out);
            }
            out.push('}');
        }
    }
}

/// Go's float64 layout: `strconv.FormatFloat(f, 'f', -1, 64)`, or `'e'` outside
/// `[1e-6, 1e21)`, with a two-digit negative exponent shortened (`1e-07` becomes `1e-7`).
fn encode_float(f: f64, out: &mut String) {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` gives the same shortest digits as Go, as `d.ddde±x` without a sign
        // on positive exponents and without padding.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => {
                out.push_str(mantissa);
                out.push('e');
                if let Some(neg) = exp.strip_prefix('-') {
                    out.push('-');
                    out.push_str(neg);
                } else {
                    out.push('+');
                    if exp.len() < 2 {
                        out.push('0');
                    }
                    out.push_str(exp);
                }
            }
            None => out.push_str(&s),
        }
    } else {
        // Shortest round-trip digits in plain decimal, like Go's 'f' with precision -1.
        out.push_str(&format!("{f}"));
    }
}

fn encode_string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u32;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize & 0xf] as char);
                out.push(HEX[b as usize & 0xf] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &str) -> String {
        let mut out = String::new();
        encode(&parse(s.as_bytes()).expect("parses"), &mut out);
        out
    }

    #[test]
    fn numbers_in_go_layout() {
        // Layouts from the Go documentation of strconv.FormatFloat and encoding/json.
        assert_eq!(roundtrip("1e21"), "1e+21");
        assert_eq!(roundtrip("1.5e300"), "1.5e+300");
        assert_eq!(roundtrip("1e-7"), "1e-7");
        assert_eq!(roundtrip("1.25e-10"), "1.25e-10");
        assert_eq!(roundtrip("0.000001"), "0.000001");
        assert_eq!(roundtrip("123456789e12"), "123456789000000000000");
        assert_eq!(roundtrip("-0.0"), "-0");
        assert_eq!(roundtrip("0.1"), "0.1");
    }

    #[test]
    fn strings_escaped_like_go() {
        assert_eq!(
            roundtrip(r#""\u0001\b\f/\u007f""#),
            "\"\\u0001\\b\\f/\u{7f}\""
        );
        assert_eq!(roundtrip(r#""\ud83d\ude00""#), "\"\u{1f600}\"");
        assert_eq!(roundtrip(r#""\ud83d\u0041""#), "\"\u{fffd}A\"");
        assert_eq!(roundtrip(r#""\ude00""#), "\"\u{fffd}\"");
        let mut out = String::new();
        encode(&parse(b"\"a\xe2\x82b\"").expect("parses"), &mut out);
        assert_eq!(out, "\"a\u{fffd}\u{fffd}b\"");
    }

    #[test]
    fn malformed_inputs_are_errors() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\"",
            b"{\"a\":}",
            b"[1,]",
            b"01",
            b"1.",
            b"1e",
            b"-",
            b"tru",
            b"nul",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"a\nb\"",
            b"{\"a\":1,}",
            b"1e400",
            b"{1:2}",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).is_err());
        let ok = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        assert!(parse(ok.as_bytes()).is_ok());
    }
}
