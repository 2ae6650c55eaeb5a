//! TPM 2.0 evidence: structures, EK certificates, AK checks, quotes, credential activation
//! and event logs. Every parser is total and capped; every check returns a value only the
//! verifier builds.
//!
//! Structures are marshalled by this crate (big-endian, TPM 2.0 Part 1 section 18); the
//! `tpm2-protocol` crate serves as a differential oracle in the tests.
//!
//! Parse entry points (one per structure, for fuzzing and inspection):
//! [`Attest::parse`], [`Public::parse`], [`Public::parse_2b`], [`Signature::parse`],
//! [`PcrSelection::parse`], [`PcrValues::parse_tpm2_tools`], [`CreationData::parse`],
//! [`CredentialBlob::parse_tpm2_tools`], [`Name::parse`], [`EkCertificate::from_nv`],
//! [`EventLog::parse`].

pub mod alg;
mod attest;
mod creation;
pub mod credential;
pub mod ek;
pub mod eventlog;
mod name;
mod pcr;
mod public;
mod signature;
mod verify;
mod wire;

pub use attest::{
    Attest, Attested, ClockInfo, MAX_ATTEST_BYTES, MAX_NV_BUFFER, TPM_GENERATED_VALUE, st,
};
pub use creation::CreationData;
pub use credential::{CredentialBlob, make_credential};
pub use ek::{BoundEk, EkCertificate, Quirk, check_ek_uri, ek_uri};
pub use eventlog::{Event, EventLog, VerifiedEventLog};
pub use name::Name;
pub use pcr::{PcrSelect, PcrSelection, PcrValues};
pub use public::{
    EccParms, ObjectAttributes, Parameters, Public, RsaParms, Scheme, SymDefObject, Unique,
};
pub use signature::Signature;
pub use verify::{
    CertifyEvidence, QuoteEvidence, VerifiedAk, VerifiedCertify, VerifiedQuote, Verifier,
    check_ak_attributes,
};
