//! The crate's one error type.

/// What was wrong with an input to the inventory's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The instance ID is neither an Apple serial number nor an EK URI.
    #[error("instance ID {id:?}: {reason}")]
    BadInstanceId {
        /// The ID as given (cut to 80 characters).
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The owner identity is not an email address.
    #[error("owner {0:?} is not an email address")]
    BadOwner(String),
    /// The collection slug is not `[a-z0-9][a-z0-9-_]{0,62}`.
    #[error("collection {0:?}: use 1-63 lowercase letters, digits, '-' or '_'")]
    BadCollection(String),
    /// The source is refused by the organisation's settings (identity-provider
    /// self-enrollment is off).
    #[error("devices from {from} are not accepted: {rule}")]
    SourceDisabled {
        /// Where the device came from.
        from: crate::Source,
        /// The setting that refuses it.
        rule: &'static str,
    },
    /// An attestation proved a different instance ID than the device's record.
    #[error("attestation proves instance {attested}, but the record is {recorded}")]
    InstanceMismatch {
        /// The record's instance ID.
        recorded: String,
        /// The instance ID the attestation proved.
        attested: String,
    },
    /// A name (source, approval, assurance) read back from storage or a request is unknown.
    #[error("unknown {what} {value:?}")]
    UnknownName {
        /// Which kind of name.
        what: &'static str,
        /// The value.
        value: String,
    },
}
