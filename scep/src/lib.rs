#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attributes;
pub mod caps;
pub mod challenge;
mod error;
pub mod message;
pub mod operation;

pub use caps::{Capabilities, Capability};
pub use error::Error;
pub use message::{FailInfo, MessageType, Nonce, PkiStatus, TransactionId};
pub use operation::{Limits, Operation};

/// The `http` crate, whose request and response types carry SCEP.
pub use http;
