//! The one error type of this crate.

use std::time::SystemTime;

use crate::alg::{ContentCipher, HashAlg};

/// Everything that can go wrong in `pki`.
///
/// Variants say what was wrong with the input (or with the caller's request) in words an
/// operator can act on. Peer-supplied bad bytes and caller misuse are kept apart: the latter is
/// [`Error::ApiMisuse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not valid DER (or not valid BER on the BER intake path).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which structure was being decoded.
        what: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// Input is larger than the configured limit.
    #[error("{what} is {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// Which input.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// BER intake: nesting deeper than allowed.
    #[error("BER nesting deeper than {limit} levels")]
    TooDeep {
        /// The depth limit in force.
        limit: usize,
    },
    /// BER intake: more elements than allowed.
    #[error("BER input has more than {limit} elements")]
    TooManyElements {
        /// The element limit in force.
        limit: usize,
    },
    /// Bytes follow the end of the structure.
    #[error("{len} trailing bytes after {what}")]
    TrailingData {
        /// Which structure.
        what: &'static str,
        /// How many bytes are left over.
        len: usize,
    },
    /// An object identifier we do not support in this position.
    #[error("unsupported {what}: {oid}")]
    UnsupportedAlgorithm {
        /// Which kind of algorithm (digest, signature, content encryption, key transport, ...).
        what: &'static str,
        /// The OID as received, in dotted form.
        oid: String,
    },
    /// An algorithm the caller's policy does not allow (SHA-1 without opt-in, single DES without
    /// the legacy option, an RSA key below the minimum size).
    #[error("{what} is not allowed by policy")]
    AlgorithmNotAllowed {
        /// What was refused.
        what: String,
    },
    /// A content type other than the one the operation needs.
    #[error("wrong content type: expected {expected}, found {found}")]
    WrongContentType {
        /// Dotted OID expected.
        expected: String,
        /// Dotted OID found.
        found: String,
    },
    /// The public key is not usable (bad encoding, unsupported curve, wrong key type for the
    /// scheme).
    #[error("bad public key: {0}")]
    BadPublicKey(String),
    /// The private key is not usable.
    #[error("bad private key: {0}")]
    BadPrivateKey(String),
    /// A signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// A required signed attribute is missing.
    #[error("signed attribute {0} is missing")]
    MissingAttribute(&'static str),
    /// A signed attribute is present but malformed or repeated.
    #[error("signed attribute {name} is invalid: {reason}")]
    BadAttribute {
        /// The attribute's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The messageDigest signed attribute does not match the content.
    #[error("messageDigest does not match the content ({alg:?})")]
    DigestMismatch {
        /// The digest algorithm the signer named.
        alg: HashAlg,
    },
    /// No certificate for the signer (or no recipient for our key) was found.
    #[error("no {0} matches")]
    NotFound(&'static str),
    /// Detached content was needed and not supplied, or supplied where content is attached.
    #[error("content is {0}")]
    Content(&'static str),
    /// Decryption of an EnvelopedData failed: the key does not fit, the padding is wrong, or the
    /// ciphertext is damaged. Deliberately one variant whatever the cause (RFC 3218 section
    /// 2.3.2).
    #[error("decryption failed")]
    DecryptionFailed,
    /// A symmetric cipher was given a key or IV of the wrong length.
    #[error("{cipher:?} needs a {expected}-byte {what}, got {got}")]
    BadLength {
        /// The cipher.
        cipher: ContentCipher,
        /// "key" or "IV".
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// The provider cannot do this operation.
    #[error("{provider} provider does not support {what}")]
    Unsupported {
        /// The provider's name.
        provider: &'static str,
        /// What was asked.
        what: String,
    },
    /// The backend reported a failure it did not explain.
    #[error("crypto backend failure: {0}")]
    Backend(String),
    /// The caller misused the API (not a problem with peer input).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
    /// Certificate path validation failed (RFC 5280 section 6).
    #[error("certificate path: {0}")]
    Path(#[from] PathError),
    /// A PKCS#12 file could not be opened (wrong password, altered file, no key, ...).
    #[error("PKCS#12: {0}")]
    Pkcs12(crate::pkcs12::Pkcs12Error),
}

/// Why a certificate path did not validate.
///
/// When several candidate paths fail, [`crate::cert::path::validate`] reports the most specific
/// failure (a bad signature from an issuer whose name matched beats [`PathError::UnknownIssuer`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// A certificate's notAfter is before the validation time.
    #[error("certificate {subject} expired at {} (validation time {})", fmt_time(.not_after), fmt_time(.now))]
    CertExpired {
        /// The expired certificate's subject.
        subject: String,
        /// Its notAfter.
        not_after: SystemTime,
        /// The validation time.
        now: SystemTime,
    },
    /// A certificate's notBefore is after the validation time.
    #[error("certificate {subject} is not valid before {} (validation time {})", fmt_time(.not_before), fmt_time(.now))]
    NotYetValid {
        /// The certificate's subject.
        subject: String,
        /// Its notBefore.
        not_before: SystemTime,
        /// The validation time.
        now: SystemTime,
    },
    /// No trust anchor or intermediate is named as this certificate's issuer.
    #[error("no trusted issuer found for {issuer}")]
    UnknownIssuer {
        /// The issuer name no certificate was found for.
        issuer: String,
    },
    /// A certificate used as an issuer is not a CA (basicConstraints cA absent or false).
    #[error("{subject} is not a CA certificate")]
    NotCa {
        /// The would-be issuer.
        subject: String,
    },
    /// An issuer's pathLenConstraint allows fewer intermediates than the path has.
    #[error("{subject} allows {path_len} intermediate certificates below it, the path has more")]
    PathLenExceeded {
        /// The constraining CA.
        subject: String,
        /// Its pathLenConstraint.
        path_len: u8,
    },
    /// A key usage or extended key usage forbids this use of the certificate.
    #[error("key usage of {subject}: {reason}")]
    KeyUsage {
        /// The certificate.
        subject: String,
        /// What is missing.
        reason: String,
    },
    /// The issuer's key identifier matches but its subject is not the certificate's issuer name.
    #[error("{subject} names issuer {issuer}, but the certificate with that key is {candidate}")]
    NameMismatch {
        /// The certificate being checked.
        subject: String,
        /// The issuer name it carries.
        issuer: String,
        /// The subject of the key-matched candidate.
        candidate: String,
    },
    /// A critical extension the validator does not process and the caller did not list.
    #[error("{subject} has an unsupported critical extension {oid}")]
    UnknownCriticalExtension {
        /// The certificate.
        subject: String,
        /// The extension's OID, dotted.
        oid: String,
    },
    /// A certificate's signature does not verify under its issuer's key.
    #[error("signature on {subject} does not verify with the key of {issuer}")]
    BadSignature {
        /// The signed certificate.
        subject: String,
        /// The issuer whose key was tried.
        issuer: String,
    },
    /// The path would be longer than the configured maximum depth.
    #[error("path longer than {max_depth} certificates")]
    TooLong {
        /// The maximum depth in force.
        max_depth: usize,
    },
    /// Path building tried more candidate issuers than the budget allows.
    #[error("path building gave up after {budget} candidate issuers")]
    BudgetExceeded {
        /// The budget in force.
        budget: usize,
    },
}

fn fmt_time(t: &SystemTime) -> String {
    match der::DateTime::from_system_time(*t) {
        Ok(dt) => dt.to_string(),
        Err(_) => format!("{t:?}"),
    }
}

impl Error {
    /// A [`Error::Malformed`] from a `der` error.
    pub fn malformed(what: &'static str, err: impl core::fmt::Display) -> Self {
        Error::Malformed {
            what,
            reason: err.to_string(),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
