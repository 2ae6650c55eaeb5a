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
    /// The pkiMessage or one of its parts does not have the shape SCEP gives it.
    #[error("malformed SCEP message: {0}")]
    Malformed(String),
    /// A message of this type is not expected here (a CertRep sent to a server, a request
    /// where a CertRep was awaited).
    #[error("unexpected messageType {0:?} here")]
    UnexpectedMessageType(crate::MessageType),
    /// The request's signer certificate is neither self-signed nor valid under our CA at the
    /// time of the request (expired, foreign, or badly signed).
    #[error("request signer certificate not accepted: {0}")]
    UntrustedSigner(pki::Error),
    /// A RenewalReq not signed by a currently valid certificate that our CA issued.
    #[error("a RenewalReq must be signed by a valid certificate our CA issued")]
    RenewalNotAuthorized,
    /// The challengePassword policy refused the request.
    #[error("the challenge password was refused")]
    ChallengeRefused,
    /// A request signed by a certificate our CA issued that is not a valid renewal (not
    /// issued over SCEP, revoked, another subject, outside the renewal window) and carries no
    /// challenge that admits it.
    #[error("not accepted as a renewal ({0}), and no valid challenge")]
    RenewalRefused(String),
    /// The requested key does not meet the issuance policy.
    #[error("requested key not accepted: {0}")]
    KeyNotAllowed(String),
    /// The subject rule refused the requested names.
    #[error("requested subject not accepted: {0}")]
    SubjectRefused(String),
    /// A CertPoll (or GetCert) for which no certificate was issued.
    #[error("no certificate was issued for this request")]
    NothingIssued,
    /// The transactionID was seen before with a different key.
    #[error("transactionID {0:?} was used before with a different key")]
    TransactionReplayed(String),
    /// The CertRep's recipientNonce is not our senderNonce, or its transactionID is not ours.
    #[error("CertRep does not answer our request: {0}")]
    NotOurTransaction(&'static str),
    /// The server answered with an HTTP status other than 200.
    #[error("server answered HTTP {0}")]
    HttpStatus(u16),
    /// The caller configured or used the API wrongly (not a problem with peer input).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
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
            Error::TooLarge { .. } | Error::Pki(pki::Error::TooLarge { .. }) => {
                http::StatusCode::PAYLOAD_TOO_LARGE
            }
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
            Error::Pki(pki::Error::NotFound("signer certificate")) | Error::NothingIssued => {
                FailInfo::BadCertId
            }
            _ => FailInfo::BadRequest,
        }
    }
}
