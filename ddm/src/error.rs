//! The crate's one error type and its mapping onto HTTP status codes.

use crate::Kind;

/// Everything that can go wrong in this crate.
///
/// Variants about the peer's bytes (`Json`, `TooLarge`, `TooDeep`, `NotAnObject`, `Base64`,
/// `UnknownEndpoint`, ...) answer `400 Bad Request` through [`Error::http_status`], a declaration
/// the set does not hold answers `404`, and our own misuse of the API answers `500`. Key paths
/// are `/`-separated from the document root, array elements as their index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not JSON.
    #[error("{what}: not JSON: {message}")]
    Json {
        /// What was being read (`declaration`, `status report`, ...).
        what: &'static str,
        /// The JSON parser's message (line and column).
        message: String,
    },
    /// The body is larger than the cap in force.
    #[error("{what} of {len} bytes is over the {max}-byte cap")]
    TooLarge {
        /// What was being read.
        what: &'static str,
        /// Bytes received.
        len: usize,
        /// The cap ([`crate::Limits::max_bytes`] or [`crate::Limits::max_declaration_bytes`]).
        max: usize,
    },
    /// Arrays and objects are nested deeper than the cap in force.
    #[error("JSON nesting is deeper than the cap of {max} levels")]
    TooDeep {
        /// The cap ([`crate::Limits::max_depth`]).
        max: usize,
    },
    /// A value has another JSON type than the one required (the top level of a declaration, a
    /// status report or a response must be an object).
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Key path from the root (`/` for the root itself).
        path: String,
        /// The JSON type required.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A value that does not have the shape the schema gives it.
    #[error("{path}: does not match the schema: {message}")]
    Schema {
        /// Key path from the root.
        path: String,
        /// What serde found wrong.
        message: String,
    },
    /// A required key is absent.
    #[error("{path}: required key is missing")]
    MissingKey {
        /// Key path from the root, ending in the missing key.
        path: String,
    },
    /// A declaration's `Type` does not start with `com.apple.activation.`,
    /// `com.apple.asset.`, `com.apple.configuration.` or `com.apple.management.`, so its kind
    /// (and endpoint) cannot be known.
    #[error(
        "declaration {identifier:?}: type {declaration_type:?} is not an activation, asset, configuration or management type"
    )]
    UnknownKind {
        /// The declaration's `Identifier`.
        identifier: String,
        /// The `Type` sent.
        declaration_type: String,
    },
    /// A declaration's `Payload` does not have the shape the schema gives its type.
    #[error(
        "declaration {identifier:?} ({declaration_type}): payload does not match the schema: {message}"
    )]
    Payload {
        /// The declaration's `Identifier`.
        identifier: String,
        /// The declaration's `Type`.
        declaration_type: String,
        /// What serde found wrong (missing field, wrong type), with its position.
        message: String,
    },
    /// An `Identifier` or `ServerToken` over Apple's 64-octet limit, or a `DeclarationsToken`
    /// over 256 octets.
    #[error("{what} of {len} octets is over the {max}-octet limit")]
    TooLong {
        /// `Identifier`, `ServerToken` or `DeclarationsToken`.
        what: &'static str,
        /// Octets.
        len: usize,
        /// Apple's limit.
        max: usize,
    },
    /// Two declarations of one set share an `Identifier`.
    #[error("identifier {identifier:?} is used by a {first} and a {second} declaration")]
    DuplicateIdentifier {
        /// The shared identifier.
        identifier: String,
        /// The kind of the declaration already in the set.
        first: Kind,
        /// The kind of the declaration added.
        second: Kind,
    },
    /// A declaration names another that the set does not hold (or holds as another kind or
    /// asset type): an activation's `StandardConfigurations`, a configuration's asset reference.
    #[error(
        "{from_kind} {from:?} names {to_kind} {to:?} at {path}, which is not in the set{detail}"
    )]
    MissingReference {
        /// Kind of the declaration holding the reference.
        from_kind: Kind,
        /// Its identifier.
        from: String,
        /// The payload key path of the reference.
        path: String,
        /// The kind the reference must name.
        to_kind: Kind,
        /// The identifier named.
        to: String,
        /// Empty, or why a declaration with that identifier does not count (wrong asset type).
        detail: String,
    },
    /// A declaration type the schema does not allow on this enrollment channel
    /// (`allowed-scopes`: device channel = `system`, user channel = `user`).
    #[error(
        "declaration {identifier:?}: type {declaration_type} is not allowed on the {channel} channel"
    )]
    ScopeNotAllowed {
        /// The declaration's `Identifier`.
        identifier: String,
        /// The declaration's `Type`.
        declaration_type: String,
        /// `device` or `user`.
        channel: &'static str,
    },
    /// An activation's `Predicate` that does not parse.
    #[error("activation {identifier:?}: {error}")]
    ActivationPredicate {
        /// The activation's `Identifier`.
        identifier: String,
        /// Where and why the predicate failed to parse.
        error: crate::predicate::ParseError,
    },
    /// A predicate that does not parse (see [`crate::predicate::parse`]).
    #[error("{0}")]
    Predicate(crate::predicate::ParseError),
    /// A DeclarativeManagement check-in whose `Endpoint` is none of `tokens`,
    /// `declaration-items`, `declaration/<kind>/<Identifier>` and `status`.
    #[error("unknown DeclarativeManagement endpoint {0:?}")]
    UnknownEndpoint(String),
    /// An endpoint that needs a body (`status`) came without `Data`.
    #[error("DeclarativeManagement endpoint {0:?} came without Data")]
    MissingData(String),
    /// `Data` carried as a string that is not base64.
    #[error("DeclarativeManagement Data is not base64: {0}")]
    Base64(String),
    /// The check-in plist failed in `mdm-proto` (not a plist, wrong types, over its caps).
    #[error("check-in: {0}")]
    CheckIn(mdm_proto::Error),
    /// A check-in with another `MessageType` than `DeclarativeManagement`.
    #[error("check-in MessageType {0:?} is not DeclarativeManagement")]
    NotDeclarativeManagement(&'static str),
    /// The device asked for a declaration the set does not hold.
    #[error("no {kind} declaration {identifier:?} in the set")]
    NotFound {
        /// The kind in the endpoint.
        kind: Kind,
        /// The identifier in the endpoint.
        identifier: String,
    },
    /// The caller used the API in a way it does not allow (our fault, never the peer's).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
}

impl Error {
    /// The HTTP status a server answers with when this error ends a DeclarativeManagement
    /// check-in: 404 for a declaration the set lacks, 500 for our own misuse of the API, 400 for
    /// everything the device sent wrong.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::NotFound { .. } => 404,
            Error::ApiMisuse(_) => 500,
            Error::CheckIn(e) => e.http_status(),
            _ => 400,
        }
    }
}

impl From<crate::predicate::ParseError> for Error {
    fn from(e: crate::predicate::ParseError) -> Self {
        Error::Predicate(e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
