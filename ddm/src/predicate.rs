//! Activation predicates: the NSPredicate format subset DDM activations use, parsed into a typed
//! tree and evaluated against a status snapshot the caller supplies.
//!
//! ```text
//! predicate  := or
//! or         := and (("OR" | "||") and)*
//! and        := not (("AND" | "&&") not)*
//! not        := ("NOT" | "!") not | "(" predicate ")" | "TRUEPREDICATE" | "FALSEPREDICATE"
//!             | value op value
//! op         := ("==" | "=" | "!=" | "<>" | "<" | "<=" | "=<" | ">" | ">=" | "=>" | "IN"
//!             | "BEGINSWITH" | "ENDSWITH" | "CONTAINS" | "LIKE" | "MATCHES") ["[c]" | "[d]" | "[cd]"]
//! value      := "@status(" key.path ")" | 'string' | "string" | number
//!             | TRUE | YES | FALSE | NO | NULL | NIL | "{" [value ("," value)*] "}"
//! ```
//! Keywords are case-insensitive, as in NSPredicate. Comparisons follow NSPredicate: `<` and
//! friends compare numbers numerically and strings lexicographically (so `"16.10" < "16.9"`);
//! a comparison between values of different types is false; a status path the snapshot lacks
//! is `NULL`. `LIKE` takes `*` and `?` wildcards; `MATCHES` is a regular expression that must
//! match the whole string; `[c]` ignores case, `[d]` ignores diacritics (Latin letters). The
//! work of one evaluation is bounded: `LIKE` by [`LIKE_BUDGET`] steps, `MATCHES` by the regex
//! crate's linear-time matching and a 64 KiB compiled-size limit.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// Longest predicate accepted, in bytes.
pub const MAX_LEN: usize = 64 * 1024;
/// Deepest nesting of `NOT`, parentheses and array literals accepted.
pub const MAX_DEPTH: usize = 64;

/// Why a predicate did not parse, and where (byte offset into the predicate string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset of the token that failed (the length of the string for "unexpected end").
    pub position: usize,
    /// What was expected or found.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "predicate: {} at byte {}", self.message, self.position)
    }
}

impl std::error::Error for ParseError {}

/// A parsed predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// `TRUEPREDICATE` / `FALSEPREDICATE`.
    Const(bool),
    /// `a AND b`.
    And(Box<Predicate>, Box<Predicate>),
    /// `a OR b`.
    Or(Box<Predicate>, Box<Predicate>),
    /// `NOT a`.
    Not(Box<Predicate>),
    /// `left op[options] right`.
    Compare {
        /// Left operand.
        left: Operand,
        /// The operator.
        op: Op,
        /// `[c]`, `[d]`, `[cd]`.
        options: Options,
        /// Right operand.
        right: Operand,
    },
}

/// An operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `@status(path)`: the status item at `path` in the snapshot.
    Status(String),
    /// A string literal.
    String(String),
    /// A number literal.
    Number(f64),
    /// `TRUE`/`YES`, `FALSE`/`NO`.
    Bool(bool),
    /// `NULL`/`NIL`.
    Null,
    /// `{a, b, ...}`.
    Array(Vec<Operand>),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`, `=`.
    Eq,
    /// `!=`, `<>`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`, `=<`.
    Le,
    /// `>`.
    Gt,
    /// `>=`, `=>`.
    Ge,
    /// `IN`: left is an element of the right array (or a substring of the right string).
    In,
    /// `BEGINSWITH`.
    BeginsWith,
    /// `ENDSWITH`.
    EndsWith,
    /// `CONTAINS`: left string contains right, or left array has an element equal to right.
    Contains,
    /// `LIKE`: `*` and `?` wildcards.
    Like,
    /// `MATCHES`: regular expression over the whole string.
    Matches,
}

/// String comparison options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// `[c]`.
    pub case_insensitive: bool,
    /// `[d]`.
    pub diacritic_insensitive: bool,
}

