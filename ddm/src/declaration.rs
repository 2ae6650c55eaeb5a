//! One declaration: `Type`, `Identifier`, `ServerToken`, `Payload`, typed and raw.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::generated::declarations::DeclarationPayload;
use crate::json::{self, Limits};
use crate::schema::SchemaEntry;
use crate::token;

/// Apple's limit on `Identifier` and `ServerToken`, in octets.
pub const MAX_IDENTIFIER_OCTETS: usize = 64;

/// The four kinds of declaration, from the `Type` prefix. The kind decides the endpoint
/// (`declaration/<kind>/<Identifier>`) and the DeclarationItemsResponse array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `com.apple.activation.*`: says which configurations apply, under a predicate.
    Activation,
    /// `com.apple.asset.*`: data a configuration refers to (credentials, files).
    Asset,
    /// `com.apple.configuration.*`: a setting applied when an activation names it.
    Configuration,
    /// `com.apple.management.*`: information about the management itself; never "active".
    Management,
}

impl Kind {
    /// All kinds in DeclarationItemsResponse order.
    pub const ALL: [Kind; 4] = [
        Kind::Activation,
        Kind::Asset,
        Kind::Configuration,
        Kind::Management,
    ];

    /// The kind of a declaration `Type`, `None` when the prefix is none of the four.
    pub fn of_type(declaration_type: &str) -> Option<Kind> {
        let rest = declaration_type.strip_prefix("com.apple.")?;
        let (head, tail) = rest.split_once('.')?;
        if tail.is_empty() {
            return None;
        }
        Some(match head {
            "activation" => Kind::Activation,
            "asset" => Kind::Asset,
            "configuration" => Kind::Configuration,
            "management" => Kind::Management,
            _ => return None,
        })
    }

    /// The word in `declaration/<kind>/<Identifier>` endpoints.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Activation => "activation",
            Kind::Asset => "asset",
            Kind::Configuration => "configuration",
            Kind::Management => "management",
        }
    }

    /// The inverse of [`Kind::as_str`].
    pub fn from_word(word: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == word)
    }

    /// The DeclarationItemsResponse array (`Activations`, ...) and status report array
    /// (`activations`, ...) name.
    pub fn items_key(self) -> &'static str {
        match self {
            Kind::Activation => "Activations",
            Kind::Asset => "Assets",
            Kind::Configuration => "Configurations",
            Kind::Management => "Management",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A declaration as the server stores and serves it.
///
/// ```text
/// {
///   Type          <string>      required   com.apple.<kind>.<name>
///   Identifier    <string>      required   at most 64 octets
///   ServerToken   <string>      required   at most 64 octets (computed when absent)
///   Payload       <dictionary>  required   typed by `Type` when the schema knows it
///   ...           (other keys kept and served unchanged)
/// }
/// ```
/// Schema: `declarative/declarations/declarationbase.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    kind: Kind,
    declaration_type: String,
    identifier: String,
    server_token: String,
    // The same token inline (at most 64 octets, checked), so hashing a set's tokens reads
    // declarations in place instead of following one heap pointer each.
    token_inline: ([u8; MAX_IDENTIFIER_OCTETS], u8),
    token_given: bool,
    // Boxed: the payload enum is as large as its largest schema struct, and sets iterate over
    // declarations far more often than they read typed payloads.
    typed: Option<Box<DeclarationPayload>>,
    raw: Map<String, Value>,
}

impl Declaration {
    /// Parse a declaration from JSON, within `limits.max_declaration_bytes`.
    ///
    /// A declaration without `ServerToken` (as uploaded, before a server stored it) gets one
    /// computed from its content ([`token::server_token`]); a given one is kept. The payload is
    /// decoded into its generated type when the schema knows `Type`; a type the schema lacks is
    /// kept raw and still served. Unknown keys, at the top and in the payload, are kept.
    ///
    /// # Errors
    /// Not JSON, not an object, over the caps, a missing or non-string `Type`/`Identifier`, a
    /// missing or non-object `Payload`, an unknown kind prefix, an identifier or token over 64
    /// octets, or a payload that does not match its schema type ([`Error::Payload`]).
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Declaration> {
        let raw = json::parse_object(bytes, "declaration", limits.max_declaration_bytes, limits)?;
        Declaration::from_object(raw)
    }

