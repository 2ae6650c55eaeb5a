//! The one error type of this crate.

/// Everything that can go wrong in `attestation`.
///
/// Peer-supplied bad bytes (`Malformed`, `Truncated`, ...) and failed checks (`NonceMismatch`,
/// `PcrDigestMismatch`, ...) say what was wrong in words an operator can act on; caller misuse is
/// [`Error::ApiMisuse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before the structure did.
    #[error("truncated {what}: needed {needed} more bytes, {left} left")]
    Truncated {
        /// Which structure (TPM spec name).
        what: &'static str,
        /// Bytes the next field needed.
        needed: usize,
        /// Bytes that were left.
        left: usize,
    },
    /// A field holds a value the structure does not allow.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which structure or field (TPM spec name).
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A size field or input is larger than the structure allows.
    #[error("{what} is {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// Which field or input.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit in force.
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
    /// A TPM algorithm identifier we do not support in this position.
    #[error("unsupported {what}: TPM_ALG_ID 0x{alg:04x}")]
    UnsupportedAlgorithm {
        /// What kind of algorithm (hash, curve, scheme, object type, ...).
        what: &'static str,
        /// The TPM_ALG_ID (or TPM_ECC_CURVE) as received.
        alg: u16,
    },
    /// TPMS_ATTEST.magic is not TPM_GENERATED_VALUE: the TPM did not produce this structure.
    #[error("TPMS_ATTEST magic is 0x{found:08x}, not TPM_GENERATED_VALUE (0xff544347)")]
    NotTpmGenerated {
        /// The magic found.
        found: u32,
    },
    /// The attestation is of another type than the check needs.
    #[error("TPMS_ATTEST type is 0x{found:04x}, expected 0x{expected:04x}")]
    WrongAttestType {
        /// The TPM_ST expected.
        expected: u16,
        /// The TPM_ST found.
        found: u16,
    },
    /// extraData (qualifyingData) differs from the nonce the verifier expected.
    #[error("extraData does not match the expected nonce")]
    NonceMismatch,
    /// A Name differs from the one the verifier expected.
    #[error("{what} does not match the expected Name")]
    NameMismatch {
        /// Which Name (attested name, object name, ...).
        what: &'static str,
    },
    /// The creation hash in a creation attestation differs from the creation data's digest.
    #[error("creationHash does not match the digest of the creation data")]
    CreationHashMismatch,
    /// The PCR selection quoted differs from what the verifier asked for.
    #[error("PCR selection mismatch: {0}")]
    PcrSelectionMismatch(String),
    /// A PCR value was supplied for a PCR the quote does not cover.
    #[error("PCR {index} of bank {bank} is not covered by the quote")]
    PcrNotCovered {
        /// The bank (hash name).
        bank: &'static str,
        /// The PCR index.
        index: u8,
    },
    /// The quote covers a PCR for which no value was supplied.
    #[error("no value supplied for quoted PCR {index} of bank {bank}")]
    PcrValueMissing {
        /// The bank (hash name).
        bank: &'static str,
        /// The PCR index.
        index: u8,
    },
    /// The pcrDigest recomputed from the supplied PCR values differs from the quoted one.
    #[error("pcrDigest does not match the supplied PCR values")]
    PcrDigestMismatch,
    /// Object attributes or parameters do not meet what the check requires.
    #[error("key not acceptable: {0}")]
    KeyNotAcceptable(String),
    /// The signature scheme does not fit the signing key.
    #[error("signature scheme does not fit the key: {0}")]
    SchemeMismatch(String),
    /// The EK certificate's public key is not the TPM's EK public key.
    #[error("the EK certificate's public key is not the TPM's EK")]
    EkKeyMismatch,
    /// An EK URI differs from the expected one (compared exactly).
    #[error("EK URI {found} is not the expected {expected}")]
    EkUriMismatch {
        /// The expected URI.
        expected: String,
        /// The URI found.
        found: String,
    },
    /// Event-log replay disagrees with the quoted PCR value.
    #[error("event log replay of PCR {index} ({bank}) does not match the quoted value")]
    EventLogMismatch {
        /// The bank (hash name).
        bank: &'static str,
        /// The PCR index.
        index: u8,
    },
    /// A failure inside `pki` (signature verification, certificate parsing, crypto backend).
    #[error(transparent)]
    Pki(#[from] pki::Error),
    /// The caller misused the API (not a problem with peer input).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
    /// Apple Managed Device Attestation was refused.
    #[error(transparent)]
    Mda(#[from] crate::apple::MdaError),
    /// A WebAuthn or ACME attestation object or statement was refused.
    #[error(transparent)]
    WebAuthn(#[from] crate::webauthn::WebAuthnError),
    /// An ACME device-attest-01 response was refused.
    #[error(transparent)]
    Acme(#[from] crate::acme::AcmeError),
}

/// The result type of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