/// Parse a predicate string.
///
/// # Errors
/// [`ParseError`] with the byte offset of the first token that does not fit the grammar, or
/// of the point where the length or depth cap was passed.
pub fn parse(s: &str) -> Result<Predicate, ParseError> {
    if s.len() > MAX_LEN {
        return Err(ParseError {
            position: MAX_LEN,
            message: format!("longer than {MAX_LEN} bytes"),
        });
    }
    let mut p = Parser {
        s,
        pos: 0,
        depth: 0,
    };
    let out = p.or()?;
    p.ws();
    if p.pos < s.len() {
        return Err(p.err("expected AND, OR or the end"));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> ParseError {
        let found = match self.rest().chars().next() {
            None => "the end".to_owned(),
            Some(c) => format!("{c:?}"),
        };
        ParseError {
            position: self.pos,
            message: format!("{msg}, found {found}"),
        }
    }

    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn punct(&mut self, p: &str) -> bool {
        self.ws();
        if self.rest().starts_with(p) {
            self.pos += p.len();
            true
        } else {
            false
        }
    }

    /// A case-insensitive keyword followed by a non-identifier character.
    fn keyword(&mut self, k: &str) -> bool {
        self.ws();
        let r = self.rest().as_bytes();
        if r.len() >= k.len()
            && r[..k.len()].eq_ignore_ascii_case(k.as_bytes())
            && r.get(k.len())
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
        {
            self.pos += k.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError {
                position: self.pos,
                message: format!("nested deeper than {MAX_DEPTH} levels"),
            });
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Predicate, ParseError> {
        let mut left = self.and()?;
        while self.keyword("OR") || self.punct("||") {
            let right = self.and()?;
            left = Predicate::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Predicate, ParseError> {
        let mut left = self.not()?;
        while self.keyword("AND") || self.punct("&&") {
            let right = self.not()?;
            left = Predicate::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Predicate, ParseError> {
        self.ws();
        if self.keyword("NOT") || (!self.rest().starts_with("!=") && self.punct("!")) {
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Predicate::Not(Box::new(inner)));
        }
        if self.punct("(") {
            self.enter()?;
            let inner = self.or()?;
            if !self.punct(")") {
                return Err(self.err("expected ')'"));
            }
            self.depth -= 1;
            return Ok(inner);
        }
        if self.keyword("TRUEPREDICATE") {
            return Ok(Predicate::Const(true));
        }
        if self.keyword("FALSEPREDICATE") {
            return Ok(Predicate::Const(false));
        }
        let left = self.operand()?;
        let op = self.op()?;
        let options = self.options()?;
        let right = self.operand()?;
        Ok(Predicate::Compare {
            left,
            op,
            options,
            right,
        })
    }

    fn op(&mut self) -> Result<Op, ParseError> {
        self.ws();
        for (text, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<>", Op::Ne),
            ("<=", Op::Le),
            ("=<", Op::Le),
            (">=", Op::Ge),
            ("=>", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("=", Op::Eq),
        ] {
            if self.punct(text) {
                return Ok(op);
            }
        }
        for (word, op) in [
            ("IN", Op::In),
            ("BEGINSWITH", Op::BeginsWith),
            ("ENDSWITH", Op::EndsWith),
            ("CONTAINS", Op::Contains),
            ("LIKE", Op::Like),
            ("MATCHES", Op::Matches),
        ] {
            if self.keyword(word) {
                return Ok(op);
            }
        }
        Err(self.err("expected a comparison operator"))
    }

    fn options(&mut self) -> Result<Options, ParseError> {
        if !self.rest().starts_with('[') {
            return Ok(Options::default());
        }
        let start = self.pos;
        self.pos += 1;
        let mut o = Options::default();
        loop {
            match self.rest().as_bytes().first() {
                Some(b'c' | b'C') => o.case_insensitive = true,
                Some(b'd' | b'D') => o.diacritic_insensitive = true,
                Some(b']') if self.pos > start + 1 => {
                    self.pos += 1;
                    return Ok(o);
                }
                _ => return Err(self.err("expected c, d or ']' in an option")),
            }
            self.pos += 1;
        }
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        self.ws();
        let r = self.rest();
        if r.len() >= 8 && r.as_bytes()[..8].eq_ignore_ascii_case(b"@status(") {
            self.pos += 8;
            self.ws();
            let start = self.pos;
            let len = self
                .rest()
                .find(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_')))
                .unwrap_or(self.rest().len());
            if len == 0 {
                return Err(self.err("expected a status item path"));
            }
            self.pos += len;
            let path = self.s[start..self.pos].to_owned();
            if !self.punct(")") {
                return Err(self.err("expected ')' after the status item path"));
            }
            return Ok(Operand::Status(path));
        }
        match r.chars().next() {
            Some(q @ ('"' | '\'')) => self.string(q),
            Some('{') => {
                self.pos += 1;
                self.enter()?;
                let mut items = Vec::new();
                if !self.punct("}") {
                    loop {
                        items.push(self.operand()?);
                        if self.punct("}") {
                            break;
                        }
                        if !self.punct(",") {
                            return Err(self.err("expected ',' or '}' in an array"));
                        }
                    }
                }
                self.depth -= 1;
                Ok(Operand::Array(items))
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => self.number(),
            _ => {
                for (word, v) in [
                    ("TRUE", Operand::Bool(true)),
                    ("YES", Operand::Bool(true)),
                    ("FALSE", Operand::Bool(false)),
                    ("NO", Operand::Bool(false)),
                    ("NULL", Operand::Null),
                    ("NIL", Operand::Null),
                ] {
                    if self.keyword(word) {
                        return Ok(v);
                    }
                }
                Err(self
                    .err("expected @status(...), a string, a number, TRUE, FALSE, NULL or {...}"))
            }
        }
    }

    fn string(&mut self, quote: char) -> Result<Operand, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e)) => out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '0' => '\0',
                        other => other,
                    }),
                    None => break,
                },
                c if c == quote => {
                    self.pos += i + 1;
                    return Ok(Operand::String(out));
                }
                c => out.push(c),
            }
        }
        Err(ParseError {
            position: start,
            message: "string literal is not closed".into(),
        })
    }

    fn number(&mut self) -> Result<Operand, ParseError> {
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')))
            .unwrap_or(self.rest().len());
        let text = &self.s[start..start + len];
        let v = if let Some(hex) = text.strip_prefix("0x") {
            i64::from_str_radix(hex, 16).ok().map(|i| i as f64)
        } else {
            text.parse::<f64>().ok().filter(|f| f.is_finite())
        };
        match v {
            Some(v) => {
                self.pos += len;
                Ok(Operand::Number(v))
            }
            None => Err(ParseError {
                position: start,
                message: format!("{text:?} is not a number"),
            }),
        }
    }
}