    /// [`Declaration::parse`] from an already parsed JSON object.
    ///
    /// # Errors
    /// As [`Declaration::parse`], except the byte and depth caps (the caller parsed).
    pub fn from_object(mut raw: Map<String, Value>) -> Result<Declaration> {
        let declaration_type = string_key(&raw, "Type")?;
        let identifier = string_key(&raw, "Identifier")?;
        check_len("Identifier", &identifier, MAX_IDENTIFIER_OCTETS)?;
        let payload = match raw.get("Payload") {
            None => {
                return Err(Error::MissingKey {
                    path: "/Payload".into(),
                });
            }
            Some(p @ Value::Object(_)) => p,
            Some(other) => {
                return Err(Error::WrongType {
                    path: "/Payload".into(),
                    expected: "object",
                    found: json::type_name(other),
                });
            }
        };
        let kind = Kind::of_type(&declaration_type).ok_or_else(|| Error::UnknownKind {
            identifier: identifier.clone(),
            declaration_type: declaration_type.clone(),
        })?;
        let typed =
            DeclarationPayload::decode(&declaration_type, payload).map_err(|e| Error::Payload {
                identifier: identifier.clone(),
                declaration_type: declaration_type.clone(),
                message: e.to_string(),
            })?;
        let (server_token, token_given) = match raw.get("ServerToken") {
            None => (token::server_token(&raw), false),
            Some(Value::String(s)) => (s.clone(), true),
            Some(other) => {
                return Err(Error::WrongType {
                    path: "/ServerToken".into(),
                    expected: "string",
                    found: json::type_name(other),
                });
            }
        };
        check_len("ServerToken", &server_token, MAX_IDENTIFIER_OCTETS)?;
        raw.insert("ServerToken".into(), Value::String(server_token.clone()));
        Ok(Declaration {
            kind,
            declaration_type,
            identifier,
            token_inline: inline(&server_token),
            server_token,
            token_given,
            typed: typed.map(Box::new),
            raw,
        })
    }

    /// The kind, from the `Type` prefix.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// `Type`.
    pub fn declaration_type(&self) -> &str {
        &self.declaration_type
    }

    /// `Identifier`.
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// `ServerToken`: the one given in the JSON, or the one computed from the content.
    pub fn server_token(&self) -> &str {
        &self.server_token
    }

    /// `ServerToken` as bytes, read from the declaration itself (no pointer to follow).
    pub(crate) fn server_token_bytes(&self) -> &[u8] {
        &self.token_inline.0[..usize::from(self.token_inline.1)]
    }

    /// Whether the JSON carried its own `ServerToken`.
    pub fn token_given(&self) -> bool {
        self.token_given
    }

    /// Replace the `ServerToken` with the one computed from the content
    /// ([`token::server_token`]), as a [`crate::TokenMode::Content`] set does on insert.
    pub fn use_content_token(&mut self) {
        let t = token::server_token(&self.raw);
        self.raw
            .insert("ServerToken".into(), Value::String(t.clone()));
        self.token_inline = inline(&t);
        self.server_token = t;
    }

    /// The payload as its generated type; `None` for a type the schema does not list.
    pub fn typed(&self) -> Option<&DeclarationPayload> {
        self.typed.as_deref()
    }

    /// `Payload` as sent.
    pub fn payload(&self) -> &Map<String, Value> {
        match self.raw.get("Payload") {
            Some(Value::Object(p)) => p,
            // `from_object` checked `Payload` is an object and nothing replaces it.
            _ => empty_map(),
        }
    }

    /// The whole declaration as served: every key as sent, with `ServerToken` set.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// The body of `declaration/<kind>/<Identifier>`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.raw).unwrap_or_default()
    }

    /// The schema entry for `Type`, `None` for a type the schema does not list.
    pub fn schema(&self) -> Option<&'static SchemaEntry> {
        schema_entry(&self.declaration_type)
    }
}

fn inline(token: &str) -> ([u8; MAX_IDENTIFIER_OCTETS], u8) {
    let mut out = [0u8; MAX_IDENTIFIER_OCTETS];
    let n = token.len().min(MAX_IDENTIFIER_OCTETS);
    out[..n].copy_from_slice(&token.as_bytes()[..n]);
    (out, n as u8)
}

/// The schema entry of a declaration type.
pub fn schema_entry(declaration_type: &str) -> Option<&'static SchemaEntry> {
    crate::generated::declarations::ALL
        .iter()
        .find(|e| e.name == declaration_type)
}

fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

fn string_key(raw: &Map<String, Value>, key: &str) -> Result<String> {
    match raw.get(key) {
        None => Err(Error::MissingKey {
            path: format!("/{key}"),
        }),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(Error::WrongType {
            path: format!("/{key}"),
            expected: "string",
            found: json::type_name(other),
        }),
    }
}

pub(crate) fn check_len(what: &'static str, s: &str, max: usize) -> Result<()> {
    if s.len() > max {
        return Err(Error::TooLong {
            what,
            len: s.len(),
            max,
        });
    }
    Ok(())
}
