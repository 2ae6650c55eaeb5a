#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attributes;
pub mod caps;
pub mod challenge;
pub mod client;
mod error;
pub mod issuance;
pub mod message;
pub mod operation;
pub mod pki_message;
pub mod request;
pub mod responder;

pub use caps::{Capabilities, Capability};
pub use client::{CaCerts, CertRepOptions, CertRepOutcome, Client, Identity, Transaction};
pub use error::Error;
pub use issuance::{Decision, IssuancePolicy, Records};
pub use message::{FailInfo, MessageType, Nonce, PkiStatus, TransactionId};
pub use operation::{Limits, Operation};
pub use pki_message::PkiMessage;
pub use request::{
    CertificationRequest, RequestBody, RequestSigner, SignerStanding, VerifiedRequest,
};
pub use responder::{Incoming, Rejection, RequestPolicy, Responder};

/// The `http` crate, whose request and response types carry SCEP.
pub use http;