/// Status values by item path (`device.operating-system.version`), as the caller knows them.
/// [`StatusSnapshot::apply`] folds a status report in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusSnapshot {
    values: BTreeMap<String, Value>,
}

impl StatusSnapshot {
    /// An empty snapshot.
    pub fn new() -> StatusSnapshot {
        StatusSnapshot::default()
    }

    /// Set the value at `path`.
    pub fn set(&mut self, path: impl Into<String>, value: Value) {
        self.values.insert(path.into(), value);
    }

    /// The value at `path`.
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.values.get(path)
    }

    /// Fold a status report in: every item it carries (typed or unknown) replaces the value at
    /// its path; items it does not carry keep their value (reports are incremental).
    pub fn apply(&mut self, report: &crate::StatusReport) {
        for (path, v) in report.values() {
            self.values.insert(path, v.clone());
        }
    }
}

impl Predicate {
    /// Evaluate against `snapshot`. A `MATCHES` pattern that is not a valid regular expression
    /// (or is over 64 KiB compiled) makes its comparison false.
    pub fn evaluate(&self, snapshot: &StatusSnapshot) -> bool {
        match self {
            Predicate::Const(b) => *b,
            Predicate::And(a, b) => a.evaluate(snapshot) && b.evaluate(snapshot),
            Predicate::Or(a, b) => a.evaluate(snapshot) || b.evaluate(snapshot),
            Predicate::Not(a) => !a.evaluate(snapshot),
            Predicate::Compare {
                left,
                op,
                options,
                right,
            } => compare(
                &resolve(left, snapshot),
                *op,
                *options,
                &resolve(right, snapshot),
            ),
        }
    }
}

fn resolve(o: &Operand, s: &StatusSnapshot) -> Value {
    match o {
        Operand::Status(p) => s.get(p).cloned().unwrap_or(Value::Null),
        Operand::String(x) => Value::String(x.clone()),
        Operand::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Operand::Bool(b) => Value::Bool(*b),
        Operand::Null => Value::Null,
        Operand::Array(a) => Value::Array(a.iter().map(|x| resolve(x, s)).collect()),
    }
}

fn fold(s: &str, o: Options) -> String {
    let mut out: String = if o.diacritic_insensitive {
        s.chars().map(strip_diacritic).collect()
    } else {
        s.to_owned()
    };
    if o.case_insensitive {
        out = out.to_lowercase();
    }
    out
}

