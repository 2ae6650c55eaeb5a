//! The one error type of this crate, and its mapping onto SCEP's own answers.

use crate::message::FailInfo;

/// Everything that can go wrong in `scep`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required query parameter is absent (or the POST body is empty).
    #[error("missing parameter {0:?}")]
    MissingParameter(&'static str),
    /// The `operation` parameter names no SCEP operation.
    #[error("unknown SCEP operation {0:?}")]
    UnknownOperation(String),
    /// Only GET and POST carry SCEP.
    #[error("HTTP method {0} is not allowed for SCEP")]
    MethodNotAllowed(String),
    /// The GET `message` parameter is not base64.
    #[error("message parameter is not base64: {0}")]
    BadBase64(String),
    /// The message is over the configured limit.
    #[error("message is {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its (decoded) size.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A POSTed PKIOperation with a content type other than application/x-pki-message.
    #[error("content type {0:?} is not application/x-pki-message")]
    WrongContentType(String),
    /// An HTTP request or URI could not be built.
    #[error("bad HTTP request: {0}")]
    BadHttp(String),
    /// The messageType attribute holds a value SCEP does not define.
    #[error("unknown messageType {0:?}")]
    UnknownMessageType(String),
    /// A SCEP signed attribute is missing.
    #[error("signed attribute {0} is missing")]
    MissingAttribute(&'static str),
    /// A SCEP signed attribute is malformed.
    #[error("signed attribute {name} is invalid: {reason}")]
    BadAttribute {
        /// The attribute.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The CMS or certificate layer refused the message.
    #[error(transparent)]
    Pki(#[from] pki::Error),
}

impl Error {
    /// The HTTP status for answering a request that failed with this error before a signed
    /// CertRep could be built (a CertRep itself always travels with 200).
    pub fn http_status(&self) -> http::StatusCode {
        match self {
            Error::MethodNotAllowed(_) => http::StatusCode::METHOD_NOT_ALLOWED,
            Error::TooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
            Error::WrongContentType(_) => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }

    /// The failInfo a FAILURE CertRep carries for this error (RFC 8894 section 3.2.1.4.5).
    pub fn fail_info(&self) -> FailInfo {
        match self {
            Error::Pki(
                pki::Error::BadSignature
                | pki::Error::DigestMismatch { .. }
                | pki::Error::DecryptionFailed,
            ) => FailInfo::BadMessageCheck,
            Error::Pki(
                pki::Error::UnsupportedAlgorithm { .. } | pki::Error::AlgorithmNotAllowed { .. },
            ) => FailInfo::BadAlg,
            _ => FailInfo::BadRequest,
        }
    }
}
