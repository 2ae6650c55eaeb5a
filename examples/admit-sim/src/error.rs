//! The one error type of `admit-sim`, and the short kind names the summary counts errors by.

/// Everything that can go wrong while a simulated device talks to a server, or while the tool
/// reads its inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TCP connection (or the TLS handshake) could not be made.
    #[error("{endpoint}: cannot connect: {reason}")]
    Connect {
        /// The endpoint label (`checkin`, `connect`, `scep`, ...).
        endpoint: String,
        /// What failed.
        reason: String,
    },
    /// No complete answer within the request timeout (a hanging server).
    #[error("{endpoint}: no answer within {seconds} s")]
    Timeout {
        /// The endpoint label.
        endpoint: String,
        /// The timeout, in seconds.
        seconds: u64,
    },
    /// The server closed the connection before a complete answer.
    #[error("{endpoint}: connection closed before a complete answer: {reason}")]
    Closed {
        /// The endpoint label.
        endpoint: String,
        /// What the HTTP layer said.
        reason: String,
    },
    /// The server answered with a status the protocol does not allow here.
    #[error("{endpoint}: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        /// The endpoint label.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body, for the operator.
        body: String,
    },
    /// The answer came but could not be read (a malformed plist, JSON or CertRep).
    #[error("{endpoint}: malformed answer: {reason}")]
    Malformed {
        /// The endpoint label.
        endpoint: String,
        /// What was wrong.
        reason: String,
    },
    /// SCEP enrollment failed (FAILURE CertRep, pending too long, bad CA answer).
    #[error("SCEP: {0}")]
    Scep(String),
    /// The enrollment profile is unusable (missing payload, bad URL, bad signature).
    #[error("enrollment profile: {0}")]
    Profile(String),
    /// A command-line option, scenario file or key pool is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The state directory could not be read or written.
    #[error("state directory: {0}")]
    State(String),
    /// A URL outside the ones the run was given (the tool talks to nothing else).
    #[error("refused to contact {0}: not one of the URLs this run was given")]
    UrlNotAllowed(String),
    /// Our own fault (a key or signature operation failed).
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// A short stable name for the summary's errors-by-kind table: `timeout`, `closed`,
    /// `http-500`, `malformed`, ...
    pub fn kind(&self) -> String {
        match self {
            Error::Connect { .. } => "connect".into(),
            Error::Timeout { .. } => "timeout".into(),
            Error::Closed { .. } => "closed".into(),
            Error::Status { status, .. } => format!("http-{status}"),
            Error::Malformed { .. } => "malformed".into(),
            Error::Scep(_) => "scep".into(),
            Error::Profile(_) => "profile".into(),
            Error::Config(_) => "config".into(),
            Error::State(_) => "state".into(),
            Error::UrlNotAllowed(_) => "url-not-allowed".into(),
            Error::Internal(_) => "internal".into(),
        }
    }

    pub(crate) fn malformed(endpoint: &str, reason: impl std::fmt::Display) -> Error {
        Error::Malformed {
            endpoint: endpoint.to_owned(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn internal(reason: impl std::fmt::Display) -> Error {
        Error::Internal(reason.to_string())
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
