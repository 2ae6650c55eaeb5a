#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod acme;
pub mod apple;
mod error;
pub mod tpm;
pub mod webauthn;

pub use error::{Error, Result};
pub use pki;