fn strip_diacritic(c: char) -> char {
    const MAP: &[(&str, char)] = &[
        ("àáâãäåāăą", 'a'),
        ("ÀÁÂÃÄÅĀĂĄ", 'A'),
        ("çćĉċč", 'c'),
        ("ÇĆĈĊČ", 'C'),
        ("ďđ", 'd'),
        ("ĎĐ", 'D'),
        ("èéêëēĕėęě", 'e'),
        ("ÈÉÊËĒĔĖĘĚ", 'E'),
        ("ìíîïĩīĭįı", 'i'),
        ("ÌÍÎÏĨĪĬĮİ", 'I'),
        ("ñńņňŉ", 'n'),
        ("ÑŃŅŇ", 'N'),
        ("òóôõöøōŏő", 'o'),
        ("ÒÓÔÕÖØŌŎŐ", 'O'),
        ("ùúûüũūŭůűų", 'u'),
        ("ÙÚÛÜŨŪŬŮŰŲ", 'U'),
        ("ýÿŷ", 'y'),
        ("ÝŸŶ", 'Y'),
        ("śŝşš", 's'),
        ("ŚŜŞŠ", 'S'),
        ("źżž", 'z'),
        ("ŹŻŽ", 'Z'),
    ];
    MAP.iter()
        .find(|(from, _)| from.contains(c))
        .map_or(c, |(_, to)| *to)
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value, o: Options) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => fold(x, o) == fold(y, o),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q, o))
        }
        (Value::Null, Value::Null) => true,
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

fn order(a: &Value, b: &Value, o: Options) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(fold(x, o).cmp(&fold(y, o))),
        _ => num(a)?.partial_cmp(&num(b)?),
    }
}

fn compare(l: &Value, op: Op, o: Options, r: &Value) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let strs = || match (l, r) {
        (Value::String(a), Value::String(b)) => Some((fold(a, o), fold(b, o))),
        _ => None,
    };
    match op {
        Op::Eq => equal(l, r, o),
        Op::Ne => !equal(l, r, o),
        Op::Lt => order(l, r, o) == Some(Less),
        Op::Le => matches!(order(l, r, o), Some(Less | Equal)),
        Op::Gt => order(l, r, o) == Some(Greater),
        Op::Ge => matches!(order(l, r, o), Some(Greater | Equal)),
        Op::In => match r {
            Value::Array(items) => items.iter().any(|x| equal(l, x, o)),
            Value::String(_) => strs().is_some_and(|(a, b)| b.contains(&a)),
            _ => false,
        },
        Op::Contains => match l {
            Value::Array(items) => items.iter().any(|x| equal(x, r, o)),
            _ => strs().is_some_and(|(a, b)| a.contains(&b)),
        },
        Op::BeginsWith => strs().is_some_and(|(a, b)| a.starts_with(&b)),
        Op::EndsWith => strs().is_some_and(|(a, b)| a.ends_with(&b)),
        Op::Like => strs().is_some_and(|(a, b)| like(&a, &b)),
        Op::Matches => match (l, r) {
            (Value::String(a), Value::String(pat)) => {
                regex::RegexBuilder::new(&format!("^(?:{pat})$"))
                    .case_insensitive(o.case_insensitive)
                    .size_limit(64 * 1024)
                    .build()
                    .is_ok_and(|re| {
                        re.is_match(&fold(
                            a,
                            Options {
                                case_insensitive: false,
                                ..o
                            },
                        ))
                    })
            }
            _ => false,
        },
    }
}

/// Most steps one `LIKE` comparison may take; past it the comparison is false.
pub const LIKE_BUDGET: u64 = 10_000_000;

/// `*` matches any run of characters, `?` exactly one. Greedy with one backtrack point:
/// O(len × pattern) at worst, so the work is bounded by [`LIKE_BUDGET`].
fn like(s: &str, p: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = p.chars().collect();
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    let mut steps = 0u64;
    while i < s.len() {
        steps += 1;
        if steps > LIKE_BUDGET {
            return false;
        }
        if j < p.len() && (p[j] == '?' || p[j] == s[i]) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '*' {
            star = Some(j);
            mark = i;
            j += 1;
        } else if let Some(st) = star {
            j = st + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    while j < p.len() && p[j] == '*' {
        j += 1;
    }
    j == p.len()
}
