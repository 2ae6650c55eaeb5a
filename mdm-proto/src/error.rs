//! The crate's one error type and its mapping onto HTTP status codes.

/// Everything that can go wrong in this crate.
///
/// Variants about the peer's bytes (`Plist`, `TooLarge`, `TooDeep`, `WrongType`, `MissingKey`,
/// `WrongValue`, `UnknownMessageType`, ...) map to `400 Bad Request` through
/// [`Error::http_status`]; our own misuse of the API maps to `500`. Paths name the plist keys from
/// the root, `/`-separated (array elements as their index), so an operator can find the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not a property list (XML or binary) the `plist` crate can read.
    #[error("not a property list: {0}")]
    Plist(String),
    /// The body is larger than the configured cap.
    #[error("plist body of {len} bytes is over the {max}-byte cap")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The cap in force ([`crate::Limits::max_bytes`]).
        max: usize,
    },
    /// Containers are nested deeper than the configured cap.
    #[error("plist nesting is deeper than the cap of {max} levels")]
    TooDeep {
        /// The cap in force ([`crate::Limits::max_depth`]).
        max: usize,
    },
    /// The plist holds more values than the configured cap.
    #[error("plist holds more than {max} values")]
    TooManyValues {
        /// The cap in force ([`crate::Limits::max_values`]).
        max: usize,
    },
    /// A value has a type that cannot be read as the schema's type, even leniently.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Key path from the root.
        path: String,
        /// The schema type (`string`, `integer`, `dictionary`, ...).
        expected: &'static str,
        /// The plist type that was found.
        found: &'static str,
    },
    /// A key the schema marks required is absent.
    #[error("{path}: required key is missing")]
    MissingKey {
        /// Key path from the root, ending in the missing key.
        path: String,
    },
    /// A key whose value is fixed by the schema (such as `MessageType`) holds another value.
    #[error("{path}: expected {expected:?}, found {found:?}")]
    WrongValue {
        /// Key path from the root.
        path: String,
        /// The value the schema fixes.
        expected: String,
        /// The value that was sent.
        found: String,
    },
    /// A check-in whose `MessageType` this crate does not know.
    #[error("unknown check-in MessageType {0:?}")]
    UnknownMessageType(String),
    /// A command report whose `Status` is none of Idle, Acknowledged, Error,
    /// CommandFormatError or NotNow.
    #[error("unknown command report Status {0:?}")]
    UnknownStatus(String),
    /// A `Content-Type` other than the plist types the endpoint accepts.
    #[error("content type {0:?} is not a property list")]
    ContentType(String),
    /// The caller used the API in a way it does not allow (our fault, never the peer's).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
    /// A signature, certificate or CMS structure failed verification in `pki`.
    #[error("signature: {0}")]
    Signature(String),
    /// The APNs push certificate could not be read (a wrong `.p12` password, an altered file,
    /// a key that does not belong to the certificate, ...): the operator's input, not a
    /// device's.
    #[error("push certificate: {0}")]
    PushCertificate(pki::Error),
}

impl Error {
    /// The HTTP status an MDM server answers with when this error ends a request: 400 for
    /// anything wrong with the device's bytes, 401 for a failed signature, 415 for a wrong
    /// content type, 413 for a body over the cap, 500 for our own misuse or configuration (a push
    /// certificate that does not open).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::TooLarge { .. } => 413,
            Error::ContentType(_) => 415,
            Error::Signature(_) => 401,
            Error::ApiMisuse(_) | Error::PushCertificate(_) => 500,
            _ => 400,
        }
    }

    /// Prefix the key path of a decoding error with the key (or index) one level up. Generated
    /// decoders call this as an error travels back towards the root.
    pub fn at(mut self, segment: &str) -> Self {
        match &mut self {
            Error::WrongType { path, .. }
            | Error::MissingKey { path }
            | Error::WrongValue { path, .. } => {
                let mut p = String::with_capacity(segment.len() + 1 + path.len());
                p.push_str(segment);
                if !path.is_empty() {
                    p.push('/');
                    p.push_str(path);
                }
                *path = p;
            }
            _ => {}
        }
        self
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
